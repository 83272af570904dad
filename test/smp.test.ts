/**
 * More than one CPU (src/machine/smp.ts): the APIC bus (delivery modes, destinations,
 * shorthands, lowest-priority choice), INIT/SIPI and their rules on the receiving CPU (GIF,
 * R_INIT, SMI), the I/O APIC's destinations, CPUID per CPU, the MADT, and snapshots that cover
 * every CPU.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/machine/machine.js';
import { ApicReg } from '../src/machine/lapic.js';
import { restoreSnapshot, takeSnapshot } from '../src/lab/snapshot.js';
import { cpuidLeaf } from '../src/cpu/cpuid.js';
import { buildMadt } from '../src/machine/firmware/acpi.js';
import { Stop } from '../src/cpu/state.js';
import { runUnit } from '../src/lab/verify-inject.js';
import { readSymbols } from '../src/lab/symbols.js';
import { DESIGNS, runHost } from '../src/lab/hostrun.js';

const ROOT = join(import.meta.dirname, '..');

function machine(cpus: number) {
  return new Machine({ memSize: 4 << 20, cpus });
}

/** CPU `from` writes its ICR */
function ipi(m: Machine, from: number, lo: number, dest = 0): void {
  m.smp.current = from;
  m.lapics[from].writeReg(ApicReg.IcrHi, dest << 24);
  m.lapics[from].writeReg(ApicReg.IcrLo, lo);
}

function irr(m: Machine, k: number, v: number): boolean {
  return ((m.lapics[k].irr[v >>> 5] >>> (v & 31)) & 1) === 1;
}

function enableAll(m: Machine): void {
  for (const l of m.lapics) l.writeReg(ApicReg.Svr, 0x1ff);
}

describe('APIC bus', () => {
  it('delivers fixed IPIs by physical ID, broadcast and the shorthands', () => {
    const m = machine(3);
    enableAll(m);
    ipi(m, 0, 0x4000 | 0x40, 2);
    expect([0, 1, 2].map((k) => irr(m, k, 0x40))).toEqual([false, false, true]);
    ipi(m, 1, 0x4000 | 0x41, 0xff);
    expect([0, 1, 2].map((k) => irr(m, k, 0x41))).toEqual([true, true, true]);
    ipi(m, 1, 0x4000 | (1 << 18) | 0x42);
    expect([0, 1, 2].map((k) => irr(m, k, 0x42))).toEqual([false, true, false]);
    ipi(m, 1, 0x4000 | (2 << 18) | 0x43);
    expect([0, 1, 2].map((k) => irr(m, k, 0x43))).toEqual([true, true, true]);
    ipi(m, 1, 0x4000 | (3 << 18) | 0x44);
    expect([0, 1, 2].map((k) => irr(m, k, 0x44))).toEqual([true, false, true]);
    ipi(m, 0, 0x4000 | 0x45, 7); // no such APIC
    expect([0, 1, 2].map((k) => irr(m, k, 0x45))).toEqual([false, false, false]);
  });

  it('matches logical destinations in the flat and cluster models', () => {
    const m = machine(3);
    enableAll(m);
    m.lapics.forEach((l, k) => l.writeReg(ApicReg.Ldr, (1 << k) << 24));
    ipi(m, 0, 0x4000 | 0x800 | 0x50, 0b110);
    expect([0, 1, 2].map((k) => irr(m, k, 0x50))).toEqual([false, true, true]);
    // cluster model: cluster in bits 7:4, members in 3:0
    m.lapics.forEach((l, k) => { l.writeReg(ApicReg.Dfr, 0x0fffffff); l.writeReg(ApicReg.Ldr, ((k === 2 ? 0x20 : 0x10) | (1 << k)) << 24); });
    ipi(m, 0, 0x4000 | 0x800 | 0x51, 0x13);
    expect([0, 1, 2].map((k) => irr(m, k, 0x51))).toEqual([true, true, false]);
  });

  it('gives a lowest-priority message to the lowest arbitration priority, ties to the lowest ID', () => {
    const m = machine(3);
    enableAll(m);
    ipi(m, 0, 0x4000 | (2 << 18) | 0x100 | 0x60);
    expect([0, 1, 2].map((k) => irr(m, k, 0x60))).toEqual([true, false, false]);
    m.lapics[0].writeReg(ApicReg.Tpr, 0x30);
    m.lapics[1].writeReg(ApicReg.Tpr, 0x20);
    m.lapics[2].writeReg(ApicReg.Tpr, 0x20);
    ipi(m, 0, 0x4000 | (2 << 18) | 0x100 | 0x61);
    expect([0, 1, 2].map((k) => irr(m, k, 0x61))).toEqual([false, true, false]);
    expect([...m.smp.lowestPriorityHits]).toEqual([1, 1, 0]);
  });

  it('delivers NMIs to the CPUs addressed', () => {
    const m = machine(2);
    ipi(m, 0, 0x4000 | 0x400, 1);
    expect(m.cpus[1].nmiPending).toBe(true);
    expect(m.cpus[0].nmiPending).toBe(false);
  });

  it('routes I/O APIC entries by their destination', () => {
    const m = machine(2);
    enableAll(m);
    // pin 4: vector 0x70, physical destination 1, edge, unmasked
    m.ioapic.mmioWrite(0, 4, 0x10 + 2 * 4);
    m.ioapic.mmioWrite(0x10, 4, 0x70);
    m.ioapic.mmioWrite(0, 4, 0x10 + 2 * 4 + 1);
    m.ioapic.mmioWrite(0x10, 4, 1 << 24);
    m.irq.setIrq(4, true);
    expect([irr(m, 0, 0x70), irr(m, 1, 0x70)]).toEqual([false, true]);
  });
});

