#include "tools/replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/tools/replay_test_util.h"

namespace revrouter::replay {
namespace {

using testing::make_table;
using testing::ojson;
using testing::pod;
using testing::review;
using testing::table_yaml;

ReplayInput input_of(const ojson& rev, std::string path = "/inject", std::string source = "t") {
  InputSet set;
  read_text(rev.dump(), source, Format::kJson, {}, set);
  EXPECT_EQ(set.inputs.size(), 1u);
  ReplayInput in = set.inputs.at(0);
  in.path = std::move(path);
  return in;
}

bool has_container(const ojson& p, std::string_view name) {
  for (const auto& c : p["spec"]["containers"]) {
    if (c.value("name", "") == name) return true;
  }
  return false;
}

// ---- Offline: the handler's answers as results
// ---------------------------------------------------

struct OfflineCase {
  const char* name;
  std::string path;
  ojson review;
  Outcome want;
  std::string revision, requested, route_source, reason;  // "" where the answer has none
  std::string error_code;                                 // kDeny / kError
};

void PrintTo(const OfflineCase& c, std::ostream* os) { *os << c.name; }

std::vector<OfflineCase> offline_cases() {
  ojson host = pod("agent-");
  host["spec"]["hostNetwork"] = true;
  ojson bad_labels = pod("web-");
  bad_labels["metadata"]["labels"] = {{"app", 1}};
  return {
      {"NamespaceInjectionSelectsTheDefaultTag", "/inject/ns-injection/enabled",
       review("u1", "shop", pod("web-")), Outcome::kInject, "1-23-3", "default",
       "namespace-injection", "policy-enabled", ""},
      {"PodRevLabelSelectsItsTag", "/inject",
       review("u2", "shop", pod("web-", {{"istio.io/rev", "canary"}})), Outcome::kInject, "1-24-1",
       "canary", "pod-rev", "policy-enabled", ""},
      {"NamespaceRevNamesARevisionDirectly", "/inject/ns-rev/1-24-1",
       review("u3", "shop", pod("web-")), Outcome::kInject, "1-24-1", "1-24-1", "namespace-rev",
       "policy-enabled", ""},
      {"NothingSelectedSkips", "/inject", review("u4", "shop", pod("web-")), Outcome::kSkip, "", "",
       "", "not-selected", ""},
      {"HostNetworkSkips", "/inject/ns-injection/enabled", review("u5", "shop", host),
       Outcome::kSkip, "", "", "", "host-network", ""},
      {"NotAPodCreateSkips", "/inject/ns-injection/enabled",
       review("u6", "shop", pod("web-"), "UPDATE"), Outcome::kSkip, "", "", "", "not-pod-create",
       ""},
      {"ProxyRevisionIsRoutedNotRun", "/inject/ns-rev/legacy", review("u7", "shop", pod("web-")),
       Outcome::kProxy, "1-22-6", "legacy", "namespace-rev", "policy-enabled", ""},
      {"MalformedPodIsDenied", "/inject/ns-injection/enabled", review("u8", "shop", bad_labels),
       Outcome::kDeny, "", "", "", "", "bad_field"},
      {"BadWebhookPathIsAnError", "/mutate", review("u9", "shop", pod("web-")), Outcome::kError, "",
       "", "", "", "http_404"},
  };
}

class Offline : public ::testing::TestWithParam<OfflineCase> {
 protected:
  static const RoutingTable& table() {
    static const RoutingTable t = make_table(table_yaml("1-23-3"));
    return t;
  }
  RequestScratch scratch;
};

TEST_P(Offline, ReportsTheServersAnswer) {
  const OfflineCase& c = GetParam();
  const ReplayInput in = input_of(c.review, c.path);
  const RequestResult r = run_offline(table(), in, scratch);
  EXPECT_EQ(to_string(r.outcome), to_string(c.want)) << r.error_code << ": " << r.error_message;
  EXPECT_EQ(r.revision, c.revision);
  EXPECT_EQ(r.requested, c.requested);
  EXPECT_EQ(r.route_source, c.route_source);
  if (c.want != Outcome::kDeny && c.want != Outcome::kError) {
    EXPECT_EQ(r.reason, c.reason);
  }
  EXPECT_EQ(r.error_code, c.error_code);
  EXPECT_EQ(r.uid, in.uid);
  EXPECT_EQ(r.path, c.path);
  if (c.want == Outcome::kInject) {
    // The patch adds the proxy, checked with an independent JSON Patch implementation.
    auto patched = apply_patch(in.pod, r.patch);
    ASSERT_TRUE(patched.ok()) << patched.error().message;
    EXPECT_TRUE(has_container(*patched, "istio-proxy"));
    EXPECT_FALSE(has_container(in.pod, "istio-proxy"));
  } else {
    EXPECT_EQ(r.patch, "");
  }
  if (c.want == Outcome::kProxy) {
    EXPECT_TRUE(r.warnings.empty());
  }
  if (c.want == Outcome::kDeny) {
    EXPECT_NE(r.error_message.find("labels"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(Replay, Offline, ::testing::ValuesIn(offline_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Replay, OfflineRunsAreRepeatable) {
  const RoutingTable table = make_table(table_yaml("1-23-3"));
  const ReplayInput in =
      input_of(review("u1", "shop", pod("web-")), "/inject/ns-injection/enabled");
  RequestScratch scratch;
  const RequestResult first = run_offline(table, in, scratch);
  for (int i = 0; i < 3; ++i) {
    const RequestResult again =
        run_offline(table, in, scratch);  // scratch reused, as a server does
    EXPECT_EQ(again.patch, first.patch);
    EXPECT_EQ(again.revision, first.revision);
  }
}

// ---- interpret_reply: what a live webhook may answer
// ---------------------------------------------

std::string b64(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(s[i]) << 16) |
                       (static_cast<unsigned char>(s[i + 1]) << 8) |
                       static_cast<unsigned char>(s[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (i < s.size()) {
    unsigned v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string response(ojson resp) {
  return ojson({{"apiVersion", "admission.k8s.io/v1"},
                {"kind", "AdmissionReview"},
                {"response", std::move(resp)}})
      .dump();
}

struct ReplyCase {
  const char* name;
  HttpReply reply;
  Outcome want;
  std::string error_code;
};

void PrintTo(const ReplyCase& c, std::ostream* os) { *os << c.name; }

std::vector<ReplyCase> reply_cases() {
  const std::string add_label =
      R"([{"op":"add","path":"/metadata/labels/sidecar.istio.io~1inject","value":"true"}])";
  const ojson audit = {{"reason", "policy-enabled"}, {"revision", "1-24-1"}};
  return {
      {"PatchedIsInject",
       {200, "application/json",
        response({{"uid", "u1"},
                  {"allowed", true},
                  {"patchType", "JSONPatch"},
                  {"patch", b64(add_label)},
                  {"auditAnnotations", audit}})},
       Outcome::kInject,
       ""},
      {"AllowedWithoutPatchIsSkip",
       {200, "application/json", response({{"uid", "u1"}, {"allowed", true}})},
       Outcome::kSkip,
       ""},
      {"NotAllowedIsDeny",
       {200, "application/json",
        response(
            {{"uid", "u1"}, {"allowed", false}, {"status", {{"code", 400}, {"message", "no"}}}})},
       Outcome::kDeny,
       "denied"},
      {"HttpErrorStatus",
       {404, "text/plain", "webhook path \"/x\": not an injection path\n"},
       Outcome::kError,
       "http_404"},
      {"NotJson", {200, "application/json", "<html>"}, Outcome::kError, "bad_response"},
      {"NotAnAdmissionReview",
       {200, "application/json", R"({"kind":"Status"})"},
       Outcome::kError,
       "bad_response"},
      {"UidMismatch",
       {200, "application/json", response({{"uid", "other"}, {"allowed", true}})},
       Outcome::kError,
       "uid_mismatch"},
      {"AllowedMissing",
       {200, "application/json", response({{"uid", "u1"}})},
       Outcome::kError,
       "bad_response"},
      {"PatchTypeMissing",
       {200, "application/json",
        response({{"uid", "u1"}, {"allowed", true}, {"patch", b64(add_label)}})},
       Outcome::kError,
       "bad_response"},
      {"PatchNotBase64",
       {200, "application/json",
        response({{"uid", "u1"}, {"allowed", true}, {"patchType", "JSONPatch"}, {"patch", "!!"}})},
       Outcome::kError,
       "bad_response"},
      {"PatchThatDoesNotApply",
       {200, "application/json",
        response({{"uid", "u1"},
                  {"allowed", true},
                  {"patchType", "JSONPatch"},
                  {"patch", b64(R"([{"op":"remove","path":"/spec/volumes/0"}])")}})},
       Outcome::kError,
       "patch_does_not_apply"},
  };
}

class Replies : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(Replies, AreInterpreted) {
  const ReplyCase& c = GetParam();
  const ReplayInput in = input_of(review("u1", "shop", pod("web-")));
  const RequestResult r = interpret_reply(in, c.reply);
  EXPECT_EQ(to_string(r.outcome), to_string(c.want)) << r.error_message;
  EXPECT_EQ(r.error_code, c.error_code) << r.error_message;
  EXPECT_EQ(r.http_status, c.reply.status);
  if (c.want == Outcome::kInject) {
    EXPECT_EQ(r.revision, "1-24-1");
    EXPECT_EQ(r.reason, "policy-enabled");
    auto patched = apply_patch(in.pod, r.patch);
    ASSERT_TRUE(patched.ok());
    EXPECT_EQ((*patched)["metadata"]["labels"]["sidecar.istio.io/inject"], "true");
  }
  if (c.want == Outcome::kDeny) {
    EXPECT_EQ(r.error_message, "no");
  }
  if (c.want == Outcome::kError) {
    EXPECT_FALSE(r.error_message.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Replay, Replies, ::testing::ValuesIn(reply_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- Summary
// -------------------------------------------------------------------------------------

RequestResult result(Outcome o, std::string revision, std::string reason,
                     std::string error_code = "") {
  RequestResult r;
  r.outcome = o;
  r.revision = std::move(revision);
  r.reason = std::move(reason);
  r.error_code = std::move(error_code);
  return r;
}

TEST(Replay, SummaryCountsByRevisionAndReason) {
  std::vector<RequestResult> results;
  for (int i = 0; i < 3; ++i)
    results.push_back(result(Outcome::kInject, "1-23-3", "policy-enabled"));
  results.push_back(result(Outcome::kInject, "1-24-1", "policy-enabled"));
  results.push_back(result(Outcome::kInject, "1-23-3", "annotation-inject"));
  results.push_back(result(Outcome::kSkip, "", "not-selected"));
  results.push_back(result(Outcome::kSkip, "", "not-selected"));
  results.push_back(result(Outcome::kProxy, "1-22-6", "policy-enabled"));
  results.push_back(result(Outcome::kDeny, "", "", "bad_field"));
  results.push_back(result(Outcome::kError, "", "", "http_404"));
  results.push_back(result(Outcome::kError, "", "", "http_404"));

  const Summary s = summarize(results, 4);
  EXPECT_EQ(s.requests, results.size());
  EXPECT_EQ(s.injected, 5u);
  EXPECT_EQ(s.skipped, 2u);
  EXPECT_EQ(s.proxied, 1u);
  EXPECT_EQ(s.denied, 1u);
  EXPECT_EQ(s.errors, 2u);
  EXPECT_EQ(s.input_errors, 4u);

  // Every result lands in exactly one row, and rows are unique and ordered.
  std::size_t total = 0;
  for (const auto& row : s.rows) total += row.count;
  EXPECT_EQ(total, results.size());
  for (std::size_t i = 1; i < s.rows.size(); ++i) {
    const auto& a = s.rows[i - 1];
    const auto& b = s.rows[i];
    EXPECT_LT(std::tie(a.outcome, a.revision, a.reason), std::tie(b.outcome, b.revision, b.reason));
  }
  for (const auto& r : results) {
    const bool failed = r.outcome == Outcome::kDeny || r.outcome == Outcome::kError;
    const std::string reason = failed ? r.error_code : r.reason;
    const auto want = static_cast<std::size_t>(
        std::count_if(results.begin(), results.end(), [&](const RequestResult& o) {
          const bool f = o.outcome == Outcome::kDeny || o.outcome == Outcome::kError;
          return o.outcome == r.outcome && o.revision == r.revision &&
                 (f ? o.error_code : o.reason) == reason;
        }));
    const auto row = std::find_if(s.rows.begin(), s.rows.end(), [&](const SummaryRow& x) {
      return x.outcome == r.outcome && x.revision == r.revision && x.reason == reason;
    });
    ASSERT_NE(row, s.rows.end());
    EXPECT_EQ(row->count, want);
  }
}

// ---- What-if
// -------------------------------------------------------------------------------------

// A mix of pods: some select the default tag (namespace istio-injection, pod inject label), some a
// named tag or revision, some nothing.
std::vector<ReplayInput> mixed_inputs() {
  std::vector<ReplayInput> in;
  auto add = [&](const ojson& p, std::string path) {
    in.push_back(input_of(review("u" + std::to_string(in.size()), "shop", p), std::move(path),
                          "mix:" + std::to_string(in.size() + 1)));
  };
  add(pod("web-"), "/inject/ns-injection/enabled");
  add(pod("api-"), "/inject/ns-injection/enabled");
  add(pod("db-"), "/inject/ns-injection/enabled");
  add(pod("job-", {{"sidecar.istio.io/inject", "true"}}), "/inject");
  add(pod("canary-", {{"istio.io/rev", "canary"}}), "/inject");
  add(pod("pinned-"), "/inject/ns-rev/1-23-3");
  add(pod("plain-"), "/inject");
  add(pod("legacy-"), "/inject/ns-rev/legacy");
  return in;
}

std::vector<RequestResult> run_all(const RoutingTable& table, const std::vector<ReplayInput>& in) {
  RequestScratch scratch;
  std::vector<RequestResult> out;
  for (const auto& i : in) out.push_back(run_offline(table, i, scratch));
  return out;
}

TEST(WhatIf, MovingTheDefaultTagMovesExactlyTheDefaultTagPods) {
  const auto inputs = mixed_inputs();
  const auto before = run_all(make_table(table_yaml("1-23-3")), inputs);
  const auto after = run_all(make_table(table_yaml("1-24-1")), inputs);
  const WhatIf w = compare(before, after);

  std::vector<std::size_t> want, got;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i].requested == "default") want.push_back(i);
  }
  ASSERT_GE(want.size(), 4u);  // the three namespace pods and the inject-label pod
  for (const auto& c : w.changes) {
    got.push_back(c.index);
    EXPECT_FALSE(c.outcome);
    EXPECT_TRUE(c.revision);
    EXPECT_TRUE(c.patch);  // the revision is written into the pod
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(w.unchanged, inputs.size() - want.size());
  ASSERT_EQ(w.moves.size(), 1u);
  EXPECT_EQ(w.moves[0].from, "1-23-3");
  EXPECT_EQ(w.moves[0].to, "1-24-1");
  EXPECT_EQ(w.moves[0].count, want.size());
  EXPECT_FALSE(w.moves[0].patch_only);
}

TEST(WhatIf, TemplateChangeIsAPatchOnlyChange) {
  const auto inputs = mixed_inputs();
  std::string tmpl = testing::example_template();
  const std::string from = "proxyv2:1.24.1", to = "proxyv2:1.24.2";
  ASSERT_NE(tmpl.find(from), std::string::npos);
  for (std::size_t p; (p = tmpl.find(from)) != std::string::npos;) tmpl.replace(p, from.size(), to);
  const auto before = run_all(make_table(table_yaml("1-23-3")), inputs);
  const auto after = run_all(make_table(table_yaml("1-23-3"), tmpl), inputs);
  const WhatIf w = compare(before, after);

  std::size_t injected = 0;
  for (const auto& r : before) injected += r.outcome == Outcome::kInject ? 1 : 0;
  EXPECT_EQ(w.changes.size(), injected);
  for (const auto& c : w.changes) {
    EXPECT_FALSE(c.outcome);
    EXPECT_FALSE(c.revision);
    EXPECT_TRUE(c.patch);
    EXPECT_EQ(before[c.index].outcome, Outcome::kInject);
  }
  std::size_t moved = 0;
  for (const auto& m : w.moves) {
    EXPECT_TRUE(m.patch_only);
    EXPECT_EQ(m.from, m.to);
    moved += m.count;
  }
  EXPECT_EQ(moved, injected);
}

TEST(WhatIf, SameTableChangesNothing) {
  const auto inputs = mixed_inputs();
  const RoutingTable table = make_table(table_yaml("1-23-3"));
  const WhatIf w = compare(run_all(table, inputs), run_all(table, inputs));
  EXPECT_TRUE(w.changes.empty());
  EXPECT_TRUE(w.moves.empty());
  EXPECT_EQ(w.unchanged, inputs.size());
}

TEST(WhatIf, PatchFormattingIsNotAChange) {
  RequestResult a = result(Outcome::kInject, "1-23-3", "policy-enabled");
  RequestResult b = a;
  a.patch = R"([{"op":"add","path":"/a","value":1}])";
  b.patch = "[ {\"op\": \"add\", \"path\": \"/a\", \"value\": 1} ]\n";
  EXPECT_TRUE(compare({a}, {b}).changes.empty());
  b.patch = R"([{"op":"add","path":"/a","value":2}])";
  EXPECT_EQ(compare({a}, {b}).changes.size(), 1u);
}

TEST(WhatIf, InjectToNoSidecarIsADecisionChange) {
  RequestResult a = result(Outcome::kInject, "1-23-3", "policy-enabled");
  a.patch = "[]";
  const RequestResult b = result(Outcome::kSkip, "", "not-selected");
  const WhatIf w = compare({a, a}, {b, b});
  ASSERT_EQ(w.changes.size(), 2u);
  EXPECT_TRUE(w.changes[0].outcome);
  ASSERT_EQ(w.moves.size(), 1u);
  EXPECT_EQ(w.moves[0].from, "1-23-3");
  EXPECT_EQ(w.moves[0].to, side_label(b));
  EXPECT_EQ(w.moves[0].count, 2u);
}

TEST(WhatIf, ARevisionThatDeclinesEitherWayIsNoMove) {
  // sidecar.istio.io/inject: "false" keeps the sidecar out under both tables; the revision that
  // declined it differs, the pod does not.
  ojson p = pod("batch-");
  p["metadata"]["annotations"] = {{"sidecar.istio.io/inject", "false"}};
  const std::vector<ReplayInput> inputs = {
      input_of(review("u1", "shop", p), "/inject/ns-injection/enabled")};
  const auto before = run_all(make_table(table_yaml("1-23-3")), inputs);
  const auto after = run_all(make_table(table_yaml("1-24-1")), inputs);
  ASSERT_EQ(before[0].outcome, Outcome::kSkip);
  ASSERT_NE(before[0].revision, after[0].revision);
  EXPECT_TRUE(compare(before, after).changes.empty());
}

}  // namespace
}  // namespace revrouter::replay
