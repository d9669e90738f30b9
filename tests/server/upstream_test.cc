// The HTTPS client of the proxy backend against a fake istiod: answers, each failure class and
// its message, connection reuse, session resumption, the retry of a pooled connection the peer
// closed, deadlines and shutdown. Every test drives its io_context on the test thread.
#include "server/upstream.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "certs/cert_set.h"
#include "certs/pem.h"
#include "tests/server/support/fake_istiod.h"
#include "tests/server/support/reviews.h"

namespace revrouter::server {
namespace {

namespace net = boost::asio;
using testing::FakeIstiod;
using Mode = FakeIstiod::Mode;
using namespace std::chrono_literals;

// Generous: only a broken client gets near it.
constexpr auto kRunBound = 30s;

std::string other_ca_pem() {
  certs::CertSetOptions o;
  o.service = "istiod-rev-b";
  o.namespace_ = "istio-system";
  auto set = certs::generate_cert_set(o);
  if (!set) throw std::runtime_error(set.error().message);
  return set->ca_cert;
}

// A port nothing listens on: bound once, then released.
std::uint16_t free_port() {
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

UpstreamConfig config_for(const FakeIstiod& istiod) {
  UpstreamConfig c;
  c.host = "127.0.0.1";
  c.port = istiod.port();
  c.path = "/inject";
  c.url = "https://127.0.0.1:" + std::to_string(c.port) + c.path;
  c.server_name = istiod.server_name();
  c.ca_file = "/etc/istio/ca.crt";
  c.ca_pem = istiod.ca_pem();
  c.line = 7;
  c.ca_line = 9;
  return c;
}

std::shared_ptr<Upstream> make_upstream(const UpstreamConfig& c) {
  auto up = Upstream::create(c, "routing.yaml");
  if (!up) throw std::runtime_error(up.error().message);
  return *up;
}

// One post() and what came of it.
struct Outcome {
  std::optional<UpstreamReply> reply;
  int calls = 0;  // how often `done` ran
};

void run_until(net::io_context& ioc, const std::function<bool()>& ready) {
  const auto limit = std::chrono::steady_clock::now() + kRunBound;
  while (!ready() && std::chrono::steady_clock::now() < limit) {
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(50ms);
  }
  ASSERT_TRUE(ready()) << "not done within the bound";
}

// Runs whatever is ready now (late completions of a finished call) without waiting.
void drain(net::io_context& ioc) {
  ioc.restart();
  ioc.poll();
}

class UpstreamTest : public ::testing::Test {
 protected:
  explicit UpstreamTest(FakeIstiod::Options options = {}) : istiod_(std::move(options)) {}

  std::shared_ptr<Outcome> start_call(UpstreamPool& pool, const std::shared_ptr<Upstream>& up,
                                      std::chrono::milliseconds deadline = 10s) {
    auto outcome = std::make_shared<Outcome>();
    bodies_.push_back(std::make_unique<std::string>(testing::pod_review(next_uid()).dump()));
    pool.post(up, target_, *bodies_.back(), UpstreamClock::now() + deadline,
              [outcome](UpstreamReply&& r) {
                ++outcome->calls;
                outcome->reply = std::move(r);
              });
    return outcome;
  }

  UpstreamReply call(UpstreamPool& pool, const std::shared_ptr<Upstream>& up,
                     std::chrono::milliseconds deadline = 10s) {
    auto outcome = start_call(pool, up, deadline);
    EXPECT_EQ(outcome->calls, 0) << "done ran inside post()";
    run_until(ioc_, [&] { return outcome->calls > 0; });
    drain(ioc_);
    EXPECT_EQ(outcome->calls, 1);
    return outcome->reply.value_or(UpstreamReply{});
  }
  UpstreamReply call(std::chrono::milliseconds deadline = 10s) {
    return call(*pool_, upstream_, deadline);
  }

  std::string next_uid() { return "uid-" + std::to_string(++uid_); }
  std::string last_uid() const { return "uid-" + std::to_string(uid_); }
  std::string authority() const { return "127.0.0.1:" + std::to_string(istiod_.port()); }

  FakeIstiod istiod_;
  net::io_context ioc_;
  std::shared_ptr<Upstream> upstream_ = make_upstream(config_for(istiod_));
  std::unique_ptr<UpstreamPool> pool_ = std::make_unique<UpstreamPool>(ioc_);  // before ioc_ dies
  std::string target_ = "/inject/cluster/Kubernetes/net/network1";
  std::vector<std::unique_ptr<std::string>> bodies_;  // alive until the test ends
  int uid_ = 0;
};

// ----- a correct answer -----------------------------------------------------------------------

TEST_F(UpstreamTest, ReturnsTheAnswerForTheRequestUid) {
  const UpstreamReply reply = call();
  ASSERT_EQ(reply.error, UpstreamError::kNone) << reply.message;
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.reused_connection);
  const auto review = nlohmann::json::parse(reply.body);
  EXPECT_EQ(review["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(review["response"]["uid"], last_uid());
  EXPECT_EQ(review["response"]["patchType"], "JSONPatch");

  // The patch applies to the pod the request carried.
  auto patch = certs::base64_decode(review["response"]["patch"].get<std::string>());
  ASSERT_TRUE(patch) << patch.error().message;
  const auto pod = testing::pod_review(last_uid())["request"]["object"];
  const auto patched = pod.patch(nlohmann::json::parse(*patch));
  EXPECT_TRUE(testing::has_container(patched, "istio-proxy"));
  EXPECT_EQ(patched["metadata"]["annotations"]["fake-istiod/injected"], "true");
  EXPECT_EQ(istiod_.requests(), 1u);
}

TEST_F(UpstreamTest, ReturnsTheConfiguredPatch) {
  const std::string patch = R"([{"op":"add","path":"/metadata/labels/x","value":"y"}])";
  istiod_.set_patch(patch);
  const UpstreamReply reply = call();
  ASSERT_EQ(reply.error, UpstreamError::kNone) << reply.message;
  const auto review = nlohmann::json::parse(reply.body);
  EXPECT_EQ(review["response"]["patch"], certs::base64_encode(patch));
}

TEST_F(UpstreamTest, ChecksAnIpLiteralServerNameAgainstTheCertificateIp) {
  UpstreamConfig c = config_for(istiod_);
  c.server_name = "127.0.0.1";  // the fake's certificate carries it as an IP SAN
  const UpstreamReply reply = call(*pool_, make_upstream(c));
  EXPECT_EQ(reply.error, UpstreamError::kNone) << reply.message;
}

TEST_F(UpstreamTest, ResolvesAHostName) {
  UpstreamConfig c = config_for(istiod_);
  c.host = "localhost";  // resolved asynchronously; ::1 (if listed) is refused, 127.0.0.1 answers
  const UpstreamReply reply = call(*pool_, make_upstream(c));
  EXPECT_EQ(reply.error, UpstreamError::kNone) << reply.message;
}

// ----- failures: each class with its message -------------------------------------------------

enum class Setup { kGood, kOtherCa, kWrongName, kRefused };

struct FailureRow {
  const char* rule;
  Setup setup;
  Mode mode;
  std::chrono::milliseconds deadline;
  UpstreamError error;
  int status;
  std::string message;  // {a}: 127.0.0.1:<port>; {n}: the server name. A trailing * is a prefix.
};

void PrintTo(const FailureRow& row, std::ostream* os) { *os << row.rule; }

class UpstreamFailureTest : public UpstreamTest,
                            public ::testing::WithParamInterface<FailureRow> {};

TEST_P(UpstreamFailureTest, MapsToTheErrorAndMessage) {
  const FailureRow& row = GetParam();
  istiod_.set_mode(row.mode);
  istiod_.set_delay(100ms);
  UpstreamConfig c = config_for(istiod_);
  if (row.setup == Setup::kOtherCa) c.ca_pem = other_ca_pem();
  if (row.setup == Setup::kWrongName) c.server_name = "istiod-other.istio-system.svc";
  if (row.setup == Setup::kRefused) c.port = free_port();

  const UpstreamReply reply = call(*pool_, make_upstream(c), row.deadline);
  EXPECT_EQ(upstream_error_name(reply.error), upstream_error_name(row.error)) << reply.message;
  EXPECT_EQ(reply.status, row.status);

  std::string expected = row.message;
  const std::string a = "127.0.0.1:" + std::to_string(c.port);
  for (auto at = expected.find("{a}"); at != std::string::npos; at = expected.find("{a}"))
    expected.replace(at, 3, a);
  for (auto at = expected.find("{n}"); at != std::string::npos; at = expected.find("{n}"))
    expected.replace(at, 3, c.server_name);
  if (!expected.empty() && expected.back() == '*') {
    expected.pop_back();
    EXPECT_EQ(reply.message.substr(0, expected.size()), expected) << reply.message;
  } else {
    EXPECT_EQ(reply.message, expected);
  }
  // A failed exchange never leaves its connection in the pool.
  if (reply.error != UpstreamError::kNone && reply.error != UpstreamError::kStatus) {
    EXPECT_EQ(pool_->idle_connections(), 0u);
  }
}

std::string status500_message() {
  // The first 200 bytes, the line break shown as a space, then an ellipsis.
  std::string m = "HTTP 500: " + FakeIstiod::status500_body().substr(0, 200) + "...";
  m[10 + 29] = ' ';  // "fake istiod: injection failed\n" has its line break at offset 29
  return m;
}

INSTANTIATE_TEST_SUITE_P(
    Classes, UpstreamFailureTest,
    ::testing::Values(
        FailureRow{"SlowWithinTheDeadlineSucceeds", Setup::kGood, Mode::kSlow, 10000ms,
                   UpstreamError::kNone, 200, ""},
        FailureRow{"GarbageIsStillAnHttpSuccess", Setup::kGood, Mode::kGarbage, 10000ms,
                   UpstreamError::kNone, 200, ""},
        FailureRow{"WrongUidIsStillAnHttpSuccess", Setup::kGood, Mode::kWrongUid, 10000ms,
                   UpstreamError::kNone, 200, ""},
        FailureRow{"RefusedPortIsConnect", Setup::kRefused, Mode::kCorrect, 10000ms,
                   UpstreamError::kConnect, 0, "connect {a}: Connection refused"},
        FailureRow{"OtherCaIsTls", Setup::kOtherCa, Mode::kCorrect, 10000ms, UpstreamError::kTls, 0,
                   "TLS handshake with {n}: certificate verify failed: unable to get local "
                   "issuer certificate"},
        FailureRow{"WrongServerNameIsTls", Setup::kWrongName, Mode::kCorrect, 10000ms,
                   UpstreamError::kTls, 0,
                   "TLS handshake with {n}: certificate verify failed: hostname mismatch"},
        FailureRow{"Status500IsStatusWithABodyExcerpt", Setup::kGood, Mode::kStatus500, 10000ms,
                   UpstreamError::kStatus, 500, status500_message()},
        FailureRow{"HangIsTimeout", Setup::kGood, Mode::kHang, 300ms, UpstreamError::kTimeout, 0,
                   "no response from {a} within *"},
        FailureRow{"SlowPastTheDeadlineIsTimeout", Setup::kGood, Mode::kSlow, 20ms,
                   UpstreamError::kTimeout, 0, "no response from {a} within *"},
        FailureRow{"CloseAfterReadIsProtocol", Setup::kGood, Mode::kCloseAfterRead, 10000ms,
                   UpstreamError::kProtocol, 0, "connection to {a} closed before any response: *"}),
    [](const auto& info) { return std::string(info.param.rule); });

TEST_F(UpstreamTest, GarbageBodyIsReturnedAsIs) {
  istiod_.set_mode(Mode::kGarbage);
  const UpstreamReply reply = call();
  EXPECT_EQ(reply.error, UpstreamError::kNone);
  EXPECT_EQ(reply.body, "<html><body>not an AdmissionReview</body></html>");
}

TEST_F(UpstreamTest, StatusKeepsTheWholeBody) {
  istiod_.set_mode(Mode::kStatus500);
  const UpstreamReply reply = call();
  EXPECT_EQ(reply.error, UpstreamError::kStatus);
  EXPECT_EQ(reply.body, FakeIstiod::status500_body());
}

TEST_F(UpstreamTest, TimeoutRunsDoneOnceAndClosesTheConnection) {
  istiod_.set_mode(Mode::kHang);
  auto outcome = start_call(*pool_, upstream_, 200ms);
  run_until(ioc_, [&] { return outcome->calls > 0; });
  // The abandoned exchange's handlers complete meanwhile; none of them reports again.
  ioc_.restart();
  ioc_.run_for(100ms);
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->reply->error, UpstreamError::kTimeout);
  EXPECT_EQ(pool_->idle_connections(), 0u);
  // The next call opens a new connection and succeeds.
  istiod_.set_mode(Mode::kCorrect);
  EXPECT_EQ(call().error, UpstreamError::kNone);
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 2u);
}

TEST_F(UpstreamTest, DeadlineAlreadyPassedIsTimeoutReportedLater) {
  auto outcome = start_call(*pool_, upstream_, -1ms);
  EXPECT_EQ(outcome->calls, 0);
  run_until(ioc_, [&] { return outcome->calls > 0; });
  drain(ioc_);
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->reply->error, UpstreamError::kTimeout);
  EXPECT_EQ(outcome->reply->message, "no response from " + authority() + " within 0 ms");
}

TEST_F(UpstreamTest, ResponseOverTheLimitIsProtocol) {
  UpstreamPool small(ioc_, UpstreamPoolOptions{.max_response_bytes = 64});
  const UpstreamReply reply = call(small, upstream_);
  EXPECT_EQ(reply.error, UpstreamError::kProtocol);
  EXPECT_EQ(reply.message, "the response from " + authority() + " is over the limit of 64 bytes");
  EXPECT_EQ(small.idle_connections(), 0u);
}

TEST_F(UpstreamTest, InvalidTargetIsRefusedLater) {
  target_ = "/inject\r\nX-Evil: 1";
  auto outcome = start_call(*pool_, upstream_);
  EXPECT_EQ(outcome->calls, 0);
  run_until(ioc_, [&] { return outcome->calls > 0; });
  EXPECT_EQ(outcome->reply->error, UpstreamError::kProtocol);
  EXPECT_EQ(istiod_.connections(), 0u);
}

// ----- connection reuse and session resumption ------------------------------------------------

TEST_F(UpstreamTest, SequentialCallsShareOneConnectionAndHandshake) {
  constexpr int kCalls = 5;
  for (int i = 0; i < kCalls; ++i) {
    const UpstreamReply reply = call();
    ASSERT_EQ(reply.error, UpstreamError::kNone) << reply.message;
    EXPECT_EQ(reply.reused_connection, i > 0) << "call " << i;
    EXPECT_EQ(nlohmann::json::parse(reply.body)["response"]["uid"], last_uid());
  }
  const auto& counters = upstream_->counters();
  EXPECT_EQ(counters.handshakes.load(), 1u);
  EXPECT_EQ(counters.connections_opened.load(), 1u);
  EXPECT_EQ(counters.requests.load(), static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(istiod_.connections(), 1u);
  EXPECT_EQ(istiod_.handshakes(), 1u);
  EXPECT_EQ(istiod_.requests(), static_cast<std::uint64_t>(kCalls));
  EXPECT_EQ(pool_->idle_connections(), 1u);
}

TEST_F(UpstreamTest, ConcurrentCallsOpenOneConnectionEachAndPoolUpToTheLimit) {
  UpstreamPool pool(ioc_, UpstreamPoolOptions{.max_idle_per_upstream = 2});
  std::vector<std::shared_ptr<Outcome>> outcomes;
  for (int i = 0; i < 3; ++i) outcomes.push_back(start_call(pool, upstream_));
  run_until(ioc_, [&] {
    return std::all_of(outcomes.begin(), outcomes.end(), [](auto& o) { return o->calls > 0; });
  });
  for (const auto& o : outcomes) EXPECT_EQ(o->reply->error, UpstreamError::kNone);
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 3u);
  EXPECT_EQ(pool.idle_connections(), 2u);
}

TEST_F(UpstreamTest, MaxIdleZeroPoolsNothing) {
  UpstreamPool pool(ioc_, UpstreamPoolOptions{.max_idle_per_upstream = 0});
  EXPECT_EQ(call(pool, upstream_).error, UpstreamError::kNone);
  EXPECT_EQ(pool.idle_connections(), 0u);
  EXPECT_EQ(call(pool, upstream_).error, UpstreamError::kNone);
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 2u);
}

