#include "admission/handler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "admission/routing_config.h"
#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

using nlohmann::json;
using revrouter::testing::decode_base64;

constexpr std::string_view kConfig = R"(
mode: istio
defaultTag: default
revisions:
  1-23-3:
    backend: local
    template: templates/example-sidecar.yaml
  1-24-1:
    backend: local
    template: templates/example-sidecar.yaml
  1-22-6:
    backend: proxy
    caFile: ca.pem
tags:
  default: 1-23-3
  canary: 1-24-1
  legacy: 1-22-6
)";

RoutingTable load_table() {
  const std::string tmpl_path =
      std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml";
  std::ifstream in(tmpl_path);
  std::stringstream tmpl;
  tmpl << in.rdbuf();
  const std::string text = tmpl.str();
  auto table = load_routing_table(
      kConfig, "handler-test.yaml", [&](const std::string& path) -> Result<std::string> {
        if (path.ends_with("ca.pem")) {
          return std::string("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        }
        return text;
      });
  EXPECT_TRUE(table.ok()) << table.error().message;
  return std::move(table).value();
}

json pod_review(const std::string& api_version, const json& pod, const std::string& ns = "shop") {
  return {{"apiVersion", api_version},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "uid-" + ns},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", ns},
            {"operation", "CREATE"},
            {"object", pod}}}};
}

json simple_pod(json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"generateName", "web-7d4b9c-"}, {"labels", labels}}},
          {"spec", {{"containers", json::array({{{"name", "web"}, {"image", "nginx"}}})}}}};
}

class Handler : public ::testing::Test {
 protected:
  RoutingTable table = load_table();
  RequestScratch scratch;
  std::string body;  // kept alive: the result's views point into it

  HandledRequest call(std::string_view path, std::string b) {
    body = std::move(b);
    return handle_admission(table, path, body.data(), body.size(), scratch);
  }
  HandledRequest call(std::string_view path, const json& review) {
    return call(path, review.dump());
  }
  HandledRequest call(std::string_view path, const json& review, const Revision* substitute,
                      std::string_view warning) {
    body = review.dump();
    return handle_admission(table, path, body.data(), body.size(), scratch, substitute, warning);
  }
};

TEST_F(Handler, BadPathIs404Text) {
  auto r = call("/mutate", pod_review("admission.k8s.io/v1", simple_pod()));
  EXPECT_EQ(r.http_status, 404);
  EXPECT_EQ(r.error_code, "bad_path");
  EXPECT_NE(std::string(r.body).find("not an injection path"), std::string::npos);
  EXPECT_NE(r.content_type.find("text/plain"), std::string_view::npos);
}

TEST_F(Handler, NotAnAdmissionReviewIs400WithTheSpecificMessage) {
  auto r = call("/inject", std::string("{\"kind\":"));
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.error_code, "not_json");
  EXPECT_NE(std::string(r.body).find("body is not JSON"), std::string::npos);
  r = call(
      "/inject",
      std::string(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})"));
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.error_code, "missing_uid");
}

TEST_F(Handler, OtherKindsAreAllowedUntouchedInTheRequestVersion) {
  json review = pod_review("admission.k8s.io/v1beta1", simple_pod());
  review["request"]["kind"]["kind"] = "Service";
  review["request"]["kind"]["version"] = "v1";
  review["request"]["resource"]["resource"] = "services";
  auto r = call("/inject/ns-injection/enabled", review);
  ASSERT_EQ(r.http_status, 200);
  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["apiVersion"], "admission.k8s.io/v1beta1");
  EXPECT_EQ(resp["response"]["uid"], "uid-shop");
  EXPECT_EQ(resp["response"]["allowed"], true);
  EXPECT_FALSE(resp["response"].contains("patch"));
  EXPECT_EQ(r.decision.reason, Reason::kNotPodCreate);
}

struct DenialCase {
  const char* name;
  std::function<void(json&)> mutate;
  std::string_view code;
  std::string message_part;
};

class HandlerDenials : public Handler, public ::testing::WithParamInterface<DenialCase> {};

