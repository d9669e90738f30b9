#!/usr/bin/env bash
# Builds revrouter and server_tests under ThreadSanitizer (gcc) in build-tsan and runs the server
# tests, which start the real binary (also instrumented) and talk TLS to it. Any race report, in
# the test binary or in a server it started, fails the run; reports are kept in
# build-tsan/tsan-reports/. Docs: docs/hardening.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${TSAN_BUILD:-$root/build-tsan}
jobs=$(nproc)

# -Wno-tsan: gcc 12 warns that TSan does not model std::atomic_thread_fence, which Boost.Asio's
# fenced blocks use; Asio's handler hand-off also goes through mutexes TSan does see.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  -DREVROUTER_WERROR=ON -DREVROUTER_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target revrouter server_tests

reports=$build/tsan-reports
rm -rf "$reports"
mkdir -p "$reports"
# log_path: every instrumented process (the test binary and each server it starts) writes its
# reports to its own file, so a race inside a server a test killed is not lost with its stderr.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$reports/tsan suppressions=$root/scripts/tsan-suppressions.txt ${TSAN_OPTIONS:-}"

# The tests in $jobs shards side by side (each test starts its own server on a free port).
status=0
pids=()
for ((i = 0; i < jobs; i++)); do
  GTEST_TOTAL_SHARDS=$jobs GTEST_SHARD_INDEX=$i \
    "$build/tests/server_tests" --gtest_brief=1 ${TSAN_GTEST_FILTER:+--gtest_filter="$TSAN_GTEST_FILTER"} \
    >"$reports/shard-$i.log" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "tsan: shard $i failed:"
    tail -40 "$reports/shard-$i.log"
    status=1
  fi
done
if compgen -G "$reports/tsan*" >/dev/null; then
  echo "tsan: race reports (ThreadSanitizer):"
  for f in "$reports"/tsan*; do echo "== $f"; head -80 "$f"; done
  status=1
fi
[ $status -eq 0 ] && echo "tsan: server_tests passed with no race reports"
exit $status
