/**
 * Reading the files a user names (kernel images, modules, host images) with one-line errors:
 * a missing file, a directory, a FIFO or device (which would block or never end), or a file
 * larger than anything the machine could load is refused before a byte is read.
 */

import { accessSync, closeSync, constants, fstatSync, openSync, readSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from './main.js';

/** the largest input worth reading: the machine's RAM ends below 4 GiB, images are far smaller */
export const MAX_INPUT_BYTES = 1 << 30;

/** Read `path` whole; `what` names it in errors ("image", "module", "host image"). */
export function readInputFile(path: string, what: string, maxBytes = MAX_INPUT_BYTES): Uint8Array {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not block before we can refuse it
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new UserError(`${what} ${path} not found`);
    if (code === 'EISDIR') throw new UserError(`${what} ${path} is a directory`);
    throw new UserError(`cannot read ${what} ${path}: ${firstLine(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UserError(`${what} ${path} is a directory`);
    if (!st.isFile()) throw new UserError(`${what} ${path} is not a regular file`);
    if (st.size > maxBytes) throw new UserError(`${what} ${path} is too large (${st.size} bytes; at most ${maxBytes})`);
    const buf = new Uint8Array(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n <= 0) break;
      off += n;
    }
    return off === buf.length ? buf : buf.subarray(0, off);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cannot read ${what} ${path}: ${firstLine(e)}`);
  } finally {
    closeSync(fd);
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/**
 * Refuse, before a long run, an output path that cannot be written: its folder is missing or
 * not writable, or it names a directory or a read-only file.
 */
export function checkOutputPath(path: string, what: string): void {
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (st !== undefined) {
    if (st.isDirectory()) throw new UserError(`${what} ${path} is a directory`);
    try {
      accessSync(path, constants.W_OK);
    } catch {
      throw new UserError(`${what} ${path} is not writable`);
    }
    return;
  }
  const dir = dirname(resolve(path));
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`${what} ${path}: cannot create a file in ${dir}`);
  }
}

/** write an output file; a failure (disk full, a race) is one line, not a stack trace */
export function writeOutput(path: string, what: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new UserError(`cannot write ${what} ${path}: ${firstLine(e)}`);
  }
}
