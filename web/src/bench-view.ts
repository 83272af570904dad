/**
 * The bench view: every option of `worldswitch bench`, the job in a Worker (Cancel terminates
 * it), a progress bar, the plots the CLI's --svg writes (rendered here with vega), an HTML
 * table of the phases and counts, the CLI's text, and the JSON and SVG as downloads.
 */

import { profileNames } from '../../src/cost/profiles.js';
import { DESIGNS, WORKLOADS } from '../../src/lab/hostrun.js';
import { SWEEP_PARAMS, MAX_SWEEP_COST, type SweepResult } from '../../src/lab/sweep.js';
import { renderSvg } from '../../src/lab/plot.js';
import type { BenchJob } from '../../src/lab/benchjob.js';
import type { DesignResult } from '../../src/lab/bench.js';
import type { UncertaintyResult } from '../../src/lab/uncertainty.js';
import { $, checkboxes, download, fileBytes, h, intIn, newWorker, options, secs, table } from './common.js';

type DesignJson = Omit<DesignResult, 'phases'> & { phases: Record<string, { min: number; median: number; max: number }> };

const PHASES: [string, string][] = [
  ['entry_to_vmrun', 'ioctl entry -> pre-VMRUN'],
  ['vmrun_to_post', 'pre-VMRUN -> post-VMRUN (restore)'],
  ['post_to_exit', 'post-VMRUN -> ioctl exit'],
  ['total', 'total'],
];

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function benchTables(entry: Record<string, unknown>): HTMLElement[] {
  const out: HTMLElement[] = [];
  const name = String(entry.profile);
  const designs = entry.designs as DesignJson[] | undefined;
  if (designs !== undefined) {
    const head = ['TSC cycles per KVM_RUN (min / median)', ...designs.map((d) => d.design)];
    const rows: string[][] = PHASES.map(([k, label]) => [label, ...designs.map((d) => { const p = d.phases[k]; return p === undefined ? '-' : `${p.min} / ${p.median}`; })]);
    const ref = designs.find((d) => d.design === 'vmload')?.phases.total?.median;
    if (ref !== undefined) {
      rows.push(['difference from vmload (median)', ...designs.map((d) => {
        const t = d.phases.total?.median;
        if (t === undefined) return '-';
        const x = t - ref;
        return `${x >= 0 ? '+' : ''}${x} (${x >= 0 ? '+' : ''}${((100 * x) / ref).toFixed(1)}%)`;
      })]);
    }
    const per: [string, (d: DesignJson) => number][] = [
      ['instructions', (d) => d.instructions], ['serializing instructions', (d) => d.serializing], ['RDMSR + WRMSR', (d) => d.msrAccesses],
      ['VM exits', (d) => d.exits], ['cycles (entry to return, mean)', (d) => d.cycles],
    ];
    for (const [label, f] of per) rows.push([`per KVM_RUN: ${label}`, ...designs.map((d) => fmt(f(d)))]);
    const reasons = [...new Set(designs.flatMap((d) => d.exitReasons.map((e) => e.name)))];
    for (const r of reasons) {
      rows.push([`exit ${r}: per KVM_RUN x mean cycles (share)`, ...designs.map((d) => {
        const e = d.exitReasons.find((x) => x.name === r);
        return e === undefined ? '-' : `${fmt(Math.round(e.perRun * 100) / 100)} x ${Number.isNaN(e.cycles) ? '-' : Math.round(e.cycles)} (${Math.round(e.share)}%)`;
      })]);
    }
    rows.push(['the VMM\'s checks', ...designs.map((d) => (d.ok ? 'ok' : `FAILED: ${d.status}`))]);
    out.push(table(head, rows, 1, `${name}, workload ${String(entry.workload)}, ${String(entry.iterations)} iterations, FSGSBASE ${entry.fsgsbase ? 'on' : 'off'}`));
  }
  const u = entry.uncertainty as UncertaintyResult | undefined;
  if (u !== undefined) {
    const rows: string[][] = PHASES.map(([k, label]) => [label, ...u.designs.map((d) => {
      const i = u.intervals[d][k as keyof UncertaintyResult['intervals'][string]];
      return `${i.median} [${i.p5} .. ${i.p95}]`;
    })]);
    rows.push(['fastest in (share of draws)', ...u.designs.map((d) => `${Math.round(100 * (u.fastest[d] ?? 0))}%`)]);
    out.push(table(['median [5% .. 95%] cycles per KVM_RUN', ...u.designs], rows, 1,
      `${u.draws} draws (seed ${u.seed}) of every constant in its range; WRMSR(GS_BASE) slower than VMLOAD in ${Math.round(100 * u.wrmsrSlowerThanVmload)}% of draws, WRGSBASE slower than VMLOAD in ${Math.round(100 * u.wrgsbaseSlowerThanVmload)}%`));
  }
  const sw = entry.sweep as SweepResult | undefined;
  if (sw !== undefined) {
    const ds = Object.keys(sw.points[0]?.totals ?? {});
    const rows = sw.points.map((p) => [String(p.value), ...ds.map((d) => String(p.totals[d])), p.ranking.join(' < '), ...(sw.draws > 0 ? [ds.map((d) => `${d} ${Math.round(100 * (p.fastest?.[d] ?? 0))}%`).join(', ')] : [])]);
    out.push(table([sw.param, ...ds, 'fastest first', ...(sw.draws > 0 ? [`fastest in ${sw.draws} draws`] : [])], rows, 1, `sweep of ${sw.param} on ${name}: total cycles per KVM_RUN (median)`));
    out.push(h('p', { class: 'sweep-changes' }, sw.changes.length === 0 ? 'The ranking does not change over the range.'
      : sw.changes.map((c) => `ranking changes between ${c.from} and ${c.to}: ${c.before.join(' < ')} -> ${c.after.join(' < ')}`).join('; ')));
  }
  return out;
}

