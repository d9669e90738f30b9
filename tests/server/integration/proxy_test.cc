// The proxy backend end to end: the real binary over TLS forwarding to fake istiod upstreams of
// this test suite that answer correctly, slowly, with 500, garbage or the wrong uid, hang, close,
// refuse, or present the wrong name; each time the revision's onFailure policy must answer. Also
// connection reuse, the circuit breaker and its probe, /readyz, kill-and-restart under load with a
// fallback, shadow mode and a reload with an unusable CA.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "admission/upstream_review.h"
#include "tests/server/support/fake_istiod.h"
#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using nlohmann::json;
using Mode = FakeIstiod::Mode;
using std::chrono::milliseconds;

constexpr const char* kProxyPath = "/inject/ns-rev/rev-p?timeout=3s";

struct ProxySettings {
  std::string on_failure = "fail-closed";
  std::string breaker = "{failures: 1000, probeIntervalMs: 100}";
  bool local_default = true;  // tag default -> rev-a (local); false: rev-p is the only revision
  bool shadow = false;        // rev-a shadowed by the fake istiod
};

class ProxyTest : public ::testing::Test {
 protected:
  void start(const ProxySettings& s = {}) {
    ca_file_ = (files_.dir() / "istiod-ca.pem").string();
    write_text(ca_file_, istiod_.ca_pem());
    files_.write_config(config(s));
    server_ = std::make_unique<ServerProcess>(files_);
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
  }

  std::string upstream_keys(const std::string& server_name) const {
    return "    url: https://127.0.0.1:" + std::to_string(istiod_.port()) + "/inject\n" +
           "    caFile: " + ca_file_ + "\n    serverName: " + server_name + "\n";
  }

  std::string config(const ProxySettings& s) const {
    std::string y = "revisions:\n";
    if (s.local_default) {
      y += "  rev-a:\n    backend: local\n    template: sidecar.yaml\n";
      if (s.shadow) {
        y += "    shadow:\n      url: https://127.0.0.1:" + std::to_string(istiod_.port()) +
             "/inject\n      caFile: " + ca_file_ + "\n      serverName: " + istiod_.server_name() +
             "\n";
      }
    }
    y += "  rev-p:\n    backend: proxy\n" + upstream_keys(istiod_.server_name()) +
         "    onFailure: " + s.on_failure + "\n    breaker: " + s.breaker + "\n";
    // The same upstream under a name its certificate does not carry.
    y += "  rev-t:\n    backend: proxy\n" + upstream_keys("istiod-other.istio-system.svc") +
         "    onFailure: fail-closed\n";
    y += "tags:\n  default: " + std::string(s.local_default ? "rev-a" : "rev-p") + "\n";
    return y;
  }

  // One review through a fresh verified connection; the answer checked as the API server does.
  Answer send(const std::string& uid, const std::string& path = kProxyPath, json request = json()) {
    if (request.is_null()) request = pod_review(uid);
    TlsClient client = server_->client();
    auto res = client.review(path, request.dump());
    Answer answer;
    EXPECT_TRUE(res) << res.error().message;
    if (!res) return answer;
    EXPECT_TRUE(check_answer(*res, request, answer)) << res->body;
    return answer;
  }

  json debug() const {
    auto res = plain_get(server_->health_port(), "/debug/upstreams");
    EXPECT_TRUE(res);
    if (!res) return json();
    return json::parse(res->body)["upstreams"];
  }
  json upstream(const std::string& revision) const {
    for (const auto& u : debug()) {
      if (u["revision"] == revision) return u;
    }
    return json();
  }
  double metric(const std::string& series) const {
    return metric_value(server_->metrics(), series);
  }
  // Polls (bounded) until `pred` holds.
  template <class Pred>
  bool eventually(Pred pred, milliseconds limit = milliseconds(10000)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return pred();
  }
  // Whether the server's log has `text` (bounded wait: the logger is asynchronous, so a line may
  // reach the file after the metric or answer that followed the event it reports).
  bool logged(std::string_view text) {
    return eventually([&] { return server_->log().find(text) != std::string::npos; });
  }

