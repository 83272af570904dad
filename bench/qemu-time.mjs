// One timed run of a program for the bench scripts (qemu-ratio.mjs, linux-boot.mjs with QEMU
// TCG; verify.mjs with worldswitch's CLI): its wall time and, when /usr/bin/time is present,
// its CPU time (user + system), with the process's own result (status, error, stdout, stderr).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const timed = existsSync('/usr/bin/time');

/** { wall, cpu (null without /usr/bin/time), status, error, stdout, stderr } of `cmd args` */
export function timedRun(cmd, args, timeoutMs) {
  const t0 = process.hrtime.bigint();
  const p = timed
    ? spawnSync('/usr/bin/time', ['-f', '%U %S', cmd, ...args], { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 })
    : spawnSync(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = timed ? /([\d.]+) ([\d.]+)\s*$/.exec(p.stderr ?? '') : null;
  return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : null, status: p.status, error: p.error, stdout: p.stdout ?? '', stderr: p.stderr ?? '' };
}

/** one timed run of qemu-system-x86_64 */
export function qemuTimed(qargs, timeoutMs) {
  return timedRun('qemu-system-x86_64', qargs, timeoutMs);
}