export function initBench(): void {
  const names = profileNames();
  const profilesOf = checkboxes($('bench-profiles'), 'bench-profile', names, (n) => n === 'zen3');
  const designsOf = checkboxes($('bench-designs'), 'bench-design', DESIGNS, () => true);
  const workload = $<HTMLSelectElement>('bench-workload');
  options(workload, WORKLOADS, 'hlt');
  const inKernel = $<HTMLInputElement>('bench-in-kernel');
  workload.addEventListener('change', () => { inKernel.disabled = workload.value !== 'mix'; });
  const sweepParam = $<HTMLSelectElement>('bench-sweep-param');
  for (const [k, v] of Object.entries(SWEEP_PARAMS)) sweepParam.append(h('option', { value: k, title: v.describe }, `${k}: ${v.describe}`));
  const run = $<HTMLButtonElement>('bench-run');
  const cancel = $<HTMLButtonElement>('bench-cancel');
  const bar = $<HTMLProgressElement>('bench-progress');
  const status = $('bench-status');
  const out = $('bench-out');
  const jsonBtn = $<HTMLButtonElement>('bench-json');
  const svgBtn = $<HTMLButtonElement>('bench-svg');
  let worker: Worker | null = null;
  let json = '';
  let svg = '';

  const finish = (state: string, text: string) => {
    worker?.terminate();
    worker = null;
    run.disabled = false;
    cancel.disabled = true;
    out.dataset.state = state;
    status.textContent = text;
  };

  $('bench-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (worker !== null) return;
    // running from the click on: a reader of the state never sees the last run's
    out.dataset.state = 'running';
    let job: Omit<BenchJob, 'fileProfile'>;
    let image: Uint8Array | undefined;
    let profileJson: string | undefined;
    try {
      const profiles = profilesOf();
      const pfile = $<HTMLInputElement>('bench-profile-file').files?.[0];
      if (pfile !== undefined) profileJson = await pfile.text();
      if (profiles.length === 0 && profileJson === undefined) throw new Error('choose a cost profile');
      const designs = designsOf();
      if (designs.length === 0) throw new Error('choose at least one design');
      const param = sweepParam.value;
      let sweep: BenchJob['sweep'] = null;
      if (param !== '') {
        const lo = intIn($('bench-sweep-lo'), 'sweep from', 0, MAX_SWEEP_COST);
        const hi = intIn($('bench-sweep-hi'), 'sweep to', 1, MAX_SWEEP_COST);
        const steps = intIn($('bench-sweep-steps'), 'sweep steps', 2, 64);
        if (!(hi > lo)) throw new Error('sweep: from must be below to');
        sweep = { param, lo, hi, steps };
      }
      job = {
        profiles, workload: workload.value, designs, iterations: intIn($('bench-iterations'), 'iterations', 1, 50000),
        inKernel: workload.value === 'mix' && inKernel.value.trim() !== '' ? intIn(inKernel, 'in-kernel %', 0, 99) : undefined,
        fsgsbase: $<HTMLInputElement>('bench-fsgsbase').checked, calibrate: $<HTMLInputElement>('bench-calibrate').checked,
        sweep, draws: intIn($('bench-draws'), 'uncertainty draws', 0, 100000), seed: intIn($('bench-seed'), 'seed', 0, 2 ** 31),
        plots: $<HTMLInputElement>('bench-plots').checked,
        profileSource: pfile?.name,
      };
      image = await fileBytes($('bench-image'));
    } catch (e) {
      status.textContent = (e as Error).message;
      out.dataset.state = 'invalid';
      return;
    }
    run.disabled = true;
    cancel.disabled = false;
    jsonBtn.disabled = true;
    svgBtn.disabled = true;
    json = '';
    svg = '';
    $('bench-text').textContent = '';
    $('bench-table').replaceChildren();
    $('bench-plots-out').replaceChildren();
    bar.value = 0;
    out.dataset.state = 'running';
    status.textContent = 'starting...';
    const t0 = performance.now();
    worker = newWorker();
    worker.onerror = (e) => finish('error', `worker error: ${e.message}`);
    worker.onmessage = async (ev) => {
      const d = ev.data;
      if (d.kind === 'progress') {
        bar.max = Math.max(1, d.total);
        bar.value = d.done;
        status.textContent = `${d.stage}: ${d.done}/${d.total}${d.what ? ` ${d.what}` : ''}`;
      } else if (d.kind === 'text') {
        $('bench-text').textContent += d.text;
      } else if (d.kind === 'bench-done') {
        const entries = d.entries as Record<string, unknown>[];
        json = JSON.stringify(entries.length === 1 ? entries[0] : entries, null, 2) + '\n';
        $('bench-table').replaceChildren(...entries.flatMap(benchTables));
        jsonBtn.disabled = false;
        if ((d.specs as object[]).length > 0) {
          status.textContent = 'rendering the plots...';
          svg = await renderSvg(d.specs);
          $('bench-plots-out').innerHTML = svg;
          svgBtn.disabled = false;
        }
        bar.value = bar.max;
        const ms = Math.round(performance.now() - t0);
        out.dataset.ms = String(ms);
        finish(d.ok ? 'done' : 'failed', `${d.ok ? 'done' : 'finished, the VMM\'s checks FAILED'} in ${secs(ms)} (emulation ${secs(d.ms)})`);
      } else if (d.kind === 'error') {
        finish('error', `error: ${d.text}`);
      }
    };
    worker.postMessage({ kind: 'bench', image, job, profileJson });
  });
  cancel.addEventListener('click', () => finish('cancelled', 'cancelled'));
  jsonBtn.addEventListener('click', () => download('bench.json', json, 'application/json'));
  svgBtn.addEventListener('click', () => download('bench.svg', svg, 'image/svg+xml'));
}
