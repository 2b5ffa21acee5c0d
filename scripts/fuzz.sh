#!/usr/bin/env bash
# Coverage-guided fuzzing of the trusted core's parsers (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh [seconds-per-target]        (default 30)
#
# Builds the package in Fuzz/ (its own .build, separate from the main package's) with
# `--sanitize=fuzzer --sanitize=address` (and `-Xswiftc -sanitize=fuzzer,address`, see Build),
# runs every fuzz target for that many seconds on a copy of its seed corpus in a temporary
# directory (so the repository's corpus never grows), and fails if any target reports a crash, a
# broken property, a leak, a timeout or running out of memory. Known failing inputs in
# Fuzz/FailCases/<target>/ are replayed first. Inputs that fail are kept in
# fuzz-artifacts/<target>/ (ignored by git), with the target's full log.
#
# Environment:
#   FUZZ_TARGETS   space-separated subset of targets to run (default: all fifteen)
#   FUZZ_CONFIG    release (default) or debug; release falls back to debug if it will not build
#   FUZZ_ARGS      extra libFuzzer flags for every run, e.g. "-jobs=2" or "-seed=1"
#   FUZZ_KEEP      set to keep the temporary corpora and logs (their path is printed)
set -uo pipefail

SECONDS_PER_TARGET="${1:-30}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -lt 1 ]; then
  echo "usage: $0 [seconds-per-target]   (a positive whole number; default 30)" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/Fuzz"
ALL_TARGETS=(FuzzTokenBinary FuzzTokenText FuzzResource FuzzIdentifiers FuzzAuditLine FuzzUnixFS
             FuzzCapsuleFrame FuzzCapsuleManifest FuzzCapsulePackage FuzzShellWire FuzzCarrierWire FuzzRelayWire FuzzDNSMessage
             FuzzPeerWire FuzzChatWire FuzzDIDWire)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-${ALL_TARGETS[*]}}"
CONFIG="${FUZZ_CONFIG:-release}"

# The toolchain: swift on PATH, or the one installed at /opt/swift.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "fuzz.sh: no swift toolchain found (looked on PATH and in /opt/swift/usr/bin)" >&2
  exit 2
fi
SWIFT_BIN_DIR="$(dirname "$(command -v swift)")"

