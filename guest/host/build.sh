#!/usr/bin/env bash
# Builds the host image into build/host/ (from the repository root, or anywhere):
#   guest/host/build.sh           build/host/host.elf (ELF32 multiboot) and host.elf64 (debug info)
#   guest/host/build.sh clean     remove build/host
# The kernel (kernel/, kvm/, and guest/lib/fmt.c, opts.c) is compiled with a stack protector whose canary is at
# %gs:40, as Linux x86-64's; the VMM (vmm/, the same two) with the user-mode one at %fs:0x28.
# Objects are rebuilt only when their source, a header or this script is newer.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/build/host"
CC="${CC:-gcc}"
LD="${LD:-ld}"
OBJCOPY="${OBJCOPY:-objcopy}"
COMMON=(-m64 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding -fno-pic -fno-pie
  -mno-red-zone -mgeneral-regs-only -nostdlib -fcf-protection=none -fno-asynchronous-unwind-tables
  -fno-tree-loop-distribute-patterns -mcmodel=small -fno-builtin -I"$here/include" -I"$here/../include" -I"$here/../lib")
KFLAGS=("${COMMON[@]}" -fstack-protector-strong -mstack-protector-guard=tls
  -mstack-protector-guard-reg=gs -mstack-protector-guard-offset=40 -I"$here/kernel" -I"$here/kvm")
UFLAGS=("${COMMON[@]}" -fstack-protector-strong -I"$here/vmm")

if [[ "${1:-}" == clean ]]; then rm -rf "$out"; exit 0; fi
mkdir -p "$out/obj/kernel" "$out/obj/user"
deps=("$here/build.sh" "$here/../lib/opts.h" "$here/../lib/fmt.h" "$here"/include/*.h "$here"/kernel/*.h "$here"/kvm/*.h "$here"/vmm/*.h)

stale() {
  local t="$1" d
  shift
  [[ -f "$t" ]] || return 0
  for d in "$@"; do
    if [[ "$d" -nt "$t" ]]; then return 0; fi
  done
  return 1
}

objs=()
uobjs=()
# compile DIR SRC FLAGS...: into obj/DIR/<name>.o, written under a temporary name and renamed
compile() {
  local dir="$1" src="$2"
  shift 2
  local o="$out/obj/$dir/$(basename "${src%.*}").o"
  if stale "$o" "$src" "${deps[@]}"; then
    "$CC" "$@" -c "$src" -o "$o.$$"
    mv -f "$o.$$" "$o"
  fi
  if [[ "$dir" == user ]]; then uobjs+=("$o"); else objs+=("$o"); fi
}

for s in "$here"/kernel/*.[cS] "$here"/kvm/*.[cS] "$here/../lib/fmt.c" "$here/../lib/opts.c"; do compile kernel "$s" "${KFLAGS[@]}"; done
for s in "$here"/vmm/*.[cS] "$here/../lib/fmt.c" "$here/../lib/opts.c"; do compile user "$s" "${UFLAGS[@]}"; done

# The VMM is one relocatable object whose symbols are its own (it has its own printf, memcpy,
# ...), except the three the kernel needs to start it. host.ld places it at USER_BASE.
vmm="$out/obj/vmm-image.o"
if stale "$vmm" "${uobjs[@]}"; then
  "$LD" -m elf_x86_64 -r -o "$vmm.$$.r" "${uobjs[@]}"
  "$OBJCOPY" --keep-global-symbol=vmm_start --keep-global-symbol=vmm_stack_top \
    --keep-global-symbol=vmm_args "$vmm.$$.r" "$vmm.$$"
  rm -f "$vmm.$$.r"
  mv -f "$vmm.$$" "$vmm"
fi
objs+=("$vmm")

elf="$out/host.elf"
if stale "$elf" "${objs[@]}" "$here/host.ld"; then
  "$LD" -m elf_x86_64 -nostdlib -static -z max-page-size=0x1000 -T "$here/host.ld" \
    -o "$out/host.elf64.$$" "${objs[@]}"
  "$OBJCOPY" --strip-debug -O elf32-i386 "$out/host.elf64.$$" "$elf.$$"
  mv -f "$out/host.elf64.$$" "$out/host.elf64"
  mv -f "$elf.$$" "$elf"
fi
