#include "tools/replay_output.h"

#include <gtest/gtest.h>

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

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t eol = text.find('\n', start);
    out.push_back(text.substr(start, eol - start));
    if (eol == std::string::npos) break;
    start = eol + 1;
  }
  return out;
}

// Rebuilds both sides from a one-hunk diff: context and "-" lines are the old text, context and
// "+" lines the new one.
std::pair<std::string, std::string> sides_of(const std::string& diff) {
  std::string before, after;
  for (const auto& line : split(diff)) {
    if (line.starts_with("@@")) continue;
    const std::string body = line.substr(1) + "\n";
    if (line[0] != '+') before += body;
    if (line[0] != '-') after += body;
  }
  return {before, after};
}

std::size_t count_prefix(const std::string& diff, char c) {
  std::size_t n = 0;
  for (const auto& line : split(diff)) n += !line.starts_with("@@") && line[0] == c ? 1 : 0;
  return n;
}

struct DiffCase {
  const char* name;
  std::string before, after;
  std::size_t deletions, insertions;  // the shortest edit
};

TEST(LineDiff, IsAShortestEditThatRebuildsBothSides) {
  const std::vector<DiffCase> cases = {
      {"InsertInTheMiddle", "a\nb\nc\n", "a\nb\nx\nc\n", 0, 1},
      {"DeleteAtTheStart", "a\nb\nc\n", "b\nc\n", 1, 0},
      {"ReplaceOneLine", "a\nb\nc\n", "a\nB\nc\n", 1, 1},
      {"FromEmpty", "", "a\nb\n", 0, 2},
      {"ToEmpty", "a\nb\n", "", 2, 0},
      {"Interleaved", "a\nb\nc\nd\ne\n", "a\nx\nc\ny\ne\nz\n", 2, 3},
  };
  for (const auto& c : cases) {
    const std::string diff = line_diff(c.before, c.after, 1000, "");
    const auto [before, after] = sides_of(diff);
    EXPECT_EQ(before, c.before) << c.name;
    EXPECT_EQ(after, c.after) << c.name;
    EXPECT_EQ(count_prefix(diff, '-'), c.deletions) << c.name << "\n" << diff;
    EXPECT_EQ(count_prefix(diff, '+'), c.insertions) << c.name << "\n" << diff;
  }
  EXPECT_EQ(line_diff("a\nb\n", "a\nb\n", 3, ""), "");
}

TEST(LineDiff, HunksCarryContextAndPositions) {
  std::string before, after;
  for (int i = 1; i <= 20; ++i) {
    before += std::to_string(i) + "\n";
    after += (i == 5 ? "five\n" : std::to_string(i) + "\n");
    if (i == 15) after += "15b\n";
  }
  const std::string diff = line_diff(before, after, 2, "  ");
  EXPECT_EQ(diff,
            "  @@ -3,5 +3,5 @@\n"
            "   3\n   4\n  -5\n  +five\n   6\n   7\n"
            "  @@ -14,4 +14,5 @@\n"
            "   14\n   15\n  +15b\n   16\n   17\n");
}

TEST(DescribeOps, OneLinePerOperation) {
  const std::string patch = R"([
    {"op":"add","path":"/spec/containers/-","value":{"name":"istio-proxy","image":"x","args":[]}},
    {"op":"add","path":"/metadata/labels/security.istio.io~1tlsMode","value":"istio"},
    {"op":"replace","path":"/spec/volumes","value":[{"name":"a"},{"name":"b"}]},
    {"op":"move","from":"/a","path":"/b"}])";
  const auto lines = split(describe_ops(patch, "> "));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(lines[0].starts_with("> add "));
  EXPECT_NE(lines[0].find("/spec/containers/-"), std::string::npos);
  EXPECT_NE(lines[0].find("{name: istio-proxy, +2 keys}"), std::string::npos);
  EXPECT_NE(lines[1].find("\"istio\""), std::string::npos);
  EXPECT_NE(lines[2].find("[2 items]"), std::string::npos);
  EXPECT_NE(lines[3].find("from /a"), std::string::npos);
  EXPECT_EQ(describe_ops("{}", ""), "(not a JSON Patch)\n");
}

TEST(ParseShow, KnownValues) {
  EXPECT_EQ(*parse_show("none"), Show::kNone);
  EXPECT_EQ(*parse_show("ops"), Show::kOps);
  EXPECT_EQ(*parse_show("patch"), Show::kPatch);
  EXPECT_EQ(*parse_show("diff"), Show::kDiff);
  EXPECT_FALSE(parse_show("json").ok());
}

