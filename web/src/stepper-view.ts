/**
 * The world-switch stepper view: two designs side by side, each one KVM_RUN as a timeline
 * (src/lab/stepper.ts in its own Worker). Click a boundary's number (or type it and press
 * Raise) to place the chosen event there; the worker replays the run with the verifier's
 * invariants and the outcome says where the event was taken and what, if anything, broke.
 */

import { profileNames } from '../../src/cost/profiles.js';
import { DESIGNS } from '../../src/lab/hostrun.js';
import { VERIFY_WORKLOADS } from '../../src/lab/verify-jobs.js';
import { MUTANTS } from '../../src/lab/verify-mutants.js';
import { STEP_COLUMNS, type InjectOutcome, type Timeline } from '../../src/lab/stepper.js';
import { $, h, newWorker, options } from './common.js';

function ownerClass(o: string): string {
  if (o === '') return 'own-none';
  if (o.includes('=')) return 'own-mixed';
  return `own-${o}`;
}

/** how many host instructions ran with a value that is not the host's (or the VMM's) live, per column */
function exposure(t: Timeline): string {
  const counts = STEP_COLUMNS.map(() => 0);
  let host = 0;
  for (const r of t.rows) {
    if (r.mode === 'guest') continue;
    host++;
    r.owners.forEach((o, k) => { if (k >= 2 && (o === 'guest' || o === '')) counts[k]++; });
  }
  const parts = STEP_COLUMNS.map((c, k) => (k >= 2 && counts[k] > 0 ? `${c} ${counts[k]}` : '')).filter((x) => x !== '');
  return `${host} host instructions; of them, with a guest's (or no one's) value live in: ${parts.length === 0 ? 'none' : parts.join(', ')}`;
}

class Side {
  private worker: Worker | null = null;
  private timeline: Timeline | null = null;
  private readonly rowOf = new Map<number, HTMLTableRowElement>();
  private readonly status: HTMLElement;
  private readonly box: HTMLElement;
  private readonly outcome: HTMLElement;
  private readonly design: HTMLSelectElement;

  constructor(private readonly id: 'a' | 'b', private readonly common: () => { workload: string; profile: string; calibrate: boolean; fsgsbase: boolean; event: string }, initial: string) {
    this.status = $(`step-status-${id}`);
    this.box = $(`step-timeline-${id}`);
    this.outcome = $(`step-outcome-${id}`);
    this.design = $<HTMLSelectElement>(`step-design-${id}`);
    options(this.design, [...DESIGNS, ...MUTANTS.map((m) => m.name)], initial);
    $(`step-load-${id}`).addEventListener('click', () => this.load());
    const form = h('form', { class: 'actions' },
      h('label', {}, 'Raise the event at boundary ', h('input', { type: 'number', min: 0, id: `step-at-${id}`, required: true })),
      h('button', { type: 'submit', id: `step-raise-${id}` }, 'Raise'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.inject(Number(($(`step-at-${id}`) as HTMLInputElement).value));
    });
    this.outcome.before(form);
    this.box.addEventListener('click', (ev) => {
      const b = (ev.target as HTMLElement).closest('button[data-b]');
      if (b !== null) this.inject(Number((b as HTMLElement).dataset.b));
    });
  }

  load(): void {
    this.worker?.terminate();
    const c = this.common();
    const w = newWorker();
    this.worker = w;
    this.timeline = null;
    this.box.dataset.state = 'running';
    this.outcome.replaceChildren();
    this.status.textContent = `recording ${this.design.value} on ${c.workload}...`;
    w.onerror = (e) => { this.box.dataset.state = 'error'; this.status.textContent = `worker error: ${e.message}`; };
    w.onmessage = (ev) => {
      const d = ev.data;
      if (d.kind === 'timeline') this.show(d.timeline as Timeline, d.ms as number);
      else if (d.kind === 'outcome') this.showOutcome(d.outcome as InjectOutcome);
      else if (d.kind === 'error') {
        this.status.textContent = `error: ${d.text}`;
        if (this.box.dataset.state === 'running') this.box.dataset.state = 'error';
        this.outcome.dataset.state = 'error';
      }
    };
    w.postMessage({ kind: 'step-load', design: this.design.value, workload: c.workload, fsgsbase: c.fsgsbase, profile: c.profile, calibrate: c.calibrate });
  }

