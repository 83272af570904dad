#!/usr/bin/env bash
# Builds the test kernels into build/guest/ (from the repository root, or anywhere):
#   guest/build.sh            all kernels
#   guest/build.sh clean      remove build/guest
# Each guest/tests/<name>.c becomes build/guest/<name>.elf: a 64-bit kernel linked as ELF64
# and converted to ELF32 (multiboot loaders, QEMU's -kernel among them, take ELF32 only).
# guest/tests/legacy*.c are 32-bit kernels instead: built -m32 on the runtime in guest/legacy/
# and linked as ELF32 directly (<name>.elf, and <name>.dbg with debug info).
# guest/userland/ is the kernel that runs a static Linux program at CPL 3 (userland.elf, with
# kernel.c and uentry.S) and that program, built by the host's gcc -O2 -static against glibc
# (fpprog, an ordinary Linux executable; skipped with a note when libc.a is missing: Debian's
# libc6-dev).
# Objects are rebuilt only when a source, a header or this script is newer, so a second run
# with no changes does nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/guest"
out="$root/build/guest"
CC="${CC:-gcc}"
LD="${LD:-ld}"
OBJCOPY="${OBJCOPY:-objcopy}"
CFLAGS=(-m64 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie
  -mno-red-zone -mgeneral-regs-only -nostdlib -fno-stack-protector -fcf-protection=none
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -mcmodel=small
  -I"$src/lib" -I"$src/include")
CFLAGS32=(-m32 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie
  -mgeneral-regs-only -nostdlib -fno-stack-protector -fcf-protection=none
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -I"$src/legacy")

if [[ "${1:-}" == clean ]]; then rm -rf "$out"; exit 0; fi
mkdir -p "$out/obj"

