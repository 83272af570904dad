/**
 * Stack, control-transfer, string and small system instructions, run as short code sequences
 * on a bare core in flat 64-, 32- and 16-bit modes (and one paged 32-bit setup for faults in
 * the middle of REP string instructions). Encodings were produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags } from '../src/cpu/flags.js';
import { Cr0, Fl, Stop } from '../src/cpu/state.js';
import { HANDLERS } from '../src/cpu/exec/registry.js';
import { writeCr0, writeCr3 } from '../src/cpu/exec/ctrl.js';

const CODE = 0x1000;
const STACK = 0x8000;

function hex(s: string): Uint8Array {
  return Uint8Array.from(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

function mk(bits: 16 | 32 | 64, code: string): Cpu {
  const mem = new PhysMem(1 << 21);
  mem.load(CODE, hex(code));
  const c = new Cpu(mem);
  setFlatMode(c, bits);
  c.rip = CODE;
  c.rl[4] = STACK;
  return c;
}

/** run to the end marker (UD2), which must be at `at` if given */
function runToUd(c: Cpu, at?: number, budget = 100000): void {
  const stop = c.run(budget);
  expect(stop).toBe(Stop.Exception);
  expect(c.lastFault.vector).toBe(6);
  if (at !== undefined) expect(c.lastFault.rip).toBe(at);
}

function expectFault(c: Cpu, vector: number, rip: number, errorCode = 0): void {
  const stop = c.run(100000);
  expect(stop).toBe(Stop.Exception);
  expect(c.lastFault.vector).toBe(vector);
  expect(c.lastFault.errorCode).toBe(errorCode);
  expect(c.lastFault.rip).toBe(rip);
}

function get64(c: Cpu, r: number): bigint {
  return (BigInt(c.rh[r] >>> 0) << 32n) | BigInt(c.rl[r] >>> 0);
}

function set64(c: Cpu, r: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  c.rl[r] = Number(u & 0xffffffffn) | 0;
  c.rh[r] = Number(u >> 32n) | 0;
}

function dv(c: Cpu): DataView {
  return new DataView(c.mem.u8.buffer);
}
const rd64 = (c: Cpu, a: number) => dv(c).getBigUint64(a, true);
const rd32 = (c: Cpu, a: number) => dv(c).getUint32(a, true);
const rd16 = (c: Cpu, a: number) => dv(c).getUint16(a, true);
const wr64 = (c: Cpu, a: number, v: bigint) => dv(c).setBigUint64(a, BigInt.asUintN(64, v), true);
const wr32 = (c: Cpu, a: number, v: number) => dv(c).setUint32(a, v >>> 0, true);
const wr16 = (c: Cpu, a: number, v: number) => dv(c).setUint16(a, v, true);

const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;

describe('registry', () => {
  it('has every handler of this family', () => {
    const names = ['pushZ', 'popZ', 'pushE', 'popE', 'pushI', 'pushSeg', 'pusha', 'popa', 'pushf',
      'popf', 'enter', 'leave', 'callRel', 'callInd', 'jmpInd', 'retNear', 'loop', 'jcxz', 'movs',
      'cmps', 'stos', 'lods', 'scas', 'xlat', 'pause', 'wait', 'ud', 'hlt', 'int3', 'intN', 'into',
      'int1', 'bound', 'movES', 'cli', 'sti'];
    for (const n of names) expect(HANDLERS[n], n).toBeTypeOf('function');
  });
});

