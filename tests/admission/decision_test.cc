// decide(): every rule of the injection decision and their precedence, in both precedence modes,
// one named row per rule. Pods are JSON text parsed with RapidJSON and read through read_pod.
#include "admission/decision.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "admission/revision_resolver.h"
#include "admission/workload.h"
#include "tests/admission/decision_fixtures.h"

namespace revrouter {
namespace {

using Op = LabelRequirement::Op;
using testing::add_tag;
using testing::ParsedPod;
using testing::requirement;
using testing::revision;
using testing::selector;

constexpr auto kIstio = PrecedenceMode::kIstio;
constexpr auto kPodOverride = PrecedenceMode::kPodOverride;

// Revisions of the test table, each with the injector config a group of rows needs:
//   1-20     enabled           (tag "default")
//   1-21     enabled           (tag "canary")
//   off      policy disabled
//   old      lenient (pre-1.27) inject values
//   sel      enabled;  never: [{} (skipped), team In [legacy]]; always: [force-inject Exists]
//   sel-off  disabled; never: [team In [legacy]]; always: [{} (skipped), force-inject Exists]
// Tag "zero-split": 1-20 weight 0, 1-21 weight 100.
RoutingTable test_table(PrecedenceMode mode) {
  RoutingTable t;
  t.mode = mode;
  t.revisions.push_back(revision("1-20"));
  t.revisions.push_back(revision("1-21"));
  t.revisions.push_back(revision("off", testing::injector(InjectPolicy::kDisabled)));
  t.revisions.push_back(revision("old", testing::injector(InjectPolicy::kEnabled, true)));
  const LabelSelector legacy = selector({requirement("team", Op::kIn, {"legacy"})});
  const LabelSelector forced = selector({requirement("force-inject", Op::kExists)});
  t.revisions.push_back(revision(
      "sel", testing::injector(InjectPolicy::kEnabled, false, {selector({}), legacy}, {forced})));
  t.revisions.push_back(revision("sel-off", testing::injector(InjectPolicy::kDisabled, false,
                                                              {legacy}, {selector({}), forced})));
  add_tag(t, "default", {{"1-20", 100}});
  add_tag(t, "canary", {{"1-21", 100}});
  add_tag(t, "zero-split", {{"1-20", 0}, {"1-21", 100}});
  return t;
}

struct Expect {
  bool inject = false;
  Reason reason = Reason::kNotSelected;
  RouteSource source = RouteSource::kNone;
  const char* requested = "";
  const char* revision = "";  // "" when no revision is resolved
  const char* warning = "";   // a substring the warning must contain; "" requires no warning
};

struct Case {
  const char* name;
  PrecedenceMode mode = kIstio;
  // The namespace: the request's, and the labels the webhook path carried (nullptr: absent).
  const char* ns = "app";
  const char* ns_rev = nullptr;
  const char* ns_injection = nullptr;
  // The pod: members of metadata.labels / metadata.annotations (JSON text without braces), and
  // extra metadata / spec members; or a whole pod in `raw_pod`.
  const char* labels = "";
  const char* annotations = "";
  const char* metadata = R"("generateName":"web-7d9f8c6b5-")";
  const char* spec = R"("containers":[{"name":"app","image":"nginx"}])";
  const char* raw_pod = nullptr;
  // The request.
  const char* operation = "CREATE";
  const char* group = "";
  const char* kind = "Pod";
  const char* sub_resource = "";
  Expect want;
};

std::string pod_json(const Case& c) {
  if (c.raw_pod != nullptr) return c.raw_pod;
  std::string s = R"({"apiVersion":"v1","kind":"Pod","metadata":{)";
  s += c.metadata;
  s += R"(,"labels":{)";
  s += c.labels;
  s += R"(},"annotations":{)";
  s += c.annotations;
  s += R"(}},"spec":{)";
  s += c.spec;
  s += "}}";
  return s;
}

constexpr const char* kInjectTrue = R"("sidecar.istio.io/inject":"true")";
constexpr const char* kInjectFalse = R"("sidecar.istio.io/inject":"false")";
constexpr const char* kPodRevCanary = R"("istio.io/rev":"canary")";

std::vector<Case> cases() {
  using R = Reason;
  using S = RouteSource;
  return {
      // --- Only Pod CREATE is decided.
      {.name = "not_pod_create_update",
       .ns_rev = "canary",
       .operation = "UPDATE",
       .want = {.reason = R::kNotPodCreate}},
      {.name = "not_pod_create_subresource",
       .ns_rev = "canary",
       .sub_resource = "ephemeralcontainers",
       .want = {.reason = R::kNotPodCreate}},
      {.name = "not_pod_create_other_kind",
       .ns_rev = "canary",
       .group = "apps",
       .kind = "Deployment",
       .want = {.reason = R::kNotPodCreate}},
      // --- hostNetwork and ignored namespaces come before routing.
      {.name = "host_network_never_injected",
       .ns_injection = "enabled",
       .labels = kInjectTrue,
       .spec = R"("hostNetwork":true,"containers":[])",
       .want = {.reason = R::kHostNetwork}},
      {.name = "host_network_checked_before_ignored_namespace",
       .ns = "kube-system",
       .ns_injection = "enabled",
       .spec = R"("hostNetwork":true)",
       .want = {.reason = R::kHostNetwork}},
      {.name = "host_network_false_injects",
       .ns_injection = "enabled",
       .spec = R"("hostNetwork":false)",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "ignored_namespace_kube_system",
       .ns = "kube-system",
       .ns_injection = "enabled",
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "ignored_namespace_kube_public",
       .ns = "kube-public",
       .ns_rev = "canary",
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "ignored_namespace_kube_node_lease",
       .ns = "kube-node-lease",
       .labels = kPodRevCanary,
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "ignored_namespace_local_path_storage",
       .ns = "local-path-storage",
       .ns_injection = "enabled",
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "ignored_namespace_beats_pod_override",
       .mode = kPodOverride,
       .ns = "kube-system",
       .labels = kPodRevCanary,
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "ignored_namespace_from_pod_metadata",
       .ns = "app",
       .ns_injection = "enabled",
       .metadata = R"("generateName":"x-","namespace":"kube-system")",
       .want = {.reason = R::kIgnoredNamespace}},
      {.name = "similar_namespace_not_ignored",
       .ns = "kube-systems",
       .ns_injection = "enabled",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},

      // --- Routing, Istio mode.
      {.name = "ns_injection_disabled_never",
       .ns_injection = "disabled",
       .labels = R"("sidecar.istio.io/inject":"true","istio.io/rev":"canary")",
       .want = {.reason = R::kNamespaceInjectionDisabled}},
      {.name = "ns_injection_disabled_beats_ns_rev",
       .ns_rev = "canary",
       .ns_injection = "disabled",
       .want = {.reason = R::kNamespaceInjectionDisabled}},
      {.name = "ns_injection_enabled_selects_default_tag",
       .ns_injection = "enabled",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "ns_injection_enabled_beats_ns_rev",
       .ns_rev = "canary",
       .ns_injection = "enabled",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "ns_injection_enabled_ignores_pod_rev",
       .ns_injection = "enabled",
       .labels = kPodRevCanary,
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "ns_injection_other_value_not_selected",
       .ns_injection = "Enabled",
       .labels = kInjectTrue,
       .want = {.reason = R::kNotSelected}},
      {.name = "ns_injection_other_value_blocks_ns_rev",
       .ns_rev = "canary",
       .ns_injection = "true",
       .want = {.reason = R::kNotSelected}},
      {.name = "ns_injection_other_value_blocks_pod_rev",
       .ns_injection = "yes",
       .labels = kPodRevCanary,
       .want = {.reason = R::kNotSelected}},
      {.name = "ns_rev_selects_tag",
       .ns_rev = "canary",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "ns_rev_selects_revision_by_name",
       .ns_rev = "1-20",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "1-20", "1-20"}},
      {.name = "ns_rev_beats_pod_rev",
       .ns_rev = "canary",
       .labels = R"("istio.io/rev":"1-20")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "ns_rev_beats_pod_inject_label",
       .ns_rev = "canary",
       .labels = kInjectTrue,
       .want = {true, R::kLabelInject, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "ns_rev_unknown",
       .ns_rev = "1-99",
       .want = {false, R::kUnknownRevision, S::kNamespaceRev, "1-99", "",
                "unknown revision \"1-99\""}},
      {.name = "ns_rev_empty_value_unknown",
       .ns_rev = "",
       .want = {false, R::kUnknownRevision, S::kNamespaceRev, "", "", "unknown revision \"\""}},
      {.name = "pod_rev_without_ns_labels",
       .labels = kPodRevCanary,
       .want = {true, R::kPolicyEnabled, S::kPodRev, "canary", "1-21"}},
      {.name = "pod_rev_unknown",
       .labels = R"("istio.io/rev":"nope")",
       .want = {false, R::kUnknownRevision, S::kPodRev, "nope", "", "unknown revision \"nope\""}},
      {.name = "pod_rev_beats_pod_inject_label",
       .labels = R"("istio.io/rev":"canary",)"
                 R"("sidecar.istio.io/inject":"true")",
       .want = {true, R::kLabelInject, S::kPodRev, "canary", "1-21"}},
      {.name = "pod_rev_annotation_is_not_a_label",
       .annotations = kPodRevCanary,
       .want = {.reason = R::kNotSelected}},
      {.name = "pod_inject_label_true_selects_default_tag",
       .labels = kInjectTrue,
       .want = {true, R::kLabelInject, S::kPodInjectLabel, "default", "1-20"}},
      {.name = "pod_inject_label_false_with_ns_injection",
       .ns_injection = "enabled",
       .labels = kInjectFalse,
       .want = {.reason = R::kPodInjectLabelFalse}},
      {.name = "pod_inject_label_false_with_ns_rev",
       .ns_rev = "canary",
       .labels = kInjectFalse,
       .want = {.reason = R::kPodInjectLabelFalse}},
      {.name = "pod_inject_label_false_with_pod_rev",
       .labels = R"("istio.io/rev":"canary","sidecar.istio.io/inject":"false")",
       .want = {.reason = R::kPodInjectLabelFalse}},
      {.name = "pod_inject_label_false_unknown_rev_not_resolved",
       .labels = R"("istio.io/rev":"nope","sidecar.istio.io/inject":"false")",
       .want = {.reason = R::kPodInjectLabelFalse}},
      {.name = "pod_inject_annotation_true_not_seen_by_webhooks",
       .annotations = kInjectTrue,
       .want = {.reason = R::kNotSelected}},
      {.name = "pod_inject_label_yes_not_selected_exact_match",
       .labels = R"("sidecar.istio.io/inject":"yes")",
       .want = {.reason = R::kNotSelected}},
      {.name = "pod_inject_label_True_not_selected_exact_match",
       .labels = R"("sidecar.istio.io/inject":"True")",
       .want = {.reason = R::kNotSelected}},
      {.name = "no_labels_not_selected", .want = {.reason = R::kNotSelected}},
      {.name = "weighted_tag_zero_weight_never_selected",
       .ns_rev = "zero-split",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "zero-split", "1-21"}},

      // --- Routing, pod-override mode.
      {.name = "override_pod_rev_beats_ns_rev",
       .mode = kPodOverride,
       .ns_rev = "canary",
       .labels = R"("istio.io/rev":"1-20")",
       .want = {true, R::kPolicyEnabled, S::kPodRev, "1-20", "1-20"}},
      {.name = "override_pod_rev_beats_ns_injection_enabled",
       .mode = kPodOverride,
       .ns_injection = "enabled",
       .labels = kPodRevCanary,
       .want = {true, R::kPolicyEnabled, S::kPodRev, "canary", "1-21"}},
      {.name = "override_ns_injection_disabled_still_opts_out",
       .mode = kPodOverride,
       .ns_injection = "disabled",
       .labels = kPodRevCanary,
       .want = {.reason = R::kNamespaceInjectionDisabled}},
      {.name = "override_pod_inject_label_false_still_excludes",
       .mode = kPodOverride,
       .ns_rev = "1-20",
       .labels = R"("istio.io/rev":"canary","sidecar.istio.io/inject":"false")",
       .want = {.reason = R::kPodInjectLabelFalse}},
      {.name = "override_ns_rev_without_pod_rev",
       .mode = kPodOverride,
       .ns_rev = "canary",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "override_ns_injection_enabled_without_pod_rev",
       .mode = kPodOverride,
       .ns_injection = "enabled",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "override_ns_injection_enabled_beats_ns_rev",
       .mode = kPodOverride,
       .ns_rev = "canary",
       .ns_injection = "enabled",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "override_pod_inject_label_true_selects_default_tag",
       .mode = kPodOverride,
       .labels = kInjectTrue,
       .want = {true, R::kLabelInject, S::kPodInjectLabel, "default", "1-20"}},
      {.name = "override_pod_rev_with_other_ns_injection_value",
       .mode = kPodOverride,
       .ns_injection = "foo",
       .labels = kPodRevCanary,
       .want = {true, R::kPolicyEnabled, S::kPodRev, "canary", "1-21"}},
      {.name = "override_other_ns_injection_value_without_pod_rev",
       .mode = kPodOverride,
       .ns_rev = "canary",
       .ns_injection = "foo",
       .want = {.reason = R::kNotSelected}},
      {.name = "override_unknown_pod_rev_does_not_fall_back",
       .mode = kPodOverride,
       .ns_rev = "canary",
       .labels = R"("istio.io/rev":"nope")",
       .want = {false, R::kUnknownRevision, S::kPodRev, "nope", "", "unknown revision \"nope\""}},
      {.name = "override_not_selected_without_labels",
       .mode = kPodOverride,
       .want = {.reason = R::kNotSelected}},

      // --- sidecar.istio.io/inject, strict (current Istio: only "true" and "false").
      {.name = "annotation_false_no_inject",
       .ns_injection = "enabled",
       .annotations = kInjectFalse,
       .want = {false, R::kAnnotationNoInject, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "annotation_true_beats_disabled_policy",
       .ns_rev = "off",
       .annotations = kInjectTrue,
       .want = {true, R::kAnnotationInject, S::kNamespaceRev, "off", "off"}},
      {.name = "label_true_beats_annotation_false",
       .ns_injection = "enabled",
       .labels = kInjectTrue,
       .annotations = kInjectFalse,
       .want = {true, R::kLabelInject, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "label_true_beats_disabled_policy",
       .ns_rev = "off",
       .labels = kInjectTrue,
       .want = {true, R::kLabelInject, S::kNamespaceRev, "off", "off"}},
      {.name = "empty_label_beats_annotation_and_means_default",
       .ns_rev = "off",
       .labels = R"("sidecar.istio.io/inject":"")",
       .annotations = kInjectTrue,
       .want = {false, R::kPolicyDisabled, S::kNamespaceRev, "off", "off"}},
      {.name = "strict_invalid_label_warns_and_uses_default",
       .ns_injection = "enabled",
       .labels = R"("sidecar.istio.io/inject":"yes")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20",
                "invalid value \"yes\" for label sidecar.istio.io/inject"}},
      {.name = "strict_invalid_annotation_warns_under_disabled_policy",
       .ns_rev = "off",
       .annotations = R"("sidecar.istio.io/inject":"Y")",
       .want = {false, R::kPolicyDisabled, S::kNamespaceRev, "off", "off",
                "invalid value \"Y\" for annotation sidecar.istio.io/inject"}},
      {.name = "strict_invalid_label_still_beats_annotation",
       .ns_injection = "enabled",
       .labels = R"("sidecar.istio.io/inject":"on")",
       .annotations = kInjectFalse,
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20", "\"on\""}},
      {.name = "strict_uppercase_false_label_passes_webhook_then_warns",
       .ns_injection = "enabled",
       .labels = R"("sidecar.istio.io/inject":"FALSE")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20", "\"FALSE\""}},
      {.name = "policy_disabled_default",
       .ns_rev = "off",
       .want = {false, R::kPolicyDisabled, S::kNamespaceRev, "off", "off"}},

