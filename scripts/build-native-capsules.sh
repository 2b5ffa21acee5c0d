#!/usr/bin/env bash
# Builds capsules from capsules/ as native Linux executables (ordinary Swift, release, the Swift
# runtime linked statically so that only glibc from the host's /usr is needed inside the
# sandbox) and assembles each capsule directory capsules/native/<name>-native/ or
# capsules/native/<name>/: its capsule.json (type native, checked in) plus the binary
# (gitignored). Scratch path: capsules/.build-native.
# Usage: scripts/build-native-capsules.sh [product…]   (default: hello probe-native caller bench storage-provider shell chat)
set -euo pipefail
cd "$(dirname "$0")/.."

products=("$@")
[ ${#products[@]} -gt 0 ] || products=(hello probe-native caller bench storage-provider shell chat)
export ELASTOS_NATIVE_CAPSULES=1
build=(swift build --package-path capsules -c release --static-swift-stdlib --scratch-path capsules/.build-native
       --disable-build-manifest-caching)
for product in "${products[@]}"; do
  "${build[@]}" --product "$product"
done
bin=$("${build[@]}" --show-bin-path)
for product in "${products[@]}"; do
  native="capsules/native/$product"
  [ -f "$native/capsule.json" ] || native="capsules/native/$product-native"
  vm="capsules/microvm/${product%-native}-microvm"
  targets=()
  [ -f "$native/capsule.json" ] && targets+=("$native")
  [ -f "$vm/capsule.json" ] && targets+=("$vm")
  [ ${#targets[@]} -gt 0 ] || { echo "build-native-capsules: no capsules/native/$product[-native]/ or $vm/ with a capsule.json" >&2; exit 1; }
  for dir in "${targets[@]}"; do
    cp "$bin/$product" "$dir/$product.tmp"
    strip "$dir/$product.tmp" 2>/dev/null || true
    mv "$dir/$product.tmp" "$dir/$product"
    echo "build-native-capsules: $dir/$product ($(wc -c < "$dir/$product") bytes)"
  done
done
