/**
 * The verifier's report: a verdict per design and mutant, the summary table (design x event
 * kind: boundaries tried, boundaries with violations), and for every mutant (and every design
 * that is not clean) where it was caught: the boundary, the instruction there, the invariant,
 * the wrong value and the last instructions before it.
 */

import type { KindResult, UnitResult, ViolationOut } from './verify-inject.js';
import { EVENT_KINDS, INVARIANTS } from './verify-invariants.js';
import { findMutant as findMiniMutant, type Mutant } from './verify-mutants.js';

/** a mutant by name (the mini host's suite unless a caller passes the real host's) */
export type MutantLookup = (name: string) => (Pick<Mutant, 'broken' | 'caughtBy' | 'equivalentOn'> & { base: string }) | undefined;

export interface Verdict {
  design: string;
  mutant: boolean;
  /** real design: clean everywhere; mutant: caught somewhere */
  ok: boolean;
  /** one line: clean / caught by ... / NOT caught / errors */
  summary: string;
}

/** a unit that could not be verified (it did not boot to KVM_RUN, a replay diverged, ...) */
export function errorUnit(design: string, workload: string, fsgsbase: boolean, error: string, findMutant: MutantLookup = findMiniMutant): UnitResult {
  return {
    design, mutant: findMutant(design) !== undefined, workload, fsgsbase, boundaries: 0, instructions: 0, runs: 0, untried: { outsideRun: 0, stride: 0 },
    complete: false, reference: [], kinds: [], replays: 0, ms: 0, error,
  };
}

/** the unit found something wrong (without an event, or at some boundary) */
export function unitViolates(u: UnitResult): boolean {
  return u.reference.length > 0 || u.kinds.some((k) => k.violating > 0);
}

/** a real design is clean on a unit: it ran, returned, nothing violated, every event delivered */
export function unitClean(u: UnitResult): boolean {
  return u.error === undefined && u.complete && !unitViolates(u) && u.kinds.every((k) => k.undelivered === 0);
}

function invariantsOf(u: UnitResult): string[] {
  const s = new Set<string>();
  for (const v of u.reference) s.add(v.invariant);
  for (const k of u.kinds) for (const i of Object.keys(k.byInvariant)) s.add(i);
  return [...s];
}

export function verdicts(units: UnitResult[], findMutant: MutantLookup = findMiniMutant): Verdict[] {
  const names: string[] = [];
  for (const u of units) if (!names.includes(u.design)) names.push(u.design);
  return names.map((design) => {
    const us = units.filter((u) => u.design === design);
    const mutant = findMutant(design);
    const errors = us.filter((u) => u.error !== undefined);
    if (mutant === undefined) {
      const ok = us.every(unitClean);
      const bad = us.filter((u) => !unitClean(u));
      const summary = ok ? `clean (${us.map((u) => u.workload).join(', ')})`
        : errors.length > 0 ? `ERROR: ${errors[0].error}`
          : `VIOLATES ${bad.map((u) => `${u.workload}: ${unitViolates(u) ? invariantsOf(u).join(', ') : 'events not delivered'}`).join('; ')}`;
      return { design, mutant: false, ok, summary };
    }
    const caught = us.filter((u) => u.error === undefined && unitViolates(u));
    const missed = us.filter((u) => u.error === undefined && !unitViolates(u));
    let summary: string;
    if (caught.length === 0) {
      summary = errors.length > 0 ? `ERROR: ${errors[0].error}` : `NOT caught on ${missed.map((u) => u.workload).join(', ')}`;
    } else {
      const by = [...new Set(caught.flatMap(invariantsOf))];
      summary = `caught on ${caught.map((u) => u.workload).join(', ')} by ${by.join(', ')}`;
      if (!mutant.caughtBy.some((i) => by.includes(i))) summary += ` (expected ${mutant.caughtBy.join(' or ')})`;
      const eq = missed.filter((u) => mutant.equivalentOn?.workloads.includes(u.workload));
      if (eq.length > 0) summary += `; equivalent on ${eq.map((u) => u.workload).join(', ')}`;
      const unexplained = missed.filter((u) => !mutant.equivalentOn?.workloads.includes(u.workload));
      if (unexplained.length > 0) summary += `; NOT caught on ${unexplained.map((u) => u.workload).join(', ')}`;
    }
    return { design, mutant: true, ok: caught.length > 0, summary };
  });
}

function pad(s: string, n: number, left = false): string {
  return left ? s.padEnd(n) : s.padStart(n);
}

function cell(k: KindResult | undefined): string {
  return k === undefined ? '-' : `${k.violating}/${k.tried}`;
}

