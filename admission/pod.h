// PodFacts: the fields of a Pod that the injection decision reads, type-checked once so that no
// rule has to. Views into the request's JSON.
#pragma once

#include <string_view>

#include "admission/json_view.h"
#include "admission/result.h"

namespace revrouter {

struct PodFacts {
  std::string_view name;           // metadata.name (often empty at CREATE)
  std::string_view generate_name;  // metadata.generateName
  std::string_view namespace_;     // metadata.namespace, else the request's namespace
  StringMap labels;                // metadata.labels
  StringMap annotations;           // metadata.annotations
  const JsonValue* owner_references = nullptr;  // metadata.ownerReferences: array of objects, or null
  bool host_network = false;                    // spec.hostNetwork
  const JsonValue* object = nullptr;            // the whole pod
};

// Checks the types of every field above (metadata an object, labels and annotations objects of
// strings, ownerReferences an array of objects with string fields, hostNetwork a bool, spec an
// object) and returns the view. Errors have code "bad_field" and name the JSON path.
Result<PodFacts> read_pod(const JsonValue& object, std::string_view request_namespace);

}  // namespace revrouter
