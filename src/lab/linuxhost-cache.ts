/**
 * The real host's boot snapshot file cache (Node only; src/lab/linuxhost.ts is the host itself,
 * free of Node APIs so that the browser lab's worker runs it too). The .json beside each
 * snapshot describes it: the boot's figures and log, and what the browser lab's server and
 * worker check a snapshot against (web/files.mjs): the emulator's sources, the kernel's and
 * initramfs's sha256, the command line and the RAM size.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { Machine } from '../machine/machine.js';
import { adoptSnapshot } from './snapshot.js';
import { emulatorHash, emulatorSourceHash, snapshotFromBytes, snapshotToBytes } from './snapshot-file.js';
import { bootKvmHost, KVMHOST_CMDLINE, type KvmHostBoot } from './linuxhost.js';

/**
 * The boot snapshot from `cacheDir` when one was taken by this emulator build of this kernel,
 * initramfs and command line; otherwise boot, and save the snapshot there for the next run.
 * `fromCache` says which (a cached boot's bootInsns and bootMs are those of the original boot).
 */
export function cachedKvmHostBoot(o: { kernel: Uint8Array; initrd: Uint8Array; cmdline?: string; memSize?: number; cpus?: number; cacheDir: string | null }): KvmHostBoot & { fromCache: boolean; loadMs: number } {
  const cmdline = o.cmdline ?? KVMHOST_CMDLINE;
  const memSize = o.memSize ?? 512 << 20;
  const cpus = o.cpus ?? 1;
  const t0 = performance.now();
  const h = createHash('sha256');
  h.update(emulatorHash()).update(o.kernel).update(o.initrd).update(cmdline).update(String(memSize));
  if (cpus !== 1) h.update(`cpus=${cpus}`);
  const file = o.cacheDir === null ? null : `${o.cacheDir}/kvmhost-${h.digest('hex').slice(0, 24)}.snap`;
  // a snapshot per variant (command line, memory, CPUs, and whether the emulator runs from its
  // TypeScript sources, as under vitest, or built: emulatorHash differs between the two) is
  // kept side by side; a new one replaces only its own variant's older ones (another kernel,
  // initramfs or emulator)
  const variant = `${cmdline}|${memSize}|${cpus}|${FLAVOUR}`;
  if (file !== null && existsSync(file)) {
    try {
      const bytes = readFileSync(file);
      const meta = JSON.parse(readFileSync(file + '.json', 'utf8')) as { bootInsns: number; bootMs: number; log: string };
      const m = new Machine({ memSize, cpus });
      const snap = snapshotFromBytes(bytes);
      adoptSnapshot(m, snap);
      return { machine: m, snapshot: snap, bootInsns: meta.bootInsns, bootMs: meta.bootMs, log: meta.log, cpus, fromCache: true, loadMs: performance.now() - t0 };
    } catch { /* a damaged or foreign file: boot again */ }
  }
  const b = bootKvmHost({ kernel: o.kernel, initrd: o.initrd, cmdline, memSize, cpus });
  if (file !== null) {
    mkdirSync(o.cacheDir!, { recursive: true });
    for (const f of readdirSync(o.cacheDir!)) {
      const mm = /^(kvmhost-[0-9a-f]+\.snap)(\.json)?$/.exec(f);
      if (mm === null || file.endsWith(mm[1])) continue;
      if (snapshotVariant(`${o.cacheDir}/${mm[1]}.json`) === variant) unlinkSync(`${o.cacheDir}/${f}`);
    }
    writeFileSync(file + '.tmp', snapshotToBytes(b.snapshot));
    const sha = (x: Uint8Array) => createHash('sha256').update(x).digest('hex');
    writeFileSync(file + '.json', JSON.stringify({ bootInsns: b.bootInsns, bootMs: b.bootMs, log: b.log, variant, source: emulatorSourceHash(), kernel: sha(o.kernel), initrd: sha(o.initrd), cmdline, memSize, cpus }));
    renameSync(file + '.tmp', file);
  }
  return { ...b, fromCache: false, loadMs: 0 };
}

const FLAVOUR = import.meta.url.endsWith('.ts') ? 'sources' : 'built';

/** the variant a boot snapshot's metadata names; a file from before variants were recorded is
 * taken for this flavour's default (command line, 512 MiB, one CPU) */
function snapshotVariant(metaFile: string): string {
  const old = `${KVMHOST_CMDLINE}|${512 << 20}|1|${FLAVOUR}`;
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as { variant?: string };
    if (meta.variant === undefined) return old;
    // (variants recorded without a flavour were written by the built CLI)
    return meta.variant.split('|').length === 3 ? `${meta.variant}|built` : meta.variant;
  } catch {
    return old;
  }
}