// ---- Reports over a real offline run
// -------------------------------------------------------------

class Reports : public ::testing::Test {
 protected:
  void SetUp() override {
    auto add = [&](const ojson& p, const std::string& path) {
      InputSet set;
      read_text(review("u" + std::to_string(inputs.size()), "shop", p).dump(),
                "in:" + std::to_string(inputs.size() + 1), Format::kJson, {}, set);
      set.inputs.at(0).path = path;
      inputs.push_back(set.inputs.at(0));
    };
    add(pod("web-"), "/inject/ns-injection/enabled");
    add(pod("api-"), "/inject/ns-injection/enabled");
    add(pod("canary-", {{"istio.io/rev", "canary"}}), "/inject");
    add(pod("plain-"), "/inject");
    add(pod("broken-"), "/mutate");
    input_errors.push_back({"bad.jsonl:2", "not JSON: syntax error"});

    before = run(make_table(table_yaml("1-23-3")), "a.yaml");
    after = run(make_table(table_yaml("1-24-1")), "b.yaml");
    comparison = compare(before.results, after.results);
  }

  replay::Run run(const RoutingTable& table, const std::string& name) {
    replay::Run r;
    r.target = name;
    RequestScratch scratch;
    for (const auto& in : inputs) r.results.push_back(run_offline(table, in, scratch));
    r.summary = summarize(r.results, input_errors.size());
    return r;
  }

  Report report(Show show, bool what_if) {
    Report rep;
    rep.mode = "offline";
    rep.inputs = &inputs;
    rep.input_errors = &input_errors;
    rep.run = &before;
    rep.show = show;
    if (what_if) {
      rep.what_if = &after;
      rep.comparison = &comparison;
    }
    return rep;
  }

  std::vector<ReplayInput> inputs;
  std::vector<InputError> input_errors;
  replay::Run before, after;
  WhatIf comparison;
};

TEST_F(Reports, JsonShape) {
  const ojson doc = render_json(report(Show::kOps, false));
  EXPECT_EQ(doc["mode"], "offline");
  EXPECT_EQ(doc["target"], "a.yaml");
  ASSERT_EQ(doc["results"].size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const ojson& r = doc["results"][i];
    const RequestResult& want = before.results[i];
    for (const char* key :
         {"source", "uid", "namespace", "pod", "path", "decision", "revision", "requested",
          "routeSource", "reason", "warnings", "httpStatus", "patch", "error"}) {
      EXPECT_TRUE(r.contains(key)) << key;
    }
    EXPECT_EQ(r["source"], want.source);
    EXPECT_EQ(r["decision"], std::string(to_string(want.outcome)));
    EXPECT_EQ(r["revision"].is_null(), want.revision.empty());
    // The patch is the JSON operations themselves, not a string.
    EXPECT_EQ(r["patch"].is_array(), want.outcome == Outcome::kInject);
    EXPECT_EQ(r["error"].is_object(), want.outcome == Outcome::kError);
  }
  const ojson& s = doc["summary"];
  EXPECT_EQ(s["requests"], before.summary.requests);
  EXPECT_EQ(s["inject"], before.summary.injected);
  EXPECT_EQ(s["skip"], before.summary.skipped);
  EXPECT_EQ(s["error"], before.summary.errors);
  EXPECT_EQ(s["inputErrors"], input_errors.size());
  ASSERT_EQ(s["rows"].size(), before.summary.rows.size());
  for (const auto& row : s["rows"]) {
    for (const char* key : {"revision", "decision", "reason", "count"})
      EXPECT_TRUE(row.contains(key));
  }
  ASSERT_EQ(doc["inputErrors"].size(), 1u);
  EXPECT_EQ(doc["inputErrors"][0]["source"], "bad.jsonl:2");
  EXPECT_FALSE(doc.contains("whatIf"));
}

TEST_F(Reports, JsonShowNoneLeavesPatchesOut) {
  const ojson doc = render_json(report(Show::kNone, false));
  for (const auto& r : doc["results"]) EXPECT_FALSE(r.contains("patch"));
}

