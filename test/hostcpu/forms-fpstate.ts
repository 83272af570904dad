/**
 * FP-state forms: the FXSAVE image travels through an instruction that does not touch it, so
 * both sides must give back exactly what they loaded (x87 registers of every class, random
 * TOP and tags, any MXCSR, any XMM contents). This checks the FP plumbing of the harness itself.
 */

import type { FormDef } from './form.js';
import { fpImage, mxcsrVal, randomX87 } from './gen-fp.js';

export function fpStateForms(): FormDef[] {
  return [
    {
      name: 'nop (FP state unchanged)',
      family: 'none',
      size: 4,
      gen: (cb) => {
        cb.fx = fpImage(cb, mxcsrVal(cb, 0.5), cb.rng.bool(0.5));
        randomX87(cb, cb.fx);
        cb.raw([0x90]);
      },
    },
  ];
}