  static std::string warnings_of(const Answer& a) {
    return a.review["response"].value("warnings", json::array()).dump();
  }
  static json audit_of(const Answer& a) {
    return a.review["response"].value("auditAnnotations", json::object());
  }
  static bool from_fake(const Answer& a) {
    return a.patched_pod["metadata"]
        .value("annotations", json::object())
        .contains("fake-istiod/injected");
  }

  FakeIstiod istiod_{[] {
    FakeIstiod::Options o;
    o.service = "istiod-rev-p";
    return o;
  }()};
  ServerFiles files_;
  std::string ca_file_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ProxyTest, ForwardsAndPassesOnTheCheckedAnswerWithAuditAnnotations) {
  start();
  const Answer a = send("proxy-ok-1");
  ASSERT_TRUE(a.patched);
  EXPECT_TRUE(from_fake(a)) << a.patched_pod.dump();
  EXPECT_TRUE(has_container(a.patched_pod, "istio-proxy"));
  const json audit = audit_of(a);
  EXPECT_EQ(audit["revision"], "rev-p");
  EXPECT_EQ(audit["backend"], "proxy");
  EXPECT_EQ(audit["requested"], "rev-p");
  EXPECT_TRUE(audit.contains("reason"));
  EXPECT_EQ(istiod_.requests(), 1u);
  EXPECT_EQ(istiod_.last_target(), "/inject");
  EXPECT_EQ(metric("revrouter_upstream_requests_total{revision=\"rev-p\",result=\"ok\"}"), 1);
}

TEST_F(ProxyTest, PassesOnClusterAndNetworkSegmentsButNotRevroutersOwn) {
  start();
  const Answer a = send("proxy-seg-1", "/inject/ns-rev/rev-p/cluster/c1/net/n1?timeout=3s");
  EXPECT_TRUE(from_fake(a));
  EXPECT_EQ(istiod_.last_target(), "/inject/cluster/c1/net/n1");
}

TEST_F(ProxyTest, PodsAProxyRevisionDoesNotInjectNeverReachIstiod) {
  start();
  json request = pod_review("proxy-optout-1");
  request["request"]["object"]["metadata"]["labels"]["sidecar.istio.io/inject"] = "false";
  const Answer a = send("proxy-optout-1", kProxyPath, request);
  EXPECT_FALSE(a.patched);
  EXPECT_EQ(istiod_.requests(), 0u);
}

TEST_F(ProxyTest, KeepAliveConnectionIsReusedAcrossRequests) {
  start();
  TlsClient client = server_->client();
  for (int i = 0; i < 20; ++i) {
    const json request = pod_review("reuse-" + std::to_string(i));
    auto res = client.review(kProxyPath, request.dump());
    ASSERT_TRUE(res) << res.error().message;
    Answer a;
    ASSERT_TRUE(check_answer(*res, request, a));
    EXPECT_TRUE(from_fake(a));
  }
  EXPECT_EQ(istiod_.requests(), 20u);
  EXPECT_EQ(istiod_.handshakes(), 1u);
  EXPECT_EQ(istiod_.connections(), 1u);
  EXPECT_EQ(upstream("rev-p")["handshakes"], 1);
}

TEST_F(ProxyTest, NewConnectionsResumeTheTlsSession) {
  start();
  send("resume-1");
  istiod_.close_connections();  // the pooled connection is gone: the next call reconnects
  const Answer a = send("resume-2");
  EXPECT_TRUE(from_fake(a));
  EXPECT_EQ(istiod_.handshakes(), 2u);
  EXPECT_EQ(istiod_.resumed_handshakes(), 1u);
  EXPECT_EQ(metric("revrouter_upstream_handshakes_total{revision=\"rev-p\",resumed=\"true\"}"), 1);
}

