#include "tools/loadtest_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace revrouter::loadtest {

namespace {

// The power-of-two "exponent" of a bucket: 0 for values below 2 * kSubBuckets (exact buckets),
// else how far the value must be shifted right to leave kSubBucketBits + 1 significant bits.
unsigned shift_of(std::uint64_t value) {
  constexpr unsigned kBits = LatencyHistogram::kSubBucketBits;
  const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(value | 1));
  return msb > kBits ? msb - kBits : 0;
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(bucket_count(), 0) {}

std::size_t LatencyHistogram::bucket_index(std::uint64_t value) {
  value = std::min(value, kMaxValue);
  const unsigned shift = shift_of(value);
  return static_cast<std::size_t>(shift * kSubBuckets + (value >> shift));
}

std::uint64_t LatencyHistogram::bucket_lowest(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::uint64_t shift = index / kSubBuckets - 1;
  return (index - shift * kSubBuckets) << shift;
}

std::uint64_t LatencyHistogram::bucket_highest(std::size_t index) {
  if (index < kSubBuckets) return index;
  const std::uint64_t shift = index / kSubBuckets - 1;
  return bucket_lowest(index) + (std::uint64_t{1} << shift) - 1;
}

std::size_t LatencyHistogram::bucket_count() { return bucket_index(kMaxValue) + 1; }

void LatencyHistogram::record(std::uint64_t value, std::uint64_t times) {
  if (times == 0) return;
  value = std::min(value, kMaxValue);
  counts_[bucket_index(value)] += times;
  count_ += times;
  sum_ += value * times;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

LatencyHistogram LatencyHistogram::corrected(std::uint64_t interval) const {
  LatencyHistogram out = *this;
  if (interval == 0) return out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const std::uint64_t value = std::min(bucket_highest(i), max_);
    for (std::uint64_t missing = value - std::min(value, interval); missing >= interval;
         missing -= interval) {
      out.record(missing, counts_[i]);
    }
  }
  return out;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the wanted value among the sorted values, 1-based (nearest-rank definition). The
  // factor keeps a product that is an integer in exact arithmetic (99.9% of 1000) from rounding up
  // past it in floating point.
  const double exact = percentile / 100.0 * static_cast<double>(count_);
  auto rank = static_cast<std::uint64_t>(std::ceil(exact * (1.0 - 1e-12)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_highest(i), max_);
  }
  return max_;
}

}  // namespace revrouter::loadtest
