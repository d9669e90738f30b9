// The report scripts read (--output json: every key, its type, the figures it carries) and the
// one people read (text), from a report built in the test.
#include "tools/loadtest_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace revrouter::loadtest {
namespace {

using ojson = nlohmann::ordered_json;
using std::chrono::milliseconds;
using std::chrono::seconds;

Report sample_report(bool open_loop) {
  Report r;
  r.settings.url = "https://127.0.0.1:15017/inject/ns-injection/enabled?timeout=10s";
  r.settings.connections = 16;
  r.settings.threads = 2;
  r.settings.plan = open_loop ? Plan{500, 0, seconds(10)} : Plan{0, 0, seconds(10)};
  r.settings.timeout = seconds(10);
  r.settings.deadline = seconds(25);
  r.settings.bodies = 1;
  r.settings.body_source = "built-in";
  // 1000 answers: 1..1000 us, so p50 = 500 us, p90 = 900 us, p99 = 990 us, p99.9 = 999 us.
  for (std::uint64_t us = 1; us <= 1000; ++us) r.latency.record(us * 1000);
  r.counters.issued = 1004;
  r.counters.completed = 1000;
  r.counters.ok = 996;
  r.counters.completed -= 4;  // record_error counts its own completions
  r.counters.record_error(ErrorClass::kHttpStatus, "HTTP 503: overloaded", 503);
  r.counters.record_error(ErrorClass::kHttpStatus, "HTTP 500: oops", 500);
  r.counters.record_error(ErrorClass::kDenied, "denied: policy");
  r.counters.record_error(ErrorClass::kTimeout, "no answer within 10s");
  r.elapsed = milliseconds(2000);
  return r;
}

TEST(LoadtestReportJson, ShapeAndFigures) {
  const ojson j = render_json(sample_report(/*open_loop=*/true));
  // Every key scripts may rely on, in order, with its type.
  const std::vector<std::pair<const char*, ojson::value_t>> keys = {
      {"url", ojson::value_t::string},
      {"mode", ojson::value_t::string},
      {"connections", ojson::value_t::number_unsigned},
      {"threads", ojson::value_t::number_unsigned},
      {"busyPoll", ojson::value_t::boolean},
      {"targetRate", ojson::value_t::number_float},
      {"durationSeconds", ojson::value_t::number_float},
      {"count", ojson::value_t::null},
      {"timeoutSeconds", ojson::value_t::number_float},
      {"deadlineSeconds", ojson::value_t::number_float},
      {"bodies", ojson::value_t::number_unsigned},
      {"check", ojson::value_t::string},
      {"elapsedSeconds", ojson::value_t::number_float},
      {"requests", ojson::value_t::object},
      {"rate", ojson::value_t::number_float},
      {"latencyMs", ojson::value_t::object},
      {"latencyMsCorrected", ojson::value_t::null},  // open loop: nothing to correct
      {"errors", ojson::value_t::object},
      {"httpStatusErrors", ojson::value_t::object},
      {"errorSamples", ojson::value_t::object},
      {"hitDeadline", ojson::value_t::boolean},
      {"interrupted", ojson::value_t::boolean},
  };
  ASSERT_EQ(j.size(), keys.size()) << j.dump(2);
  std::size_t i = 0;
  for (const auto& [key, value] : j.items()) {
    EXPECT_EQ(key, keys[i].first);
    EXPECT_EQ(value.type(), keys[i].second) << key;
    ++i;
  }
  EXPECT_EQ(j["mode"], "open-loop");
  EXPECT_EQ(j["check"], "full");
  EXPECT_EQ(j["targetRate"], 500.0);
  EXPECT_EQ(j["requests"], ojson::parse(R"({"issued":1004,"completed":1000,"ok":996,"errors":4})"));
  EXPECT_DOUBLE_EQ(j["rate"].get<double>(), 500.0);  // 1000 completed in 2 s
  EXPECT_DOUBLE_EQ(j["elapsedSeconds"].get<double>(), 2.0);

  const ojson& lat = j["latencyMs"];
  std::vector<std::string> lat_keys;
  for (const auto& [k, v] : lat.items()) lat_keys.push_back(k);
  EXPECT_EQ(lat_keys, (std::vector<std::string>{"answers", "min", "mean", "p50", "p90", "p99",
                                                "p99.9", "max"}));
  EXPECT_EQ(lat["answers"], 1000);
  // Within the histogram's 1/128 of the exact nearest-rank values (ms).
  for (const auto& [k, exact] : std::vector<std::pair<const char*, double>>{{"min", 0.001},
                                                                            {"p50", 0.5},
                                                                            {"p90", 0.9},
                                                                            {"p99", 0.99},
                                                                            {"p99.9", 0.999},
                                                                            {"max", 1.0}}) {
    EXPECT_GE(lat[k].get<double>(), exact) << k;
    EXPECT_LE(lat[k].get<double>(), exact * (1 + 1.0 / 128) + 0.001) << k;
  }
  EXPECT_NEAR(lat["mean"].get<double>(), 0.5005, 0.001);

  EXPECT_EQ(j["errors"], ojson::parse(R"({"connect":0,"tls":0,"timeout":1,"http_status":2,
                                          "bad_response":0,"uid_mismatch":0,"denied":1})"));
  EXPECT_EQ(j["httpStatusErrors"], ojson::parse(R"({"500":1,"503":1})"));
  EXPECT_EQ(j["errorSamples"], ojson::parse(R"({"timeout":"no answer within 10s",
                                                "http_status":"HTTP 503: overloaded",
                                                "denied":"denied: policy"})"));
}

TEST(LoadtestReportJson, ClosedLoopHasNoTargetRateAndCorrectedFigures) {
  const Report r = sample_report(/*open_loop=*/false);
  const ojson j = render_json(r);
  EXPECT_EQ(j["mode"], "closed-loop");
  EXPECT_TRUE(j["targetRate"].is_null());
  // 1000 answers on 16 connections in 2 s: one request per connection every 32 ms. The samples
  // (1..1000 us) are all shorter than that, so the correction adds nothing.
  ASSERT_TRUE(j["latencyMsCorrected"].is_object());
  const ojson& c = j["latencyMsCorrected"];
  std::vector<std::string> keys;
  for (const auto& [k, v] : c.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"samples", "min", "mean", "p50", "p90", "p99", "p99.9",
                                            "max", "intervalMs"}));
  EXPECT_DOUBLE_EQ(c["intervalMs"].get<double>(), 32.0);
  EXPECT_EQ(c["samples"], 1000);
  EXPECT_EQ(c["p99"], j["latencyMs"]["p99"]);
}

