#!/usr/bin/env bash
# Gets the kernel microVM capsules boot (docs/MICROVM.md): Debian's linux-image-amd64, unpacked
# without installing it, its uncompressed vmlinux extracted (the PVH entry boots it directly, with
# no decompressor: ~5 s saved under TCG), and the few virtio/9p modules the guest init loads,
# in dependency order. Writes <dir>/{vmlinux,modules/*.ko,modules.order,release,SHA256SUMS};
# the runtime checks SHA256SUMS before it boots anything from there.
#
# Usage: scripts/get-microvm-kernel.sh [dir]
#   dir defaults to $ELASTOS_MICROVM_KERNEL, else ${XDG_CACHE_HOME:-~/.cache}/elastos/microvm/kernel
#   (the runtime looks there, and in <node home>/microvm/kernel first).
# Needs: apt-get, dpkg-deb, depmod (kmod), python3 or xz. No root: nothing is installed.
set -euo pipefail

dest=${1:-${ELASTOS_MICROVM_KERNEL:-${XDG_CACHE_HOME:-$HOME/.cache}/elastos/microvm/kernel}}
case "$(uname -m)" in
  x86_64) ;;
  *) echo "get-microvm-kernel: only x86_64 hosts are supported so far (this is $(uname -m)); see docs/MICROVM.md" >&2; exit 1 ;;
esac
for tool in apt-get dpkg-deb; do
  command -v "$tool" > /dev/null || { echo "get-microvm-kernel: $tool is missing (a Debian/Ubuntu host is needed)" >&2; exit 1; }
done
depmod=$(command -v depmod || echo /usr/sbin/depmod)
[ -x "$depmod" ] || depmod=/sbin/depmod
[ -x "$depmod" ] || { echo "get-microvm-kernel: depmod is missing: apt install kmod" >&2; exit 1; }

# The modules the guest init needs (their dependencies are added from modules.dep):
# virtio over MMIO (microvm's transport), virtio-serial/console (the channels, the TUI), 9p (shares).
wanted=(virtio_mmio virtio_console 9pnet_virtio 9p)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download -q linux-image-amd64 > /dev/null
meta=$(ls linux-image-amd64_*.deb)
package=$(dpkg-deb -f "$meta" Depends | grep -o 'linux-image-[0-9][^ ,(]*' | head -1)
[ -n "$package" ] || { echo "get-microvm-kernel: cannot tell which kernel $meta depends on" >&2; exit 1; }
apt-get download -q "$package" > /dev/null
dpkg-deb -x "$package"_*.deb root
release=$(ls root/lib/modules | head -1)
"$depmod" -b root "$release"
modroot=root/lib/modules/$release

# The bzImage's payload is XZ: the uncompressed ELF starts at the XZ magic.
vmlinuz=root/boot/vmlinuz-$release
if command -v python3 > /dev/null; then
  python3 - "$vmlinuz" vmlinux << 'EOF'
import lzma, sys
d = open(sys.argv[1], 'rb').read()
i = d.find(b'\xfd7zXZ\x00')
if i < 0: sys.exit("no XZ payload in " + sys.argv[1])
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(d[i:]))
EOF
else
  offset=$(grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((offset + 1)) "$vmlinuz" | xz -dc > vmlinux 2> /dev/null || true
fi
[ "$(head -c 4 vmlinux | od -An -c | tr -d ' ')" = "177ELF" ] || { echo "get-microvm-kernel: the extracted vmlinux is not an ELF file" >&2; exit 1; }

mkdir -p out/modules
order=()
add() {
  local line rel dep o
  line=$(grep -E "(^|/)$1\.ko:" "$modroot/modules.dep" | head -1)
  [ -n "$line" ] || { echo "get-microvm-kernel: module $1 is not in $release" >&2; exit 1; }
  rel=${line%%:*}
  for dep in ${line#*:}; do add "$(basename "$dep" .ko)"; done
  for o in "${order[@]}"; do [ "$o" = "$rel" ] && return 0; done
  order+=("$rel")
}
for m in "${wanted[@]}"; do add "$m"; done
for rel in "${order[@]}"; do
  cp "$modroot/$rel" out/modules/
  basename "$rel" >> out/modules.order
done
mv vmlinux out/vmlinux
echo "$release" > out/release
(cd out && sha256sum vmlinux modules.order release modules/*.ko > SHA256SUMS)

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new"
cp -r out "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "get-microvm-kernel: $dest ($release, vmlinux $(wc -c < "$dest/vmlinux") bytes, ${#order[@]} modules)"