TEST_F(UpstreamTest, IdleConnectionIsClosedAfterTheIdleTimeout) {
  UpstreamPool pool(ioc_, UpstreamPoolOptions{.idle_timeout = 20ms});
  EXPECT_EQ(call(pool, upstream_).error, UpstreamError::kNone);
  run_until(ioc_, [&] { return pool.idle_connections() == 0; });
}

TEST_F(UpstreamTest, DropsAnIdleConnectionThePeerClosed) {
  EXPECT_EQ(call().error, UpstreamError::kNone);
  ASSERT_EQ(pool_->idle_connections(), 1u);
  istiod_.close_connections();
  run_until(ioc_, [&] { return pool_->idle_connections() == 0; });
  const UpstreamReply reply = call();
  EXPECT_EQ(reply.error, UpstreamError::kNone) << reply.message;
  EXPECT_FALSE(reply.reused_connection);
}

TEST_F(UpstreamTest, RetriesOnANewConnectionWhenThePooledOneWasClosed) {
  EXPECT_EQ(call().error, UpstreamError::kNone);
  ASSERT_EQ(pool_->idle_connections(), 1u);
  // The upstream closes the idle connection; the pool has not run since, so it takes the dead
  // connection, sends on it, and learns of the close only from the exchange.
  istiod_.close_connections();
  const UpstreamReply reply = call();
  EXPECT_EQ(reply.error, UpstreamError::kNone) << reply.message;
  EXPECT_FALSE(reply.reused_connection);
  EXPECT_EQ(nlohmann::json::parse(reply.body)["response"]["uid"], last_uid());
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 2u);
  EXPECT_EQ(istiod_.requests(), 2u);
  EXPECT_EQ(pool_->idle_connections(), 1u);
}