TEST_F(Reports, JsonWhatIfShape) {
  const ojson doc = render_json(report(Show::kNone, true));
  ASSERT_TRUE(doc.contains("whatIf"));
  const ojson& w = doc["whatIf"];
  EXPECT_EQ(w["target"], "b.yaml");
  EXPECT_EQ(w["results"].size(), inputs.size());
  EXPECT_EQ(w["unchanged"], comparison.unchanged);
  ASSERT_EQ(w["changes"].size(), comparison.changes.size());
  ASSERT_FALSE(comparison.changes.empty());
  for (std::size_t i = 0; i < comparison.changes.size(); ++i) {
    const ojson& c = w["changes"][i];
    const std::size_t idx = comparison.changes[i].index;
    EXPECT_EQ(c["index"], idx);
    EXPECT_EQ(c["source"], inputs[idx].source);
    EXPECT_EQ(c["before"]["revision"], before.results[idx].revision);
    EXPECT_EQ(c["after"]["revision"], after.results[idx].revision);
    EXPECT_TRUE(c["changed"].is_array());
  }
  ASSERT_EQ(w["moves"].size(), comparison.moves.size());
  EXPECT_EQ(w["moves"][0]["from"], comparison.moves[0].from);
  EXPECT_EQ(w["moves"][0]["count"], comparison.moves[0].count);
}

TEST_F(Reports, TextListsEveryRequestAndTheSummary) {
  const std::string text = render_text(report(Show::kNone, false));
  const auto lines = split(text);
  ASSERT_GT(lines.size(), inputs.size());
  EXPECT_TRUE(lines[0].starts_with("POD"));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_NE(text.find("shop/" + inputs[i].name), std::string::npos) << inputs[i].name;
    EXPECT_NE(text.find(inputs[i].source), std::string::npos);
  }
  char want[128];
  std::snprintf(want, sizeof want, "Summary: %zu requests: %zu inject", before.summary.requests,
                before.summary.injected);
  EXPECT_NE(text.find(want), std::string::npos) << text;
  for (const auto& row : before.summary.rows) {
    EXPECT_NE(text.find(std::string(to_string(row.outcome))), std::string::npos);
  }
  EXPECT_NE(text.find("bad.jsonl:2: not JSON"), std::string::npos);
  EXPECT_NE(text.find("error: webhook path"), std::string::npos);  // the 404's message
}

TEST_F(Reports, TextShowsPatchesAsAskedFor) {
  const std::string ops = render_text(report(Show::kOps, false));
  EXPECT_NE(ops.find("/spec/containers/-"), std::string::npos);
  const std::string diff = render_text(report(Show::kDiff, false));
  EXPECT_NE(diff.find("@@ -"), std::string::npos);
  EXPECT_NE(diff.find("+        \"name\": \"istio-proxy\""), std::string::npos) << diff;
  const std::string patch = render_text(report(Show::kPatch, false));
  EXPECT_NE(patch.find("\"op\": \"add\""), std::string::npos);
  const std::string none = render_text(report(Show::kNone, false));
  EXPECT_EQ(none.find("\"op\""), std::string::npos);
  EXPECT_EQ(none.find("@@"), std::string::npos);
}

TEST_F(Reports, TextWhatIfListsMoves) {
  const std::string text = render_text(report(Show::kDiff, true));
  ASSERT_FALSE(comparison.moves.empty());
  const Move& m = comparison.moves[0];
  EXPECT_NE(text.find(std::to_string(m.count) + " pods: " + m.from + " → " + m.to),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("What-if: a.yaml -> b.yaml"), std::string::npos);
  // The diff between the two patched pods shows the revision label moving.
  EXPECT_NE(text.find("-      \"istio.io/rev\": \"1-23-3\""), std::string::npos) << text;
  EXPECT_NE(text.find("+      \"istio.io/rev\": \"1-24-1\""), std::string::npos);
}

TEST_F(Reports, TextWhatIfOpsShowTheFieldsThatDiffer) {
  const std::string text = render_text(report(Show::kOps, true));
  // Same operations on both sides, so only the fields inside their values that differ are listed.
  EXPECT_NE(text.find("/metadata/annotations/istio.io~1rev"), std::string::npos) << text;
  EXPECT_NE(text.find("\"1-23-3\" → \"1-24-1\""), std::string::npos) << text;
  EXPECT_EQ(text.find("    - add"), std::string::npos) << text;
  EXPECT_EQ(text.find("    + add"), std::string::npos) << text;
}

}  // namespace
}  // namespace revrouter::replay
