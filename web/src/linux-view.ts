/**
 * The real-Linux view: `worldswitch bench --host linux` in a Web Worker (linux-worker.ts), from
 * the boot snapshot the CLI saved. What the server has comes from /linux/manifest.json: the
 * designs (module sets) built and the snapshots; when something is missing the view says which
 * command makes it. Output as the CLI's: the phases plot (--svg), the phase and count table, the
 * thread's perf report beside each design's, the per-function profile of a chosen design, the
 * CLI's text, and the JSON (--json) and SVG as downloads. Cancel terminates the worker.
 */

import { profileNames } from '../../src/cost/profiles.js';
import { LINUX_DESIGNS, LINUX_WORKLOADS, THREAD_PROFILE } from '../../src/lab/linuxbench.js';
import { KVMHOST_CMDLINE } from '../../src/lab/linuxhost.js';
import { renderSvg } from '../../src/lab/plot.js';
import type { ProfileRow } from '../../src/lab/kprofile.js';
import type { LinuxUncertainty } from '../../src/lab/linuxuncertainty.js';
import { $, checkboxes, download, h, intIn, options, secs, table } from './common.js';
import type { LinuxBenchMsg, SnapshotInfo } from './linux-worker.js';

declare const __WS_EMULATOR_SOURCE__: string | null;

interface Manifest { missing: string | null; systemMap: string | null; snapshots: SnapshotInfo[]; designs: string[] }
interface Phase { min: number; median: number; max: number }
interface DesignJson {
  design: string; ok: boolean; status: string; phases: Record<string, Phase>; cycles: number; instructions: number; hostInstructions: number;
  serializing: number; msrAccesses: number; vmruns: number; profile: ProfileRow[]; profileTotal: number; threadRows: { name: string; percent: number }[]; runMs: number;
}
interface BenchJson { profile: string; workload: string; iterations: number; uncertainty: LinuxUncertainty | null; designs: DesignJson[] }

const PHASES: [string, string][] = [
  ['entry_to_vmrun', '1 ioctl entry -> pre-VMRUN'],
  ['vmrun_to_post', '2 pre-VMRUN -> post-VMRUN'],
  ['post_to_exit', '3 post-VMRUN -> ioctl exit'],
  ['total', 'total'],
];

const MIB = 1048576;
const mib = (n: number) => `${(n / MIB).toFixed(0)} MiB`;
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const pct = (v: number, total: number) => (total > 0 ? (100 * v / total).toFixed(2) : '0.00');

