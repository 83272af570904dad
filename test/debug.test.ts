// The debug architecture on a bare core (APM Vol. 2, 13.1): instruction, data and I/O
// breakpoints, DR6/DR7, general detect, RF, single-step with REP strings, POPF, SYSCALL and
// SYSRET, CLAC/STAC, and 16-bit code above 64 KiB. A bare core stops at every exception with
// lastFault (RIP = the instruction for faults, the next one for traps); guest/tests/debug.c
// covers the same through a real IDT, on worldswitch and QEMU.
import { describe, expect, it } from 'vitest';
import { CODE, STACK, expectFault, hex, mk, runToUd } from './flow-helpers.js';
import { debugUpdate, setDr7 } from '../src/cpu/debug.js';
import { updateMode } from '../src/cpu/mode.js';
import { getFlags } from '../src/cpu/flags.js';
import { Efer, Fl, S, Stop } from '../src/cpu/state.js';
import type { Cpu } from '../src/cpu/cpu.js';

/** DR7 enabling breakpoint k (L bit) with R/W and LEN fields */
const dr7 = (k: number, rw: number, len: number) => (0x400 | (1 << (2 * k)) | (rw << (16 + 4 * k)) | (len << (18 + 4 * k))) >>> 0;
const B = (c: Cpu) => c.dr[6] & 0xf;
const BS = 0x4000;
const BD = 0x2000;

describe('instruction breakpoints', () => {
  it('fault before the instruction with DR6.Bn; RF = 1 lets it run once', () => {
    const c = mk(64, '90 90 90 0f 0b');
    c.dr[2] = CODE + 1;
    setDr7(c, dr7(2, 0, 0));
    expectFault(c, 1, CODE + 1);
    expect(B(c)).toBe(4);
    expect(c.dr[6] & BS).toBe(0);
    c.flags |= Fl.RF;
    c.keepRf();
    runToUd(c, CODE + 3);
    expect(c.flags & Fl.RF).toBe(0);
  });

  it('needs an L or G bit; G alone works', () => {
    const c = mk(64, '90 90 0f 0b');
    c.dr[0] = CODE + 1;
    setDr7(c, 0x400);
    runToUd(c, CODE + 2);
    const d = mk(64, '90 90 0f 0b');
    d.dr[0] = CODE + 1;
    setDr7(d, 0x402);
    expectFault(d, 1, CODE + 1);
  });
});

describe('data breakpoints', () => {
  it('write: a trap after the store; reads do not match', () => {
    // mov [rax], bl ; mov bl, [rax] ; ud2
    const c = mk(64, '88 18 8a 18 0f 0b');
    c.rl[0] = 0x3000;
    c.dr[1] = 0x3000;
    setDr7(c, dr7(1, 1, 0));
    expectFault(c, 1, CODE + 2);
    expect(B(c)).toBe(2);
    c.dr[6] = 0xffff0ff0;
    runToUd(c, CODE + 4);
    expect(B(c)).toBe(0);
  });

  it('read/write: any byte of the access in [DRn, DRn + LEN), each length', () => {
    // mov rbx, [rax] ; ud2
    for (const [len, bytes] of [[0, 1], [1, 2], [3, 4], [2, 8]]) {
      for (const [at, hit] of [[0x3000 - 8, false], [0x3000 - 7, true], [0x3000 + bytes - 1, true], [0x3000 + bytes, false]] as const) {
        const c = mk(64, '48 8b 18 0f 0b');
        c.rl[0] = at;
        c.dr[3] = 0x3000;
        setDr7(c, dr7(3, 3, len));
        if (hit) { expectFault(c, 1, CODE + 3); expect(B(c)).toBe(8); } else runToUd(c, CODE + 3);
      }
    }
  });

  it('the low bits of DRn are ignored: LEN 4 at 0x3003 covers 0x3000-0x3003', () => {
    const c = mk(64, '88 18 0f 0b');
    c.rl[0] = 0x3000;
    c.dr[0] = 0x3003;
    setDr7(c, dr7(0, 1, 3));
    expectFault(c, 1, CODE + 2);
  });

  it('REP STOSB stops after the iteration that hits: RIP at the REP, rCX left, RF = 1', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    c.rl[7] = 0x3000;
    c.rl[1] = 16;
    c.dr[0] = 0x3005;
    setDr7(c, dr7(0, 1, 0));
    expectFault(c, 1, CODE);
    expect(c.rl[1]).toBe(10);
    expect(c.rl[7]).toBe(0x3006);
    expect(c.flags & Fl.RF).toBe(Fl.RF);
    runToUd(c, CODE + 2);
    expect(c.rl[1]).toBe(0);
    expect(c.mem.read8(0x300f)).toBe(0);
  });

  it('with paging on, breakpoint pages stay out of the TLB and every access is seen', () => {
    // mov [rax], bl twice (the second through the TLB if the page were cached) ; ud2
    const c = mk(64, '88 18 88 18 0f 0b');
    c.mem.write32(0x80000, 0x81003); c.mem.write32(0x81000, 0x82003); c.mem.write32(0x82000, 0x83);
    c.cr3 = 0x80000;
    c.cr4 |= 0x20;
    c.cr0 = (c.cr0 | 0x80000000) >>> 0;
    updateMode(c);
    c.rl[0] = 0x3000;
    c.dr[1] = 0x3000;
    setDr7(c, dr7(1, 1, 0));
    expectFault(c, 1, CODE + 2);
    c.dr[6] = 0xffff0ff0;
    expectFault(c, 1, CODE + 4);
    expect(B(c)).toBe(2);
  });
});

