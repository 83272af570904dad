/**
 * The verify view: the options of `worldswitch verify`, its units on a pool of Web Workers
 * (one unit at a time each, as the CLI's worker threads), a progress bar and Cancel, the
 * clean/caught table, a verdict per design and mutant, and for a caught mutant (or a design
 * that is not clean) the report: boundary, instruction, invariant, wrong and expected values,
 * the last instructions before it.
 */

import { DESIGNS } from '../../src/lab/hostrun.js';
import { DEFAULT_WORKLOADS, VERIFY_WORKLOADS, unitJobs, type UnitJob } from '../../src/lab/verify-jobs.js';
import type { UnitResult, ViolationOut } from '../../src/lab/verify-inject.js';
import { EVENT_KINDS, INVARIANTS, type EventKind } from '../../src/lab/verify-invariants.js';
import { MUTANTS, findMutant } from '../../src/lab/verify-mutants.js';
import { formatFindings, formatLegend, formatTable, unitClean, unitViolates, verdicts } from '../../src/lab/verify-report.js';
import { $, checkboxes, download, fileBytes, h, intIn, newWorker, secs, table } from './common.js';

/** replays a unit is guessed to need before it says (as verify.ts) */
const GUESS = 1200;

function violationBlock(v: ViolationOut): HTMLElement {
  const rows: [string, string][] = [
    ['invariant', `${v.invariant}: ${INVARIANTS[v.invariant]}`],
    ['checked at', v.check],
    ['what', v.what],
    ['wrong value', v.got],
    ['expected', v.want],
    ['seen at', `${v.at}  ${v.insn}`],
  ];
  const dl = h('dl', { class: 'violation' }, ...rows.flatMap(([k, x]) => [h('dt', {}, k), h('dd', {}, x)]));
  const box = h('div', {}, dl);
  if (v.trace !== undefined) box.append(h('p', {}, 'The last instructions before it:'), h('pre', {}, v.trace.slice(-16).join('\n')));
  return box;
}

/** the report of one design or mutant: per workload, where it was caught */
function report(design: string, units: UnitResult[]): HTMLElement {
  const out = h('div', { class: 'report', 'data-design': design });
  const m = findMutant(design);
  const v = verdicts(units).find((x) => x.design === design);
  out.append(h('h3', {}, m !== undefined ? `${design}: ${m.broken} (a mutant of ${m.base})` : design));
  if (m !== undefined) out.append(h('p', {}, `Expected to be caught by ${m.caughtBy.join(' or ')}: ${m.expect}.`));
  if (v !== undefined) out.append(h('p', { class: v.ok ? 'ok' : 'bad' }, v.summary));
  for (const u of units.filter((x) => x.design === design)) {
    if (u.error !== undefined) { out.append(h('h4', {}, `${u.workload}: error`), h('p', {}, u.error)); continue; }
    if (u.reference.length > 0) {
      out.append(h('h4', {}, `${u.workload}: wrong without any event (${u.reference.length} violation${u.reference.length === 1 ? '' : 's'})`), violationBlock(u.reference[0]));
      continue;
    }
    const k = u.kinds.find((x) => x.first !== undefined);
    if (k === undefined || k.first === undefined) {
      out.append(h('h4', {}, `${u.workload}: ${m?.equivalentOn?.workloads.includes(u.workload) ? `equivalent to ${m.base} here (${m.equivalentOn.why})` : m !== undefined ? 'NOT caught' : 'clean'}`));
      continue;
    }
    const f = k.first;
    out.append(h('h4', {}, `${u.workload}: ${k.kind} raised at boundary ${f.boundary} of ${u.boundaries} (${f.state}), before ${f.at} \`${f.insn}\`; ${k.violating} of ${k.tried} boundaries violate`));
    if (f.violations[0] !== undefined) out.append(violationBlock(f.violations[0]));
    if (f.violations.length > 1) out.append(h('p', {}, `and ${f.violations.length - 1} more at this boundary: ${[...new Set(f.violations.slice(1).map((x) => `${x.invariant} ${x.what}`))].join(', ')}`));
  }
  return out;
}