function resultTables(j: BenchJson): HTMLElement[] {
  const ds = j.designs;
  const names = ds.map((d) => d.design);
  const rows: string[][] = PHASES.map(([k, label]) => [label, ...ds.map((d) => { const p = d.phases[k]; return p === undefined ? '-' : `${p.min} / ${p.median}`; })]);
  const ref = ds.find((d) => d.design === 'vmload')?.phases.total?.median;
  if (ref !== undefined) {
    rows.push(['difference from vmload (median)', ...ds.map((d) => {
      const x = (d.phases.total?.median ?? 0) - ref;
      return `${x >= 0 ? '+' : ''}${x} (${x >= 0 ? '+' : ''}${((100 * x) / ref).toFixed(1)}%)`;
    })]);
  }
  const per: [string, (d: DesignJson) => number][] = [
    ['instructions (host + guest)', (d) => d.instructions], ['host instructions', (d) => d.hostInstructions],
    ['serializing instructions', (d) => d.serializing], ['RDMSR + WRMSR', (d) => d.msrAccesses], ['VMRUNs', (d) => d.vmruns],
  ];
  for (const [label, f] of per) rows.push([`per KVM_RUN: ${label}`, ...ds.map((d) => fmt(f(d)))]);
  rows.push(['status', ...ds.map((d) => (d.ok ? 'ok' : `FAIL ${d.status}`))]);
  const out: HTMLElement[] = [table(['TSC cycles per KVM_RUN (min / median)', ...names], rows, 1,
    `${j.profile}, real host, workload ${j.workload}, ${j.iterations} KVM_RUNs each (first 3 not measured)`)];
  out[0].id = 'linux-phases';
  const thread = THREAD_PROFILE.map((t) => [t.name, t.before === null ? '-' : t.before.toFixed(2), t.after === null ? '-' : t.after.toFixed(2),
    ...ds.map((d) => (d.threadRows.find((x) => x.name === t.name)?.percent ?? 0).toFixed(2))]);
  const tt = table(['function (children %)', 'thread before', 'after', ...names], thread, 1,
    'The thread\'s perf report (Linux 5.11 "before", the VMSAVE/VMLOAD patch "after"; sampled) and this run\'s, every instruction counted');
  tt.id = 'linux-thread';
  out.push(tt);
  const u = j.uncertainty;
  if (u !== null) {
    const ut = table(['design', 'total per KVM_RUN: median [5% .. 95%]', 'fastest in', ...u.designs.map((d) => `P(faster than ${d.design})`)],
      u.designs.map((d) => [d.design, `${d.median} [${d.lo} .. ${d.hi}]`, `${(100 * d.fastest).toFixed(1)}%`,
        ...u.designs.map((o) => (o.design === d.design ? '-' : `${(100 * u.faster[d.design][o.design]).toFixed(1)}%`))]),
      1, `${u.draws} draws of every constant from its range (seed ${u.seed})`);
    ut.id = 'linux-uncertainty';
    out.push(ut);
  }
  return out;
}

/** the chosen design's profile, perf report --children style, with the thread's figures beside */
function profileTable(d: DesignJson, rows: number): HTMLElement {
  const t = table(['Children %', 'Self %', 'Symbol', 'thread before', 'thread after'], d.profile.slice(0, rows).map((p) => {
    const plain = p.name.replace(/ \[[^\]]+\]$/, ''); // "kvm_arch_vcpu_ioctl_run [kvm]"
    const th = THREAD_PROFILE.find((x) => x.name === plain);
    const sym = p.module !== undefined ? `${p.name} [${p.module}]` : p.name;
    return [pct(p.children, d.profileTotal), pct(p.self, d.profileTotal), sym,
      th === undefined ? '' : th.before === null ? '-' : th.before.toFixed(2), th === undefined ? '' : th.after === null ? '-' : th.after.toFixed(2)];
  }), 0, `profile of ${d.design}: ${fmt(d.profileTotal)} cycles in the measured window (user space, the system call path and KVM_RUN)`);
  t.id = 'linux-profile-table';
  // the symbol column reads best left-aligned
  for (const c of t.querySelectorAll('tr > :nth-child(3)')) c.classList.add('l');
  return t;
}

