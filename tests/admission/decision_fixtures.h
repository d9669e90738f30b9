// Fixtures for the decision, workload and weighted-split tests: routing tables built directly in
// C++ (no YAML loader involved) and pods parsed from JSON text through read_pod.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "admission/label_selector.h"
#include "admission/pod.h"
#include "admission/routing_config.h"
#include "admission/workload.h"

namespace revrouter::testing {

inline LabelRequirement requirement(std::string key, LabelRequirement::Op op,
                                    std::vector<std::string> values = {}) {
  return LabelRequirement{.key = std::move(key), .op = op, .values = std::move(values)};
}

inline LabelSelector selector(std::vector<LabelRequirement> requirements) {
  return LabelSelector{.requirements = std::move(requirements)};
}

// A workload known by name only (designated initializers would leave members unset, which
// -Wmissing-field-initializers reports).
inline Workload workload_named(std::string_view name) {
  Workload w;
  w.name = name;
  return w;
}

inline InjectorConfig injector(InjectPolicy policy, bool lenient = false,
                               std::vector<LabelSelector> never = {},
                               std::vector<LabelSelector> always = {}) {
  InjectorConfig c;
  c.policy = policy;
  c.lenient_inject_values = lenient;
  c.never_inject_selector = std::move(never);
  c.always_inject_selector = std::move(always);
  return c;
}

inline Revision revision(std::string name, InjectorConfig injector = {}) {
  Revision r;
  r.name = std::move(name);
  r.injector = std::move(injector);
  return r;
}

inline std::size_t revision_index(const RoutingTable& table, std::string_view name) {
  for (std::size_t i = 0; i < table.revisions.size(); ++i) {
    if (table.revisions[i].name == name) return i;
  }
  ADD_FAILURE() << "no revision " << name << " in the test table";
  return 0;
}

// A tag over revisions already in `table`: {revision name, weight} pairs.
inline void add_tag(RoutingTable& table, std::string name,
                    std::initializer_list<std::pair<std::string_view, std::uint32_t>> targets) {
  Tag tag;
  tag.name = std::move(name);
  for (const auto& [rev, weight] : targets) {
    tag.targets.push_back(
        WeightedRevision{.revision = revision_index(table, rev), .weight = weight});
  }
  table.tags.push_back(std::move(tag));
}

// A pod parsed from JSON text; the Document owns the strings PodFacts views.
class ParsedPod {
 public:
  explicit ParsedPod(const std::string& json, std::string_view request_namespace = "app") {
    doc_ = std::make_unique<rapidjson::Document>();
    // With a length RapidJSON reads through a MemoryStream, not the SSE4.2 scanner (which loads 16
    // aligned bytes past the end of the text, and ASan reports that).
    doc_->Parse(json.c_str(), json.size());
    if (doc_->HasParseError()) {
      ADD_FAILURE() << "test pod is not JSON: " << json;
      return;
    }
    auto pod = read_pod(*doc_, request_namespace);
    if (!pod.ok()) {
      ADD_FAILURE() << "read_pod rejected the test pod: " << pod.error().message << "\n" << json;
      return;
    }
    facts_ = *pod;
  }
  const PodFacts& facts() const { return facts_; }
  const rapidjson::Document& doc() const { return *doc_; }

 private:
  std::unique_ptr<rapidjson::Document> doc_;  // stable address: PodFacts points into it
  PodFacts facts_;
};

}  // namespace revrouter::testing
