#include "admission/admission_review.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "admission/json_reader.h"
#include "tests/admission/review_parsers.h"
#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

using revrouter::testing::decode_base64;
using revrouter::testing::json_mutation_bytes;
using revrouter::testing::mutate_json;
using revrouter::testing::read_file;
using revrouter::testing::read_test_file;
using revrouter::testing::repository_json_files;
using revrouter::testing::review_parsers_disagree;
using revrouter::testing::same_document;
using revrouter::testing::show_bytes;
using revrouter::testing::small_repository_json_texts;

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

TEST(ReviewJsonParsers, AgreeOnRepositoryFiles) {
  const auto files = repository_json_files();
  ASSERT_GE(files.size(), 50u);
  std::size_t valid = 0;
  for (const auto& path : files) {
    const std::string text = read_file(path);
    EXPECT_EQ(review_parsers_disagree(text), "") << path;
    std::string body = text;
    ReviewDocument doc;
    parse_review_json(body.data(), body.size(), doc);
    valid += !doc.HasParseError();
    // json_to_document builds every one of them (RapidJSON parses only what it declines).
    ReviewDocument built;
    EXPECT_EQ(json_to_document(text, built), !doc.HasParseError()) << path;
  }
  EXPECT_GE(valid, files.size() * 9 / 10);
}

TEST(ReviewJsonParsers, AgreeOnMutations) {
  const std::vector<std::string> bases = small_repository_json_texts();
  ASSERT_GE(bases.size(), 20u);
  const std::string& interesting = json_mutation_bytes();
  std::mt19937 rng(20261126);
  std::size_t rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = bases[rng() % bases.size()];
    mutate_json(text, interesting, rng);
    // In-situ parsing stops at a NUL; parse_admission_review rejects such bodies before parsing.
    text = text.substr(0, text.find('\0'));
    EXPECT_EQ(review_parsers_disagree(text), "") << "mutation " << i << ": " << text.substr(0, 80);
    std::string body = text;
    ReviewDocument doc;
    parse_review_json(body.data(), body.size(), doc);
    rejected += doc.HasParseError();
  }
  EXPECT_GE(rejected, 1000u);
}

// json_to_document builds what RapidJSON builds, decoding escapes the same way (a lone low
// surrogate to U+FFFD, as Go decodes it), without writing the body; what RapidJSON rejects or reads
// its own way it declines, and parse_review_json's answer is then RapidJSON's.
TEST(ReviewJsonParsers, DocumentBuilderDecodesAndDeclines) {
  const std::vector<std::pair<std::string, std::string>> decoded = {
      {R"({"s":"caf\u00e9"})", "caf\xC3\xA9"},
      {R"({"s":"\ud83d\ude00!"})", "\xF0\x9F\x98\x80!"},
      {R"({"s":"\udc00"})", "\xEF\xBF\xBD"},
      {R"({"s":"a\"b\\c\/d\n\u0000"})", std::string("a\"b\\c/d\n\0", 9)},
      {"{\"s\":\"\xC3\xA9t\xC3\xA9\"}", "\xC3\xA9t\xC3\xA9"},
  };
  for (const auto& [text, want] : decoded) {
    EXPECT_EQ(review_parsers_disagree(text), "") << text;
    const std::string body = text;
    ReviewDocument doc;
    ASSERT_TRUE(json_to_document(body, doc)) << text;
    EXPECT_EQ(sv(doc["s"]), want) << text;
    EXPECT_EQ(body, text) << "the body is not written";
  }
  // Numbers: the short integers it reads itself, the rest through RapidJSON's number reader; the
  // type flags are compared too (same_document).
  for (const char* text :
       {"[0,-0,7,-7,999999999,-999999999,1000000000,-2147483648,4294967295]",
        "[4294967296,-2147483649,18446744073709551615,18446744073709551616]",
        "[0.5,-1.25e-3,1E2,123456789012345678901234567890,2.2250738585072014e-308]"}) {
    ReviewDocument doc;
    EXPECT_TRUE(json_to_document(text, doc)) << text;
    EXPECT_EQ(review_parsers_disagree(text), "") << text;
  }
  // Declined: RapidJSON rejects these (a lone high surrogate, a number past a double's range, not
  // JSON) or, past JsonReader::kMaxDepth, parses them iteratively.
  const std::string deep = std::string(JsonReader::kMaxDepth + 1, '[') + "1" +
                           std::string(JsonReader::kMaxDepth + 1, ']');
  for (const std::string& text :
       std::vector<std::string>{R"({"s":"\ud800"})", R"({"s":"\ud800\u0041"})", "[1e400]",
                                "{\"s\":\"a\tb\"}", R"({"s":"\x"})", R"({"s":"abc)", "", deep}) {
    ReviewDocument doc;
    EXPECT_FALSE(json_to_document(text, doc)) << text.substr(0, 40);
    EXPECT_EQ(review_parsers_disagree(text), "") << text.substr(0, 40);
    std::string body = text;
    parse_review_json(body.data(), body.size(), doc);
    EXPECT_EQ(doc.HasParseError(), text != deep) << text.substr(0, 40);
  }
  // Invalid UTF-8 is RapidJSON's error (json_to_document declines it), early in a long body or not.
  for (const std::size_t tail : {std::size_t{0}, std::size_t{64}}) {
    std::string body = "{\"s\":\"\xC0\xAF" + std::string(tail, 'a') + "\"}";
    ReviewDocument doc;
    parse_review_json(body.data(), body.size(), doc);
    EXPECT_EQ(doc.GetParseError(), rapidjson::kParseErrorStringInvalidEncoding) << tail;
  }
  // A document reused after a failed parse reads as parsed.
  ReviewDocument doc;
  std::string bad = "{", good = R"({"a":1})";
  parse_review_json(bad.data(), bad.size(), doc);
  ASSERT_TRUE(doc.HasParseError());
  parse_review_json(good.data(), good.size(), doc);
  EXPECT_FALSE(doc.HasParseError());
  EXPECT_EQ(doc["a"].GetInt(), 1);
}

