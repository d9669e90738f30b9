#include "admission/admission_review.h"

#include <gtest/gtest.h>

#include <array>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

using revrouter::testing::decode_base64;
using revrouter::testing::read_test_file;

// Owns the body buffer and the Document the views point into.
struct Parsed {
  std::string body;
  ReviewDocument doc;
  Result<AdmissionRequest> result = Error{};
  explicit Parsed(std::string b) : body(std::move(b)) {
    result = parse_admission_review(body.data(), body.size(), doc);
  }
};

TEST(AdmissionReviewCodec, ParsesV1PodCreate) {
  Parsed p(read_test_file("codec/pod-create.v1.json"));
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  const AdmissionRequest& r = *p.result;
  EXPECT_EQ(r.version, ReviewVersion::kV1);
  EXPECT_EQ(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(r.kind.kind, "Pod");
  EXPECT_EQ(r.kind.version, "v1");
  EXPECT_EQ(r.kind.group, "");
  EXPECT_EQ(r.resource, "pods");
  EXPECT_EQ(r.sub_resource, "");
  EXPECT_EQ(r.operation, "CREATE");
  EXPECT_EQ(r.namespace_, "bookinfo");
  EXPECT_EQ(r.name, "");
  EXPECT_FALSE(r.dry_run);
  EXPECT_FALSE(r.malformed.has_value());
  ASSERT_NE(r.object, nullptr);
  EXPECT_EQ(*string_member(member(r.object, "metadata"), "generateName"), "reviews-v1-5d8f7c9b6-");
  EXPECT_TRUE(r.is_pod_create());
}

TEST(AdmissionReviewCodec, ParsesV1beta1WithDryRun) {
  Parsed p(read_test_file("codec/pod-create.v1beta1.json"));
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  EXPECT_EQ(p.result->version, ReviewVersion::kV1beta1);
  EXPECT_EQ(p.result->uid, "0df28fbd-5f5f-11e8-bc74-36e6bb280816");
  EXPECT_TRUE(p.result->dry_run);
  EXPECT_TRUE(p.result->is_pod_create());
}

std::string review_with_request(const std::string& request_fields) {
  return R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",)" +
         request_fields + "}}";
}

struct IsPodCreateCase {
  const char* name;
  std::string fields;
  bool want;
};

class IsPodCreate : public ::testing::TestWithParam<IsPodCreateCase> {};

TEST_P(IsPodCreate, OnlyCorePodCreateWithoutSubresource) {
  Parsed p(review_with_request(GetParam().fields));
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  EXPECT_EQ(p.result->is_pod_create(), GetParam().want);
}

const std::string kPodKind = R"("kind":{"group":"","version":"v1","kind":"Pod"},)";
INSTANTIATE_TEST_SUITE_P(
    Rules, IsPodCreate,
    ::testing::Values(
        IsPodCreateCase{"PodCreate", kPodKind + R"("resource":{"resource":"pods"},"operation":"CREATE")", true},
        IsPodCreateCase{"PodUpdate", kPodKind + R"("resource":{"resource":"pods"},"operation":"UPDATE")", false},
        IsPodCreateCase{"PodDelete", kPodKind + R"("resource":{"resource":"pods"},"operation":"DELETE")", false},
        IsPodCreateCase{"EphemeralContainersSubresource",
                        kPodKind + R"("resource":{"resource":"pods"},"subResource":"ephemeralcontainers","operation":"CREATE")", false},
        IsPodCreateCase{"Deployment",
                        R"("kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"resource":"deployments"},"operation":"CREATE")", false},
        IsPodCreateCase{"PodKindInOtherGroup",
                        R"("kind":{"group":"example.com","version":"v1","kind":"Pod"},"operation":"CREATE")", false},
        IsPodCreateCase{"OtherResourceNamedPod", kPodKind + R"("resource":{"resource":"pods2"},"operation":"CREATE")", false}),
    [](const auto& info) { return info.param.name; });

struct ErrorCase {
  const char* name;
  std::string body;
  std::string_view code;
  std::string message_part;
};

class EnvelopeErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(EnvelopeErrors, HaveSpecificCodeAndMessage) {
  Parsed p(GetParam().body);
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.result.error().code, GetParam().code);
  EXPECT_NE(p.result.error().message.find(GetParam().message_part), std::string::npos)
      << p.result.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Classes, EnvelopeErrors,
    ::testing::Values(
        ErrorCase{"Garbage", "hello", review_error::kNotJson, "body is not JSON: Invalid value"},
        ErrorCase{"Truncated", R"({"apiVersion":"admission.k8s.io/v1","kind":"Admiss)", review_error::kNotJson, "(at byte"},
        ErrorCase{"TrailingGarbage", R"({} x)", review_error::kNotJson, "not be followed by other values"},
        ErrorCase{"NulByte", std::string("{}\0{}", 5), review_error::kNotJson, "NUL byte"},
        ErrorCase{"InvalidUtf8", "{\"kind\":\"\xff\xfe\"}", review_error::kNotJson, "encoding"},
        ErrorCase{"LoneHighSurrogate", R"({"kind":"\ud800x"})", review_error::kNotJson, "surrogate"},
        ErrorCase{"Empty", "", review_error::kNotJson, "body is not JSON"},
        ErrorCase{"Array", "[]", review_error::kNotAdmissionReview, "not a JSON object"},
        ErrorCase{"WrongKind", R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod"})", review_error::kNotAdmissionReview, "want kind"},
        ErrorCase{"NoApiVersion", R"({"kind":"AdmissionReview"})", review_error::kNotAdmissionReview, "apiVersion"},
        ErrorCase{"KindNotString", R"({"apiVersion":"admission.k8s.io/v1","kind":7})", review_error::kNotAdmissionReview, "want kind"},
        ErrorCase{"UnsupportedVersion", R"({"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview"})", review_error::kUnsupportedApiVersion, "admission.k8s.io/v2"},
        ErrorCase{"NoRequest", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", review_error::kMissingRequest, "no request"},
        ErrorCase{"RequestNotObject", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]})", review_error::kMissingRequest, "no request"},
        ErrorCase{"NoUid", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})", review_error::kMissingUid, "no uid"},
        ErrorCase{"EmptyUid", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}})", review_error::kMissingUid, "no uid"},
        ErrorCase{"UidNotString", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}})", review_error::kMissingUid, "no uid"},
        ErrorCase{"HugeNumber", R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","n":1e999})", review_error::kNotJson, "too big"}),
    [](const auto& info) { return info.param.name; });

struct FieldCase {
  const char* name;
  std::string fields;
  std::string message;
};

class MalformedFields : public ::testing::TestWithParam<FieldCase> {};

// Once the uid is known the review is answerable, so wrong types are recorded, not fatal.
TEST_P(MalformedFields, AreRecordedWithTheirPath) {
  Parsed p(review_with_request(GetParam().fields));
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  ASSERT_TRUE(p.result->malformed.has_value());
  EXPECT_EQ(p.result->malformed->code, review_error::kBadField);
  EXPECT_EQ(p.result->malformed->message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    EveryField, MalformedFields,
    ::testing::Values(
        FieldCase{"KindNotObject", R"("kind":"Pod")", "request.kind: expected an object"},
        FieldCase{"KindKindNumber", R"("kind":{"kind":1})", "request.kind.kind: expected a string"},
        FieldCase{"KindGroupArray", R"("kind":{"group":[]})", "request.kind.group: expected a string"},
        FieldCase{"KindVersionBool", R"("kind":{"version":true})", "request.kind.version: expected a string"},
        FieldCase{"ResourceNotObject", R"("resource":"pods")", "request.resource: expected an object"},
        FieldCase{"ResourceName", R"("resource":{"resource":{}})", "request.resource.resource: expected a string"},
        FieldCase{"SubResource", R"("subResource":5)", "request.subResource: expected a string"},
        FieldCase{"Operation", R"("operation":["CREATE"])", "request.operation: expected a string"},
        FieldCase{"Namespace", R"("namespace":false)", "request.namespace: expected a string"},
        FieldCase{"Name", R"("name":3.5)", "request.name: expected a string"},
        FieldCase{"DryRun", R"("dryRun":"true")", "request.dryRun: expected a boolean"}),
    [](const auto& info) { return info.param.name; });

TEST(AdmissionReviewCodec, NullFieldsCountAsAbsent) {
  Parsed p(review_with_request(R"("kind":null,"namespace":null,"object":null,"dryRun":null)"));
  ASSERT_TRUE(p.result.ok());
  EXPECT_FALSE(p.result->malformed.has_value());
  EXPECT_EQ(p.result->object, nullptr);
}

TEST(AdmissionReviewCodec, DeeplyNestedObjectParsesWithoutRecursion) {
  constexpr int kDepth = 100000;
  std::string body = review_with_request(R"("object":)" + std::string(kDepth, '[') +
                                         std::string(kDepth, ']'));
  Parsed p(body);
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  ASSERT_NE(p.result->object, nullptr);
  EXPECT_TRUE(p.result->object->IsArray());
}

// Escapes decode as Go's encoding/json decodes them (kube-apiserver and istiod are Go): a lone low
// surrogate becomes U+FFFD, never the surrogate's own bytes, which are not UTF-8 and would make an
// answer echoing the uid invalid JSON (found by fuzz_admission_review).
struct EscapeCase {
  const char* name;
  const char* escaped;   // the uid as written in the JSON text
  std::string_view uid;  // the uid decoded
};

class UnicodeEscapes : public ::testing::TestWithParam<EscapeCase> {};

TEST_P(UnicodeEscapes, DecodeAsGoDoesAndEchoAsValidJson) {
  Parsed p(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" +
           std::string(GetParam().escaped) + "\"}}");
  ASSERT_TRUE(p.result.ok()) << p.result.error().message;
  EXPECT_EQ(p.result->uid, GetParam().uid);
  AdmissionResponse r;
  r.uid = p.result->uid;
  std::string out;
  write_admission_review(r, out);
  const auto j = nlohmann::json::parse(out);  // throws on invalid UTF-8
  EXPECT_EQ(j["response"]["uid"].get<std::string>(), GetParam().uid);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UnicodeEscapes,
    ::testing::Values(
        EscapeCase{"Latin1", R"(caf\u00e9)", "caf\xC3\xA9"},
        EscapeCase{"SurrogatePair", R"(\ud83d\ude00)", "\xF0\x9F\x98\x80"},
        EscapeCase{"LoneLowSurrogate", R"(70\udefa\udefa5ab)", "70\xEF\xBF\xBD\xEF\xBF\xBD" "5ab"},
        EscapeCase{"EscapedBackslashBeforeU", R"(a\\udc00)", "a\\udc00"},
        EscapeCase{"LowSurrogateFirst", R"(\udc00\ud83d\ude00)", "\xEF\xBF\xBD\xF0\x9F\x98\x80"}),
    [](const auto& info) { return info.param.name; });

TEST(AdmissionReviewCodec, DocumentIsReusableAcrossRequests) {
  ReviewDocument doc;
  for (const char* file : {"codec/pod-create.v1.json", "codec/pod-create.v1beta1.json"}) {
    std::string body = read_test_file(file);
    auto r = parse_admission_review(body.data(), body.size(), doc);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->uid.empty());
  }
}

