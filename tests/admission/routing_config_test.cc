// The routing table loader: every validation rule reports "<file>:<line>: <what>" with the line of
// the offending node, and a valid table loads with every field in place.
#include "admission/routing_config.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "admission/sidecar_template.h"
#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

// A template load_sidecar_template accepts (test data beside this file).
const std::string& minimal_template() {
  static const std::string text = testing::read_test_file("config/minimal-sidecar.yaml");
  return text;
}

// Files served to the loader, and the paths it asked for.
struct FakeFiles {
  std::map<std::string, std::string> files;
  std::vector<std::string> reads;

  FileReader reader() {
    return [this](const std::string& path) -> Result<std::string> {
      reads.push_back(path);
      auto it = files.find(path);
      if (it == files.end()) return make_error("io", path + ": no such fake file");
      return it->second;
    };
  }
};

// A CA bundle as Istio's istio-ca-root-cert ConfigMap holds it (test data beside this file).
const std::string& ca_pem() {
  static const std::string text = testing::read_test_file("config/istio-ca-root-cert.pem");
  return text;
}

FakeFiles default_files() {
  FakeFiles f;
  f.files["templates/a.yaml"] = minimal_template();
  f.files["templates/b.yaml"] = minimal_template();
  f.files["certs/ca.pem"] = ca_pem();
  f.files["certs/other-ca.pem"] = ca_pem();
  f.files["certs/not-pem.pem"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  return f;
}

// YAML from lines, so a row's line numbers are the positions in its list.
std::string yaml(const std::vector<std::string_view>& lines) {
  std::string out;
  for (std::string_view l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

struct ErrorRow {
  const char* name;
  std::vector<std::string_view> lines;
  int line;               // expected 1-based line
  std::string_view what;  // expected to appear in the message after "t.yaml:<line>: "
};

class RoutingConfigErrorTest : public ::testing::TestWithParam<ErrorRow> {};

TEST_P(RoutingConfigErrorTest, ReportsFileLineAndWhat) {
  const ErrorRow& row = GetParam();
  FakeFiles files = default_files();
  Result<RoutingTable> r = load_routing_table(yaml(row.lines), "t.yaml", files.reader());
  ASSERT_FALSE(r.ok()) << "loaded:\n" << yaml(row.lines);
  EXPECT_EQ(r.error().code, "config");
  const std::string prefix = "t.yaml:" + std::to_string(row.line) + ": ";
  EXPECT_EQ(r.error().message.substr(0, prefix.size()), prefix) << r.error().message;
  EXPECT_NE(r.error().message.find(row.what), std::string::npos)
      << r.error().message << "\n  does not contain: " << row.what;
}

const ErrorRow kErrorRows[] = {
    // --- YAML itself
    {"BadYamlIndentation",
     {"mode: istio", "  backend: local"},
     2,
     "invalid YAML: illegal map value"},
    {"BadYamlUnclosedFlow",
     {"revisions:", "  r1:", "    backend: local", "   template: x"},
     4,
     "invalid YAML: end of map not found"},
    {"UndefinedAlias", {"mode: istio", "revisions: *nope"}, 2, "invalid YAML"},
    {"SecondDocument",
     {"revisions: {r1: {template: templates/a.yaml}}", "---", "mode: istio"},
     3,
     "a second YAML document"},
    {"EmptyDocument", {"# nothing here"}, 1, "the configuration is empty"},
    {"TopLevelNotAMap", {"- revisions"}, 1, "the top level must be a map, got a list"},
    {"NonStringKey",
     {"revisions: {r1: {template: templates/a.yaml}}", "[a, b]: 1"},
     2,
     "the keys of the top level must be strings, got a list"},

    // --- unknown keys name the key and the allowed ones
    {"UnknownTopLevelKey",
     {"revisions:", "  r1: {template: templates/a.yaml}", "mdoe: istio"},
     3,
     "unknown key \"mdoe\" in the top level; allowed keys: mode, defaultTag, revisions, tags"},
    {"UnknownRevisionKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    backnd: local"},
     4,
     "unknown key \"backnd\" in revision \"r1\"; allowed keys: backend, template, url, caFile, "
     "serverName, onFailure, breaker, shadow, injector"},
    {"UnknownInjectorKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      polcy: disabled"},
     5,
     "unknown key \"polcy\" in injector of revision \"r1\"; allowed keys: policy, "
     "lenientInjectValues, neverInjectSelector, alwaysInjectSelector"},
    {"UnknownSelectorKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchLabel: {app: x}"},
     6,
     "unknown key \"matchLabel\" in neverInjectSelector; allowed keys: matchLabels, "
     "matchExpressions"},
    {"UnknownExpressionKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      alwaysInjectSelector:", "        - matchExpressions:", "            - key: app",
      "              operator: Exists", "              value: [x]"},
     9,
     "unknown key \"value\" in matchExpressions; allowed keys: key, operator, values"},

    // --- duplicates (yaml-cpp 0.7 keeps both entries)
    {"DuplicateTopLevelKey",
     {"mode: istio", "revisions: {r1: {template: templates/a.yaml}}", "mode: pod-override"},
     3,
     "duplicate key \"mode\" in the top level (first at line 1)"},
    {"DuplicateRevision",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "  r1: {template: templates/b.yaml}"},
     4,
     "duplicate revision \"r1\" (first at line 2)"},
    {"DuplicateTag",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  prod: r1", "  prod: r1"},
     4,
     "duplicate tag \"prod\" (first at line 3)"},
    {"DuplicateRevisionInSplit",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "tags:", "  canary:", "    r1: 50", "    r1: 50"},
     7,
     "duplicate revision \"r1\" (first at line 6)"},
    {"DuplicateKeyInRevision",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    template: templates/b.yaml"},
     4,
     "duplicate key \"template\" in revision \"r1\" (first at line 3)"},
    {"DuplicateMatchLabel",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchLabels:", "            app: x",
      "            app: y"},
     8,
     "duplicate label \"app\" (first at line 7)"},

    // --- names
    {"NameIsBothTagAndRevision",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "tags:", "  r2: r1"},
     5,
     "tag \"r2\" has the name of the revision defined at line 3"},
    {"RevisionNameTooLong",
     {"revisions:", "  r1: {template: templates/a.yaml}",
      "  a123456789012345678901234567890123456789012345678901234567890123: {template: "
      "templates/a.yaml}"},
     3,
     "revision name \"a123456789012345678901234567890123456789012345678901234567890123\" is not "
     "a valid Kubernetes label value"},
    {"RevisionNameBadCharacter",
     {"revisions:", "  1/14: {template: templates/a.yaml}"},
     2,
     "revision name \"1/14\" is not a valid Kubernetes label value"},
    {"RevisionNameStartsWithDash",
     {"revisions:", "  -rev: {template: templates/a.yaml}"},
     2,
     "revision name \"-rev\" is not a valid Kubernetes label value"},
    {"RevisionNameEmpty",
     {"revisions:", "  \"\": {template: templates/a.yaml}"},
     2,
     "revision name \"\" is not a valid Kubernetes label value"},
    {"TagNameNotLabelValue",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  \"my tag\": r1"},
     3,
     "tag name \"my tag\" is not a valid Kubernetes label value"},

    // --- tags
    {"TagNamesUnknownRevision",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  default: r9"},
     3,
     "tag \"default\" names unknown revision \"r9\"; revisions: r1"},
    {"SplitNamesUnknownRevision",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1: 90",
      "    r9: 10"},
     5,
     "tag \"canary\" names unknown revision \"r9\""},
    {"TagPointsToTag",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  stable: r1",
      "  default: stable"},
     4,
     "tag \"default\" points to tag \"stable\"; tags must point to revisions"},
    {"WeightNotInteger",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1: 99.5"},
     4,
     "weight of \"r1\" in tag \"canary\" must be an integer from 0 to 100, got \"99.5\""},
    {"WeightQuoted",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1: \"100\""},
     4,
     "must be an integer from 0 to 100, got the string \"100\""},
    {"WeightAbove100",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1: 101"},
     4,
     "must be an integer from 0 to 100, got \"101\""},
    {"WeightNegative",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "tags:", "  canary:", "    r1: 100", "    r2: -10"},
     7,
     "weight of \"r2\" in tag \"canary\" must be an integer from 0 to 100, got \"-10\""},
    {"WeightHexIsNotAnInteger",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1: 0x64"},
     4,
     "got \"0x64\""},
    {"WeightHuge",
     {"revisions: {r1: {template: templates/a.yaml}}",
      "tags:", "  canary:", "    r1: 18446744073709551716"},
     4,
     "got \"18446744073709551716\""},
    {"WeightNull",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "    r1:"},
     4,
     "must be an integer from 0 to 100, got nothing"},
    {"WeightsDoNotSumTo100",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "tags:", "  canary: {r1: 90, r2: 5}"},
     5,
     "the weights of tag \"canary\" sum to 95; they must sum to 100"},
    {"WeightsAbove100",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}",
      "tags:", "  canary: {r1: 90, r2: 20}"},
     5,
     "sum to 110"},
    {"EmptyTagNull",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary:", "  other: r1"},
     3,
     "tag \"canary\" is empty"},
    {"EmptyTagEmptyMap",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary: {}"},
     3,
     "tag \"canary\" is empty"},
    {"EmptyTagEmptyString",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary: \"\""},
     3,
     "tag \"canary\" is empty"},
    {"TagIsAList",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags:", "  canary: [r1]"},
     3,
     "tag \"canary\" must be a revision name or a {revision: weight} map, got a list"},
    {"TagsNotAMap",
     {"revisions: {r1: {template: templates/a.yaml}}", "tags: [r1]"},
     2,
     "tags must be a map, got a list"},

    // --- enums
    {"UnknownMode",
     {"mode: pod-overide", "revisions: {r1: {template: templates/a.yaml}}"},
     1,
     "unknown mode \"pod-overide\"; allowed: istio, pod-override"},
    {"ModeNotAString",
     {"mode: [istio]", "revisions: {r1: {template: templates/a.yaml}}"},
     1,
     "mode must be a string, got a list"},
    {"UnknownBackend",
     {"revisions:", "  r1:", "    backend: remote"},
     3,
     "unknown backend \"remote\"; allowed: local, proxy"},
    {"UnknownPolicy",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:", "      policy: on"},
     5,
     "unknown policy \"on\"; allowed: enabled, disabled"},

    // --- backends
    {"LocalWithoutTemplate",
     {"revisions:", "  r1: {template: templates/a.yaml}", "  r2:", "    backend: local"},
     3,
     "revision \"r2\" has backend local but no \"template\""},
    {"LocalIsTheDefaultBackend",
     {"revisions:", "  r1: {}"},
     2,
     "revision \"r1\" has backend local but no \"template\""},
    {"LocalWithUrl",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    url: https://istiod.istio-system.svc/inject"},
     4,
     "\"url\" is only for backend proxy; revision \"r1\" is local"},
    {"ProxyWithTemplate",
     {"revisions:", "  r1:", "    backend: proxy", "    template: templates/a.yaml"},
     4,
     "\"template\" is only for backend local; revision \"r1\" is proxy"},
    {"ProxyWithHttpUrl",
     {"revisions:", "  r1:", "    backend: proxy",
      "    url: http://istiod-r1.istio-system.svc:15017/inject"},
     4,
     "url of revision \"r1\" must be an https:// URL with a host, got "
     "\"http://istiod-r1.istio-system.svc:15017/inject\""},
    {"ProxyWithUrlWithoutHost",
     {"revisions:", "  r1:", "    backend: proxy", "    url: https:///inject"},
     4,
     "must be an https:// URL with a host"},
    {"ProxyDefaultUrlNeedsDnsName",
     {"revisions:", "  Canary_1:", "    backend: proxy"},
     2,
     "revision \"Canary_1\" is not a valid DNS label, so there is no default istiod-Canary_1 "
     "Service; give \"url\""},
    {"EmptyTemplate",
     {"revisions:", "  r1:", "    template:"},
     3,
     "template of revision \"r1\" must be a string, got nothing"},
    {"TemplateNotAString",
     {"revisions:", "  r1:", "    template: {path: x}"},
     3,
     "template of revision \"r1\" must be a string, got a map"},

    // --- selectors
    {"InWithoutValues",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchExpressions:", "            - key: app",
      "              operator: In"},
     8,
     "operator In on \"app\" needs at least one value in \"values\""},
    {"NotInWithEmptyValues",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchExpressions:",
      "            - {key: app, operator: NotIn, values: []}"},
     7,
     "operator NotIn on \"app\" needs at least one value"},
    {"ExistsWithValues",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      alwaysInjectSelector:", "        - matchExpressions:", "            - key: app",
      "              operator: Exists", "              values: [x]"},
     9,
     "operator Exists on \"app\" takes no \"values\""},
    {"DoesNotExistWithValues",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      alwaysInjectSelector:", "        - matchExpressions:",
      "            - {key: app, operator: DoesNotExist, values: [x]}"},
     7,
     "operator DoesNotExist on \"app\" takes no \"values\""},
    {"UnknownOperator",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchExpressions:", "            - key: app",
      "              operator: Equals", "              values: [x]"},
     8,
     "unknown operator \"Equals\"; allowed: In, NotIn, Exists, DoesNotExist"},
    {"OperatorIsCaseSensitive",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchExpressions:",
      "            - {key: app, operator: exists}"},
     7,
     "unknown operator \"exists\""},
    {"ExpressionWithoutKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchExpressions:",
      "            - operator: Exists"},
     7,
     "a matchExpressions entry needs \"key\""},
    {"ExpressionWithoutOperator",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchExpressions:", "            - key: app"},
     7,
     "a matchExpressions entry needs \"operator\""},
    {"ExpressionNotAMap",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchExpressions:", "            - app"},
     7,
     "each of matchExpressions must be a map, got a scalar"},
    {"ExpressionBadKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchExpressions:",
      "            - {key: Bad_Prefix/app, operator: Exists}"},
     7,
     "label key \"Bad_Prefix/app\" is not a valid Kubernetes label key"},
    {"ExpressionBadValue",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchExpressions:", "            - key: app",
      "              operator: In", "              values:", "                - ok",
      "                - not ok"},
     11,
     "label value \"not ok\" is not a valid Kubernetes label value"},
    {"ExpressionValuesNotAList",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchExpressions:",
      "            - {key: app, operator: In, values: x}"},
     7,
     "\"values\" must be a list of strings, got a scalar"},
    {"MatchLabelsBadKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchLabels:", "            app: x",
      "            /app: y"},
     8,
     "label key \"/app\" is not a valid Kubernetes label key"},
    {"MatchLabelsBadValue",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchLabels:", "            app: -x"},
     7,
     "label value \"-x\" is not a valid Kubernetes label value"},
    {"MatchLabelsValueNotAString",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector:",
      "      neverInjectSelector:", "        - matchLabels:", "            app: [x]"},
     7,
     "matchLabels value of \"app\" must be a string, got a list"},
    {"MatchLabelsNotAMap",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - matchLabels: [app]"},
     6,
     "matchLabels must be a map, got a list"},
    {"SelectorsNotAList",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector: {matchLabels: {app: x}}"},
     5,
     "neverInjectSelector must be a list of label selectors, got a map"},
    {"SelectorNotAMap",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      neverInjectSelector:", "        - app=x"},
     6,
     "each of neverInjectSelector must be a label selector map"},

    // --- other types
    {"RevisionsNotAMap", {"revisions: [r1]"}, 1, "revisions must be a map, got a list"},
    {"RevisionNotAMap",
     {"revisions:", "  r1: templates/a.yaml"},
     2,
     "revision \"r1\" must be a map, got a scalar"},
    {"InjectorNotAMap",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    injector: [enabled]"},
     4,
     "injector of revision \"r1\" must be a map, got a list"},
    {"LenientNotABool",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      lenientInjectValues: yes"},
     5,
     "lenientInjectValues must be true or false, got \"yes\""},
    {"LenientQuoted",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    injector:", "      lenientInjectValues: \"true\""},
     5,
     "lenientInjectValues must be true or false"},
    {"NoRevisions", {"mode: istio", "revisions: {}"}, 2, "no revisions defined"},
    {"RevisionsMissing", {"mode: istio", "tags: {}"}, 1, "no revisions defined"},

    // --- defaultTag
    {"DefaultTagUnknown",
     {"defaultTag: stable", "revisions: {r1: {template: templates/a.yaml}}", "tags: {prod: r1}"},
     1,
     "defaultTag \"stable\" names neither a tag nor a revision; tags: prod; revisions: r1"},
    {"DefaultTagEmpty",
     {"defaultTag: \"\"", "revisions: {r1: {template: templates/a.yaml}}"},
     1,
     "defaultTag must not be empty"},

    // --- templates: the reader's failure with the config's line
    {"TemplateUnreadable",
     {"revisions:", "  r1:", "    template: templates/missing.yaml"},
     3,
     "template of revision \"r1\" cannot be loaded: templates/missing.yaml: no such fake file"},

    // --- upstreams: which keys go with which backend
    {"ProxyWithoutCaFile",
     {"revisions:", "  r1:", "    backend: proxy"},
     2,
     "revision \"r1\" needs \"caFile\": the PEM CA bundle that signed istiod's certificate"},
    {"ProxyWithUrlButWithoutCaFile",
     {"revisions:", "  r1:", "    backend: proxy", "    url: https://10.0.0.7:15017/inject"},
     2,
     "revision \"r1\" needs \"caFile\""},
    {"LocalWithCaFile",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    caFile: certs/ca.pem"},
     4,
     "\"caFile\" is only for backend proxy; revision \"r1\" is local (a shadow's caFile goes "
     "inside \"shadow\")"},
    {"LocalWithShadowAndCaFileOutsideIt",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    shadow: {caFile: certs/ca.pem}",
      "    caFile: certs/ca.pem"},
     5,
     "\"caFile\" is only for backend proxy; revision \"r1\" is local"},
    {"LocalWithServerName",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    serverName: istiod.istio-system.svc"},
     4,
     "\"serverName\" is only for backend proxy; revision \"r1\" is local"},
    {"LocalWithOnFailure",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    onFailure: fail-open"},
     4,
     "\"onFailure\" is only for backend proxy; revision \"r1\" is local"},
    {"ProxyWithShadow",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    shadow: {caFile: certs/ca.pem}"},
     5,
     "\"shadow\" is only for backend local; revision \"r1\" is proxy"},
    {"LocalBreakerWithoutShadow",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    breaker: {failures: 3}"},
     4,
     "\"breaker\" is only for backend proxy or with \"shadow\"; revision \"r1\" is local without "
     "a shadow"},

    // --- shadow
    {"ShadowWithoutCaFile",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    shadow:", "      url: https://istiod-r1.istio-system.svc:443/inject"},
     4,
     "shadow of revision \"r1\" needs \"caFile\""},
    {"ShadowEmpty",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    shadow:"},
     4,
     "shadow of revision \"r1\" needs \"caFile\""},
    {"ShadowNotAMap",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    shadow: true"},
     4,
     "shadow of revision \"r1\" must be a map, got a scalar"},
    {"ShadowUnknownKey",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    shadow:", "      caFile: certs/ca.pem", "      onFailure: fail-open"},
     6,
     "unknown key \"onFailure\" in shadow of revision \"r1\"; allowed keys: url, caFile, "
     "serverName"},
    {"ShadowBadUrl",
     {"revisions:", "  r1:", "    template: templates/a.yaml", "    shadow:",
      "      caFile: certs/ca.pem", "      url: http://istiod-r1.istio-system.svc/inject"},
     6,
     "url of shadow of revision \"r1\" must be an https:// URL with a host"},
    {"ShadowDefaultUrlNeedsDnsName",
     {"revisions:", "  Canary_1:", "    template: templates/a.yaml",
      "    shadow:", "      caFile: certs/ca.pem"},
     4,
     "revision \"Canary_1\" is not a valid DNS label, so there is no default istiod-Canary_1 "
     "Service; give \"url\" in \"shadow\""},
    {"ShadowBadServerName",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    shadow:", "      caFile: certs/ca.pem", "      serverName: Istiod.svc"},
     6,
     "serverName \"Istiod.svc\" of shadow of revision \"r1\" must be a lowercase DNS name"},

    // --- url
    {"UrlWithQuery",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc/inject?timeout=10s"},
     5,
     "url of revision \"r1\" must not have a query or fragment ('?' or '#'), got "
     "\"https://istiod.istio-system.svc/inject?timeout=10s\""},
    {"UrlWithFragment",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc/inject#x"},
     5,
     "must not have a query or fragment"},
    {"UrlWithUserinfo",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://admin:secret@istiod.istio-system.svc/inject"},
     5,
     "url of revision \"r1\" must not carry user info (\"user@\")"},
    {"UrlPortZero",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc:0/inject"},
     5,
     "port \"0\" of url of revision \"r1\" must be an integer from 1 to 65535"},
    {"UrlPortTooLarge",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc:65536/inject"},
     5,
     "port \"65536\" of url of revision \"r1\" must be an integer from 1 to 65535"},
    {"UrlPortNotANumber",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc:https/inject"},
     5,
     "port \"https\" of url"},
    {"UrlPortEmpty",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc:/inject"},
     5,
     "port \"\" of url of revision \"r1\" must be an integer from 1 to 65535"},
    {"UrlPortHuge",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc:4294967739/inject"},
     5,
     "port \"4294967739\" of url"},
    {"UrlHostUppercase",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://Istiod.istio-system.svc/inject"},
     5,
     "host \"Istiod.istio-system.svc\" of url of revision \"r1\" must be a lowercase DNS name "
     "(RFC 1123), an IPv4 address or an IPv6 address in brackets"},
    {"UrlHostUnderscore",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod_1.istio-system.svc/inject"},
     5,
     "host \"istiod_1.istio-system.svc\" of url"},
    {"UrlHostBadIpv4",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://10.0.0.256:15017/inject"},
     5,
     "host \"10.0.0.256\" of url"},
    {"UrlIpv6WithoutBrackets",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://fd00::1/inject"},
     5,
     "url of revision \"r1\" has an IPv6 address without brackets; write https://[fd00::1]/..."},
    {"UrlIpv6Unclosed",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://[fd00::1/inject"},
     5,
     "url of revision \"r1\" opens an IPv6 address with '[' but does not close it"},
    {"UrlIpv6Invalid",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://[fd00::1::2]:9443/inject"},
     5,
     "host \"fd00::1::2\" of url of revision \"r1\" is not an IPv6 address"},
    {"UrlIpv6WithZone",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://[fe80::1%25eth0]:9443/inject"},
     5,
     "is not an IPv6 address"},
    {"UrlIpv6JunkAfterBracket",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://[::1]9443/inject"},
     5,
     "url of revision \"r1\" has \"9443\" after the IPv6 address"},
    {"UrlPathWithSpace",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: \"https://istiod.istio-system.svc/in ject\""},
     5,
     "path of url of revision \"r1\" has \" \", which a URL path cannot carry; percent-encode it"},
    {"UrlPathBadPercent",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: https://istiod.istio-system.svc/inject%2"},
     5,
     "path of url of revision \"r1\" has a '%' not followed by two hex digits"},
    {"UrlNotAString",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    url: {host: istiod}"},
     5,
     "url of revision \"r1\" must be a string, got a map"},

    // --- serverName
    {"ServerNameUppercase",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    serverName: Istiod-r1.istio-system.svc"},
     5,
     "serverName \"Istiod-r1.istio-system.svc\" of revision \"r1\" must be a lowercase DNS name "
     "(RFC 1123) or an IP address"},
    {"ServerNameWithPort",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    serverName: istiod.istio-system.svc:443"},
     5,
     "serverName \"istiod.istio-system.svc:443\" of revision \"r1\""},
    {"ServerNameWildcard",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    serverName: \"*.istio-system.svc\""},
     5,
     "serverName \"*.istio-system.svc\" of revision \"r1\""},
    {"ServerNameBracketedIpv6",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    serverName: \"[::1]\""},
     5,
     "serverName \"[::1]\" of revision \"r1\" must be a lowercase DNS name (RFC 1123) or an IP "
     "address (IPv6 without brackets)"},
    {"ServerNameEmpty",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    serverName: \"\""},
     5,
     "serverName of revision \"r1\" must not be empty"},

    // --- caFile: read through the reader, after everything else is valid
    {"CaFileUnreadable",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/missing.pem"},
     4,
     "caFile of revision \"r1\" cannot be read: certs/missing.pem: no such fake file"},
    {"CaFileWithoutCertificate",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/not-pem.pem"},
     4,
     "caFile certs/not-pem.pem: no PEM certificate in file"},
    {"ShadowCaFileWithoutCertificate",
     {"revisions:", "  r1:", "    template: templates/a.yaml",
      "    shadow:", "      caFile: certs/not-pem.pem"},
     5,
     "caFile certs/not-pem.pem: no PEM certificate in file"},
    {"CaFileEmpty",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile:"},
     4,
     "caFile of revision \"r1\" must be a string, got nothing"},

    // --- onFailure
    {"OnFailureUnknownString",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: ignore"},
     5,
     "unknown onFailure \"ignore\"; allowed: fail-closed, fail-open, {fallback: <revision>}"},
    {"OnFailureIstioSpelling",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: Fail"},
     5,
     "unknown onFailure \"Fail\""},
    {"OnFailureUnknownMapKey",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallbak: r2}", "  r2: {template: templates/a.yaml}"},
     5,
     "unknown key \"fallbak\" in onFailure of revision \"r1\"; allowed keys: fallback"},
    {"OnFailureEmptyMap",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem", "    onFailure: {}"},
     5,
     "onFailure of revision \"r1\" must be one of fail-closed, fail-open, {fallback: <revision>}, "
     "got an empty map"},
    {"OnFailureList",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: [fail-open]"},
     5,
     "onFailure of revision \"r1\" must be one of fail-closed, fail-open, {fallback: <revision>}, "
     "got a list"},
    {"OnFailureNull",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem", "    onFailure:"},
     5,
     "got nothing"},
    {"FallbackNotAString",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: [r2]}", "  r2: {template: templates/a.yaml}"},
     5,
     "fallback of revision \"r1\" must be a string, got a list"},
    {"FallbackUnknownRevision",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r9}", "  r2: {template: templates/a.yaml}"},
     5,
     "revision \"r1\" falls back to unknown revision \"r9\"; revisions: r1, r2"},
    {"FallbackNamesATag",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem", "    onFailure:",
      "      fallback: stable", "  r2: {template: templates/a.yaml}", "tags:", "  stable: r2"},
     6,
     "revision \"r1\" falls back to tag \"stable\"; a fallback must name a revision"},
    {"FallbackToItself",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r1}"},
     5,
     "revision \"r1\" falls back to itself"},
    {"FallbackChain",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r2}", "  r2:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r3}", "  r3: {template: templates/a.yaml}"},
     5,
     "revision \"r1\" falls back to \"r2\", which itself falls back to \"r3\" (line 9); fallback "
     "chains are not allowed"},
    {"FallbackCycle",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r2}", "  r2:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    onFailure: {fallback: r1}"},
     5,
     "fallback chains are not allowed"},

    // --- breaker
    {"BreakerFailuresZero",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {failures: 0}"},
     5,
     "failures in breaker of revision \"r1\" must be an integer from 1 to 1000, got \"0\""},
    {"BreakerFailuresTooMany",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker:", "      failures: 1001"},
     6,
     "failures in breaker of revision \"r1\" must be an integer from 1 to 1000, got \"1001\""},
    {"BreakerProbeTooShort",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {probeIntervalMs: 49}"},
     5,
     "probeIntervalMs in breaker of revision \"r1\" must be an integer from 50 to 600000, got "
     "\"49\""},
    {"BreakerProbeTooLong",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {probeIntervalMs: 600001}"},
     5,
     "probeIntervalMs in breaker of revision \"r1\" must be an integer from 50 to 600000"},
    {"BreakerProbeWithUnit",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {probeIntervalMs: 1s}"},
     5,
     "got \"1s\""},
    {"BreakerFailuresQuoted",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {failures: \"5\"}"},
     5,
     "failures in breaker of revision \"r1\" must be an integer from 1 to 1000, got the string "
     "\"5\""},
    {"BreakerNotAMap",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem", "    breaker: 5"},
     5,
     "breaker of revision \"r1\" must be a map, got a scalar"},
    {"BreakerUnknownKey",
     {"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem",
      "    breaker: {failures: 5, timeoutMs: 100}"},
     5,
     "unknown key \"timeoutMs\" in breaker of revision \"r1\"; allowed keys: failures, "
     "probeIntervalMs"},
};

