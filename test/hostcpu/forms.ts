/**
 * All instruction forms of the host-CPU test, and their generated cases.
 */

import { Decoder } from '../../src/x86/decoder.js';
import { Insn, type Exec } from '../../src/x86/insn.js';
import { INSNS } from '../../src/x86/table.js';
import type { FormDef } from './form.js';
import { aluForms } from './forms-alu.js';
import { bitForms } from './forms-bit.js';
import { condForms } from './forms-cond.js';
import { fpStateForms } from './forms-fpstate.js';
import { sseFpForms } from './forms-sse-fp.js';
import { sseIntForms } from './forms-sse-int.js';
import { sseMoveForms } from './forms-sse-move.js';
import { mmxForms } from './forms-mmx.js';
import { miscForms } from './forms-misc.js';
import { moveForms } from './forms-move.js';
import { mulDivForms } from './forms-muldiv.js';
import { shiftForms } from './forms-shift.js';
import { stackForms } from './forms-stack.js';
import { stringForms } from './forms-string.js';
import { x87Forms } from './forms-x87.js';
import { CB, Rng } from './gen.js';
import type { Case } from './layout.js';
import { undefFor } from './masks.js';

export interface Form extends FormDef {
  cases: Case[];
  /** table handlers the cases decode to ('(invalid)' for encodings that raise #UD) */
  handlers: string[];
}

export const CASES_PER_FORM = Number(process.env.HOSTCPU_CASES ?? 128);
export const SEED = Number(process.env.HOSTCPU_SEED ?? 0x5eedc0de);

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const noop: Exec = () => {};
const decoder = new Decoder(INSNS.map(() => noop), noop);
const insn = new Insn(noop);

function handlersOf(cases: Case[]): string[] {
  const set = new Set<string>();
  for (const c of cases) {
    const n = decoder.decode(insn, c.code, 0, c.code.length, 64);
    set.add(n > 0 && insn.row >= 0 && insn.fault === 0 ? INSNS[insn.row].exec : '(invalid)');
  }
  return [...set].sort();
}

export function allFormDefs(): FormDef[] {
  return [
    ...aluForms(), ...moveForms(), ...mulDivForms(), ...shiftForms(), ...bitForms(), ...condForms(),
    ...stringForms(), ...stackForms(), ...miscForms(), ...fpStateForms(), ...sseFpForms(), ...sseIntForms(), ...sseMoveForms(), ...mmxForms(),
    ...x87Forms(),
  ];
}

export function buildForms(defs: FormDef[] = allFormDefs(), n = CASES_PER_FORM, seed = SEED): Form[] {
  const names = new Set<string>();
  const forms: Form[] = [];
  for (const d of defs) {
    if (names.has(d.name)) throw new Error(`duplicate form name ${d.name}`);
    names.add(d.name);
    const rng = new Rng(seed ^ hashName(d.name));
    const cases: Case[] = [];
    for (let k = 0; k < n; k++) {
      const cb = new CB(rng, k);
      d.gen(cb);
      cb.undef |= undefFor(d.family, d.size, cb.count);
      cases.push(cb.build());
    }
    forms.push({ ...d, cases, handlers: handlersOf(cases) });
  }
  return forms;
}
