#!/usr/bin/env bash
# Builds the project's /init (linux/init/init.c, freestanding, no SSE) and writes
# .cache/linux/init.cpio (that /init alone) and .cache/linux/busybox.cpio (busybox-static and a
# shell /init) with the project's cpio writer (src/machine/cpio.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=.cache/linux
mkdir -p "$CACHE"
CC="${CC:-gcc}"
"$CC" -m64 -std=gnu11 -O2 -Wall -Wextra -Werror -static -nostdlib -ffreestanding -fno-pic -no-pie \
  -mgeneral-regs-only -mno-red-zone -fno-stack-protector -fcf-protection=none \
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wl,--build-id=none \
  -Iguest/lib -Ilinux/lib -o "$CACHE/init" linux/init/init.c guest/lib/io.c guest/lib/fmt.c
[ -f dist/machine/cpio.js ] || npx tsc -p tsconfig.json
[ -f "$CACHE/busybox" ] || { echo "linux: $CACHE/busybox is missing (run npm run linux)" >&2; exit 1; }
node linux/mkcpio.mjs "$CACHE/init" "$CACHE/busybox" "$CACHE"
echo "linux: wrote $CACHE/init.cpio and $CACHE/busybox.cpio" >&2
