// route_request in-process: the checks before the admission core, health and readiness, the
// webhook only on the webhook port, and which outcome and reason an answer is counted under.
#include "server/routes.h"

#include <gtest/gtest.h>

#include <memory>

#include "server/config_store.h"
#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"
#include "tests/server/support/test_pki.h"

namespace revrouter::server {
namespace {

namespace http = boost::beast::http;

class RoutesTest : public ::testing::Test {
 protected:
  RoutesTest() : metrics_(1), shared_(options_, metrics_, config_, tls_), worker_(0, shared_) {
    const std::string yaml = testing::test_routing_config();
    const std::string tpl = testing::read_text(std::filesystem::path(REVROUTER_SOURCE_DIR) /
                                               "config/templates/example-sidecar.yaml");
    auto table = load_routing_table(yaml, "/virtual/routing.yaml",
                                    [&](const std::string&) -> Result<std::string> { return tpl; });
    if (!table) throw std::runtime_error(table.error().message);
    config_.publish(std::move(*table), metrics_.revisions());
  }

  RouteResult route(http::verb method, const std::string& target, std::string body,
                    const char* content_type = "application/json", Port port = Port::kWebhook) {
    body_in_ = std::move(body);
    HttpRequestView req;
    req.method = method;
    req.method_text = http::to_string(method).data();
    req.target = target;
    if (content_type != nullptr) {
      req.has_content_type = true;
      req.content_type = content_type;
    }
    req.body = body_in_.data();
    req.body_len = body_in_.size();
    req.received = received_ = Clock::now();
    return route_request(req, port, worker_, out_);
  }

  ServerOptions options_;
  Metrics metrics_;
  ConfigStore config_;
  TlsContextStore tls_;
  ServerShared shared_;
  Worker worker_;
  std::string body_in_, out_;
  Clock::time_point received_;
};

TEST_F(RoutesTest, InjectionIsCountedAsInjectedWithRevisionAndReason) {
  const auto r = route(http::verb::post, "/inject/ns-injection/enabled?timeout=10s",
                       testing::pod_review("r1").dump());
  EXPECT_EQ(r.status, 200) << out_;
  EXPECT_TRUE(r.counted);
  EXPECT_EQ(r.outcome, Outcome::kInjected);
  EXPECT_EQ(ReasonLabel::name(r.reason), "policy-enabled");
  EXPECT_EQ(metrics_.revisions().name(r.revision_slot), "rev-a");
  EXPECT_EQ(r.uid, "r1");
  EXPECT_EQ(r.namespace_, "bookinfo");
  EXPECT_NE(out_.find("\"patchType\":\"JSONPatch\""), std::string::npos);
}

TEST_F(RoutesTest, DeadlineComesFromTheTimeoutParameterMinusTheMargin) {
  const auto r = route(http::verb::post, "/inject?timeout=2s", testing::pod_review("r2").dump());
  EXPECT_EQ(r.answer_by - received_, std::chrono::milliseconds(1800));  // default margin 200ms
  const auto d = route(http::verb::post, "/inject", testing::pod_review("r2").dump());
  EXPECT_EQ(d.answer_by - received_, std::chrono::milliseconds(9800));  // default timeout 10s
}

TEST_F(RoutesTest, UnselectedPodIsAllowedWithoutPatch) {
  const auto r = route(http::verb::post, "/inject", testing::pod_review("r3").dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.outcome, Outcome::kAllowed);
  EXPECT_EQ(out_.find("patch"), std::string::npos) << out_;
}

TEST_F(RoutesTest, PodCreateWithoutPodIsDenied) {
  auto review = testing::pod_review("r4");
  review["request"].erase("object");
  const auto r = route(http::verb::post, "/inject/ns-injection/enabled", review.dump());
  EXPECT_EQ(r.status, 200) << out_;
  EXPECT_EQ(r.outcome, Outcome::kDenied);
  EXPECT_EQ(ReasonLabel::name(r.reason), "missing_object");
}

TEST_F(RoutesTest, ReadinessFollowsDraining) {
  EXPECT_EQ(route(http::verb::get, "/readyz", "", nullptr).status, 503);  // no certificate yet
  tls_.publish(std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server));
  auto ready = route(http::verb::get, "/readyz", "", nullptr);
  EXPECT_EQ(ready.status, 200);
  EXPECT_FALSE(ready.counted);
  shared_.draining = true;
  EXPECT_EQ(route(http::verb::get, "/readyz", "", nullptr).status, 503);
  EXPECT_EQ(out_, "not ready: draining\n");
  EXPECT_EQ(route(http::verb::get, "/healthz", "", nullptr).status, 200);  // alive all the same
}

TEST_F(RoutesTest, MetricsAreServedInPrometheusTextFormat) {
  const auto r = route(http::verb::get, "/metrics", "", nullptr, Port::kHealth);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(out_.find("# TYPE revrouter_requests_total counter"), std::string::npos);
}

TEST_F(RoutesTest, WebhookIsNotServedOnTheHealthPort) {
  const auto r = route(http::verb::post, "/inject", testing::pod_review("r5").dump(),
                       "application/json", Port::kHealth);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ReasonLabel::name(r.reason), "not_found");
}

struct MediaTypeRow {
  const char* name;
  const char* content_type;
  bool json;
};

class MediaTypeTest : public ::testing::TestWithParam<MediaTypeRow> {};

TEST_P(MediaTypeTest, OnlyApplicationJsonIsAccepted) {
  EXPECT_EQ(is_json_media_type(GetParam().content_type), GetParam().json);
}

INSTANTIATE_TEST_SUITE_P(
    Types, MediaTypeTest,
    ::testing::Values(MediaTypeRow{"Plain", "application/json", true},
                      MediaTypeRow{"WithCharset", "application/json; charset=utf-8", true},
                      MediaTypeRow{"UpperCase", "Application/JSON", true},
                      MediaTypeRow{"Padded", " application/json ;q=1", true},
                      MediaTypeRow{"Text", "text/plain", false},
                      MediaTypeRow{"JsonPatch", "application/json-patch+json", false},
                      MediaTypeRow{"Yaml", "application/yaml", false},
                      MediaTypeRow{"Empty", "", false}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace revrouter::server