export function initLinux(): void {
  options($<HTMLSelectElement>('linux-profile'), profileNames(), 'zen3');
  options($<HTMLSelectElement>('linux-workload'), LINUX_WORKLOADS, 'hlt');
  const run = $<HTMLButtonElement>('linux-run');
  const cancel = $<HTMLButtonElement>('linux-cancel');
  const bar = $<HTMLProgressElement>('linux-progress');
  const status = $('linux-status');
  const files = $('linux-files');
  const out = $('linux-out');
  const jsonBtn = $<HTMLButtonElement>('linux-json');
  const svgBtn = $<HTMLButtonElement>('linux-svg');
  const profOf = $<HTMLSelectElement>('linux-profile-of');
  const profRows = $<HTMLInputElement>('linux-profile-rows');
  let manifest: Manifest | null = null;
  let snapshot: SnapshotInfo | undefined;
  let designsOf: () => string[] = () => [];
  let shownDesigns = '';
  let worker: Worker | null = null;
  let result: BenchJson | null = null;
  let json = '';
  let svg = '';

  const showProfile = () => {
    const d = result?.designs.find((x) => x.design === profOf.value);
    $('linux-profile-out').replaceChildren(...(d === undefined ? [] : [profileTable(d, Math.max(1, Math.min(200, Number(profRows.value) || 40)))]));
  };
  profOf.addEventListener('change', showProfile);
  profRows.addEventListener('change', showProfile);

  /** what the server has: at start and again before each run (a test or the CLI may have
   * taken a new snapshot and removed the old one meanwhile) */
  const load = async () => {
    manifest = null;
    snapshot = undefined;
    if (files.dataset.state !== 'ready') files.textContent = 'asking the server what the real host has...';
    try {
      const r = await fetch('/linux/manifest.json', { cache: 'no-store' });
      if (!r.ok) throw new Error(`/linux/manifest.json: HTTP ${r.status}`);
      manifest = await r.json() as Manifest;
    } catch (e) {
      files.textContent = `The server does not serve the real host's files (${(e as Error).message}): use web/serve.mjs or the vite dev server (web/vite.config.mjs).`;
      files.dataset.state = 'missing';
      return;
    }
    const m = manifest;
    const fits = m.snapshots.filter((s) => s.current && s.cmdline === KVMHOST_CMDLINE && s.cpus === 1 && s.memSize !== null);
    snapshot = fits.find((s) => s.source === __WS_EMULATOR_SOURCE__);
    if (m.designs.join() !== shownDesigns) {
      shownDesigns = m.designs.join();
      const main = m.designs.filter((d) => (LINUX_DESIGNS as readonly string[]).includes(d));
      const others = m.designs.filter((d) => !main.includes(d));
      const readMain = checkboxes($('linux-designs'), 'linux-design', main, () => true);
      const readOthers = checkboxes($('linux-designs-other'), 'linux-design-other', others, () => false);
      designsOf = () => [...readMain(), ...readOthers()];
    }
    let why = m.missing;
    if (why === null && snapshot === undefined) {
      why = fits.length > 0
        ? 'the boot snapshot in .cache/linux/snapshots/ was taken by another build of the emulator than this page\'s: run npm run build, then npx worldswitch bench --host linux --designs vmload --iterations 4 to take one (and npm run web:build if the sources changed since the page was built)'
        : 'no boot snapshot of the real host in .cache/linux/snapshots/: run npx worldswitch bench --host linux --designs vmload --iterations 4 (after npm run build) to take one';
    }
    if (why !== null || snapshot === undefined || m.systemMap === null) {
      files.textContent = `Not available: ${why ?? 'the server listed no snapshot'}.`;
      files.dataset.state = 'missing';
      run.disabled = true;
      return;
    }
    const s = snapshot;
    files.textContent = `Boot snapshot ${s.name}: ${mib(s.bytes)}, Linux booted to the VMM's prompt in ${((s.bootInsns ?? 0) / 1e6).toFixed(1)} M instructions`
      + ` (${secs(s.bootMs ?? 0)} when it was taken). ${m.designs.length} module sets built. The worker holds the guest's RAM (${mib(s.memSize ?? 0)}),`
      + ` the snapshot file and a copy of the pages after the module load: about ${mib((s.memSize ?? 0) + 2 * s.bytes)} or more.`;
    files.dataset.state = 'ready';
    run.disabled = false;
  };

  const finish = (state: string, msg: string) => {
    worker?.terminate();
    worker = null;
    run.disabled = manifest === null || snapshot === undefined;
    cancel.disabled = true;
    out.dataset.state = state;
    status.textContent = msg;
  };

  $('linux-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (worker !== null || run.disabled) return;
    run.disabled = true;
    out.dataset.state = 'running';
    status.textContent = 'asking the server for the files...';
    await load();
    run.disabled = true;
    if (snapshot === undefined || manifest?.systemMap == null) {
      run.disabled = snapshot === undefined;
      status.textContent = files.textContent ?? '';
      out.dataset.state = 'error';
      return;
    }
    let msg: LinuxBenchMsg;
    try {
      const designs = designsOf();
      if (designs.length === 0) throw new Error('choose at least one design');
      msg = {
        kind: 'linux-bench', snapshot, systemMap: manifest.systemMap, designs,
        workload: $<HTMLSelectElement>('linux-workload').value, profile: $<HTMLSelectElement>('linux-profile').value,
        iterations: intIn($('linux-iterations'), 'iterations', 4, 100000),
        draws: intIn($('linux-draws'), 'uncertainty draws', 0, 1000000), seed: intIn($('linux-seed'), 'seed', 0, 2 ** 31),
      };
    } catch (e) {
      status.textContent = (e as Error).message;
      out.dataset.state = 'invalid';
      run.disabled = false;
      return;
    }
    cancel.disabled = false;
    jsonBtn.disabled = true;
    svgBtn.disabled = true;
    profOf.disabled = true;
    json = '';
    svg = '';
    result = null;
    for (const id of ['linux-text', 'linux-memory']) $(id).textContent = '';
    for (const id of ['linux-table', 'linux-plots-out', 'linux-profile-out']) $(id).replaceChildren();
    bar.value = 0;
    out.dataset.state = 'running';
    status.textContent = 'starting...';
    const t0 = performance.now();
    worker = new Worker(new URL('./linux-worker.ts', import.meta.url), { type: 'module' });
    worker.onerror = (e) => finish('error', `worker error: ${e.message}`);
    worker.onmessage = async (ev) => {
      const d = ev.data;
      if (d.kind === 'progress') {
        bar.max = Math.max(1, d.total);
        bar.value = d.done;
        status.textContent = `${d.stage}${d.what ? `: ${d.what}` : ''}`;
      } else if (d.kind === 'linux-done') {
        result = d.json as BenchJson;
        json = JSON.stringify(d.json, null, 2) + '\n';
        $('linux-text').textContent = d.text;
        $('linux-table').replaceChildren(...resultTables(result));
        options(profOf, result.designs.map((x) => x.design), result.designs[0]?.design);
        profOf.disabled = false;
        showProfile();
        const mem = d.memory as { guestRam: number; snapshotFile: number; modules: number; loadedPages: number };
        $('linux-memory').textContent = `The worker held: guest RAM ${mib(mem.guestRam)}, the snapshot file ${mib(mem.snapshotFile)}, `
          + `the modules ${mib(mem.modules)}, the pages kept after the last module load ${mib(mem.loadedPages)}. `
          + `Times: files ${secs(d.ms.fetch)}, adopting the snapshot ${secs(d.ms.adopt)}, the designs ${secs(d.ms.designs)}.`;
        jsonBtn.disabled = false;
        status.textContent = 'rendering the plot...';
        svg = await renderSvg(d.specs);
        $('linux-plots-out').innerHTML = svg;
        svgBtn.disabled = false;
        bar.value = bar.max;
        const ms = Math.round(performance.now() - t0);
        out.dataset.ms = String(ms);
        out.dataset.designsMs = String(d.ms.designs);
        finish(d.ok ? 'done' : 'failed', `${d.ok ? 'done' : 'finished, a design FAILED'} in ${secs(ms)} (the designs ${secs(d.ms.designs)})`);
      } else if (d.kind === 'error') {
        finish('error', `error: ${d.text}`);
      }
    };
    worker.postMessage(msg);
  });
  cancel.addEventListener('click', () => finish('cancelled', 'cancelled'));
  jsonBtn.addEventListener('click', () => download('bench-linux.json', json, 'application/json'));
  svgBtn.addEventListener('click', () => download('bench-linux.svg', svg, 'image/svg+xml'));
  // showing the tab asks the server again (files made since the page was opened)
  $('tab-linux').addEventListener('tab-shown', () => { if (worker === null) void load(); });
  void load();
}
