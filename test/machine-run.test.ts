import { describe, expect, it } from 'vitest';
import { Machine } from '../src/machine/machine.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Stop } from '../src/cpu/state.js';
import { buildElf, haveBinutils } from './machine-asm.js';

/** a machine running `code` at 0x1000 in the bare flat 64-bit mode, interrupts stopping the run */
function bare(code: number[]) {
  const m = new Machine({ memSize: 4 * 1024 * 1024, architecturalDelivery: false });
  m.mem.load(0x1000, Uint8Array.from(code));
  setFlatMode(m.cpu, 64);
  m.cpu.rip = 0x1000;
  return m;
}

// a long-mode kernel: a periodic APIC timer wakes a HLT loop; after TICKS interrupts it prints
// 'T' and exits with the count. rbx holds the APIC base throughout.
const timerKernel = (ticks: number, mode: number, initial: number, divide: number, ifOn: boolean) => `
.intel_syntax noprefix
.code64
.text
.globl _start
_start:
  lea rsp, [rip + stack_top]
  lea rax, [rip + timer_isr]
  lea rdi, [rip + idt + 0x40*16]
  mov word ptr [rdi], ax
  mov word ptr [rdi+2], 0x18
  mov word ptr [rdi+4], 0x8e00
  shr rax, 16
  mov word ptr [rdi+6], ax
  shr rax, 16
  mov dword ptr [rdi+8], eax
  mov dword ptr [rdi+12], 0
  lidt [rip + idtr]
  mov ebx, 0xfee00000
  mov dword ptr [rbx+0xf0], 0x1ff
  mov dword ptr [rbx+0x3e0], ${divide}
  mov dword ptr [rbx+0x320], ${mode | 0x40}
  mov dword ptr [rbx+0x380], ${initial}
  ${ifOn ? 'sti' : 'cli'}
1: hlt
  cmp dword ptr [rip + ticks], ${ticks}
  jb 1b
  cli
  mov dx, 0x3f8
  mov al, 'T'
  out dx, al
  mov eax, [rip + ticks]
  out 0xf4, eax
2: jmp 2b
timer_isr:
  inc dword ptr [rip + ticks]
  mov dword ptr [rbx + 0xb0], 0
  iretq
.data
.balign 16
idtr: .word 256*16-1
      .quad idt
ticks: .long 0
.bss
.balign 4096
idt: .space 4096
stack: .space 4096
stack_top:
`;

const link64 = ['-Ttext=0x200000', '-e', '_start'];

