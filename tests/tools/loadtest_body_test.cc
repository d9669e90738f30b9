// Request bodies: uids in UUID layout, unique per request and run; reviews cut around request.uid
// so that templating yields the original review with only the uid changed; whole HTTP requests
// with a Content-Length that matches; recorded inputs read as replay reads them.
#include "tools/loadtest_body.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/tools/replay_test_util.h"

namespace revrouter::loadtest {
namespace {

using ojson = nlohmann::ordered_json;

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

TEST(LoadtestUid, HasTheUuidLayoutWithVersionAndVariant) {
  for (const std::uint64_t index : {0ULL, 1ULL, 255ULL, 1ULL << 47, 1ULL << 58, ~0ULL}) {
    const std::string uid = make_uid(0x0123456789abcdefULL, index);
    ASSERT_EQ(uid.size(), kUidSize);
    for (std::size_t i = 0; i < uid.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) {
        EXPECT_EQ(uid[i], '-') << uid;
      } else {
        EXPECT_TRUE(is_hex(uid[i])) << uid;
      }
    }
    EXPECT_EQ(uid[14], '4') << uid;                                          // version 4
    EXPECT_NE(std::string("89ab").find(uid[19]), std::string::npos) << uid;  // RFC 4122 variant
    EXPECT_TRUE(uid.starts_with("456789ab-cdef-")) << uid;  // the run id's low 48 bits
  }
}

TEST(LoadtestUid, DistinctForEveryIndexAndRun) {
  std::set<std::string> seen;
  // Dense low indices, and indices that differ only in the bits around the fixed digits.
  std::vector<std::uint64_t> indices;
  for (std::uint64_t i = 0; i < 5000; ++i) indices.push_back(i);
  for (unsigned bit = 0; bit < 64; ++bit) indices.push_back(std::uint64_t{1} << bit);
  indices.push_back(~0ULL);
  for (const std::uint64_t run : {1ULL, 2ULL}) {
    for (const auto i : indices) seen.insert(make_uid(run, i));
  }
  std::set<std::uint64_t> distinct(indices.begin(), indices.end());
  EXPECT_EQ(seen.size(), 2 * distinct.size());
}

TEST(LoadtestBodyTemplate, RenderingChangesOnlyRequestUid) {
  // request.uid among other "uid" fields that must stay as they are.
  const ojson review = ojson::parse(R"({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
      "userInfo": {"username": "u", "uid": "user-uid"},
      "uid": "original-uid",
      "object": {"metadata": {"uid": "pod-uid", "ownerReferences": [{"uid": "owner-uid"}]}}
    }})");
  auto t = make_body_template(review.dump(), "test", "/inject");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->path, "/inject");
  for (const std::uint64_t i : {0ULL, 42ULL}) {
    const std::string uid = make_uid(99, i);
    const std::string body = t->prefix + uid + t->suffix;
    EXPECT_EQ(body.size(), t->body_size());
    ojson want = review;
    want["request"]["uid"] = uid;
    EXPECT_EQ(ojson::parse(body), want);
  }
}

TEST(LoadtestBodyTemplate, AReviewWithoutUidGetsOne) {
  auto t = make_body_template(R"({"kind":"AdmissionReview","request":{"operation":"CREATE"}})",
                              "test", "/inject");
  ASSERT_TRUE(t.ok()) << t.error().message;
  const auto body = ojson::parse(t->prefix + make_uid(1, 1) + t->suffix);
  EXPECT_EQ(body["request"]["uid"], make_uid(1, 1));
  EXPECT_EQ(body["request"]["operation"], "CREATE");
}

TEST(LoadtestBodyTemplate, Errors) {
  struct Case {
    const char* name;
    const char* review;
    const char* message;
  };
  for (const auto& c : std::vector<Case>{
           {"not_json", "{nope", "not JSON"},
           {"not_an_object", "[1, 2]", "no request object"},
           {"no_request", R"({"kind":"AdmissionReview"})", "no request object"},
           {"request_not_object", R"({"request":"x"})", "no request object"},
       }) {
    auto t = make_body_template(c.review, "file.json:3", "/inject");
    ASSERT_FALSE(t.ok()) << c.name;
    EXPECT_EQ(t.error().code, "bad_input") << c.name;
    EXPECT_NE(t.error().message.find(c.message), std::string::npos) << t.error().message;
    EXPECT_TRUE(t.error().message.starts_with("file.json:3: ")) << t.error().message;
  }
}