TEST_F(UpstreamTest, RetryIsDoneOnceThenTheFailureIsReported) {
  EXPECT_EQ(call().error, UpstreamError::kNone);
  ASSERT_EQ(pool_->idle_connections(), 1u);
  istiod_.close_connections();
  istiod_.set_mode(Mode::kCloseAfterRead);  // the new connection fails the same way
  const UpstreamReply reply = call();
  EXPECT_EQ(reply.error, UpstreamError::kProtocol) << reply.message;
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 2u);
}

TEST_F(UpstreamTest, FreshConnectionIsNotRetried) {
  istiod_.set_mode(Mode::kCloseAfterRead);
  EXPECT_EQ(call().error, UpstreamError::kProtocol);
  EXPECT_EQ(upstream_->counters().connections_opened.load(), 1u);
  EXPECT_EQ(istiod_.requests(), 1u);
}

TEST_F(UpstreamTest, ServerRestartedOnTheSamePortIsReachedAgain) {
  EXPECT_EQ(call().error, UpstreamError::kNone);
  const auto port = istiod_.port();
  istiod_.stop();
  EXPECT_EQ(call().error, UpstreamError::kConnect);  // the retry finds nobody listening
  istiod_.start();
  EXPECT_EQ(istiod_.port(), port);
  EXPECT_EQ(call().error, UpstreamError::kNone);
}

