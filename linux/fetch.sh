#!/usr/bin/env bash
# npm run linux: fetch Debian bookworm's newest Linux 6.1 cloud kernel and busybox-static into
# .cache/linux/ (git-ignored; kernel files are never committed), then build the initramfs images.
#
#   .cache/linux/vmlinuz       the bzImage (Linux/x86 boot protocol)
#   .cache/linux/System.map    its symbols
#   .cache/linux/vmlinux       the uncompressed ELF64 kernel (PVH entry), when the payload could
#                              be decompressed with the host's tools (xz, zstd, gzip, lzma, lz4)
#   .cache/linux/busybox       /bin/busybox from busybox-static
#   .cache/linux/VERSION       the package name and version used
# Then linux/build-initramfs.sh writes init.cpio (the project's /init) and busybox.cpio, and
# linux/kvm/build.sh builds kvm.ko + kvm-amd.ko per design into .cache/kvm.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=.cache/linux
mkdir -p "$CACHE/deb"

find_kernel() {
  apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' 2>/dev/null \
    | awk '{print $1}' | sort -V | tail -n 1
}
PKG=$(find_kernel)
if [ -z "$PKG" ]; then
  echo "linux: no linux-image-6.1.0-*-cloud-amd64 in the package lists; running apt-get update" >&2
  apt-get update -qq
  PKG=$(find_kernel)
fi
[ -n "$PKG" ] || { echo "linux: no bookworm cloud kernel package found" >&2; exit 1; }
# the signed package depends on nothing we need; its files are the same as the unsigned one's
if [ ! -f "$CACHE/VERSION" ] || ! grep -qx "$PKG" "$CACHE/VERSION"; then
  echo "linux: downloading $PKG" >&2
  rm -f "$CACHE"/deb/*.deb
  (cd "$CACHE/deb" && apt-get download -q "$PKG" busybox-static >&2)
  rm -rf "$CACHE/root"
  for d in "$CACHE"/deb/*.deb; do dpkg-deb -x "$d" "$CACHE/root"; done
  cp "$CACHE"/root/boot/vmlinuz-* "$CACHE/vmlinuz"
  cp "$CACHE"/root/boot/config-* "$CACHE/config"
  cp "$CACHE/root/bin/busybox" "$CACHE/busybox"
  rm -rf "$CACHE/root"
  echo "$PKG" > "$CACHE/VERSION"
  rm -f "$CACHE/System.map"
fi

# the image package's System.map is a placeholder: the real one is in the -dbg package (a 280 MB
# download); only that file is taken out of it
if [ ! -s "$CACHE/System.map" ] || [ "$(wc -l < "$CACHE/System.map")" -lt 1000 ]; then
  echo "linux: downloading $PKG-dbg for System.map" >&2
  (cd "$CACHE/deb" && apt-get download -q "$PKG-dbg" >&2)
  dpkg-deb --fsys-tarfile "$CACHE"/deb/"$PKG"-dbg_*.deb \
    | tar -xO --wildcards './usr/lib/debug/boot/System.map-*' > "$CACHE/System.map"
  rm -f "$CACHE"/deb/"$PKG"-dbg_*.deb
fi

# vmlinux: the bzImage's payload is the compressed ELF (boot protocol 2.08+: payload_offset at
# 0x248 and payload_length at 0x24c, relative to the protected-mode code at (setup_sects+1)*512)
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u8() { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
Z=$CACHE/vmlinuz
SETUP=$(u8 "$Z" $((0x1f1))); [ "$SETUP" = 0 ] && SETUP=4
POFF=$(( (SETUP + 1) * 512 + $(u32 "$Z" $((0x248))) ))
PLEN=$(u32 "$Z" $((0x24c)))
# the kernel appends the uncompressed size to the payload; decompressors may complain about it
# after writing everything, so their status is not trusted: the output must be an ELF file
tail -c +$((POFF + 1)) "$Z" | head -c "$PLEN" > "$CACHE/payload" || true
MAGIC=$(head -c 6 "$CACHE/payload" | od -An -t x1 | tr -d ' \n')
rm -f "$CACHE/vmlinux"
case "$MAGIC" in
  fd377a585a00*) TOOL=xz; xz -dc < "$CACHE/payload" > "$CACHE/vmlinux" 2>/dev/null || true ;;
  28b52ffd*)     TOOL=zstd; zstd -dcq < "$CACHE/payload" > "$CACHE/vmlinux" 2>/dev/null || true ;;
  1f8b*)         TOOL=gzip; gzip -dc < "$CACHE/payload" > "$CACHE/vmlinux" 2>/dev/null || true ;;
  5d0000*)       TOOL=lzma; xz -F lzma -dc < "$CACHE/payload" > "$CACHE/vmlinux" 2>/dev/null || true ;;
  02214c18*)     TOOL=lz4; lz4 -dc < "$CACHE/payload" > "$CACHE/vmlinux" 2>/dev/null || true ;;
  *) TOOL="unknown payload magic $MAGIC" ;;
esac
rm -f "$CACHE/payload"
if [ -s "$CACHE/vmlinux" ] && [ "$(head -c 4 "$CACHE/vmlinux" | od -An -t x1 | tr -d ' \n')" = 7f454c46 ]; then
  echo "linux: vmlinux decompressed with $TOOL" >&2
else
  rm -f "$CACHE/vmlinux"
  echo "linux: could not decompress the payload ($TOOL); no vmlinux (PVH) image" >&2
fi
echo "linux: $(cat "$CACHE/VERSION") in $CACHE" >&2
[ "${LINUX_NO_INITRAMFS:-}" = 1 ] || bash linux/build-initramfs.sh
# kvm.ko + kvm-amd.ko per design and mutant, from Debian's linux-source-6.1 (.cache/kvm)
[ "${LINUX_NO_KVM:-}" = 1 ] || bash linux/kvm/build.sh
# the real host: the VMM as /init, with every module set built (linux/vmm/build.sh)
[ "${LINUX_NO_INITRAMFS:-}" = 1 ] || bash linux/vmm/build.sh
