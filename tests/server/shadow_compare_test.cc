// compare_shadow: both patches applied to the request's pod, the pods compared, the difference
// reported as a short RFC 6902 diff from istiod's pod to ours.
#include "server/shadow_compare.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace revrouter::server {
namespace {

using nlohmann::json;

const json kPod = {
    {"apiVersion", "v1"},
    {"kind", "Pod"},
    {"metadata",
     {{"generateName", "reviews-v1-"},
      {"labels", {{"app", "reviews"}}},
      {"annotations", {{"team", "books"}}}}},
    {"spec", {{"containers", json::array({{{"name", "app"}, {"image", "reviews:1"}}})}}}};

std::string review_with(const json& object) {
  return json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request", {{"uid", "u1"}, {"object", object}}}}
      .dump();
}

const std::string kReview = review_with(kPod);

// A JSON Patch that adds the sidecar with `image` and the status annotation with text `status`.
std::string inject(const std::string& image, const std::string& status) {
  return json::array({{{"op", "add"},
                       {"path", "/spec/containers/-"},
                       {"value", {{"name", "istio-proxy"}, {"image", image}}}},
                      {{"op", "add"},
                       {"path", "/metadata/annotations/sidecar.istio.io~1status"},
                       {"value", status}}})
      .dump();
}

const std::string kStatus =
    R"({"initContainers":["istio-init"],"containers":["istio-proxy"],"revision":"1-24"})";
// The same JSON as kStatus, keys in another order and spaced as Go's encoder would not.
const std::string kStatusReordered =
    R"({ "revision": "1-24", "containers": ["istio-proxy"], "initContainers": ["istio-init"] })";

std::string add_labels(int n) {
  json ops = json::array();
  for (int i = 0; i < n; ++i) {
    ops.push_back({{"op", "add"},
                   {"path", "/metadata/labels/l" + std::to_string(i)},
                   {"value", std::to_string(i)}});
  }
  return ops.dump();
}

std::string add_label(const std::string& key, const json& value) {
  return json::array({{{"op", "add"}, {"path", "/metadata/labels/" + key}, {"value", value}}})
      .dump();
}

std::string add_annotation(const std::string& key, const std::string& value) {
  return json::array({{{"op", "add"}, {"path", "/metadata/annotations/" + key}, {"value", value}}})
      .dump();
}

struct VerdictCase {
  const char* name;
  std::string local, istiod;
  bool match;
  std::size_t differences;
  json want_diff;  // the reported operations, parsed
  std::size_t max_ops = 5;
  std::string suffix = {};  // after the JSON array
};

void PrintTo(const VerdictCase& c, std::ostream* os) { *os << c.name; }

class ShadowVerdicts : public ::testing::TestWithParam<VerdictCase> {};

TEST_P(ShadowVerdicts, ReportTheDiffFromIstiodsPodToOurs) {
  const VerdictCase& c = GetParam();
  auto v = compare_shadow(kReview, c.local, c.istiod, c.max_ops);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->match, c.match);
  EXPECT_EQ(v->differences, c.differences);
  ASSERT_GE(v->diff.size(), c.suffix.size());
  const std::size_t json_end = v->diff.size() - c.suffix.size();
  EXPECT_EQ(v->diff.substr(json_end), c.suffix) << v->diff;
  const json got = json::parse(v->diff.substr(0, json_end));
  EXPECT_EQ(got, c.want_diff) << v->diff;
  // The diff is compact JSON.
  EXPECT_EQ(v->diff.substr(0, json_end), got.dump());
}

const std::string kLong(300, 'x');