      // --- Lenient (pre-1.27) values, from the resolved revision's injector config.
      {.name = "lenient_label_yes_injects",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"yes")",
       .want = {true, R::kLabelInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_label_ON_uppercase_injects",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"ON")",
       .want = {true, R::kLabelInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_annotation_y_injects",
       .ns_rev = "old",
       .annotations = R"("sidecar.istio.io/inject":"y")",
       .want = {true, R::kAnnotationInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_annotation_TrUe_mixed_case_injects",
       .ns_rev = "old",
       .annotations = R"("sidecar.istio.io/inject":"TrUe")",
       .want = {true, R::kAnnotationInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_label_no_does_not_inject",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"no")",
       .want = {false, R::kLabelNoInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_other_value_does_not_inject",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"enabled")",
       .want = {false, R::kLabelNoInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_label_FALSE_does_not_inject",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"FALSE")",
       .want = {false, R::kLabelNoInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_annotation_off_does_not_inject",
       .ns_rev = "old",
       .annotations = R"("sidecar.istio.io/inject":"off")",
       .want = {false, R::kAnnotationNoInject, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_empty_label_uses_default",
       .ns_rev = "old",
       .labels = R"("sidecar.istio.io/inject":"")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "old", "old"}},
      {.name = "lenient_values_do_not_change_routing",
       .ns_rev = nullptr,
       .labels = R"("sidecar.istio.io/inject":"yes")",
       .want = {.reason = R::kNotSelected}},

      // --- never/always-inject selectors (only without an explicit value; never first).
      {.name = "never_selector_blocks_default",
       .ns_rev = "sel",
       .labels = R"("team":"legacy")",
       .want = {false, R::kNeverInjectSelector, S::kNamespaceRev, "sel", "sel"}},
      {.name = "empty_never_selector_skipped",
       .ns_rev = "sel",
       .labels = R"("team":"new")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "sel", "sel"}},
      {.name = "never_selector_beats_always_selector",
       .ns_rev = "sel-off",
       .labels = R"("team":"legacy","force-inject":"1")",
       .want = {false, R::kNeverInjectSelector, S::kNamespaceRev, "sel-off", "sel-off"}},
      {.name = "always_selector_beats_disabled_policy",
       .ns_rev = "sel-off",
       .labels = R"("force-inject":"")",
       .want = {true, R::kAlwaysInjectSelector, S::kNamespaceRev, "sel-off", "sel-off"}},
      {.name = "empty_always_selector_skipped",
       .ns_rev = "sel-off",
       .labels = R"("team":"new")",
       .want = {false, R::kPolicyDisabled, S::kNamespaceRev, "sel-off", "sel-off"}},
      {.name = "always_selector_under_enabled_policy",
       .ns_rev = "sel",
       .labels = R"("force-inject":"yes")",
       .want = {true, R::kAlwaysInjectSelector, S::kNamespaceRev, "sel", "sel"}},
      {.name = "annotation_beats_never_selector",
       .ns_rev = "sel",
       .labels = R"("team":"legacy")",
       .annotations = kInjectTrue,
       .want = {true, R::kAnnotationInject, S::kNamespaceRev, "sel", "sel"}},
      {.name = "annotation_false_beats_always_selector",
       .ns_rev = "sel-off",
       .labels = R"("force-inject":"1")",
       .annotations = kInjectFalse,
       .want = {false, R::kAnnotationNoInject, S::kNamespaceRev, "sel-off", "sel-off"}},
      {.name = "strict_invalid_value_falls_through_to_selectors",
       .ns_rev = "sel",
       .labels = R"("team":"legacy","sidecar.istio.io/inject":"maybe")",
       .want = {false, R::kNeverInjectSelector, S::kNamespaceRev, "sel", "sel", "\"maybe\""}},
      {.name = "selectors_of_the_resolved_revision_only",
       .ns_rev = "canary",
       .labels = R"("team":"legacy")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "selectors_see_labels_not_annotations",
       .ns_rev = "sel",
       .annotations = R"("team":"legacy")",
       .want = {true, R::kPolicyEnabled, S::kNamespaceRev, "sel", "sel"}},

      // --- Already injected (sidecar.istio.io/status), after injectRequired.
      {.name = "already_injected_same_revision",
       .ns_injection = "enabled",
       .annotations =
           R"("sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"],\"revision\":\"1-20\"}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceInjection, "default", "1-20"}},
      {.name = "already_injected_by_other_revision_warns",
       .ns_rev = "canary",
       .annotations =
           R"("sidecar.istio.io/status":"{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"],\"revision\":\"1-20\"}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21",
                "already injected by revision \"1-20\""}},
      {.name = "already_injected_status_without_revision",
       .ns_rev = "canary",
       .annotations = R"("sidecar.istio.io/status":"{\"containers\":[\"istio-proxy\"]}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "already_injected_status_not_json",
       .ns_rev = "canary",
       .annotations = R"("sidecar.istio.io/status":"injected")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "already_injected_nested_revision_ignored",
       .ns_rev = "canary",
       .annotations =
           R"("sidecar.istio.io/status":"{\"extra\":{\"revision\":\"1-20\"},\"list\":[{\"revision\":\"x\"}],\"revision\":\"1-21\"}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "already_injected_non_string_revision_ignored",
       .ns_rev = "canary",
       .annotations = R"("sidecar.istio.io/status":"{\"revision\":{\"name\":\"1-20\"}}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "already_injected_policy_checked_first",
       .ns_rev = "off",
       .annotations = R"("sidecar.istio.io/status":"{\"revision\":\"1-20\"}")",
       .want = {false, R::kPolicyDisabled, S::kNamespaceRev, "off", "off"}},
      {.name = "already_injected_explicit_no_checked_first",
       .ns_rev = "canary",
       .annotations = R"("sidecar.istio.io/inject":"false","sidecar.istio.io/status":"{}")",
       .want = {false, R::kAnnotationNoInject, S::kNamespaceRev, "canary", "1-21"}},
      {.name = "already_injected_pod_override",
       .mode = kPodOverride,
       .ns_rev = "1-20",
       .labels = kPodRevCanary,
       .annotations = R"("sidecar.istio.io/status":"{\"revision\":\"1-20\"}")",
       .want = {false, R::kAlreadyInjected, S::kPodRev, "canary", "1-21", "\"1-20\""}},
      {.name = "already_injected_invalid_value_keeps_both_warnings",
       .ns_rev = "canary",
       .labels = R"("sidecar.istio.io/inject":"yes")",
       .annotations = R"("sidecar.istio.io/status":"{\"revision\":\"1-20\"}")",
       .want = {false, R::kAlreadyInjected, S::kNamespaceRev, "canary", "1-21",
                "invalid value \"yes\""}},

      // --- A whole pod as the API server sends it: a Deployment's replica.
      {.name = "raw_deployment_replica_pod_rev",
       .ns = "bookinfo",
       .raw_pod =
           R"({"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"reviews-v1-5d8f7c9b4-",
          "labels":{"app":"reviews","pod-template-hash":"5d8f7c9b4","istio.io/rev":"canary"},
          "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"reviews-v1-5d8f7c9b4",
          "uid":"5f0c","controller":true,"blockOwnerDeletion":true}]},
          "spec":{"containers":[{"name":"reviews","image":"istio/examples-bookinfo-reviews-v1"}]}})",
       .want = {true, R::kPolicyEnabled, S::kPodRev, "canary", "1-21"}},
      {.name = "raw_pod_without_metadata_labels",
       .ns_injection = "enabled",
       .raw_pod = R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[]}})",
       .want = {true, R::kPolicyEnabled, S::kNamespaceInjection, "default", "1-20"}},
  };
}

class DecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(DecisionTest, Decides) {
  const Case& c = GetParam();
  const RoutingTable table = test_table(c.mode);
  const std::string json = pod_json(c);
  ParsedPod pod(json, c.ns);
  ASSERT_FALSE(::testing::Test::HasFailure()) << json;

  AdmissionRequest request;
  request.uid = "uid-1";
  request.kind = GroupVersionKind{c.group, "v1", c.kind};
  request.resource = c.kind == std::string_view("Pod") ? "pods" : "deployments";
  request.sub_resource = c.sub_resource;
  request.operation = c.operation;
  request.namespace_ = c.ns;
  request.object = &pod.doc();

  NamespaceLabels ns;
  if (c.ns_rev != nullptr) ns.rev = c.ns_rev;
  if (c.ns_injection != nullptr) ns.injection = c.ns_injection;

  const Decision d = decide(table, request, pod.facts(), ns);
  EXPECT_EQ(d.inject, c.want.inject);
  EXPECT_EQ(to_string(d.reason), to_string(c.want.reason));
  EXPECT_EQ(to_string(d.source), to_string(c.want.source));
  EXPECT_EQ(d.requested, c.want.requested);
  EXPECT_EQ(d.revision == nullptr ? std::string_view{} : std::string_view(d.revision->name),
            c.want.revision);
  if (*c.want.warning == '\0') {
    EXPECT_EQ(d.warning, "");
  } else {
    EXPECT_NE(d.warning.find(c.want.warning), std::string::npos)
        << "warning: \"" << d.warning << "\" lacks \"" << c.want.warning << "\"";
  }
  // The resolved revision is one of the table's, never a copy.
  if (d.revision != nullptr) {
    EXPECT_GE(d.revision, table.revisions.data());
    EXPECT_LT(d.revision, table.revisions.data() + table.revisions.size());
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, DecisionTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Decision, TableHasAtLeastSixtyDistinctRows) {
  std::set<std::string> names;
  for (const Case& c : cases()) names.insert(c.name);
  EXPECT_EQ(names.size(), cases().size());
  EXPECT_GE(names.size(), 60u);
}

TEST(Decision, DefaultTagIsConfigurable) {
  RoutingTable table = test_table(kIstio);
  table.default_tag = "stable";
  add_tag(table, "stable", {{"1-21", 100}});
  ParsedPod pod(R"({"metadata":{"labels":{"sidecar.istio.io/inject":"true"}},"spec":{}})");
  AdmissionRequest request;
  request.kind = GroupVersionKind{"", "v1", "Pod"};
  request.resource = "pods";
  request.operation = "CREATE";
  request.namespace_ = "app";

  Decision d = decide(table, request, pod.facts(), NamespaceLabels{});
  EXPECT_EQ(d.requested, "stable");
  ASSERT_NE(d.revision, nullptr);
  EXPECT_EQ(d.revision->name, "1-21");

  d = decide(table, request, pod.facts(), NamespaceLabels{.rev = {}, .injection = "enabled"});
  EXPECT_EQ(d.requested, "stable");
  EXPECT_EQ(to_string(d.source), "namespace-injection");
}

// A weighted tag through decide() picks exactly what resolve() picks for the pod's workload.
TEST(Decision, WeightedTagFollowsTheWorkload) {
  RoutingTable table = test_table(kIstio);
  add_tag(table, "half", {{"1-20", 50}, {"1-21", 50}});
  AdmissionRequest request;
  request.kind = GroupVersionKind{"", "v1", "Pod"};
  request.resource = "pods";
  request.operation = "CREATE";
  NamespaceLabels half_ns;
  half_ns.rev = "half";
  std::set<std::string> seen;
  for (int i = 0; i < 64; ++i) {
    const std::string name = "svc-" + std::to_string(i);
    ParsedPod pod(
        R"({"metadata":{"generateName":")" + name +
        R"(-abc12-","labels":{"pod-template-hash":"abc12"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" +
        name + R"(-abc12","uid":"u","controller":true}]},"spec":{}})");
    const Decision d = decide(table, request, pod.facts(), half_ns);
    ASSERT_NE(d.revision, nullptr);
    EXPECT_EQ(d.revision, resolve(table, "half", "app", testing::workload_named(name)));
    EXPECT_TRUE(d.inject);
    seen.insert(d.revision->name);
  }
  EXPECT_EQ(seen.size(), 2u);
}

TEST(Decision, ReasonAndSourceNamesAreDistinctKebabCase) {
  std::set<std::string_view> reasons;
  for (int r = 0; r <= static_cast<int>(Reason::kAlreadyInjected); ++r) {
    const std::string_view s = to_string(static_cast<Reason>(r));
    EXPECT_NE(s, "unknown");
    for (char ch : s) EXPECT_TRUE((ch >= 'a' && ch <= 'z') || ch == '-') << s;
    reasons.insert(s);
  }
  EXPECT_EQ(reasons.size(), static_cast<std::size_t>(Reason::kAlreadyInjected) + 1);
  EXPECT_EQ(to_string(Reason::kHostNetwork), "host-network");
  EXPECT_EQ(to_string(Reason::kAlreadyInjected), "already-injected");
  EXPECT_EQ(to_string(Reason::kNamespaceInjectionDisabled), "namespace-injection-disabled");

  std::set<std::string_view> sources;
  for (int s = 0; s <= static_cast<int>(RouteSource::kPodInjectLabel); ++s) {
    sources.insert(to_string(static_cast<RouteSource>(s)));
  }
  EXPECT_EQ(sources.size(), static_cast<std::size_t>(RouteSource::kPodInjectLabel) + 1);
  EXPECT_EQ(to_string(RouteSource::kNamespaceRev), "namespace-rev");
  EXPECT_EQ(to_string(RouteSource::kPodRev), "pod-rev");
}

}  // namespace
}  // namespace revrouter
