#!/usr/bin/env bash
# npm run kvm (also the last step of npm run linux): kvm.ko + kvm-amd.ko from Debian's own
# linux-source-6.1, one pair per host-state design (linux/designs/*.patch) and per mutant
# (linux/mutants/*.patch, applied on top of the design its header names), built out of tree
# against Debian's headers for the kernel in .cache/linux/VERSION.
#
#   bash linux/kvm/build.sh [names...]     (no names: every design and mutant)
#
# Output (git-ignored):
#   .cache/kvm/irqbypass.ko               Debian's own module, signature removed
#   .cache/kvm/<name>/kvm.ko              debug info stripped (like Debian's INSTALL_MOD_STRIP),
#   .cache/kvm/<name>/kvm-amd.ko          unsigned; the kernel loads them and taints (O, E)
#   .cache/kvm/<name>/inputs.sha256       hash of every input, written last
#   .cache/kvm/shared/kvm.ko              the kvm.ko of the unpatched source: a variant whose patch
#                                         does not change kvm.ko links to it
#   .cache/kvm/build/                     debs extracted, the pristine built tree, logs
#
# Inputs hashed: the package version, the compiler's version line, this script, the design's
# patch and the mutant's patch. A rerun with nothing changed builds nothing. The pristine tree is
# built once; each variant is built in a copy of it (timestamps kept), so only the files its
# patch touches are compiled again.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
LCACHE=.cache/linux
OUT=.cache/kvm
B=$OUT/build
DEB=$LCACHE/deb
JOBS=${KVM_JOBS:-2}

die() { echo "kvm: $*" >&2; exit 1; }
say() { echo "kvm: $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ -s "$LCACHE/VERSION" ] || die "$LCACHE/VERSION is missing: run npm run linux first"
IMAGE=$(head -n 1 "$LCACHE/VERSION")                    # linux-image-6.1.0-57-cloud-amd64
KREL=${IMAGE#linux-image-}                             # 6.1.0-57-cloud-amd64
ABI=${KREL%-cloud-amd64}                               # 6.1.0-57
case "$ABI" in 6.1.0-*) ;; *) die "unexpected kernel package $IMAGE" ;; esac

# the image's version, from its .deb (fetch.sh keeps it), else from the package lists
IMAGE_DEB=$(ls "$DEB/${IMAGE}"_*_amd64.deb 2>/dev/null | head -n 1 || true)
if [ -n "$IMAGE_DEB" ]; then
  VER=$(dpkg-deb -f "$IMAGE_DEB" Version)
else
  VER=$(apt-cache show "$IMAGE" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1)
fi
[ -n "$VER" ] || die "cannot tell the version of $IMAGE"

PKGS="linux-source-6.1 linux-headers-$ABI-cloud-amd64 linux-headers-$ABI-common linux-kbuild-6.1"
[ -n "$IMAGE_DEB" ] || PKGS="$PKGS $IMAGE"
deb_of() { ls "$DEB/$1_${VER}"_*.deb 2>/dev/null | head -n 1; }

# ---- which variants, and their inputs hash ----
CC_LINE=$(gcc-12 --version 2>/dev/null | head -n 1) || die "gcc-12 is missing (Debian builds 6.1 with it)"
SCRIPT_SUM=$(sha256sum "$0" | cut -d' ' -f1)
BASE_SUM=$(printf 'version %s\nkernel %s\ncc %s\nscript %s\n' "$VER" "$KREL" "$CC_LINE" "$SCRIPT_SUM" | sha256sum | cut -d' ' -f1)

