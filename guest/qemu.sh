#!/usr/bin/env bash
# Runs one test kernel on QEMU TCG the way test/kernels.test.ts does:
#   guest/qemu.sh build/guest/paging.elf ["only=pf_*"]
# Exit status is QEMU's: 3 when the kernel reported all PASS, 7 on failures, 0 on shutdown.
set -uo pipefail
img="$1"
shift
args=()
if (( $# )); then args=(-append "$*"); fi
exec timeout "${QEMU_TIMEOUT:-60}" qemu-system-x86_64 -nodefaults -nographic -no-reboot \
  -cpu max,+svm -m 256M -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x4 \
  -kernel "$img" "${args[@]}"