describe('push and pop', () => {
  it('pushes and pops registers at 64 and 16 bits (64-bit mode)', () => {
    // push rax; pop rbx; push r12; pop r13; push ax; pop cx; ud2
    const c = mk(64, '50 5b 41 54 41 5d 66 50 66 59 0f 0b');
    set64(c, RAX, 0x1122334455667788n);
    set64(c, 12, -5n);
    set64(c, RCX, 0xaaaaaaaabbbbbbbbn);
    runToUd(c, 0x100a);
    expect(get64(c, RBX)).toBe(0x1122334455667788n);
    expect(get64(c, 13)).toBe(0xfffffffffffffffbn);
    expect(get64(c, RCX)).toBe(0xaaaaaaaabbbb7788n);
    expect(rd16(c, STACK - 2)).toBe(0x7788);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('PUSH rSP pushes the old value; POP rSP loads the popped value', () => {
    // push rsp; pop rax; pop rsp; ud2
    const c = mk(64, '54 58 5c 0f 0b');
    wr64(c, STACK, 0x123456789abcn);
    runToUd(c);
    expect(get64(c, RAX)).toBe(BigInt(STACK));
    expect(get64(c, RSP)).toBe(0x123456789abcn);
  });

  it('POP [rsp] addresses the destination with the incremented rSP (64 and 32)', () => {
    // pop qword ptr [rsp]; ud2
    const c = mk(64, '8f 04 24 0f 0b');
    wr64(c, STACK, 0xaaaan);
    wr64(c, STACK + 8, 0xbbbbn);
    runToUd(c);
    expect(rd64(c, STACK + 8)).toBe(0xaaaan);
    expect(rd64(c, STACK)).toBe(0xaaaan);
    expect(get64(c, RSP)).toBe(BigInt(STACK + 8));
    const d = mk(32, '8f 04 24 0f 0b');
    wr32(d, STACK, 0x11111111);
    wr32(d, STACK + 4, 0x22222222);
    runToUd(d);
    expect(rd32(d, STACK + 4)).toBe(0x11111111);
    expect(d.rl[RSP]).toBe(STACK + 4);
  });

  it('POP r/m with a register operand, PUSH r/m from memory', () => {
    // pop rax (8F C0); push qword ptr [rsp+8]; ud2
    const c = mk(64, '8f c0 ff 74 24 08 0f 0b');
    wr64(c, STACK, 0x42n);
    wr64(c, STACK + 16, 0x99n);
    runToUd(c);
    expect(get64(c, RAX)).toBe(0x42n);
    // [rsp+8] with rsp = STACK+8 before the push is STACK+16
    expect(rd64(c, STACK)).toBe(0x99n);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('a faulting POP r/m leaves rSP unchanged', () => {
    // pop qword ptr [rax]; rax non-canonical
    const c = mk(64, '8f 00 0f 0b');
    set64(c, RAX, 0x0000800000000000n);
    expectFault(c, 13, CODE);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('pushes sign-extended immediates', () => {
    // push -2; push 0x12345678; pushw -1; ud2
    const c = mk(64, '6a fe 68 78 56 34 12 66 6a ff 0f 0b');
    runToUd(c);
    expect(rd64(c, STACK - 8)).toBe(0xfffffffffffffffen);
    expect(rd64(c, STACK - 16)).toBe(0x12345678n);
    expect(rd16(c, STACK - 18)).toBe(0xffff);
    expect(get64(c, RSP)).toBe(BigInt(STACK - 18));
  });

  it('pushes segment selectors zero-extended to the operand size (64-bit mode)', () => {
    // push fs; push gs; pushw fs; ud2
    const c = mk(64, '0f a0 0f a8 66 0f a0 0f 0b');
    c.mem.u8.fill(0xff, STACK - 64, STACK);
    c.segSel[4] = 0x1234;
    c.segSel[5] = 0x5678;
    runToUd(c);
    expect(rd64(c, STACK - 8)).toBe(0x1234n);
    expect(rd64(c, STACK - 16)).toBe(0x5678n);
    expect(rd16(c, STACK - 18)).toBe(0x1234);
    expect(rd16(c, STACK - 20)).toBe(0xffff);
    expect(get64(c, RSP)).toBe(BigInt(STACK - 18));
  });

  it('pushes segment selectors at 32 and 16 bits (32-bit mode)', () => {
    // push es; pushw es; push ds; pop eax; ud2
    const c = mk(32, '06 66 06 1e 58 0f 0b');
    c.mem.u8.fill(0xff, STACK - 64, STACK);
    c.segSel[0] = 0x23;
    c.segSel[3] = 0x2b;
    runToUd(c);
    expect(rd32(c, STACK - 4)).toBe(0x23);
    expect(rd16(c, STACK - 6)).toBe(0x23);
    expect(c.rl[RAX]).toBe(0x2b);
    expect(c.rl[RSP]).toBe(STACK - 6);
  });

  it('PUSHAD / POPAD: order, the original ESP, and ESP skipped on the way back', () => {
    // pushad; popad; ud2
    const c = mk(32, '60 61 0f 0b');
    for (let r = 0; r < 8; r++) if (r !== RSP) c.rl[r] = 0x1000 * (r + 1) + r;
    c.run(1);
    for (let r = 0; r < 8; r++) {
      const want = r === RSP ? STACK : 0x1000 * (r + 1) + r;
      expect(rd32(c, STACK - 4 * (r + 1))).toBe(want);
    }
    expect(c.rl[RSP]).toBe(STACK - 32);
    // change the saved values, including the ESP slot, which POPAD ignores
    for (let r = 0; r < 8; r++) wr32(c, STACK - 4 * (r + 1), 0x50 + r);
    for (let r = 0; r < 8; r++) c.rl[r] = r === RSP ? c.rl[r] : 0;
    runToUd(c);
    for (let r = 0; r < 8; r++) if (r !== RSP) expect(c.rl[r]).toBe(0x50 + r);
    expect(c.rl[RSP]).toBe(STACK);
  });

  it('PUSHA / POPA with 16-bit operands, in 32- and 16-bit modes', () => {
    // pushaw; popaw; ud2 (32-bit)
    const c = mk(32, '66 60 66 61 0f 0b');
    c.rl[RAX] = 0x11110001;
    c.rl[RBP] = 0x22220002;
    c.run(1);
    expect(rd16(c, STACK - 2)).toBe(0x0001);
    expect(rd16(c, STACK - 10)).toBe(STACK & 0xffff);
    expect(c.rl[RSP]).toBe(STACK - 16);
    wr16(c, STACK - 2, 0xabcd);
    runToUd(c);
    expect(c.rl[RAX] >>> 0).toBe(0x1111abcd);
    expect(c.rl[RBP]).toBe(0x22220002);
    // pusha; popa; ud2 (16-bit)
    const d = mk(16, '60 61 0f 0b');
    d.rl[RDI] = 0x7777;
    d.run(1);
    expect(rd16(d, STACK - 16)).toBe(0x7777);
    runToUd(d);
    expect(d.rl[RSP]).toBe(STACK);
  });
});

describe('PUSHF / POPF', () => {
  it('PUSHFQ pushes RFLAGS with VM and RF clear', () => {
    const c = mk(64, '9c 0f 0b');
    c.flags = 0x2 | Fl.CF | Fl.IF | Fl.RF | Fl.AC;
    runToUd(c);
    expect(rd64(c, STACK - 8)).toBe(BigInt(0x2 | Fl.CF | Fl.IF | Fl.AC));
  });

  it('PUSHF materializes lazy flags', () => {
    // xor eax, eax; pushfq; ud2
    const c = mk(64, '31 c0 9c 0f 0b');
    runToUd(c);
    expect(Number(rd64(c, STACK - 8)) & (Fl.ZF | Fl.PF | Fl.SF)).toBe(Fl.ZF | Fl.PF);
  });

  it('POPFQ at CPL 0 writes all defined flags but VM, VIP, VIF and RF', () => {
    const c = mk(64, '9d 0f 0b');
    wr64(c, STACK, -1n);
    c.flags = 0x2;
    expect(c.run(1)).toBe(Stop.Budget);
    expect(getFlags(c)).toBe(0x247fd7);
    expect(get64(c, RSP)).toBe(BigInt(STACK + 8));
    const d = mk(64, '9d 0f 0b');
    wr64(d, STACK, 0n);
    d.flags = 0x2 | Fl.VIF | Fl.VIP | Fl.RF | Fl.IF | Fl.CF;
    d.run(1);
    expect(getFlags(d)).toBe(0x2 | Fl.VIF | Fl.VIP);
  });

  it('POPF at CPL 3 keeps IOPL, and IF unless CPL <= IOPL', () => {
    const c = mk(64, '9d 0f 0b');
    wr64(c, STACK, -1n);
    c.cpl = 3;
    c.flags = 0x2 | Fl.VIF;
    c.run(1);
    expect(getFlags(c)).toBe(0x244dd7 | Fl.VIF);
    const d = mk(64, '9d 9d 0f 0b');
    wr64(d, STACK, 0n);
    wr64(d, STACK + 8, BigInt(Fl.IF));
    d.cpl = 3;
    d.flags = 0x2 | Fl.IOPL | Fl.IF;
    d.run(1);
    expect(getFlags(d)).toBe(0x2 | Fl.IOPL);
    d.run(1);
    expect(getFlags(d)).toBe(0x2 | Fl.IOPL | Fl.IF);
  });

  it('POPF with a 16-bit operand leaves bits 31:16 alone', () => {
    // popfw; ud2
    const c = mk(64, '66 9d 0f 0b');
    wr16(c, STACK, 0xffff);
    c.flags = 0x2 | Fl.AC | Fl.ID;
    c.run(1);
    expect(getFlags(c)).toBe(0x7fd7 | Fl.AC | Fl.ID);
    expect(get64(c, RSP)).toBe(BigInt(STACK + 2));
  });

  it('POPFD in real mode writes IOPL, IF, AC and ID', () => {
    // popfd (66 9d in 16-bit code); ud2
    const c = mk(16, '66 9d 0f 0b');
    wr32(c, STACK, 0xffffffff);
    c.run(1);
    expect(getFlags(c)).toBe(0x247fd7);
    expect(c.rl[RSP]).toBe(STACK + 4);
  });

  it('POPF in virtual-8086 mode with IOPL < 3 and no VME raises #GP(0)', () => {
    const c = mk(32, '9d 0f 0b');
    c.flags = 0x2 | Fl.VM;
    c.cpl = 3;
    expectFault(c, 13, CODE);
    expect(c.rl[RSP]).toBe(STACK);
  });

  it('PUSHF/POPF with CR4.VME in virtual-8086 mode use VIF for IF', () => {
    // pushf; popf (16-bit operands: code decoded as 32-bit, so 66-prefixed); ud2
    const c = mk(32, '66 9c 66 9d 0f 0b');
    c.flags = 0x2 | Fl.VM | Fl.VIF;
    c.cr4 = 1;
    c.cpl = 3;
    c.run(1);
    expect(rd16(c, STACK - 2)).toBe(0x2 | Fl.IF | Fl.IOPL);
    wr16(c, STACK - 2, 0x2); // pop IF = 0
    c.run(1);
    expect(getFlags(c)).toBe(0x2 | Fl.VM);
  });
});

describe('ENTER / LEAVE', () => {
  it('ENTER n, 0 and LEAVE (64-bit)', () => {
    const c = mk(64, 'c8 20 00 00 c9 0f 0b');
    set64(c, RBP, 0x9000n);
    c.run(1);
    expect(rd64(c, STACK - 8)).toBe(0x9000n);
    expect(get64(c, RBP)).toBe(BigInt(STACK - 8));
    expect(get64(c, RSP)).toBe(BigInt(STACK - 8 - 0x20));
    runToUd(c);
    expect(get64(c, RBP)).toBe(0x9000n);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('ENTER with nesting level 3 copies two frame pointers (64-bit)', () => {
    // enter 0x10, 3; leave; ud2
    const c = mk(64, 'c8 10 00 03 c9 0f 0b');
    set64(c, RBP, 0x9000n);
    wr64(c, 0x9000 - 8, 0x1111n);
    wr64(c, 0x9000 - 16, 0x2222n);
    c.run(1);
    expect(rd64(c, STACK - 8)).toBe(0x9000n);
    expect(rd64(c, STACK - 16)).toBe(0x1111n);
    expect(rd64(c, STACK - 24)).toBe(0x2222n);
    expect(rd64(c, STACK - 32)).toBe(BigInt(STACK - 8));
    expect(get64(c, RSP)).toBe(BigInt(STACK - 32 - 0x10));
    expect(get64(c, RBP)).toBe(BigInt(STACK - 8));
    runToUd(c);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
    expect(get64(c, RBP)).toBe(0x9000n);
  });

  it('ENTER with nesting level 1 pushes rBP and the new frame pointer', () => {
    const c = mk(64, 'c8 00 00 01 0f 0b');
    set64(c, RBP, 0x9000n);
    runToUd(c);
    expect(rd64(c, STACK - 8)).toBe(0x9000n);
    expect(rd64(c, STACK - 16)).toBe(BigInt(STACK - 8));
    expect(get64(c, RSP)).toBe(BigInt(STACK - 16));
    expect(get64(c, RBP)).toBe(BigInt(STACK - 8));
  });

  it('ENTER 8, 2 in 32-bit mode and ENTER 4, 2 in 16-bit mode', () => {
    const c = mk(32, 'c8 08 00 02 0f 0b');
    c.rl[RBP] = 0x9000;
    wr32(c, 0x9000 - 4, 0xcafe);
    runToUd(c);
    expect(rd32(c, STACK - 4)).toBe(0x9000);
    expect(rd32(c, STACK - 8)).toBe(0xcafe);
    expect(rd32(c, STACK - 12)).toBe(STACK - 4);
    expect(c.rl[RSP]).toBe(STACK - 12 - 8);
    expect(c.rl[RBP]).toBe(STACK - 4);
    const d = mk(16, 'c8 04 00 02 c9 0f 0b');
    d.rl[RBP] = 0x9000;
    wr16(d, 0x9000 - 2, 0x1111);
    d.run(1);
    expect(rd16(d, STACK - 2)).toBe(0x9000);
    expect(rd16(d, STACK - 4)).toBe(0x1111);
    expect(rd16(d, STACK - 6)).toBe(STACK - 2);
    expect(d.rl[RSP]).toBe(STACK - 6 - 4);
    expect(d.rl[RBP]).toBe(STACK - 2);
    runToUd(d);
    expect(d.rl[RSP]).toBe(STACK);
    expect(d.rl[RBP]).toBe(0x9000);
  });

  it('a faulting ENTER changes nothing', () => {
    // rBP - 8 is non-canonical: #SS(0) on reading the outer frame pointer
    const c = mk(64, 'c8 00 00 03 0f 0b');
    set64(c, RBP, 0x0000800000000008n);
    wr64(c, STACK - 8, 0x5555n);
    expectFault(c, 12, CODE);
    expect(rd64(c, STACK - 8)).toBe(0x5555n);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
    expect(get64(c, RBP)).toBe(0x0000800000000008n);
  });
});

describe('CALL / RET / JMP', () => {
  it('CALL rel32 and RET (64-bit)', () => {
    // call f; ud2; f: mov eax, 1; ret
    const c = mk(64, 'e8 02 00 00 00 0f 0b b8 01 00 00 00 c3');
    runToUd(c, CODE + 5);
    expect(c.rl[RAX]).toBe(1);
    expect(rd64(c, STACK - 8)).toBe(BigInt(CODE + 5));
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('RET imm16 releases the arguments', () => {
    // push 1; push 2; call g; ud2; g: ret 16
    const c = mk(64, '6a 01 6a 02 e8 02 00 00 00 0f 0b c2 10 00');
    runToUd(c, CODE + 9);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('indirect CALL and JMP through registers and memory', () => {
    // call rax; call qword ptr [rbx]; jmp qword ptr [rbx+8]
    const c = mk(64, 'ff d0 ff 13 ff 63 08');
    c.mem.load(0x1100, hex('c3'));
    c.mem.load(0x1110, hex('c3'));
    c.mem.load(0x1120, hex('0f 0b'));
    set64(c, RAX, 0x1100n);
    set64(c, RBX, 0x3000n);
    wr64(c, 0x3000, 0x1110n);
    wr64(c, 0x3008, 0x1120n);
    runToUd(c, 0x1120);
    expect(rd64(c, STACK - 8)).toBe(BigInt(CODE + 4));
    expect(get64(c, RSP)).toBe(BigInt(STACK));
  });

  it('CALL [rsp] reads its target before pushing; JMP reg', () => {
    // call qword ptr [rsp]  -> 0x1100: jmp rax -> 0x1120: ud2
    const c = mk(64, 'ff 14 24');
    c.mem.load(0x1100, hex('ff e0'));
    c.mem.load(0x1120, hex('0f 0b'));
    wr64(c, STACK, 0x1100n);
    set64(c, RAX, 0x1120n);
    runToUd(c, 0x1120);
    expect(rd64(c, STACK - 8)).toBe(BigInt(CODE + 3));
  });

  it('non-canonical targets raise #GP(0) before anything changes', () => {
    // mov rax, 0x800000000000; call rax
    const c = mk(64, '48 b8 00 00 00 00 00 80 00 00 ff d0');
    wr64(c, STACK - 8, 0x7777n);
    expectFault(c, 13, CODE + 10);
    expect(get64(c, RSP)).toBe(BigInt(STACK));
    expect(rd64(c, STACK - 8)).toBe(0x7777n);
    // jmp rax with an upper-half non-canonical value
    const d = mk(64, 'ff e0');
    set64(d, RAX, 0xffff7fffffffffffn);
    expectFault(d, 13, CODE);
    // call qword ptr [rbx]
    const e = mk(64, 'ff 13');
    set64(e, RBX, 0x3000n);
    wr64(e, 0x3000, 0x0001000000000000n);
    expectFault(e, 13, CODE);
    expect(get64(e, RSP)).toBe(BigInt(STACK));
    // ret to a non-canonical address keeps rSP
    const f = mk(64, 'c2 08 00');
    wr64(f, STACK, 0x8000000000000000n);
    expectFault(f, 13, CODE);
    expect(get64(f, RSP)).toBe(BigInt(STACK));
  });

  it('16-bit operand-size CALL in 64-bit mode truncates the target and pushes 2 bytes', () => {
    // 66 e8 10 00: call rel16 to (0x1004 + 0x10) & 0xffff
    const c = mk(64, '66 e8 10 00');
    c.mem.load(0x1014, hex('0f 0b'));
    runToUd(c, 0x1014);
    expect(rd16(c, STACK - 2)).toBe(0x1004);
    expect(get64(c, RSP)).toBe(BigInt(STACK - 2));
  });

  it('CALL / RET in 16-bit mode; targets wrap at 64 KiB', () => {
    // call f; ud2; f: ret
    const c = mk(16, 'e8 02 00 0f 0b c3');
    runToUd(c, CODE + 3);
    expect(rd16(c, STACK - 2)).toBe(CODE + 3);
    expect(c.rl[RSP]).toBe(STACK);
    // jmp rel16 backwards past zero: 0x1000 + 3 - 0x2000 wraps to 0xf003
    const d = mk(16, 'e9 00 e0');
    d.mem.load(0xf003, hex('0f 0b'));
    runToUd(d, 0xf003);
  });

  it('CALL / RET in 32-bit mode', () => {
    const c = mk(32, 'e8 02 00 00 00 0f 0b c3');
    runToUd(c, CODE + 5);
    expect(rd32(c, STACK - 4)).toBe(CODE + 5);
    expect(c.rl[RSP]).toBe(STACK);
  });
});

describe('LOOP / JrCXZ', () => {
  it('LOOP counts rCX down', () => {
    // mov ecx, 5; xor eax, eax; l: inc eax; loop l; ud2
    const c = mk(64, 'b9 05 00 00 00 31 c0 ff c0 e2 fc 0f 0b');
    runToUd(c);
    expect(c.rl[RAX]).toBe(5);
    expect(get64(c, RCX)).toBe(0n);
  });

  it('LOOPE and LOOPNE test ZF after the decrement', () => {
    // loopX +2; ud2 (not taken, at 0x1002); ud2 (taken, at 0x1004)
    const cases: [string, number, boolean][] = [
      ['e1', Fl.ZF, true], ['e1', 0, false], ['e0', 0, true], ['e0', Fl.ZF, false],
    ];
    for (const [op, zf, taken] of cases) {
      const c = mk(64, `${op} 02 0f 0b 0f 0b`);
      set64(c, RCX, 3n);
      c.flags = 0x2 | zf;
      runToUd(c, taken ? CODE + 4 : CODE + 2);
      expect(get64(c, RCX)).toBe(2n);
    }
    // count reaching zero ends LOOPE even with ZF = 1
    const c = mk(64, 'e1 02 0f 0b 0f 0b');
    set64(c, RCX, 1n);
    c.flags = 0x2 | Fl.ZF;
    runToUd(c, CODE + 2);
    expect(get64(c, RCX)).toBe(0n);
  });

  it('LOOP counts with the address size', () => {
    // addr32 loop: ECX 1 -> 0, not taken, upper half cleared
    const c = mk(64, '67 e2 02 0f 0b 0f 0b');
    set64(c, RCX, 0x100000001n);
    runToUd(c, CODE + 3);
    expect(get64(c, RCX)).toBe(0n);
    // 64-bit count: 2^32 -> 2^32 - 1, taken
    const d = mk(64, 'e2 02 0f 0b 0f 0b');
    set64(d, RCX, 0x100000000n);
    runToUd(d, CODE + 4);
    expect(get64(d, RCX)).toBe(0xffffffffn);
    // 16-bit mode: CX 0 -> 0xffff, taken, upper ECX kept
    const e = mk(16, 'e2 02 0f 0b 0f 0b');
    e.rl[RCX] = 0x10000;
    runToUd(e, CODE + 4);
    expect(e.rl[RCX]).toBe(0x1ffff);
  });

  it('JRCXZ / JECXZ / JCXZ test the address-size count', () => {
    const c = mk(64, 'e3 02 0f 0b 0f 0b');
    set64(c, RCX, 0x100000000n);
    runToUd(c, CODE + 2);
    const d = mk(64, '67 e3 02 0f 0b 0f 0b');
    set64(d, RCX, 0x100000000n);
    runToUd(d, CODE + 5);
    const e = mk(16, 'e3 02 0f 0b 0f 0b');
    e.rl[RCX] = 0x10000;
    runToUd(e, CODE + 4);
  });
});

describe('string instructions', () => {
  const SRC = 0x10000;
  const DST = 0x20000;

  function fillSrc(c: Cpu, n: number, at = SRC): void {
    for (let k = 0; k < n; k++) c.mem.u8[at + k] = (k * 7 + 1) & 0xff;
  }

  it('REP MOVSB copies and advances rSI, rDI, rCX', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, 100);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RCX, 100n);
    c.flags = 0x2 | Fl.CF;
    runToUd(c);
    for (let k = 0; k < 100; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(c.mem.u8[DST + 100]).toBe(0);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 100));
    expect(get64(c, RDI)).toBe(BigInt(DST + 100));
    expect(get64(c, RCX)).toBe(0n);
    expect(getFlags(c)).toBe(0x2 | Fl.CF);
    expect(c.icount).toBe(1);
  });

  it('REP MOVSQ to an unaligned destination', () => {
    const c = mk(64, 'f3 48 a5 0f 0b');
    fillSrc(c, 24);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST + 3));
    set64(c, RCX, 3n);
    runToUd(c);
    for (let k = 0; k < 24; k++) expect(c.mem.u8[DST + 3 + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RDI)).toBe(BigInt(DST + 27));
  });

  it('a long REP MOVSB crosses pages and restarts itself', () => {
    const n = 10000;
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, n, SRC + 0x123);
    set64(c, RSI, BigInt(SRC + 0x123));
    set64(c, RDI, BigInt(DST + 0xf00));
    set64(c, RCX, BigInt(n));
    runToUd(c, CODE + 2);
    for (let k = 0; k < n; k++) expect(c.mem.u8[DST + 0xf00 + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RCX)).toBe(0n);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 0x123 + n));
    // 10000 iterations at up to 4096 per execution
    expect(c.icount).toBe(3);
  });

  it('REP MOVSB with the destination just ahead of the source replicates bytes', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    c.mem.u8[SRC] = 0x77;
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(SRC + 1));
    set64(c, RCX, 50n);
    runToUd(c);
    for (let k = 0; k <= 50; k++) expect(c.mem.u8[SRC + k]).toBe(0x77);
  });

  it('overlapping REP MOVSD copies element by element', () => {
    const c = mk(64, 'f3 a5 0f 0b');
    fillSrc(c, 64);
    const ref = c.mem.u8.slice(SRC, SRC + 64);
    for (let e = 0; e < 10; e++) {
      const tmp = ref.slice(e * 4, e * 4 + 4);
      ref.set(tmp, 2 + e * 4);
    }
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(SRC + 2));
    set64(c, RCX, 10n);
    runToUd(c);
    expect(Array.from(c.mem.u8.slice(SRC, SRC + 64))).toEqual(Array.from(ref));
  });

  it('REP with rCX = 0 does nothing, not even address checks', () => {
    const c = mk(64, 'f3 aa f3 a4 f3 a6 f3 ae 0f 0b');
    set64(c, RDI, -0x8000000000000000n);
    set64(c, RSI, -0x8000000000000000n);
    c.flags = 0x2 | Fl.CF;
    runToUd(c, CODE + 8);
    expect(get64(c, RDI)).toBe(0x8000000000000000n);
    expect(getFlags(c)).toBe(0x2 | Fl.CF);
  });

  it('DF = 1 runs backwards', () => {
    const c = mk(64, 'f3 a4 0f 0b');
    fillSrc(c, 10);
    set64(c, RSI, BigInt(SRC + 9));
    set64(c, RDI, BigInt(DST + 9));
    set64(c, RCX, 10n);
    c.flags = 0x2 | Fl.DF;
    runToUd(c);
    for (let k = 0; k < 10; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RSI)).toBe(BigInt(SRC - 1));
    expect(get64(c, RDI)).toBe(BigInt(DST - 1));
    // rep stosd backwards
    const d = mk(64, 'f3 ab 0f 0b');
    set64(d, RAX, 0xdeadbeefn);
    set64(d, RDI, BigInt(DST + 8));
    set64(d, RCX, 3n);
    d.flags = 0x2 | Fl.DF;
    runToUd(d);
    for (let k = 0; k < 3; k++) expect(rd32(d, DST + 4 * k)).toBe(0xdeadbeef);
    expect(get64(d, RDI)).toBe(BigInt(DST - 4));
  });

  it('REP STOSB / STOSW / STOSD / STOSQ, aligned and not', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    set64(c, RAX, 0x1234abn);
    set64(c, RDI, BigInt(DST + 0xff0));
    set64(c, RCX, 5000n);
    runToUd(c);
    for (let k = 0; k < 5000; k++) expect(c.mem.u8[DST + 0xff0 + k]).toBe(0xab);
    expect(c.mem.u8[DST + 0xff0 - 1]).toBe(0);
    expect(c.mem.u8[DST + 0xff0 + 5000]).toBe(0);
    expect(c.icount).toBe(2);
    for (const [code, size] of [['f3 66 ab', 2], ['f3 ab', 4], ['f3 48 ab', 8]] as [string, number][]) {
      for (const off of [0, 1, 4]) {
        const d = mk(64, `${code} 0f 0b`);
        set64(d, RAX, 0x1122334455667788n);
        set64(d, RDI, BigInt(DST + off));
        set64(d, RCX, 7n);
        runToUd(d);
        const pat = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11];
        for (let k = 0; k < 7 * size; k++) expect(d.mem.u8[DST + off + k]).toBe(pat[k % size]);
        expect(d.mem.u8[DST + off + 7 * size]).toBe(0);
        expect(get64(d, RDI)).toBe(BigInt(DST + off + 7 * size));
      }
    }
  });

  it('REPNE SCASB finds a terminator (strlen)', () => {
    const c = mk(64, 'f2 ae 0f 0b');
    c.mem.load(SRC, new TextEncoder().encode('hello world\0'));
    set64(c, RDI, BigInt(SRC));
    set64(c, RCX, -1n);
    set64(c, RAX, 0n);
    runToUd(c);
    expect(get64(c, RDI)).toBe(BigInt(SRC + 12));
    expect(get64(c, RCX)).toBe(BigInt.asUintN(64, -13n));
    expect(getFlags(c) & Fl.ZF).toBe(Fl.ZF);
    expect(c.icount).toBe(1);
    // backwards (the element-by-element path)
    const d = mk(64, 'f2 ae 0f 0b');
    d.mem.load(SRC, new TextEncoder().encode('xabcdef'));
    set64(d, RDI, BigInt(SRC + 6));
    set64(d, RCX, 100n);
    set64(d, RAX, 0x78n);
    d.flags = 0x2 | Fl.DF;
    runToUd(d);
    expect(get64(d, RDI)).toBe(BigInt(SRC - 1));
    expect(get64(d, RCX)).toBe(93n);
  });

  it('REPE SCASB stops at the first different byte; exhausting the count keeps ZF = 1', () => {
    const c = mk(64, 'f3 ae 0f 0b');
    c.mem.u8.fill(0x41, SRC, SRC + 9);
    c.mem.u8[SRC + 9] = 0x50;
    set64(c, RDI, BigInt(SRC));
    set64(c, RCX, 30n);
    set64(c, RAX, 0x41n);
    runToUd(c);
    expect(get64(c, RDI)).toBe(BigInt(SRC + 10));
    expect(get64(c, RCX)).toBe(20n);
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
    const d = mk(64, 'f3 ae 0f 0b');
    d.mem.u8.fill(0x41, SRC, SRC + 9);
    set64(d, RDI, BigInt(SRC));
    set64(d, RCX, 5n);
    set64(d, RAX, 0x41n);
    runToUd(d);
    expect(get64(d, RCX)).toBe(0n);
    expect(getFlags(d) & Fl.ZF).toBe(Fl.ZF);
  });

  it('REPE CMPSB stops at the first mismatch', () => {
    const c = mk(64, 'f3 a6 0f 0b');
    fillSrc(c, 20, SRC);
    fillSrc(c, 20, DST);
    c.mem.u8[DST + 7] = 0xff;
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RCX, 20n);
    runToUd(c);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 8));
    expect(get64(c, RDI)).toBe(BigInt(DST + 8));
    expect(get64(c, RCX)).toBe(12n);
    // [rsi] - [rdi] = 0x32 - 0xff borrows
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
  });

  it('REPE / REPNE CMPSB across pages and backwards', () => {
    const c = mk(64, 'f3 a6 0f 0b');
    c.mem.u8.fill(0x33, SRC + 0x800, SRC + 0x800 + 6000);
    c.mem.u8.fill(0x33, DST + 0x10, DST + 0x10 + 6000);
    c.mem.u8[DST + 0x10 + 4500] = 0x34;
    set64(c, RSI, BigInt(SRC + 0x800));
    set64(c, RDI, BigInt(DST + 0x10));
    set64(c, RCX, 6000n);
    runToUd(c);
    expect(get64(c, RCX)).toBe(BigInt(6000 - 4501));
    expect(get64(c, RSI)).toBe(BigInt(SRC + 0x800 + 4501));
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.CF);
    expect(c.icount).toBe(2);
    // REPNE: the first equal pair ends it
    const d = mk(64, 'f2 a6 0f 0b');
    fillSrc(d, 40, SRC);
    d.mem.u8[DST + 30] = d.mem.u8[SRC + 30];
    set64(d, RSI, BigInt(SRC));
    set64(d, RDI, BigInt(DST));
    set64(d, RCX, 40n);
    runToUd(d);
    expect(get64(d, RCX)).toBe(9n);
    expect(getFlags(d) & Fl.ZF).toBe(Fl.ZF);
    // DF = 1, REPE
    const e = mk(64, 'f3 a6 0f 0b');
    fillSrc(e, 10, SRC);
    fillSrc(e, 10, DST);
    e.mem.u8[DST + 2] = 0;
    set64(e, RSI, BigInt(SRC + 9));
    set64(e, RDI, BigInt(DST + 9));
    set64(e, RCX, 10n);
    e.flags = 0x2 | Fl.DF;
    runToUd(e);
    expect(get64(e, RCX)).toBe(2n);
    expect(get64(e, RDI)).toBe(BigInt(DST + 1));
    expect(getFlags(e) & (Fl.ZF | Fl.CF)).toBe(0);
  });

  it('REP MOVSB over already-decoded code takes effect', () => {
    // s: rep movsb; mov al, 1; inc ebx; cmp ebx, 2; je e; mov ecx, 2; jmp s; e: ud2
    const c = mk(64, 'f3 a4 b0 01 ff c3 83 fb 02 74 07 b9 02 00 00 00 eb ee 0f 0b');
    c.mem.load(0x3000, hex('b0 02'));
    set64(c, RSI, 0x3000n);
    set64(c, RDI, BigInt(CODE + 2));
    runToUd(c);
    expect(c.rl[RAX] & 0xff).toBe(2);
  });

  it('CMPSQ and SCASW without REP set flags from one comparison', () => {
    // cmpsq; scasw; ud2
    const c = mk(64, '48 a7 66 af 0f 0b');
    wr64(c, SRC, 5n);
    wr64(c, DST, 5n);
    wr16(c, DST + 8, 0x8000);
    set64(c, RSI, BigInt(SRC));
    set64(c, RDI, BigInt(DST));
    set64(c, RAX, 0x7fffn);
    c.run(1);
    expect(getFlags(c) & (Fl.ZF | Fl.CF)).toBe(Fl.ZF);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 8));
    runToUd(c);
    // 0x7fff - 0x8000: borrow and signed overflow
    expect(getFlags(c) & (Fl.ZF | Fl.CF | Fl.OF | Fl.SF)).toBe(Fl.CF | Fl.OF | Fl.SF);
    expect(get64(c, RDI)).toBe(BigInt(DST + 10));
  });

  it('LODSB / LODSQ / REP LODSB', () => {
    // lodsb; lodsq; ud2
    const c = mk(64, 'ac 48 ad 0f 0b');
    fillSrc(c, 16);
    set64(c, RSI, BigInt(SRC));
    set64(c, RAX, -1n);
    c.run(1);
    expect(get64(c, RAX)).toBe(0xffffffffffffff01n);
    runToUd(c);
    expect(get64(c, RAX)).toBe(rd64(c, SRC + 1));
    expect(get64(c, RSI)).toBe(BigInt(SRC + 9));
    const d = mk(64, 'f3 ac 0f 0b');
    fillSrc(d, 16);
    set64(d, RSI, BigInt(SRC));
    set64(d, RCX, 3n);
    runToUd(d);
    expect(d.rl[RAX] & 0xff).toBe(d.mem.u8[SRC + 2]);
    expect(get64(d, RCX)).toBe(0n);
  });

  it('address-size override: 32-bit rSI / rDI / rCX in 64-bit mode', () => {
    const c = mk(64, '67 f3 a4 0f 0b');
    fillSrc(c, 4);
    set64(c, RSI, 0xdead000000010000n);
    set64(c, RDI, 0xbeef000000020000n);
    set64(c, RCX, 0x100000004n);
    runToUd(c);
    for (let k = 0; k < 4; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    expect(get64(c, RSI)).toBe(BigInt(SRC + 4));
    expect(get64(c, RDI)).toBe(BigInt(DST + 4));
    expect(get64(c, RCX)).toBe(0n);
  });

  it('source segment override: FS in 64-bit mode', () => {
    // movsb byte ptr es:[rdi], byte ptr fs:[rsi]
    const c = mk(64, '64 a4 0f 0b');
    c.segBase[4] = 0x5000;
    c.mem.u8[0x5100] = 0x9a;
    set64(c, RSI, 0x100n);
    set64(c, RDI, BigInt(DST));
    runToUd(c);
    expect(c.mem.u8[DST]).toBe(0x9a);
    expect(get64(c, RSI)).toBe(0x101n);
  });

  it('a fault in the middle of REP STOSB / MOVSB leaves the registers at the iterations done', () => {
    const c = mk(64, 'f3 aa 0f 0b');
    set64(c, RDI, 0x7ffffffffffcn);
    set64(c, RCX, 8n);
    expectFault(c, 13, CODE);
    expect(get64(c, RDI)).toBe(0x800000000000n);
    expect(get64(c, RCX)).toBe(4n);
    const d = mk(64, 'f3 a4 0f 0b');
    set64(d, RSI, 0x7ffffffffffen);
    set64(d, RDI, BigInt(DST));
    set64(d, RCX, 4n);
    expectFault(d, 13, CODE);
    expect(get64(d, RSI)).toBe(0x800000000000n);
    expect(get64(d, RDI)).toBe(BigInt(DST + 2));
    expect(get64(d, RCX)).toBe(2n);
  });

  it('16-bit addressing wraps rSI at 64 KiB and keeps the upper half', () => {
    const c = mk(16, 'f3 a4 0f 0b');
    c.mem.u8[0xfffe] = 1;
    c.mem.u8[0xffff] = 2;
    c.mem.u8[0x0000] = 3;
    c.mem.u8[0x0001] = 4;
    c.rl[RSI] = 0x1234fffe;
    c.rl[RDI] = 0x2000;
    c.rl[RCX] = 0x50004;
    runToUd(c);
    expect(Array.from(c.mem.u8.slice(0x2000, 0x2004))).toEqual([1, 2, 3, 4]);
    expect(c.rl[RSI]).toBe(0x12340002);
    expect(c.rl[RCX]).toBe(0x50000);
  });

  it('32-bit mode: REP MOVSD, REP MOVSW, and addr16 REP MOVSB', () => {
    const c = mk(32, 'f3 a5 66 f3 a5 67 f3 a4 0f 0b');
    fillSrc(c, 64);
    c.rl[RSI] = SRC;
    c.rl[RDI] = DST;
    c.rl[RCX] = 4;
    c.run(1);
    expect(c.rl[RSI]).toBe(SRC + 16);
    c.rl[RCX] = 3;
    c.run(1);
    expect(c.rl[RDI]).toBe(DST + 22);
    c.rl[RSI] = 0x10040;
    c.rl[RDI] = 0x30008;
    c.rl[RCX] = 0x10002;
    c.mem.u8[0x40] = 0xa1;
    c.mem.u8[0x41] = 0xa2;
    runToUd(c);
    for (let k = 0; k < 22; k++) expect(c.mem.u8[DST + k]).toBe((k * 7 + 1) & 0xff);
    // addr16: SI = 0x0040, DI = 0x0008 (DS/ES bases 0)
    expect(Array.from(c.mem.u8.slice(8, 10))).toEqual([0xa1, 0xa2]);
    expect(c.rl[RSI]).toBe(0x10042);
    expect(c.rl[RDI]).toBe(0x3000a);
    expect(c.rl[RCX]).toBe(0x10000);
  });

  it('XLAT at 64, 32 and 16-bit address sizes', () => {
    const c = mk(64, 'd7 0f 0b');
    c.mem.u8[0x3005] = 0x99;
    set64(c, RBX, 0x3000n);
    set64(c, RAX, 0x1205n);
    runToUd(c);
    expect(get64(c, RAX)).toBe(0x1299n);
    // xlatb; addr16 xlatb (32-bit mode)
    const d = mk(32, 'd7 67 d7 0f 0b');
    d.mem.u8[0x13005] = 7;
    d.mem.u8[0x3007] = 0x55;
    d.rl[RBX] = 0x13000;
    d.rl[RAX] = 5;
    runToUd(d);
    expect(d.rl[RAX]).toBe(0x55);
  });
});

