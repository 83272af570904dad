/**
 * The real-Linux view's Web Worker: `worldswitch bench --host linux` in the page. It fetches the
 * boot snapshot file the CLI saved (.cache/linux/snapshots/, served under /linux/ by
 * web/serve.mjs), the kernel's System.map and each design's kvm.ko and kvm-amd.ko, adopts the
 * snapshot on a 512 MiB machine and runs the CLI's own per-design loop (benchDesigns,
 * src/lab/linuxbench.ts): the same requests on the same machine state, so the same figures.
 *
 * Memory: the guest's RAM (512 MiB), the snapshot file (about 80 MB; its pages stay views of it)
 * and the copy of the pages written up to the module load that runKvmHost keeps for the next
 * design (a few tens of MB): the worker reports what it held. The page cancels by terminating it.
 */

import { getProfile } from '../../src/cost/profiles.js';
import { Machine } from '../../src/machine/machine.js';
import { adoptSnapshot } from '../../src/lab/snapshot.js';
import { decodeSnapshot } from '../../src/lab/snapshot-codec.js';
import { parseSystemMap } from '../../src/lab/sysmap.js';
import { benchDesigns, formatLinuxBench, linuxBenchJson, type LinuxBenchSpec } from '../../src/lab/linuxbench.js';
import type { KvmHostBoot, ModuleFiles } from '../../src/lab/linuxhost.js';
import { phaseSpec } from '../../src/lab/plot.js';

declare const __WS_EMULATOR_SOURCE__: string | null;

/** a boot snapshot as the server's /linux/manifest.json describes it */
export interface SnapshotInfo {
  name: string; url: string; bytes: number; bootInsns: number | null; bootMs: number | null;
  source: string | null; cmdline: string | null; memSize: number | null; cpus: number; current: boolean;
}

export interface LinuxBenchMsg {
  kind: 'linux-bench';
  snapshot: SnapshotInfo;
  systemMap: string;
  designs: string[];
  workload: string;
  iterations: number;
  profile: string;
  draws: number;
  seed: number;
}

/** the emulator's sources this bundle was built from (web/vite.config.mjs) */
export const BUILD_SOURCE: string | null = __WS_EMULATOR_SOURCE__;

const post = (m: unknown) => (self as unknown as { postMessage(m: unknown): void }).postMessage(m);

function progress(stage: string, done: number, total: number, what = ''): void {
  post({ kind: 'progress', stage, done, total, what });
}

/** a file from the server, with progress by bytes when the server says how many */
async function fetchBytes(url: string, onBytes?: (got: number, total: number) => void): Promise<Uint8Array> {
  const r = await fetch(new URL(url, self.location.origin), { cache: 'no-store' });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} (npm run linux makes the real host's files)`);
  const total = Number(r.headers.get('content-length') ?? '0');
  if (!(total > 0) || r.body === null) return new Uint8Array(await r.arrayBuffer());
  const out = new Uint8Array(total);
  const rd = r.body.getReader();
  let got = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await rd.read();
    if (done) break;
    if (got + value.length > total) throw new Error(`${url}: more bytes than the ${total} announced`);
    out.set(value, got);
    got += value.length;
    const now = performance.now();
    if (now - last > 100) { last = now; onBytes?.(got, total); }
  }
  if (got !== total) throw new Error(`${url}: ${got} of ${total} bytes arrived`);
  onBytes?.(got, total);
  return out;
}

async function linuxBench(m: LinuxBenchMsg): Promise<void> {
  const s = m.snapshot;
  if (BUILD_SOURCE === null || s.source !== BUILD_SOURCE) {
    throw new Error(`the snapshot ${s.name} was taken by another build of the emulator (its sources ${s.source?.slice(0, 12) ?? 'unknown'}, this page's ${BUILD_SOURCE?.slice(0, 12) ?? 'unknown'}): run npm run build, then npx worldswitch bench --host linux --designs vmload --iterations 4 to take one, and rebuild the page (npm run web:build)`);
  }
  if (s.memSize === null || s.bootInsns === null) throw new Error(`the snapshot ${s.name} has no description (.json): take a new one with npx worldswitch bench --host linux`);
  const profile = getProfile(m.profile);
  const spec: LinuxBenchSpec = { profile, workload: m.workload, designs: m.designs, iterations: m.iterations, draws: m.draws, seed: m.seed };
  const t0 = performance.now();
  const steps = m.designs.length + 3;
  // the snapshot first: the page has just read the manifest, and a CLI run or a test taking a
  // new snapshot may remove this one later (an open download is not affected)
  progress('snapshot', 0, steps, `${s.name}, ${(s.bytes / 1048576).toFixed(0)} MiB`);
  const bytes = await fetchBytes(s.url, (got, total) => progress('snapshot', got / total, steps, `${(got / 1048576).toFixed(0)} of ${(total / 1048576).toFixed(0)} MiB`));
  progress('System.map and modules', 1, steps);
  const map = parseSystemMap(new TextDecoder().decode(await fetchBytes(m.systemMap)));
  const mods = new Map<string, ModuleFiles>();
  for (const d of m.designs) {
    const base = `/linux/kvm/${encodeURIComponent(d)}`;
    mods.set(d, { kvm: await fetchBytes(`${base}/kvm.ko`), kvmAmd: await fetchBytes(`${base}/kvm-amd.ko`) });
  }
  const tFetched = performance.now();
  progress('adopting the snapshot', 2, steps, `${s.memSize / 1048576} MiB of guest RAM`);
  const snap = decodeSnapshot(bytes);
  const machine = new Machine({ memSize: s.memSize });
  adoptSnapshot(machine, snap);
  const tAdopted = performance.now();
  const boot: KvmHostBoot & { fromCache: boolean; loadMs: number } = {
    machine, snapshot: snap, bootInsns: s.bootInsns, bootMs: s.bootMs ?? 0, log: '', fromCache: true, loadMs: tAdopted - t0,
  };
  const b = benchDesigns(boot, map, (d) => mods.get(d)!, spec, (done, _total, what) => {
    if (what !== 'done') progress('designs (module load and the measured KVM_RUNs)', 2 + done, steps, what);
  });
  const tRun = performance.now();
  const moduleBytes = [...mods.values()].reduce((n, x) => n + x.kvm.length + x.kvmAmd.length, 0);
  post({
    kind: 'linux-done',
    json: linuxBenchJson(spec, b),
    text: formatLinuxBench(spec, b),
    specs: [phaseSpec(`${profile.name}, real host`, m.workload, b.results)],
    ok: b.results.every((r) => r.ok),
    ms: { fetch: Math.round(tFetched - t0), adopt: Math.round(tAdopted - tFetched), designs: Math.round(tRun - tAdopted), total: Math.round(tRun - t0) },
    memory: {
      guestRam: s.memSize, snapshotFile: bytes.length, modules: moduleBytes,
      loadedPages: (boot.loaded?.snapshot.pages.size ?? 0) * 4096,
    },
  });
}

self.onmessage = async (ev: MessageEvent<LinuxBenchMsg>) => {
  try {
    if (ev.data.kind === 'linux-bench') await linuxBench(ev.data);
  } catch (e) {
    post({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
  }
};