describe('I/O breakpoints', () => {
  it('R/W = 10b with CR4.DE: a trap after OUT to the port', () => {
    const c = mk(64, 'e6 80 e6 81 0f 0b');
    c.cr4 |= 0x8;
    c.dr[0] = 0x80;
    setDr7(c, dr7(0, 2, 0));
    expectFault(c, 1, CODE + 2);
    expect(B(c)).toBe(1);
    runToUd(c, CODE + 4);
  });

  it('CR4.DE enables them after the fact', () => {
    const c = mk(64, 'e6 80 0f 0b');
    c.dr[0] = 0x80;
    setDr7(c, dr7(0, 2, 0));
    c.cr4 |= 0x8;
    debugUpdate(c);
    expectFault(c, 1, CODE + 2);
  });
});

describe('debug registers', () => {
  it('DR6 and DR7 keep their fixed bits', () => {
    // mov dr6, rax ; mov rbx, dr6 ; mov dr7, rax ; mov rcx, dr7 ; ud2
    const c = mk(64, '0f 23 f0 0f 21 f3 0f 23 f8 0f 21 f9 0f 0b');
    c.rl[0] = 0;
    runToUd(c);
    expect(c.rl[3] >>> 0).toBe(0xffff0ff0);
    expect(c.rl[1] >>> 0).toBe(0x400);
    const d = mk(64, '0f 23 f0 0f 21 f3 0f 23 f8 0f 21 f9 0f 0b');
    d.rl[0] = 0xffff00ff & ~0xff; // no enable bits
    runToUd(d);
    expect(d.rl[3] >>> 0).toBe(0xffff0ff0);
    expect(d.rl[1] >>> 0).toBe(0xffff0400);
  });

  it('64-bit mode: a 1 in bits 63:32 of DR6 or DR7 is #GP(0); DR0-DR3 take 64 bits', () => {
    const c = mk(64, '0f 23 f8');
    c.rh[0] = 1;
    expectFault(c, 13, CODE);
    const d = mk(64, '0f 23 c0 0f 21 c3 0f 0b');
    d.rl[0] = 0x1000; d.rh[0] = 0x7fff;
    runToUd(d);
    expect([d.rl[3], d.rh[3]]).toEqual([0x1000, 0x7fff]);
  });

  it('DR4/DR5 alias DR6/DR7 with CR4.DE = 0 and are #UD with CR4.DE = 1', () => {
    const c = mk(64, '0f 21 e0 0f 0b');
    runToUd(c, CODE + 3);
    expect(c.rl[0] >>> 0).toBe(0xffff0ff0);
    const d = mk(64, '0f 21 e0 0f 0b');
    d.cr4 |= 0x8;
    expectFault(d, 6, CODE);
  });

  it('general detect: MOV DR is a #DB fault with DR6.BD, and GD is cleared', () => {
    const c = mk(64, '0f 21 c0 0f 0b');
    c.dr[7] = 0x2400;
    expectFault(c, 1, CODE);
    expect(c.dr[6] & BD).toBe(BD);
    expect(c.dr[7] & 0x2000).toBe(0);
    runToUd(c, CODE + 3);
  });
});

