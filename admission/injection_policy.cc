#include "admission/injection_policy.h"

#include <array>
#include <optional>

namespace revrouter {
namespace {

constexpr std::string_view kInjectKey = "sidecar.istio.io/inject";

// Istio's IgnoredNamespaces (pkg/kube/inject/webhook.go).
constexpr std::array<std::string_view, 4> kIgnoredNamespaces = {
    "kube-system", "kube-public", "kube-node-lease", "local-path-storage"};

bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;  // b is lower case
  }
  return true;
}

// Pre-1.27 Istio: strings.ToLower(v) in {y, yes, true, on} injects. Only ASCII letters can lower to
// these, so an ASCII fold is exact.
bool lenient_true(std::string_view v) {
  return ascii_iequals(v, "y") || ascii_iequals(v, "yes") || ascii_iequals(v, "true") ||
         ascii_iequals(v, "on");
}

bool any_match(const std::vector<LabelSelector>& selectors, const StringMap& labels) {
  for (const LabelSelector& s : selectors) {
    // Istio skips empty selectors (selector.Empty()), which would otherwise match every pod.
    if (!s.empty() && s.matches(labels)) return true;
  }
  return false;
}

std::string invalid_value_warning(bool from_label, std::string_view value) {
  std::string w = "invalid value \"";
  w.append(value)
      .append("\" for ")
      .append(from_label ? "label " : "annotation ")
      .append(kInjectKey)
      .append(": only \"true\" and \"false\" are accepted; using the default injection policy");
  return w;
}

}  // namespace

bool is_ignored_namespace(std::string_view ns) {
  for (std::string_view ignored : kIgnoredNamespaces) {
    if (ns == ignored) return true;
  }
  return false;
}

// Istio's injectRequired (pkg/kube/inject/inject.go) after its hostNetwork and ignored-namespace
// checks, which decide() makes before routing.
InjectVerdict inject_required(const InjectorConfig& config, const PodFacts& pod) {
  InjectVerdict verdict;

  // The label is the newer API: when present (even empty) it replaces the annotation.
  std::optional<std::string_view> value = pod.labels.get(kInjectKey);
  const bool from_label = value.has_value();
  if (!from_label) value = pod.annotations.get(kInjectKey);
  const std::string_view v = value.value_or(std::string_view{});

  bool use_default = false;
  bool inject = false;
  if (v.empty()) {
    use_default = true;
  } else if (config.lenient_inject_values) {
    inject = lenient_true(v);  // any other non-empty value means "don't"
  } else if (v == "true") {
    inject = true;
  } else if (v == "false") {
    inject = false;
  } else {
    use_default = true;
    verdict.warning = invalid_value_warning(from_label, v);
  }

  if (!use_default) {
    verdict.inject = inject;
    if (from_label) {
      verdict.reason = inject ? Reason::kLabelInject : Reason::kLabelNoInject;
    } else {
      verdict.reason = inject ? Reason::kAnnotationInject : Reason::kAnnotationNoInject;
    }
    return verdict;
  }

  // No explicit value: a never-inject match wins and ends the search; only then always-inject.
  if (any_match(config.never_inject_selector, pod.labels)) {
    verdict.inject = false;
    verdict.reason = Reason::kNeverInjectSelector;
    return verdict;
  }
  if (any_match(config.always_inject_selector, pod.labels)) {
    verdict.inject = true;
    verdict.reason = Reason::kAlwaysInjectSelector;
    return verdict;
  }

  verdict.inject = config.policy == InjectPolicy::kEnabled;
  verdict.reason = verdict.inject ? Reason::kPolicyEnabled : Reason::kPolicyDisabled;
  return verdict;
}

}  // namespace revrouter
