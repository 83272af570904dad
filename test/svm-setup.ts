/**
 * A bare core running a 64-bit flat host that executes `mov rax, VMCB ; vmrun ; (hostCode) ;
 * hlt` with a 32-bit flat guest in its VMCB (VMRUN and VMMCALL intercepted), for the SVM tests.
 */
import { Cpu } from '../src/cpu/cpu.js';
import { PhysMem } from '../src/machine/memory.js';
import { setFlatMode } from '../src/cpu/setup.js';
import { Efer } from '../src/cpu/state.js';
import { V } from '../src/svm/vmcb.js';

export const HOST = 0x1000;
export const HSAVE = 0x3000;
export const VMCB = 0x4000;
export const GUEST = 0x5000;
export const MSRPM = 0x8000;
export const IOPM = 0xa000;

export function svmSetup(guestCode: number[], hostCode: number[] = []) {
  const mem = new PhysMem(1 << 20);
  const c = new Cpu(mem);
  setFlatMode(c, 64);
  c.efer |= Efer.SVME;
  c.vmHsavePa = HSAVE;
  // host: mov rax, VMCB ; vmrun ; (hostCode) ; hlt
  mem.load(HOST, Uint8Array.from([0x48, 0xc7, 0xc0, VMCB & 0xff, VMCB >> 8, 0, 0, 0x0f, 0x01, 0xd8, ...hostCode, 0xf4]));
  mem.load(GUEST, Uint8Array.from(guestCode));
  const w32 = (o: number, v: number) => mem.write32(VMCB + o, v);
  w32(V.INTERCEPT_MISC2, 0x3); // VMRUN, VMMCALL
  w32(V.ASID, 1);
  w32(V.MSRPM_BASE_PA, MSRPM);
  w32(V.IOPM_BASE_PA, IOPM);
  // 32-bit flat guest: CS type B (code, read, accessed) with G and D; data type 3 with G and B
  const seg = (o: number, sel: number, attr: number) => { w32(o, sel | (attr << 16)); w32(o + 4, 0xffffffff); w32(o + 8, 0); w32(o + 12, 0); };
  seg(V.CS, 0x08, 0xc9b);
  for (const o of [V.SS, V.DS, V.ES]) seg(o, 0x10, 0xc93);
  w32(V.CR0, 0x11);
  w32(V.EFER, Efer.SVME);
  w32(V.RFLAGS, 0x2);
  w32(V.RIP, GUEST);
  w32(V.RSP, 0x7000);
  w32(V.GDTR + 4, 0x17);
  w32(V.IDTR + 4, 0x3ff);
  c.rip = HOST;
  return { c, mem, r32: (o: number) => mem.read32(VMCB + o) >>> 0 };
}
