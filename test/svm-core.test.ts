/**
 * SVM world switch on a bare core: a 64-bit host (flat, unpaged) runs a 32-bit flat guest.
 * Checks VMRUN/#VMEXIT state transfer, exit codes and information, NRIP, GIF, VMLOAD/VMSAVE,
 * and VMEXIT_INVALID, field by field through the VMCB layout table.
 */
import { describe, expect, it } from 'vitest';
import { Stop } from '../src/cpu/state.js';
import { V, VMCB_FIELDS, VMLOAD_FIELDS, vmcbField } from '../src/svm/vmcb.js';
import { GUEST, HOST, IOPM, MSRPM, VMCB, svmSetup } from './svm-setup.js';

const setup = svmSetup;

describe('SVM world switch', () => {
  it('VMRUN enters the guest and VMMCALL exits with code 0x81, RIP and NRIP', () => {
    const { c, r32 } = setup([0x90, 0x0f, 0x01, 0xd9]); // nop; vmmcall
    expect(c.run(100)).toBe(Stop.Halt);
    expect(r32(V.EXITCODE)).toBe(0x81);
    expect(r32(V.EXITCODE + 4)).toBe(0);
    expect(r32(V.RIP)).toBe(GUEST + 1);
    expect(r32(V.NRIP)).toBe(GUEST + 4);
    // back in the host after VMRUN, at CPL 0 with GIF = 0
    expect(c.rip).toBe(HOST + 11);
    expect(c.bits).toBe(64);
    expect(c.svm.gif).toBe(false);
    expect(c.guestMode).toBe(false);
    expect(c.rl[0]).toBe(VMCB); // host RAX restored
  });

  it('writes the guest state back and restores the host state', () => {
    // mov eax, 0x1234 ; mov esp, 0x6ff0 ; stc ; vmmcall
    const { c, r32 } = setup([0xb8, 0x34, 0x12, 0, 0, 0xbc, 0xf0, 0x6f, 0, 0, 0xf9, 0x0f, 0x01, 0xd9]);
    c.rl[4] = 0x9000;
    c.run(100);
    expect(r32(V.RAX)).toBe(0x1234);
    expect(r32(V.RSP)).toBe(0x6ff0);
    expect(r32(V.RFLAGS) & 1).toBe(1);
    expect(r32(V.CPL) & 0xff).toBe(0);
    expect(c.rl[4]).toBe(0x9000);
  });

  it('intercepts CPUID, HLT and #UD with their exit codes', () => {
    for (const [code, bytes, word, bit] of [
      [0x72, [0x0f, 0xa2], V.INTERCEPT_MISC1, 18],
      [0x78, [0xf4], V.INTERCEPT_MISC1, 24],
      [0x46, [0x0f, 0x0b], V.INTERCEPT_EXC, 6],
    ] as const) {
      const { c, mem, r32 } = setup([...bytes]);
      mem.write32(VMCB + word, mem.read32(VMCB + word) | (1 << bit));
      c.run(100);
      expect(r32(V.EXITCODE), `exit ${code.toString(16)}`).toBe(code);
      expect(r32(V.RIP)).toBe(GUEST);
    }
  });

  it('takes MSR exits through the MSRPM and IOIO exits through the IOPM', () => {
    // rdmsr (ecx = 0xc0000080 EFER) — read bit of the second range
    let t = setup([0xb9, 0x80, 0, 0, 0xc0, 0x0f, 0x32]);
    t.mem.write32(VMCB + V.INTERCEPT_MISC1, 1 << 28);
    t.mem.u8[MSRPM + 0x800 + ((0x80 * 2) >> 3)] |= 1 << ((0x80 * 2) & 7);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x7c);
    expect(t.r32(V.EXITINFO1)).toBe(0);
    // out dx, ax with dx = 0x3f9: the second byte's port (0x3fa) is intercepted
    t = setup([0x66, 0xba, 0xf9, 0x03, 0x66, 0xef]);
    t.mem.write32(VMCB + V.INTERCEPT_MISC1, 1 << 27);
    t.mem.u8[IOPM + (0x3fa >> 3)] |= 1 << (0x3fa & 7);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x7b);
    // port 0x3f9 in 31:16, SZ16 (bit 5), A32 (bit 8), OUT (type 0)
    expect(t.r32(V.EXITINFO1)).toBe((0x3f9 << 16) | 0x20 | 0x100);
    expect(t.r32(V.EXITINFO2)).toBe(GUEST + 6);
  });

  it('fails VMRUN with VMEXIT_INVALID (-1 as 64 bits) for ASID 0 and leaves the host running', () => {
    const { c, mem, r32 } = setup([0x0f, 0x01, 0xd9]);
    mem.write32(VMCB + V.ASID, 0);
    c.run(100);
    expect(r32(V.EXITCODE)).toBe(0xffffffff);
    expect(r32(V.EXITCODE + 4)).toBe(0xffffffff);
    expect(c.guestMode).toBe(false);
    expect(c.svm.gif).toBe(false);
    expect(c.rip).toBe(HOST + 11);
  });

  it('VMSAVE then VMLOAD move exactly the VMLOAD set', () => {
    const { c, mem } = setup([]);
    const area = 0xc000;
    // fill the area with a pattern, VMLOAD it, VMSAVE to a second page, compare the fields
    for (let k = 0; k < 0x1000; k += 4) mem.write32(area + k, (0x1000193 * (k + 1)) | 0);
    // keep bases canonical and attributes within 12 bits
    for (const name of ['fs', 'gs', 'tr', 'ldtr']) {
      const f = vmcbField(name);
      mem.write32(area + f.offset, (mem.read32(area + f.offset) & 0x0fffffff) | 0);
      mem.write32(area + f.offset + 12, 0);
    }
    for (const name of ['kernel_gs_base', 'lstar', 'cstar']) mem.write32(area + vmcbField(name).offset + 4, 0x7fff);
    const code = [0x48, 0xc7, 0xc0, 0x00, 0xc0, 0, 0, 0x0f, 0x01, 0xda, // mov rax, area ; vmload
      0x48, 0xc7, 0xc0, 0x00, 0xd0, 0, 0, 0x0f, 0x01, 0xdb, 0xf4]; // mov rax, area+0x1000 ; vmsave ; hlt
    mem.load(0x2000, Uint8Array.from(code));
    c.rip = 0x2000;
    const before = { ds: c.segBase[3], cr3: c.cr3, rsp: c.rl[4] };
    c.run(100);
    for (const f of VMCB_FIELDS) {
      const inSet = VMLOAD_FIELDS.includes(f.name);
      const n = Math.min(f.size, 16);
      for (let k = 0; k < n; k += 4) {
        const a = mem.read32(area + f.offset + k);
        const b = mem.read32(area + 0x1000 + f.offset + k);
        if (!inSet) { expect(b, `${f.name} is not written by VMSAVE`).toBe(0); continue; }
        // attributes keep 12 bits; SYSENTER_* and SFMASK keep their low 32 bits
        if ((f.size === 16 && k === 0)) expect(b & 0x0fffffff, f.name).toBe(a & 0x0fffffff);
        else if (f.size === 8 && k === 4 && ['sfmask', 'sysenter_cs', 'sysenter_esp', 'sysenter_eip'].includes(f.name)) expect(b).toBe(0);
        else expect(b, `${f.name}+${k}`).toBe(a);
      }
    }
    expect(c.segBase[3]).toBe(before.ds);
    expect(c.cr3).toBe(before.cr3);
    expect(c.rl[4]).toBe(before.rsp);
  });
});