// Every way an upstream fails, under each policy. The breaker never opens here (failures: 1000).
struct FailureCase {
  const char* name;
  Mode mode;
  bool refuse = false;      // the upstream is not listening
  bool wrong_name = false;  // ask rev-t, whose serverName the certificate does not carry
  const char* says;         // in the answer's message or warning
};
const FailureCase kFailures[] = {
    {"status500", Mode::kStatus500, false, false, "HTTP 500"},
    {"garbage", Mode::kGarbage, false, false, "not JSON"},
    {"wrongUid", Mode::kWrongUid, false, false, "does not match"},
    {"hang", Mode::kHang, false, false, "within"},
    {"slow", Mode::kSlow, false, false, "within"},
    {"closeAfterRead", Mode::kCloseAfterRead, false, false, "rev-p"},
    {"refused", Mode::kCorrect, true, false, "connect"},
    {"wrongServerName", Mode::kCorrect, false, true, "TLS"},
};

void apply(FakeIstiod& istiod, const FailureCase& c) {
  istiod.set_mode(c.mode);
  istiod.set_delay(milliseconds(5000));  // kSlow: well past the 1 s request timeout
  if (c.refuse) istiod.stop();
}
void undo(FakeIstiod& istiod, const FailureCase& c) {
  istiod.set_mode(Mode::kCorrect);
  if (c.refuse) istiod.start();
  istiod.close_connections();  // drop hung connections
}
std::string path_for(const FailureCase& c) {
  return c.wrong_name ? "/inject/ns-rev/rev-t?timeout=1s" : "/inject/ns-rev/rev-p?timeout=1s";
}

