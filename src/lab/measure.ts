/**
 * `worldswitch measure`: the measuring kernel (guest/measure/measure.c, docs/measure.md) run on
 * worldswitch, its MEASURE lines and PROFILE JSON read back, and what each item should cost under
 * the active profile, for the check that the measurement recovers the profile's own constants.
 */

import { Machine } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import type { CostProfile, MsrClassName } from '../cost/profile.js';

export interface Measured { median: number; min: number; max: number }

export interface MeasureRun {
  text: string;
  status: string;
  items: Map<string, Measured>;
  tscStep: number;
  /** the PROFILE line's JSON, as printed */
  profile: string | null;
}

/** read the kernel's output (worldswitch, QEMU or a serial log from real hardware) */
export function parseMeasure(text: string): Omit<MeasureRun, 'status' | 'text'> {
  const items = new Map<string, Measured>();
  let tscStep = NaN;
  let profile: string | null = null;
  for (const raw of text.split('\n')) {
    const l = raw.replace(/\r$/, '');
    if (l.startsWith('PROFILE ')) profile = l.slice(8);
    const m = /^MEASURE name=(\S+) (.*)$/.exec(l);
    if (m === null) continue;
    const kv: Record<string, number> = {};
    for (const x of m[2].matchAll(/(\w+)=(-?[\d.]+)/g)) kv[x[1]] = Number(x[2]);
    if (m[1] === 'tsc_step') tscStep = kv.value;
    else items.set(m[1], { median: kv.median, min: kv.min, max: kv.max });
  }
  return { items, tscStep, profile };
}

export function runMeasure(image: Uint8Array, profile: CostProfile | null): MeasureRun {
  const bytes: number[] = [];
  const m = new Machine({ onUartByte: (b) => { bytes.push(b); } });
  if (profile) m.cpu.setCostProfile(profile);
  m.boot(image, { name: 'measure.elf' });
  const r = m.run(200_000_000);
  let text = '';
  for (let k = 0; k < bytes.length; k += 8192) text += String.fromCharCode(...bytes.slice(k, k + 8192));
  const status = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)}`;
  return { text, status, ...parseMeasure(text) };
}

const MSR_ITEMS: [item: string, cls: MsrClassName][] = [
  ['fs_base', 'segBase'], ['gs_base', 'segBase'], ['kernel_gs_base', 'segBase'], ['star', 'syscall'], ['lstar', 'syscall'],
  ['cstar', 'syscall'], ['sfmask', 'syscall'], ['sysenter_cs', 'sysenter'], ['sysenter_esp', 'sysenter'],
  ['sysenter_eip', 'sysenter'], ['tsc_aux', 'tscAux'],
];

/** what each measured item costs under a profile: the model's charge for that instruction */
export function expectedCosts(p: CostProfile): Map<string, number> {
  const c = p.classes;
  const ser = p.serializing.cycles;
  const e = new Map<string, number>([
    ['base', p.base.cycles],
    ['vmrun_vmexit', c.vmrun.cycles + c.vmexit.cycles],
    ['vmrun_vmexit_vmload_vmsave', c.vmrun.cycles + c.vmexit.cycles + c.vmload.cycles + c.vmsave.cycles],
    ['vmload', c.vmload.cycles], ['vmsave', c.vmsave.cycles], ['clgi', c.clgi.cycles], ['stgi', c.stgi.cycles],
    ['wrgsbase', c.wrfsgsbase.cycles], ['rdgsbase', c.rdfsgsbase.cycles], ['swapgs', c.swapgs.cycles],
    // LTR and LLDT serialize (APM Vol. 2 7.6.4)
    ['ltr', c.descTable.cycles + ser], ['lldt', c.descTable.cycles + ser],
    ['mov_ds', c.segLoad.cycles], ['lfence', c.lfence.cycles], ['rdtsc', c.rdtsc.cycles],
  ]);
  for (const [item, cls] of MSR_ITEMS) {
    e.set(`rdmsr_${item}`, p.base.cycles + p.rdmsr[cls].cycles);
    e.set(`wrmsr_${item}`, p.base.cycles + p.wrmsr[cls].cycles + (cls !== 'segBase' || p.wrmsrSegBaseSerializing ? ser : 0));
  }
  return e;
}

export interface Check { item: string; measured: number; expected: number; ok: boolean }

/** each measured median against the profile's cost, within the TSC step (and the 1/100 the kernel prints) */
export function checkMeasure(run: MeasureRun, p: CostProfile): Check[] {
  const tol = (Number.isFinite(run.tscStep) ? run.tscStep : 1) + 0.01;
  return [...expectedCosts(p)].map(([item, expected]) => {
    const m = run.items.get(item);
    const measured = m === undefined ? NaN : m.median;
    return { item, measured, expected, ok: Math.abs(measured - expected) <= tol };
  });
}