# newest of the files every object depends on
deps=("$src/build.sh" "$src"/lib/*.h)
deps32=("$src/build.sh" "$src"/legacy/*.h "$src"/lib/rt.h "$src"/lib/fmt.h)

# stale TARGET DEP...: TARGET is missing or some DEP is newer
stale() {
  local t="$1" d
  shift
  [[ -f "$t" ]] || return 0
  for d in "$@"; do
    if [[ "$d" -nt "$t" ]]; then return 0; fi
  done
  return 1
}

# outputs are written under a temporary name and renamed, so a reader never sees half a file
compile() {
  if stale "$2" "$1" "${deps[@]}"; then
    local flags=() f
    # tests/sse*.c are compiled as gcc compiles ordinary code, with SSE/SSE2 (the runtime stays
    # general-registers-only, so exception handlers never touch the XMM state)
    for f in "${CFLAGS[@]}"; do
      if [[ "$f" == -mgeneral-regs-only && "$(basename "$1")" == sse* ]]; then continue; fi
      flags+=("$f")
    done
    "$CC" "${flags[@]}" -c "$1" -o "$2.$$"
    mv -f "$2.$$" "$2"
  fi
}

# compile32 SRC OBJ [EXTRA FLAGS...]: a 32-bit object for the legacy kernels
compile32() {
  local s="$1" o="$2"
  shift 2
  if stale "$o" "$s" "${deps32[@]}"; then
    "$CC" "${CFLAGS32[@]}" "$@" -c "$s" -o "$o.$$"
    mv -f "$o.$$" "$o"
  fi
}

libobjs=()
for s in "$src"/lib/*.c "$src"/lib/*.S; do
  o="$out/obj/lib-$(basename "${s%.*}").o"
  compile "$s" "$o"
  libobjs+=("$o")
done

# lib/io.c (COM1, printf) is shared: built 32-bit, where its rt.h types are 32 bits wide and the
# 64-bit MSR helpers it never uses would warn
legacyobjs=("$out/obj/lib32-io.o" "$out/obj/lib32-fmt.o")
compile32 "$src/lib/io.c" "$out/obj/lib32-io.o" -Wno-shift-count-overflow
compile32 "$src/lib/fmt.c" "$out/obj/lib32-fmt.o"
for s in "$src"/legacy/*.c "$src"/legacy/*.S; do
  o="$out/obj/legacy-$(basename "${s%.*}").o"
  compile32 "$s" "$o"
  legacyobjs+=("$o")
done

for s in "$src"/tests/*.c; do
  name="$(basename "${s%.c}")"
  if [[ "$name" == legacy* ]]; then
    o="$out/obj/$name.o"
    compile32 "$s" "$o"
    elf="$out/$name.elf"
    if stale "$elf" "$o" "${legacyobjs[@]}" "$src/legacy/kernel32.ld"; then
      "$LD" -m elf_i386 -nostdlib -static -z max-page-size=0x1000 -T "$src/legacy/kernel32.ld" \
        -o "$out/$name.dbg.$$" "$o" "${legacyobjs[@]}"
      "$OBJCOPY" --strip-debug "$out/$name.dbg.$$" "$elf.$$"
      mv -f "$out/$name.dbg.$$" "$out/$name.dbg"
      mv -f "$elf.$$" "$elf"
    fi
    continue
  fi
  o="$out/obj/$name.o"
  compile "$s" "$o"
  elf="$out/$name.elf"
  if stale "$elf" "$o" "${libobjs[@]}" "$src/lib/kernel.ld"; then
    "$LD" -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -T "$src/lib/kernel.ld" \
      -o "$out/$name.elf64.$$" "$o" "${libobjs[@]}"
    "$OBJCOPY" --strip-debug -O elf32-i386 "$out/$name.elf64.$$" "$elf.$$"
    mv -f "$out/$name.elf64.$$" "$out/$name.elf64"
    mv -f "$elf.$$" "$elf"
  fi
done

# the userland kernel and its program (test/userland.test.ts)
uobjs=()
for s in "$src"/userland/kernel.c "$src"/userland/uentry.S; do
  o="$out/obj/userland-$(basename "${s%.*}").o"
  compile "$s" "$o"
  uobjs+=("$o")
done
elf="$out/userland.elf"
if stale "$elf" "${uobjs[@]}" "${libobjs[@]}" "$src/lib/kernel.ld"; then
  "$LD" -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -T "$src/lib/kernel.ld" \
    -o "$out/userland.elf64.$$" "${uobjs[@]}" "${libobjs[@]}"
  "$OBJCOPY" --strip-debug -O elf32-i386 "$out/userland.elf64.$$" "$elf.$$"
  mv -f "$out/userland.elf64.$$" "$out/userland.elf64"
  mv -f "$elf.$$" "$elf"
fi
# abi: a freestanding program (no libc, no x87/SSE) that checks the kernel's ABI from inside
abi="$out/abi"
if stale "$abi" "$src/userland/abi.c" "$src/build.sh"; then
  "$CC" -O2 -static -nostdlib -ffreestanding -fno-pie -no-pie -mgeneral-regs-only -fno-stack-protector \
    -fcf-protection=none -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror \
    -Wl,-z,max-page-size=0x1000 -Wl,--build-id=none -o "$abi.$$" "$src/userland/abi.c"
  mv -f "$abi.$$" "$abi"
fi
# fpprog and x87math: ordinary programs, gcc -O2 -static against glibc
for p in fpprog x87math; do
  prog="$out/$p"
  if stale "$prog" "$src/userland/$p.c" "$src/build.sh"; then
    if "$CC" -print-file-name=libc.a | grep -q /; then
      "$CC" -O2 -static -Wall -Wextra -Werror -Wno-stringop-overflow -Wno-array-bounds -o "$prog.$$" \
        "$src/userland/$p.c" -lm
      mv -f "$prog.$$" "$prog"
    else
      echo "build.sh: no static glibc (libc.a: install libc6-dev); $prog not built" >&2
    fi
  fi
done