TEST_P(HandlerDenials, PodCreateThatCannotBeReadIsDeniedInProtocol) {
  json review = pod_review("admission.k8s.io/v1", simple_pod());
  GetParam().mutate(review);
  auto r = call("/inject/ns-injection/enabled", review);
  ASSERT_EQ(r.http_status, 200);
  EXPECT_EQ(r.error_code, GetParam().code);
  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["response"]["uid"], "uid-shop");
  EXPECT_EQ(resp["response"]["allowed"], false);
  EXPECT_EQ(resp["response"]["status"]["code"], 400);
  const std::string msg = resp["response"]["status"]["message"];
  EXPECT_NE(msg.find(GetParam().message_part), std::string::npos) << msg;
  EXPECT_FALSE(resp["response"].contains("patch"));
}

INSTANTIATE_TEST_SUITE_P(
    Classes, HandlerDenials,
    ::testing::Values(
        DenialCase{"MissingObject", [](json& r) { r["request"].erase("object"); }, "missing_object",
                   "no request.object"},
        DenialCase{"ObjectNotAPod", [](json& r) { r["request"]["object"]["kind"] = "Service"; },
                   "not_a_pod", "not a Pod"},
        DenialCase{"ObjectIsAString", [](json& r) { r["request"]["object"] = "pod"; }, "not_a_pod",
                   "not a Pod"},
        DenialCase{"LabelNotAString",
                   [](json& r) { r["request"]["object"]["metadata"]["labels"]["app"] = 3; },
                   "bad_field", "request.object.metadata.labels.app: expected a string"},
        DenialCase{"OperationNotAString", [](json& r) { r["request"]["operation"] = 1; },
                   "bad_field", "request.operation: expected a string"}),
    [](const auto& info) { return info.param.name; });

TEST_F(Handler, InjectsFromTheNamespaceWebhookAndThePatchApplies) {
  const json pod = simple_pod({{"app", "web"}});
  auto r =
      call("/inject/ns-rev/canary/cluster/east/net/n1", pod_review("admission.k8s.io/v1", pod));
  ASSERT_EQ(r.http_status, 200) << r.body;
  EXPECT_EQ(r.error_code, "");
  EXPECT_TRUE(r.decision.inject);
  EXPECT_EQ(r.decision.source, RouteSource::kNamespaceRev);
  ASSERT_NE(r.decision.revision, nullptr);
  EXPECT_EQ(r.decision.revision->name, "1-24-1");
  EXPECT_EQ(r.namespace_, "shop");
  EXPECT_EQ(r.pod_name, "web-7d4b9c-");

  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["response"]["allowed"], true);
  EXPECT_EQ(resp["response"]["patchType"], "JSONPatch");
  EXPECT_EQ(resp["response"]["auditAnnotations"]["revision"], "1-24-1");
  EXPECT_EQ(resp["response"]["auditAnnotations"]["requested"], "canary");
  const json patch = json::parse(decode_base64(resp["response"]["patch"]));
  const json injected = pod.patch(patch);
  bool has_proxy = false;
  for (const auto& c : injected["spec"]["containers"]) has_proxy |= c["name"] == "istio-proxy";
  for (const auto& c : injected["spec"].value("initContainers", json::array())) {
    has_proxy |= c["name"] == "istio-proxy";
  }
  EXPECT_TRUE(has_proxy) << injected.dump(2);
  const json status = json::parse(
      injected["metadata"]["annotations"]["sidecar.istio.io/status"].get<std::string>());
  EXPECT_EQ(status["revision"], "1-24-1");  // the revision, never the tag
}

TEST_F(Handler, NotSelectedIsAllowedWithoutPatch) {
  auto r = call("/inject", pod_review("admission.k8s.io/v1", simple_pod()));
  ASSERT_EQ(r.http_status, 200);
  EXPECT_FALSE(r.decision.inject);
  EXPECT_EQ(r.decision.reason, Reason::kNotSelected);
  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["response"]["allowed"], true);
  EXPECT_FALSE(resp["response"].contains("patch"));
  EXPECT_EQ(resp["response"]["auditAnnotations"]["reason"], "not-selected");
}

TEST_F(Handler, UnknownRevisionIsAllowedWithAWarning) {
  auto r = call("/inject/ns-rev/nosuch", pod_review("admission.k8s.io/v1", simple_pod()));
  ASSERT_EQ(r.http_status, 200);
  EXPECT_EQ(r.decision.reason, Reason::kUnknownRevision);
  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["response"]["allowed"], true);
  EXPECT_FALSE(resp["response"].contains("patch"));
  ASSERT_TRUE(resp["response"].contains("warnings"));
  EXPECT_NE(resp["response"]["warnings"][0].get<std::string>().find("nosuch"), std::string::npos);
}

