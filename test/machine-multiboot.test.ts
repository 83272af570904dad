import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Machine } from '../src/machine/machine.js';
import { readModules } from '../src/machine/loaders.js';
import { Stop } from '../src/cpu/state.js';
import { buildElf, haveBinutils } from './machine-asm.js';

// A multiboot v1 test kernel (linked at 1 MiB) that prints what it was given, the same image on
// worldswitch and on QEMU (-kernel): the boot magic, mem_lower/mem_upper, the info flags it
// relies on, the command line, and every module's string, size and contents; then it leaves
// through the debug-exit port with 0x18 (status 49). Built two ways: as an ELF32 file, and as a
// flat image (objcopy -O binary) that only the a.out kludge's address fields can place.
const KERNEL = (flags: number) => String.raw`.intel_syntax noprefix
.code32
.section .multiboot, "a"
.align 4
mb_header:
.long 0x1BADB002
.long ${flags}
.long -(0x1BADB002 + ${flags})
# address fields, used with flag bit 16 (the a.out kludge) and ignored without it
.long mb_header
.long 0x100000
.long _edata
.long _end
.long _start
.text
.globl _start
_start:
  mov esp, offset stack_top
  mov ebp, ebx
  cmp eax, 0x2BADB002
  jne fail
  mov esi, offset s_magic
  call puts
  mov esi, offset s_lower
  call puts
  mov eax, [ebp+4]
  call putdec
  mov esi, offset s_upper
  call puts
  mov eax, [ebp+8]
  call putdec
  mov esi, offset s_flags
  call puts
  mov eax, [ebp]
  and eax, 0x4d        # MEMORY CMDLINE MODS MMAP
  call putdec
  mov esi, offset s_cmd
  call puts
  mov esi, [ebp+16]
  call puts
  mov esi, offset s_mods
  call puts
  mov eax, [ebp+20]
  call putdec
  mov ecx, [ebp+20]
  mov edi, [ebp+24]
2: test ecx, ecx
  jz 3f
  mov esi, offset s_nl
  call puts
  mov esi, [edi+8]
  call puts
  mov esi, offset s_colon
  call puts
  mov eax, [edi]
  test eax, 0xfff
  jnz fail
  mov esi, [edi]
  mov edx, [edi+4]
  sub edx, esi
  mov eax, edx
  call putdec
  mov esi, offset s_colon
  call puts
  mov esi, [edi]
  call putn        # edx bytes at esi
  add edi, 16
  dec ecx
  jmp 2b
3: mov esi, offset s_nl
  call puts
  mov eax, 0x18
  out 0xf4, eax
  hlt
fail:
  mov esi, offset s_fail
  call puts
  mov eax, 0x33
  out 0xf4, eax
  hlt

# putc al (waits for THRE)
putc:
  push edx
  push eax
  mov dx, 0x3fd
1: in al, dx
  test al, 0x20
  jz 1b
  pop eax
  mov dx, 0x3f8
  out dx, al
  pop edx
  ret
# puts: NUL-terminated string at esi
puts:
  push esi
  push eax
1: lodsb
  test al, al
  jz 2f
  call putc
  jmp 1b
2: pop eax
  pop esi
  ret
# putn: edx bytes at esi
putn:
  push esi
  push edx
  push eax
1: test edx, edx
  jz 2f
  lodsb
  call putc
  dec edx
  jmp 1b
2: pop eax
  pop edx
  pop esi
  ret
# putdec: eax unsigned
putdec:
  push eax
  push ebx
  push ecx
  push edx
  mov ebx, 10
  xor ecx, ecx
1: xor edx, edx
  div ebx
  push edx
  inc ecx
  test eax, eax
  jnz 1b
2: pop eax
  add al, '0'
  call putc
  loop 2b
  pop edx
  pop ecx
  pop ebx
  pop eax
  ret

.section .rodata
s_magic: .asciz "magic ok\n"
s_lower: .asciz "mem_lower="
s_upper: .asciz " mem_upper="
s_flags: .asciz "\nflags&4d="
s_cmd: .asciz "\ncmdline="
s_mods: .asciz "\nmods="
s_colon: .asciz ":"
s_nl: .asciz "\n"
s_fail: .asciz "FAIL\n"
.bss
.balign 16
stack: .space 4096
stack_top:
`;