TEST(LoadtestBodyTemplate, TheBuiltInReviewIsATypicalPodCreate) {
  const auto review = ojson::parse(default_review());
  EXPECT_EQ(review["kind"], "AdmissionReview");
  EXPECT_EQ(review["request"]["operation"], "CREATE");
  EXPECT_EQ(review["request"]["object"]["kind"], "Pod");
  EXPECT_EQ(review["request"]["object"]["spec"]["containers"][0]["env"].size(), 30u);
  auto t = make_body_template(default_review(), "built-in", std::string(kDefaultPath));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_GT(t->body_size(), 5000u);  // compact JSON, like the API server's
  EXPECT_LT(t->body_size(), 7000u);
}

// Splits an HTTP/1.1 request into head and body at the blank line.
std::pair<std::string, std::string> split_request(const std::string& wire) {
  const std::size_t end = wire.find("\r\n\r\n");
  if (end == std::string::npos) return {wire, ""};
  return {wire.substr(0, end + 2), wire.substr(end + 4)};
}

TEST(LoadtestRequestTemplate, WholeRequestWithMatchingContentLength) {
  auto t = make_body_template(default_review(), "built-in", "/inject/ns-injection/enabled");
  ASSERT_TRUE(t.ok());
  const RequestTemplate r =
      make_request_template(*t, "/inject/ns-injection/enabled?timeout=10s", "127.0.0.1:15017");
  std::string wire;
  const std::string uid = make_uid(5, 7);
  render_request(r, uid, wire);
  EXPECT_EQ(wire.size(), r.size());
  const auto [head, body] = split_request(wire);
  EXPECT_TRUE(head.starts_with("POST /inject/ns-injection/enabled?timeout=10s HTTP/1.1\r\n"))
      << head;
  EXPECT_NE(head.find("\r\nHost: 127.0.0.1:15017\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos)
      << head;
  EXPECT_EQ(ojson::parse(body)["request"]["uid"], uid);

  // The buffer is reused: a second render overwrites the first completely.
  const std::string uid2 = make_uid(5, 8);
  render_request(r, uid2, wire);
  EXPECT_EQ(wire.size(), r.size());
  EXPECT_EQ(ojson::parse(split_request(wire).second)["request"]["uid"], uid2);
}

TEST(LoadtestLoadBodies, RecordedReviewsAsReplayReadsThem) {
  const std::string dir = std::string(REVROUTER_TEST_DATA) + "/data/recorded";
  const BodySet set = load_bodies({dir}, "/inject/ns-injection/enabled");
  EXPECT_TRUE(set.errors.empty()) << set.errors.front();
  ASSERT_EQ(set.bodies.size(), 7u);  // the files hold 7 reviews (see replay_live_test)
  for (const auto& b : set.bodies) {
    const auto body = ojson::parse(b.prefix + make_uid(3, 3) + b.suffix);
    EXPECT_EQ(body["request"]["uid"], make_uid(3, 3)) << b.source;
    EXPECT_TRUE(b.path.starts_with("/inject")) << b.source;
    EXPECT_FALSE(b.source.empty());
  }
}

TEST(LoadtestLoadBodies, PlainPodsAreWrappedAndBadRecordsReported) {
  replay::testing::TempDir dir;
  const std::string pods = std::string(REVROUTER_TEST_DATA) + "/data/pods";
  const std::string bad = dir.write("bad.json", "{not json");
  const BodySet set = load_bodies({pods, bad}, "/inject");
  EXPECT_FALSE(set.bodies.empty());
  for (const auto& b : set.bodies) {
    const auto body = ojson::parse(b.prefix + make_uid(1, 2) + b.suffix);
    EXPECT_EQ(body["kind"], "AdmissionReview");
    EXPECT_EQ(body["request"]["object"]["kind"], "Pod");
    EXPECT_EQ(b.path, "/inject");
  }
  ASSERT_EQ(set.errors.size(), 1u);
  EXPECT_NE(set.errors[0].find("bad.json"), std::string::npos) << set.errors[0];
}

}  // namespace
}  // namespace revrouter::loadtest
