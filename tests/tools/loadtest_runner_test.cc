// The engine against a scripted HTTPS server in the test process: every request counted once with
// a fresh uid, answers judged into their error classes, reconnects, timeouts, the hard deadline,
// a stop request, and open-loop latency measured from the scheduled time. Bounds are counts, and
// the few time bounds are lower bounds the server's own delays guarantee.
#include "tools/loadtest_runner.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/tools/loadtest_fake_server.h"

namespace revrouter::loadtest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::allowed_review;
using testing::FakeAnswer;
using testing::FakeServer;

constexpr std::uint64_t kRunId = 0xfeedbeef1234ULL;

RunnerOptions options_for(const FakeServer& server, Plan plan, unsigned connections = 2) {
  RunnerOptions o;
  o.url = server.url();
  o.ca_file = server.ca_file();
  o.connections = connections;
  o.plan = plan;
  o.timeout = seconds(10);
  o.query = "?timeout=10s";
  o.run_id = kRunId;
  auto body = make_body_template(default_review(), "built-in", std::string(kDefaultPath));
  if (!body) throw std::runtime_error(body.error().message);
  o.bodies.push_back(std::move(*body));
  return o;
}

std::uint64_t errors_of(const Report& r, ErrorClass c) {
  return r.counters.errors[static_cast<std::size_t>(c)];
}

TEST(LoadtestRunner, ClosedLoopSendsEachRequestOnceWithAFreshUid) {
  FakeServer server([](std::uint64_t, const std::string&) { return FakeAnswer{}; });
  for (const unsigned threads : {1u, 2u}) {
    const std::uint64_t before = server.requests();
    RunnerOptions o = options_for(server, {0, 60, std::chrono::nanoseconds(0)}, 4);
    o.threads = threads;
    auto r = run_load(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->counters.issued, 60u);
    EXPECT_EQ(r->counters.completed, 60u);
    EXPECT_EQ(r->counters.ok, 60u);
    EXPECT_EQ(r->counters.error_total(), 0u);
    EXPECT_EQ(r->latency.count(), 60u);
    EXPECT_EQ(r->settings.threads, threads);
    EXPECT_EQ(server.requests() - before, 60u);
  }
  // The uids are those of requests 0..59 of the run, each sent exactly once per run.
  const auto uids = server.uids();
  ASSERT_EQ(uids.size(), 120u);
  std::set<std::string> first(uids.begin(), uids.begin() + 60);
  std::set<std::string> want;
  for (std::uint64_t i = 0; i < 60; ++i) want.insert(make_uid(kRunId, i));
  EXPECT_EQ(first, want);
  EXPECT_EQ(std::set<std::string>(uids.begin() + 60, uids.end()), want);
  for (const auto& t : server.targets()) {
    EXPECT_EQ(t, "/inject/ns-injection/enabled?timeout=10s");
  }
  EXPECT_EQ(server.connections(), 8u);  // 4 kept-alive connections per run, none reopened
}

// Busy polling ends when the plan is done, in both loops, with every request counted once.
TEST(LoadtestRunner, BusyPollingRunsThePlanAndEnds) {
  FakeServer server([](std::uint64_t, const std::string&) { return FakeAnswer{}; });
  for (const double rate : {0.0, 2000.0}) {
    const std::uint64_t before = server.requests();
    RunnerOptions o = options_for(server, {rate, 50, std::chrono::nanoseconds(0)}, 2);
    o.busy_poll = true;
    auto r = run_load(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->counters.issued, 50u) << rate;
    EXPECT_EQ(r->counters.ok, 50u) << rate;
    EXPECT_EQ(r->counters.error_total(), 0u) << rate;
    EXPECT_TRUE(r->settings.busy_poll);
    EXPECT_NE(render_text(*r).find("(busy-polling)"), std::string::npos);
    EXPECT_EQ(server.requests() - before, 50u) << rate;
  }
}

