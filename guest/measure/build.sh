#!/usr/bin/env bash
# Builds the measuring kernel (guest/measure/measure.c on the test runtime and the SVM harness)
# into build/guest/measure.elf: a multiboot ELF32 that GRUB, QEMU (-kernel) and worldswitch boot.
# See docs/measure.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src="$root/guest"
out="$root/build/guest"
CC="${CC:-gcc}"
LD="${LD:-ld}"
OBJCOPY="${OBJCOPY:-objcopy}"
bash "$src/build.sh" >/dev/null             # the runtime's objects (build/guest/obj/lib-*.o)
CFLAGS=(-m64 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie
  -mno-red-zone -mgeneral-regs-only -nostdlib -fno-stack-protector -fcf-protection=none
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -mcmodel=small
  -I"$src/lib" -I"$src/include")
"$CC" "${CFLAGS[@]}" -c "$src/measure/measure.c" -o "$out/obj/measure.o.$$"
mv -f "$out/obj/measure.o.$$" "$out/obj/measure.o"
"$LD" -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -T "$src/lib/kernel.ld" \
  -o "$out/measure.elf64.$$" "$out/obj/measure.o" "$out"/obj/lib-*.o
"$OBJCOPY" --strip-debug -O elf32-i386 "$out/measure.elf64.$$" "$out/measure.elf.$$"
mv -f "$out/measure.elf64.$$" "$out/measure.elf64"
mv -f "$out/measure.elf.$$" "$out/measure.elf"
