// Runs the built `revrouter replay` on the files in tests/tools/data with the repo's example
// routing table, checking exit codes and the lines people and scripts rely on.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/tools/replay_test_util.h"

namespace revrouter::replay {
namespace {

using testing::ojson;
using testing::read_file;

struct Ran {
  int exit_code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Ran run(const std::vector<std::string>& args) {
  testing::TempDir tmp;
  const auto out = tmp.path() / "stdout";
  const auto err = tmp.path() / "stderr";
  std::string cmd = quote(REVROUTER_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " </dev/null >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out.string());
  r.err = read_file(err.string());
  return r;
}

const std::string kData = std::string(REVROUTER_TEST_DATA) + "/data";
const std::string kConfig = std::string(REVROUTER_SOURCE_DIR) + "/config/example.yaml";

// The output line for the input `source` (a suffix of the INPUT column).
std::string line_for(const std::string& text, const std::string& source) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t eol = text.find('\n', start);
    const std::string line = text.substr(start, eol - start);
    if (line.ends_with(source)) return line;
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  return "<no line for " + source + ">";
}

bool has_words(const std::string& line, std::initializer_list<std::string> words) {
  std::size_t at = 0;
  for (const auto& w : words) {
    at = line.find(w, at);
    if (at == std::string::npos) return false;
    at += w.size();
  }
  return true;
}

TEST(ReplayBinary, RecordedReviewsOffline) {
  const Ran r = run({"replay", "--config", kConfig, "--show", "none", kData + "/recorded"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(r.out.starts_with("POD ")) << r.out;
  // example.yaml: namespace istio-injection=enabled selects tag default -> 1-23-3.
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:1"),
                        {"bookinfo/reviews-v1-5d8f7c9b6-", "inject", "1-23-3", "default"}))
      << r.out;
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:3"),
                        {"payments/ledger-7f9c8d7b5-", "inject", "1-24-1", "namespace-rev"}));
  EXPECT_TRUE(
      has_words(line_for(r.out, "reviews.jsonl:4"), {"tools/debug-", "skip", "not-selected"}));
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:5"), {"skip", "host-network"}));
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:6"), {"skip", "not-pod-create"}));
  EXPECT_TRUE(has_words(line_for(r.out, "single-review.json"),
                        {"shop/cart-", "inject", "1-24-1", "pod-rev"}));
  EXPECT_NE(r.out.find("Summary: 7 requests: 4 inject, 0 proxy, 3 skip, 0 deny, 0 error\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  1-23-3    inject    policy-enabled     2\n"), std::string::npos) << r.out;
}

TEST(ReplayBinary, PlainPodsWithNamespaceLabels) {
  const Ran r = run({"replay", "--config", kConfig, "--namespace", "shop", "--namespace-label",
                     "istio-injection=enabled", kData + "/pods/web.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(has_words(line_for(r.out, "web.yaml:2"), {"shop/web-0", "inject", "1-23-3"}))
      << r.out;
  // The annotation sidecar.istio.io/inject: "false" keeps the sidecar out.
  EXPECT_TRUE(has_words(line_for(r.out, "web.yaml:16"), {"shop/batch-job-x7k2p", "skip"})) << r.out;
  EXPECT_NE(r.out.find("/spec/containers/-"), std::string::npos);  // --show ops by default
}

TEST(ReplayBinary, BadInputsAreListedAndFailTheRun) {
  const Ran r = run({"replay", "--config", kConfig, kData + "/bad"});
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("mixed.jsonl:2: not JSON"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mixed.jsonl:3: kind Deployment cannot be replayed"), std::string::npos);
  EXPECT_TRUE(has_words(line_for(r.out, "mixed.jsonl:1"), {"default/good-1", "skip"})) << r.out;
  EXPECT_TRUE(has_words(line_for(r.out, "mixed.jsonl:4"), {"default/good-2", "skip"}));
  EXPECT_NE(r.out.find("2 input errors"), std::string::npos);
}

TEST(ReplayBinary, JsonOutput) {
  const Ran r = run({"replay", "--config", kConfig, "--output", "json", kData + "/recorded"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto doc = ojson::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;
  EXPECT_EQ(doc["mode"], "offline");
  ASSERT_EQ(doc["results"].size(), 7u);
  EXPECT_EQ(doc["summary"]["requests"], 7);
  std::size_t injected = 0;
  for (const auto& res : doc["results"]) {
    if (res["decision"] == "inject") {
      ++injected;
      EXPECT_TRUE(res["patch"].is_array());
    }
  }
  EXPECT_EQ(doc["summary"]["inject"], injected);
  EXPECT_TRUE(doc["inputErrors"].empty());
}

class ReplayBinaryWhatIf : public ::testing::Test {
 protected:
  void SetUp() override {
    // example.yaml with tag default moved from 1-23-3 to 1-24-1, beside a copy of its template.
    std::string config = read_file(kConfig);
    const std::string from = "  default: 1-23-3\n";
    const auto at = config.find(from);
    ASSERT_NE(at, std::string::npos);
    config.replace(at, from.size(), "  default: 1-24-1\n");
    moved = dir.write("moved.yaml", config);
    dir.write("templates/example-sidecar.yaml", testing::example_template());
  }
  testing::TempDir dir;
  std::string moved;
};

TEST_F(ReplayBinaryWhatIf, ListsTheDefaultTagPods) {
  const Ran r = run(
      {"replay", "--config", kConfig, "--what-if", moved, "--show", "none", kData + "/recorded"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  // The two reviews from istio-injection=enabled namespaces select the default tag.
  EXPECT_NE(r.out.find("changes 2 pods (5 unchanged)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 pods: 1-23-3 → 1-24-1"), std::string::npos) << r.out;
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:1"),
                        {"bookinfo/reviews-v1-5d8f7c9b6-", "1-23-3", "1-24-1", "revision"}));
  EXPECT_TRUE(has_words(line_for(r.out, "reviews.jsonl:2"), {"bookinfo/ratings-v1-", "1-24-1"}));
  EXPECT_EQ(line_for(r.out, "reviews.jsonl:3"), "<no line for reviews.jsonl:3>");
}

TEST_F(ReplayBinaryWhatIf, FailOnChangeGatesCi) {
  const Ran changed = run({"replay", "--config", kConfig, "--what-if", moved, "--fail-on-change",
                           "--output", "json", kData + "/recorded"});
  EXPECT_EQ(changed.exit_code, 3) << changed.err;
  const auto doc = ojson::parse(changed.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["whatIf"]["changes"].size(), 2u);
  const Ran same = run({"replay", "--config", kConfig, "--what-if", kConfig, "--fail-on-change",
                        kData + "/recorded"});
  EXPECT_EQ(same.exit_code, 0) << same.err << same.out;
  EXPECT_NE(same.out.find("changes 0 pods (7 unchanged)"), std::string::npos) << same.out;
}

TEST(ReplayBinary, UsageErrorsExitTwo) {
  struct Case {
    const char* name;
    std::vector<std::string> args;
    const char* message;
  };
  const std::string in = kData + "/recorded";
  const std::vector<Case> cases = {
      {"NoTarget", {"replay", in}, "--config"},
      {"BadShow", {"replay", "--config", kConfig, "--show", "yaml", in}, "--show yaml"},
      {"BadOutput", {"replay", "--config", kConfig, "--output", "xml", in}, "--output xml"},
      {"MissingConfig", {"replay", "--config", kData + "/nope.yaml", in}, "nope.yaml"},
      {"BadPath", {"replay", "--config", kConfig, "--path", "/mutate", in}, "/mutate"},
      {"OtherNamespaceLabel",
       {"replay", "--config", kConfig, "--namespace-label", "team=a", in},
       "only istio.io/rev and istio-injection"},
      {"WhatIfWithUrl",
       {"replay", "--url", "https://127.0.0.1:1", "--what-if", kConfig, in},
       "--what-if"},
      {"FailOnChangeWithoutWhatIf",
       {"replay", "--config", kConfig, "--fail-on-change", in},
       "--what-if"},
      {"HttpUrl", {"replay", "--url", "http://127.0.0.1:8443", in}, "https://"},
  };
  for (const auto& c : cases) {
    const Ran r = run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.name << "\n" << r.err << r.out;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.name << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.name;
  }
}

}  // namespace
}  // namespace revrouter::replay