# Symbolised stack traces in reports; libFuzzer's own crash handler, not the Swift backtracer.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in "$SWIFT_BIN_DIR/llvm-symbolizer" "$(command -v llvm-symbolizer 2>/dev/null || true)"; do
    if [ -n "$s" ] && [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH="$s"; break; fi
  done
fi
export SWIFT_BACKTRACE="enable=no"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/elastos-fuzz.XXXXXX")"
cleanup() { if [ -z "${FUZZ_KEEP:-}" ]; then rm -rf "$WORK"; else echo "fuzz.sh: kept $WORK"; fi; }
trap cleanup EXIT

cd "$FUZZ"

# ---- Build -----------------------------------------------------------------------------------
# SwiftPM passes the two sanitizers to swiftc as separate `-sanitize=` flags, in no fixed order
# (both orders have been seen), and swiftc keeps only the last one: Swift code was built either
# without coverage (libFuzzer fuzzing blind) or without ASan. `-sanitize=fuzzer,address`
# at the end of every swiftc command line gives it both. The libFuzzer and ASan runtimes are the
# same either way; C code (BoringSSL) already gets both from clang.
SANITIZE=(--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)

# One `swift build` for the whole package: building the products one by one re-plans the build and
# has been seen to recompile everything (BoringSSL included) a second time.
build_all() {
  local config="$1"
  # A first, nearly empty build (FuzzSupport has no dependencies) settles SwiftPM's build plan;
  # without it the first two full builds in a fresh .build both compile everything.
  swift build -c "$config" "${SANITIZE[@]}" --target FuzzSupport >>"$WORK/build-$config.log" 2>&1 || return 1
  echo "  swift build -c $config ${SANITIZE[*]}"
  swift build -c "$config" "${SANITIZE[@]}" >>"$WORK/build-$config.log" 2>&1
}

echo "== building fuzz targets ($CONFIG, ASan + libFuzzer) in Fuzz/.build"
build_start=$(date +%s)
if ! swift package resolve >"$WORK/resolve.log" 2>&1; then
  cat "$WORK/resolve.log" >&2
  echo "fuzz.sh: could not resolve the Fuzz package's dependencies" >&2
  echo "0 passed, ${#TARGETS[@]} failed"
  exit 1
fi
if ! build_all "$CONFIG"; then
  if [ "$CONFIG" = release ]; then
    echo "fuzz.sh: the release build failed; last lines:" >&2
    tail -n 30 "$WORK/build-release.log" >&2
    echo "fuzz.sh: falling back to a debug build" >&2
    CONFIG=debug
    if ! build_all debug; then
      tail -n 40 "$WORK/build-debug.log" >&2
      echo "fuzz.sh: the fuzz targets do not build" >&2
      echo "0 passed, ${#TARGETS[@]} failed"
      exit 1
    fi
  else
    tail -n 40 "$WORK/build-$CONFIG.log" >&2
    echo "fuzz.sh: the fuzz targets do not build" >&2
    echo "0 passed, ${#TARGETS[@]} failed"
    exit 1
  fi
fi
build_secs=$(( $(date +%s) - build_start ))
BIN_DIR="$(swift build -c "$CONFIG" "${SANITIZE[@]}" --show-bin-path 2>/dev/null)"
echo "== build took ${build_secs}s; binaries in ${BIN_DIR#"$ROOT"/}"
# The Swift code must carry both coverage counters and ASan checks (see SANITIZE above).
probe="$BIN_DIR/FuzzSupport.build/FuzzSupport.swift.o"
if command -v nm >/dev/null 2>&1 && [ -f "$probe" ]; then
  undefined="$(nm -u "$probe" 2>/dev/null)"
  if ! grep -q '__sanitizer_cov' <<<"$undefined" || ! grep -q '__asan' <<<"$undefined"; then
    echo "fuzz.sh: Swift code was built without libFuzzer coverage or without ASan ($probe)" >&2
    echo "0 passed, ${#TARGETS[@]} failed"
    exit 1
  fi
fi

# ---- Run -------------------------------------------------------------------------------------
passed=0
failed=0
summary=()
run_start=$(date +%s)
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t"
  artifacts="$ROOT/fuzz-artifacts/$t"
  log="$WORK/$t.log"
  mkdir -p "$corpus" "$artifacts"
  if [ -d "$FUZZ/Corpus/$t" ]; then cp -R "$FUZZ/Corpus/$t/." "$corpus/"; fi
  seeds=$(find "$corpus" -type f | wc -l | tr -d ' ')
  args=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 -rss_limit_mb=4096
        -max_len=8192 -artifact_prefix="$artifacts/")
  if [ -f "$FUZZ/Dictionaries/$t.dict" ]; then args+=(-dict="$FUZZ/Dictionaries/$t.dict"); fi
  # shellcheck disable=SC2206
  if [ -n "${FUZZ_ARGS:-}" ]; then args+=(${FUZZ_ARGS}); fi

  echo "== $t: ${SECONDS_PER_TARGET}s on $seeds seeds"
  if [ ! -x "$BIN_DIR/$t" ]; then
    echo "   FAIL: $BIN_DIR/$t was not built"
    failed=$((failed + 1)); summary+=("$t: FAIL (not built)"); continue
  fi
  # Inputs that once failed (Fuzz/FailCases/<target>/) are replayed first, each exactly once.
  rc=0
  : >"$log"
  if [ -d "$FUZZ/FailCases/$t" ] && [ -n "$(ls -A "$FUZZ/FailCases/$t")" ]; then
    echo "   replaying $(ls -A "$FUZZ/FailCases/$t" | wc -l | tr -d ' ') input(s) from Fuzz/FailCases/$t"
    "$BIN_DIR/$t" -artifact_prefix="$artifacts/" "$FUZZ/FailCases/$t"/* >>"$log" 2>&1 || rc=$?
  fi
  if [ "$rc" -eq 0 ]; then
    "$BIN_DIR/$t" "${args[@]}" "$corpus" >>"$log" 2>&1
    rc=$?
  fi

  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
  if [ -z "$execs" ]; then execs=$(grep -o '^Done [0-9]* runs' "$log" | tail -n 1 | grep -o '[0-9]*' || true); fi
  final=$(find "$corpus" -type f | wc -l | tr -d ' ')
  problem=$(grep -m 1 -E '^==[0-9]+==ERROR|ERROR: libFuzzer|==== FUZZ PROPERTY FAILED|LeakSanitizer|SUMMARY: (Address|Leak)Sanitizer' "$log" || true)

  if [ "$rc" -eq 0 ] && [ -z "$problem" ]; then
    passed=$((passed + 1))
    line="$t: ok, ${execs:-?} execs (${rate:-?}/s), corpus $seeds -> $final"
    echo "   $line"
  else
    failed=$((failed + 1))
    line="$t: FAIL (exit $rc), ${execs:-0} execs"
    cp "$log" "$artifacts/$t.log"
    echo "   $line"
    echo "   ---- report (full log: ${artifacts#"$ROOT"/}/$t.log) ----"
    # The property message or sanitizer report, its stack, and the saved input.
    awk '/==== FUZZ PROPERTY FAILED|==[0-9]+==ERROR|ERROR: libFuzzer|LeakSanitizer/ {on=1} on {print "   " $0}' "$log" | head -n 120
    saved=$(grep -o "Test unit written to [^ ]*" "$log" | sed 's/Test unit written to //' || true)
    if [ -n "$saved" ]; then
      echo "   input saved to: ${saved#"$ROOT"/}   (reproduce: $BIN_DIR/$t $saved)"
    fi
    echo "   ----"
  fi
  summary+=("$line")
done
run_secs=$(( $(date +%s) - run_start ))

echo
echo "== fuzzing summary (${SECONDS_PER_TARGET}s per target, build ${build_secs}s, runs ${run_secs}s)"
for s in "${summary[@]}"; do echo "   $s"; done
rmdir "$ROOT"/fuzz-artifacts/* 2>/dev/null || true
rmdir "$ROOT/fuzz-artifacts" 2>/dev/null || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
