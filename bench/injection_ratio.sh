#!/usr/bin/env bash
# Runs bench_injection (Release) and prints, per pod size, the hot path's and the Istio-style
# baseline's CPU time per request, their allocations, and the ratio hot path / baseline; then the
# check of an istiod answer (proxy backend) against its RapidJSON baseline.
#
#   bench/injection_ratio.sh [path/to/bench_injection]
#
# Without an argument it builds build-bench/ (Release) first. REPS=<n> sets the repetitions
# (default 5; the median is reported). The figures are informational: nothing here fails on them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
  cmake -S "$root" -B "$root/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$root/build-bench" -j2 bench_injection >/dev/null
  bin="$root/build-bench/bench/bench_injection"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" --benchmark_repetitions="${REPS:-5}" --benchmark_report_aggregates_only=true \
  --benchmark_out="$out" --benchmark_out_format=json >/dev/null 2>&1
python3 - "$out" <<'PY'
import json, sys

doc = json.load(open(sys.argv[1]))
scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
rows = {}
base64 = {}
for b in doc["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    if "error_occurred" in b and b["error_occurred"]:
        sys.exit(f"{b['name']}: {b.get('error_message')}")
    kind = b["run_name"].split("/")[0].removeprefix("BM_")
    if kind.startswith("Base64"):
        base64[kind] = b.get("bytes_per_second", 0.0) / 1e9
        continue
    size = b["label"]
    rows.setdefault(size, {})[kind] = {
        "us": b["cpu_time"] * scale[b["time_unit"]],
        "allocs": b.get("allocs/op", 0.0),
        "bytes": b.get("review_bytes", 0.0),
        "mbps": b.get("bytes_per_second", 0.0) / 1e6,
    }

ctx = doc["context"]
load = ", ".join(f"{x:.1f}" for x in ctx.get("load_avg", []))
print(f"bench_injection: {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
      f"load average {load or '?'}; median CPU time per request")
print(f"{'size':8} {'review':>8} {'hot path':>10} {'MB/s':>7} {'allocs':>7} {'baseline':>10} "
      f"{'MB/s':>7} {'allocs':>8} {'hot/base':>9} {'speedup':>8} {'patch only':>11}")
targets = []
for size in ("small", "typical", "large"):
    r = rows.get(size)
    if not r or "HotPath" not in r or "Baseline" not in r:
        continue
    hot, base = r["HotPath"], r["Baseline"]
    ratio = hot["us"] / base["us"]
    patch = r.get("PatchOnly", {}).get("us", float("nan"))
    print(f"{size:8} {hot['bytes']/1024:7.1f}K {hot['us']:8.2f}us {hot['mbps']:7.0f} "
          f"{hot['allocs']:7.1f} {base['us']:8.1f}us {base['mbps']:7.1f} {base['allocs']:8.0f} "
          f"{ratio:9.4f} {1/ratio:7.1f}x {patch:9.2f}us")
    targets.append((f"{size}: hot path >= 10x faster than baseline", 1 / ratio >= 10))
    if size == "typical":
        targets.append(("typical: hot path <= 15 us per request", hot["us"] <= 15))
    if size == "large":
        targets.append(("large (1,500 env): hot path <= 1 ms per request", hot["us"] <= 1000))
if "Base64<true>" in base64 and "Base64<false>" in base64:
    ours, per_char = base64["Base64<true>"], base64["Base64<false>"]
    print(f"base64 (12 KiB): append_base64 {ours:.2f} GB/s, per-character {per_char:.2f} GB/s, "
          f"{ours / per_char:.2f}x")
for size in ("small", "typical", "large"):
    r = rows.get(size, {})
    if "UpstreamAnswer<true>" in r and "UpstreamAnswer<false>" in r:
        new, old = r["UpstreamAnswer<true>"]["us"], r["UpstreamAnswer<false>"]["us"]
        print(f"istiod answer check ({size}): JsonReader {new:.2f}us, RapidJSON baseline "
              f"{old:.2f}us, {old / new:.2f}x")
print()
for what, ok in targets:
    print(f"  [{'met' if ok else 'MISSED'}] {what}")
PY
