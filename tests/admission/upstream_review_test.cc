#include "admission/upstream_review.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

// base64 of kPatch, encoded outside the codec (Python's base64.b64encode).
constexpr std::string_view kPatch = R"([{"op":"add","path":"/metadata/labels/a","value":"b"}])";
constexpr std::string_view kPatchB64 =
    "W3sib3AiOiJhZGQiLCJwYXRoIjoiL21ldGFkYXRhL2xhYmVscy9hIiwidmFsdWUiOiJiIn1d";

// Owns the body buffer, the Document and the patch buffer the answer's views point into.
struct Checked {
  std::string body;
  std::string patch;
  Result<UpstreamAnswer> result = Error{};
  Checked(std::string b, ReviewVersion version, std::string_view uid) : body(std::move(b)) {
    result = check_upstream_review(body.data(), body.size(), version, uid, patch);
  }
};

// An answer in `api_version` whose response object has the members `response_fields`.
std::string answer(std::string_view api_version, std::string_view response_fields) {
  return R"({"apiVersion":")" + std::string(api_version) +
         R"(","kind":"AdmissionReview","response":{)" + std::string(response_fields) + "}}";
}

std::string v1(std::string_view response_fields) { return answer(kV1, response_fields); }

std::string with_patch(std::string_view b64) {
  return R"("uid":"u1","allowed":true,"patchType":"JSONPatch","patch":")" + std::string(b64) + "\"";
}

// ---------------------------------------------------------------------------------------------
// Answers that pass.

struct ValidCase {
  const char* name;
  ReviewVersion version;
  std::string body;
  bool allowed;
  std::string patch;  // decoded
  int status_code = 0;
  std::string status_message = {};
  std::vector<std::string> warnings = {};
  std::vector<std::pair<std::string, std::string>> audit = {};
};

void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

