/**
 * TSC scaling (APM Vol. 2 15.30.5, TSC ratio MSR C000_0104h): a guest's TSC is the host's TSC
 * times the ratio, an 8.32 fixed-point number, truncated to 64 bits. BigInt here is off the hot
 * path: only guests with a ratio other than 1.0 read their TSC through it.
 */

/** bits 63:32 of the last scaleTsc result */
export const TSC_HI = new Int32Array(1);

/** (tsc * ratio) >> 32 for tsc = hi:lo and ratio = rhi:rlo; returns bits 31:0, 63:32 in TSC_HI */
export function scaleTsc(lo: number, hi: number, rlo: number, rhi: number): number {
  const t = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  const r = (BigInt(rhi >>> 0) << 32n) | BigInt(rlo >>> 0);
  const v = ((t * r) >> 32n) & 0xffffffffffffffffn;
  TSC_HI[0] = Number(v >> 32n) | 0;
  return Number(v & 0xffffffffn) | 0;
}
