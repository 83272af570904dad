/**
 * The emulator itself (x86, cpu, svm, machine, cost) runs in Node, in worker threads and in a
 * browser: it imports no Node or DOM API. Only src/lab and src/cli may.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SRC = join(import.meta.dirname, '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('core imports', () => {
  for (const part of ['x86', 'cpu', 'svm', 'machine', 'cost']) {
    it(`src/${part} imports only project modules`, () => {
      for (const f of files(join(SRC, part))) {
        const text = readFileSync(f, 'utf8');
        for (const m of text.matchAll(/from '([^']+)'/g)) {
          expect(m[1].startsWith('.'), `${f} imports ${m[1]}`).toBe(true);
        }
        expect(/\b(process|Buffer|require|document|window)\./.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')), `${f} uses a Node or DOM global`).toBe(false);
      }
    });
  }

  it('the real host and the snapshot format, which the browser lab\'s worker runs, import no Node module (transitively)', () => {
    const seen = new Set<string>();
    const walk = (f: string) => {
      if (seen.has(f)) return;
      seen.add(f);
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^;]*? from '([^']+)'/gm)) {
        expect(m[1].startsWith('.'), `${f} imports ${m[1]}`).toBe(true);
        walk(join(f, '..', m[1].replace(/\.js$/, '.ts')));
      }
    };
    for (const f of ['snapshot-codec.ts', 'linuxhost.ts', 'linuxbench.ts', 'sysmap.ts', 'plot.ts']) walk(join(SRC, 'lab', f));
    expect(seen.size).toBeGreaterThan(20);
  });
});