describe('SVM nested paging and events', () => {
  /** nested tables at 0x20000: PML4 -> PDPT -> PD -> PT for 0..2 MiB (4 KiB pages, identity) */
  function nested(t: ReturnType<typeof setup>) {
    const { mem } = t;
    mem.write32(0x20000, 0x21007); mem.write32(0x21000, 0x22007); mem.write32(0x22000, 0x23007);
    for (let k = 0; k < 512; k++) mem.write32(0x23000 + k * 8, (k * 4096) | 7);
    mem.write32(VMCB + V.NP_ENABLE, 1);
    mem.write32(VMCB + V.N_CR3, 0x20000);
    // a valid guest PAT (the reset value)
    mem.write32(VMCB + V.G_PAT, 0x00070406); mem.write32(VMCB + V.G_PAT + 4, 0x00070406);
  }

  it('NPF on a not-present nested entry: EXITINFO1 error code with bit 32, EXITINFO2 = GPA', () => {
    // mov eax, [0x9010] ; vmmcall
    const t = setup([0xa1, 0x10, 0x90, 0, 0, 0x0f, 0x01, 0xd9]);
    nested(t);
    t.mem.write32(0x23000 + 9 * 8, 0); // guest-physical page 9 is not present
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x400);
    expect(t.r32(V.EXITINFO1)).toBe(0x4); // not present, read, user
    expect(t.r32(V.EXITINFO1 + 4)).toBe(1); // the final translation
    expect(t.r32(V.EXITINFO2)).toBe(0x9010);
    expect(t.r32(V.RIP)).toBe(GUEST);
  });

  it('NPF on a write to a read-only nested page reports P and RW', () => {
    // mov [0x9010], eax ; vmmcall
    const t = setup([0xa3, 0x10, 0x90, 0, 0, 0x0f, 0x01, 0xd9]);
    nested(t);
    t.mem.write32(0x23000 + 9 * 8, 0x9005);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x400);
    expect(t.r32(V.EXITINFO1)).toBe(0x7);
  });

  it('runs the guest through nested tables that remap a page', () => {
    // mov eax, [0x9010] ; vmmcall — GPA page 9 maps to host page 0x30
    const t = setup([0xa1, 0x10, 0x90, 0, 0, 0x0f, 0x01, 0xd9]);
    nested(t);
    t.mem.write32(0x23000 + 9 * 8, 0x30007);
    t.mem.write32(0x30010, 0xcafe);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x81);
    expect(t.r32(V.RAX)).toBe(0xcafe);
  });

  /** guest GDT (flat 32-bit code at 8) and an IDT with a 32-bit interrupt gate for `vector` */
  function guestIdt(t: ReturnType<typeof setup>, vector: number, handler: number) {
    const { mem } = t;
    mem.write32(0x7c08, 0x0000ffff); mem.write32(0x7c0c, 0x00cf9b00);
    mem.write32(VMCB + V.GDTR + 8, 0x7c00); mem.write32(VMCB + V.GDTR + 4, 0xf);
    mem.write32(VMCB + V.IDTR + 8, 0x7800); mem.write32(VMCB + V.IDTR + 4, 0x7ff);
    mem.write32(0x7800 + vector * 8, (8 << 16) | (handler & 0xffff));
    mem.write32(0x7804 + vector * 8, (handler & 0xffff0000) | 0x8e00);
  }

  it('injects an external interrupt through the guest IDT before the first guest instruction', () => {
    const t = setup([0x90, 0x0f, 0x01, 0xd9]);
    guestIdt(t, 0x30, 0x5100);
    t.mem.load(0x5100, Uint8Array.from([0x0f, 0x01, 0xd9])); // handler: vmmcall
    t.mem.write32(VMCB + V.EVENTINJ, 0x80000000 | (0 << 8) | 0x30);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x81);
    expect(t.r32(V.RIP)).toBe(0x5100);
    // the frame holds the guest's first RIP
    expect(t.mem.read32(0x7000 - 12)).toBe(GUEST);
    expect(t.r32(V.EVENTINJ) & 0x80000000).toBe(0);
  });

  it('reports an injected event whose delivery faults in EXITINTINFO', () => {
    // no guest IDT entry: delivering the injected #UD raises #GP, which is intercepted
    const t = setup([0x90]);
    t.mem.write32(VMCB + V.INTERCEPT_EXC, 1 << 13);
    t.mem.write32(VMCB + V.IDTR + 4, 0);
    t.mem.write32(VMCB + V.EVENTINJ, 0x80000000 | (3 << 8) | 6);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0x4d);
    expect(t.r32(V.EXITINFO1)).toBe(6 * 8 + 2); // the IDT entry, beyond the limit
    expect(t.r32(V.EXITINTINFO)).toBe((0x80000000 | (3 << 8) | 6) >>> 0);
  });

  it('rejects an illegal EVENTINJ (exception type with vector 2) with VMEXIT_INVALID', () => {
    const t = setup([0x0f, 0x01, 0xd9]);
    t.mem.write32(VMCB + V.EVENTINJ, 0x80000000 | (3 << 8) | 2);
    t.c.run(100);
    expect(t.r32(V.EXITCODE)).toBe(0xffffffff);
  });

  it('holds an NMI while GIF = 0 and takes it at STGI', () => {
    // host: clgi ; (NMI raised) ; nop ; stgi ; nop ; hlt  — the bare core stops at the NMI delivery
    const { c, mem } = setup([]);
    mem.load(0x2000, Uint8Array.from([0x0f, 0x01, 0xdd, 0x90, 0x0f, 0x01, 0xdc, 0x90, 0xf4]));
    c.rip = 0x2000;
    c.run(1); // clgi
    c.raiseNmi();
    c.run(2); // nop, stgi: the NMI is still pending
    expect(c.nmiPending).toBe(true);
    expect(c.svm.gif).toBe(true);
    c.useArchitecturalDelivery();
    c.idtrLimit = 0; // no IDT: the NMI's delivery faults, which shows it was taken
    c.run(1);
    expect(c.nmiPending).toBe(false);
  });
});
