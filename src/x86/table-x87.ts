/** x87 rows of the instruction table (one-byte map D8-DF; AMD64 APM Vol. 5). */
import type { RowFn } from './table.js';

export function addX87Rows(_I: RowFn): void {
  // rows are added by the x87 family
}
