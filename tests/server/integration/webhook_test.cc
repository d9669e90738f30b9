// The real binary over TLS, driven like kube-apiserver drives a webhook: injection answers, keep-
// alive, ?timeout=, and one row per bad-request class with its status, message and metric.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using boost::beast::http::verb;

class WebhookTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new ServerFiles;
    server_ =
        new ServerProcess(*files_, {"--max-body-bytes", "65536", "--max-header-bytes", "4096"});
    ready_ = server_->wait_ready();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete files_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << server_->log(); }

  static ServerFiles* files_;
  static ServerProcess* server_;
  static bool ready_;
};
ServerFiles* WebhookTest::files_ = nullptr;
ServerProcess* WebhookTest::server_ = nullptr;
bool WebhookTest::ready_ = false;

TEST_F(WebhookTest, InjectsOverVerifiedTls13WithAlpnHttp11) {
  TlsClient client = server_->client();
  ASSERT_TRUE(client.connect());
  EXPECT_EQ(client.alpn(), "http/1.1");
  EXPECT_EQ(client.tls_version(), TLS1_3_VERSION);

  const auto request = pod_review("a1b2c3d4-0001");
  auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  ASSERT_TRUE(check_answer(*res, request, answer));
  EXPECT_TRUE(answer.review["response"]["allowed"].get<bool>());
  ASSERT_TRUE(answer.patched);
  EXPECT_TRUE(has_container(answer.patched_pod, "istio-proxy")) << answer.patched_pod.dump();
  EXPECT_TRUE(has_container(answer.patched_pod, "reviews"));
}

TEST_F(WebhookTest, AnswersV1beta1ReviewsInV1beta1) {
  TlsClient client = server_->client();
  const auto request = pod_review("a1b2c3d4-0002", "admission.k8s.io/v1beta1");
  auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  ASSERT_TRUE(check_answer(*res, request, answer));
  EXPECT_TRUE(answer.patched);
}

TEST_F(WebhookTest, PodOutsideAnySelectedNamespaceIsAllowedWithoutPatch) {
  TlsClient client = server_->client();
  const auto request = pod_review("a1b2c3d4-0003");
  auto res = client.review("/inject?timeout=10s", request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  ASSERT_TRUE(check_answer(*res, request, answer));
  EXPECT_TRUE(answer.review["response"]["allowed"].get<bool>());
  EXPECT_FALSE(answer.patched);
}

TEST_F(WebhookTest, KeepAliveServesManyReviewsOnOneConnection) {
  TlsClient client = server_->client();
  for (int i = 0; i < 25; ++i) {
    const auto request = pod_review("keepalive-" + std::to_string(i));
    auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
    ASSERT_TRUE(res) << "request " << i << ": " << res.error().message;
    EXPECT_TRUE(res->keep_alive);
    Answer answer;
    ASSERT_TRUE(check_answer(*res, request, answer)) << "request " << i;
  }
  EXPECT_EQ(client.connects(), 1);
}

TEST_F(WebhookTest, RequestsWithoutTimeoutUseTheDefault) {
  TlsClient client = server_->client();
  const auto request = pod_review("a1b2c3d4-0004");
  auto res = client.review("/inject/ns-injection/enabled", request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  EXPECT_TRUE(check_answer(*res, request, answer));
}

TEST_F(WebhookTest, HealthReadinessAndMetricsAnswerOnBothPorts) {
  TlsClient client = server_->client();
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    auto tls = client.request(verb::get, path, "", "");
    ASSERT_TRUE(tls) << path << ": " << tls.error().message;
    EXPECT_EQ(tls->status, 200) << path;
    auto plain = plain_get(server_->health_port(), path);
    ASSERT_TRUE(plain) << path << ": " << plain.error().message;
    EXPECT_EQ(plain->status, 200) << path;
  }
  const std::string metrics = server_->metrics();
  for (const char* name :
       {"revrouter_requests_in_flight", "revrouter_request_duration_seconds_count",
        "revrouter_tls_handshake_failures_total", "revrouter_ready"}) {
    EXPECT_GE(metric_value(metrics, name), 0) << name << " missing from\n" << metrics;
  }
  EXPECT_EQ(metric_value(metrics, "revrouter_ready"), 1);
}

TEST_F(WebhookTest, HealthPortDoesNotServeTheWebhook) {
  auto res = plain_get(server_->health_port(), "/inject");
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 404);
}

TEST_F(WebhookTest, AnsweredReviewsAreCountedByOutcomeReasonAndRevision) {
  TlsClient client = server_->client();
  const auto request = pod_review("a1b2c3d4-0005");
  auto res = client.review("/inject/ns-injection/enabled", request.dump());
  ASSERT_TRUE(res);
  const std::string metrics = server_->metrics();
  EXPECT_GE(
      metric_value(
          metrics,
          R"(revrouter_requests_total{outcome="injected",reason="policy-enabled",revision="rev-a"})"),
      1)
      << metrics;
}

// One bad-request class per row: the status and message istiod would give, and the metric.
struct BadRequest {
  const char* name;
  verb method;
  std::string target;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  int status;
  const char* reason;   // revrouter_requests_total{reason}
  const char* message;  // part of the response body
};

std::string valid_review() { return pod_review("bad-request-row").dump(); }