TEST_F(Handler, ReinvocationOnAnInjectedPodAddsNothing) {
  const json pod = simple_pod();
  auto first = call("/inject/ns-injection/enabled", pod_review("admission.k8s.io/v1", pod));
  ASSERT_TRUE(first.decision.inject);
  const json injected =
      pod.patch(json::parse(decode_base64(json::parse(first.body)["response"]["patch"])));
  auto again = call("/inject/ns-injection/enabled", pod_review("admission.k8s.io/v1", injected));
  EXPECT_FALSE(again.decision.inject);
  EXPECT_EQ(again.decision.reason, Reason::kAlreadyInjected);
  EXPECT_FALSE(json::parse(again.body)["response"].contains("patch"));
}

TEST_F(Handler, ProxyRevisionIsLeftToTheForwarder) {
  auto r = call("/inject/ns-rev/legacy", pod_review("admission.k8s.io/v1beta1", simple_pod()));
  ASSERT_EQ(r.http_status, 200);
  ASSERT_NE(r.forward_to, nullptr);
  EXPECT_EQ(r.forward_to->name, "1-22-6");
  EXPECT_EQ(r.forward_to, r.decision.revision);
  EXPECT_TRUE(r.decision.inject);
  EXPECT_EQ(r.version, ReviewVersion::kV1beta1);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.error_code, "");
}

TEST_F(Handler, ProxyRevisionPodThatOptsOutIsAnsweredLocally) {
  json pod = simple_pod();
  pod["metadata"]["labels"]["sidecar.istio.io/inject"] = "false";
  auto r = call("/inject/ns-rev/legacy", pod_review("admission.k8s.io/v1", pod));
  EXPECT_EQ(r.forward_to, nullptr);
  EXPECT_FALSE(r.decision.inject);
  EXPECT_FALSE(json::parse(r.body)["response"].contains("patch"));
}

TEST_F(Handler, SubstituteBuildsThePatchFromTheFallbackRevision) {
  const Revision* fallback = table.find_revision("1-23-3");
  ASSERT_NE(fallback, nullptr);
  ASSERT_EQ(fallback->backend, Backend::kLocal);
  auto r = call("/inject/ns-rev/legacy", pod_review("admission.k8s.io/v1", simple_pod()), fallback,
                "revrouter: istiod of revision 1-22-6 failed: timeout");
  EXPECT_EQ(r.forward_to, nullptr);
  EXPECT_EQ(r.decision.revision, fallback);
  const json resp = json::parse(r.body)["response"];
  EXPECT_TRUE(resp.contains("patch"));
  EXPECT_EQ(resp["auditAnnotations"]["revision"], "1-23-3");
  EXPECT_EQ(resp["auditAnnotations"]["fallback-for"], "1-22-6");
  ASSERT_TRUE(resp.contains("warnings"));
  EXPECT_EQ(resp["warnings"][0], "revrouter: istiod of revision 1-22-6 failed: timeout");
}

TEST_F(Handler, SubstituteIsIgnoredWhenThePodIsNotInjected) {
  json pod = simple_pod();
  pod["metadata"]["labels"]["sidecar.istio.io/inject"] = "false";
  auto r = call("/inject/ns-rev/legacy", pod_review("admission.k8s.io/v1", pod),
                table.find_revision("1-23-3"), "unused");
  EXPECT_FALSE(r.decision.inject);
  EXPECT_FALSE(json::parse(r.body)["response"].contains("warnings"));
}

TEST_F(Handler, ScratchIsReusedWithoutLeakingStateBetweenRequests) {
  for (int i = 0; i < 3; ++i) {
    auto injected =
        call("/inject/ns-injection/enabled", pod_review("admission.k8s.io/v1", simple_pod(), "a"));
    EXPECT_TRUE(json::parse(injected.body)["response"].contains("patch"));
    auto plain = call("/inject", pod_review("admission.k8s.io/v1beta1", simple_pod(), "b"));
    const json resp = json::parse(plain.body);
    EXPECT_EQ(resp["apiVersion"], "admission.k8s.io/v1beta1");
    EXPECT_EQ(resp["response"]["uid"], "uid-b");
    EXPECT_FALSE(resp["response"].contains("patch"));
  }
}

}  // namespace
}  // namespace revrouter