// A repeated member name keeps both members, in order, with either parser (the codec reads the
// last, as Go does).
TEST(ReviewJsonParsers, AgreeOnRepeatedMembers) {
  const std::string text = R"({"uid":"a","uid":"b","o":{"k":1,"k":[2],"k":{}}})";
  EXPECT_EQ(review_parsers_disagree(text), "");
  // The comparison itself: order and repeated names count, so it can tell documents apart.
  auto parsed = [](std::string text) {
    auto doc = std::make_unique<ReviewDocument>();
    doc->Parse(text.c_str());
    return doc;
  };
  EXPECT_TRUE(same_document(*parsed(R"({"a":1,"a":2})"), *parsed(R"({"a":1,"a":2})")));
  EXPECT_FALSE(same_document(*parsed(R"({"a":1,"a":2})"), *parsed(R"({"a":2,"a":1})")));
  EXPECT_FALSE(same_document(*parsed(R"({"a":1,"b":2})"), *parsed(R"({"b":2,"a":1})")));
  EXPECT_FALSE(same_document(*parsed(R"([1,[2,"x"]])"), *parsed(R"([1,[2,"y"]])")));
  std::string body = text;
  ReviewDocument doc;
  parse_review_json(body.data(), body.size(), doc);
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(doc.MemberCount(), 3u);
}

// RapidJSON reads a whole UTF-8 sequence before judging it, so a body ending inside one could be
// read past its NUL terminator. Each body here sits in a buffer of exactly its length plus the NUL,
// where ASan reports any read beyond: the over-reading endings are rejected before parsing, and
// every near miss (shorter leads, a sequence ending exactly at the NUL) reaches the parser safely.
TEST(AdmissionReviewCodec, BodyEndingInsideUtf8Sequence) {
  const std::string prefix =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x)";
  auto parse = [&](const std::string& tail) {
    const std::string text = prefix + tail;
    const auto body = std::make_unique<char[]>(text.size() + 1);
    std::memcpy(body.get(), text.c_str(), text.size() + 1);
    ReviewDocument doc;
    auto result = parse_admission_review(body.get(), text.size(), doc);
    return result.ok() ? std::string("ok") : result.error().message;
  };
  const std::string ours = "body is not JSON: it ends inside a UTF-8 sequence";
  for (const char* over : {"\xE0", "\xE2", "\xED", "\xEF", "\xF0", "\xF3", "\xF4", "\xF0\x90",
                           "\xF4\x80", "\xF0x", "\xF2\xF2"}) {
    EXPECT_TRUE(ends_inside_utf8_sequence((prefix + over).data(), prefix.size() + std::strlen(over)));
    EXPECT_EQ(parse(over), ours) << show_bytes(over);
  }
  for (const char* near : {"\xC3", "\xDF", "\x80", "\xBF", "\xC0", "\xF5", "\xFF", "\xE2\x82",
                           "\xED\xA0", "\xF0\x90\x80", "\xF4\x90\x80", "\xF0xy", "\xC3\xA9",
                           "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "ab"}) {
    EXPECT_FALSE(
        ends_inside_utf8_sequence((prefix + near).data(), prefix.size() + std::strlen(near)));
    const std::string message = parse(near);
    EXPECT_NE(message, ours) << show_bytes(near);
    EXPECT_EQ(message.rfind("body is not JSON: ", 0), 0u) << show_bytes(near) << ": " << message;
  }
  EXPECT_EQ(parse("\xC3\xA9\"}}"), "ok") << "a complete review ending in U+00E9 and a quote";
}

