#!/usr/bin/env bash
# The README's test command: installs the Debian packages, builds everything once with -Werror
# under ASan+UBSan, and runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${REVROUTER_TEST_BUILD:-build/test}
jobs=$(nproc)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DREVROUTER_WERROR=ON -DREVROUTER_SANITIZE=ON
cmake --build "$build" -j"$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 300
# A 30 s soak on the binary just built (ASan: bench/soak.sh shrinks the quarantine so that its
# VmRSS check means something; see bench/README.md), at a fixed rate the sanitized build sustains.
if [ "${CI:-}" = true ] || [ "${REVROUTER_SOAK_CI:-}" = 1 ]; then
  REVROUTER_BIN="$build/tools/revrouter" bash bench/soak.sh --duration 30s --warmup 6s \
    --rate "${REVROUTER_SOAK_RATE:-1000}"
fi
if [ "${CI:-}" = true ] || [ "${REVROUTER_FUZZ_CI:-}" = 1 ]; then bash scripts/fuzz.sh; fi
if [ "${CI:-}" = true ] || [ "${REVROUTER_TSAN_CI:-}" = 1 ]; then bash scripts/tsan.sh; fi