describe('REP string faults with paging (32-bit)', () => {
  /** identity-mapped 32-bit paging for the first 1 MiB, page 0x30 not present */
  function paged(code: string): Cpu {
    const c = mk(32, code);
    const PD = 0x80000;
    const PT = 0x81000;
    wr32(c, PD, PT | 7);
    for (let k = 0; k < 256; k++) wr32(c, PT + 4 * k, k === 0x30 ? 0 : (k << 12) | 7);
    writeCr3(c, PD, 0);
    writeCr0(c, c.cr0 | Cr0.PG, 0);
    return c;
  }

  it('REP STOSB runs up to the missing page, then #PF with consistent registers', () => {
    const c = paged('f3 aa 0f 0b');
    c.rl[RAX] = 0xcc;
    c.rl[RDI] = 0x2ff00;
    c.rl[RCX] = 0x200;
    expectFault(c, 14, CODE, 2);
    expect(c.rl[RDI]).toBe(0x30000);
    expect(c.rl[RCX]).toBe(0x100);
    for (let k = 0x2ff00; k < 0x30000; k++) expect(c.mem.u8[k]).toBe(0xcc);
    expect(c.mem.u8[0x30000]).toBe(0);
  });

  it('REP MOVSD with the source running into the missing page', () => {
    const c = paged('f3 a5 0f 0b');
    fillSrc(c, 16);
    c.mem.u8.copyWithin(0x2fff0, 0x10000, 0x10010);
    c.rl[RSI] = 0x2fff0;
    c.rl[RDI] = 0x40000;
    c.rl[RCX] = 8;
    expectFault(c, 14, CODE, 0);
    expect(c.rl[RSI]).toBe(0x30000);
    expect(c.rl[RDI]).toBe(0x40010);
    expect(c.rl[RCX]).toBe(4);
    expect(Array.from(c.mem.u8.slice(0x40000, 0x40010))).toEqual(Array.from(c.mem.u8.slice(0x10000, 0x10010)));
  });

  function fillSrc(c: Cpu, n: number): void {
    for (let k = 0; k < n; k++) c.mem.u8[0x10000 + k] = (k * 13 + 5) & 0xff;
  }
});

