/**
 * The real host's files for `bench --host linux` and `verify --host linux` (Node only): where
 * they are in a checkout's .cache/, what is missing, and the bench read from them
 * (src/lab/linuxbench.ts is the bench itself, free of Node APIs for the browser lab).
 */

import { existsSync, readFileSync } from 'node:fs';
import { benchDesigns, type LinuxBench, type LinuxBenchProgress, type LinuxBenchSpec } from './linuxbench.js';
import { kvmHostCmdline, type KvmHostBoot } from './linuxhost.js';
import { cachedKvmHostBoot } from './linuxhost-cache.js';
import { parseSystemMap } from './sysmap.js';

export interface LinuxHostFiles {
  kernel: string;
  systemMap: string;
  initrd: string;
  /** directory with <design>/kvm.ko and <design>/kvm-amd.ko */
  modules: string;
  /** where boot snapshots are kept (null: boot every time) */
  snapshots: string | null;
}

export function linuxHostFiles(root: string): LinuxHostFiles {
  return {
    kernel: `${root}/.cache/linux/vmlinuz`,
    systemMap: `${root}/.cache/linux/System.map`,
    initrd: `${root}/.cache/linux/kvmhost.cpio`,
    modules: `${root}/.cache/kvm`,
    snapshots: `${root}/.cache/linux/snapshots`,
  };
}

/** what is missing for the real host, as one line, or null */
export function missingLinuxHost(f: LinuxHostFiles, designs: string[]): string | null {
  for (const p of [f.kernel, f.systemMap, f.initrd]) if (!existsSync(p)) return `${p} is missing (run npm run linux)`;
  for (const d of designs) {
    for (const m of ['kvm.ko', 'kvm-amd.ko']) if (!existsSync(`${f.modules}/${d}/${m}`)) return `${f.modules}/${d}/${m} is missing (run npm run linux to build the modules)`;
  }
  return null;
}

/** boot once, then every design from the snapshot */
export function runLinuxBench(f: LinuxHostFiles, spec: LinuxBenchSpec, progress?: LinuxBenchProgress, boot?: KvmHostBoot): LinuxBench {
  const map = parseSystemMap(readFileSync(f.systemMap, 'utf8'));
  progress?.(0, spec.designs.length + 1, 'booting Linux (or loading its snapshot)');
  const b = boot !== undefined ? { ...boot, fromCache: false, loadMs: 0 } : cachedKvmHostBoot({ kernel: readFileSync(f.kernel), initrd: readFileSync(f.initrd), cacheDir: f.snapshots, cmdline: kvmHostCmdline({ fsgsbase: spec.fsgsbase }), cpus: spec.cpus });
  const mods = (d: string) => ({ kvm: readFileSync(`${f.modules}/${d}/kvm.ko`), kvmAmd: readFileSync(`${f.modules}/${d}/kvm-amd.ko`) });
  return benchDesigns(b, map, mods, spec, progress);
}
