/** SSE/SSE2 rows of the instruction table (0F map; AMD64 APM Vol. 4). */
import type { RowFn } from './table.js';

export function addSseRows(_I: RowFn): void {
  // rows are added by the SSE family
}
