// The run-time side of proxy revisions without sockets: the breaker's state machine, readiness
// over the routes, the debug and metrics renderings, the probe review, and the upstream path.
#include "server/backends.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "admission/upstream_review.h"
#include "server/proxy.h"
#include "tests/server/support/test_pki.h"

namespace revrouter::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// An Upstream needs a parseable CA; the tests' PKI makes one.
std::shared_ptr<Upstream> make_upstream(const std::string& name = "istiod-x.istio-system.svc") {
  static const std::string ca = testing::TestPki().ca_pem();
  UpstreamConfig c;
  c.url = "https://" + name + ":443/inject";
  c.host = name;
  c.path = "/inject";
  c.server_name = name;
  c.ca_file = "ca.pem";
  c.ca_pem = ca;
  auto up = Upstream::create(c, "test.yaml");
  EXPECT_TRUE(up) << up.error().message;
  return *up;
}

TEST(UpstreamStateTest, OpensAfterConsecutiveFailuresOnly) {
  UpstreamState s("rev", make_upstream(), BreakerConfig{3, 100});
  EXPECT_FALSE(s.record(UpstreamOutcome::kTimeout, "t1"));
  EXPECT_FALSE(s.record(UpstreamOutcome::kStatus, "s1"));
  EXPECT_FALSE(s.record(UpstreamOutcome::kOk, {}));  // a success resets the count
  EXPECT_EQ(s.consecutive_failures(), 0u);
  EXPECT_FALSE(s.record(UpstreamOutcome::kConnect, "c1"));
  EXPECT_FALSE(s.record(UpstreamOutcome::kTls, "c2"));
  EXPECT_FALSE(s.breaker_open());
  EXPECT_TRUE(s.record(UpstreamOutcome::kInvalid, "bad uid"));
  EXPECT_TRUE(s.breaker_open());
  EXPECT_FALSE(s.record(UpstreamOutcome::kTimeout, "again"));  // already open: reported once
  EXPECT_EQ(s.breaker_opens(), 1u);
  EXPECT_EQ(s.last_error(), "again");
  EXPECT_EQ(s.calls(UpstreamOutcome::kTimeout), 2u);
  EXPECT_EQ(s.calls(UpstreamOutcome::kOk), 1u);
}

TEST(UpstreamStateTest, OutcomesThatAreNotTheUpstreamsFaultDoNotCount) {
  UpstreamState s("rev", make_upstream(), BreakerConfig{1, 100});
  EXPECT_FALSE(s.record(UpstreamOutcome::kNoTime, {}));
  EXPECT_FALSE(s.record(UpstreamOutcome::kCancelled, {}));
  EXPECT_FALSE(s.record(UpstreamOutcome::kBreakerOpen, {}));
  EXPECT_FALSE(s.breaker_open());
  EXPECT_EQ(s.consecutive_failures(), 0u);
}

TEST(UpstreamStateTest, ProbesAreClaimedOncePerIntervalAndASuccessCloses) {
  UpstreamState s("rev", make_upstream(), BreakerConfig{1, 100});
  const auto now = Clock::now();
  EXPECT_FALSE(s.claim_probe(now + std::chrono::seconds(1)));  // closed: nothing to probe
  ASSERT_TRUE(s.record(UpstreamOutcome::kConnect, "refused"));
  EXPECT_FALSE(s.claim_probe(now));  // not due before the interval
  const auto due = Clock::now() + std::chrono::milliseconds(150);
  EXPECT_TRUE(s.claim_probe(due));
  EXPECT_FALSE(s.claim_probe(due));  // one probe in flight at a time
  EXPECT_FALSE(s.record_probe(false, "still refused"));
  EXPECT_TRUE(s.breaker_open());
  EXPECT_EQ(s.last_error(), "probe: still refused");
  EXPECT_FALSE(s.claim_probe(Clock::now()));  // the next interval starts from the failed probe
  EXPECT_TRUE(s.claim_probe(Clock::now() + std::chrono::milliseconds(150)));
  EXPECT_TRUE(s.record_probe(true, {}));
  EXPECT_FALSE(s.breaker_open());
  EXPECT_EQ(s.consecutive_failures(), 0u);
}

RoutingTable table_of(std::initializer_list<Backend> backends) {
  RoutingTable t;
  int i = 0;
  for (Backend b : backends) {
    Revision r;
    r.name = "r" + std::to_string(i++);
    r.backend = b;
    r.upstream.url = "https://istiod-" + r.name + ".istio-system.svc:443/inject";
    r.upstream.server_name = "istiod-" + r.name + ".istio-system.svc";
    t.revisions.push_back(r);
  }
  return t;
}

