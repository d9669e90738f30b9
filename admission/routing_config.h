// The routing table: revisions, tags (alias -> revision or weighted split), the default tag and
// the precedence mode, loaded from YAML. Loading is a pure function of the text (files it names are
// read through a FileReader), so a reload can keep the last good table when a new file is bad.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admission/label_selector.h"
#include "admission/result.h"

namespace revrouter {

struct SidecarTemplate;  // admission/sidecar_template.h: what a local revision injects

enum class InjectPolicy { kEnabled, kDisabled };
enum class Backend { kLocal, kProxy };

// Which label wins when namespace and pod both name a revision.
enum class PrecedenceMode {
  kIstio,        // Istio's webhooks: namespace istio.io/rev / istio-injection beat the pod's istio.io/rev
  kPodOverride,  // the pod's istio.io/rev beats the namespace's (istio/istio#37088, #42654)
};

// What Istio's injector ConfigMap (`config`) says for one revision's istiod.
struct InjectorConfig {
  InjectPolicy policy = InjectPolicy::kEnabled;
  std::vector<LabelSelector> never_inject_selector;
  std::vector<LabelSelector> always_inject_selector;
  // Pre-1.27 parsing of sidecar.istio.io/inject: y/yes/true/on inject, other non-empty values
  // don't. Current Istio accepts only "true"/"false" and treats other values as unset.
  bool lenient_inject_values = false;
};

struct Revision {
  std::string name;
  Backend backend = Backend::kLocal;
  std::string template_path;  // local: the sidecar template file, resolved against the config dir
  std::shared_ptr<const SidecarTemplate> sidecar;  // local: loaded template
  std::string url;            // proxy: the injector URL
  InjectorConfig injector;
  int line = 0;  // where the revision is defined, for messages
};

struct WeightedRevision {
  std::size_t revision = 0;  // index into RoutingTable::revisions
  std::uint32_t weight = 0;  // percent, the weights of a tag sum to 100
};

struct Tag {
  std::string name;
  std::vector<WeightedRevision> targets;  // one entry (weight 100) for a plain alias
  int line = 0;
};

struct RoutingTable {
  PrecedenceMode mode = PrecedenceMode::kIstio;
  std::string default_tag = "default";  // what istio-injection=enabled and sidecar.istio.io/inject=true select
  std::vector<Revision> revisions;
  std::vector<Tag> tags;
  std::string source;  // file name it was loaded from

  const Revision* find_revision(std::string_view name) const;
  const Tag* find_tag(std::string_view name) const;
};

// Reads a file named by the config (templates), relative paths already resolved.
using FileReader = std::function<Result<std::string>(const std::string& path)>;

// Parses and validates a routing table. Errors carry code "config" and a message
// "<file>:<line>: <what is wrong>" (unknown keys, duplicate names, a tag naming an unknown revision,
// weights not summing to 100, bad selectors, bad YAML, a template that does not load).
Result<RoutingTable> load_routing_table(std::string_view yaml_text, std::string_view file_name,
                                        const FileReader& read_file);

// Reads `path` and loads it; templates are read relative to the file's directory.
Result<RoutingTable> load_routing_table_file(const std::string& path);

}  // namespace revrouter
