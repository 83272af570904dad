/**
 * Stack and control-transfer instructions on a bare core in flat 64-, 32- and 16-bit modes.
 * Encodings were produced with GNU as.
 */
import { describe, expect, it } from 'vitest';
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { getFlags } from '../src/cpu/flags.js';
import { Cr0, Fl, Stop } from '../src/cpu/state.js';
import { HANDLERS } from '../src/cpu/exec/registry.js';
import { writeCr0, writeCr3 } from '../src/cpu/exec/ctrl.js';
import { CODE, STACK, hex, mk, runToUd, expectFault, get64, set64, dv, rd64, rd32, rd16, wr64, wr32, wr16, RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI } from './flow-helpers.js';

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