struct ResumptionRow {
  const char* rule;
  int max_tls_version;
};

void PrintTo(const ResumptionRow& row, std::ostream* os) { *os << row.rule; }

class UpstreamResumptionTest : public UpstreamTest,
                               public ::testing::WithParamInterface<ResumptionRow> {
 protected:
  UpstreamResumptionTest() : UpstreamTest(options()) {}
  static FakeIstiod::Options options() {
    FakeIstiod::Options o;
    o.max_tls_version = GetParam().max_tls_version;
    return o;
  }
};

TEST_P(UpstreamResumptionTest, SecondConnectionResumesTheSession) {
  UpstreamPool first(ioc_), second(ioc_);  // two pools: two connections, one after the other
  ASSERT_EQ(call(first, upstream_).error, UpstreamError::kNone);
  ASSERT_EQ(call(second, upstream_).error, UpstreamError::kNone);
  const auto& counters = upstream_->counters();
  EXPECT_EQ(counters.connections_opened.load(), 2u);
  EXPECT_EQ(counters.handshakes.load(), 2u);
  EXPECT_EQ(counters.resumed_handshakes.load(), 1u);
  EXPECT_EQ(istiod_.handshakes(), 2u);
  EXPECT_EQ(istiod_.resumed_handshakes(), 1u);
}

