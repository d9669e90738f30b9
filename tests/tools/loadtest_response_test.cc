// Each answer is judged as kube-apiserver reads it: one row per rule, then the counters that sum
// the verdicts by class.
#include "tools/loadtest_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace revrouter::loadtest {
namespace {

constexpr const char* kUid = "0123abcd-0000-4000-8000-000000000001";

TEST(LoadtestCheckResponse, Rules) {
  struct Case {
    const char* name;
    int status;
    std::string body;
    bool ok;
    ErrorClass error;
    const char* detail;  // a part of the detail, when !ok
  };
  const std::string uid = kUid;
  const std::string good = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)"
                           R"("response":{"uid":")" +
                           uid + R"(","allowed":true,"patchType":"JSONPatch","patch":"W10="}})";
  for (const auto& c : std::vector<Case>{
           {"allowed_with_the_sent_uid_is_ok", 200, good, true, ErrorClass::kBadResponse, ""},
           {"allowed_without_patch_is_ok", 200,
            R"({"response":{"allowed":true,"uid":")" + uid + R"("}})", true,
            ErrorClass::kBadResponse, ""},
           {"fields_in_any_order_and_nested_noise", 200,
            R"({"response":{"auditAnnotations":{"uid":"x","allowed":"no"},"status":{"uid":"y"},)"
            R"("allowed":true,"uid":")" +
                uid + R"("},"request":{"uid":"other"}})",
            true, ErrorClass::kBadResponse, ""},
           {"non_200_is_http_status", 503, "overloaded\n", false, ErrorClass::kHttpStatus,
            "HTTP 503: overloaded"},
           {"non_200_even_with_a_good_review", 201, good, false, ErrorClass::kHttpStatus,
            "HTTP 201"},
           {"not_json_is_bad_response", 200, "<html>", false, ErrorClass::kBadResponse, "not JSON"},
           {"trailing_garbage_is_bad_response", 200, good + "x", false, ErrorClass::kBadResponse,
            "not JSON"},
           {"empty_body_is_bad_response", 200, "", false, ErrorClass::kBadResponse, "not JSON"},
           {"array_is_bad_response", 200, "[]", false, ErrorClass::kBadResponse,
            "no response object"},
           {"no_response_object", 200, R"({"request":{"uid":"x"}})", false,
            ErrorClass::kBadResponse, "no response object"},
           {"response_not_an_object", 200, R"({"response":"x"})", false, ErrorClass::kBadResponse,
            "no response object"},
           {"no_uid", 200, R"({"response":{"allowed":true}})", false, ErrorClass::kBadResponse,
            "no response.uid"},
           {"uid_in_a_nested_object_only", 200,
            R"({"response":{"status":{"uid":")" + uid + R"("},"allowed":true}})", false,
            ErrorClass::kBadResponse, "no response.uid"},
           {"another_uid_is_a_mismatch", 200,
            R"({"response":{"uid":"someone-else","allowed":true}})", false,
            ErrorClass::kUidMismatch, "\"someone-else\""},
           {"uid_prefix_is_a_mismatch", 200,
            R"({"response":{"uid":")" + uid.substr(0, 35) + R"(","allowed":true}})", false,
            ErrorClass::kUidMismatch, "answers a request with uid"},
           {"no_allowed", 200, R"({"response":{"uid":")" + uid + R"("}})", false,
            ErrorClass::kBadResponse, "no response.allowed"},
           {"allowed_not_bool", 200, R"({"response":{"uid":")" + uid + R"(","allowed":"true"}})",
            false, ErrorClass::kBadResponse, "no response.allowed"},
           {"denied_with_message", 200,
            R"({"response":{"uid":")" + uid +
                R"(","allowed":false,"status":{"code":403,"message":"no sidecar for you"}}})",
            false, ErrorClass::kDenied, "denied: no sidecar for you"},
           {"denied_without_message", 200,
            R"({"response":{"uid":")" + uid + R"(","allowed":false}})", false, ErrorClass::kDenied,
            "denied"},
       }) {
    const Verdict v = check_response(c.status, c.body, uid);
    EXPECT_EQ(v.ok, c.ok) << c.name << ": " << v.detail;
    if (c.ok || v.ok) continue;
    EXPECT_EQ(error_class_name(v.error), error_class_name(c.error)) << c.name;
    EXPECT_NE(v.detail.find(c.detail), std::string::npos) << c.name << ": " << v.detail;
  }
}

TEST(LoadtestCheckResponse, StatusOnlyLooksAtTheStatus) {
  struct Case {
    const char* name;
    int status;
    const char* body;
    bool ok;
  };
  for (const auto& c : std::vector<Case>{
           {"200_not_json_is_ok", 200, "<html>", true},
           {"200_wrong_uid_is_ok", 200, R"({"response":{"uid":"x","allowed":true}})", true},
           {"200_denied_is_ok", 200, R"({"response":{"uid":"x","allowed":false}})", true},
           {"500_is_http_status", 500, "oops", false},
       }) {
    const Verdict v = check_response(c.status, c.body, kUid, Check::kStatus);
    EXPECT_EQ(v.ok, c.ok) << c.name;
    if (!v.ok) {
      EXPECT_EQ(error_class_name(v.error), "http_status") << c.name;
    }
  }
}

TEST(LoadtestErrorClassName, EveryClassHasItsIssueName) {
  const std::vector<const char*> names = {"connect",      "tls",          "timeout", "http_status",
                                          "bad_response", "uid_mismatch", "denied"};
  ASSERT_EQ(names.size(), kErrorClasses);
  for (std::size_t i = 0; i < kErrorClasses; ++i) {
    EXPECT_EQ(error_class_name(static_cast<ErrorClass>(i)), names[i]);
  }
}

TEST(LoadtestCounters, RecordAndMerge) {
  Counters a, b;
  a.record_error(ErrorClass::kHttpStatus, "HTTP 503: first", 503);
  a.record_error(ErrorClass::kHttpStatus, "HTTP 503: second", 503);
  a.record_error(ErrorClass::kTimeout, "no answer");
  b.record_error(ErrorClass::kHttpStatus, "HTTP 500: b", 500);
  b.record_error(ErrorClass::kDenied, "denied: b");
  b.ok = 5;
  b.completed += 5;
  b.issued = 7;
  a.issued = 3;
  a.merge(b);
  EXPECT_EQ(a.issued, 10u);
  EXPECT_EQ(a.completed, 10u);
  EXPECT_EQ(a.ok, 5u);
  EXPECT_EQ(a.error_total(), 5u);
  EXPECT_EQ(a.errors[static_cast<std::size_t>(ErrorClass::kHttpStatus)], 3u);
  EXPECT_EQ(a.http_status, (std::map<int, std::uint64_t>{{500, 1}, {503, 2}}));
  // The first sample of each class is kept.
  EXPECT_EQ(a.samples[static_cast<std::size_t>(ErrorClass::kHttpStatus)], "HTTP 503: first");
  EXPECT_EQ(a.samples[static_cast<std::size_t>(ErrorClass::kDenied)], "denied: b");
}

}  // namespace
}  // namespace revrouter::loadtest