describe('small instructions', () => {
  it('PAUSE is a no-op; WAIT raises #NM only with CR0.MP and CR0.TS', () => {
    const c = mk(64, 'f3 90 9b 0f 0b');
    runToUd(c, CODE + 3);
    const d = mk(64, '9b 0f 0b');
    d.cr0 |= Cr0.TS;
    runToUd(d, CODE + 1);
    const e = mk(64, '9b 0f 0b');
    e.cr0 |= Cr0.TS | Cr0.MP;
    expectFault(e, 7, CODE);
  });

  it('UD0 / UD1 / UD2 raise #UD', () => {
    for (const code of ['0f 0b', '0f b9 c0', '0f ff c0']) {
      const c = mk(64, code);
      expectFault(c, 6, CODE);
      expect(c.icount).toBe(0);
    }
  });

  it('HLT halts at CPL 0 and raises #GP(0) above it', () => {
    const c = mk(64, 'f4 0f 0b');
    expect(c.run(100)).toBe(Stop.Halt);
    expect(c.rip).toBe(CODE + 1);
    expect(c.icount).toBe(1);
    const d = mk(64, 'f4');
    d.cpl = 3;
    expectFault(d, 13, CODE);
  });

  it('INT3, INT n, INT1 and INTO deliver with RIP past the instruction', () => {
    const c = mk(64, 'cc');
    c.run(10);
    expect(c.lastFault.vector).toBe(3);
    expect(c.lastFault.rip).toBe(CODE + 1);
    const d = mk(64, 'cd 80');
    d.run(10);
    expect(d.lastFault.vector).toBe(0x80);
    expect(d.lastFault.rip).toBe(CODE + 2);
    const e = mk(64, 'f1');
    e.run(10);
    expect(e.lastFault.vector).toBe(1);
    // into: nothing without OF, #OF with it (32-bit mode only)
    const f = mk(32, 'ce 0f 0b');
    runToUd(f, CODE + 1);
    const g = mk(32, 'ce 0f 0b');
    g.flags = 0x2 | Fl.OF;
    g.run(10);
    expect(g.lastFault.vector).toBe(4);
    expect(g.lastFault.rip).toBe(CODE + 1);
    const h = mk(64, 'ce');
    expectFault(h, 6, CODE);
  });

  it('the software-interrupt hook gets the event kinds', () => {
    const seen: [number, number][] = [];
    const c = mk(32, 'cc cd 21 ce f1 0f 0b');
    c.flags = 0x2 | Fl.OF;
    c.deliverSoftware = (_c, v, k) => { seen.push([v, k]); };
    runToUd(c);
    expect(seen).toEqual([[3, 6], [0x21, 4], [4, 6], [1, 5]]);
  });

  it('BOUND checks signed bounds (32 and 16 bits)', () => {
    // bound eax, [ebx]; bound ax, [ebx]; ud2
    const c = mk(32, '62 03 66 62 03 0f 0b');
    c.rl[RBX] = 0x3000;
    wr32(c, 0x3000, -5);
    wr32(c, 0x3004, 10);
    c.rl[RAX] = -5;
    c.run(1);
    expect(c.rip).toBe(CODE + 2);
    // 16-bit: bounds are 0xfffb (-5) and 0xffff (upper half of -5) = -1; AX = 10 is out of range
    c.rl[RAX] = 10;
    expectFault(c, 5, CODE + 2);
    const d = mk(32, '62 03 0f 0b');
    d.rl[RBX] = 0x3000;
    wr32(d, 0x3000, 0);
    wr32(d, 0x3004, 10);
    d.rl[RAX] = 11;
    expectFault(d, 5, CODE);
    d.rl[RAX] = 10;
    d.rip = CODE;
    runToUd(d, CODE + 2);
  });

  it('MOV r/m, Sreg: zero-extended into 32/64-bit registers, 16 bits otherwise', () => {
    // mov rax, fs; mov cx, fs; mov edx, ds; mov word ptr [rbx], fs; ud2
    const c = mk(64, '48 8c e0 66 8c e1 8c da 8c 23 0f 0b');
    c.segSel[4] = 0x1234;
    c.segSel[3] = 0x2b;
    set64(c, RAX, -1n);
    set64(c, RCX, -1n);
    set64(c, RDX, -1n);
    set64(c, RBX, 0x3000n);
    wr32(c, 0x3000, 0xffffffff);
    runToUd(c);
    expect(get64(c, RAX)).toBe(0x1234n);
    expect(get64(c, RCX)).toBe(0xffffffffffff1234n);
    expect(get64(c, RDX)).toBe(0x2bn);
    expect(rd32(c, 0x3000)).toBe(0xffff1234);
    // ModRM.reg = 6 names no segment register
    const d = mk(64, '8c f0');
    expectFault(d, 6, CODE);
  });

  it('CLI / STI at CPL 0, #GP(0) at CPL 3 with IOPL 0, allowed with IOPL 3', () => {
    const c = mk(64, 'fa fb 0f 0b');
    c.flags = 0x2 | Fl.IF;
    c.run(1);
    expect(getFlags(c) & Fl.IF).toBe(0);
    c.run(1);
    expect(getFlags(c) & Fl.IF).toBe(Fl.IF);
    expect(c.intShadow).toBe(true);
    const d = mk(64, 'fa');
    d.cpl = 3;
    d.flags = 0x2 | Fl.IF;
    expectFault(d, 13, CODE);
    expect(getFlags(d) & Fl.IF).toBe(Fl.IF);
    const e = mk(64, 'fa 0f 0b');
    e.cpl = 3;
    e.flags = 0x2 | Fl.IF | Fl.IOPL;
    runToUd(e);
    expect(getFlags(e) & Fl.IF).toBe(0);
    // real mode: always allowed
    const f = mk(16, 'fb 0f 0b');
    runToUd(f);
    expect(getFlags(f) & Fl.IF).toBe(Fl.IF);
  });

  it('CLI / STI with CR4.PVI at CPL 3 change VIF', () => {
    const c = mk(32, 'fa fb 0f 0b');
    c.cpl = 3;
    c.cr4 = 2;
    c.flags = 0x2 | Fl.IF | Fl.VIF;
    c.run(1);
    expect(getFlags(c) & (Fl.IF | Fl.VIF)).toBe(Fl.IF);
    c.run(1);
    expect(getFlags(c) & (Fl.IF | Fl.VIF)).toBe(Fl.IF | Fl.VIF);
    // STI with VIP set: #GP(0)
    const d = mk(32, 'fb');
    d.cpl = 3;
    d.cr4 = 2;
    d.flags = 0x2 | Fl.VIP;
    expectFault(d, 13, CODE);
  });
});