std::vector<BadRequest> bad_requests() {
  return {
      {"WrongContentTypeIs415",
       verb::post,
       "/inject",
       "text/plain",
       valid_review(),
       {},
       415,
       "unsupported_media_type",
       "must be application/json"},
      {"MissingContentTypeIs415",
       verb::post,
       "/inject",
       "",
       valid_review(),
       {},
       415,
       "unsupported_media_type",
       "missing Content-Type"},
      {"EmptyBodyIs400",
       verb::post,
       "/inject",
       "application/json",
       "",
       {},
       400,
       "empty_body",
       "empty body"},
      {"BodyOverLimitIs413",
       verb::post,
       "/inject",
       "application/json",
       std::string(70000, ' '),
       {},
       413,
       "body_too_large",
       "limit is 65536 bytes"},
      {"HeadersOverLimitAre431",
       verb::post,
       "/inject",
       "application/json",
       valid_review(),
       {{"X-Padding", std::string(5000, 'x')}},
       431,
       "header_too_large",
       "limit is 4096 bytes"},
      {"GetOnWebhookIs405",
       verb::get,
       "/inject",
       "",
       "",
       {},
       405,
       "method_not_allowed",
       "use POST"},
      {"PostOnHealthzIs405",
       verb::post,
       "/healthz",
       "application/json",
       "{}",
       {},
       405,
       "method_not_allowed",
       "use GET"},
      {"UnknownPathIs404",
       verb::post,
       "/mutate",
       "application/json",
       valid_review(),
       {},
       404,
       "not_found",
       "no route for /mutate"},
      {"MalformedWebhookPathIs404",
       verb::post,
       "/inject/ns-rev",
       "application/json",
       valid_review(),
       {},
       404,
       "bad_path",
       "ns-rev"},
      {"BodyNotJsonIs400",
       verb::post,
       "/inject",
       "application/json",
       "this is not json",
       {},
       400,
       "not_json",
       "JSON"},
      {"JsonNotAnAdmissionReviewIs400",
       verb::post,
       "/inject",
       "application/json",
       R"({"apiVersion":"v1","kind":"Pod"})",
       {},
       400,
       "not_admission_review",
       "not an AdmissionReview"},
      {"UnsupportedReviewVersionIs400",
       verb::post,
       "/inject",
       "application/json",
       R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"x"}})",
       {},
       400,
       "unsupported_api_version",
       "admission.k8s.io/v2"},
      {"ReviewWithoutUidIs400",
       verb::post,
       "/inject",
       "application/json",
       R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})",
       {},
       400,
       "missing_uid",
       "uid"},
      {"MalformedTimeoutIs400",
       verb::post,
       "/inject?timeout=soon",
       "application/json",
       valid_review(),
       {},
       400,
       "bad_timeout",
       "invalid timeout \"soon\""},
      {"TimeoutWithoutUnitIs400",
       verb::post,
       "/inject?timeout=10",
       "application/json",
       valid_review(),
       {},
       400,
       "bad_timeout",
       "missing unit"},
      {"NegativeTimeoutIs400",
       verb::post,
       "/inject?timeout=-5s",
       "application/json",
       valid_review(),
       {},
       400,
       "bad_timeout",
       "must be positive"},
  };
}

class BadRequestTest : public WebhookTest, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(BadRequestTest, GetsSpecificStatusMessageAndMetric) {
  const BadRequest& row = GetParam();
  const std::string series =
      std::string(R"(revrouter_requests_total{outcome="rejected",reason=")") + row.reason +
      R"(",revision=""})";
  const double before = std::max(0.0, metric_value(server_->metrics(), series));

  TlsClient client = server_->client();
  auto res = client.request(row.method, row.target, row.body, row.content_type, row.headers);
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, row.status) << res->body;
  EXPECT_NE(res->body.find(row.message), std::string::npos) << res->body;
  EXPECT_EQ(res->header("content-type"), "text/plain; charset=utf-8");
  if (row.status == 405) {
    EXPECT_FALSE(res->header("allow").empty());
  }

  EXPECT_EQ(metric_value(server_->metrics(), series), before + 1) << series;
  // The server neither crashed nor wedged.
  TlsClient again = server_->client();
  auto health = again.request(verb::get, "/healthz", "", "");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);
}

INSTANTIATE_TEST_SUITE_P(Rows, BadRequestTest, ::testing::ValuesIn(bad_requests()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(WebhookTest, MalformedHttpIs400AndClosesTheConnection) {
  TlsClient client = server_->client();
  ASSERT_TRUE(client.connect());
  ASSERT_TRUE(client.write_raw("NOT AN HTTP REQUEST\r\n\r\n"));
  auto res = client.read_response();
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("malformed HTTP request"), std::string::npos) << res->body;
  EXPECT_FALSE(res->keep_alive);
  EXPECT_TRUE(client.wait_closed_by_server());
}

TEST_F(WebhookTest, RequestAfterABadOneOnTheSameConnectionIsServed) {
  // A bad request whose framing is intact (415) leaves the connection usable.
  TlsClient client = server_->client();
  auto bad = client.request(verb::post, "/inject", valid_review(), "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 415);
  EXPECT_TRUE(bad->keep_alive);
  const auto request = pod_review("after-bad");
  auto good = client.review("/inject/ns-injection/enabled", request.dump());
  ASSERT_TRUE(good) << good.error().message;
  Answer answer;
  EXPECT_TRUE(check_answer(*good, request, answer));
  EXPECT_EQ(client.connects(), 1);
}

}  // namespace
}  // namespace revrouter::server::testing
