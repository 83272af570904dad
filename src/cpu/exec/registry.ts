/**
 * Dispatch: every execution family exports `handlers`, keyed by the handler names the
 * instruction table uses. A table row whose handler is missing raises #UD (and is listed by
 * `missingHandlers()` so that a test can hold the list to what is intended).
 */

import type { Exec } from '../../x86/insn.js';
import * as alu from './alu.js';
import * as branch from './branch.js';
import * as move from './move.js';
import * as ctrl from './ctrl.js';
import * as far from './far.js';
import * as desc from './desc.js';

export const HANDLERS: Record<string, Exec> = {};

for (const fam of [alu.handlers, branch.handlers, move.handlers, ctrl.handlers, far.handlers, desc.handlers] as Record<string, Exec>[]) {
  for (const [name, fn] of Object.entries(fam)) {
    if (HANDLERS[name] !== undefined) throw new Error(`handler ${name} is defined twice`);
    HANDLERS[name] = fn;
  }
}
