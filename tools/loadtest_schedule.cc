#include "tools/loadtest_schedule.h"

#include <cmath>

namespace revrouter::loadtest {

std::chrono::nanoseconds intended_offset(std::uint64_t index, double rate) {
  // long double keeps i * 1e9 exact well past any count a run can reach.
  const long double ns = static_cast<long double>(index) * 1e9L / static_cast<long double>(rate);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::uint64_t open_loop_total(const Plan& plan) {
  if (plan.rate <= 0) return 0;
  std::uint64_t total = plan.count;
  if (plan.duration.count() > 0) {
    // The first index due at or after `duration`: estimate, then settle the rounding either way.
    auto n = static_cast<std::uint64_t>(
        std::ceil(static_cast<long double>(plan.duration.count()) * plan.rate / 1e9L));
    while (n > 0 && intended_offset(n - 1, plan.rate) >= plan.duration) --n;
    while (intended_offset(n, plan.rate) < plan.duration) ++n;
    if (total == 0 || n < total) total = n;
  }
  return total;
}

OpenLoopLane::OpenLoopLane(double rate, std::uint64_t total, unsigned lane, unsigned lanes)
    : rate_(rate), total_(total), next_(lane), stride_(lanes == 0 ? 1 : lanes) {}

bool closed_loop_may_send(const Plan& plan, std::uint64_t index, std::chrono::nanoseconds elapsed) {
  if (plan.count != 0 && index >= plan.count) return false;
  if (plan.duration.count() != 0 && elapsed >= plan.duration) return false;
  return true;
}

std::chrono::nanoseconds default_deadline(const Plan& plan, std::chrono::nanoseconds timeout) {
  using std::chrono::seconds;
  std::chrono::nanoseconds needed{0};
  if (plan.rate > 0) {
    const std::uint64_t total = open_loop_total(plan);
    needed = total == 0 ? std::chrono::nanoseconds(0) : intended_offset(total - 1, plan.rate);
  } else if (plan.duration.count() > 0) {
    needed = plan.duration;
  } else {
    return std::chrono::minutes(10);
  }
  return needed + timeout + seconds(5);
}

}  // namespace revrouter::loadtest
