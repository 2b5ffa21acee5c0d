#!/usr/bin/env bash
# Builds `elastos` in release mode and installs it into ~/.local/bin (or $PREFIX/bin), then
# builds the storage provider, shell and chat capsules and installs them into this node's
# capsule store (signed with this node's key: you built them), so `elastos node` serves
# localhost://storage/ and decides capability requests from sandboxes by default
# (docs/STORAGE.md, docs/POLICY.md) and `elastos chat` works (docs/CHAT.md).
# ELASTOS_HOME (or --home in the commands) picks the node.
# Usage: scripts/install.sh            then: elastos chat --nick <name>
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-$HOME/.local}"
command -v swift >/dev/null || { echo "install.sh: swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
swift build -c release --product elastos
mkdir -p "$PREFIX/bin"
install -m 0755 "$(swift build -c release --show-bin-path)/elastos" "$PREFIX/bin/elastos"
echo "installed $PREFIX/bin/elastos"
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on your PATH; add it, e.g. export PATH=\"$PREFIX/bin:\$PATH\"" >&2 ;;
esac
command -v bwrap >/dev/null || echo "note: native capsules run only inside bubblewrap, which is missing: apt install bubblewrap" >&2

# The storage provider and shell capsules (native capsules; the first build takes several
# minutes), so that `elastos node` serves storage and decides capability requests from sandboxes.
if [ "${ELASTOS_INSTALL_CAPSULES:-1}" = 1 ]; then
  scripts/build-native-capsules.sh storage-provider shell chat
  "$PREFIX/bin/elastos" capsule install --dev capsules/native/storage-provider
  "$PREFIX/bin/elastos" capsule install --dev capsules/native/shell
  "$PREFIX/bin/elastos" capsule install --dev capsules/native/chat
  # The same chat binary in a microVM (`elastos chat --capsule chat-microvm`; needs QEMU and the
  # kernel from scripts/get-microvm-kernel.sh to run, docs/MICROVM.md).
  "$PREFIX/bin/elastos" capsule install --dev capsules/microvm/chat-microvm
  # The WASM build of chat (`elastos chat --wasm`) needs Debian's wasi-libc and wasm32
  # builtins, which build-capsules.sh installs when it can (root or sudo).
  if scripts/build-capsules.sh chat; then
    "$PREFIX/bin/elastos" capsule install --dev capsules/chat-wasm
  else
    echo "note: the WASM chat capsule was not built (see above); \`elastos chat\` uses the native one" >&2
  fi
fi