TEST_F(ProxyTest, FailClosedDeniesWithTheRevisionAndTheFailure) {
  start({.on_failure = "fail-closed"});
  int n = 0;
  for (const FailureCase& c : kFailures) {
    SCOPED_TRACE(c.name);
    apply(istiod_, c);
    const Answer a = send("closed-" + std::to_string(n++), path_for(c));
    undo(istiod_, c);
    const json& resp = a.review["response"];
    EXPECT_FALSE(resp["allowed"].get<bool>());
    EXPECT_EQ(resp["status"]["code"], 500);
    const std::string msg = resp["status"]["message"];
    EXPECT_NE(msg.find(c.wrong_name ? "rev-t" : "rev-p"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    EXPECT_NE(msg.find("fail-closed"), std::string::npos) << msg;
    EXPECT_FALSE(a.patched);
  }
  EXPECT_EQ(
      metric("revrouter_upstream_failure_policy_total{revision=\"rev-p\",policy=\"fail-closed\"}"),
      7);
  EXPECT_EQ(metric("revrouter_requests_total{outcome=\"denied\",reason=\"upstream_fail_closed\","
                   "revision=\"rev-p\"}"),
            7);
}

TEST_F(ProxyTest, FailOpenAllowsWithoutSidecarAndWarns) {
  start({.on_failure = "fail-open"});
  int n = 0;
  for (const FailureCase& c : kFailures) {
    if (c.wrong_name) continue;  // rev-t is fail-closed
    SCOPED_TRACE(c.name);
    apply(istiod_, c);
    const Answer a = send("open-" + std::to_string(n++), path_for(c));
    undo(istiod_, c);
    EXPECT_TRUE(a.review["response"]["allowed"].get<bool>());
    EXPECT_FALSE(a.patched);
    const std::string w = warnings_of(a);
    EXPECT_NE(w.find("without a sidecar"), std::string::npos) << w;
    EXPECT_NE(w.find(c.says), std::string::npos) << w;
    EXPECT_EQ(audit_of(a)["on-failure"], "fail-open");
  }
  EXPECT_EQ(
      metric("revrouter_upstream_failure_policy_total{revision=\"rev-p\",policy=\"fail-open\"}"),
      7);
}

TEST_F(ProxyTest, FallbackInjectsWithTheFallbackRevision) {
  start({.on_failure = "{fallback: rev-a}"});
  int n = 0;
  for (const FailureCase& c : kFailures) {
    if (c.wrong_name) continue;
    SCOPED_TRACE(c.name);
    apply(istiod_, c);
    const Answer a = send("fallback-" + std::to_string(n++), path_for(c));
    undo(istiod_, c);
    EXPECT_TRUE(a.review["response"]["allowed"].get<bool>());
    ASSERT_TRUE(a.patched);
    EXPECT_FALSE(from_fake(a));
    EXPECT_TRUE(has_container(a.patched_pod, "istio-proxy"));
    const json audit = audit_of(a);
    EXPECT_EQ(audit["revision"], "rev-a");
    EXPECT_EQ(audit["fallback-for"], "rev-p");
    EXPECT_NE(warnings_of(a).find("injected by fallback revision rev-a"), std::string::npos);
  }
  EXPECT_EQ(
      metric("revrouter_upstream_failure_policy_total{revision=\"rev-p\",policy=\"fallback\"}"), 7);
  // A healthy upstream answers again at once: failures did not open the breaker.
  EXPECT_TRUE(from_fake(send("fallback-after")));
}

TEST_F(ProxyTest, FallbackToAProxyAsksItsIstiodOnItsOwnPath) {
  ca_file_ = (files_.dir() / "istiod-ca.pem").string();
  write_text(ca_file_, istiod_.ca_pem());
  // rev-p's istiod refuses (nothing listens on port 1); its fallback rev-q is the fake, under
  // another path.
  files_.write_config(
      "revisions:\n"
      "  rev-p:\n    backend: proxy\n    url: https://127.0.0.1:1/inject\n"
      "    caFile: " +
      ca_file_ + "\n    serverName: " + istiod_.server_name() +
      "\n    onFailure: {fallback: rev-q}\n"
      "  rev-q:\n    backend: proxy\n    url: https://127.0.0.1:" +
      std::to_string(istiod_.port()) + "/inject/q\n    caFile: " + ca_file_ +
      "\n    serverName: " + istiod_.server_name() +
      "\n"
      "tags:\n  default: rev-p\n");
  server_ = std::make_unique<ServerProcess>(files_);
  ASSERT_TRUE(server_->wait_ready()) << server_->log();
  const Answer a = send("fallback-proxy-1", "/inject/ns-rev/rev-p/cluster/c1?timeout=3s");
  EXPECT_TRUE(from_fake(a)) << a.review.dump();
  EXPECT_EQ(istiod_.last_target(), "/inject/q/cluster/c1");
  const json audit = audit_of(a);
  EXPECT_EQ(audit["revision"], "rev-q");
  EXPECT_EQ(audit["fallback-for"], "rev-p");
  EXPECT_NE(warnings_of(a).find("injected by fallback revision rev-q"), std::string::npos);
}

TEST_F(ProxyTest, BreakerOpensAfterConsecutiveFailuresAndAProbeClosesIt) {
  start({.on_failure = "fail-open", .breaker = "{failures: 3, probeIntervalMs: 100}"});
  istiod_.set_mode(Mode::kStatus500);
  for (int i = 0; i < 3; ++i) send("breaker-" + std::to_string(i));
  EXPECT_EQ(upstream("rev-p")["breaker"], "open");
  EXPECT_EQ(metric("revrouter_upstream_breaker_open{revision=\"rev-p\"}"), 1);
  // While open, requests take the policy at once and say why.
  const Answer open = send("breaker-open");
  EXPECT_FALSE(open.patched);
  EXPECT_NE(warnings_of(open).find("circuit breaker open"), std::string::npos) << warnings_of(open);
  EXPECT_GE(upstream("rev-p")["requests"]["breaker_open"].get<int>(), 1);
  // The server stays ready: rev-a still works.
  auto ready = plain_get(server_->health_port(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);

  istiod_.set_mode(Mode::kCorrect);
  ASSERT_TRUE(eventually([&] { return upstream("rev-p")["breaker"] == "closed"; }))
      << debug().dump();
  EXPECT_TRUE(from_fake(send("breaker-closed")));
  EXPECT_TRUE(logged("upstream circuit breaker closed")) << server_->log();
}

TEST_F(ProxyTest, ReadyzFailsOnlyWhenEveryRouteIsAnOpenBreaker) {
  start({.on_failure = "fail-closed",
         .breaker = "{failures: 2, probeIntervalMs: 100}",
         .local_default = false});
  istiod_.stop();
  for (int i = 0; i < 2; ++i) send("ready-" + std::to_string(i));
  // rev-t shares the upstream but has its own breaker, still closed: one route works.
  auto ready = plain_get(server_->health_port(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  for (int i = 0; i < 5; ++i)
    send("ready-t-" + std::to_string(i), "/inject/ns-rev/rev-t?timeout=3s");
  ASSERT_TRUE(eventually([&] {
    auto r = plain_get(server_->health_port(), "/readyz");
    return r && r->status == 503;
  })) << debug().dump();
  istiod_.start();
  ASSERT_TRUE(eventually([&] {
    auto r = plain_get(server_->health_port(), "/readyz");
    return r && r->status == 200;
  })) << debug().dump();
  // rev-t's breaker stays open (its probes fail on the name), rev-p's closed.
  EXPECT_EQ(upstream("rev-p")["breaker"], "closed");
  EXPECT_EQ(upstream("rev-t")["breaker"], "open");
}

TEST_F(ProxyTest, KillAndRestartUnderLoadWithFallbackFailsNoAdmission) {
  start({.on_failure = "{fallback: rev-a}", .breaker = "{failures: 5, probeIntervalMs: 100}"});
  constexpr int kThreads = 4, kPerThread = 150;
  std::atomic<int> done{0}, failed{0}, from_istiod{0}, from_fallback{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      TlsClient client = server_->client();
      for (int i = 0; i < kPerThread; ++i) {
        const json request = pod_review("kill-" + std::to_string(t) + "-" + std::to_string(i));
        auto res = client.review(kProxyPath, request.dump());
        Answer a;
        if (!res || !check_answer(*res, request, a) ||
            !a.review["response"]["allowed"].get<bool>() || !a.patched) {
          ++failed;
        } else {
          ++(from_fake(a) ? from_istiod : from_fallback);
        }
        ++done;
      }
    });
  }
  auto wait_done = [&](int n) {
    return eventually([&] { return done.load() >= n; }, milliseconds(60000));
  };
  EXPECT_TRUE(wait_done(100));
  istiod_.stop();  // killed: in-flight calls fail, new ones are refused
  const int at_kill = done.load();
  EXPECT_TRUE(wait_done(at_kill + 150));
  istiod_.start();
  for (auto& c : clients) c.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_GT(from_fallback.load(), 0);
  EXPECT_GT(from_istiod.load(), 0);
}

TEST_F(ProxyTest, ShadowCountsMismatchThenMatchWithoutChangingTheAnswer) {
  start({.shadow = true});
  const std::string local_path = "/inject/ns-injection/enabled?timeout=3s";
  // The fake's default patch differs from revrouter's template: a mismatch.
  const Answer first = send("shadow-1", local_path);
  ASSERT_TRUE(first.patched);
  EXPECT_FALSE(from_fake(first));
  const std::string mismatch = "revrouter_shadow_total{revision=\"rev-a\",result=\"mismatch\"}";
  ASSERT_TRUE(eventually([&] { return metric(mismatch) == 1; })) << server_->log();
  EXPECT_TRUE(logged("shadow mismatch")) << server_->log();

  // Now the fake answers with exactly the patch revrouter gave: a match.
  const json request = pod_review("shadow-2");
  TlsClient client = server_->client();
  auto res = client.review(local_path, request.dump());
  ASSERT_TRUE(res);
  const json review = json::parse(res->body);
  std::string patch;
  ASSERT_TRUE(decode_base64(review["response"]["patch"].get<std::string>(), patch));
  istiod_.set_patch(patch);
  const Answer second = send("shadow-3", local_path);
  EXPECT_FALSE(from_fake(second));
  const std::string match = "revrouter_shadow_total{revision=\"rev-a\",result=\"match\"}";
  ASSERT_TRUE(eventually([&] { return metric(match) >= 1; })) << server_->log();
}

TEST_F(ProxyTest, ReloadWithAnUnusableCaKeepsTheLastGoodTable) {
  start();
  write_text(ca_file_,
             "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
  // The CA file is watched: the change triggers a reload, which fails on the CA.
  ASSERT_TRUE(eventually([&] {
    return metric("revrouter_config_reloads_total{result=\"failed\"}") >= 1;
  })) << server_->log();
  EXPECT_TRUE(logged("caFile")) << server_->log();
  EXPECT_TRUE(from_fake(send("reload-1")));
}

}  // namespace
}  // namespace revrouter::server::testing