TEST(LoadtestRunner, AnswersAreJudgedIntoErrorClasses) {
  FakeServer server([](std::uint64_t n, const std::string& uid) {
    FakeAnswer a;
    switch (n % 5) {
      case 0:
        a.status = 503;
        a.body = "overloaded";
        break;
      case 1:
        a.body = allowed_review("not-" + uid);
        break;
      case 2:
        a.body = allowed_review(uid, false, "policy says no");
        break;
      case 3:
        a.body = "<html>";
        break;
      default:
        break;  // a good answer
    }
    return a;
  });
  auto r = run_load(options_for(server, {0, 50, std::chrono::nanoseconds(0)}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.completed, 50u);
  EXPECT_EQ(r->counters.ok, 10u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kHttpStatus), 10u);
  EXPECT_EQ(r->counters.http_status, (std::map<int, std::uint64_t>{{503, 10}}));
  EXPECT_EQ(errors_of(*r, ErrorClass::kUidMismatch), 10u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kDenied), 10u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kBadResponse), 10u);
  EXPECT_EQ(r->counters.samples[static_cast<std::size_t>(ErrorClass::kDenied)],
            "denied: policy says no");
  EXPECT_EQ(r->latency.count(), 50u);  // every HTTP answer is timed, good or not
}

TEST(LoadtestRunner, StatusCheckCountsOnlyHttpErrors) {
  FakeServer server([](std::uint64_t n, const std::string& uid) {
    FakeAnswer a;
    if (n % 2 == 0) a.body = allowed_review("not-" + uid);  // only a full check sees this
    if (n % 5 == 0) a.status = 500;
    return a;
  });
  RunnerOptions o = options_for(server, {0, 20, std::chrono::nanoseconds(0)});
  o.check = Check::kStatus;
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.ok, 16u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kHttpStatus), 4u);
  EXPECT_EQ(r->counters.error_total(), 4u);
  EXPECT_EQ(r->settings.check, Check::kStatus);
}

TEST(LoadtestRunner, ReconnectsWhenTheServerClosesAfterAnAnswer) {
  FakeServer server([](std::uint64_t, const std::string&) {
    FakeAnswer a;
    a.close = true;
    return a;
  });
  auto r = run_load(options_for(server, {0, 20, std::chrono::nanoseconds(0)}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.ok, 20u);
  EXPECT_EQ(r->counters.error_total(), 0u);
  // 2 opened before the start, then one new connection per request after the first two.
  EXPECT_EQ(server.connections(), 20u);
}

TEST(LoadtestRunner, NoAnswerWithinTheTimeoutIsATimeout) {
  FakeServer server([](std::uint64_t n, const std::string&) {
    FakeAnswer a;
    if (n == 0) a.delay = seconds(60);  // far beyond the client's timeout (cut short at exit)
    return a;
  });
  RunnerOptions o = options_for(server, {0, 10, std::chrono::nanoseconds(0)}, 1);
  // Long enough for every other exchange even on a loaded machine under sanitizers.
  o.timeout = milliseconds(1500);
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.completed, 10u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kTimeout), 1u);
  EXPECT_EQ(r->counters.ok, 9u);
  EXPECT_NE(r->counters.samples[static_cast<std::size_t>(ErrorClass::kTimeout)].find(
                "no answer from 127.0.0.1:"),
            std::string::npos);
  EXPECT_FALSE(r->hit_deadline);
}

TEST(LoadtestRunner, TheHardDeadlineEndsARunWhoseServerStalls) {
  FakeServer server([](std::uint64_t, const std::string&) {
    FakeAnswer a;
    a.delay = seconds(30);
    return a;
  });
  RunnerOptions o = options_for(server, {0, 5, std::chrono::nanoseconds(0)}, 1);
  o.timeout = seconds(60);
  o.deadline = milliseconds(300);
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->hit_deadline);
  EXPECT_EQ(r->counters.issued, 1u);  // closed loop, one connection: the first never came back
  EXPECT_EQ(r->counters.completed, 1u);
  EXPECT_EQ(errors_of(*r, ErrorClass::kTimeout), 1u);
  EXPECT_NE(render_text(*r).find("Stopped at the hard deadline"), std::string::npos);
}

TEST(LoadtestRunner, AStopRequestLeavesOpenRequestsUnfinished) {
  FakeServer server([](std::uint64_t, const std::string&) {
    FakeAnswer a;
    a.delay = seconds(30);
    return a;
  });
  std::atomic<bool> stop{true};
  RunnerOptions o = options_for(server, {0, 0, seconds(60)}, 2);
  o.stop = &stop;
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->interrupted);
  EXPECT_FALSE(r->hit_deadline);
  EXPECT_EQ(r->counters.issued, 2u);
  EXPECT_EQ(r->counters.completed, 0u);
  EXPECT_EQ(r->counters.error_total(), 0u);
}