export function initVerify(): void {
  const designsOf = checkboxes($('verify-designs'), 'verify-design', DESIGNS, () => true);
  const mutantsOf = checkboxes($('verify-mutants'), 'verify-mutant', MUTANTS.map((m) => m.name), () => true);
  for (const m of MUTANTS) document.getElementById(`verify-mutant-${m.name}`)?.parentElement?.setAttribute('title', `${m.base}: ${m.broken}`);
  const workloadsOf = checkboxes($('verify-workloads'), 'verify-workload', VERIFY_WORKLOADS, (w) => DEFAULT_WORKLOADS.includes(w));
  const eventsOf = checkboxes($('verify-events'), 'verify-event', EVENT_KINDS, () => true);
  $<HTMLInputElement>('verify-jobs').value = String(Math.max(1, Math.min(8, navigator.hardwareConcurrency || 2)));
  const run = $<HTMLButtonElement>('verify-run');
  const cancel = $<HTMLButtonElement>('verify-cancel');
  const bar = $<HTMLProgressElement>('verify-progress');
  const status = $('verify-status');
  const out = $('verify-out');
  const reportOf = $<HTMLSelectElement>('verify-report-of');
  const jsonBtn = $<HTMLButtonElement>('verify-json');
  let workers: Worker[] = [];
  let units: UnitResult[] = [];
  let json = '';

  const stop = () => { for (const w of workers) w.terminate(); workers = []; run.disabled = false; cancel.disabled = true; };

  const showTable = (done: UnitResult[], kinds: EventKind[]) => {
    const rows = done.map((u) => {
      const equivalent = findMutant(u.design)?.equivalentOn?.workloads.includes(u.workload) ?? false;
      const verdict = u.error !== undefined ? 'error' : u.mutant ? (unitViolates(u) ? 'caught' : equivalent ? 'equivalent here' : 'not caught') : unitClean(u) ? 'clean' : 'VIOLATES';
      const good = u.mutant ? verdict === 'caught' || verdict === 'equivalent here' : verdict === 'clean';
      return [u.mutant ? `${u.design} (mutant)` : u.design, u.workload, String(u.runs), String(u.boundaries), String(u.reference.length),
        ...kinds.map((k) => { const x = u.kinds.find((y) => y.kind === k); return x === undefined ? '-' : `${x.violating}/${x.tried}`; }),
        h('span', { class: good ? 'ok' : 'bad' }, verdict)];
    });
    $('verify-table').replaceChildren(table(['design', 'workload', 'runs', 'boundaries', 'no event', ...kinds.map((k) => `${k}: violating/tried`), 'verdict'], rows, 2,
      'Per unit: boundaries where the event led to a violation, of the boundaries tried'));
  };

  $('verify-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (workers.length > 0) return;
    out.dataset.state = 'running';
    const image = await fileBytes($('verify-image'));
    let jobs: UnitJob[];
    let threads: number;
    let kinds: EventKind[];
    try {
      const designs = [...designsOf(), ...mutantsOf()];
      const workloads = workloadsOf();
      kinds = eventsOf() as EventKind[];
      if (designs.length === 0 || workloads.length === 0 || kinds.length === 0) throw new Error('choose at least one design or mutant, one workload and one event');
      jobs = unitJobs({
        designs, workloads, kinds, fsgsbase: $<HTMLInputElement>('verify-fsgsbase').checked,
        stride: intIn($('verify-stride'), 'stride', 1, 1_000_000), runs: intIn($('verify-runs'), 'runs', 1, 50),
        nullClearsBase: $<HTMLInputElement>('verify-null-clears').checked,
      });
      threads = Math.min(jobs.length, intIn($('verify-jobs'), 'workers', 1, 64));
    } catch (e) {
      status.textContent = (e as Error).message;
      out.dataset.state = 'invalid';
      return;
    }
    run.disabled = true;
    cancel.disabled = false;
    jsonBtn.disabled = true;
    reportOf.disabled = true;
    $('verify-table').replaceChildren();
    $('verify-verdicts').replaceChildren();
    $('verify-report').replaceChildren();
    $('verify-text').textContent = '';
    out.dataset.state = 'running';
    const t0 = performance.now();
    const results: (UnitResult | undefined)[] = new Array(jobs.length);
    const done = new Float64Array(jobs.length);
    const total = new Float64Array(jobs.length).fill(Math.ceil(GUESS / jobs[0].stride) * kinds.length);
    let finished = 0;
    let next = 0;
    const progress = () => {
      let d = 0;
      let t = 0;
      for (let k = 0; k < jobs.length; k++) { d += done[k]; t += total[k]; }
      bar.max = Math.max(1, t);
      bar.value = d;
      status.textContent = `${finished} of ${jobs.length} units, ${Math.round(d)} replays (${threads} workers)`;
    };
    const complete = () => {
      const ms = Math.round(performance.now() - t0);
      units = results.map((r) => r!);
      const v = verdicts(units);
      const ok = v.every((x) => x.ok);
      const ds = v.filter((x) => !x.mutant);
      const ms2 = v.filter((x) => x.mutant);
      const replays = units.reduce((n, u) => n + u.replays, 0);
      const summary = `${ds.filter((x) => x.ok).length} of ${ds.length} designs clean, ${ms2.filter((x) => x.ok).length} of ${ms2.length} mutants caught; ${replays} replays in ${secs(ms)} on ${threads} worker${threads === 1 ? '' : 's'}`;
      $('verify-verdicts').replaceChildren(
        table(['design or mutant', 'verdict'], v.map((x) => [x.mutant ? `${x.design} (mutant)` : x.design, h('span', { class: x.ok ? 'ok' : 'bad' }, x.summary)]), 2, 'Verdicts'),
        h('p', { id: 'verify-summary' }, summary));
      const shown = v.filter((x) => x.mutant || !x.ok).map((x) => x.design);
      reportOf.replaceChildren(...shown.map((d) => h('option', { value: d }, d)));
      reportOf.disabled = shown.length === 0;
      if (shown.length > 0) $('verify-report').replaceChildren(report(shown[0], units));
      $('verify-text').textContent = [formatTable(units, kinds), '', formatFindings(units), '', 'invariants:', formatLegend(), '', summary].join('\n');
      json = JSON.stringify({ options: { jobs: jobs.map((j) => j.spec), events: kinds, stride: jobs[0].stride }, invariants: INVARIANTS, mutants: MUTANTS, units, verdicts: v, ok, replays, ms, jobs: threads }, null, 2) + '\n';
      jsonBtn.disabled = false;
      bar.value = bar.max;
      out.dataset.ms = String(ms);
      out.dataset.state = ok ? 'done' : 'failed';
      stop();
      status.textContent = `${ok ? 'done' : 'done: NOT every design clean and every mutant caught'}: ${summary}`;
    };
    const start = (w: Worker) => {
      if (next >= jobs.length) return;
      const j = jobs[next++];
      w.onmessage = (m) => {
        const d = m.data;
        if (d.kind === 'verify-progress') { done[j.id] = d.done; total[j.id] = d.total; progress(); return; }
        if (d.kind === 'verify-result') {
          results[j.id] = d.result;
          done[j.id] = total[j.id];
          finished++;
          showTable(results.filter((r): r is UnitResult => r !== undefined), kinds);
          progress();
          if (finished === jobs.length) complete(); else start(w);
          return;
        }
        if (d.kind === 'error') { stop(); out.dataset.state = 'error'; status.textContent = `error: ${d.text}`; }
      };
      w.postMessage({ kind: 'verify', job: j, image });
    };
    for (let k = 0; k < threads; k++) {
      const w = newWorker();
      w.onerror = (e) => { stop(); out.dataset.state = 'error'; status.textContent = `worker error: ${e.message}`; };
      workers.push(w);
      start(w);
    }
    progress();
  });
  cancel.addEventListener('click', () => { stop(); out.dataset.state = 'cancelled'; status.textContent = 'cancelled'; });
  reportOf.addEventListener('change', () => $('verify-report').replaceChildren(report(reportOf.value, units)));
  jsonBtn.addEventListener('click', () => download('verify.json', json, 'application/json'));
}