// Deep nesting: the body's brackets decide, so a deep body is parsed iteratively and answered with
// a JSON error or a document, never a stack overflow.
TEST(ReviewJsonParsers, DeepBodiesParseIteratively) {
  for (const std::size_t depth :
       {kRecursiveParseOpenLimit, kRecursiveParseOpenLimit + 1, std::size_t{100000}}) {
    std::string body = std::string(depth, '[') + "1" + std::string(depth, ']');
    ReviewDocument doc;
    parse_review_json(body.data(), body.size(), doc);
    EXPECT_FALSE(doc.HasParseError()) << depth;
    std::string cut = std::string(depth, '{');
    parse_review_json(cut.data(), cut.size(), doc);
    EXPECT_TRUE(doc.HasParseError()) << depth;
  }
}

// RFC 4648 section 4 character by character: the reference the block encoder is checked against.
std::string reference_base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t v = 0;
    const std::size_t n = std::min<std::size_t>(3, in.size() - i);
    for (std::size_t k = 0; k < 3; ++k) {
      v = v << 8 | (k < n ? static_cast<unsigned char>(in[i + k]) : 0U);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? kAlphabet[(v >> (18 - 6 * k)) & 63] : '=');
    }
  }
  return out;
}

// Every SIMD level of the encoder this CPU has, so each is checked against the reference (the
// levels checked are recorded as the test's simd_levels property; a CPU without one cannot run it).
std::vector<SimdLevel> base64_levels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kBaseline, SimdLevel::kSsse3, SimdLevel::kAvx512Vbmi}) {
    if (l <= best_simd_level()) levels.push_back(l);
  }
  return levels;
}

const char* level_name(SimdLevel l) {
  switch (l) {
    case SimdLevel::kBaseline:
      return "baseline";
    case SimdLevel::kSsse3:
      return "ssse3";
    case SimdLevel::kAvx512Vbmi:
      return "avx512vbmi";
  }
  return "?";
}

// The encoders work in 24-byte steps while 32 bytes remain (VBMI), then 12-byte steps while 16
// remain (SSSE3), then byte triples: every length up to several steps, at each level, so each
// step boundary and tail length is crossed.
TEST(Base64, MatchesReferenceAtEveryLength) {
  std::string checked;
  for (const SimdLevel level : base64_levels()) checked += std::string(level_name(level)) + " ";
  RecordProperty("simd_levels", checked);
  for (const SimdLevel level : base64_levels()) {
    std::mt19937 rng(7);
    for (std::size_t len = 0; len <= 200; ++len) {
      std::string in(len, '\0');
      for (char& c : in) c = static_cast<char>(rng());
      std::string out = "x";
      append_base64(in, out, level);
      ASSERT_EQ(out, "x" + reference_base64(in)) << level_name(level) << ", length " << len;
    }
  }
}

// Every byte value at every position of a 72-byte input (three VBMI steps, six SSSE3 blocks), at
// each level: each value passes through each lane and each of the three byte slots of a group,
// and through every alphabet range.
TEST(Base64, EveryByteAtEveryPosition) {
  for (const SimdLevel level : base64_levels()) {
    std::mt19937 rng(11);
    std::string base(72, '\0');
    for (char& c : base) c = static_cast<char>(rng());
    for (std::size_t pos = 0; pos < base.size(); ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string in = base;
        in[pos] = static_cast<char>(b);
        std::string out;
        append_base64(in, out, level);
        ASSERT_EQ(out, reference_base64(in))
            << level_name(level) << ": byte " << b << " at " << pos;
      }
    }
  }
}

}  // namespace
}  // namespace revrouter
