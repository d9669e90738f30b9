#include "admission/label_selector.h"

#include <algorithm>
#include <optional>
#include <string_view>

namespace revrouter {
namespace {

bool contains_value(const std::vector<std::string>& values, std::string_view v) {
  return std::any_of(values.begin(), values.end(), [v](const std::string& s) { return s == v; });
}

bool requirement_holds(const LabelRequirement& r, const StringMap& labels) {
  const std::optional<std::string_view> value = labels.get(r.key);
  switch (r.op) {
    case LabelRequirement::Op::kIn:
      return value.has_value() && contains_value(r.values, *value);
    case LabelRequirement::Op::kNotIn:
      // Kubernetes: NotIn holds for a pod without the key (k8s.io/apimachinery labels/selector.go).
      return !value.has_value() || !contains_value(r.values, *value);
    case LabelRequirement::Op::kExists:
      return value.has_value();
    case LabelRequirement::Op::kDoesNotExist:
      return !value.has_value();
  }
  return false;
}

}  // namespace

bool LabelSelector::matches(const StringMap& labels) const {
  return std::all_of(requirements.begin(), requirements.end(),
                     [&labels](const LabelRequirement& r) { return requirement_holds(r, labels); });
}

}  // namespace revrouter