describe('single-step', () => {
  it('REP STOSB traps after each iteration, RIP at the REP while iterations remain', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    c.rl[7] = 0x3000;
    c.rl[1] = 3;
    c.flags |= Fl.TF;
    for (const [rip, rcx] of [[CODE, 2], [CODE, 1], [CODE + 2, 0]]) {
      expectFault(c, 1, rip);
      expect(c.rl[1]).toBe(rcx);
      expect(c.dr[6] & BS).toBe(BS);
    }
  });

  it('the STI shadow holds interrupts, not the single-step trap after STI', () => {
    const c = mk(64, 'fb 90 0f 0b');
    c.flags |= Fl.TF;
    expectFault(c, 1, CODE + 1);
  });

  it('POPF setting TF: the first trap follows the next instruction', () => {
    const c = mk(64, '9d 90 90 0f 0b');
    c.mem.write32(STACK, 0x102);
    expectFault(c, 1, CODE + 2);
  });

  it('SYSCALL clearing TF through SFMASK: no trap in the kernel; SYSRET setting TF: a trap at once', () => {
    const c = mk(64, '0f 05');
    c.efer |= Efer.SCE;
    c.lstar = 0x2000;
    c.sfmask = Fl.TF;
    c.mem.load(0x2000, hex('48 0f 07'));       // sysretq to RCX with R11
    c.mem.load(0x3000, hex('90 0f 0b'));
    c.flags |= Fl.TF;
    // SYSCALL: no #DB at 0x2000; SYSRETQ to 0x3000 with R11.TF: #DB before the NOP runs
    const stop = c.run(10);
    expect(stop).toBe(Stop.Exception);
    expect(c.lastFault.vector).toBe(1);
    expect(c.lastFault.rip).toBe(CODE + 2); // RCX from SYSCALL: the trap comes before anything runs there
    expect(c.cpl).toBe(3);
  });
});

describe('CLAC, STAC', () => {
  it('clear and set AC at CPL 0, #UD at CPL 3', () => {
    const c = mk(64, '0f 01 cb 0f 01 ca 0f 0b');
    c.run(1);
    expect(c.flags & Fl.AC).toBe(Fl.AC);
    c.run(1);
    expect(c.flags & Fl.AC).toBe(0);
    const d = mk(64, '0f 01 ca');
    d.cpl = 3;
    expectFault(d, 6, CODE);
  });
});

describe('16-bit code above 64 KiB', () => {
  it('sequential execution does not cut EIP to 16 bits', () => {
    const c = mk(32, '');
    c.segAttr[S.CS] &= ~0x400; // D = 0: 16-bit code, limit 4 GiB
    updateMode(c);
    expect(c.bits).toBe(16);
    c.mem.load(0x1fffe, hex('90 90 0f 0b'));
    c.rip = 0x1fffe;
    runToUd(c, 0x20000);
  });
});

describe('ARPL (its table row had no handler)', () => {
  it('raises the RPL and sets ZF, else clears ZF; #UD in real mode', () => {
    const c = mk(32, '63 c8 63 c8 0f 0b');
    c.rl[0] = 0x10;
    c.rl[1] = 3;
    c.run(1);
    expect(c.rl[0]).toBe(0x13);
    expect(getFlags(c) & Fl.ZF).toBe(Fl.ZF);
    c.rl[1] = 1;
    c.run(1);
    expect(c.rl[0]).toBe(0x13);
    expect(getFlags(c) & Fl.ZF).toBe(0);
    const r = mk(16, '63 c8');
    expectFault(r, 6, CODE);
  });
});