INSTANTIATE_TEST_SUITE_P(Rules, RoutingConfigErrorTest, ::testing::ValuesIn(kErrorRows),
                         [](const ::testing::TestParamInfo<ErrorRow>& info) {
                           return std::string(info.param.name);
                         });

TEST(RoutingConfig, FullConfigLoadsEveryField) {
  FakeFiles files;
  files.files["etc/revrouter/templates/old.yaml"] = minimal_template();
  files.files["/abs/new.yaml"] = minimal_template();
  files.files["etc/revrouter/certs/ca.pem"] = ca_pem();
  const std::string text = yaml({
      "mode: pod-override",  // 1
      "defaultTag: stable",  // 2
      "revisions:",          // 3
      "  1-14-6:",           // 4
      "    backend: local",
      "    template: templates/old.yaml",
      "    injector:",
      "      policy: disabled",
      "      lenientInjectValues: true",
      "      neverInjectSelector:",  // 10
      "        - matchLabels: {app: batch, tier: worker}",
      "          matchExpressions:",
      "            - {key: example.com/skip, operator: Exists}",
      "        - {}",
      "      alwaysInjectSelector:",  // 15
      "        - matchExpressions:",
      "            - {key: team, operator: In, values: [a, b]}",
      "            - {key: env, operator: NotIn, values: [dev]}",
      "            - {key: legacy, operator: DoesNotExist}",
      "  1-15-4:",  // 20
      "    backend: local",
      "    template: /abs/new.yaml",
      "  1-16-0:",
      "    backend: proxy",
      "    caFile: certs/ca.pem",  // 25
      "  1-13-9:",
      "    backend: proxy",
      "    url: https://10.0.0.7:15017/inject/cluster/c1/net/n1",
      "    caFile: certs/ca.pem",
      "    serverName: istiod-1-13-9.istio-system.svc",  // 30
      "    onFailure: {fallback: 1-15-4}",
      "    breaker: {failures: 3, probeIntervalMs: 250}",
      "tags:",
      "  stable: 1-14-6",
      "  canary:",  // 35
      "    1-14-6: 90",
      "    1-15-4: 10",
      "    1-16-0: 0",
  });
  Result<RoutingTable> r = load_routing_table(text, "etc/revrouter/config.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RoutingTable& t = *r;
  EXPECT_EQ(t.source, "etc/revrouter/config.yaml");
  EXPECT_EQ(t.mode, PrecedenceMode::kPodOverride);
  EXPECT_EQ(t.default_tag, "stable");

  ASSERT_EQ(t.revisions.size(), 4u);
  const Revision& old_rev = t.revisions[0];
  EXPECT_EQ(old_rev.name, "1-14-6");
  EXPECT_EQ(old_rev.line, 4);
  EXPECT_EQ(old_rev.backend, Backend::kLocal);
  EXPECT_EQ(old_rev.template_path, "etc/revrouter/templates/old.yaml");
  EXPECT_NE(old_rev.sidecar, nullptr);
  EXPECT_EQ(old_rev.url, "");
  EXPECT_EQ(old_rev.injector.policy, InjectPolicy::kDisabled);
  EXPECT_TRUE(old_rev.injector.lenient_inject_values);

  ASSERT_EQ(old_rev.injector.never_inject_selector.size(), 2u);
  const auto& never0 = old_rev.injector.never_inject_selector[0].requirements;
  ASSERT_EQ(never0.size(), 3u);
  EXPECT_EQ(never0[0].key, "app");
  EXPECT_EQ(never0[0].op, LabelRequirement::Op::kIn);
  EXPECT_EQ(never0[0].values, std::vector<std::string>{"batch"});
  EXPECT_EQ(never0[1].key, "tier");
  EXPECT_EQ(never0[1].values, std::vector<std::string>{"worker"});
  EXPECT_EQ(never0[2].key, "example.com/skip");
  EXPECT_EQ(never0[2].op, LabelRequirement::Op::kExists);
  EXPECT_TRUE(never0[2].values.empty());
  EXPECT_TRUE(old_rev.injector.never_inject_selector[1].empty());  // kept; Istio skips it

  ASSERT_EQ(old_rev.injector.always_inject_selector.size(), 1u);
  const auto& always = old_rev.injector.always_inject_selector[0].requirements;
  ASSERT_EQ(always.size(), 3u);
  EXPECT_EQ(always[0].key, "team");
  EXPECT_EQ(always[0].op, LabelRequirement::Op::kIn);
  EXPECT_EQ(always[0].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(always[1].op, LabelRequirement::Op::kNotIn);
  EXPECT_EQ(always[1].values, std::vector<std::string>{"dev"});
  EXPECT_EQ(always[2].key, "legacy");
  EXPECT_EQ(always[2].op, LabelRequirement::Op::kDoesNotExist);

  const Revision& new_rev = t.revisions[1];
  EXPECT_EQ(new_rev.name, "1-15-4");
  EXPECT_EQ(new_rev.template_path, "/abs/new.yaml");  // absolute paths are kept
  EXPECT_NE(new_rev.sidecar, nullptr);
  EXPECT_EQ(new_rev.injector.policy, InjectPolicy::kEnabled);
  EXPECT_FALSE(new_rev.injector.lenient_inject_values);
  EXPECT_TRUE(new_rev.injector.never_inject_selector.empty());

  const Revision& proxied = t.revisions[2];
  EXPECT_EQ(proxied.backend, Backend::kProxy);
  EXPECT_EQ(proxied.url, "https://istiod-1-16-0.istio-system.svc:443/inject");
  EXPECT_EQ(proxied.template_path, "");
  EXPECT_EQ(proxied.sidecar, nullptr);
  EXPECT_EQ(proxied.line, 23);
  EXPECT_EQ(proxied.upstream.url, proxied.url);
  EXPECT_EQ(proxied.upstream.host, "istiod-1-16-0.istio-system.svc");
  EXPECT_EQ(proxied.upstream.port, 443);
  EXPECT_EQ(proxied.upstream.path, "/inject");
  EXPECT_EQ(proxied.upstream.server_name, "istiod-1-16-0.istio-system.svc");
  EXPECT_EQ(proxied.upstream.ca_file, "etc/revrouter/certs/ca.pem");
  EXPECT_EQ(proxied.upstream.ca_pem, ca_pem());
  EXPECT_EQ(proxied.upstream.line, 23);  // the default url: the revision's line
  EXPECT_EQ(proxied.upstream.ca_line, 25);
  EXPECT_EQ(proxied.on_failure.action, FailureAction::kFailClosed);
  EXPECT_EQ(proxied.breaker.failures, 5u);
  EXPECT_EQ(proxied.breaker.probe_interval_ms, 1000u);
  EXPECT_FALSE(proxied.shadow);

  const Revision& pinned = t.revisions[3];
  EXPECT_EQ(pinned.url, "https://10.0.0.7:15017/inject/cluster/c1/net/n1");
  EXPECT_EQ(pinned.upstream.url, pinned.url);
  EXPECT_EQ(pinned.upstream.host, "10.0.0.7");
  EXPECT_EQ(pinned.upstream.port, 15017);
  EXPECT_EQ(pinned.upstream.path, "/inject/cluster/c1/net/n1");
  EXPECT_EQ(pinned.upstream.server_name, "istiod-1-13-9.istio-system.svc");
  EXPECT_EQ(pinned.upstream.line, 28);
  EXPECT_EQ(pinned.upstream.ca_line, 29);
  EXPECT_EQ(pinned.on_failure.action, FailureAction::kFallback);
  EXPECT_EQ(pinned.on_failure.fallback, 1u);  // 1-15-4
  EXPECT_EQ(pinned.breaker.failures, 3u);
  EXPECT_EQ(pinned.breaker.probe_interval_ms, 250u);

  // Local revisions carry no upstream.
  EXPECT_FALSE(old_rev.shadow);
  EXPECT_EQ(old_rev.upstream.url, "");
  EXPECT_EQ(old_rev.upstream.ca_pem, "");
  EXPECT_TRUE(t.has_upstreams());

  ASSERT_EQ(t.tags.size(), 2u);
  EXPECT_EQ(t.tags[0].name, "stable");
  EXPECT_EQ(t.tags[0].line, 34);
  ASSERT_EQ(t.tags[0].targets.size(), 1u);
  EXPECT_EQ(t.tags[0].targets[0].revision, 0u);
  EXPECT_EQ(t.tags[0].targets[0].weight, 100u);
  EXPECT_EQ(t.tags[1].name, "canary");
  ASSERT_EQ(t.tags[1].targets.size(), 3u);
  EXPECT_EQ(t.tags[1].targets[0].revision, 0u);
  EXPECT_EQ(t.tags[1].targets[0].weight, 90u);
  EXPECT_EQ(t.tags[1].targets[1].revision, 1u);
  EXPECT_EQ(t.tags[1].targets[1].weight, 10u);
  EXPECT_EQ(t.tags[1].targets[2].revision, 2u);
  EXPECT_EQ(t.tags[1].targets[2].weight, 0u);

  // Each file once: both proxy revisions share the CA bundle.
  EXPECT_EQ(files.reads, (std::vector<std::string>{"etc/revrouter/templates/old.yaml",
                                                   "/abs/new.yaml", "etc/revrouter/certs/ca.pem"}));
}

TEST(RoutingConfig, DefaultsWhenKeysAreOmitted) {
  FakeFiles files = default_files();
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:", "  r1:", "    template: templates/a.yaml"}), "t.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->mode, PrecedenceMode::kIstio);
  // An implicit defaultTag need not exist: istio-injection=enabled then selects nothing.
  EXPECT_EQ(r->default_tag, "default");
  EXPECT_TRUE(r->tags.empty());
  ASSERT_EQ(r->revisions.size(), 1u);
  EXPECT_EQ(r->revisions[0].backend, Backend::kLocal);
  EXPECT_EQ(r->revisions[0].injector.policy, InjectPolicy::kEnabled);
  EXPECT_FALSE(r->revisions[0].injector.lenient_inject_values);
  EXPECT_TRUE(r->revisions[0].injector.always_inject_selector.empty());
}

TEST(RoutingConfig, DefaultTagMayNameARevision) {
  FakeFiles files = default_files();
  Result<RoutingTable> r =
      load_routing_table(yaml({"defaultTag: r1", "revisions: {r1: {template: templates/a.yaml}}"}),
                         "t.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->default_tag, "r1");
}

TEST(RoutingConfig, BooleansAcceptYamlCoreSpellings) {
  for (const char* spelling : {"true", "True", "TRUE", "false", "False", "FALSE"}) {
    FakeFiles files = default_files();
    Result<RoutingTable> r = load_routing_table(
        yaml({"revisions:", "  r1:", "    template: templates/a.yaml",
              "    injector:", std::string("      lenientInjectValues: ") + spelling}),
        "t.yaml", files.reader());
    ASSERT_TRUE(r.ok()) << spelling << ": " << r.error().message;
    EXPECT_EQ(r->revisions[0].injector.lenient_inject_values,
              spelling[0] == 't' || spelling[0] == 'T')
        << spelling;
  }
}

TEST(RoutingConfig, TemplatePathsResolveAgainstTheConfigDirectory) {
  struct Case {
    const char* config_file;
    const char* template_key;
    const char* expected_read;
  };
  const Case cases[] = {
      {"config.yaml", "templates/a.yaml", "templates/a.yaml"},
      {"etc/rr/config.yaml", "templates/a.yaml", "etc/rr/templates/a.yaml"},
      {"/config.yaml", "t.yaml", "/t.yaml"},
      {"/etc/rr/config.yaml", "../t.yaml", "/etc/rr/../t.yaml"},
      {"/etc/rr/config.yaml", "/srv/t.yaml", "/srv/t.yaml"},
  };
  for (const Case& c : cases) {
    FakeFiles files;
    files.files[c.expected_read] = minimal_template();
    Result<RoutingTable> r = load_routing_table(
        yaml({"revisions:", "  r1:", std::string("    template: ") + c.template_key}),
        c.config_file, files.reader());
    ASSERT_TRUE(r.ok()) << c.config_file << ": " << r.error().message;
    EXPECT_EQ(files.reads, std::vector<std::string>{c.expected_read}) << c.config_file;
    EXPECT_EQ(r->revisions[0].template_path, c.expected_read);
  }
}

TEST(RoutingConfig, RevisionsSharingATemplateLoadItOnce) {
  FakeFiles files = default_files();
  Result<RoutingTable> r =
      load_routing_table(yaml({"revisions:", "  r1:", "    template: templates/a.yaml",
                               "  r2:", "    template: templates/a.yaml"}),
                         "t.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(files.reads, std::vector<std::string>{"templates/a.yaml"});
  ASSERT_NE(r->revisions[0].sidecar, nullptr);
  EXPECT_EQ(r->revisions[0].sidecar, r->revisions[1].sidecar);
}

TEST(RoutingConfig, NoTemplateIsReadWhenTheConfigIsInvalid) {
  FakeFiles files = default_files();
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:", "  r1: {template: templates/a.yaml}", "tags: {default: r9}"}), "t.yaml",
      files.reader());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(files.reads.empty());
}

TEST(RoutingConfig, TemplateErrorsPassThroughUnchanged) {
  // Text the template parser rejects; its own error (naming the template file) is what the loader
  // returns.
  const std::string bad_template = "- not\n- a template\n";
  Result<std::shared_ptr<const SidecarTemplate>> direct =
      load_sidecar_template(bad_template, "cfg/templates/bad.yaml");
  ASSERT_FALSE(direct.ok()) << "the template parser accepted the bad fixture";

  FakeFiles files;
  files.files["cfg/templates/bad.yaml"] = bad_template;
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:", "  r1: {template: templates/bad.yaml}"}), "cfg/t.yaml", files.reader());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, direct.error().code);
  EXPECT_EQ(r.error().message, direct.error().message);
}

TEST(RoutingConfig, FindRevisionAndTag) {
  FakeFiles files = default_files();
  Result<RoutingTable> r =
      load_routing_table(yaml({"revisions:", "  r1: {template: templates/a.yaml}",
                               "  r2: {template: templates/b.yaml}", "tags: {prod: r2}"}),
                         "t.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_NE(r->find_revision("r2"), nullptr);
  EXPECT_EQ(r->find_revision("r2"), &r->revisions[1]);
  EXPECT_EQ(r->find_revision("prod"), nullptr);  // a tag is not a revision
  EXPECT_EQ(r->find_revision("r"), nullptr);
  ASSERT_NE(r->find_tag("prod"), nullptr);
  EXPECT_EQ(r->find_tag("prod")->name, "prod");
  EXPECT_EQ(r->find_tag("r1"), nullptr);
  EXPECT_EQ(r->find_tag(""), nullptr);
}

// A proxy revision `r1` with `url` (omitted when empty) and `extra` lines after it.
Result<RoutingTable> load_proxy(std::string_view url, std::vector<std::string_view> extra = {}) {
  std::vector<std::string_view> lines = {"revisions:", "  r1:", "    backend: proxy",
                                         "    caFile: certs/ca.pem"};
  std::string url_line = "    url: \"" + std::string(url) + "\"";
  if (!url.empty()) lines.push_back(url_line);
  lines.insert(lines.end(), extra.begin(), extra.end());
  FakeFiles files = default_files();
  return load_routing_table(yaml(lines), "t.yaml", files.reader());
}

TEST(RoutingConfigUpstream, UrlSplitsIntoHostPortAndPath) {
  struct Case {
    const char* url;  // "" for the default
    const char* host;
    std::uint16_t port;
    const char* path;
  };
  const Case cases[] = {
      {"", "istiod-r1.istio-system.svc", 443, "/inject"},
      {"https://istiod.istio-system.svc:15017/inject", "istiod.istio-system.svc", 15017, "/inject"},
      {"https://istiod.istio-system.svc/inject", "istiod.istio-system.svc", 443, "/inject"},
      {"https://istiod.istio-system.svc", "istiod.istio-system.svc", 443, "/"},
      {"https://istiod.istio-system.svc:8443", "istiod.istio-system.svc", 8443, "/"},
      {"https://istiod.istio-system.svc/", "istiod.istio-system.svc", 443, "/"},
      {"https://10.0.0.7:1/inject/cluster/c%2F1", "10.0.0.7", 1, "/inject/cluster/c%2F1"},
      {"https://127.0.0.1:65535/a:b@c/~x", "127.0.0.1", 65535, "/a:b@c/~x"},
      {"https://[::1]:9443/inject", "::1", 9443, "/inject"},
      {"https://[fd00:10:96::a]/inject", "fd00:10:96::a", 443, "/inject"},
      {"https://[2001:DB8:0:0:8:800:200C:417A]", "2001:DB8:0:0:8:800:200C:417A", 443, "/"},
      {"https://[::ffff:10.0.0.7]:443/x", "::ffff:10.0.0.7", 443, "/x"},
      {"https://istiod:443/inject", "istiod", 443, "/inject"},
  };
  for (const Case& c : cases) {
    Result<RoutingTable> r = load_proxy(c.url);
    ASSERT_TRUE(r.ok()) << c.url << ": " << r.error().message;
    const UpstreamConfig& up = r->revisions[0].upstream;
    const std::string expected_url =
        *c.url ? c.url : "https://istiod-r1.istio-system.svc:443/inject";
    EXPECT_EQ(up.url, expected_url);
    EXPECT_EQ(r->revisions[0].url, expected_url);
    EXPECT_EQ(up.host, c.host) << c.url;
    EXPECT_EQ(up.port, c.port) << c.url;
    EXPECT_EQ(up.path, c.path) << c.url;
    EXPECT_EQ(up.server_name, c.host) << c.url;   // defaults to the host
    EXPECT_EQ(up.line, *c.url ? 5 : 2) << c.url;  // the url, else the revision
  }
}

TEST(RoutingConfigUpstream, Ipv6AddressesOutsideUrlGrammarAreRejected) {
  for (const char* host :
       {"[1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8:9]", "[1::2::3]", "[:1::]", "[1:2:3:4:5:6:7:]",
        "[12345::]", "[::g]", "[::1.2.3]", "[1.2.3.4::]", "[]", "[::256.0.0.1]"}) {
    Result<RoutingTable> r = load_proxy(std::string("https://") + host + ":9443/inject");
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_NE(r.error().message.find("is not an IPv6 address"), std::string::npos)
        << host << ": " << r.error().message;
  }
  for (const char* host : {"[::]", "[1::]", "[::1:2:3:4:5:6:7]", "[1:2:3:4:5:6:7:8]",
                           "[1:2:3:4:5:6:1.2.3.4]", "[::1.2.3.4]"}) {
    Result<RoutingTable> r = load_proxy(std::string("https://") + host + ":9443/inject");
    EXPECT_TRUE(r.ok()) << host << ": " << r.error().message;
  }
}

TEST(RoutingConfigUpstream, ServerNameIsAnyDnsNameOrIpAddress) {
  for (const char* name :
       {"istiod.istio-system.svc", "istiod", "10.96.0.10", "::1", "fd00:10:96::a", "a.b-c.d1"}) {
    Result<RoutingTable> r = load_proxy("https://10.0.0.7:15017/inject",
                                        {std::string("    serverName: \"") + name + "\""});
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
    EXPECT_EQ(r->revisions[0].upstream.server_name, name);
    EXPECT_EQ(r->revisions[0].upstream.host, "10.0.0.7");  // the url is unchanged
  }
  for (const char* name : {"Istiod", "istiod_1", "istiod.", ".istiod", "-istiod", "10.0.0.300",
                           "010.0.0.1", "[::1]", "istiod:443", "1::2::3"}) {
    Result<RoutingTable> r = load_proxy("", {std::string("    serverName: \"") + name + "\""});
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.error().message.find("serverName \"" + std::string(name) + "\""), std::string::npos)
        << r.error().message;
  }
}

TEST(RoutingConfigUpstream, CaFileResolvesAgainstTheConfigDirectoryAndIsReadOnce) {
  struct Case {
    const char* config_file;
    const char* ca_key;
    const char* expected_read;
  };
  const Case cases[] = {
      {"config.yaml", "certs/ca.pem", "certs/ca.pem"},
      {"etc/rr/config.yaml", "certs/ca.pem", "etc/rr/certs/ca.pem"},
      {"/etc/rr/config.yaml", "../ca.pem", "/etc/rr/../ca.pem"},
      {"/etc/rr/config.yaml", "/var/run/secrets/istio/root-cert.pem",
       "/var/run/secrets/istio/root-cert.pem"},
  };
  for (const Case& c : cases) {
    FakeFiles files;
    files.files[c.expected_read] = ca_pem();
    const std::string ca_line = std::string("    caFile: ") + c.ca_key;
    Result<RoutingTable> r = load_routing_table(
        yaml({"revisions:", "  r1:", "    backend: proxy", ca_line, "  r2:", "    backend: proxy",
              "    url: https://istiod-r2.istio-system.svc/inject", ca_line}),
        c.config_file, files.reader());
    ASSERT_TRUE(r.ok()) << c.config_file << ": " << r.error().message;
    EXPECT_EQ(files.reads, std::vector<std::string>{c.expected_read}) << c.config_file;
    for (const Revision& rev : r->revisions) {
      EXPECT_EQ(rev.upstream.ca_file, c.expected_read);
      EXPECT_EQ(rev.upstream.ca_pem, ca_pem());
    }
    EXPECT_EQ(r->revisions[0].upstream.ca_line, 4);
    EXPECT_EQ(r->revisions[1].upstream.ca_line, 8);
  }
}

TEST(RoutingConfigUpstream, OnFailureAndBreakerValues) {
  FakeFiles files = default_files();
  // Fallback targets declared after the revision that names them, a proxy target that fails open
  // itself, and a local target.
  Result<RoutingTable> r =
      load_routing_table(yaml({"revisions:",
                               "  a:",
                               "    backend: proxy",
                               "    caFile: certs/ca.pem",
                               "    onFailure: {fallback: c}",
                               "  b:",
                               "    backend: proxy",
                               "    caFile: certs/ca.pem",
                               "    onFailure:",
                               "      fallback: d",
                               "    breaker: {failures: 1000, probeIntervalMs: 600000}",
                               "  c:",
                               "    backend: proxy",
                               "    caFile: certs/ca.pem",
                               "    onFailure: fail-open",
                               "    breaker: {failures: 1, probeIntervalMs: 50}",
                               "  d:",
                               "    template: templates/a.yaml",
                               "  e:",
                               "    backend: proxy",
                               "    caFile: certs/ca.pem",
                               "    onFailure: \"fail-closed\"",
                               "    breaker: {probeIntervalMs: 2000}",
                               "  f:",
                               "    backend: proxy",
                               "    caFile: certs/ca.pem",
                               "    breaker:"}),
                         "t.yaml", files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto& revs = r->revisions;
  ASSERT_EQ(revs.size(), 6u);
  EXPECT_EQ(revs[0].on_failure.action, FailureAction::kFallback);
  EXPECT_EQ(revs[0].on_failure.fallback, 2u);
  EXPECT_EQ(revs[1].on_failure.action, FailureAction::kFallback);
  EXPECT_EQ(revs[1].on_failure.fallback, 3u);
  EXPECT_EQ(revs[1].breaker.failures, 1000u);
  EXPECT_EQ(revs[1].breaker.probe_interval_ms, 600000u);
  EXPECT_EQ(revs[2].on_failure.action, FailureAction::kFailOpen);
  EXPECT_EQ(revs[2].breaker.failures, 1u);
  EXPECT_EQ(revs[2].breaker.probe_interval_ms, 50u);
  EXPECT_EQ(revs[4].on_failure.action, FailureAction::kFailClosed);
  EXPECT_EQ(revs[4].breaker.failures, 5u);  // the default, the other key given
  EXPECT_EQ(revs[4].breaker.probe_interval_ms, 2000u);
  EXPECT_EQ(revs[5].on_failure.action, FailureAction::kFailClosed);  // Istio's failurePolicy Fail
  EXPECT_EQ(revs[5].breaker.failures, 5u);  // an empty breaker map keeps the defaults
  EXPECT_EQ(revs[5].breaker.probe_interval_ms, 1000u);
}

TEST(RoutingConfigUpstream, LocalRevisionWithShadow) {
  FakeFiles files = default_files();
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:",
            "  r1:",  // 2
            "    template: templates/a.yaml", "    shadow:",
            "      caFile: certs/other-ca.pem",  // 5
            "    breaker: {failures: 2}", "  r2:", "    template: templates/b.yaml", "    shadow:",
            "      url: https://[fd00::7]:15017/inject/net/n1",  // 10
            "      caFile: /etc/istio/root-cert.pem",
            "      serverName: istiod-r2.istio-system.svc"}),
      "cfg/t.yaml", [&](const std::string& path) -> Result<std::string> {
        if (path == "cfg/certs/other-ca.pem" || path == "/etc/istio/root-cert.pem") return ca_pem();
        if (path == "cfg/templates/a.yaml" || path == "cfg/templates/b.yaml") {
          return minimal_template();
        }
        return make_error("io", path + ": unexpected read");
      });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->has_upstreams());

  const Revision& r1 = r->revisions[0];
  EXPECT_EQ(r1.backend, Backend::kLocal);
  EXPECT_NE(r1.sidecar, nullptr);
  EXPECT_TRUE(r1.shadow);
  EXPECT_EQ(r1.url, "");  // the injector URL is a proxy's
  EXPECT_EQ(r1.upstream.url, "https://istiod-r1.istio-system.svc:443/inject");
  EXPECT_EQ(r1.upstream.host, "istiod-r1.istio-system.svc");
  EXPECT_EQ(r1.upstream.port, 443);
  EXPECT_EQ(r1.upstream.path, "/inject");
  EXPECT_EQ(r1.upstream.server_name, "istiod-r1.istio-system.svc");
  EXPECT_EQ(r1.upstream.ca_file, "cfg/certs/other-ca.pem");
  EXPECT_EQ(r1.upstream.ca_pem, ca_pem());
  EXPECT_EQ(r1.upstream.line, 2);
  EXPECT_EQ(r1.upstream.ca_line, 5);
  EXPECT_EQ(r1.breaker.failures, 2u);

  const Revision& r2 = r->revisions[1];
  EXPECT_TRUE(r2.shadow);
  EXPECT_EQ(r2.upstream.url, "https://[fd00::7]:15017/inject/net/n1");
  EXPECT_EQ(r2.upstream.host, "fd00::7");
  EXPECT_EQ(r2.upstream.port, 15017);
  EXPECT_EQ(r2.upstream.path, "/inject/net/n1");
  EXPECT_EQ(r2.upstream.server_name, "istiod-r2.istio-system.svc");
  EXPECT_EQ(r2.upstream.ca_file, "/etc/istio/root-cert.pem");
  EXPECT_EQ(r2.upstream.line, 10);
  EXPECT_EQ(r2.upstream.ca_line, 11);
  EXPECT_EQ(r2.breaker.failures, 5u);
}

