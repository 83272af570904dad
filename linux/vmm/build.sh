#!/usr/bin/env bash
# Builds the real host's /init + VMM (linux/vmm/vmm.c, freestanding: guest/lib's formatting and
# options, the mini host's guest programs) and writes .cache/linux/kvmhost.cpio: that /init,
# /kvm/irqbypass.ko and /kvm/<design>/{kvm,kvm-amd}.ko for every module pair in .cache/kvm/
# (linux/kvm/build.sh builds one per design and mutant) and /kvm/debian/ (Debian's own modules
# from the kernel image package, as shipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=.cache/linux
KVM=.cache/kvm
CC="${CC:-gcc}"
mkdir -p "$CACHE" "$KVM"
"$CC" -m64 -std=gnu11 -O2 -Wall -Wextra -Werror -static -nostdlib -ffreestanding -fno-pic -no-pie \
  -mgeneral-regs-only -mno-red-zone -fno-stack-protector -fcf-protection=none \
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wl,--build-id=none \
  -Iguest/lib -Ilinux/lib -Iguest/host/include -o "$CACHE/vmm" \
  linux/vmm/vmm.c guest/lib/io.c guest/lib/fmt.c guest/lib/opts.c guest/host/vmm/guests.S
# Debian's modules as shipped
deb=$(ls "$CACHE"/deb/linux-image-*.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || { echo "kvmhost: no kernel package in $CACHE/deb (run npm run linux)" >&2; exit 1; }
if [ ! -f "$KVM/debian/kvm-amd.ko" ] || [ "$deb" -nt "$KVM/debian/kvm-amd.ko" ]; then
  tmp=$(mktemp -d)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './lib/modules/*/kernel/arch/x86/kvm/kvm*.ko' \
    './lib/modules/*/kernel/virt/lib/irqbypass.ko'
  mkdir -p "$KVM/debian"
  cp "$tmp"/lib/modules/*/kernel/arch/x86/kvm/kvm.ko "$tmp"/lib/modules/*/kernel/arch/x86/kvm/kvm-amd.ko "$KVM/debian/"
  [ -f "$KVM/irqbypass.ko" ] || cp "$tmp"/lib/modules/*/kernel/virt/lib/irqbypass.ko "$KVM/irqbypass.ko"
  rm -rf "$tmp"
fi
[ -f dist/machine/cpio.js ] || npx tsc -p tsconfig.json
node linux/vmm/mkcpio.mjs "$CACHE/vmm" "$KVM" "$CACHE/kvmhost.cpio"
