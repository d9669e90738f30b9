// The generated MutatingWebhookConfiguration, read back with yaml-cpp and evaluated with a label
// selector matcher written here: over a matrix of namespace and pod labels, every pod reaches the
// webhook path that Istio's own webhooks (restated below from the istio-discovery chart) would have
// chosen, or none, and revrouter's route() makes the same choice from that path as from the real
// labels. Also: Kubernetes' validation rules for webhook configurations, option errors, a golden
// file for config/example.yaml, and the shipped manifests/ ConfigMap.
#include "admission/webhook_manifest.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "admission/injection_policy.h"
#include "admission/revision_resolver.h"
#include "admission/webhook_path.h"
#include "tests/admission/test_util.h"

namespace revrouter {
namespace {

using Labels = std::map<std::string, std::string>;

constexpr const char* kRev = "istio.io/rev";
constexpr const char* kInjection = "istio-injection";
constexpr const char* kInject = "sidecar.istio.io/inject";
constexpr const char* kNsName = "kubernetes.io/metadata.name";

// ---------------------------------------------------------------------------------------------
// Label selectors, as the API server evaluates namespaceSelector and objectSelector.

struct Requirement {
  std::string key, op;
  std::vector<std::string> values;
};
using Selector = std::vector<Requirement>;

bool matches(const Selector& selector, const Labels& labels) {
  for (const Requirement& r : selector) {
    const auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool listed =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    bool ok = false;
    if (r.op == "In") ok = listed;
    if (r.op == "NotIn") ok = !listed;  // also true when the label is absent
    if (r.op == "Exists") ok = has;
    if (r.op == "DoesNotExist") ok = !has;
    if (!ok) return false;
  }
  return true;
}

struct SelectorRow {
  const char* name;
  Requirement requirement;
  Labels labels;
  bool want;
};

class LabelSelectorEvaluator : public ::testing::TestWithParam<SelectorRow> {};

TEST_P(LabelSelectorEvaluator, FollowsKubernetesSemantics) {
  const SelectorRow& row = GetParam();
  EXPECT_EQ(matches({row.requirement}, row.labels), row.want);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, LabelSelectorEvaluator,
    ::testing::Values(
        SelectorRow{"InListedValue", {"k", "In", {"a", "b"}}, {{"k", "b"}}, true},
        SelectorRow{"InOtherValue", {"k", "In", {"a"}}, {{"k", "c"}}, false},
        SelectorRow{"InAbsentKey", {"k", "In", {"a"}}, {}, false},
        SelectorRow{"NotInListedValue", {"k", "NotIn", {"false"}}, {{"k", "false"}}, false},
        SelectorRow{"NotInOtherValue", {"k", "NotIn", {"false"}}, {{"k", "true"}}, true},
        SelectorRow{"NotInAbsentKeyHolds", {"k", "NotIn", {"false"}}, {}, true},
        SelectorRow{"ExistsPresent", {"k", "Exists", {}}, {{"k", ""}}, true},
        SelectorRow{"ExistsAbsent", {"k", "Exists", {}}, {{"j", "x"}}, false},
        SelectorRow{"DoesNotExistAbsent", {"k", "DoesNotExist", {}}, {}, true},
        SelectorRow{"DoesNotExistPresent", {"k", "DoesNotExist", {}}, {{"k", "x"}}, false}),
    [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// The generated configuration, parsed back.

struct Hook {
  std::string name;
  std::string path;  // service.path, or the path part of url
  Selector namespace_selector, object_selector;
};

Selector parse_selector(const YAML::Node& node) {
  Selector out;
  if (!node) return out;
  for (const auto& kv : node["matchLabels"]) {
    out.push_back({kv.first.as<std::string>(), "In", {kv.second.as<std::string>()}});
  }
  for (const auto& e : node["matchExpressions"]) {
    Requirement r{e["key"].as<std::string>(), e["operator"].as<std::string>(), {}};
    for (const auto& v : e["values"]) r.values.push_back(v.as<std::string>());
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Hook> parse_hooks(const YAML::Node& doc) {
  std::vector<Hook> hooks;
  for (const auto& w : doc["webhooks"]) {
    Hook h;
    h.name = w["name"].as<std::string>();
    const YAML::Node cc = w["clientConfig"];
    if (cc["service"]) {
      h.path = cc["service"]["path"].as<std::string>();
    } else {
      const std::string url = cc["url"].as<std::string>();
      h.path = url.substr(url.find('/', std::string("https://").size()));
    }
    h.namespace_selector = parse_selector(w["namespaceSelector"]);
    h.object_selector = parse_selector(w["objectSelector"]);
    hooks.push_back(std::move(h));
  }
  return hooks;
}

YAML::Node generate(const RoutingTable& table, const WebhookManifestOptions& options) {
  auto yaml = generate_webhook_manifest(table, options);
  EXPECT_TRUE(yaml.ok()) << yaml.error().message;
  if (!yaml.ok()) return YAML::Node();
  return YAML::Load(*yaml);
}

// ---------------------------------------------------------------------------------------------
// Istio's injector webhooks for the same names, restated from the istio-discovery chart
// (templates/revision-tags-mwc.yaml; a revision's own configuration has the same rev.* webhooks
// for its name). `pod_preference` is the chart's revisionLabelPreference: pod.

struct IstioHook {
  RouteSource kind;
  std::string name;  // the tag or revision it selects
  Selector namespace_selector, object_selector;
};

std::vector<IstioHook> istio_hooks(const std::vector<std::string>& names,
                                   const std::optional<std::string>& default_tag,
                                   bool pod_preference) {
  std::vector<IstioHook> out;
  for (const std::string& t : names) {
    IstioHook ns{RouteSource::kNamespaceRev,
                 t,
                 {{kRev, "In", {t}}, {kInjection, "DoesNotExist", {}}},
                 {{kInject, "NotIn", {"false"}}}};
    if (pod_preference) ns.object_selector.push_back({kRev, "DoesNotExist", {}});
    out.push_back(ns);
    IstioHook obj{RouteSource::kPodRev, t, {}, {{kInject, "NotIn", {"false"}}, {kRev, "In", {t}}}};
    if (!pod_preference) obj.namespace_selector.push_back({kRev, "DoesNotExist", {}});
    obj.namespace_selector.push_back({kInjection, "DoesNotExist", {}});
    out.push_back(obj);
  }
  if (default_tag) {
    out.push_back({RouteSource::kNamespaceInjection,
                   *default_tag,
                   {{kInjection, "In", {"enabled"}}},
                   {{kInject, "NotIn", {"false"}}}});
    out.push_back({RouteSource::kPodInjectLabel,
                   *default_tag,
                   {{kInjection, "DoesNotExist", {}}, {kRev, "DoesNotExist", {}}},
                   {{kInject, "In", {"true"}}, {kRev, "DoesNotExist", {}}}});
  }
  return out;
}

// The path revrouter's scheme gives the webhook Istio matched (Istio's own path is /inject).
std::string expected_path(const IstioHook& h, const std::string& suffix) {
  switch (h.kind) {
    case RouteSource::kNamespaceRev:
      return "/inject/ns-rev/" + h.name + suffix;
    case RouteSource::kNamespaceInjection:
      return "/inject/ns-injection/enabled" + suffix;
    default:
      return "/inject" + suffix;
  }
}

// ---------------------------------------------------------------------------------------------
// Routing tables.

RoutingTable make_table(
    PrecedenceMode mode, std::string default_tag, const std::vector<std::string>& revisions,
    const std::vector<std::pair<std::string, std::map<std::string, int>>>& tags) {
  RoutingTable t;
  t.mode = mode;
  t.default_tag = std::move(default_tag);
  for (const std::string& r : revisions) {
    t.revisions.emplace_back();
    t.revisions.back().name = r;
  }
  for (const auto& [name, targets] : tags) {
    Tag tag;
    tag.name = name;
    for (const auto& [rev, weight] : targets) {
      const auto it = std::find(revisions.begin(), revisions.end(), rev);
      tag.targets.push_back(
          {static_cast<std::size_t>(it - revisions.begin()), static_cast<std::uint32_t>(weight)});
    }
    t.tags.push_back(std::move(tag));
  }
  return t;
}

std::vector<std::string> all_names(const RoutingTable& t) {
  std::vector<std::string> names;
  for (const Tag& tag : t.tags) names.push_back(tag.name);
  for (const Revision& r : t.revisions) names.push_back(r.name);
  return names;
}

bool known(const RoutingTable& t, std::string_view name) {
  return t.find_tag(name) != nullptr || t.find_revision(name) != nullptr;
}

// route() reads pod labels through a StringMap (a view of a JSON object).
struct PodLabels {
  rapidjson::Document doc;
  explicit PodLabels(const Labels& labels) {
    doc.SetObject();
    for (const auto& [k, v] : labels) {
      doc.AddMember(rapidjson::Value(k.c_str(), doc.GetAllocator()),
                    rapidjson::Value(v.c_str(), doc.GetAllocator()), doc.GetAllocator());
    }
  }
  StringMap view() const { return StringMap(&doc); }
};

NamespaceLabels ns_labels_of(const Labels& labels) {
  NamespaceLabels ns;
  if (auto it = labels.find(kRev); it != labels.end()) ns.rev = it->second;
  if (auto it = labels.find(kInjection); it != labels.end()) ns.injection = it->second;
  return ns;
}

std::string describe(const Labels& labels) {
  std::string out = "{";
  for (const auto& [k, v] : labels) out += (out.size() > 1 ? ", " : "") + k + "=" + v;
  return out + "}";
}

// ---------------------------------------------------------------------------------------------
// The matrix.

struct MatrixCase {
  const char* name;
  RoutingTable table;
  WebhookManifestOptions options;
};

struct Cell {
  std::string ns_name;
  Labels ns, pod;
};

std::vector<Cell> cells(const RoutingTable& table) {
  std::vector<std::string> values = all_names(table);
  values.push_back("unknown");
  std::vector<Labels> ns_sets = {
      {}, {{kInjection, "enabled"}}, {{kInjection, "disabled"}}, {{kInjection, "yes"}}};
  std::vector<Labels> pod_sets = {
      {}, {{kInject, "true"}}, {{kInject, "false"}}, {{kInject, "yes"}}};
  for (const std::string& v : values) {
    ns_sets.push_back({{kRev, v}});
    ns_sets.push_back({{kRev, v}, {kInjection, "enabled"}});
    ns_sets.push_back({{kRev, v}, {kInjection, "disabled"}});
    pod_sets.push_back({{kRev, v}});
    pod_sets.push_back({{kRev, v}, {kInject, "true"}});
    pod_sets.push_back({{kRev, v}, {kInject, "false"}});
  }
  std::vector<Cell> out;
  for (const char* ns_name : {"apps", "kube-system", "local-path-storage"}) {
    for (const Labels& ns : ns_sets) {
      for (const Labels& pod : pod_sets) {
        Labels ns_full = ns;
        ns_full[kNsName] = ns_name;  // the API server labels every namespace with its name
        out.push_back({ns_name, ns_full, pod});
      }
    }
  }
  return out;
}

class SelectorEquivalence : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(SelectorEquivalence, EachPodReachesIstiosWebhookPathOrNone) {
  const MatrixCase& c = GetParam();
  const RoutingTable& table = c.table;
  const bool pod_override = table.mode == PrecedenceMode::kPodOverride;
  const YAML::Node doc = generate(table, c.options);
  ASSERT_TRUE(doc.IsMap());
  const std::vector<Hook> ours = parse_hooks(doc);
  const std::optional<std::string> default_tag =
      known(table, table.default_tag) ? std::optional(table.default_tag) : std::nullopt;
  const std::vector<IstioHook> istio = istio_hooks(all_names(table), default_tag, pod_override);
  std::string suffix;
  if (!c.options.cluster.empty()) suffix += "/cluster/" + c.options.cluster;
  if (!c.options.network.empty()) suffix += "/net/" + c.options.network;

  std::vector<std::string> failures;
  std::set<std::string> reached;  // our webhooks some cell matched
  std::size_t routed = 0, deviations = 0;
  auto fail = [&](const Cell& cell, const std::string& what) {
    failures.push_back("ns " + cell.ns_name + " " + describe(cell.ns) + ", pod " +
                       describe(cell.pod) + ": " + what);
  };

  for (const Cell& cell : cells(table)) {
    std::vector<const Hook*> our_match;
    for (const Hook& h : ours) {
      if (matches(h.namespace_selector, cell.ns) && matches(h.object_selector, cell.pod)) {
        our_match.push_back(&h);
      }
    }
    std::vector<const IstioHook*> istio_match;
    for (const IstioHook& h : istio) {
      if (matches(h.namespace_selector, cell.ns) && matches(h.object_selector, cell.pod)) {
        istio_match.push_back(&h);
      }
    }
    if (our_match.size() > 1) {
      fail(cell, "matched " + std::to_string(our_match.size()) +
                     " of our webhooks: " + our_match[0]->name + ", " + our_match[1]->name);
      continue;
    }
    if (istio_match.size() > 1) {
      fail(cell, "the restated Istio webhooks overlap (the model is wrong)");
      continue;
    }
    const PodLabels pod(cell.pod);
    const Route truth = route(table, ns_labels_of(cell.ns), pod.view());
    const bool truth_known = truth.source != RouteSource::kNone && known(table, truth.requested);

    if (is_ignored_namespace(cell.ns_name)) {
      // Istio's webhooks would call its injector, which then skips the pod; ours never call.
      if (!our_match.empty()) fail(cell, "ignored namespace reached " + our_match[0]->name);
      continue;
    }
    if (!our_match.empty()) {
      ++routed;
      reached.insert(our_match[0]->name);
      // From the path, route() must make the choice it makes from the namespace's real labels.
      auto parsed = parse_webhook_path(our_match[0]->path);
      if (!parsed.ok()) {
        fail(cell, "path does not parse: " + parsed.error().message);
        continue;
      }
      EXPECT_EQ(parsed->cluster, c.options.cluster);
      EXPECT_EQ(parsed->network, c.options.network);
      const Route via_path = route(table, parsed->ns, pod.view());
      if (via_path.source != truth.source || via_path.requested != truth.requested) {
        fail(cell, "path " + our_match[0]->path + " routes to " +
                       std::string(to_string(via_path.source)) + " " +
                       std::string(via_path.requested) + ", the labels to " +
                       std::string(to_string(truth.source)) + " " + std::string(truth.requested));
      }
    }
    // Exactly when route() selects a name the table knows, revrouter is called.
    if (our_match.empty() == truth_known) {
      fail(cell, std::string(our_match.empty() ? "no webhook matched" : "a webhook matched") +
                     " but route() says " + std::string(to_string(truth.source)) + " " +
                     std::string(truth.requested));
    }

    const std::optional<std::string> our_path =
        our_match.empty() ? std::nullopt : std::optional(our_match[0]->path);
    const std::optional<std::string> istio_path =
        istio_match.empty() ? std::nullopt : std::optional(expected_path(*istio_match[0], suffix));
    if (!pod_override) {
      if (our_path != istio_path) {
        fail(cell, "our path " + our_path.value_or("(none)") + ", Istio's " +
                       istio_path.value_or("(none)"));
      }
      if (!istio_match.empty() &&
          (istio_match[0]->kind != truth.source || istio_match[0]->name != truth.requested)) {
        fail(cell, "route() disagrees with Istio's webhook " + istio_match[0]->name);
      }
      continue;
    }
    // pod-override against Istio's revisionLabelPreference: pod. They differ only where the
    // namespace carries istio-injection (not "disabled") and the pod carries istio.io/rev: there
    // the pod's label wins in revrouter (a name the table lacks means no sidecar), the namespace's
    // in Istio (docs/migration.md).
    const bool same = istio_match.empty() ? !truth_known
                                          : istio_match[0]->kind == truth.source &&
                                                istio_match[0]->name == truth.requested;
    if (!same) {
      ++deviations;
      const auto inj = cell.ns.find(kInjection);
      const auto pod_rev = cell.pod.find(kRev);
      const bool documented = inj != cell.ns.end() && inj->second != "disabled" &&
                              pod_rev != cell.pod.end() && truth.source == RouteSource::kPodRev;
      if (!documented) fail(cell, "pod-override differs from Istio's pod preference here");
    }
  }

  std::string report;
  for (std::size_t i = 0; i < failures.size() && i < 25; ++i) report += "\n  " + failures[i];
  EXPECT_TRUE(failures.empty()) << failures.size() << " cells wrong:" << report;
  // Not vacuous: pods were routed, and every webhook we emit is the answer for some cell.
  EXPECT_GT(routed, 0u);
  for (const Hook& h : ours) EXPECT_TRUE(reached.count(h.name)) << h.name << " is never reached";
  if (pod_override) {
    EXPECT_GT(deviations, 0u) << "the documented difference never showed";
  }
}

WebhookManifestOptions with_segments() {
  WebhookManifestOptions o;
  o.cluster = "east";
  o.network = "net1";
  return o;
}

const std::vector<std::string> kRevisions = {"1-23-3", "1-24-1"};
const std::vector<std::pair<std::string, std::map<std::string, int>>> kTags = {
    {"default", {{"1-23-3", 100}}}, {"canary", {{"1-23-3", 90}, {"1-24-1", 10}}}};
const std::vector<std::pair<std::string, std::map<std::string, int>>> kTagsWithoutDefault = {
    {"stable", {{"1-23-3", 100}}}, {"canary", {{"1-24-1", 100}}}};

INSTANTIATE_TEST_SUITE_P(
    Tables, SelectorEquivalence,
    ::testing::Values(
        MatrixCase{
            "IstioMode", make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags), {}},
        MatrixCase{"IstioModeDefaultIsARevision",
                   make_table(PrecedenceMode::kIstio, "1-24-1", kRevisions, kTags),
                   {}},
        MatrixCase{"IstioModeNoDefaultTag",
                   make_table(PrecedenceMode::kIstio, "default", kRevisions, kTagsWithoutDefault),
                   {}},
        MatrixCase{"IstioModeClusterAndNetwork",
                   make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags),
                   with_segments()},
        MatrixCase{"PodOverrideMode",
                   make_table(PrecedenceMode::kPodOverride, "default", kRevisions, kTags),
                   {}},
        MatrixCase{
            "PodOverrideModeNoDefaultTag",
            make_table(PrecedenceMode::kPodOverride, "default", kRevisions, kTagsWithoutDefault),
            with_segments()}),
    [](const auto& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------------------------
// What the API server would reject (k8s.io/kubernetes pkg/apis/admissionregistration/validation),
// and what istiod would rewrite.

bool dns_label(std::string_view v) {
  if (v.empty() || v.size() > 63) return false;
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(v.front()) || !lower_alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [&](char c) { return lower_alnum(c) || c == '-'; });
}

bool dns_subdomain(std::string_view v) {
  if (v.empty() || v.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = v.find('.', start);
    if (!dns_label(v.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool label_value(std::string_view v) {
  if (v.empty()) return true;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (v.size() > 63 || !alnum(v.front()) || !alnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(),
                     [&](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

std::vector<std::string> kubernetes_violations(const YAML::Node& doc) {
  std::vector<std::string> v;
  if (doc["apiVersion"].as<std::string>() != "admissionregistration.k8s.io/v1") {
    v.push_back("apiVersion");
  }
  if (doc["kind"].as<std::string>() != "MutatingWebhookConfiguration") v.push_back("kind");
  const std::string name = doc["metadata"]["name"].as<std::string>();
  if (!dns_subdomain(name)) v.push_back("metadata.name " + name);
  if (name.rfind("istio-", 0) == 0) v.push_back("istio-* configuration name " + name);
  for (const auto& kv : doc["metadata"]["labels"]) {
    const std::string key = kv.first.as<std::string>();
    if (key == "istio.io/rev" || key == "istio.io/tag") v.push_back("label " + key);
    if (!label_value(kv.second.as<std::string>())) v.push_back("label value of " + key);
  }
  std::set<std::string> names;
  for (const auto& w : doc["webhooks"]) {
    const std::string wn = w["name"].as<std::string>();
    if (!names.insert(wn).second) v.push_back("duplicate webhook name " + wn);
    if (!dns_subdomain(wn) || std::count(wn.begin(), wn.end(), '.') < 2) {
      v.push_back("webhook name not fully qualified: " + wn);
    }
    const std::string istio_suffix = "sidecar-injector.istio.io";
    if (wn.size() >= istio_suffix.size() &&
        wn.compare(wn.size() - istio_suffix.size(), istio_suffix.size(), istio_suffix) == 0) {
      v.push_back("istiod's caBundle patcher owns " + wn);
    }
    const YAML::Node svc = w["clientConfig"]["service"];
    if (svc) {
      const std::string path = svc["path"].as<std::string>();
      if (path.empty() || path[0] != '/') v.push_back(wn + ": path must start with /");
      std::stringstream segments(path.substr(1));
      for (std::string seg; std::getline(segments, seg, '/');) {
        if (!dns_subdomain(seg)) v.push_back(wn + ": path segment " + seg);
      }
      const int port = svc["port"].as<int>();
      if (port < 1 || port > 65535) v.push_back(wn + ": port");
      if (!dns_label(svc["name"].as<std::string>()) ||
          !dns_label(svc["namespace"].as<std::string>())) {
        v.push_back(wn + ": service reference");
      }
    } else if (w["clientConfig"]["url"].as<std::string>().rfind("https://", 0) != 0) {
      v.push_back(wn + ": url must be https");
    }
    const int timeout = w["timeoutSeconds"].as<int>();
    if (timeout < 1 || timeout > 30) v.push_back(wn + ": timeoutSeconds");
    const std::string side = w["sideEffects"].as<std::string>();
    if (side != "None" && side != "NoneOnDryRun") v.push_back(wn + ": sideEffects for v1");
    std::set<std::string> versions;
    for (const auto& ver : w["admissionReviewVersions"]) {
      const std::string s = ver.as<std::string>();
      if (!versions.insert(s).second) v.push_back(wn + ": duplicate admissionReviewVersion");
    }
    if (!versions.count("v1")) v.push_back(wn + ": admissionReviewVersions lacks v1");
    for (const char* sel : {"namespaceSelector", "objectSelector"}) {
      for (const Requirement& r : parse_selector(w[sel])) {
        const bool needs_values = r.op == "In" || r.op == "NotIn";
        if (needs_values == r.values.empty()) v.push_back(wn + ": values of " + r.key);
        for (const std::string& value : r.values) {
          if (!label_value(value)) v.push_back(wn + ": label value " + value);
        }
      }
    }
  }
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += "\n  " + s;
  return out;
}

TEST(WebhookManifest, PassesKubernetesValidationRulesInEveryShape) {
  const RoutingTable istio = make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags);
  const RoutingTable pod = make_table(PrecedenceMode::kPodOverride, "default", kRevisions, kTags);
  WebhookManifestOptions url;
  url.url = "https://10.0.0.5:15017/";
  url.cluster = "Kubernetes";  // a URL's path may carry what a Service reference's may not
  WebhookManifestOptions tuned = with_segments();
  tuned.failure_policy = FailurePolicy::kIgnore;
  tuned.reinvocation = ReinvocationPolicy::kIfNeeded;
  tuned.timeout_seconds = 30;
  tuned.ca_bundle = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==";
  for (const RoutingTable* t : {&istio, &pod}) {
    for (const WebhookManifestOptions& o : {WebhookManifestOptions{}, url, tuned}) {
      const YAML::Node doc = generate(*t, o);
      ASSERT_TRUE(doc.IsMap());
      const auto violations = kubernetes_violations(doc);
      EXPECT_TRUE(violations.empty()) << join(violations);
    }
  }
}

TEST(WebhookManifest, OptionsAppearInEveryWebhook) {
  const RoutingTable t = make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags);
  WebhookManifestOptions o;
  o.name = "revrouter-canary";
  o.service_name = "rr";
  o.service_namespace = "mesh";
  o.service_port = 8443;
  o.failure_policy = FailurePolicy::kIgnore;
  o.reinvocation = ReinvocationPolicy::kIfNeeded;
  o.timeout_seconds = 5;
  o.ca_bundle = "Zm9v";
  o.inject_ca_from = "mesh/revrouter-serving";
  const YAML::Node doc = generate(t, o);
  ASSERT_TRUE(doc.IsMap());
  EXPECT_EQ(doc["metadata"]["name"].as<std::string>(), "revrouter-canary");
  EXPECT_EQ(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"].as<std::string>(),
            "revrouter");
  EXPECT_EQ(doc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as<std::string>(),
            "mesh/revrouter-serving");
  EXPECT_EQ(doc["metadata"]["annotations"]["revrouter.io/precedence-mode"].as<std::string>(),
            "istio");
  ASSERT_EQ(doc["webhooks"].size(), 7u);  // rev.namespace x4 names, rev.object, namespace, object
  for (const auto& w : doc["webhooks"]) {
    const YAML::Node svc = w["clientConfig"]["service"];
    EXPECT_EQ(svc["name"].as<std::string>(), "rr");
    EXPECT_EQ(svc["namespace"].as<std::string>(), "mesh");
    EXPECT_EQ(svc["port"].as<int>(), 8443);
    EXPECT_EQ(w["clientConfig"]["caBundle"].as<std::string>(), "Zm9v");
    EXPECT_EQ(w["failurePolicy"].as<std::string>(), "Ignore");
    EXPECT_EQ(w["reinvocationPolicy"].as<std::string>(), "IfNeeded");
    EXPECT_EQ(w["timeoutSeconds"].as<int>(), 5);
    EXPECT_EQ(w["sideEffects"].as<std::string>(), "None");
    EXPECT_EQ(w["admissionReviewVersions"].as<std::vector<std::string>>(),
              (std::vector<std::string>{"v1", "v1beta1"}));
    const YAML::Node rule = w["rules"][0];
    EXPECT_EQ(rule["operations"].as<std::vector<std::string>>(),
              std::vector<std::string>{"CREATE"});
    EXPECT_EQ(rule["apiGroups"].as<std::vector<std::string>>(), std::vector<std::string>{""});
    EXPECT_EQ(rule["resources"].as<std::vector<std::string>>(), std::vector<std::string>{"pods"});
  }
}

TEST(WebhookManifest, UrlModeAppendsThePathToTheBaseUrl) {
  const RoutingTable t = make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags);
  WebhookManifestOptions o;
  o.url = "https://revrouter.example:15017//";
  const YAML::Node doc = generate(t, o);
  ASSERT_TRUE(doc.IsMap());
  std::set<std::string> urls;
  for (const auto& w : doc["webhooks"]) {
    EXPECT_FALSE(w["clientConfig"]["service"]);
    urls.insert(w["clientConfig"]["url"].as<std::string>());
  }
  EXPECT_TRUE(urls.count("https://revrouter.example:15017/inject/ns-rev/canary"));
  EXPECT_TRUE(urls.count("https://revrouter.example:15017/inject/ns-injection/enabled"));
  EXPECT_TRUE(urls.count("https://revrouter.example:15017/inject"));
}

// The namespaces Istio's injector ignores are selected out of every webhook, and they are exactly
// the ones decide() answers "ignored-namespace" for.
TEST(WebhookManifest, EveryWebhookSelectsOutTheIgnoredNamespaces) {
  const RoutingTable t = make_table(PrecedenceMode::kPodOverride, "default", kRevisions, kTags);
  const YAML::Node doc = generate(t, {});
  ASSERT_TRUE(doc.IsMap());
  for (const Hook& h : parse_hooks(doc)) {
    const auto it = std::find_if(h.namespace_selector.begin(), h.namespace_selector.end(),
                                 [](const Requirement& r) { return r.key == kNsName; });
    ASSERT_NE(it, h.namespace_selector.end()) << h.name;
    EXPECT_EQ(it->op, "NotIn");
    EXPECT_EQ(it->values.size(), 4u) << h.name;
    for (const std::string& ns : it->values) EXPECT_TRUE(is_ignored_namespace(ns)) << ns;
  }
}

TEST(WebhookManifest, OnlyRoutesTheNamesGiven) {
  const RoutingTable t = make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags);
  auto names_of = [&](std::vector<std::string> only) {
    WebhookManifestOptions o;
    o.only = std::move(only);
    std::vector<std::string> names;
    for (const Hook& h : parse_hooks(generate(t, o))) names.push_back(h.name);
    return names;
  };
  EXPECT_EQ(names_of({"canary"}), (std::vector<std::string>{"rev.namespace.canary.revrouter.io",
                                                            "rev.object.revrouter.io"}));
  EXPECT_EQ(
      names_of({"default"}),
      (std::vector<std::string>{"rev.namespace.default.revrouter.io", "rev.object.revrouter.io",
                                "namespace.revrouter.io", "object.revrouter.io"}));
  WebhookManifestOptions o;
  o.only = {"canary", "1-24-1"};
  const std::vector<Hook> hooks = parse_hooks(generate(t, o));
  ASSERT_EQ(hooks.size(), 3u);
  const auto& values = hooks[2].object_selector[1].values;
  EXPECT_EQ(values, (std::vector<std::string>{"canary", "1-24-1"}));
}

// A name that is a label value but not an RFC 1123 subdomain (capitals, '_') works through a URL;
// its webhook name is sanitised and stays unique.
TEST(WebhookManifest, NamesThatAreNotDnsNamesGetDistinctWebhookNames) {
  const RoutingTable t = make_table(PrecedenceMode::kIstio, "Prod_A", {"1-23-3"},
                                    {{"Prod_A", {{"1-23-3", 100}}}, {"prod.a", {{"1-23-3", 100}}}});
  WebhookManifestOptions o;
  o.url = "https://10.0.0.5:15017";
  const YAML::Node doc = generate(t, o);
  ASSERT_TRUE(doc.IsMap());
  const auto violations = kubernetes_violations(doc);
  EXPECT_TRUE(violations.empty()) << join(violations);
  std::set<std::string> urls;
  for (const auto& w : doc["webhooks"]) urls.insert(w["clientConfig"]["url"].as<std::string>());
  EXPECT_TRUE(urls.count("https://10.0.0.5:15017/inject/ns-rev/Prod_A"));
}

struct OptionError {
  const char* name;
  std::function<void(WebhookManifestOptions&)> set;
  std::string message_part;
};

class WebhookManifestErrors : public ::testing::TestWithParam<OptionError> {};

TEST_P(WebhookManifestErrors, NameTheProblem) {
  const OptionError& row = GetParam();
  const RoutingTable t = make_table(PrecedenceMode::kIstio, "default", kRevisions, kTags);
  WebhookManifestOptions o;
  row.set(o);
  auto r = generate_webhook_manifest(t, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "manifest");
  EXPECT_NE(r.error().message.find(row.message_part), std::string::npos) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, WebhookManifestErrors,
    ::testing::Values(
        OptionError{"ConfigurationNameNotDns", [](auto& o) { o.name = "Revrouter"; },
                    "configuration name \"Revrouter\""},
        OptionError{"IstioOwnsIstioNames", [](auto& o) { o.name = "istio-revision-tag-canary"; },
                    "starts with \"istio-\""},
        OptionError{"ServiceNameNotDns", [](auto& o) { o.service_name = "rev_router"; },
                    "service name"},
        OptionError{"ServiceNamespaceNotDns", [](auto& o) { o.service_namespace = ""; },
                    "service namespace"},
        OptionError{"PortZero", [](auto& o) { o.service_port = 0; }, "outside 1..65535"},
        OptionError{"TimeoutAboveApiServerLimit", [](auto& o) { o.timeout_seconds = 31; },
                    "timeoutSeconds 31"},
        OptionError{"TimeoutZero", [](auto& o) { o.timeout_seconds = 0; }, "timeoutSeconds 0"},
        OptionError{"CaBundleNotBase64", [](auto& o) { o.ca_bundle = "-----BEGIN"; },
                    "caBundle is not base64"},
        OptionError{"UrlNotHttps", [](auto& o) { o.url = "http://10.0.0.5:15017"; },
                    "must be https://"},
        OptionError{"UrlWithQuery", [](auto& o) { o.url = "https://h/x?y=1"; }, "query"},
        OptionError{"InjectCaFromWithoutNamespace",
                    [](auto& o) { o.inject_ca_from = "revrouter-serving"; },
                    "<namespace>/<certificate name>"},
        OptionError{"ServicePathSegmentsAreDnsNames", [](auto& o) { o.cluster = "Kubernetes"; },
                    "cluster \"Kubernetes\" cannot be a webhook path segment"},
        OptionError{"UrlSegmentNeedsNoEscaping",
                    [](auto& o) {
                      o.url = "https://h";
                      o.network = "a/b";
                    },
                    "network \"a/b\""},
        OptionError{"OnlyUnknownName", [](auto& o) { o.only = {"prod"}; },
                    "--only \"prod\" is neither a tag nor a revision"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(WebhookManifest, NameThatCannotBeAServicePathSegmentIsAnError) {
  const RoutingTable t =
      make_table(PrecedenceMode::kIstio, "default", {"1-23-3"}, {{"Prod_A", {{"1-23-3", 100}}}});
  auto r = generate_webhook_manifest(t, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tag \"Prod_A\" cannot be a webhook path segment"),
            std::string::npos)
      << r.error().message;
}

TEST(WebhookManifest, EmptyTableIsAnError) {
  RoutingTable t;
  auto r = generate_webhook_manifest(t, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("nothing to route"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The example config's configuration, reviewed as a golden file.
// REVROUTER_UPDATE_GOLDEN=1 rewrites it from the generator; review the diff.

TEST(WebhookManifest, ExampleConfigGolden) {
  auto table = load_routing_table_file(std::string(REVROUTER_SOURCE_DIR) + "/config/example.yaml");
  ASSERT_TRUE(table.ok()) << table.error().message;
  WebhookManifestOptions o;
  o.ca_bundle = "Q0EgUEVNIGdvZXMgaGVyZQ==";
  auto yaml = generate_webhook_manifest(*table, o);
  ASSERT_TRUE(yaml.ok()) << yaml.error().message;
  const std::string golden = std::string(REVROUTER_TEST_DATA) + "/manifest/example.golden.yaml";
  if (std::getenv("REVROUTER_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(golden, std::ios::binary) << *yaml;
  }
  EXPECT_EQ(*yaml, testing::read_test_file("manifest/example.golden.yaml"));
}

// ---------------------------------------------------------------------------------------------
// manifests/: the ConfigMap carries config/ and loads where the Deployment mounts it.

TEST(WebhookManifest, ShippedConfigMapIsTheExampleConfigAndLoadsWhereMounted) {
  const std::string root = REVROUTER_SOURCE_DIR;
  const YAML::Node cm = YAML::LoadFile(root + "/manifests/configmap.yaml");
  const YAML::Node deploy = YAML::LoadFile(root + "/manifests/deployment.yaml");
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const YAML::Node data = cm["data"];
  EXPECT_EQ(data["routing.yaml"].as<std::string>(), read(root + "/config/example.yaml"))
      << "manifests/configmap.yaml is stale: run tests/manifests/refresh-configmap.sh";
  EXPECT_EQ(data["example-sidecar.yaml"].as<std::string>(),
            read(root + "/config/templates/example-sidecar.yaml"))
      << "manifests/configmap.yaml is stale: run tests/manifests/refresh-configmap.sh";

  // Where the Deployment puts each key, and which file it tells revrouter to load.
  const YAML::Node pod = deploy["spec"]["template"]["spec"];
  std::string mount, config_arg;
  for (const auto& m : pod["containers"][0]["volumeMounts"]) {
    if (m["name"].as<std::string>() == "config") mount = m["mountPath"].as<std::string>();
  }
  for (const auto& a : pod["containers"][0]["args"]) {
    const std::string arg = a.as<std::string>();
    if (arg.rfind("--config=", 0) == 0) config_arg = arg.substr(9);
  }
  std::map<std::string, std::string> files;  // mounted path -> content
  for (const auto& v : pod["volumes"]) {
    if (v["name"].as<std::string>() != "config") continue;
    EXPECT_EQ(v["configMap"]["name"].as<std::string>(), cm["metadata"]["name"].as<std::string>());
    for (const auto& item : v["configMap"]["items"]) {
      files[mount + "/" + item["path"].as<std::string>()] =
          data[item["key"].as<std::string>()].as<std::string>();
    }
  }
  ASSERT_TRUE(files.count(config_arg)) << "--config=" << config_arg << " is not a mounted key";
  auto table = load_routing_table(files[config_arg], config_arg,
                                  [&](const std::string& path) -> Result<std::string> {
                                    auto it = files.find(path);
                                    if (it == files.end()) {
                                      return make_error("io", path + " is not mounted");
                                    }
                                    return it->second;
                                  });
  EXPECT_TRUE(table.ok()) << table.error().message;
}

}  // namespace
}  // namespace revrouter