TEST(RoutingConfigUpstream, HasUpstreamsOnlyWithAProxyOrAShadow) {
  struct Case {
    const char* name;
    std::vector<std::string_view> lines;
    bool expected;
  };
  const Case cases[] = {
      {"local only",
       {"revisions:", "  r1: {template: templates/a.yaml}", "  r2: {template: templates/b.yaml}"},
       false},
      {"a proxy",
       {"revisions:", "  r1: {template: templates/a.yaml}",
        "  r2: {backend: proxy, caFile: certs/ca.pem}"},
       true},
      {"a shadow",
       {"revisions:", "  r1: {template: templates/a.yaml}",
        "  r2: {template: templates/b.yaml, shadow: {caFile: certs/ca.pem}}"},
       true},
  };
  for (const Case& c : cases) {
    FakeFiles files = default_files();
    Result<RoutingTable> r = load_routing_table(yaml(c.lines), "t.yaml", files.reader());
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.error().message;
    EXPECT_EQ(r->has_upstreams(), c.expected) << c.name;
  }
  EXPECT_FALSE(RoutingTable{}.has_upstreams());
}

TEST(RoutingConfigUpstream, NoCaFileIsReadWhenTheConfigIsInvalid) {
  FakeFiles files = default_files();
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:", "  r1: {backend: proxy, caFile: certs/ca.pem, onFailure: {fallback: r9}}",
            "  r2: {template: templates/a.yaml, shadow: {caFile: certs/ca.pem}}"}),
      "t.yaml", files.reader());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown revision \"r9\""), std::string::npos)
      << r.error().message;
  EXPECT_TRUE(files.reads.empty());
}

