// The open-loop schedule and the run bounds: due times at fixed intervals from the start, the
// number of requests a plan sends, the lanes that split a schedule between threads, and the
// default hard deadline.
#include "tools/loadtest_schedule.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace revrouter::loadtest {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(LoadtestSchedule, IntendedOffsetIsIndexOverRate) {
  struct Case {
    const char* name;
    std::uint64_t index;
    double rate;
    std::int64_t ns;
  };
  for (const auto& c : std::vector<Case>{
           {"first_request_at_start", 0, 1000, 0},
           {"one_interval", 1, 1000, 1'000'000},
           {"whole_seconds", 5000, 1000, 5'000'000'000},
           {"fractional_rate", 1, 3, 333'333'333},  // rounded to the nearest ns
           {"fractional_rate_rounds_up", 2, 3, 666'666'667},
           {"fractional_rate_exact", 3, 3, 1'000'000'000},
           {"high_rate", 7, 1e6, 7'000},
           {"no_drift_after_a_billion", 1'000'000'000, 1e5, 10'000'000'000'000},
       }) {
    EXPECT_EQ(intended_offset(c.index, c.rate).count(), c.ns) << c.name;
  }
}

TEST(LoadtestSchedule, OpenLoopTotalIsTheRequestsDueWithinTheDurationCappedByCount) {
  struct Case {
    const char* name;
    Plan plan;
    std::uint64_t total;
  };
  for (const auto& c : std::vector<Case>{
           // Due at 0, 10ms, ..., 990ms: 100 requests before 1s; the one due at 1s is not.
           {"duration_excludes_its_end", {100, 0, seconds(1)}, 100},
           {"duration_just_past_a_due_time", {100, 0, milliseconds(1001)}, 101},
           {"count_only", {100, 250, nanoseconds(0)}, 250},
           {"count_smaller_than_duration", {100, 50, seconds(1)}, 50},
           {"duration_smaller_than_count", {100, 500, seconds(1)}, 100},
           {"fractional_rate", {3, 0, seconds(1)}, 3},  // 0, 333ms, 667ms
           {"short_duration_still_sends_the_first", {1, 0, milliseconds(1)}, 1},
           {"closed_loop_has_no_schedule", {0, 100, seconds(1)}, 0},
       }) {
    EXPECT_EQ(open_loop_total(c.plan), c.total) << c.name;
    // Whatever the total, it is exactly the requests due before the duration (and under count).
    if (c.plan.rate > 0 && c.plan.duration.count() > 0 && c.total > 0) {
      EXPECT_LT(intended_offset(c.total - 1, c.plan.rate), c.plan.duration) << c.name;
      if (c.plan.count == 0 || c.total < c.plan.count) {
        EXPECT_GE(intended_offset(c.total, c.plan.rate), c.plan.duration) << c.name;
      }
    }
  }
}

TEST(LoadtestSchedule, LanesSplitTheScheduleWithoutGapsOrOverlap) {
  for (const unsigned lanes : {1u, 2u, 3u, 7u}) {
    const std::uint64_t total = 100;
    std::multiset<std::uint64_t> seen;
    for (unsigned k = 0; k < lanes; ++k) {
      OpenLoopLane lane(250, total, k, lanes);
      nanoseconds previous{-1};
      for (; !lane.done(); lane.advance()) {
        seen.insert(lane.next_index());
        // Each lane's requests are in schedule order and keep the global due times.
        EXPECT_GT(lane.next_offset(), previous);
        EXPECT_EQ(lane.next_offset(), intended_offset(lane.next_index(), 250));
        previous = lane.next_offset();
      }
    }
    ASSERT_EQ(seen.size(), total) << lanes << " lanes";
    std::uint64_t want = 0;
    for (const auto i : seen) EXPECT_EQ(i, want++) << lanes << " lanes";
  }
}

TEST(LoadtestSchedule, ClosedLoopBounds) {
  struct Case {
    const char* name;
    Plan plan;
    std::uint64_t index;
    nanoseconds elapsed;
    bool may_send;
  };
  for (const auto& c : std::vector<Case>{
           {"within_count", {0, 10, nanoseconds(0)}, 9, seconds(100), true},
           {"count_reached", {0, 10, nanoseconds(0)}, 10, seconds(0), false},
           {"within_duration", {0, 0, seconds(5)}, 1'000'000, milliseconds(4999), true},
           {"duration_over", {0, 0, seconds(5)}, 0, seconds(5), false},
           {"both_count_first", {0, 3, seconds(5)}, 3, seconds(1), false},
           {"both_duration_first", {0, 300, seconds(5)}, 3, seconds(6), false},
       }) {
    EXPECT_EQ(closed_loop_may_send(c.plan, c.index, c.elapsed), c.may_send) << c.name;
  }
}

TEST(LoadtestSchedule, DefaultDeadlineIsWhatThePlanNeedsPlusTimeoutAndGrace) {
  struct Case {
    const char* name;
    Plan plan;
    nanoseconds deadline;
  };
  const nanoseconds timeout = seconds(10);
  for (const auto& c : std::vector<Case>{
           {"closed_duration", {0, 0, seconds(30)}, seconds(45)},
           {"closed_count_only", {0, 1000, nanoseconds(0)}, std::chrono::minutes(10)},
           // 300 requests at 100/s: the last is due at 2.99s.
           {"open_count", {100, 300, nanoseconds(0)}, milliseconds(2990) + seconds(15)},
           {"open_duration", {100, 0, seconds(2)}, milliseconds(1990) + seconds(15)},
       }) {
    EXPECT_EQ(default_deadline(c.plan, timeout), c.deadline) << c.name;
  }
}

}  // namespace
}  // namespace revrouter::loadtest