  private show(t: Timeline, ms: number): void {
    this.timeline = t;
    this.rowOf.clear();
    const head = h('tr', {}, ...['boundary', 'instruction', 'cycles', ...STEP_COLUMNS].map((x) => h('th', { scope: 'col', class: 'l' }, x)));
    const body = h('tbody');
    let prev: string[] | null = null;
    for (const r of t.rows) {
      const cells: HTMLElement[] = [
        h('th', { scope: 'row', class: 'l' }, h('button', { type: 'button', 'data-b': r.b, tabindex: -1, 'aria-label': `raise the event at boundary ${r.b}` }, String(r.b))),
        h('td', { class: 'l insn', title: `${r.where}: ${r.insn}` }, h('span', { class: 'sym' }, r.where), ' ', r.insn),
        h('td', {}, String(Math.round(r.cycles * 100) / 100)),
      ];
      r.values.forEach((v, k) => {
        const changed = prev !== null && prev[k] !== v;
        const who = r.owners[k];
        const cls = `l ${k >= 2 ? ownerClass(who) : v === '0' ? 'own-none' : ''}${changed ? ' changed' : ''}`;
        if (k < 2) { cells.push(h('td', { class: cls }, v)); return; }
        cells.push(h('td', { class: cls, title: `${STEP_COLUMNS[k]} = ${v}: ${who !== '' ? `${who}'s value` : 'none of host, user, guest'}` },
          h('span', { class: 'who' }, who !== '' ? who : '?'), h('span', { class: 'val' }, v)));
      });
      prev = r.values;
      const tr = h('tr', { class: r.mode === 'guest' ? 'guest' : undefined, 'data-b': r.b }, ...cells) as HTMLTableRowElement;
      this.rowOf.set(r.b, tr);
      body.append(tr);
    }
    const tbl = h('table', { class: (document.getElementById('step-values') as HTMLInputElement | null)?.checked ? 'values' : undefined }, h('caption', {}, `${t.design} on ${t.workload}: ${t.instructions} instructions, ${Math.round(t.cycles)} cycles (${t.profile})`), h('thead', {}, head), body);
    this.box.replaceChildren(tbl);
    this.box.dataset.state = 'done';
    this.status.textContent = `${t.rows.length} boundaries, recorded in ${ms} ms. ${exposure(t)}${t.complete ? '' : '. The stepped run did not reach the end of the recorded window'}`;
  }

  inject(b: number): void {
    if (this.worker === null || this.timeline === null) { this.status.textContent = 'load a design first'; return; }
    const ev = this.common().event;
    for (const r of this.box.querySelectorAll('tr.raised, tr.delivered')) r.classList.remove('raised', 'delivered');
    this.rowOf.get(b)?.classList.add('raised');
    this.outcome.dataset.state = 'running';
    this.outcome.textContent = `raising ${ev} at boundary ${b}...`;
    this.worker.postMessage({ kind: 'step-inject', b, event: ev });
  }

  private showOutcome(o: InjectOutcome): void {
    const items: HTMLElement[] = [h('p', {}, `${o.kind === 'both' ? 'NMI and interrupt' : o.kind === 'nmi' ? 'NMI' : 'Interrupt'} raised at boundary ${o.b}: ${o.raisedAt}.${o.held !== '' ? ` ${o.held}.` : ''}`)];
    const ul = h('ul');
    for (const d of o.deliveries) {
      const row = d.b >= 0 ? this.rowOf.get(d.b) : undefined;
      row?.classList.add('delivered');
      ul.append(h('li', {}, `${d.what} taken ${d.b >= 0 ? `at boundary ${d.b}` : 'off the recorded path'} (${d.b >= 0 && d.b !== o.b ? `${d.b - o.b} boundaries later` : d.b === o.b ? 'at once' : 'after the path diverged'}), before ${d.where} \`${d.insn}\`${d.guest ? ' in the guest' : ''}`));
    }
    if (o.deliveries.length === 0) ul.append(h('li', {}, 'not delivered to the host within the window'));
    items.push(ul);
    if (o.violations.length === 0) items.push(h('p', { class: 'ok' }, 'No invariant broken: the host handled the event on its own state.'));
    else {
      items.push(h('p', { class: 'bad' }, `${o.violations.length} invariant violation${o.violations.length === 1 ? '' : 's'}:`));
      items.push(h('ul', {}, ...o.violations.slice(0, 8).map((v) => h('li', {}, `${v.invariant} at ${v.check}: ${v.what} is ${v.got}, should be ${v.want} (at ${v.at} \`${v.insn}\`)`))));
    }
    this.outcome.replaceChildren(...items);
    this.outcome.dataset.state = o.violations.length === 0 ? 'clean' : 'violated';
    this.rowOf.get(o.b)?.scrollIntoView({ block: 'center' });
  }
}

export function initStepper(): void {
  const workload = $<HTMLSelectElement>('step-workload');
  options(workload, VERIFY_WORKLOADS, 'hlt');
  const profile = $<HTMLSelectElement>('step-profile');
  options(profile, profileNames(), 'zen3');
  const common = () => ({
    workload: workload.value, profile: profile.value, calibrate: $<HTMLInputElement>('step-calibrate').checked,
    fsgsbase: $<HTMLInputElement>('step-fsgsbase').checked, event: $<HTMLSelectElement>('step-event').value,
  });
  $('step-values').addEventListener('change', (ev) => {
    for (const t of document.querySelectorAll('.timeline table')) t.classList.toggle('values', (ev.target as HTMLInputElement).checked);
  });
  const a = new Side('a', common, 'msr');
  const b = new Side('b', common, 'vmload');
  let loaded = false;
  const first = () => { if (!loaded) { loaded = true; a.load(); b.load(); } };
  $('tab-stepper').addEventListener('tab-shown', first);
  if (!$('view-stepper').hidden) first();
}
