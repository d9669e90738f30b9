// The latency histogram against an exact reference: percentiles of random latencies (fixed seeds,
// several distributions) versus the nearest-rank value of the sorted samples.
#include "tools/loadtest_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace revrouter::loadtest {
namespace {

// Nearest rank with the percentile in thousandths (999 is p99.9), in integers: exact.
std::uint64_t reference(const std::vector<std::uint64_t>& sorted, std::uint64_t per_mille) {
  const std::uint64_t n = sorted.size();
  std::uint64_t rank = (per_mille * n + 999) / 1000;  // ceil(per_mille/1000 * n)
  rank = std::clamp<std::uint64_t>(rank, 1, n);
  return sorted[rank - 1];
}

struct Distribution {
  const char* name;
  std::vector<std::uint64_t> (*make)(std::mt19937_64& rng, std::size_t n);
};

std::vector<std::uint64_t> lognormal(std::mt19937_64& rng, std::size_t n) {
  // Around 1 ms with a long tail, like webhook latencies.
  std::lognormal_distribution<double> d(std::log(1e6), 0.8);
  std::vector<std::uint64_t> v(n);
  for (auto& x : v) x = static_cast<std::uint64_t>(d(rng));
  return v;
}

std::vector<std::uint64_t> uniform_wide(std::mt19937_64& rng, std::size_t n) {
  // Every bucket scale from ns to tens of seconds: exponent uniform, then mantissa uniform.
  std::uniform_real_distribution<double> e(0, 34);
  std::vector<std::uint64_t> v(n);
  for (auto& x : v) x = static_cast<std::uint64_t>(std::exp2(e(rng)));
  return v;
}

std::vector<std::uint64_t> bimodal(std::mt19937_64& rng, std::size_t n) {
  // 99% fast (~300 us), 1% stalled (~200 ms): the tail percentiles sit in the second mode.
  std::normal_distribution<double> fast(300e3, 40e3), slow(200e6, 30e6);
  std::bernoulli_distribution stalled(0.01);
  std::vector<std::uint64_t> v(n);
  for (auto& x : v)
    x = static_cast<std::uint64_t>(std::max(1.0, stalled(rng) ? slow(rng) : fast(rng)));
  return v;
}

std::vector<std::uint64_t> small_values(std::mt19937_64& rng, std::size_t n) {
  // Below 256: every value has its own bucket, so percentiles are exact.
  std::uniform_int_distribution<std::uint64_t> d(0, 255);
  std::vector<std::uint64_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(LoadtestHistogram, PercentilesMatchASortedReferenceWithinOnePercent) {
  const std::vector<std::uint64_t> per_milles = {1, 100, 500, 900, 990, 999, 1000};
  const std::vector<Distribution> distributions = {
      {"lognormal", lognormal},
      {"uniform_wide", uniform_wide},
      {"bimodal", bimodal},
      {"small_values", small_values},
  };
  for (const auto& dist : distributions) {
    for (const std::size_t n : {1u, 7u, 1000u, 100'003u}) {
      std::mt19937_64 rng(20241125 + n);
      std::vector<std::uint64_t> values = dist.make(rng, n);
      LatencyHistogram h;
      for (const auto v : values) h.record(v);
      std::sort(values.begin(), values.end());
      ASSERT_EQ(h.count(), n);
      EXPECT_EQ(h.min(), values.front()) << dist.name;
      EXPECT_EQ(h.max(), values.back()) << dist.name;
      for (const auto pm : per_milles) {
        const std::uint64_t want = reference(values, pm);
        const std::uint64_t got = h.value_at_percentile(static_cast<double>(pm) / 10.0);
        const std::string where =
            std::string(dist.name) + " n=" + std::to_string(n) + " p=" + std::to_string(pm / 10.0);
        // Reported as the top of the value's bucket: never below it, at most 1/128 above.
        EXPECT_GE(got, want) << where;
        EXPECT_LE(got, want + want / 128) << where;
        if (want < 2 * LatencyHistogram::kSubBuckets) {
          EXPECT_EQ(got, want) << where;
        }
      }
    }
  }
}

TEST(LoadtestHistogram, BucketsTileTheRangeWithBoundedWidth) {
  // Consecutive buckets are adjacent, each value lands in the bucket whose bounds hold it, and a
  // bucket is never wider than 1/128 of its lowest value (above the exact range).
  for (std::size_t i = 0; i + 1 < LatencyHistogram::bucket_count(); ++i) {
    const std::uint64_t lo = LatencyHistogram::bucket_lowest(i);
    const std::uint64_t hi = LatencyHistogram::bucket_highest(i);
    ASSERT_LE(lo, hi) << i;
    ASSERT_EQ(LatencyHistogram::bucket_lowest(i + 1), hi + 1) << i;
    ASSERT_EQ(LatencyHistogram::bucket_index(lo), i);
    ASSERT_EQ(LatencyHistogram::bucket_index(hi), i);
    if (lo >= 2 * LatencyHistogram::kSubBuckets) {
      ASSERT_LE(hi - lo + 1, lo / 128) << i;
    }
  }
  EXPECT_EQ(LatencyHistogram::bucket_highest(LatencyHistogram::bucket_count() - 1),
            LatencyHistogram::kMaxValue);
}

TEST(LoadtestHistogram, ValuesBeyondTheRangeAreClamped) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  EXPECT_EQ(h.max(), LatencyHistogram::kMaxValue);
  EXPECT_EQ(h.value_at_percentile(100), LatencyHistogram::kMaxValue);
}

TEST(LoadtestHistogram, CorrectionMatchesAReferenceOnTheSamples) {
  // The reference applies HdrHistogram's recordValueWithExpectedInterval to the exact samples; the
  // histogram applies it to bucket values, so each synthetic sample may be off by the width of its
  // source's bucket (1/128 of the largest sample) on top of the usual 1/128.
  std::mt19937_64 rng(11);
  const std::vector<std::uint64_t> values = bimodal(rng, 20'000);
  for (const std::uint64_t interval : {5'000'000ULL, 50'000'000ULL, 1'000'000'000ULL}) {
    LatencyHistogram h;
    std::vector<std::uint64_t> ref;
    for (const auto v : values) {
      h.record(v);
      ref.push_back(v);
      for (std::uint64_t m = v - std::min(v, interval); m >= interval; m -= interval) {
        ref.push_back(m);
      }
    }
    const LatencyHistogram c = h.corrected(interval);
    std::sort(ref.begin(), ref.end());
    // Rounding a sample up to its bucket's top can add one synthetic sample, never remove one.
    const auto long_samples = static_cast<std::uint64_t>(
        std::count_if(values.begin(), values.end(), [&](auto v) { return v >= interval; }));
    ASSERT_GE(c.count(), ref.size()) << interval;
    ASSERT_LE(c.count(), ref.size() + long_samples) << interval;
    EXPECT_EQ(c.max(), ref.back());
    const std::uint64_t slack = ref.back() / 128 + 1;
    for (const std::uint64_t pm : {500u, 900u, 990u, 999u}) {
      const std::uint64_t want = reference(ref, pm);
      const std::uint64_t got = c.value_at_percentile(pm / 10.0);
      EXPECT_LE(got, want + want / 128 + slack) << interval << " p" << pm / 10.0;
      EXPECT_GE(got + slack, want) << interval << " p" << pm / 10.0;
    }
  }
  // No interval, or none shorter than the samples: nothing is added.
  LatencyHistogram h;
  h.record(1000);
  EXPECT_EQ(h.corrected(0).count(), 1u);
  EXPECT_EQ(h.corrected(600).count(), 1u);  // 1000 - 600 = 400 < 600
  EXPECT_EQ(h.corrected(400).count(), 2u);  // adds 600 (then 200 < 400 stops)
}

TEST(LoadtestHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(7);
  const auto a = lognormal(rng, 5000);
  const auto b = bimodal(rng, 3000);
  LatencyHistogram ha, hb, all;
  for (auto v : a) ha.record(v), all.record(v);
  for (auto v : b) hb.record(v), all.record(v);
  ha.merge(hb);
  EXPECT_EQ(ha.count(), all.count());
  EXPECT_EQ(ha.min(), all.min());
  EXPECT_EQ(ha.max(), all.max());
  EXPECT_DOUBLE_EQ(ha.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(ha.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
}

TEST(LoadtestHistogram, EmptyAndCleared) {
  LatencyHistogram h;
  EXPECT_EQ(h.value_at_percentile(99), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  h.record(1234);
  EXPECT_EQ(h.value_at_percentile(50), 1234u);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
}

}  // namespace
}  // namespace revrouter::loadtest
