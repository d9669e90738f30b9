// When the load generator sends: the bounds of a run (count and/or duration) and the open-loop
// schedule, where request i is due at start + i/rate whatever happened to earlier requests, so a
// stalled server shows up as latency (measured from the due time) instead of as fewer requests.
#pragma once

#include <chrono>
#include <cstdint>

namespace revrouter::loadtest {

struct Plan {
  double rate = 0;                       // requests/s over all connections; 0: closed loop
  std::uint64_t count = 0;               // stop after this many requests; 0: no count bound
  std::chrono::nanoseconds duration{0};  // send no request due after this; 0: no time bound
};

// The intended send time of request `index` (0-based, over the whole run) after the start.
std::chrono::nanoseconds intended_offset(std::uint64_t index, double rate);

// How many requests an open-loop plan sends: those due before `duration`, at most `count`.
std::uint64_t open_loop_total(const Plan& plan);

// The requests of one worker thread: lane k of n takes requests k, k+n, k+2n, ... of `total`,
// so n workers together keep the whole run's schedule.
class OpenLoopLane {
 public:
  OpenLoopLane(double rate, std::uint64_t total, unsigned lane, unsigned lanes);

  bool done() const { return next_ >= total_; }
  std::uint64_t next_index() const { return next_; }
  std::chrono::nanoseconds next_offset() const { return intended_offset(next_, rate_); }
  void advance() { next_ += stride_; }

 private:
  double rate_;
  std::uint64_t total_;
  std::uint64_t next_;
  std::uint64_t stride_;
};

// Whether a closed-loop connection may start request number `index` (0-based) at `elapsed` after
// the start.
bool closed_loop_may_send(const Plan& plan, std::uint64_t index, std::chrono::nanoseconds elapsed);

// The hard deadline when none is given: the time the plan needs (its duration, or the open-loop
// schedule of `count` requests) plus the request timeout plus 5 s; a closed-loop run bounded by
// count alone gets 10 minutes.
std::chrono::nanoseconds default_deadline(const Plan& plan, std::chrono::nanoseconds timeout);

}  // namespace revrouter::loadtest
