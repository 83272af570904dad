/**
 * The native side: builds tools/hostcpu/harness.c with the machine's gcc into build/hostcpu/
 * (gitignored) and runs batches of cases through it in one process.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FX_SIZE } from './fx.js';
import { BUF_ADDR, CODE_ADDR, GS_BASE, MEMSZ, type Case, type Outcome } from './layout.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(ROOT, 'tools', 'hostcpu', 'harness.c');
const OUT_DIR = join(ROOT, 'build', 'hostcpu');
const BIN = join(OUT_DIR, 'harness');

const IN_SIZE = 16 + 8 + 128 + 8 + MEMSZ;
const OUT_SIZE = 24 + 128 + 8 + 8 + MEMSZ;

const SIGTRAP = 5;

/** Compile the harness if it is missing or older than its source; throws with the reason. */
export function buildHarness(): string {
  if (process.arch !== 'x64') throw new Error(`host-CPU test needs an x86-64 host (this is ${process.arch})`);
  const probe = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error('host-CPU test: gcc was not found on this machine; install gcc (it builds tools/hostcpu/harness.c at test time)');
  }
  if (existsSync(BIN) && statSync(BIN).mtimeMs >= statSync(SRC).mtimeMs) return BIN;
  mkdirSync(OUT_DIR, { recursive: true });
  // build under a private name and rename, so concurrent test runs never see a partial binary
  const tmp = `${BIN}.${process.pid}`;
  const r = spawnSync('gcc', ['-O1', '-Wall', '-Wextra', '-o', tmp, SRC], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`host-CPU test: gcc failed to build ${SRC}:\n${r.stderr}`);
  renameSync(tmp, BIN);
  return BIN;
}

export interface HostInfo {
  vendor: string;
  features: Set<string>;
}

export function hostInfo(bin: string): HostInfo {
  const r = spawnSync(bin, ['info'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`harness info failed: ${r.stderr}`);
  let vendor = '?';
  let features = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('vendor ')) vendor = line.slice(7).trim();
    if (line.startsWith('features')) features = new Set(line.slice(8).trim().split(/\s+/).filter((s) => s !== ''));
  }
  return { vendor, features };
}

function encode(cases: Case[], fp: boolean): Buffer {
  const inSize = IN_SIZE + (fp ? FX_SIZE : 0);
  const buf = Buffer.alloc(4 + cases.length * inSize);
  buf.writeUInt32LE(cases.length, 0);
  let p = 4;
  for (const c of cases) {
    buf.set(c.code, p);
    buf.writeUInt32LE(c.code.length, p + 16);
    for (let r = 0; r < 16; r++) buf.writeBigUInt64LE(c.regs[r], p + 24 + 8 * r);
    buf.writeBigUInt64LE(BigInt(c.flags), p + 152);
    buf.set(c.mem, p + 160);
    if (fp) buf.set(c.fx!, p + IN_SIZE);
    p += inSize;
  }
  return buf;
}

/**
 * Run all cases natively; outcomes in the same order. Cases with FP state (`fx`) go through
 * the harness's FP mode in a second process; the others keep the plain, smaller records.
 */
export function runNative(bin: string, cases: Case[]): Outcome[] {
  const plain: number[] = [];
  const fp: number[] = [];
  cases.forEach((c, k) => (c.fx === null ? plain : fp).push(k));
  const res: Outcome[] = new Array<Outcome>(cases.length);
  for (const [idx, isFp] of [[plain, false], [fp, true]] as const) {
    if (idx.length === 0) continue;
    const out = runBatch(bin, idx.map((k) => cases[k]), isFp);
    idx.forEach((k, j) => { res[k] = out[j]; });
  }
  return res;
}

function runBatch(bin: string, cases: Case[], fp: boolean): Outcome[] {
  const hex = (v: number) => `0x${v.toString(16)}`;
  const outSize = OUT_SIZE + (fp ? FX_SIZE : 0);
  const args = ['run', hex(CODE_ADDR), hex(BUF_ADDR), hex(GS_BASE)];
  if (fp) args.push('fp');
  const r = spawnSync(bin, args, {
    input: encode(cases, fp),
    maxBuffer: 64 + cases.length * outSize * 2,
  });
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) {
    throw new Error(`native harness exited with ${r.status ?? r.signal}: ${r.stderr.toString()}`);
  }
  const out = r.stdout;
  if (out.length !== cases.length * outSize) {
    throw new Error(`native harness returned ${out.length} bytes for ${cases.length} cases`);
  }
  const res: Outcome[] = [];
  for (let n = 0; n < cases.length; n++) {
    const p = n * outSize;
    const sig = out.readUInt32LE(p);
    const trapno = out.readUInt32LE(p + 4);
    const rip = Number(out.readBigUInt64LE(p + 8));
    const regs: bigint[] = [];
    for (let r2 = 0; r2 < 16; r2++) regs.push(out.readBigUInt64LE(p + 24 + 8 * r2));
    const flags = Number(out.readBigUInt64LE(p + 152) & 0xffffffffn);
    const outside = out.readUInt32LE(p + 160);
    const mem = Uint8Array.from(out.subarray(p + 168, p + 168 + MEMSZ));
    // the INT3 after the instruction (or at a branch target) ends a completed case; RIP is
    // then past the INT3
    const done = sig === SIGTRAP && trapno === 3;
    res.push({
      vector: done ? -1 : trapno,
      rip: done ? rip - 1 : rip,
      regs, flags, mem, outside,
      fx: fp ? Uint8Array.from(out.subarray(p + OUT_SIZE, p + outSize)) : null,
      other: done || sig !== SIGTRAP ? '' : `SIGTRAP trap ${trapno}`,
    });
  }
  return res;
}