TEST_P(UpstreamResumptionTest, SessionSurvivesTheConnectionsThatMadeIt) {
  // Connections closed by us (timeout, pool shutdown) must not spoil the cached session.
  {
    UpstreamPool pool(ioc_);
    ASSERT_EQ(call(pool, upstream_).error, UpstreamError::kNone);
    pool.shutdown();
    drain(ioc_);
  }
  UpstreamPool pool(ioc_);
  ASSERT_EQ(call(pool, upstream_).error, UpstreamError::kNone);
  EXPECT_EQ(istiod_.resumed_handshakes(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Versions, UpstreamResumptionTest,
                         ::testing::Values(ResumptionRow{"Tls13Default", 0},
                                           ResumptionRow{"Tls12", TLS1_2_VERSION}),
                         [](const auto& info) { return std::string(info.param.rule); });

// ----- shutdown ------------------------------------------------------------------------------

TEST_F(UpstreamTest, ShutdownCancelsACallInFlightAsynchronously) {
  istiod_.set_mode(Mode::kHang);
  auto outcome = start_call(*pool_, upstream_, 30s);
  run_until(ioc_, [&] { return istiod_.requests() == 1; });
  pool_->shutdown();
  EXPECT_EQ(outcome->calls, 0) << "done ran inside shutdown()";
  run_until(ioc_, [&] { return outcome->calls > 0; });
  drain(ioc_);
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->reply->error, UpstreamError::kCancelled);

  auto later = start_call(*pool_, upstream_);
  EXPECT_EQ(later->calls, 0) << "done ran inside post()";
  run_until(ioc_, [&] { return later->calls > 0; });
  EXPECT_EQ(later->reply->error, UpstreamError::kCancelled);
}

TEST_F(UpstreamTest, ShutdownClosesIdleConnections) {
  EXPECT_EQ(call().error, UpstreamError::kNone);
  ASSERT_EQ(pool_->idle_connections(), 1u);
  pool_->shutdown();
  EXPECT_EQ(pool_->idle_connections(), 0u);
}

TEST_F(UpstreamTest, DestroyingThePoolWithACallInFlightCancelsIt) {
  istiod_.set_mode(Mode::kHang);
  auto outcome = start_call(*pool_, upstream_, 30s);
  run_until(ioc_, [&] { return istiod_.requests() == 1; });
  pool_.reset();
  run_until(ioc_, [&] { return outcome->calls > 0; });
  drain(ioc_);
  EXPECT_EQ(outcome->calls, 1);
  EXPECT_EQ(outcome->reply->error, UpstreamError::kCancelled);
}

TEST_F(UpstreamTest, DestroyingThePoolThenTheStoppedIoContextIsSafe) {
  // As the server stops: threads leave run(), pools go, then io_contexts. Each call is left at a
  // different stage (connecting, waiting for the answer, pooled idle); ASan checks the teardown.
  istiod_.set_mode(Mode::kHang);
  auto ioc = std::make_unique<net::io_context>();
  auto pool = std::make_unique<UpstreamPool>(*ioc);
  auto waiting = start_call(*pool, upstream_, 30s);
  run_until(*ioc, [&] { return istiod_.requests() == 1; });
  auto connecting = start_call(*pool, upstream_, 30s);
  ioc->stop();
  pool.reset();
  ioc.reset();  // destroys the pending handlers, and with them the calls' callbacks
  EXPECT_EQ(waiting->calls, 0);
  EXPECT_EQ(connecting->calls, 0);
}

// ----- configuration ------------------------------------------------------------------------

struct BadCaRow {
  const char* rule;
  std::string ca_pem;
  std::string message;  // after "routing.yaml:9: caFile /etc/istio/ca.crt: "; * ends a prefix
};

void PrintTo(const BadCaRow& row, std::ostream* os) { *os << row.rule; }

class UpstreamCreateTest : public ::testing::TestWithParam<BadCaRow> {};

TEST_P(UpstreamCreateTest, RejectsTheCaFileNamingFileAndLine) {
  UpstreamConfig c;
  c.host = "istiod.istio-system.svc";
  c.url = "https://istiod.istio-system.svc:443/inject";
  c.ca_file = "/etc/istio/ca.crt";
  c.ca_pem = GetParam().ca_pem;
  c.line = 7;
  c.ca_line = 9;
  auto up = Upstream::create(c, "routing.yaml");
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, "upstream_config");
  std::string expected = "routing.yaml:9: caFile /etc/istio/ca.crt: " + GetParam().message;
  if (expected.back() == '*') {
    expected.pop_back();
    EXPECT_EQ(up.error().message.substr(0, expected.size()), expected) << up.error().message;
  } else {
    EXPECT_EQ(up.error().message, expected);
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadPem, UpstreamCreateTest,
    ::testing::Values(
        BadCaRow{"NotPem", "hello", "not PEM: no \"-----BEGIN ...-----\" line found"},
        BadCaRow{"KeyInsteadOfCertificate",
                 "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                 "no CERTIFICATE PEM block found (the first block is \"PRIVATE KEY\")"},
        BadCaRow{"CorruptCertificate",
                 "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
                 "certificate 1 in the PEM does not parse: *"}),
    [](const auto& info) { return std::string(info.param.rule); });

TEST(UpstreamCreate, AcceptsABundleOfSeveralCas) {
  FakeIstiod istiod;
  UpstreamConfig c = config_for(istiod);
  c.ca_pem = other_ca_pem() + istiod.ca_pem();  // the trusted CA second in the bundle
  net::io_context ioc;
  auto up = make_upstream(c);
  UpstreamPool pool(ioc);
  std::optional<UpstreamReply> reply;
  const std::string body = testing::pod_review("uid-1").dump();
  pool.post(up, "/inject", body, UpstreamClock::now() + 10s,
            [&](UpstreamReply&& r) { reply = std::move(r); });
  run_until(ioc, [&] { return reply.has_value(); });
  EXPECT_EQ(reply->error, UpstreamError::kNone) << reply->message;
}

TEST(UpstreamCreate, SameSettingsComparesUrlServerNameAndCa) {
  FakeIstiod istiod;
  const UpstreamConfig c = config_for(istiod);
  const auto up = make_upstream(c);
  EXPECT_TRUE(up->same_settings(c));
  UpstreamConfig other = c;
  other.ca_pem = other_ca_pem();
  EXPECT_FALSE(up->same_settings(other));
  other = c;
  other.server_name = "istiod-rev-c.istio-system.svc";
  EXPECT_FALSE(up->same_settings(other));
  other = c;
  other.url += "/x";
  EXPECT_FALSE(up->same_settings(other));
}

TEST(UpstreamErrorName, NamesEveryError) {
  const std::vector<std::pair<UpstreamError, std::string_view>> rows = {
      {UpstreamError::kNone, "none"},
      {UpstreamError::kConnect, "connect"},
      {UpstreamError::kTls, "tls"},
      {UpstreamError::kTimeout, "timeout"},
      {UpstreamError::kStatus, "status"},
      {UpstreamError::kProtocol, "protocol"},
      {UpstreamError::kCancelled, "cancelled"},
  };
  for (const auto& [error, name] : rows) EXPECT_EQ(upstream_error_name(error), name);
}

}  // namespace
}  // namespace revrouter::server
