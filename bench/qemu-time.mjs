// One timed run of qemu-system-x86_64 for the bench scripts (qemu-ratio.mjs, linux-boot.mjs):
// its wall time and, when /usr/bin/time is present, its CPU time (user + system), with the
// process's own result (status, error, stdout, stderr).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const timed = existsSync('/usr/bin/time');

/** { wall, cpu (null without /usr/bin/time), status, error, stdout, stderr } */
export function qemuTimed(qargs, timeoutMs) {
  const t0 = process.hrtime.bigint();
  const p = timed
    ? spawnSync('/usr/bin/time', ['-f', '%U %S', 'qemu-system-x86_64', ...qargs], { timeout: timeoutMs, encoding: 'utf8' })
    : spawnSync('qemu-system-x86_64', qargs, { timeout: timeoutMs, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = timed ? /([\d.]+) ([\d.]+)\s*$/.exec(p.stderr ?? '') : null;
  return { wall, cpu: m ? Number(m[1]) + Number(m[2]) : null, status: p.status, error: p.error, stdout: p.stdout ?? '', stderr: p.stderr ?? '' };
}
