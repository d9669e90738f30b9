// What `revrouter loadtest` prints: the once-a-second progress line, and the final report (run
// settings, requests, achieved rate, latency percentiles, errors by class) as text for people or
// one JSON document for scripts. Pure functions: figures in, text out.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tools/loadtest_histogram.h"
#include "tools/loadtest_response.h"
#include "tools/loadtest_schedule.h"

namespace revrouter::loadtest {

// The percentiles every report gives, in this order.
inline constexpr double kPercentiles[] = {50, 90, 99, 99.9};

struct Settings {
  std::string url;
  unsigned connections = 0;
  unsigned threads = 0;
  bool busy_poll = false;
  Plan plan;  // rate 0: closed loop
  std::chrono::nanoseconds timeout{0};
  std::chrono::nanoseconds deadline{0};
  std::size_t bodies = 0;   // distinct request bodies
  std::string body_source;  // "built-in" or the inputs
  Check check = Check::kFull;
};

struct Report {
  Settings settings;
  Counters counters;
  LatencyHistogram latency;             // every request that got an HTTP answer, ok or not
  std::chrono::nanoseconds elapsed{0};  // start to the last answer
  bool hit_deadline = false;            // the hard deadline cut the run short
  bool interrupted = false;             // stopped by SIGINT/SIGTERM
};

// Achieved rate: completed requests per second of `elapsed`.
double achieved_rate(const Counters& counters, std::chrono::nanoseconds elapsed);

// Closed loop only: the expected time between requests on one connection (elapsed / (answers /
// connections)), the interval wrk corrects its figures with (LatencyHistogram::corrected);
// nullopt for an open loop or fewer answers than connections.
std::optional<std::uint64_t> closed_loop_interval(const Report& report);

// "850us", "1.23ms", "2.50s": three significant digits.
std::string format_latency(std::uint64_t ns);

// One progress line (no newline): elapsed, requests, the last second's rate, p99 so far, errors.
std::string progress_line(std::chrono::nanoseconds elapsed, std::uint64_t completed,
                          double interval_rate, std::uint64_t p99_ns, std::uint64_t errors);

std::string render_text(const Report& report);
nlohmann::ordered_json render_json(const Report& report);

}  // namespace revrouter::loadtest
