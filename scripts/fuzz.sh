#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang under ASan+UBSan in build-fuzz and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus, FUZZ_JOBS targets at a time (default: 2).
# Exits non-zero on the first crash, leak, timeout or OOM and prints the reproducer's path.
# Long runs and reproducing a crash: docs/hardening.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# clang and its runtime libraries (libFuzzer is in libclang-rt-14-dev); not in scripts/deps.sh
# because only this script needs them.
pkgs=(clang-14 libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${FUZZ_BUILD:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
targets=(${FUZZ_TARGETS:-fuzz_admission_review fuzz_config fuzz_patch_builder fuzz_json_reader fuzz_upstream_answer})
# Reviews with large pods run to tens of KiB; 64 KiB covers every seed with room to grow.
max_len=${FUZZ_MAX_LEN:-65536}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -gline-tables-only -fsanitize-ignorelist=$root/fuzz/sanitizer_ignorelist.txt" \
  -DREVROUTER_SANITIZE=ON -DREVROUTER_WERROR=ON -DREVROUTER_FUZZ=ON \
  -DREVROUTER_TESTS=OFF -DREVROUTER_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

out=$build/fuzz-out
run_one() {
  local t=$1
  local corpus=$out/$t/corpus artifacts=$out/$t/artifacts/
  mkdir -p "$corpus" "$artifacts"
  local dict=()
  case $t in
    fuzz_admission_review | fuzz_patch_builder | fuzz_upstream_answer) dict=(-dict="$root/fuzz/review.dict") ;;
  esac
  # New inputs go to the scratch corpus (first directory); the seeds in the repo are read only.
  if "$build/fuzz/$t" "$corpus" "$root/fuzz/corpus/$t" "${dict[@]}" \
      -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb="$rss_limit" -timeout=10 \
      -artifact_prefix="$artifacts" -print_final_stats=1 >"$out/$t.log" 2>&1; then
    echo "fuzz: $t: ok ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$out/$t.log" |
      awk '{print $2}') runs in ${seconds}s)"
  else
    echo "fuzz: $t: FAILED; log: $out/$t.log"
    grep -E 'ERROR|invariant|SUMMARY' "$out/$t.log" | head -5 || true
    for f in "$artifacts"*; do
      [ -e "$f" ] && echo "fuzz: reproducer: $f  (rerun: $build/fuzz/$t $f)"
    done
    return 1
  fi
}

mkdir -p "$out"
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