describe('INIT and SIPI', () => {
  it('starts an AP in real mode at vector << 12; an INIT de-assert does nothing', () => {
    const m = machine(2);
    const ap = m.cpus[1];
    expect(m.smp.waitSipi[1]).toBe(1);
    ipi(m, 0, 0x8000 | 0x500, 1); // INIT level de-assert
    expect(m.smp.pending[1]).toBe(0);
    ipi(m, 0, 0x4000 | 0x600 | 0x12, 1);
    m.smp.service(1, 1000);
    expect(m.smp.waitSipi[1]).toBe(0);
    expect([ap.segSel[1], ap.segBase[1], ap.rip, ap.bits, ap.halted, ap.cycles]).toEqual([0x1200, 0x12000, 0, 16, false, 1000]);
    // a second startup IPI is ignored by a running CPU
    ipi(m, 0, 0x4000 | 0x600 | 0x34, 1);
    m.smp.service(1, 2000);
    expect(ap.segBase[1]).toBe(0x12000);
    expect(m.smp.startups).toBe(1);
  });

  it('INIT: held while GIF = 0, #SX(1) with VM_CR.R_INIT, else the INIT state and a wait for SIPI', () => {
    const m = machine(2);
    const ap = m.cpus[1];
    ipi(m, 0, 0x4000 | 0x600 | 0x10, 1);
    m.smp.service(1, 0);
    ap.rip = 0x1234;
    ap.svm.gif = false;
    ipi(m, 0, 0x4000 | 0xc500, 1);
    m.smp.service(1, 0);
    expect(m.smp.pending[1]).toBe(1);
    expect(ap.rip).toBe(0x1234);
    ap.svm.gif = true;
    ap.vmCr = 2;
    const seen: number[] = [];
    ap.exceptionHook = (_c, v, err) => { seen.push(v, err); return true; };
    m.smp.service(1, 0);
    expect(seen).toEqual([30, 1]);
    expect(m.smp.pending[1]).toBe(0);
    ap.vmCr = 0;
    m.lapics[1].writeReg(ApicReg.Ldr, 0x02000000);
    ipi(m, 0, 0x4000 | 0xc500, 1);
    m.smp.service(1, 0);
    expect(m.smp.waitSipi[1]).toBe(1);
    expect([ap.segSel[1], ap.segBase[1], ap.rip, ap.cr0, ap.efer, ap.rl[2] !== 0]).toEqual([0xf000, 0xffff0000, 0xfff0, 0x60000010, 0, true]);
    expect(m.lapics[1].ldr).toBe(0); // the APIC is reset, its ID kept
    expect(m.lapics[1].id).toBe(1);
  });

  it('SMI: a #VMEXIT where a guest intercepts it, else dropped (no SMM)', () => {
    const m = machine(2);
    ipi(m, 0, 0x4000 | 0x600 | 0x10, 1);
    ipi(m, 0, 0x4000 | 0x200, 1);
    m.smp.service(1, 0);
    expect(m.smp.smisDropped).toBe(1);
    const ap = m.cpus[1];
    const exits: number[] = [];
    ap.svmExitAt = (code) => { exits.push(code); };
    ap.guestMode = true;
    ap.svm.intercepts[3] = 1 << 2;
    ipi(m, 0, 0x4000 | 0x200, 1);
    m.smp.service(1, 0);
    expect(exits).toEqual([0x62]);
    ap.svm.intercepts[3] = 1 << 3;
    ipi(m, 0, 0x4000 | 0x500, 1);
    m.smp.service(1, 0);
    expect(exits).toEqual([0x62, 0x63]);
  });
});

describe('machine with more CPUs', () => {
  it('gives each CPU its APIC ID in CPUID and lists every APIC in the MADT', () => {
    const m = machine(3);
    const out = new Int32Array(4);
    const ids = m.cpus.map((c) => { cpuidLeaf(c, 1, 0, out); return [out[1] >>> 24, (out[1] >>> 16) & 0xff, (out[3] >>> 28) & 1]; });
    expect(ids).toEqual([[0, 3, 1], [1, 3, 1], [2, 3, 1]]);
    cpuidLeaf(m.cpus[0], 0x80000008, 0, out);
    expect(out[2] & 0xff).toBe(2);
    const one = new Machine({ memSize: 4 << 20 });
    cpuidLeaf(one.cpu, 1, 0, out);
    expect([out[1] >>> 16, (out[3] >>> 28) & 1]).toEqual([0, 0]);
    const madt = buildMadt(3);
    const lapicEntries: number[] = [];
    for (let off = 44; off < madt.length; off += madt[off + 1]) if (madt[off] === 0) lapicEntries.push(madt[off + 3]);
    expect(lapicEntries).toEqual([0, 1, 2]);
  });

  it('ends halted when every CPU waits with nothing to wake it', () => {
    const m = machine(2);
    m.cpu.halted = true;
    m.cpu.attention = true;
    const r = m.run(1000);
    expect(r.reason).toBe(Stop.Halt);
  });
});