describe('machine run loop', () => {
  it('stops on the instruction budget and reports the state', () => {
    const m = bare([0xeb, 0xfe]); // jmp $
    const r = m.run(1000);
    expect(r).toEqual({ reason: Stop.Budget, icount: 1000, cycles: 1000, exitStatus: null, rip: 0x1000 });
    expect(m.run(500).icount).toBe(1500);
  });

  it('stops at the debug-exit write with its status', () => {
    // mov eax, 0x2a ; out 0xf4, eax ; jmp $
    const m = bare([0xb8, 0x2a, 0, 0, 0, 0xe7, 0xf4, 0xeb, 0xfe]);
    const r = m.run(1000);
    expect(r.reason).toBe(Stop.Exit);
    expect(r.exitStatus).toBe(0x55);
    expect(r.icount).toBe(2);
    expect(r.rip).toBe(0x1007);
    expect(m.run(10).reason).toBe(Stop.Exit); // stays exited
  });

  it('runs in slices that end at the APIC timer event', () => {
    // program the timer from outside, then spin: the run stops at every event on the way
    const m = bare([0xeb, 0xfe]);
    m.lapic.writeReg(0xf0, 0x1ff);
    m.lapic.writeReg(0x3e0, 0xb);
    m.lapic.writeReg(0x320, 0x20000 | 0x10000 | 0x40); // periodic, masked
    m.lapic.writeReg(0x380, 300);
    const seen: number[] = [];
    const id = m.sched.register((due) => { seen.push(m.cpu.cycles - due); });
    m.sched.arm(id, 450);
    m.run(1000);
    expect(seen).toEqual([0]); // the slice ended exactly at the event
    expect(m.lapic.timerDue()).toBe(1200);
    expect(m.lapic.currentCount()).toBe(200);
  });

  it('counts unknown ports and keeps PIC masks through real OUT/IN instructions', () => {
    // mov al, 0xfb ; out 0x21, al ; out 0x80, al ; in al, 0x21 ; mov ecx, eax ; in al, 0x99 ;
    // mov eax, 0 ; out 0xf4, eax
    const m = bare([0xb0, 0xfb, 0xe6, 0x21, 0xe6, 0x80, 0xe4, 0x21, 0x89, 0xc1, 0xe4, 0x99, 0xb8, 0, 0, 0, 0, 0xe7, 0xf4]);
    const r = m.run(100);
    expect(r.exitStatus).toBe(1);
    expect(m.cpu.rl[1] & 0xff).toBe(0xfb);
    expect(m.report().picMasks).toEqual([0xfb, 0]);
    expect(m.report().unknownPorts).toEqual([{ port: 0x80, reads: 0, writes: 1 }, { port: 0x99, reads: 1, writes: 0 }]);
  });

  it('raises APIC NMIs into the CPU', () => {
    const m = bare([0xeb, 0xfe]);
    m.lapic.writeReg(0xf0, 0x1ff);
    m.lapic.writeReg(0x300, 0x40000 | 0x400);
    expect(m.cpu.nmiPending).toBe(true);
    expect(m.lapic.hasPendingNmi()).toBe(false);
  });

  it('connects CR8 to the APIC task priority', () => {
    const m = bare([]);
    m.cpu.tprWrite!(9);
    expect(m.lapic.tpr).toBe(0x90);
    m.lapic.writeReg(0x80, 0x40);
    expect(m.cpu.tprRead!()).toBe(4);
  });
});

describe.skipIf(!haveBinutils)('machine with a long-mode kernel (as/ld)', () => {
  it('wakes HLT with periodic timer interrupts and jumps time while halted', () => {
    const file = buildElf(timerKernel(5, 0x20000, 1000, 0xb, true), 64, link64);
    const m = new Machine({ memSize: 16 * 1024 * 1024 });
    m.boot(file);
    const r = m.run(100000);
    expect(r.reason).toBe(Stop.Exit);
    expect(r.exitStatus).toBe(11);
    expect(m.uart.output()).toBe('T');
    // five periods of 1000 cycles went by, almost all of them halted
    expect(r.cycles).toBeGreaterThanOrEqual(5000);
    expect(r.cycles).toBeLessThan(6000);
    expect(r.icount).toBeLessThan(200);
  });

  it('scales the period by the divide value', () => {
    const file = buildElf(timerKernel(3, 0x20000, 100, 0x3 /* by 16 */, true), 64, link64);
    const m = new Machine({ memSize: 16 * 1024 * 1024 });
    m.boot(file);
    const r = m.run(100000);
    expect(r.exitStatus).toBe(7);
    expect(r.cycles).toBeGreaterThanOrEqual(3 * 1600);
    expect(r.cycles).toBeLessThan(3 * 1600 + 1000);
  });

  it('stops with Halt when a one-shot timer has fired and nothing else can come', () => {
    const file = buildElf(timerKernel(2, 0, 500, 0xb, true), 64, link64);
    const m = new Machine({ memSize: 16 * 1024 * 1024 });
    m.boot(file);
    const r = m.run(100000);
    expect(r.reason).toBe(Stop.Halt);
    expect(r.cycles).toBeGreaterThanOrEqual(500);
    expect(m.lapic.acceptCount).toBe(1); // one expiry, taken; the kernel waits for a second
  });

  it('stops with Halt, not forever, when interrupts are disabled around HLT', () => {
    const file = buildElf(timerKernel(1, 0x20000, 100, 0xb, false), 64, link64);
    const m = new Machine({ memSize: 16 * 1024 * 1024 });
    m.boot(file);
    const r = m.run(100000);
    expect(r.reason).toBe(Stop.Halt);
    expect(r.cycles).toBeLessThan(1000);
  });
});
