// Host time of SVM operations in the emulator (median of 5 runs): wall time, and the process's
// CPU time (user + system), which a busy machine disturbs much less:
//  - a VMRUN / #VMEXIT round trip: the host loops on VMRUN, the guest executes VMMCALL
//    (intercepted), one exit per iteration;
//  - a VMLOAD + VMSAVE pair in a host loop.
// Usage: npm run build && node bench/svm.mjs [--runs N] [--iters N]
import { Cpu } from '../dist/cpu/cpu.js';
import { PhysMem } from '../dist/machine/memory.js';
import { setFlatMode } from '../dist/cpu/setup.js';
import { V } from '../dist/svm/vmcb.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const k = args.indexOf(name); return k >= 0 ? Number(args[k + 1]) : dflt; };
const runs = opt('--runs', 5);
const iters = opt('--iters', 200_000);
const VMCB = 0x4000, HSAVE = 0x3000, GUEST = 0x5000, AREA = 0x6000;

function machine(hostCode) {
  const mem = new PhysMem(1 << 20);
  const c = new Cpu(mem);
  setFlatMode(c, 64);
  c.efer |= 0x1000; // SVME
  c.vmHsavePa = HSAVE;
  mem.load(0x1000, Uint8Array.from(hostCode));
  mem.load(GUEST, Uint8Array.from([0x0f, 0x01, 0xd9])); // vmmcall
  const w = (o, v) => mem.write32(VMCB + o, v);
  w(V.INTERCEPT_MISC2, 3); w(V.ASID, 1);
  const seg = (o, sel, attr) => { w(o, sel | (attr << 16)); w(o + 4, 0xffffffff); };
  seg(V.CS, 8, 0xc9b); for (const o of [V.SS, V.DS, V.ES]) seg(o, 0x10, 0xc93);
  w(V.CR0, 0x11); w(V.EFER, 0x1000); w(V.RFLAGS, 2); w(V.RIP, GUEST); w(V.RSP, 0x7000);
  c.rip = 0x1000;
  c.rl[1] = iters;
  return c;
}

// l: mov rax, VMCB ; vmrun ; dec ecx ; jnz l ; hlt
const roundTrip = [0x48, 0xc7, 0xc0, VMCB & 0xff, VMCB >> 8, 0, 0, 0x0f, 0x01, 0xd8, 0xff, 0xc9, 0x75, 0xf2, 0xf4];
// mov rax, AREA ; l: vmload ; vmsave ; dec ecx ; jnz l ; hlt
const loadSave = [0x48, 0xc7, 0xc0, AREA & 0xff, AREA >> 8, 0, 0, 0x0f, 0x01, 0xda, 0x0f, 0x01, 0xdb, 0xff, 0xc9, 0x75, 0xf6, 0xf4];

function measure(code, what) {
  const per = [];
  const cpu = [];
  for (let r = 0; r < runs; r++) {
    const c = machine(code);
    const u0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    c.run(100 * iters);
    const ns = Number(process.hrtime.bigint() - t0);
    const u = process.cpuUsage(u0);
    if (c.rl[1] !== 0) throw new Error(`${what}: loop did not finish (ecx=${c.rl[1]})`);
    per.push(ns / iters);
    cpu.push(((u.user + u.system) * 1000) / iters);
  }
  per.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const med = per[Math.floor(per.length / 2)];
  const cmed = cpu[Math.floor(cpu.length / 2)];
  console.log(`${what}: median ${med.toFixed(0)} ns per iteration, CPU time ${cmed.toFixed(0)} ns (${runs} runs of ${iters}; wall min ${per[0].toFixed(0)}, max ${per[per.length - 1].toFixed(0)})`);
}

measure(roundTrip, 'VMRUN + VMMCALL #VMEXIT round trip');
measure(loadSave, 'VMLOAD + VMSAVE pair');