TEST(LoadtestRunner, OpenLoopLatencyCountsFromTheScheduledTime) {
  // One connection, every answer 20 ms late, requests due every 1 ms: request i cannot be answered
  // before (i + 1) * 20 ms, though it was due at i ms. Timed from its due time, the last request
  // (due at 19 ms) waited at least 400 - 19 ms; timed from its send, it would show ~20 ms.
  FakeServer server([](std::uint64_t, const std::string&) {
    FakeAnswer a;
    a.delay = milliseconds(20);
    return a;
  });
  RunnerOptions o = options_for(server, {1000, 20, std::chrono::nanoseconds(0)}, 1);
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.issued, 20u);
  EXPECT_EQ(r->counters.ok, 20u);
  EXPECT_GE(r->latency.max(), static_cast<std::uint64_t>(milliseconds(381).count() * 1'000'000));
  // Half the requests were due by 9 ms and answered no earlier than 200 ms.
  EXPECT_GE(r->latency.value_at_percentile(50),
            static_cast<std::uint64_t>(milliseconds(191).count() * 1'000'000));
}

TEST(LoadtestRunner, OpenLoopSendsTheScheduleAcrossThreads) {
  FakeServer server([](std::uint64_t, const std::string&) { return FakeAnswer{}; });
  RunnerOptions o = options_for(server, {2000, 0, milliseconds(100)}, 3);
  o.threads = 3;
  auto r = run_load(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->counters.issued, 200u);  // due every 0.5 ms for 100 ms
  EXPECT_EQ(r->counters.ok, 200u);
  std::set<std::string> want;
  for (std::uint64_t i = 0; i < 200; ++i) want.insert(make_uid(kRunId, i));
  const auto uids = server.uids();
  EXPECT_EQ(std::set<std::string>(uids.begin(), uids.end()), want);
}

TEST(LoadtestRunner, ConnectionsThatCannotOpenStopTheRunBeforeItStarts) {
  FakeServer server([](std::uint64_t, const std::string&) { return FakeAnswer{}; });
  struct Case {
    const char* name;
    std::string server_name;
    bool other_ca;
    const char* code;
    const char* message;
  };
  replay::testing::TempDir dir;
  certs::CertSetOptions other;
  other.service = "other";
  other.namespace_ = "elsewhere";
  auto other_set = certs::generate_cert_set(other);
  ASSERT_TRUE(other_set.ok());
  const std::string other_ca = dir.write("other-ca.crt", other_set->ca_cert);
  for (const auto& c : std::vector<Case>{
           {"untrusted_ca", "", true, "tls", "certificate"},
           {"wrong_server_name", "istiod.istio-system.svc", false, "tls",
            "verified name \"istiod.istio-system.svc\""},
       }) {
    RunnerOptions o = options_for(server, {0, 5, std::chrono::nanoseconds(0)});
    o.server_name = c.server_name;
    if (c.other_ca) o.ca_file = other_ca;
    auto r = run_load(o);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.error().code, c.code) << c.name;
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
    EXPECT_TRUE(r.error().message.starts_with("opening 2 connections: ")) << r.error().message;
  }
  EXPECT_EQ(server.requests(), 0u);
}

TEST(LoadtestRunner, RefusedConnectionsAreConnectErrors) {
  // A port that was just free: bound, then closed.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor probe(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  const auto port = probe.local_endpoint().port();
  probe.close();
  RunnerOptions o;
  o.url = "https://127.0.0.1:" + std::to_string(port);
  o.plan = {0, 5, std::chrono::nanoseconds(0)};
  o.timeout = seconds(5);
  o.bodies.push_back(*make_body_template(default_review(), "built-in", "/inject"));
  auto r = run_load(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "connect");
  EXPECT_NE(r.error().message.find("connecting to 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.error().message;
}

TEST(LoadtestRunner, UsageErrors) {
  RunnerOptions o;
  o.url = "https://127.0.0.1:1";
  o.plan = {0, 5, std::chrono::nanoseconds(0)};
  EXPECT_EQ(run_load(o).error().code, "usage");  // no bodies
  o.bodies.push_back(*make_body_template(default_review(), "built-in", "/inject"));
  o.plan = {};
  EXPECT_EQ(run_load(o).error().code, "usage");  // unbounded
  o.plan = {0, 5, std::chrono::nanoseconds(0)};
  o.url = "http://127.0.0.1:1";
  EXPECT_EQ(run_load(o).error().code, "usage");  // not https
  o.url = "https://127.0.0.1:1";
  o.ca_file = "/nonexistent/ca.crt";
  EXPECT_EQ(run_load(o).error().code, "tls");
}

}  // namespace
}  // namespace revrouter::loadtest