TEST(RoutingConfigUpstream, WithoutAReaderTheCaFileIsAnError) {
  Result<RoutingTable> r = load_routing_table(
      yaml({"revisions:", "  r1:", "    backend: proxy", "    caFile: certs/ca.pem"}), "t.yaml",
      FileReader{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "t.yaml:4: revision \"r1\": no file reader to load its caFile");
}

// A fresh directory under the test temp dir, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(std::filesystem::path(::testing::TempDir()) / ("routing_config_test_" + name)) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_ / "templates");
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& relative, const std::string& text) const {
    std::FILE* f = std::fopen((path_ / relative).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), f), text.size());
    std::fclose(f);
  }

 private:
  std::filesystem::path path_;
};

TEST(RoutingConfigFile, LoadsTheFileAndItsTemplates) {
  TempDir dir("loads");
  dir.write("templates/a.yaml", minimal_template());
  dir.write("config.yaml", yaml({"revisions:", "  r1: {template: templates/a.yaml}"}));
  Result<RoutingTable> r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->source, dir.path() + "/config.yaml");
  EXPECT_EQ(r->revisions[0].template_path, dir.path() + "/templates/a.yaml");
  EXPECT_NE(r->revisions[0].sidecar, nullptr);
}

TEST(RoutingConfigFile, LoadsTheCaFileOfAProxyRevision) {
  TempDir dir("ca_file");
  dir.write("root-cert.pem", ca_pem());
  dir.write("empty.pem", "");
  dir.write("config.yaml",
            yaml({"revisions:", "  r1:", "    backend: proxy", "    caFile: root-cert.pem"}));
  Result<RoutingTable> r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revisions[0].upstream.ca_file, dir.path() + "/root-cert.pem");
  EXPECT_EQ(r->revisions[0].upstream.ca_pem, ca_pem());

  dir.write("config.yaml",
            yaml({"revisions:", "  r1:", "    backend: proxy", "    caFile: gone.pem"}));
  r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, dir.path() +
                                   "/config.yaml:4: caFile of revision \"r1\" cannot be "
                                   "read: " +
                                   dir.path() + "/gone.pem: cannot read: " + std::strerror(ENOENT));

  dir.write("config.yaml",
            yaml({"revisions:", "  r1:", "    backend: proxy", "    caFile: empty.pem"}));
  r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find(dir.path() + "/config.yaml:4: caFile " + dir.path() +
                                   "/empty.pem: no PEM certificate in file"),
            0u)
      << r.error().message;
}

