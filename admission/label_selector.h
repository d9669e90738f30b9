// Kubernetes label selectors (matchLabels and matchExpressions In/NotIn/Exists/DoesNotExist), as
// used by Istio's neverInjectSelector / alwaysInjectSelector.
#pragma once

#include <string>
#include <vector>

#include "admission/json_view.h"

namespace revrouter {

struct LabelRequirement {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // In/NotIn: non-empty; Exists/DoesNotExist: empty
};

// All requirements must hold (AND). matchLabels {k: v} is the requirement k In [v].
struct LabelSelector {
  std::vector<LabelRequirement> requirements;

  bool empty() const { return requirements.empty(); }
  // Kubernetes semantics: NotIn and DoesNotExist hold when the key is absent. An empty selector
  // matches everything (Istio skips empty selectors itself; see injection_policy).
  bool matches(const StringMap& labels) const;
};

}  // namespace revrouter
