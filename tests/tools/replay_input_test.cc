#include "tools/replay_input.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "admission/webhook_path.h"
#include "tests/tools/replay_test_util.h"

namespace revrouter::replay {
namespace {

using testing::ojson;
using testing::pod;
using testing::review;

std::vector<std::string> sources(const InputSet& set) {
  std::vector<std::string> out;
  for (const auto& in : set.inputs) out.push_back(in.source);
  return out;
}

std::vector<std::string> errors(const InputSet& set) {
  std::vector<std::string> out;
  for (const auto& e : set.errors) out.push_back(e.source + ": " + e.message);
  return out;
}

InputSet read(const std::string& text, const std::string& name, Format format,
              const InputOptions& options = {}) {
  InputSet set;
  read_text(text, name, format, options, set);
  return set;
}

struct FormatCase {
  const char* name;
  std::string file;
  std::string text;
  Format format;
  std::vector<std::string> want_sources;
  // Each error as "<source>: " followed by a substring of its message.
  std::vector<std::pair<std::string, std::string>> want_errors;
};

std::string lines(std::initializer_list<ojson> values) {
  std::string out;
  for (const auto& v : values) out += v.dump() + "\n";
  return out;
}

const ojson kReview = review("u1", "shop", pod("web-"));
const ojson kPod = pod("web-");

void PrintTo(const FormatCase& c, std::ostream* os) { *os << c.name; }

std::vector<FormatCase> format_cases() {
  return {
      {"OneReviewInAJsonFile", "in.json", kReview.dump(2), Format::kJson, {"in.json"}, {}},
      {"JsonArrayOfReviews",
       "in.json",
       ojson::array({kReview, kReview}).dump(),
       Format::kJson,
       {"in.json[0]", "in.json[1]"},
       {}},
      {"KubernetesListOfPods",
       "in.json",
       ojson({{"apiVersion", "v1"}, {"kind", "PodList"}, {"items", ojson::array({kPod, kPod})}})
           .dump(),
       Format::kJson,
       {"in.json[0]", "in.json[1]"},
       {}},
      {"PlainPodJson", "in.json", kPod.dump(), Format::kJson, {"in.json"}, {}},
      {"JsonLinesSkipBlankLines",
       "in.jsonl",
       lines({kReview}) + "\n" + lines({kPod}),
       Format::kJsonLines,
       {"in.jsonl:1", "in.jsonl:3"},
       {}},
      {"JsonLinesBadLineKeepsTheRest",
       "in.jsonl",
       lines({kReview}) + "{\"kind\": \"Pod\",\n" + lines({kPod}),
       Format::kJsonLines,
       {"in.jsonl:1", "in.jsonl:3"},
       {{"in.jsonl:2", "not JSON"}}},
      {"JsonLinesListOnALine",
       "in.jsonl",
       lines({{{"kind", "List"}, {"items", ojson::array({kPod, kPod})}}}),
       Format::kJsonLines,
       {"in.jsonl:1[0]", "in.jsonl:1[1]"},
       {}},
      {"YamlDocumentsNamedByTheirFirstLine",
       "in.yaml",
       "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n# second\napiVersion: v1\nkind: "
       "Pod\nmetadata:\n  name: b\n---\n",
       Format::kYaml,
       {"in.yaml:1", "in.yaml:7"},
       {}},
      {"YamlList",
       "in.yaml",
       "apiVersion: v1\nkind: List\nitems:\n  - kind: Pod\n    metadata: {name: a}\n  - kind: "
       "Pod\n    metadata: {name: b}\n",
       Format::kYaml,
       {"in.yaml:1[0]", "in.yaml:1[1]"},
       {}},
      {"EnvelopeCarriesItsPath",
       "in.json",
       ojson({{"path", "/inject/ns-rev/canary"}, {"review", kReview}}).dump(),
       Format::kJson,
       {"in.json"},
       {}},
      {"SniffsJsonLines",
       "in.log",
       lines({kReview, kPod}),
       Format::kAuto,
       {"in.log:1", "in.log:2"},
       {}},
      {"SniffsOneJsonDocument", "in.log", kReview.dump(2), Format::kAuto, {"in.log"}, {}},
      {"SniffsYaml", "in.txt", "kind: Pod\nmetadata: {name: a}\n", Format::kAuto, {"in.txt:1"}, {}},
      {"NotJsonNamesLineAndColumn",
       "in.json",
       "{\n  \"kind\": \"Pod\",\n  oops\n}",
       Format::kJson,
       {},
       {{"in.json:3:3", "not JSON"}}},
      {"UnknownKindIsAnError",
       "in.json",
       ojson({{"apiVersion", "apps/v1"}, {"kind", "Deployment"}}).dump(),
       Format::kJson,
       {},
       {{"in.json", "kind Deployment cannot be replayed"}}},
      {"MissingKindIsAnError",
       "in.json",
       R"({"metadata": {}})",
       Format::kJson,
       {},
       {{"in.json", "has no \"kind\""}}},
      {"ArrayOfScalarsIsAnError",
       "in.json",
       "[1, {\"kind\": \"Pod\"}]",
       Format::kJson,
       {"in.json[1]"},
       {{"in.json[0]", "a JSON number is not a record"}}},
      {"EnvelopeWithABadPath",
       "in.json",
       ojson({{"path", "/mutate"}, {"review", kReview}}).dump(),
       Format::kJson,
       {},
       {{"in.json", "not an injection path"}}},
      {"EnvelopeWithAnUnknownField",
       "in.json",
       ojson({{"path", "/inject"}, {"review", kReview}, {"extra", 1}}).dump(),
       Format::kJson,
       {},
       {{"in.json", "unknown field \"extra\""}}},
      {"YamlSyntaxErrorNamesTheLine",
       "in.yaml",
       "kind: Pod\nmetadata:\n  labels: [a,\n",
       Format::kYaml,
       {},
       {{"in.yaml:4", "not YAML"}}},
  };
}

class Formats : public ::testing::TestWithParam<FormatCase> {};

TEST_P(Formats, ReadsRecordsAndNamesErrors) {
  const FormatCase& c = GetParam();
  const InputSet set = read(c.text, c.file, c.format);
  EXPECT_EQ(sources(set), c.want_sources);
  ASSERT_EQ(set.errors.size(), c.want_errors.size()) << ::testing::PrintToString(errors(set));
  for (std::size_t i = 0; i < c.want_errors.size(); ++i) {
    EXPECT_EQ(set.errors[i].source, c.want_errors[i].first);
    EXPECT_NE(set.errors[i].message.find(c.want_errors[i].second), std::string::npos)
        << set.errors[i].message;
  }
  // Whatever the format, every input is an AdmissionReview the server's parser accepts as JSON.
  for (const auto& in : set.inputs) {
    const auto doc = ojson::parse(in.review, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << in.source;
    EXPECT_EQ(doc.value("kind", ""), "AdmissionReview") << in.source;
    EXPECT_EQ(doc["request"].value("uid", ""), in.uid) << in.source;
  }
}

INSTANTIATE_TEST_SUITE_P(ReplayInput, Formats, ::testing::ValuesIn(format_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ReplayInput, PlainPodBecomesAV1PodCreateReview) {
  InputOptions options;
  options.namespace_ = "shop";
  const InputSet set =
      read(lines({pod("web-"), pod("api-")}), "pods.jsonl", Format::kJsonLines, options);
  ASSERT_EQ(set.inputs.size(), 2u);
  const auto doc = ojson::parse(set.inputs[0].review);
  EXPECT_EQ(doc["apiVersion"], "admission.k8s.io/v1");
  const auto& req = doc["request"];
  EXPECT_EQ(req["operation"], "CREATE");
  EXPECT_EQ(req["kind"]["kind"], "Pod");
  EXPECT_EQ(req["resource"]["resource"], "pods");
  EXPECT_EQ(req["namespace"], "shop");
  EXPECT_EQ(req["object"]["metadata"]["namespace"], "shop");
  EXPECT_EQ(req["object"]["metadata"]["generateName"], "web-");
  EXPECT_EQ(set.inputs[0].name, "web-");
  EXPECT_EQ(set.inputs[0].namespace_, "shop");
  EXPECT_EQ(set.inputs[0].pod, req["object"]);
  // Generated uids are numbered in input order, so two runs send the same reviews.
  EXPECT_EQ(set.inputs[0].uid, "replay-1");
  EXPECT_EQ(set.inputs[1].uid, "replay-2");
  EXPECT_EQ(read(lines({pod("web-"), pod("api-")}), "pods.jsonl", Format::kJsonLines, options)
                .inputs[1]
                .review,
            set.inputs[1].review);
}

TEST(ReplayInput, PlainPodNamespacePrecedence) {
  struct Case {
    const char* name;
    std::string option;
    std::string pod_namespace;
    std::string want;
  };
  for (const auto& c : std::vector<Case>{{"OptionWins", "opt", "own", "opt"},
                                         {"PodsOwnWithoutOption", "", "own", "own"},
                                         {"DefaultWhenNeither", "", "", "default"}}) {
    ojson p = pod("web-");
    if (!c.pod_namespace.empty()) p["metadata"]["namespace"] = c.pod_namespace;
    InputOptions options;
    options.namespace_ = c.option;
    const InputSet set = read(p.dump(), "p.json", Format::kJson, options);
    ASSERT_EQ(set.inputs.size(), 1u) << c.name;
    EXPECT_EQ(set.inputs[0].namespace_, c.want) << c.name;
    EXPECT_EQ(ojson::parse(set.inputs[0].review)["request"]["namespace"], c.want) << c.name;
  }
}

TEST(ReplayInput, RecordedReviewIsSentAsRecorded) {
  // Field order matters to nothing in the server, but a faithful replay keeps it anyway.
  const std::string text = R"({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",)"
                           R"("request":{"uid":"x","namespace":"n","object":{"metadata":)"
                           R"({"name":"p","labels":{"z":"1","a":"2"}},"kind":"Pod"}}})";
  const InputSet set = read(text, "r.json", Format::kJson);
  ASSERT_EQ(set.inputs.size(), 1u);
  EXPECT_EQ(set.inputs[0].review, text);
  EXPECT_EQ(set.inputs[0].uid, "x");
  EXPECT_EQ(set.inputs[0].namespace_, "n");
  EXPECT_EQ(set.inputs[0].name, "p");
  EXPECT_EQ(set.inputs[0].path, "/inject");
}

TEST(ReplayInput, NamespaceLabelsBecomeWebhookPathSegments) {
  struct Case {
    const char* name;
    std::string path;
    std::vector<std::pair<std::string, std::string>> labels;
    std::string want;  // "" for an error
  };
  const std::vector<Case> cases = {
      {"NoLabels", "/inject", {}, "/inject"},
      {"Rev", "/inject", {{"istio.io/rev", "canary"}}, "/inject/ns-rev/canary"},
      {"Injection", "/inject", {{"istio-injection", "enabled"}}, "/inject/ns-injection/enabled"},
      {"BothInSchemeOrder",
       "/inject",
       {{"istio-injection", "enabled"}, {"istio.io/rev", "canary"}},
       "/inject/ns-rev/canary/ns-injection/enabled"},
      {"KeepsClusterSegments",
       "/inject/cluster/c1/net/n1",
       {{"istio.io/rev", "canary"}},
       "/inject/ns-rev/canary/cluster/c1/net/n1"},
      {"RepeatedWithPathIsAnError", "/inject/ns-rev/a", {{"istio.io/rev", "b"}}, ""},
      {"NotAnInjectionPath", "/mutate", {}, ""},
  };
  for (const auto& c : cases) {
    InputOptions options;
    options.path = c.path;
    options.namespace_labels = c.labels;
    auto got = webhook_path_for(options);
    if (c.want.empty()) {
      EXPECT_FALSE(got.ok()) << c.name;
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.name << ": " << got.error().message;
    EXPECT_EQ(*got, c.want) << c.name;
    // The server's parser reads the labels back.
    auto parsed = parse_webhook_path(*got);
    ASSERT_TRUE(parsed.ok()) << c.name;
    for (const auto& [k, v] : c.labels) {
      const auto& slot = k == "istio.io/rev" ? parsed->ns.rev : parsed->ns.injection;
      ASSERT_TRUE(slot.has_value()) << c.name;
      EXPECT_EQ(*slot, v) << c.name;
    }
  }
}

TEST(ReplayInput, ParseNamespaceLabel) {
  struct Case {
    const char* text;
    bool ok;
  };
  for (const auto& c : std::vector<Case>{{"istio.io/rev=canary", true},
                                         {"istio-injection=enabled", true},
                                         {"istio-injection=disabled", true},
                                         {"team=payments", false},
                                         {"istio.io/rev", false},
                                         {"=canary", false},
                                         {"istio.io/rev=", false},
                                         {"istio.io/rev=a/b", false}}) {
    auto got = parse_namespace_label(c.text);
    EXPECT_EQ(got.ok(), c.ok) << c.text;
    if (got.ok()) {
      EXPECT_EQ(got->first + "=" + got->second, c.text);
    }
  }
}

TEST(ReplayInput, EnvelopePathWinsOverNamespaceLabels) {
  InputOptions options;
  options.namespace_labels = {{"istio-injection", "enabled"}};
  const std::string text =
      lines({{{"path", "/inject/ns-rev/canary"}, {"review", kReview}}, kReview});
  const InputSet set = read(text, "in.jsonl", Format::kJsonLines, options);
  ASSERT_EQ(set.inputs.size(), 2u);
  EXPECT_EQ(set.inputs[0].path, "/inject/ns-rev/canary");
  EXPECT_EQ(set.inputs[1].path, "/inject/ns-injection/enabled");
}

TEST(ReplayInput, YamlScalarsResolveAsKubernetesDoes) {
  const std::string text = R"(kind: Pod
metadata:
  name: a
  labels:
    quoted: "true"
    version: "1.0"
    dotted: 1.2.3
    cpu: 100m
spec:
  hostNetwork: yes
  priority: 10
  ratio: 0.5
  hex: 0x1F
  nothing: ~
  block: |
    line
)";
  const InputSet set = read(text, "p.yaml", Format::kYaml);
  ASSERT_EQ(set.inputs.size(), 1u) << ::testing::PrintToString(errors(set));
  const ojson& p = set.inputs[0].pod;
  EXPECT_EQ(p["metadata"]["labels"]["quoted"], ojson("true"));
  EXPECT_EQ(p["metadata"]["labels"]["version"], ojson("1.0"));
  EXPECT_EQ(p["metadata"]["labels"]["dotted"], ojson("1.2.3"));
  EXPECT_EQ(p["metadata"]["labels"]["cpu"], ojson("100m"));
  EXPECT_EQ(p["spec"]["hostNetwork"], ojson(true));
  EXPECT_EQ(p["spec"]["priority"], ojson(10));
  EXPECT_EQ(p["spec"]["ratio"], ojson(0.5));
  EXPECT_EQ(p["spec"]["hex"], ojson(31));
  EXPECT_TRUE(p["spec"]["nothing"].is_null());
  EXPECT_EQ(p["spec"]["block"], ojson("line\n"));
}

TEST(ReplayInput, DirectoriesAreReadRecursivelyInNameOrder) {
  testing::TempDir dir;
  dir.write("b/z.jsonl", lines({kPod, kPod}));
  dir.write("a.json", kReview.dump());
  dir.write("b/c.yaml", "kind: Pod\nmetadata: {name: c}\n");
  dir.write("notes.txt", "not an input");
  const InputSet set = read_inputs({dir.path().string()}, {});
  const std::string root = dir.path().string();
  EXPECT_EQ(sources(set), (std::vector<std::string>{root + "/a.json", root + "/b/c.yaml:1",
                                                    root + "/b/z.jsonl:1", root + "/b/z.jsonl:2"}));
  EXPECT_TRUE(set.errors.empty()) << ::testing::PrintToString(errors(set));
}

TEST(ReplayInput, MissingFilesAndEmptyDirectoriesAreErrors) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "empty");
  const std::string missing = (dir.path() / "missing.json").string();
  const std::string empty = (dir.path() / "empty").string();
  const std::string good = dir.write("good.json", kPod.dump());
  const InputSet set = read_inputs({missing, empty, good}, {});
  EXPECT_EQ(sources(set), std::vector<std::string>{good});
  ASSERT_EQ(set.errors.size(), 2u);
  EXPECT_EQ(set.errors[0].source, missing);
  EXPECT_NE(set.errors[0].message.find("no such file"), std::string::npos);
  EXPECT_EQ(set.errors[1].source, empty);
  EXPECT_NE(set.errors[1].message.find("no .json"), std::string::npos);
}

TEST(ReplayInput, BadRecordsInTheDataDirKeepTheGoodOnes) {
  const std::string file = std::string(REVROUTER_TEST_DATA) + "/data/bad/mixed.jsonl";
  const InputSet set = read_inputs({file}, {});
  EXPECT_EQ(sources(set), (std::vector<std::string>{file + ":1", file + ":4"}));
  ASSERT_EQ(set.errors.size(), 2u);
  EXPECT_EQ(set.errors[0].source, file + ":2");
  EXPECT_EQ(set.errors[1].source, file + ":3");
  EXPECT_NE(set.errors[1].message.find("Deployment"), std::string::npos);
}

TEST(ReplayInput, FormatByExtension) {
  EXPECT_EQ(format_of("a/b.json"), Format::kJson);
  EXPECT_EQ(format_of("b.jsonl"), Format::kJsonLines);
  EXPECT_EQ(format_of("b.ndjson"), Format::kJsonLines);
  EXPECT_EQ(format_of("b.yaml"), Format::kYaml);
  EXPECT_EQ(format_of("b.yml"), Format::kYaml);
  EXPECT_EQ(format_of("b.log"), Format::kAuto);
}

}  // namespace
}  // namespace revrouter::replay
