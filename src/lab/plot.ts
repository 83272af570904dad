/**
 * Plots of the bench, as vega-lite specs rendered to SVG in Node (no browser): cycles per
 * KVM_RUN by design and phase, and the break-even plot of cycles per exit against the
 * fraction of exits handled in the kernel.
 */

import type { DesignResult } from './bench.js';
import type { SweepResult } from './sweep.js';
import type { UncertaintyResult } from './uncertainty.js';

export interface BreakEvenPoint {
  design: string;
  /** percent of exits handled in the kernel */
  inKernel: number;
  cyclesPerExit: number;
}

const PHASE_LABELS: [string, string][] = [
  ['entry_to_vmrun', '1 ioctl entry -> pre-VMRUN'],
  ['vmrun_to_post', '2 pre-VMRUN -> post-VMRUN'],
  ['post_to_exit', '3 post-VMRUN -> ioctl exit'],
];

export function phaseSpec(profile: string, workload: string, results: DesignResult[]): object {
  const values = results.flatMap((r) => PHASE_LABELS.map(([k, label]) => ({ design: r.design, phase: label, cycles: r.phases.get(k)?.median ?? 0 })));
  return {
    title: `Cycles per KVM_RUN by phase (${profile}, ${workload}, median)`,
    data: { values },
    mark: 'bar',
    width: 360,
    height: 220,
    encoding: {
      x: { field: 'design', type: 'nominal', sort: null, title: 'design' },
      y: { field: 'cycles', type: 'quantitative', aggregate: 'sum', title: 'TSC cycles' },
      color: { field: 'phase', type: 'nominal', title: 'phase' },
      order: { field: 'phase', type: 'nominal' },
    },
  };
}

export function breakEvenSpec(profile: string, points: BreakEvenPoint[]): object {
  return {
    title: `Cycles per exit vs exits handled in the kernel (${profile}, mix)`,
    data: { values: points },
    mark: { type: 'line', point: true },
    width: 360,
    height: 220,
    encoding: {
      x: { field: 'inKernel', type: 'quantitative', title: 'exits handled in the kernel (%)' },
      y: { field: 'cyclesPerExit', type: 'quantitative', title: 'TSC cycles per exit' },
      color: { field: 'design', type: 'nominal' },
    },
  };
}

/**
 * The sweep: total cycles per KVM_RUN of each design against the swept cost, with a rule
 * where the ranking changes (the break-even, midway between the two values that bracket it).
 */
export function sweepSpec(r: SweepResult): object {
  const values = r.points.flatMap((p) => Object.entries(p.totals).map(([design, total]) => ({ value: p.value, design, total })));
  const changes = r.changes.map((c) => ({ at: (c.from + c.to) / 2, label: `${c.after[0]} fastest from here` }));
  const x = { field: 'value', type: 'quantitative', title: `${r.param} (cycles)` };
  return {
    title: `Total cycles per KVM_RUN vs ${r.param} (${r.profile}, median)`,
    width: 360,
    height: 220,
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'total', type: 'quantitative', title: 'TSC cycles per KVM_RUN' }, color: { field: 'design', type: 'nominal' } },
      },
      {
        data: { values: changes },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#444' },
        encoding: { x: { field: 'at', type: 'quantitative' } },
      },
      {
        data: { values: changes },
        mark: { type: 'text', align: 'left', dx: 3, dy: -4, baseline: 'bottom', fontSize: 10, color: '#444' },
        encoding: { x: { field: 'at', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
      },
    ],
  };
}

/** The uncertainty draws: per design, total cycles per KVM_RUN, median with the 5%..95% interval. */
export function uncertaintySpec(profile: string, workload: string, u: UncertaintyResult): object {
  const values = u.designs.map((d) => ({ design: d, ...u.intervals[d].total, fastest: Math.round(100 * (u.fastest[d] ?? 0)) }));
  const x = { field: 'design', type: 'nominal', sort: null, title: 'design' };
  return {
    title: `Total cycles per KVM_RUN over ${u.draws} draws (${profile}, ${workload}): median, 5%..95%`,
    data: { values },
    width: 360,
    height: 220,
    layer: [
      { mark: { type: 'rule', strokeWidth: 2 }, encoding: { x, y: { field: 'p5', type: 'quantitative', title: 'TSC cycles', scale: { zero: false } }, y2: { field: 'p95' } } },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y: { field: 'median', type: 'quantitative' }, tooltip: [{ field: 'median' }, { field: 'p5' }, { field: 'p95' }, { field: 'fastest', title: 'fastest in % of draws' }] } },
    ],
  };
}

/** Render vega-lite specs stacked vertically into one SVG document. */
export async function renderSvg(specs: object[]): Promise<string> {
  const vega = await import('vega');
  const vl = await import('vega-lite');
  const top = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    vconcat: specs,
    // each plot has its own colours and legend (phases in one, designs in the other)
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: { font: 'sans-serif', legend: { labelLimit: 320 } },
  };
  const compiled = vl.compile(top as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  return view.toSVG();
}