describe('SMP kernel under snapshots', () => {
  it('interleaves the same however the caller slices the run', () => {
    const go = (slice: number) => {
      let out = '';
      const m = new Machine({ memSize: 64 << 20, cpus: 2, onUartByte: (b) => { out += String.fromCharCode(b); } });
      m.boot(readFileSync(join(ROOT, 'build', 'guest', 'smp.elf')), { name: 'smp' });
      let r = m.run(slice);
      while (r.reason === Stop.Budget && m.icount() < 60_000_000) r = m.run(slice);
      return { out, perCpu: r.perCpu, reason: r.reason };
    };
    const a = go(100_000_000);
    expect(a.out).toContain('SUMMARY: 14 tests, 0 unexpected failures');
    expect(go(7777)).toEqual(a);
  }, 120_000);

  beforeAll(() => {
    execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
  }, 120_000);

  it('replays two CPUs identically after each restore', () => {
    let out = '';
    const m = new Machine({ memSize: 64 << 20, cpus: 2, onUartByte: (b) => { out += String.fromCharCode(b); } });
    m.boot(readFileSync(join(ROOT, 'build', 'guest', 'smp.elf')), { name: 'smp' });
    m.run(1_500_000);
    expect(m.smp.startups).toBe(1);
    const snap = takeSnapshot(m);
    out = '';
    const first = m.run(100_000_000);
    const want = { out, perCpu: first.perCpu, reason: first.reason, exit: first.exitStatus, aprip: m.cpus[1].rip };
    expect(want.out).toContain('SUMMARY: 14 tests, 0 unexpected failures');
    for (let k = 0; k < 2; k++) {
      restoreSnapshot(m, snap);
      out = '';
      const r = m.run(100_000_000);
      expect({ out, perCpu: r.perCpu, reason: r.reason, exit: r.exitStatus, aprip: m.cpus[1].rip }).toEqual(want);
    }
  }, 120_000);
});

describe('verify on a machine with two CPUs', () => {
  beforeAll(() => {
    execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  }, 120_000);

  it('records and replays the host (on CPU 0) as with one CPU, the AP waiting in its snapshots', () => {
    const image = readFileSync(join(ROOT, 'build', 'host', 'host.elf'));
    const syms = readSymbols(image);
    const spec = { design: 'vmload', workload: 'hlt', fsgsbase: true };
    const one = runUnit(image, syms, spec, ['nmi'], { stride: 7 });
    const two = runUnit(image, syms, { ...spec, cpus: 2 }, ['nmi'], { stride: 7 });
    expect(two.complete).toBe(true);
    expect(two.reference).toEqual([]);
    expect(two.kinds[0].violating).toBe(0);
    expect([two.boundaries, two.instructions, two.replays]).toEqual([one.boundaries, one.instructions, one.replays]);
  }, 300_000);
});

describe('vCPU migration in the KVM-style host (migrate=N, two CPUs)', () => {
  beforeAll(() => {
    execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
  }, 120_000);
  const image = () => readFileSync(join(ROOT, 'build', 'host', 'host.elf'));

  it('runs every design with the vcpu moving between CPU 0 and CPU 1, every check passing', () => {
    const img = image();
    for (const design of DESIGNS) {
      for (const fsgsbase of [true, false]) {
        const r = runHost(img, { design, workload: 'mix', iterations: 30, cpus: 2, migrate: 2, nmi: 3, fsgsbase });
        expect(r.ok, `${design} fsgsbase=${fsgsbase}: ${r.status}\n${r.text.split('\n').slice(-6).join('\n')}`).toBe(true);
        expect(r.text).toMatch(/MIGRATE every=2 moves=14/);
      }
    }
  }, 300_000);

  it('catches wrgsbase-pcpu-once, which is wrong only when the vcpu migrates', () => {
    const img = image();
    const o = { design: 'wrgsbase-pcpu-once', workload: 'mix', iterations: 30, nmi: 3 };
    expect(runHost(img, { ...o, cpus: 2 }).ok).toBe(true);
    const bad = runHost(img, { ...o, cpus: 2, migrate: 2 });
    expect(bad.ok).toBe(false);
    expect(bad.text).toMatch(/gs_violations=[1-9]/);
    expect(bad.text).toMatch(/nmi_bad_gs=[1-9]/);
  }, 120_000);

  it('refuses to migrate on a machine with one CPU', () => {
    expect(() => runHost(image(), { design: 'vmload', workload: 'hlt', iterations: 5, migrate: 2 })).not.toThrow();
    const r = runHost(image(), { design: 'vmload', workload: 'hlt', iterations: 5, migrate: 2 });
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/CPU 1 did not start/);
  }, 60_000);
});
