/** guest/include/vmcb.h is generated from the one VMCB table and must not go stale. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

describe('generated VMCB header', () => {
  it('matches src/svm/vmcb.ts (regenerate with npm run gen:vmcb)', async () => {
    // the generator imports the built table (npm test builds first)
    const { vmcbHeader } = await import(join(ROOT, 'scripts', 'gen-vmcb-h.mjs'));
    expect(readFileSync(join(ROOT, 'guest', 'include', 'vmcb.h'), 'utf8')).toBe(vmcbHeader());
  });
});
