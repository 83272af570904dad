/**
 * Boot a Linux kernel on worldswitch in-process and watch its console: the instruction counts
 * at which /init starts and the kernel powers off, and where a boot that does neither stopped.
 * Shared by bench/linux-boot.mjs and test/linux-boot.test.ts.
 *
 * Markers in the UART output: INIT_MARK is the first line the project's /init prints
 * (linux/init/init.c), POWER_OFF_MARK the kernel's last line before it powers off
 * ("reboot: Power down", kernel/reboot.c). The machine's own power-off (ACPI S5 through PM1_CNT)
 * ends the run as a stop; the line ends it too, so the count does not depend on the device.
 */

import { Machine, type RunResult } from '../machine/machine.js';
import { Stop } from '../cpu/state.js';
import { takeSnapshot, type Snapshot } from './snapshot.js';

export const INIT_MARK = 'init: worldswitch /init started';
export const POWER_OFF_MARK = 'reboot: Power down';

export interface LinuxBootOptions {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  cmdline: string;
  memSize?: number;
  maxInsns: number;
  /** take a snapshot when /init prints its first line */
  snapshotAtInit?: boolean;
  /** end the run when the console has printed this (after INIT_MARK's bookkeeping) */
  stopAt?: string;
  /** called between slices with the instruction count (progress) */
  onSlice?: (icount: number) => void;
  /** CPUs (default 1); instruction counts are over all of them */
  cpus?: number;
}

export interface LinuxBootResult {
  log: string;
  /** instructions when /init's first line appeared, and when the kernel said it powers off; -1 if never */
  initInsns: number;
  powerOffInsns: number;
  initMs: number;
  powerOffMs: number;
  /** simulated seconds (cycles / TSC frequency) at the same points; -1 if never */
  initSimSeconds: number;
  powerOffSimSeconds: number;
  stop: RunResult;
  machine: Machine;
  snapshot: Snapshot | null;
}

const SLICE = 100_000;

export function bootLinux(o: LinuxBootOptions): LinuxBootResult {
  const bytes: number[] = [];
  const m = new Machine({ memSize: o.memSize ?? 256 << 20, cpus: o.cpus, onUartByte: (b) => bytes.push(b) });
  m.boot(o.kernel, { name: 'kernel', cmdline: o.cmdline, initrd: o.initrd, initrdName: 'initrd' });
  const dec = new TextDecoder();
  let text = '';
  let seen = 0;
  let initInsns = -1;
  let powerOffInsns = -1;
  let initMs = -1;
  let powerOffMs = -1;
  let initSim = -1;
  let powerOffSim = -1;
  let snapshot: Snapshot | null = null;
  const t0 = performance.now();
  const end = m.icount() + o.maxInsns;
  let r: RunResult;
  for (;;) {
    r = m.run(Math.min(SLICE, end - m.icount()));
    if (bytes.length > seen) {
      text += dec.decode(Uint8Array.from(bytes.slice(seen)), { stream: true });
      seen = bytes.length;
      if (initInsns < 0 && text.includes(INIT_MARK)) {
        initInsns = m.icount();
        initMs = performance.now() - t0;
        initSim = m.cpu.cycles / m.tscHz;
        if (o.snapshotAtInit) snapshot = takeSnapshot(m);
      }
      if (o.stopAt !== undefined && text.includes(o.stopAt)) break;
      if (powerOffInsns < 0 && text.includes(POWER_OFF_MARK)) {
        powerOffInsns = m.icount();
        powerOffMs = performance.now() - t0;
        powerOffSim = m.cpu.cycles / m.tscHz;
        break;
      }
    }
    o.onSlice?.(m.icount());
    if (r.reason !== Stop.Budget || m.icount() >= end) break;
  }
  return { log: text, initInsns, powerOffInsns, initMs, powerOffMs, initSimSeconds: initSim, powerOffSimSeconds: powerOffSim, stop: r, machine: m, snapshot };
}