/** the table: one row per design (or mutant) and workload */
export function formatTable(units: UnitResult[], kinds: readonly string[] = EVENT_KINDS): string {
  const nameW = Math.max(8, ...units.map((u) => u.design.length + (u.mutant ? 2 : 0))) + 2;
  const wlW = Math.max(8, ...units.map((u) => u.workload.length)) + 2;
  const lines: string[] = [];
  lines.push(`${pad('design', nameW, true)}${pad('workload', wlW, true)}${pad('runs', 5)}${pad('boundaries', 11)}${pad('untried', 9)}${pad('no event', 10)}${kinds.map((k) => pad(k, 14)).join('')}  verdict`);
  for (const u of units) {
    const name = u.mutant ? `${u.design} *` : u.design;
    const v = u.error !== undefined ? 'error' : u.mutant ? (unitViolates(u) ? 'caught' : 'not caught') : unitClean(u) ? 'clean' : 'VIOLATES';
    const untried = u.untried.outsideRun + u.untried.stride;
    lines.push(`${pad(name, nameW, true)}${pad(u.workload, wlW, true)}${pad(String(u.runs), 5)}${pad(String(u.boundaries), 11)}${pad(String(untried), 9)}${pad(String(u.reference.length), 10)}` +
      `${kinds.map((k) => pad(cell(u.kinds.find((x) => x.kind === k)), 14)).join('')}  ${v}`);
  }
  lines.push(`(runs: consecutive KVM_RUNs recorded; boundaries: in the window, the VMM's code between the runs included; untried: the VMM's own boundaries between`);
  lines.push(` KVM_RUNs (ring 3 and its other system calls), plus any a --stride skipped; ${kinds.join(', ')}: boundaries where the event led to a violation /`);
  lines.push(` boundaries tried; no event: violations of the uninjected run; * a mutant)`);
  if (units.some((u) => u.perCpu !== undefined)) {
    // (the mini host marks its vcpu hand-overs; the real host's are the kernel's scheduler, outside the ioctls)
    const handovers = units.some((u) => u.perCpu?.some((c) => c.handover > 0) === true);
    lines.push(`(more than one CPU: boundaries and untried count every CPU's; the CPUs' idle loops are untried${handovers ? ', the vcpu hand-overs between them tried' : ', and so is what the other CPU does meanwhile'})`);
  }
  return lines.join('\n');
}

function formatViolation(v: ViolationOut, indent: string, traceLines: number): string[] {
  const out = [
    `${indent}${v.invariant} at ${v.check}: ${v.what} is ${v.got}, should be ${v.want}`,
    `${indent}  seen at ${v.at} \`${v.insn}\``,
  ];
  if (v.trace !== undefined && traceLines > 0) {
    out.push(`${indent}  last instructions:`);
    for (const t of v.trace.slice(-traceLines)) out.push(`${indent}    ${t}`);
  }
  return out;
}

/** the first violation a unit found: without events, or at its first violating boundary */
function firstOf(u: UnitResult): { head: string; v: ViolationOut | undefined; more: string } | null {
  if (u.reference.length > 0) {
    return { head: 'without any event', v: u.reference[0], more: u.reference.length > 1 ? `(and ${u.reference.length - 1} more)` : '' };
  }
  const k = u.kinds.find((x) => x.first !== undefined);
  if (k === undefined || k.first === undefined) return null;
  const f = k.first;
  const rest = f.violations.slice(1);
  return {
    head: `${k.kind} raised at boundary ${f.boundary} of ${u.boundaries} (${f.state}), before ${f.at} \`${f.insn}\``,
    v: f.violations[0],
    more: rest.length > 0 ? `(and ${rest.length} more at this boundary: ${[...new Set(rest.map((x) => `${x.invariant} ${x.what}`))].join(', ')})` : '',
  };
}

function sameFinding(a: ViolationOut | undefined, b: ViolationOut | undefined): boolean {
  return a !== undefined && b !== undefined && a.invariant === b.invariant && a.check === b.check && a.what === b.what && a.at === b.at;
}

/**
 * Where each mutant (and each design that is not clean) was caught: its first violation in
 * full for the first workload that shows it, the other workloads in a line each.
 */
export function formatFindings(units: UnitResult[], traceLines = 10, findMutant: MutantLookup = findMiniMutant): string {
  const lines: string[] = [];
  for (const v of verdicts(units, findMutant)) {
    if (!v.mutant && v.ok) continue;
    const m = findMutant(v.design);
    lines.push(`${v.design}${m !== undefined ? ` (${m.base}: ${m.broken})` : ''}: ${v.summary}`);
    let shown: ViolationOut | undefined;
    for (const u of units.filter((x) => x.design === v.design)) {
      if (u.error !== undefined) { lines.push(`  ${u.workload}: error: ${u.error}`); continue; }
      const f = firstOf(u);
      if (f === null) {
        if (m?.equivalentOn?.workloads.includes(u.workload)) lines.push(`  ${u.workload}: equivalent to ${m.base} here: ${m.equivalentOn.why}`);
        else if (m !== undefined) lines.push(`  ${u.workload}: NOT caught`);
        else lines.push(`  ${u.workload}: events not delivered`);
        continue;
      }
      if (sameFinding(shown, f.v)) {
        lines.push(`  ${u.workload}: the same, ${f.head.replace(/, before .*/, '')}`);
        continue;
      }
      lines.push(`  ${u.workload}, ${f.head}:`);
      if (f.v !== undefined) lines.push(...formatViolation(f.v, '    ', traceLines));
      if (f.more !== '') lines.push(`    ${f.more}`);
      shown ??= f.v;
    }
  }
  return lines.join('\n');
}

/** the invariants, for the report's legend */
export function formatLegend(): string {
  return Object.entries(INVARIANTS).map(([k, d]) => `  ${k.padEnd(16)} ${d}`).join('\n');
}