// Each golden response was written by an independent JSON serializer; the codec must match it to
// the byte, and the patch must decode back to the original bytes.
TEST(AdmissionReviewCodec, WritesAllowedV1) {
  AdmissionResponse r;
  r.uid = "705ab4f5-6393-11e8-b7cc-42010a800002";
  std::string out;
  write_admission_review(r, out);
  EXPECT_EQ(out + "\n", read_test_file("codec/allowed.v1.golden.json"));
}

TEST(AdmissionReviewCodec, WritesPatchWarningsAndAuditAnnotationsV1beta1) {
  const std::string patch =
      R"([{"op":"add","path":"/metadata/labels/security.istio.io~1tlsMode","value":"istio"}])";
  const std::array<std::string_view, 2> warnings = {"first warning", "second \"quoted\" warning"};
  const std::array<AuditAnnotation, 2> audit = {AuditAnnotation{"reason", "policy-enabled"},
                                                AuditAnnotation{"revision", "1-15-4"}};
  AdmissionResponse r;
  r.version = ReviewVersion::kV1beta1;
  r.uid = "0df28fbd-5f5f-11e8-bc74-36e6bb280816";
  r.patch = patch;
  r.warnings = warnings;
  r.audit_annotations = audit;
  std::string out;
  write_admission_review(r, out);
  EXPECT_EQ(out + "\n", read_test_file("codec/patch.v1beta1.golden.json"));
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(decode_base64(j["response"]["patch"].get<std::string>()), patch);
}

TEST(AdmissionReviewCodec, WritesDenialAndEscapesUid) {
  AdmissionResponse r;
  r.uid = "u\"1\\\n\x01";
  r.allowed = false;
  r.status_code = 400;
  r.status_message = "revrouter: request.object.metadata.labels.app: expected a string";
  std::string out;
  write_admission_review(r, out);
  EXPECT_EQ(out + "\n", read_test_file("codec/denied.v1.golden.json"));
  EXPECT_EQ(nlohmann::json::parse(out)["response"]["uid"], "u\"1\\\n\x01");
}

TEST(AdmissionReviewCodec, RoundTripEchoesUidInRequestVersion) {
  for (const char* file : {"codec/pod-create.v1.json", "codec/pod-create.v1beta1.json"}) {
    Parsed p(read_test_file(file));
    ASSERT_TRUE(p.result.ok());
    AdmissionResponse r;
    r.version = p.result->version;
    r.uid = p.result->uid;
    std::string out;
    write_admission_review(r, out);
    const auto in = nlohmann::json::parse(read_test_file(file));
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["apiVersion"], in["apiVersion"]) << file;
    EXPECT_EQ(j["kind"], "AdmissionReview");
    EXPECT_EQ(j["response"]["uid"], in["request"]["uid"]);
    EXPECT_EQ(j["response"]["allowed"], true);
    EXPECT_FALSE(j["response"].contains("patchType"));
    EXPECT_FALSE(j["response"].contains("patch"));
  }
}

TEST(Base64, MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, want] : vectors) {
    std::string out = "prefix:";
    append_base64(in, out);
    EXPECT_EQ(out, std::string("prefix:") + want) << in;
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string encoded;
  append_base64(all, encoded);
  EXPECT_EQ(decode_base64(encoded), all);
}

}  // namespace
}  // namespace revrouter
