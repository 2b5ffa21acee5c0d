#!/usr/bin/env bash
# Builds the Swift capsules in capsules/ (Embedded Swift, wasm32-unknown-none-wasm, release) and
# copies each <name>.wasm into capsules/<name>/, next to its capsule.json. Installs Debian's
# wasi-libc (crt1, libc, malloc) and libclang-rt-dev-wasm32 (compiler builtins) first if they
# are missing. Usage: scripts/build-capsules.sh [name…]   (default: every capsule)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -f /usr/lib/wasm32-wasi/crt1-command.o ] || missing+=(wasi-libc)
compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" > /dev/null || missing+=(libclang-rt-dev-wasm32)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-capsules: installing ${missing[*]} (apt)" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo > /dev/null; then sudo=(sudo); else
    echo "build-capsules: ${missing[*]} missing and not root: apt-get install -y ${missing[*]}" >&2; exit 1
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
fi

swiftc=$(command -v swiftc) || { echo "build-capsules: swiftc is not on PATH" >&2; exit 1; }
# The toolchain's usr/ (above the bin/ that holds the real swiftc): capsules/Package.swift links
# its Embedded Swift Unicode tables for wasm32.
ELASTOS_SWIFT_TOOLCHAIN="$(dirname "$(dirname "$(readlink -f "$swiftc")")")"
export ELASTOS_SWIFT_TOOLCHAIN
# Makes the root package compile CapsuleWire and ElastosGuest as Embedded Swift.
export ELASTOS_EMBEDDED_WASM=1

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(hello intruder bench caller chat)
# (No build-manifest caching: SwiftPM would not notice new source files in the root package.)
build=(swift build --package-path capsules --triple wasm32-unknown-none-wasm -c release --disable-build-manifest-caching)
# A product's capsule directory is capsules/<name>/, or capsules/<name>-wasm/ when the same
# sources also build a native capsule of that name (chat).
dir_of() { if [ -f "capsules/$1/capsule.json" ]; then echo "capsules/$1"; else echo "capsules/$1-wasm"; fi; }
for name in "${names[@]}"; do
  [ -f "$(dir_of "$name")/capsule.json" ] || { echo "build-capsules: capsules/$name/capsule.json not found" >&2; exit 1; }
  "${build[@]}" --product "$name"   # one product at a time: building all would build the host-only targets too
done
bin=$("${build[@]}" --show-bin-path)
for name in "${names[@]}"; do
  dir=$(dir_of "$name")
  cp "$bin/$name.wasm" "$dir/$name.wasm.tmp"
  mv "$dir/$name.wasm.tmp" "$dir/$name.wasm"
  echo "build-capsules: $dir/$name.wasm ($(wc -c < "$dir/$name.wasm") bytes)"
done