ALL=()
for p in linux/designs/*.patch linux/mutants/*.patch; do [ -f "$p" ] && ALL+=("$(basename "$p" .patch)"); done
NAMES=("$@"); [ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL[@]}")

patch_of() {
  if [ -f "linux/designs/$1.patch" ]; then echo "linux/designs/$1.patch"
  elif [ -f "linux/mutants/$1.patch" ]; then echo "linux/mutants/$1.patch"
  else die "no linux/designs/$1.patch or linux/mutants/$1.patch"; fi
}
# a patch's header is the text before its first diff; a mutant names its design there
header_of() { sed -n '/^\(---\|diff \)/q;p' "$1"; }
base_of() {
  local b; b=$(header_of "$1" | sed -n 's/^Base: *\([a-z0-9-]*\).*/\1/p' | head -n 1)
  [ -n "$b" ] || die "$1: no 'Base: <design>' line in its header"
  [ -f "linux/designs/$b.patch" ] || die "$1: base design $b has no linux/designs/$b.patch"
  echo "$b"
}
# the patches applied for a variant, in order
chain_of() {
  local p; p=$(patch_of "$1")
  case "$p" in linux/mutants/*) echo "linux/designs/$(base_of "$p").patch $p" ;; *) echo "$p" ;; esac
}
sum_of() {
  { echo "$BASE_SUM"; for p in $(chain_of "$1"); do echo "$p"; cat "$p"; done; } | sha256sum | cut -d' ' -f1
}

TODO=()
for n in "${NAMES[@]}"; do
  s=$(sum_of "$n")
  if [ -s "$OUT/$n/kvm.ko" ] && [ -s "$OUT/$n/kvm-amd.ko" ] && [ -s "$OUT/irqbypass.ko" ] \
     && [ "$(cat "$OUT/$n/inputs.sha256" 2>/dev/null)" = "$s" ]; then continue; fi
  TODO+=("$n")
done
if [ ${#TODO[@]} -eq 0 ]; then
  echo "kvm: ${#NAMES[@]} variants up to date for $KREL ($VER); nothing built" >&2
  exit 0
fi
T0=$(now)

# ---- packages ----
mkdir -p "$DEB" "$B"
missing=()
for p in $PKGS; do [ -n "$(deb_of "$p")" ] || missing+=("$p=$VER"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "downloading ${missing[*]}"
  if ! (cd "$DEB" && apt-get download -q "${missing[@]}" >&2); then
    say "apt-get download failed; running apt-get update"
    apt-get update -qq
    (cd "$DEB" && apt-get download -q "${missing[@]}" >&2) || die "cannot download ${missing[*]}"
  fi
fi
[ -n "$IMAGE_DEB" ] || IMAGE_DEB=$(deb_of "$IMAGE")

H=$ROOT/$B/root/usr/src/linux-headers-$KREL
W=$ROOT/$B/work          # every build runs here: kbuild's .cmd files name this path
P=$ROOT/$B/pristine      # the unpatched source, built

vermagic_of() { objcopy -O binary --only-section=.modinfo "$1" /dev/stdout | tr '\0' '\n' | sed -n 's/^vermagic=//p'; }
SIG_MAGIC='~Module signature appended~'
signed() { [ "$(tail -c 28 "$1" | head -c 27 | tr -d '\0')" = "$SIG_MAGIC" ]; }

# ---- the base: headers, source, the pristine build (once per BASE_SUM) ----
if [ "$(cat "$B/base.sha256" 2>/dev/null)" != "$BASE_SUM" ] || [ ! -f "$P/arch/x86/kvm/kvm-amd.ko" ]; then
  rm -rf "$B/root" "$B/src" "$P" "$W" "$B/base.sha256" "$B/vermagic"
  say "extracting headers, kbuild and arch/x86/kvm + virt/kvm from linux-source-6.1 $VER"
  for p in "linux-headers-$ABI-cloud-amd64" "linux-headers-$ABI-common" linux-kbuild-6.1; do
    dpkg-deb -x "$(deb_of "$p")" "$B/root"
  done
  # the headers' Makefile includes the common one by its installed (absolute) path
  echo "include $ROOT/$B/root/usr/src/linux-headers-$ABI-common/Makefile" > "$H/Makefile"
  mkdir -p "$B/src"
  dpkg-deb --fsys-tarfile "$(deb_of linux-source-6.1)" | tar -xO ./usr/src/linux-source-6.1.tar.xz \
    | xz -dc -T2 | tar -x -C "$B/src" --strip-components=1 \
      'linux-source-6.1/arch/x86/kvm' 'linux-source-6.1/virt/kvm' 'linux-source-6.1/virt/lib/irqbypass.c'
  # Out-of-tree adaptations of arch/x86/kvm/Makefile: $(srctree) is the headers tree, which has
  # no arch/x86/kvm or virt/kvm, so both are found from $(src); trace.h includes itself as
  # TRACE_INCLUDE_PATH ../../arch/x86/kvm, found from an (empty) include/trace next to arch/;
  # kvm-intel is not built (its sources stay: kvm-asm-offsets.c includes vmx/vmx.h).
  mk=$B/src/arch/x86/kvm/Makefile
  sed -i -e 's|^ccflags-y += -I $(srctree)/arch/x86/kvm$|ccflags-y += -I $(src) -I $(src)/../../../include/trace|' \
    -e 's|^include $(srctree)/virt/kvm/Makefile.kvm$|include $(src)/../../../virt/kvm/Makefile.kvm|' \
    -e '/^obj-$(CONFIG_KVM_INTEL)/d' "$mk"
  grep -q 'I $(src) -I' "$mk" && grep -q '^include $(src)/' "$mk" && ! grep -q 'CONFIG_KVM_INTEL)' "$mk" \
    || die "arch/x86/kvm/Makefile changed shape; adapt linux/kvm/build.sh"
  mkdir -p "$B/src/include/trace"
  # vermagic of Debian's own kvm.ko: ours must match it
  dpkg-deb --fsys-tarfile "$IMAGE_DEB" | tar -xO "./lib/modules/$KREL/kernel/arch/x86/kvm/kvm.ko" > "$B/debian-kvm.ko"
  vermagic_of "$B/debian-kvm.ko" > "$B/vermagic"; rm -f "$B/debian-kvm.ko"
  [ -s "$B/vermagic" ] || die "no vermagic in Debian's kvm.ko"

  say "building the pristine tree (make -j$JOBS)"
  t=$(now)
  cp -a "$B/src" "$W"
  make -C "$H" M="$W/arch/x86/kvm" -j"$JOBS" modules > "$B/pristine.log" 2>&1 \
    || { tail -n 30 "$B/pristine.log" >&2; die "pristine build failed (log: $B/pristine.log)"; }
  mv "$W" "$P"
  echo "$BASE_SUM" > "$B/base.sha256"
  say "pristine tree built in $(secs "$t" "$(now)") s"
fi
VERMAGIC=$(cat "$B/vermagic")
# written on every run: the include names the cache by its absolute path, so a cache moved to
# another directory (or another clone) still builds
echo "include $ROOT/$B/root/usr/src/linux-headers-$ABI-common/Makefile" > "$H/Makefile"

# ---- irqbypass.ko: Debian's, unsigned ----
unsign() {   # module_signature (12 bytes, sig_len big-endian at its end) + signature + magic
  local f=$1 size len
  signed "$f" || return 0
  size=$(stat -c %s "$f")
  len=$(tail -c 32 "$f" | head -c 4 | od -An -t u1 | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
  truncate -s $((size - 28 - 12 - len)) "$f"
  signed "$f" && die "$f: still signed"
  [ "$(head -c 4 "$f" | od -An -t x1 | tr -d ' ')" = 7f454c46 ] || die "$f: not ELF after unsigning"
}
if [ ! -s "$OUT/irqbypass.ko" ]; then
  dpkg-deb --fsys-tarfile "$IMAGE_DEB" | tar -xO "./lib/modules/$KREL/kernel/virt/lib/irqbypass.ko" > "$OUT/irqbypass.ko.tmp"
  unsign "$OUT/irqbypass.ko.tmp"
  mv "$OUT/irqbypass.ko.tmp" "$OUT/irqbypass.ko"
fi

# one output module: debug info stripped, checked
emit() {   # built.ko dest.ko
  strip --strip-debug -o "$2.tmp" "$1"
  signed "$2.tmp" && die "$1 is signed"
  [ "$(vermagic_of "$2.tmp")" = "$VERMAGIC" ] || die "$1: vermagic '$(vermagic_of "$2.tmp")' is not '$VERMAGIC'"
  mv "$2.tmp" "$2"
}
mkdir -p "$OUT/shared"
emit "$P/arch/x86/kvm/kvm.ko" "$OUT/shared/kvm.ko"

# ---- the variants ----
apply_chain() {   # name dir
  local p
  for p in $(chain_of "$1"); do
    # a design may be its header alone (vmload: Debian's 6.1 as shipped)
    grep -q '^--- ' "$p" || continue
    patch -d "$2" -p1 --fuzz=0 --no-backup-if-mismatch -s < "$p" > "$B/patch.log" 2>&1 \
      || { cat "$B/patch.log" >&2; die "$p does not apply to linux-source-6.1 $VER"; }
  done
}
mkdir -p "$B/logs"
for n in "${TODO[@]}"; do
  t=$(now)
  rm -rf "$W"; cp -a "$P" "$W"
  apply_chain "$n" "$W"
  make -C "$H" M="$W/arch/x86/kvm" -j"$JOBS" modules > "$B/logs/$n.log" 2>&1 \
    || { grep -E 'error|Error|Stop\.' "$B/logs/$n.log" | head -n 20 >&2 || tail -n 20 "$B/logs/$n.log" >&2
         die "$n: build failed (log: $B/logs/$n.log)"; }
  rm -rf "${OUT:?}/$n"; mkdir -p "$OUT/$n"
  if cmp -s "$W/arch/x86/kvm/kvm.ko" "$P/arch/x86/kvm/kvm.ko"; then
    ln "$OUT/shared/kvm.ko" "$OUT/$n/kvm.ko"; kvm_note="kvm.ko shared"
  else
    emit "$W/arch/x86/kvm/kvm.ko" "$OUT/$n/kvm.ko"; kvm_note="kvm.ko rebuilt"
  fi
  emit "$W/arch/x86/kvm/kvm-amd.ko" "$OUT/$n/kvm-amd.ko"
  rebuilt=$(grep -cE '^ +(CC|AS) \[M\]' "$B/logs/$n.log" || true)
  sum_of "$n" > "$OUT/$n/inputs.sha256"
  say "$n: $rebuilt files compiled, $kvm_note, $(secs "$t" "$(now)") s"
done
rm -rf "$W"
say "built ${#TODO[@]} of ${#NAMES[@]} variants in $(secs "$T0" "$(now)") s"