TEST(RoutingConfigFile, MissingFileNamesPathAndReason) {
  TempDir dir("missing");
  const std::string path = dir.path() + "/nope.yaml";
  Result<RoutingTable> r = load_routing_table_file(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config");
  EXPECT_EQ(r.error().message, path + ": cannot read: " + std::strerror(ENOENT));
}

TEST(RoutingConfigFile, DirectoryIsNotAFile) {
  TempDir dir("directory");
  Result<RoutingTable> r = load_routing_table_file(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, dir.path() + ": cannot read: " + std::strerror(EISDIR));
}

TEST(RoutingConfigFile, MissingTemplateNamesConfigLineAndTemplatePath) {
  TempDir dir("missing_template");
  dir.write("config.yaml", yaml({"revisions:", "  r1:", "    template: templates/gone.yaml"}));
  Result<RoutingTable> r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, dir.path() +
                                   "/config.yaml:3: template of revision \"r1\" cannot be "
                                   "loaded: " +
                                   dir.path() +
                                   "/templates/gone.yaml: cannot read: " + std::strerror(ENOENT));
}

TEST(RoutingConfigFile, ErrorsNameTheFile) {
  TempDir dir("errors");
  dir.write("config.yaml", yaml({"revisions:", "  r1: {template: templates/a.yaml}", "oops: 1"}));
  Result<RoutingTable> r = load_routing_table_file(dir.path() + "/config.yaml");
  ASSERT_FALSE(r.ok());
  const std::string prefix = dir.path() + "/config.yaml:3: unknown key \"oops\"";
  EXPECT_EQ(r.error().message.substr(0, prefix.size()), prefix) << r.error().message;
}