class ValidAnswers : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidAnswers, AreReadFieldByField) {
  const ValidCase& c = GetParam();
  Checked ch(c.body, c.version, "u1");
  ASSERT_TRUE(ch.result.ok()) << ch.result.error().message;
  const UpstreamAnswer& a = *ch.result;
  EXPECT_EQ(a.allowed, c.allowed);
  EXPECT_EQ(a.patch, c.patch);
  EXPECT_EQ(a.status_code, c.status_code);
  EXPECT_EQ(a.status_message, c.status_message);
  ASSERT_EQ(a.warnings.size(), c.warnings.size());
  for (std::size_t i = 0; i < c.warnings.size(); ++i) EXPECT_EQ(a.warnings[i], c.warnings[i]);
  ASSERT_EQ(a.audit_annotations.size(), c.audit.size());
  for (std::size_t i = 0; i < c.audit.size(); ++i) {
    EXPECT_EQ(a.audit_annotations[i].key, c.audit[i].first);
    EXPECT_EQ(a.audit_annotations[i].value, c.audit[i].second);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ValidAnswers,
    ::testing::Values(
        ValidCase{"V1AllowedWithoutPatch", ReviewVersion::kV1, v1(R"("uid":"u1","allowed":true)"),
                  true, ""},
        ValidCase{"V1WithPatch", ReviewVersion::kV1, v1(with_patch(kPatchB64)), true,
                  std::string(kPatch)},
        ValidCase{"V1beta1WithPatch", ReviewVersion::kV1beta1,
                  answer(kV1beta1, with_patch(kPatchB64)), true, std::string(kPatch)},
        ValidCase{"V1beta1WithoutPatch", ReviewVersion::kV1beta1,
                  answer(kV1beta1, R"("uid":"u1","allowed":true)"), true, ""},
        ValidCase{
            "V1DenialWithStatus", ReviewVersion::kV1,
            v1(R"("uid":"u1","allowed":false,"status":{"metadata":{},"status":"Failure",)"
               R"("reason":"Forbidden","code":403,"message":"injection failed: no template"})"),
            false, "", 403, "injection failed: no template"},
        ValidCase{"StatusWithOnlyMessage", ReviewVersion::kV1,
                  v1(R"("uid":"u1","allowed":true,"status":{"message":"ok"})"), true, "", 0, "ok"},
        ValidCase{"WarningsAndAuditAnnotationsInOrder",
                  ReviewVersion::kV1,
                  v1(with_patch(kPatchB64) +
                     R"(,"warnings":["w1","w\"2\""],"auditAnnotations":{"b":"2","a":"1"})"),
                  true,
                  std::string(kPatch),
                  0,
                  "",
                  {"w1", "w\"2\""},
                  {{"b", "2"}, {"a", "1"}}},
        ValidCase{"EmptyWarningsAndAuditAnnotations", ReviewVersion::kV1,
                  v1(R"("uid":"u1","allowed":true,"warnings":[],"auditAnnotations":{})"), true, ""},
        ValidCase{"NullOptionalFieldsAreAbsent", ReviewVersion::kV1,
                  v1(R"("uid":"u1","allowed":true,"patch":null,"patchType":null,"status":null,)"
                     R"("warnings":null,"auditAnnotations":null)"),
                  true, ""},
        ValidCase{"EmptyPatchStringIsNoPatch", ReviewVersion::kV1,
                  v1(R"("uid":"u1","allowed":true,"patch":"")"), true, ""},
        ValidCase{"PatchWithWhitespaceAroundTheArray", ReviewVersion::kV1,
                  v1(with_patch("IFsgXSA=")), true, " [ ] "},
        ValidCase{"UnknownFieldsIgnored", ReviewVersion::kV1,
                  v1(R"("uid":"u1","allowed":true,"extra":{"x":[1,2]})"), true, ""},
        // Escapes decode as Go's decoder does (lone surrogate: U+FFFD), in every string read.
        ValidCase{"EscapedStringsAreDecoded",
                  ReviewVersion::kV1,
                  answer(R"(admission.k8s.io\/v1)",
                         R"("uid":"\u0075\u0031","allowed":true,"patchType":"JSON\u0050atch",)"
                         R"("patch":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d",)"
                         R"("status":{"message":"caf\u00e9 \ud83d\ude00 \udc00"},)"
                         R"("warnings":["tab\there"],"auditAnnotations":{"k\u0065y":"v\/1"})"),
                  true,
                  R"([{"op":"add","path":"/a","value":1}])",
                  0,
                  "caf\xC3\xA9 \xF0\x9F\x98\x80 \xEF\xBF\xBD",
                  {"tab\there"},
                  {{"key", "v/1"}}},
        ValidCase{"PatchWithSlashEscapes", ReviewVersion::kV1,
                  v1(with_patch(R"(W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6Ij8\/In1d)")), true,
                  R"([{"op":"add","path":"/a","value":"??"}])"},
        // A repeated member counts with its last value, as for Go's decoder (the apiserver's).
        ValidCase{"RepeatedMemberTakesTheLast",
                  ReviewVersion::kV1,
                  v1(R"("uid":"u0","allowed":false,"uid":"u1","warnings":["a"],"warnings":["b"],)"
                     R"("allowed":true)"),
                  true,
                  "",
                  0,
                  "",
                  {"b"}}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Answers that do not pass: every class its own message, all with code upstream_invalid.

struct InvalidCase {
  const char* name;
  ReviewVersion version;
  std::string body;
  std::string message_part;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidAnswers : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidAnswers, AreRejectedWithASpecificMessage) {
  const InvalidCase& c = GetParam();
  Checked ch(c.body, c.version, "u1");
  ASSERT_FALSE(ch.result.ok());
  EXPECT_EQ(ch.result.error().code, "upstream_invalid");
  EXPECT_NE(ch.result.error().message.find(c.message_part), std::string::npos)
      << ch.result.error().message;
}

std::string allowed_with(std::string_view fields) {
  return v1(R"("uid":"u1","allowed":true,)" + std::string(fields));
}

INSTANTIATE_TEST_SUITE_P(
    NotJson, InvalidAnswers,
    ::testing::Values(
        InvalidCase{"Garbage", ReviewVersion::kV1, "hello",
                    "not JSON at offset 0: expected a value"},
        InvalidCase{"Empty", ReviewVersion::kV1, "", "not JSON at offset 0"},
        InvalidCase{"Truncated", ReviewVersion::kV1, R"({"apiVersion":"admission.k8s.io/v1")",
                    "not JSON at offset 35"},
        InvalidCase{"TrailingGarbage", ReviewVersion::kV1, v1(R"("uid":"u1","allowed":true)") + "x",
                    "unexpected text after the value"},
        InvalidCase{"NulByte", ReviewVersion::kV1, std::string("{}\0{}", 5),
                    "not JSON at offset 2: unexpected text after the value"},
        // Not validated by the parser: the kind is compared, and shown with its bytes masked.
        InvalidCase{"InvalidUtf8", ReviewVersion::kV1, "{\"kind\":\"\xff\"}",
                    "not JSON at offset 9: invalid UTF-8 in string"}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Envelope, InvalidAnswers,
    ::testing::Values(
        InvalidCase{"NotAnObject", ReviewVersion::kV1, "[]",
                    "the answer is an array, not an AdmissionReview object"},
        InvalidCase{"MissingKind", ReviewVersion::kV1, R"({"apiVersion":"admission.k8s.io/v1"})",
                    "missing kind"},
        InvalidCase{"KindNotString", ReviewVersion::kV1, R"({"kind":1})",
                    "kind is a number, not a string"},
        InvalidCase{"WrongKind", ReviewVersion::kV1,
                    R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod","response":{}})",
                    "kind \"Pod\" is not AdmissionReview"},
        InvalidCase{"MissingApiVersion", ReviewVersion::kV1, R"({"kind":"AdmissionReview"})",
                    "missing apiVersion"},
        InvalidCase{"ApiVersionNotString", ReviewVersion::kV1,
                    R"({"kind":"AdmissionReview","apiVersion":true})",
                    "apiVersion is a boolean, not a string"},
        InvalidCase{"V1beta1AnswerToV1Request", ReviewVersion::kV1,
                    answer(kV1beta1, R"("uid":"u1","allowed":true)"),
                    "apiVersion \"admission.k8s.io/v1beta1\" does not match the request's "
                    "admission.k8s.io/v1"},
        InvalidCase{"V1AnswerToV1beta1Request", ReviewVersion::kV1beta1,
                    v1(R"("uid":"u1","allowed":true)"),
                    "apiVersion \"admission.k8s.io/v1\" does not match the request's "
                    "admission.k8s.io/v1beta1"},
        InvalidCase{"UnknownApiVersion", ReviewVersion::kV1,
                    answer("admission.k8s.io/v2", R"("uid":"u1","allowed":true)"),
                    "apiVersion \"admission.k8s.io/v2\" does not match"},
        InvalidCase{"MissingResponse", ReviewVersion::kV1,
                    R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})",
                    "missing response"},
        InvalidCase{
            "NullResponse", ReviewVersion::kV1,
            R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":null})",
            "missing response"},
        InvalidCase{
            "ResponseNotObject", ReviewVersion::kV1,
            R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":[]})",
            "response is an array, not an object"},
        InvalidCase{"MissingUid", ReviewVersion::kV1, v1(R"("allowed":true)"),
                    "missing response.uid"},
        InvalidCase{"UidNotString", ReviewVersion::kV1, v1(R"("uid":7,"allowed":true)"),
                    "response.uid is a number, not a string"},
        InvalidCase{"UidMismatch", ReviewVersion::kV1, v1(R"("uid":"u2","allowed":true)"),
                    "response.uid \"u2\" does not match the request's \"u1\""},
        InvalidCase{"EmptyUid", ReviewVersion::kV1, v1(R"("uid":"","allowed":true)"),
                    "response.uid \"\" does not match the request's \"u1\""},
        InvalidCase{"LongUidIsCutInTheMessage", ReviewVersion::kV1,
                    v1(R"("uid":")" + std::string(200, 'x') + R"(","allowed":true)"),
                    "response.uid \"" + std::string(64, 'x') + "...\" does not match"},
        InvalidCase{"MissingAllowed", ReviewVersion::kV1, v1(R"("uid":"u1")"),
                    "missing response.allowed"},
        InvalidCase{"NullAllowed", ReviewVersion::kV1, v1(R"("uid":"u1","allowed":null)"),
                    "missing response.allowed"},
        InvalidCase{"AllowedNotBool", ReviewVersion::kV1, v1(R"("uid":"u1","allowed":"true")"),
                    "response.allowed is a string, not a boolean"}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    Patch, InvalidAnswers,
    ::testing::Values(
        InvalidCase{"PatchNotString", ReviewVersion::kV1,
                    allowed_with(R"("patchType":"JSONPatch","patch":[])"),
                    "response.patch is an array, not a base64 string"},
        InvalidCase{"Base64BadCharacter", ReviewVersion::kV1, v1(with_patch("W1*d")),
                    "response.patch is not valid base64"},
        InvalidCase{"Base64UrlAlphabet", ReviewVersion::kV1, v1(with_patch("W-9d")),
                    "response.patch is not valid base64"},
        InvalidCase{"Base64BadLength", ReviewVersion::kV1, v1(with_patch("W10")),
                    "response.patch is not valid base64"},
        InvalidCase{"Base64BadPadding", ReviewVersion::kV1, v1(with_patch("W1==")),
                    "response.patch is not valid base64"},
        InvalidCase{"Base64PaddingInTheMiddle", ReviewVersion::kV1, v1(with_patch("W10=W10=")),
                    "response.patch is not valid base64"},
        InvalidCase{"Base64Whitespace", ReviewVersion::kV1, v1(with_patch("W10=\\n")),
                    "response.patch is not valid base64"},
        InvalidCase{"PatchIsAnObject", ReviewVersion::kV1, v1(with_patch("eyJvcCI6ImFkZCJ9")),
                    "response.patch is not a JSON array"},
        InvalidCase{"PatchIsAString", ReviewVersion::kV1, v1(with_patch("IltdIg==")),
                    "response.patch is not a JSON array"},
        InvalidCase{"PatchNotJson", ReviewVersion::kV1, v1(with_patch("bm90IGpzb24=")),
                    "response.patch is not a JSON array: not JSON at offset 0: expected a value"},
        InvalidCase{"PatchTrailingGarbage", ReviewVersion::kV1, v1(with_patch("W10geA==")),
                    "response.patch is not a JSON array: not JSON at offset 3"},
        InvalidCase{"PatchNulByte", ReviewVersion::kV1, v1(with_patch("W10A")),
                    "response.patch is not a JSON array: not JSON at offset 2: unexpected text "
                    "after the value"},
        InvalidCase{"PatchInvalidUtf8", ReviewVersion::kV1, v1(with_patch("W/9d")),
                    "response.patch is not a JSON array: not JSON at offset 1: expected a value"},
        InvalidCase{"PatchInvalidUtf8InAString", ReviewVersion::kV1, v1(with_patch("WyL/Il0=")),
                    "response.patch is not a JSON array: not JSON at offset 2: invalid UTF-8 in "
                    "string"},
        InvalidCase{"PatchNestedTooDeep", ReviewVersion::kV1,
                    v1(with_patch([] {  // 10,002 '['
                      std::string b64;
                      for (int i = 0; i < 3334; ++i) b64 += "W1tb";
                      return b64;
                    }())),
                    "response.patch is not a JSON array: not JSON at offset 10000: nested deeper "
                    "than 10000 levels"},
        InvalidCase{"WarningInvalidUtf8", ReviewVersion::kV1,
                    allowed_with("\"warnings\":[\"ok\",\"\xc3\x28\"]"),
                    "not JSON at offset 117: invalid UTF-8 in string"},
        InvalidCase{"StatusMessageSurrogate", ReviewVersion::kV1,
                    allowed_with("\"status\":{\"message\":\"\xed\xa0\x80\"}"),
                    "not JSON at offset 120: invalid UTF-8 in string"},
        InvalidCase{"AuditValueOverlong", ReviewVersion::kV1,
                    allowed_with("\"auditAnnotations\":{\"k\":\"\xc0\xaf\"}"),
                    "not JSON at offset 124: invalid UTF-8 in string"},
        InvalidCase{"PatchWithoutPatchType", ReviewVersion::kV1,
                    allowed_with(R"("patch":")" + std::string(kPatchB64) + "\""),
                    "response.patch is set without patchType \"JSONPatch\""},
        InvalidCase{"PatchTypeWrong", ReviewVersion::kV1,
                    allowed_with(R"("patchType":"JSONMergePatch","patch":"W10=")"),
                    "patchType \"JSONMergePatch\" is not JSONPatch"},
        InvalidCase{"PatchTypeNotString", ReviewVersion::kV1,
                    allowed_with(R"("patchType":1,"patch":"W10=")"),
                    "response.patchType is a number, not a string"},
        InvalidCase{"PatchTypeWithoutPatch", ReviewVersion::kV1,
                    allowed_with(R"("patchType":"JSONPatch")"),
                    "response.patchType is set without a response.patch"},
        InvalidCase{"V1beta1PatchWithoutPatchType", ReviewVersion::kV1beta1,
                    answer(kV1beta1, R"("uid":"u1","allowed":true,"patch":"W10=")"),
                    "response.patch is set without patchType \"JSONPatch\""}),
    [](const auto& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(
    OptionalFields, InvalidAnswers,
    ::testing::Values(
        InvalidCase{"StatusNotObject", ReviewVersion::kV1, allowed_with(R"("status":"Failure")"),
                    "response.status is a string, not an object"},
        InvalidCase{"StatusCodeNotNumber", ReviewVersion::kV1,
                    allowed_with(R"("status":{"code":"403"})"),
                    "response.status.code is a string, not a 32-bit integer"},
        InvalidCase{"StatusCodeFraction", ReviewVersion::kV1,
                    allowed_with(R"("status":{"code":403.5})"),
                    "response.status.code is a number, not a 32-bit integer"},
        InvalidCase{"StatusCodeOutOfRange", ReviewVersion::kV1,
                    allowed_with(R"("status":{"code":4294967296})"),
                    "response.status.code is a number, not a 32-bit integer"},
        InvalidCase{"StatusMessageNotString", ReviewVersion::kV1,
                    allowed_with(R"("status":{"message":{}})"),
                    "response.status.message is an object, not a string"},
        InvalidCase{"WarningsNotArray", ReviewVersion::kV1, allowed_with(R"("warnings":"w")"),
                    "response.warnings is a string, not an array of strings"},
        InvalidCase{"WarningNotString", ReviewVersion::kV1, allowed_with(R"("warnings":["w",1])"),
                    "response.warnings[1] is a number, not a string"},
        InvalidCase{"AuditAnnotationsNotObject", ReviewVersion::kV1,
                    allowed_with(R"("auditAnnotations":["a"])"),
                    "response.auditAnnotations is an array, not an object of strings"},
        InvalidCase{"AuditAnnotationValueNotString", ReviewVersion::kV1,
                    allowed_with(R"("auditAnnotations":{"a":"1","b":true})"),
                    "response.auditAnnotations[\"b\"] is a boolean, not a string"},
        InvalidCase{"AuditAnnotationValueNull", ReviewVersion::kV1,
                    allowed_with(R"("auditAnnotations":{"a":null})"),
                    "response.auditAnnotations[\"a\"] is null, not a string"}),
    [](const auto& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// decode_base64

struct Base64Case {
  const char* name;
  std::string in;
  bool ok;
  std::string want;
};

void PrintTo(const Base64Case& c, std::ostream* os) { *os << c.name; }

class DecodeBase64 : public ::testing::TestWithParam<Base64Case> {};

TEST_P(DecodeBase64, IsStrictRfc4648) {
  const Base64Case& c = GetParam();
  std::string out = "prefix";
  EXPECT_EQ(decode_base64(c.in, out), c.ok);
  // Decoded bytes are appended; a failure leaves `out` as it was.
  EXPECT_EQ(out, "prefix" + (c.ok ? c.want : std::string()));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DecodeBase64,
    ::testing::Values(
        Base64Case{"Empty", "", true, ""}, Base64Case{"TwoPads", "Zg==", true, "f"},
        Base64Case{"OnePad", "Zm8=", true, "fo"}, Base64Case{"NoPad", "Zm9v", true, "foo"},
        Base64Case{"Rfc4648Vector", "Zm9vYmFy", true, "foobar"},
        Base64Case{"AllHighBits", "////", true, "\xff\xff\xff"},
        Base64Case{"Zeros", "AAAA", true, std::string(3, '\0')},
        Base64Case{"LengthOne", "Z", false, ""}, Base64Case{"LengthTwo", "Zg", false, ""},
        Base64Case{"LengthThree", "Zm8", false, ""}, Base64Case{"LengthFive", "Zm9vY", false, ""},
        Base64Case{"PadOnly", "====", false, ""}, Base64Case{"ThreePads", "Z===", false, ""},
        Base64Case{"PadBeforeData", "Z=g=", false, ""},
        Base64Case{"PadInFirstQuad", "Zg==Zm9v", false, ""},
        Base64Case{"NonZeroBitsBeforeTwoPads", "Zh==", false, ""},
        Base64Case{"NonZeroBitsBeforeOnePad", "Zm9=", false, ""},
        Base64Case{"UrlSafeMinus", "Zm-v", false, ""},
        Base64Case{"UrlSafeUnderscore", "Zm_v", false, ""},
        Base64Case{"Newline", "Zm9v\nZm9v", false, ""},
        Base64Case{"TrailingNewline", "Zm9vYmE\n", false, ""},
        Base64Case{"Space", "Zm9 ", false, ""},
        Base64Case{"NulByte", std::string("Zm9\0", 4), false, ""},
        Base64Case{"HighByte", "Zm9\xc3", false, ""}),
    [](const auto& info) { return info.param.name; });

bool in_alphabet(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Every byte outside the alphabet, in every data position of the last quad (full and both padded
// forms) and of a quad before it (the bulk loop).
TEST(DecodeBase64Alphabet, EveryOtherByteIsRejectedInEveryPosition) {
  struct Form {
    std::string text;
    std::size_t first, count;  // the data positions to corrupt
  };
  const std::vector<Form> forms = {
      {"QUJDZm9v", 4, 4}, {"QUJDZm8=", 4, 3}, {"QUJDZg==", 4, 2}, {"Zm9vQUJD", 0, 4}};
  int rejected = 0;
  for (const Form& f : forms) {
    std::string clean;
    ASSERT_TRUE(decode_base64(f.text, clean)) << f.text;
    for (std::size_t pos = f.first; pos < f.first + f.count; ++pos) {
      for (int b = 0; b < 256; ++b) {
        if (in_alphabet(static_cast<unsigned char>(b))) continue;
        std::string in = f.text;
        in[pos] = static_cast<char>(b);
        std::string out;
        EXPECT_FALSE(decode_base64(in, out)) << "byte " << b << " at " << pos << " of " << f.text;
        EXPECT_TRUE(out.empty());
        ++rejected;
      }
    }
  }
  EXPECT_EQ(rejected, (4 + 3 + 2 + 4) * (256 - 64));
}

// The bulk of a long input (decoded sixteen characters at a time where the CPU allows): every byte
// outside the alphabet, '=' included, in every position before the last quad is rejected.
TEST(DecodeBase64Alphabet, EveryOtherByteIsRejectedInTheBulk) {
  std::string raw(60, '\0');
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i * 37 + 11);
  std::string text;
  append_base64(raw, text);  // 80 characters, no padding
  for (std::size_t pos = 0; pos + 4 < text.size(); ++pos) {
    for (int b = 0; b < 256; ++b) {
      if (in_alphabet(static_cast<unsigned char>(b))) continue;
      std::string in = text;
      in[pos] = static_cast<char>(b);
      std::string out;
      ASSERT_FALSE(decode_base64(in, out)) << "byte " << b << " at " << pos;
      ASSERT_TRUE(out.empty());
    }
  }
}

// Canonical encodings only: before "==" the last character's low 4 bits are zero (4 of the 64
// characters), before "=" its low 2 bits (16 of them).
TEST(DecodeBase64Alphabet, PaddedQuadsAcceptOnlyZeroDroppedBits) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int two_pad_ok = 0, one_pad_ok = 0;
  for (std::size_t v = 0; v < 64; ++v) {
    std::string out;
    const bool two = decode_base64(std::string("Z") + alphabet[v] + "==", out);
    EXPECT_EQ(two, (v & 15) == 0) << alphabet[v];
    two_pad_ok += two;
    const bool one = decode_base64(std::string("Zm") + alphabet[v] + "=", out);
    EXPECT_EQ(one, (v & 3) == 0) << alphabet[v];
    one_pad_ok += one;
  }
  EXPECT_EQ(two_pad_ok, 4);
  EXPECT_EQ(one_pad_ok, 16);
}

TEST(DecodeBase64RoundTrip, InvertsAppendBase64ForEveryLengthUpTo300) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  for (std::size_t len = 0; len <= 300; ++len) {
    std::string raw(len, '\0');
    for (char& c : raw) c = static_cast<char>(byte(rng));
    std::string encoded;
    append_base64(raw, encoded);
    ASSERT_EQ(encoded.size(), (len + 2) / 3 * 4);
    std::string decoded = "x";
    ASSERT_TRUE(decode_base64(encoded, decoded)) << "length " << len;
    EXPECT_EQ(decoded, "x" + raw) << "length " << len;
    // And it agrees with the tests' independent decoder.
    EXPECT_EQ(revrouter::testing::decode_base64(encoded), raw) << "length " << len;
  }
}

// ---------------------------------------------------------------------------------------------
// write_upstream_answer

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct WriteCase {
  const char* name;
  ReviewVersion version;
  bool allowed;
  std::string patch;
  int status_code;
  std::string status_message;
  std::vector<std::string> warnings, extra_warnings, want_warnings;
  Pairs audit, extra_audit, want_audit;
};

void PrintTo(const WriteCase& c, std::ostream* os) { *os << c.name; }

class WriteUpstreamAnswer : public ::testing::TestWithParam<WriteCase> {};

TEST_P(WriteUpstreamAnswer, WritesTheAnswerWithRevroutersAdditions) {
  const WriteCase& c = GetParam();
  UpstreamAnswer a;
  a.allowed = c.allowed;
  a.patch = c.patch;
  a.status_code = c.status_code;
  a.status_message = c.status_message;
  for (const auto& w : c.warnings) a.warnings.push_back(w);
  for (const auto& [k, v] : c.audit) a.audit_annotations.push_back({k, v});
  std::vector<std::string_view> extra_warnings(c.extra_warnings.begin(), c.extra_warnings.end());
  std::vector<AuditAnnotation> extra_audit;
  for (const auto& [k, v] : c.extra_audit) extra_audit.push_back({k, v});

  std::string out = "stale";
  write_upstream_answer(a, c.version, "uid-7", extra_audit, extra_warnings, out);

  // ordered_json keeps the written order of auditAnnotations.
  const auto j = nlohmann::ordered_json::parse(out);
  EXPECT_EQ(j.at("apiVersion"), c.version == ReviewVersion::kV1 ? kV1 : kV1beta1);
  EXPECT_EQ(j.at("kind"), "AdmissionReview");
  const auto& r = j.at("response");
  EXPECT_EQ(r.at("uid"), "uid-7");
  EXPECT_EQ(r.at("allowed"), c.allowed);
  if (c.patch.empty()) {
    EXPECT_FALSE(r.contains("patch"));
    EXPECT_FALSE(r.contains("patchType"));
  } else {
    EXPECT_EQ(r.at("patchType"), "JSONPatch");
    EXPECT_EQ(revrouter::testing::decode_base64(r.at("patch").get<std::string>()), c.patch);
  }
  if (c.status_code == 0 && c.status_message.empty()) {
    EXPECT_FALSE(r.contains("status"));
  } else {
    EXPECT_EQ(r.at("status").at("code"), c.status_code);
    EXPECT_EQ(r.at("status").at("message"), c.status_message);
    EXPECT_EQ(r.at("status").at("status"), c.allowed ? "Success" : "Failure");
  }
  if (c.want_warnings.empty()) {
    EXPECT_FALSE(r.contains("warnings"));
  } else {
    EXPECT_EQ(r.at("warnings").get<std::vector<std::string>>(), c.want_warnings);
  }
  if (c.want_audit.empty()) {
    EXPECT_FALSE(r.contains("auditAnnotations"));
  } else {
    Pairs got;
    for (const auto& [k, v] : r.at("auditAnnotations").items()) {
      got.emplace_back(k, v.get<std::string>());
    }
    EXPECT_EQ(got, c.want_audit);
    // A parser keeps one of two equal keys; the text must not carry the replaced one at all.
    for (const auto& [k, v] : c.want_audit) {
      const std::string quoted_key = "\"" + k + "\":";
      std::size_t count = 0;
      for (auto p = out.find(quoted_key); p != std::string::npos; p = out.find(quoted_key, p + 1)) {
        ++count;
      }
      EXPECT_EQ(count, 1u) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rules, WriteUpstreamAnswer,
    ::testing::Values(
        WriteCase{"BareAllow", ReviewVersion::kV1, true, "", 0, "", {}, {}, {}, {}, {}, {}},
        WriteCase{"PatchV1",
                  ReviewVersion::kV1,
                  true,
                  std::string(kPatch),
                  0,
                  "",
                  {},
                  {},
                  {},
                  {},
                  {},
                  {}},
        WriteCase{"PatchV1beta1",
                  ReviewVersion::kV1beta1,
                  true,
                  std::string(kPatch),
                  0,
                  "",
                  {},
                  {},
                  {},
                  {},
                  {},
                  {}},
        WriteCase{"DenialKeepsStatus",
                  ReviewVersion::kV1,
                  false,
                  "",
                  403,
                  "no template",
                  {},
                  {},
                  {},
                  {},
                  {},
                  {}},
        WriteCase{"AllowWithStatusMessage",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "fine",
                  {},
                  {},
                  {},
                  {},
                  {},
                  {}},
        WriteCase{"UpstreamWarningsOnly",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "",
                  {"a", "b"},
                  {},
                  {"a", "b"},
                  {},
                  {},
                  {}},
        WriteCase{
            "ExtraWarningsOnly", ReviewVersion::kV1, true, "", 0, "", {}, {"x"}, {"x"}, {}, {}, {}},
        WriteCase{"UpstreamWarningsThenExtra",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "",
                  {"a", "b"},
                  {"x"},
                  {"a", "b", "x"},
                  {},
                  {},
                  {}},
        WriteCase{"UpstreamAuditOnly",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "",
                  {},
                  {},
                  {},
                  {{"u/1", "1"}, {"u/2", "2"}},
                  {},
                  {{"u/1", "1"}, {"u/2", "2"}}},
        WriteCase{"ExtraAuditOnly",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "",
                  {},
                  {},
                  {},
                  {},
                  {{"revrouter.io/revision", "1-24"}},
                  {{"revrouter.io/revision", "1-24"}}},
        WriteCase{"UpstreamAuditThenExtra",
                  ReviewVersion::kV1,
                  true,
                  "",
                  0,
                  "",
                  {},
                  {},
                  {},
                  {{"u/2", "2"}, {"u/1", "1"}},
                  {{"revrouter.io/revision", "1-24"}},
                  {{"u/2", "2"}, {"u/1", "1"}, {"revrouter.io/revision", "1-24"}}},
        WriteCase{"ExtraReplacesUpstreamKey",
                  ReviewVersion::kV1,
                  true,
                  std::string(kPatch),
                  0,
                  "",
                  {"istiod says"},
                  {"revrouter says"},
                  {"istiod says", "revrouter says"},
                  {{"u/1", "1"}, {"revrouter.io/revision", "forged"}, {"u/2", "2"}},
                  {{"revrouter.io/backend", "proxy"}, {"revrouter.io/revision", "1-24"}},
                  {{"u/1", "1"},
                   {"u/2", "2"},
                   {"revrouter.io/backend", "proxy"},
                   {"revrouter.io/revision", "1-24"}}}),
    [](const auto& info) { return info.param.name; });

TEST(WriteUpstreamAnswer, ClearsTheOutputFirst) {
  UpstreamAnswer a;
  std::string out = "not json";
  write_upstream_answer(a, ReviewVersion::kV1, "u", {}, {}, out);
  EXPECT_TRUE(nlohmann::json::accept(out)) << out;
}

// The proxy path end to end: istiod's bytes checked, then re-written; the API server gets the same
// patch, status and annotations, in the request's version and uid.
TEST(UpstreamAnswerRoundTrip, CheckedAnswerIsRewrittenFaithfully) {
  for (const ReviewVersion version : {ReviewVersion::kV1, ReviewVersion::kV1beta1}) {
    const std::string_view api_version = version == ReviewVersion::kV1 ? kV1 : kV1beta1;
    Checked ch(answer(api_version,
                      with_patch(kPatchB64) + R"(,"warnings":["w"],"auditAnnotations":{"k":"v"})"),
               version, "u1");
    ASSERT_TRUE(ch.result.ok()) << ch.result.error().message;
    const AuditAnnotation extra[] = {{"revrouter.io/revision", "canary"}};
    std::string out;
    write_upstream_answer(*ch.result, version, "u1", extra, {}, out);
    const auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j.at("apiVersion"), api_version);
    EXPECT_EQ(j.at("response").at("uid"), "u1");
    EXPECT_EQ(j.at("response").at("allowed"), true);
    EXPECT_EQ(j.at("response").at("patch"), kPatchB64);
    EXPECT_EQ(j.at("response").at("warnings"), nlohmann::json::array({"w"}));
    EXPECT_EQ(j.at("response").at("auditAnnotations"),
              nlohmann::json({{"k", "v"}, {"revrouter.io/revision", "canary"}}));
  }
}

}  // namespace
}  // namespace revrouter
