#!/usr/bin/env bash
# Builds capsules from capsules/ as native Linux executables (ordinary Swift, release, the Swift
# runtime linked statically so that only glibc from the host's /usr is needed inside the
# sandbox) and assembles each capsule directory capsules/native/<name>-native/ or
# capsules/native/<name>/: its capsule.json (type native, checked in) plus the binary
# (gitignored). Scratch path: capsules/.build-native.
# Usage: scripts/build-native-capsules.sh [product…]   (default: hello probe-native)
set -euo pipefail
cd "$(dirname "$0")/.."

products=("$@")
[ ${#products[@]} -gt 0 ] || products=(hello probe-native)
export ELASTOS_NATIVE_CAPSULES=1
build=(swift build --package-path capsules -c release --static-swift-stdlib --scratch-path capsules/.build-native
       --disable-build-manifest-caching)
for product in "${products[@]}"; do
  "${build[@]}" --product "$product"
done
bin=$("${build[@]}" --show-bin-path)
for product in "${products[@]}"; do
  dir="capsules/native/$product"
  [ -f "$dir/capsule.json" ] || dir="capsules/native/$product-native"
  [ -f "$dir/capsule.json" ] || { echo "build-native-capsules: no capsules/native/$product[-native]/capsule.json" >&2; exit 1; }
  cp "$bin/$product" "$dir/$product.tmp"
  strip "$dir/$product.tmp" 2>/dev/null || true
  mv "$dir/$product.tmp" "$dir/$product"
  echo "build-native-capsules: $dir/$product ($(wc -c < "$dir/$product") bytes)"
  vm="capsules/microvm/${product%-native}-microvm"
  if [ -f "$vm/capsule.json" ]; then
    cp "$dir/$product" "$vm/$product.tmp" && mv "$vm/$product.tmp" "$vm/$product"
    echo "build-native-capsules: $vm/$product"
  fi
done