// config/example.yaml (embedded for `revrouter serve --dev`) is a valid canary setup.
TEST(RoutingConfigExample, LoadsAsACanarySplit) {
  const std::string path = std::string(REVROUTER_SOURCE_DIR) + "/config/example.yaml";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);

  const std::string template_path =
      std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml";
  FakeFiles files;
  files.files[template_path] = minimal_template();
  Result<RoutingTable> r = load_routing_table(text, path, files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(files.reads, std::vector<std::string>{template_path});  // shared by both revisions

  ASSERT_EQ(r->revisions.size(), 2u);
  for (const Revision& rev : r->revisions) {
    EXPECT_EQ(rev.backend, Backend::kLocal) << rev.name;
    EXPECT_NE(rev.sidecar, nullptr) << rev.name;
  }
  const Tag* def = r->find_tag(r->default_tag);
  ASSERT_NE(def, nullptr);
  ASSERT_EQ(def->targets.size(), 1u);
  EXPECT_EQ(def->targets[0].weight, 100u);
  const std::size_t old_index = def->targets[0].revision;

  const Tag* canary = r->find_tag("canary");
  ASSERT_NE(canary, nullptr);
  ASSERT_EQ(canary->targets.size(), 2u);
  for (const WeightedRevision& w : canary->targets) {
    EXPECT_EQ(w.weight, w.revision == old_index ? 90u : 10u);
  }
  EXPECT_NE(canary->targets[0].revision, canary->targets[1].revision);
}