const LINK = String.raw`ENTRY(_start)
SECTIONS {
  . = 0x100000;
  .text : { *(.multiboot) *(.text*) }
  .rodata : { *(.rodata*) }
  .data : { *(.data*) }
  _edata = .;
  .bss : { *(.bss*) *(COMMON) }
  _end = .;
}
`;

function haveQemu(): boolean {
  try {
    execFileSync('qemu-system-i386', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const DIR = join(process.cwd(), 'build', 'machine-tests');
const MEM_MIB = 256;

/** QEMU's mem_upper leaves out memory its firmware reserves at the top; compare the rest */
const normalize = (s: string) => s.replace(/mem_upper=\d+/, 'mem_upper=N');

const VARIANTS = [
  { name: 'ELF32', flags: 0x3, flat: false },
  { name: 'a.out kludge (flat binary)', flags: 0x10003, flat: true },
];

function files(flags: number, flat: boolean) {
  mkdirSync(DIR, { recursive: true });
  const kernel = buildElf(KERNEL(flags), 32, [], LINK, flat);
  const kpath = join(DIR, `mbinfo-${flat ? 'flat' : 'elf'}.img`);
  writeFileSync(kpath, kernel);
  writeFileSync(join(DIR, 'mod1.txt'), 'hello module');
  writeFileSync(join(DIR, 'mod2.bin'), 'xyz');
  return { kernel, kpath, mods: [join(DIR, 'mod1.txt') + ' arg1 arg2', join(DIR, 'mod2.bin')] };
}

function runHere(kernel: Uint8Array, kpath: string, mods: string[]) {
  const m = new Machine({ memSize: MEM_MIB * 1024 * 1024 });
  // QEMU passes the kernel path as the first word of the command line, as GRUB does
  m.boot(kernel, { cmdline: kpath + ' a b=c', modules: readModules(mods, (p) => new Uint8Array(readFileSync(p))) });
  const r = m.run(1_000_000);
  return { r, out: m.uart.output() };
}

describe.skipIf(!haveBinutils).each(VARIANTS)('multiboot kernel built with as/ld, $name', ({ flags, flat }) => {
  it('boots and reads its boot information', () => {
    const { kernel, kpath, mods } = files(flags, flat);
    expect(kernel[0] === 0x7f && kernel[1] === 0x45).toBe(!flat);
    const { r, out } = runHere(kernel, kpath, mods);
    expect(r.reason).toBe(Stop.Exit);
    expect(r.exitStatus).toBe(49);
    expect(out).toBe([
      'magic ok',
      `mem_lower=639 mem_upper=${(MEM_MIB - 1) * 1024}`,
      'flags&4d=77',
      `cmdline=${kpath} a b=c`,
      'mods=2',
      `${mods[0]}:12:hello module`,
      `${mods[1]}:3:xyz`,
      '',
    ].join('\n'));
  });

  it('gets the image name in front of --append from `worldswitch run`, as from QEMU and GRUB', () => {
    const { kernel, kpath, mods } = files(flags, flat);
    const here = runHere(kernel, kpath, mods);
    const bin = join(process.cwd(), 'bin', 'worldswitch.js');
    const args = [bin, 'run', kpath, '--append', 'a b=c', '--mem', `${MEM_MIB}M`, ...mods.flatMap((m) => ['--module', m])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toContain(`cmdline=${kpath} a b=c\n`);
    expect(r.stdout).toBe(here.out);
    expect(r.status).toBe(here.r.exitStatus);
  });

  it.skipIf(!haveQemu())('prints what QEMU -kernel gives the same image', () => {
    const { kernel, kpath, mods } = files(flags, flat);
    const here = runHere(kernel, kpath, mods);
    let qout = '';
    let qstatus = 0;
    try {
      qout = execFileSync('qemu-system-i386', [
        '-m', String(MEM_MIB), '-kernel', kpath, '-append', 'a b=c', '-initrd', mods.join(','),
        '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-nodefaults', '-no-reboot',
        '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
      ], { timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    } catch (e) {
      const err = e as { status?: number; stdout?: Buffer };
      qstatus = err.status ?? -1;
      qout = err.stdout?.toString() ?? '';
    }
    expect(qout).toContain('magic ok');
    expect(qstatus).toBe(here.r.exitStatus! & 0xff);
    expect(normalize(qout)).toBe(normalize(here.out));
  });
});