TEST(LoadtestReport, ClosedLoopCorrectionAddsTheRequestsAStallHeldBack) {
  Report r = sample_report(/*open_loop=*/false);
  r.settings.connections = 1;
  r.latency.clear();
  // One connection, 10 ms per request on average over 1 s; one answer took 55 ms: it stands for
  // 4 more requests that would have waited 45, 35, 25 and 15 ms.
  for (int i = 0; i < 99; ++i) r.latency.record(1'000'000);
  r.latency.record(55'000'000);
  r.elapsed = seconds(1);
  const auto interval = closed_loop_interval(r);
  ASSERT_TRUE(interval.has_value());
  EXPECT_EQ(*interval, 10'000'000u);
  const ojson c = render_json(r)["latencyMsCorrected"];
  EXPECT_EQ(c["samples"], 104);
  EXPECT_NE(render_text(r).find("(as wrk reports a closed loop: +4 samples for requests stalls "
                                "held back, interval 10.0ms)"),
            std::string::npos)
      << render_text(r);
  r.settings.plan.rate = 100;  // open loop: latency is already counted from the due time
  EXPECT_FALSE(closed_loop_interval(r).has_value());
  EXPECT_EQ(render_text(r).find("Corrected:"), std::string::npos);
}

TEST(LoadtestReportText, Lines) {
  const Report r = sample_report(/*open_loop=*/true);
  const std::string text = render_text(r);
  // The percentiles as the histogram reports them (its accuracy is loadtest_histogram_test's).
  const auto at = [&](double p) { return format_latency(r.latency.value_at_percentile(p)); };
  const std::string latency = "Latency:   p50 " + at(50) + "  p90 " + at(90) + "  p99 " + at(99) +
                              "  p99.9 " + at(99.9) + "  max 1.00ms";
  for (const std::string& want : std::vector<std::string>{
           "revrouter loadtest: https://127.0.0.1:15017/inject/ns-injection/enabled?timeout=10s "
           "(open loop at 500 req/s, 16 connections, 2 threads, 10.0s)\n",
           "Requests:  1000 in 2.00s: 996 ok, 4 errors (4 unfinished)\n",
           "Rate:      500.0 req/s (target 500 req/s)\n",
           latency,
           "from each request's scheduled time",
           "Errors:    timeout 1 http_status 2 (500: 1, 503: 1) denied 1\n",
           "  first http_status: HTTP 503: overloaded\n",
       }) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << text;
  }
}

TEST(LoadtestReportText, NoErrorsNoAnswers) {
  Report r;
  r.settings.url = "https://x";
  r.settings.connections = 1;
  r.settings.threads = 1;
  r.settings.plan = {0, 5, std::chrono::nanoseconds(0)};
  const std::string text = render_text(r);
  EXPECT_NE(text.find("(closed loop, 1 connection, 1 thread, at most 5 requests)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Latency:   no answers\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Errors:    none\n"), std::string::npos) << text;
}

TEST(LoadtestFormatLatency, ThreeSignificantDigits) {
  struct Case {
    std::uint64_t ns;
    const char* text;
  };
  for (const auto& c : std::vector<Case>{{0, "0ns"},
                                         {999, "999ns"},
                                         {1000, "1.00us"},
                                         {12'340, "12.3us"},
                                         {999'000, "999us"},
                                         {1'234'567, "1.23ms"},
                                         {250'000'000, "250ms"},
                                         {2'500'000'000, "2.50s"}}) {
    EXPECT_EQ(format_latency(c.ns), c.text) << c.ns;
  }
}

TEST(LoadtestProgressLine, CarriesRequestsRateP99AndErrors) {
  const std::string line = progress_line(seconds(3), 12'345, 4'100.5, 1'920'000, 2);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  for (const char* want : {"3.0s", "12345 requests", "4100.5 req/s", "p99 1.92ms", "2 errors"}) {
    EXPECT_NE(line.find(want), std::string::npos) << want << " in: " << line;
  }
  EXPECT_NE(progress_line(seconds(1), 0, 0, 0, 0).find("p99 -"), std::string::npos);
}

}  // namespace
}  // namespace revrouter::loadtest
