#!/usr/bin/env bash
# Builds `elastos` in release mode and installs it into ~/.local/bin (or $PREFIX/bin), then
# builds the storage provider capsule and installs it into this node's capsule store (signed
# with this node's key: you built it), so `elastos node` serves localhost://storage/ from it,
# sandboxed, by default (docs/STORAGE.md). ELASTOS_HOME (or --home in the commands) picks the node.
# Usage: scripts/install.sh            then: elastos --version
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

# The storage provider capsule (a native capsule; the first build takes several minutes).
if [ "${ELASTOS_INSTALL_PROVIDERS:-1}" = 1 ]; then
  scripts/build-native-capsules.sh storage-provider
  "$PREFIX/bin/elastos" capsule install --dev capsules/native/storage-provider
fi