// The commented-out proxy revision in config/example.yaml is valid once uncommented.
TEST(RoutingConfigExample, CommentedProxyRevisionLoads) {
  const std::string path = std::string(REVROUTER_SOURCE_DIR) + "/config/example.yaml";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr) << path;
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);

  // Uncomment "  # 1-22-6:" and the "  #   key: value" lines under it.
  std::string uncommented;
  bool in_block = false;
  int uncommented_lines = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line == "  # 1-22-6:") in_block = true;
    if (in_block && line.rfind("  # ", 0) == 0) {
      line = "  " + line.substr(4);
      ++uncommented_lines;
    } else {
      in_block = false;
    }
    uncommented += line + "\n";
  }
  ASSERT_GE(uncommented_lines, 3) << "no commented-out proxy revision found";

  FakeFiles files;
  files.files[std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml"] =
      minimal_template();
  files.files["/var/run/secrets/istio/root-cert.pem"] = ca_pem();
  Result<RoutingTable> r = load_routing_table(uncommented, path, files.reader());
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << uncommented;
  const Revision* proxy = r->find_revision("1-22-6");
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(proxy->backend, Backend::kProxy);
  EXPECT_EQ(proxy->upstream.host, "istiod-1-22-6.istio-system.svc");
  EXPECT_EQ(proxy->on_failure.action, FailureAction::kFallback);
  EXPECT_EQ(r->revisions[proxy->on_failure.fallback].name, "1-23-3");
}

// What `revrouter serve --dev` embeds must load with the real template beside it, too.
TEST(RoutingConfigExample, LoadsFromDiskWithItsTemplate) {
  const std::string dir = std::string(REVROUTER_SOURCE_DIR) + "/config";
  Result<RoutingTable> r = load_routing_table_file(dir + "/example.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->revisions.size(), 2u);
  EXPECT_EQ(r->revisions[0].template_path, dir + "/templates/example-sidecar.yaml");
  ASSERT_NE(r->revisions[0].sidecar, nullptr);
  EXPECT_EQ(r->revisions[0].sidecar, r->revisions[1].sidecar);
}

}  // namespace
}  // namespace revrouter
