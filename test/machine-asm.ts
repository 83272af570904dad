// Test helper: assemble and link small guest programs with the machine's binutils into build/.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUILD = join(process.cwd(), 'build', 'machine-tests');

function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const haveBinutils = have('as') && have('ld') && have('objcopy');

/**
 * Assemble `source` (GNU as) and link it with `ldArgs` (and `linkerScript` if given); returns
 * the ELF file, or with `flat` the raw image objcopy makes of it. Results are cached by content
 * in build/machine-tests (written under a temporary name and renamed, so parallel test files
 * never read a half-written image).
 */
export function buildElf(source: string, bits: 32 | 64, ldArgs: string[], linkerScript?: string, flat = false): Uint8Array {
  mkdirSync(BUILD, { recursive: true });
  const key = createHash('sha256').update(JSON.stringify([source, bits, ldArgs, linkerScript ?? '', flat])).digest('hex').slice(0, 16);
  const out = join(BUILD, `${key}.${flat ? 'bin' : 'elf'}`);
  if (!existsSync(out)) {
    const tmp = join(BUILD, `${key}.${process.pid}`);
    writeFileSync(`${tmp}.s`, source);
    execFileSync('as', [bits === 32 ? '--32' : '--64', '-o', `${tmp}.o`, `${tmp}.s`], { stdio: 'pipe' });
    const args = ['-m', bits === 32 ? 'elf_i386' : 'elf_x86_64', '-nostdlib', '-static', '-z', 'max-page-size=0x1000', ...ldArgs];
    if (linkerScript !== undefined) {
      writeFileSync(`${tmp}.ld`, linkerScript);
      args.push('-T', `${tmp}.ld`);
    }
    execFileSync('ld', [...args, '-o', `${tmp}.elf`, `${tmp}.o`], { stdio: 'pipe' });
    if (flat) execFileSync('objcopy', ['-O', 'binary', `${tmp}.elf`, `${tmp}.bin`], { stdio: 'pipe' });
    renameSync(`${tmp}.${flat ? 'bin' : 'elf'}`, out);
  }
  return new Uint8Array(readFileSync(out));
}
