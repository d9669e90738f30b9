// The load generator's latency histogram: log-linear buckets (as HdrHistogram lays them out) over
// nanoseconds, 128 linear sub-buckets per power of two, so any recorded value is reported within
// 1/128 (< 0.8%) above its true value. Fixed memory, O(1) record, mergeable across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace revrouter::loadtest {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 7;  // 2^7 = 128 linear steps per power of two
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  // Values above this (~18 minutes in ns) are recorded as this; far beyond any request deadline.
  static constexpr std::uint64_t kMaxValue = (std::uint64_t{1} << 40) - 1;

  LatencyHistogram();

  void record(std::uint64_t value, std::uint64_t times = 1);
  void merge(const LatencyHistogram& other);
  void clear();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }  // exact
  std::uint64_t max() const { return max_; }                    // exact
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The value at `percentile` (0..100]: the smallest recorded value v such that at least
  // ceil(percentile/100 * count) values are <= v, reported as the highest value of v's bucket
  // (never above max()): the true value t satisfies t <= result <= t + t/128. 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const;

  // HdrHistogram's correction for coordinated omission in a closed loop (what wrk applies to its
  // figures): a value v stands also for the requests its stall kept the connection from sending,
  // added as v - k * interval for k = 1, 2, ... while that is at least `interval`. `interval` is
  // the expected time between requests on one connection (run time / (requests / connections)).
  // Each bucket contributes its highest value (as percentiles report it). A 0 interval: a copy.
  LatencyHistogram corrected(std::uint64_t interval) const;

  // Bucket layout, public for tests: values below 2 * kSubBuckets have a bucket each; above,
  // each power of two [2^k, 2^(k+1)) is split into kSubBuckets equal buckets.
  static std::size_t bucket_index(std::uint64_t value);
  static std::uint64_t bucket_lowest(std::size_t index);
  static std::uint64_t bucket_highest(std::size_t index);
  static std::size_t bucket_count();

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;  // ns; 2^64 ns is 584 years of summed latency
};

}  // namespace revrouter::loadtest
