/**
 * Plots of the bench, as vega-lite specs rendered to SVG in Node (no browser): cycles per
 * KVM_RUN by design and phase, and the break-even plot of cycles per exit against the
 * fraction of exits handled in the kernel.
 */

import type { DesignResult } from './bench.js';

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