TEST(AnyRouteWorksTest, OnlyWhenEveryRevisionIsAProxyWithAnOpenBreaker) {
  const RoutingTable mixed = table_of({Backend::kLocal, Backend::kProxy});
  UpstreamStates ups(2);
  ups[1] = std::make_shared<UpstreamState>("r1", make_upstream(), BreakerConfig{1, 100});
  ups[1]->record(UpstreamOutcome::kTimeout, "t");
  EXPECT_TRUE(any_route_works(mixed, ups));  // the local revision works

  const RoutingTable proxies = table_of({Backend::kProxy, Backend::kProxy});
  UpstreamStates p(2);
  p[0] = std::make_shared<UpstreamState>("r0", make_upstream(), BreakerConfig{1, 100});
  p[1] = std::make_shared<UpstreamState>("r1", make_upstream(), BreakerConfig{1, 100});
  EXPECT_TRUE(any_route_works(proxies, p));
  p[0]->record(UpstreamOutcome::kTimeout, "t");
  EXPECT_TRUE(any_route_works(proxies, p));
  p[1]->record(UpstreamOutcome::kTimeout, "t");
  EXPECT_FALSE(any_route_works(proxies, p));
}

TEST(RenderUpstreamsTest, DebugJsonAndMetricsNameEachUpstream) {
  RoutingTable t = table_of({Backend::kLocal, Backend::kProxy});
  t.revisions[1].on_failure.action = FailureAction::kFallback;
  t.revisions[1].on_failure.fallback = 0;
  UpstreamStates ups(2);
  ups[1] = std::make_shared<UpstreamState>("r1", make_upstream(), BreakerConfig{2, 100});
  ups[1]->record(UpstreamOutcome::kStatus, "HTTP 500: \"quoted\"");
  ups[1]->count_policy(FailureAction::kFallback);

  std::string out;
  render_upstreams_json(t, ups, out);
  const json doc = json::parse(out);
  ASSERT_EQ(doc["upstreams"].size(), 1u);
  const json& u = doc["upstreams"][0];
  EXPECT_EQ(u["revision"], "r1");
  EXPECT_EQ(u["role"], "proxy");
  EXPECT_EQ(u["breaker"], "closed");
  EXPECT_EQ(u["consecutiveFailures"], 1);
  EXPECT_EQ(u["lastError"], "HTTP 500: \"quoted\"");
  EXPECT_EQ(u["onFailure"], "fallback");
  EXPECT_EQ(u["fallback"], "r0");
  EXPECT_EQ(u["requests"]["http_status"], 1);
  EXPECT_EQ(u["failurePolicy"]["fallback"], 1);

  std::string metrics;
  render_upstream_metrics(t, ups, metrics);
  EXPECT_NE(
      metrics.find("revrouter_upstream_requests_total{revision=\"r1\",result=\"http_status\"} 1\n"),
      std::string::npos);
  EXPECT_NE(metrics.find(
                "revrouter_upstream_failure_policy_total{revision=\"r1\",policy=\"fallback\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("revrouter_upstream_breaker_open{revision=\"r1\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(metrics.find("revision=\"r0\""), std::string::npos);  // no upstream, no series
}

TEST(ProbeReviewTest, IsAPodCreateThatOptsOutAndCarriesTheUid) {
  const json probe = json::parse(probe_review("probe-7"));
  EXPECT_EQ(probe["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(probe["request"]["uid"], "probe-7");
  EXPECT_EQ(probe["request"]["operation"], "CREATE");
  EXPECT_EQ(probe["request"]["dryRun"], true);
  EXPECT_EQ(probe["request"]["object"]["metadata"]["labels"]["sidecar.istio.io/inject"], "false");
}

TEST(UpstreamTargetTest, PassesOnKeyValueSegmentsExceptRevroutersOwn) {
  struct Row {
    const char* upstream_path;
    const char* request_path;
    const char* want;
  };
  const Row rows[] = {
      {"/inject", "/inject", "/inject"},
      {"/inject", "/inject/ns-rev/canary", "/inject"},
      {"/inject", "/inject/ns-rev/canary/cluster/c1/net/n1", "/inject/cluster/c1/net/n1"},
      {"/inject", "/inject/ns-injection/enabled/cluster/c1", "/inject/cluster/c1"},
      {"/inject/", "/inject/cluster/c1", "/inject/cluster/c1"},
      {"/", "/inject/net/n1", "/net/n1"},
      {"/inject/ns-injection/enabled", "/inject/ns-rev/x/foo/bar",
       "/inject/ns-injection/enabled/foo/bar"},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(upstream_target(r.upstream_path, r.request_path), r.want)
        << r.upstream_path << " + " << r.request_path;
  }
}

}  // namespace
}  // namespace revrouter::server
