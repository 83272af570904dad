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
import * as stack from './stack.js';
import * as control from './control.js';
import * as string from './string.js';
import * as miscSys from './misc-sys.js';
import * as shift from './shift.js';
import * as muldiv from './muldiv.js';
import * as bits from './bits.js';
import * as bcd from './bcd.js';
import * as misc from './misc.js';
import * as exchange from './exchange.js';
import * as sysmsr from './sysmsr.js';
import * as io from './io.js';
import * as svm from '../../svm/svm.js';
import * as sseMove from './sse-move.js';
import * as sseInt from './sse-int.js';
import * as sseState from './sse-state.js';
import * as sseFp from './sse-fp.js';
import * as sseCvt from './sse-cvt.js';
import * as mmx from './mmx.js';
import * as x87 from './x87.js';
import * as x87ctl from './x87-ctl.js';

export const HANDLERS: Record<string, Exec> = {};

for (const fam of [alu.handlers, branch.handlers, move.handlers, ctrl.handlers, far.handlers, desc.handlers, stack.handlers, control.handlers, string.handlers, miscSys.handlers, shift.handlers, muldiv.handlers, bits.handlers, bcd.handlers, misc.handlers, exchange.handlers, sysmsr.handlers, io.handlers, svm.handlers, sseMove.handlers, sseInt.handlers, sseState.handlers, sseFp.handlers, sseCvt.handlers, mmx.handlers, x87.handlers, x87ctl.handlers] as Record<string, Exec>[]) {
  for (const [name, fn] of Object.entries(fam)) {
    if (HANDLERS[name] !== undefined) throw new Error(`handler ${name} is defined twice`);
    HANDLERS[name] = fn;
  }
}