INSTANTIATE_TEST_SUITE_P(
    Rules, ShadowVerdicts,
    ::testing::Values(
        VerdictCase{"IdenticalPatchesMatch", inject("proxyv2:1.24.1", kStatus),
                    inject("proxyv2:1.24.1", kStatus), true, 0, json::array()},
        VerdictCase{"NoPatchesMatch", "", "", true, 0, json::array()},
        VerdictCase{"DifferentImageIsOneReplace", inject("proxyv2:1.24.1", kStatus),
                    inject("proxyv2:1.23.0", kStatus), false, 1,
                    json::array({{{"op", "replace"},
                                  {"path", "/spec/containers/1/image"},
                                  {"value", "proxyv2:1.24.1"}}})},
        VerdictCase{"StatusAnnotationKeyOrderIgnored", inject("proxyv2:1.24.1", kStatus),
                    inject("proxyv2:1.24.1", kStatusReordered), true, 0, json::array()},
        VerdictCase{
            "StatusAnnotationComparedByContent",
            inject("proxyv2:1.24.1", R"({"containers":["istio-proxy"],"revision":"canary"})"),
            inject("proxyv2:1.24.1", R"({"revision":"1-24","containers":["istio-proxy"]})"), false,
            1,
            json::array({{{"op", "replace"},
                          {"path", "/metadata/annotations/sidecar.istio.io~1status/revision"},
                          {"value", "canary"}}})},
        VerdictCase{"StatusAnnotationThatIsNotJsonComparedAsText",
                    inject("proxyv2:1.24.1", "{not json"), inject("proxyv2:1.24.1", "{not json!"),
                    false, 1,
                    json::array({{{"op", "replace"},
                                  {"path", "/metadata/annotations/sidecar.istio.io~1status"},
                                  {"value", "{not json"}}})},
        VerdictCase{"OtherAnnotationsComparedAsText", add_annotation("x", "{\"a\":1,\"b\":2}"),
                    add_annotation("x", "{\"b\":2,\"a\":1}"), false, 1,
                    json::array({{{"op", "replace"},
                                  {"path", "/metadata/annotations/x"},
                                  {"value", "{\"a\":1,\"b\":2}"}}})},
        VerdictCase{"IstiodWithoutPatch", add_label("l", "v"), "", false, 1,
                    json::array({{{"op", "add"}, {"path", "/metadata/labels/l"}, {"value", "v"}}})},
        VerdictCase{"OpsBeyondMaxAreCounted", add_labels(7), "", false, 7,
                    json::array({{{"op", "add"}, {"path", "/metadata/labels/l0"}, {"value", "0"}},
                                 {{"op", "add"}, {"path", "/metadata/labels/l1"}, {"value", "1"}},
                                 {{"op", "add"}, {"path", "/metadata/labels/l2"}, {"value", "2"}},
                                 {{"op", "add"}, {"path", "/metadata/labels/l3"}, {"value", "3"}},
                                 {{"op", "add"}, {"path", "/metadata/labels/l4"}, {"value", "4"}}}),
                    5, " (+2 more)"},
        VerdictCase{"MaxOpsZeroReportsOnlyTheCount", add_labels(3), "", false, 3, json::array(), 0,
                    " (+3 more)"},
        VerdictCase{"ExactlyMaxOpsHasNoSuffix", add_labels(2), "", false, 2,
                    json::array({{{"op", "add"}, {"path", "/metadata/labels/l0"}, {"value", "0"}},
                                 {{"op", "add"}, {"path", "/metadata/labels/l1"}, {"value", "1"}}}),
                    2},
        VerdictCase{"LongStringValueCut", add_label("long", kLong), "", false, 1,
                    json::array({{{"op", "add"},
                                  {"path", "/metadata/labels/long"},
                                  {"value", std::string(117, 'x') + "..."}}})},
        VerdictCase{"LongObjectValueCutAsText", add_label("obj", json{{"k", kLong}}), "", false, 1,
                    json::array({{{"op", "add"},
                                  {"path", "/metadata/labels/obj"},
                                  {"value", "{\"k\":\"" + std::string(111, 'x') + "..."}}})},
        VerdictCase{"ShortObjectValueKept", add_label("obj", json{{"k", 1}}), "", false, 1,
                    json::array({{{"op", "add"},
                                  {"path", "/metadata/labels/obj"},
                                  {"value", {{"k", 1}}}}})},
        // 116 ASCII bytes and then 2-byte characters: the cut falls inside one and backs off.
        VerdictCase{"CutKeepsUtf8Whole",
                    add_label("u", std::string(116, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9"), "", false,
                    1,
                    json::array({{{"op", "add"},
                                  {"path", "/metadata/labels/u"},
                                  {"value", std::string(116, 'x') + "..."}}})}),
    [](const auto& info) { return info.param.name; });

struct ErrorCase {
  const char* name;
  std::string review, local, istiod;
  std::string message_part;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ShadowErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ShadowErrors, SayWhichInputIsUnusable) {
  const ErrorCase& c = GetParam();
  auto v = compare_shadow(c.review, c.local, c.istiod);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "shadow_compare");
  EXPECT_NE(v.error().message.find(c.message_part), std::string::npos) << v.error().message;
}

const std::string kGood = inject("proxyv2:1.24.1", kStatus);
const std::string kMissingPath = R"([{"op":"replace","path":"/spec/nodeName","value":"n1"}])";

INSTANTIATE_TEST_SUITE_P(
    Rules, ShadowErrors,
    ::testing::Values(ErrorCase{"ReviewNotJson", "{", kGood, kGood, "request.object missing"},
                      ErrorCase{"NoRequest", R"({"kind":"AdmissionReview"})", kGood, kGood,
                                "request.object missing"},
                      ErrorCase{"NoObject", R"({"request":{"uid":"u1"}})", kGood, kGood,
                                "request.object missing"},
                      ErrorCase{"NullObject", R"({"request":{"uid":"u1","object":null}})", kGood,
                                kGood, "request.object missing"},
                      ErrorCase{"ObjectNotAnObject", R"({"request":{"uid":"u1","object":"pod"}})",
                                kGood, kGood, "request.object missing"},
                      ErrorCase{"LocalPatchNotJson", kReview, "[{", kGood,
                                "local patch does not apply: it is not JSON"},
                      ErrorCase{"LocalPatchNotAnArray", kReview, R"({"op":"add"})", kGood,
                                "local patch does not apply: "},
                      ErrorCase{"LocalPatchPathMissing", kReview, kMissingPath, kGood,
                                "local patch does not apply: "},
                      ErrorCase{"LocalPatchFailedTest", kReview,
                                R"([{"op":"test","path":"/kind","value":"Service"}])", kGood,
                                "local patch does not apply: "},
                      ErrorCase{"IstiodPatchNotJson", kReview, kGood, "nope",
                                "istiod patch does not apply: it is not JSON"},
                      ErrorCase{"IstiodPatchPathMissing", kReview, kGood, kMissingPath,
                                "istiod patch does not apply: "},
                      ErrorCase{"IstiodPatchBadOp", kReview, kGood,
                                R"([{"op":"frobnicate","path":"/a"}])",
                                "istiod patch does not apply: "}),
    [](const auto& info) { return info.param.name; });

// The review is read, not changed: the same inputs give the same verdict again.
TEST(ShadowCompare, IsAFunctionOfItsInputs) {
  const std::string local = inject("proxyv2:1.24.1", kStatus);
  const std::string istiod = inject("proxyv2:1.23.0", kStatus);
  auto a = compare_shadow(kReview, local, istiod);
  auto b = compare_shadow(kReview, local, istiod);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->diff, b->diff);
  EXPECT_EQ(a->differences, b->differences);
}

}  // namespace
}  // namespace revrouter::server
