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

// An istiod injector revrouter calls over HTTPS: a proxy revision's backend, or a local revision's
// shadow. The CA is read at load time (a reload picks up a rotated istio-ca-root-cert).
struct UpstreamConfig {
  std::string url;          // as written (or the default): https://host[:port]/path
  std::string host;         // from url: a DNS name or an IP literal (IPv6 without brackets)
  std::uint16_t port = 443;
  std::string path;         // from url, at least "/"; key/value path segments are appended to it
  std::string server_name;  // `serverName`: SNI and the name the certificate must carry; default host
  std::string ca_file;      // `caFile`, resolved against the config dir
  std::string ca_pem;       // its contents (checked to hold a PEM certificate, parsed by the server)
  int line = 0;             // of the url (or of the revision when defaulted), for messages
  int ca_line = 0;          // of caFile, for messages about the CA
};

// What a proxy revision does when its istiod fails (refused, TLS error, timeout, non-200, or an
// answer that is not a valid AdmissionReview for the request).
enum class FailureAction : std::uint8_t {
  kFailClosed,  // deny the pod with a message naming the revision and the failure (Istio's default)
  kFailOpen,    // allow it without a sidecar, with a warning
  kFallback,    // inject with another revision (local, or a proxy that does not fall back itself)
};

// Named apart from webhook_manifest.h's FailurePolicy (the MutatingWebhookConfiguration field).
struct UpstreamFailurePolicy {
  FailureAction action = FailureAction::kFailClosed;
  std::size_t fallback = 0;  // kFallback: index into RoutingTable::revisions
};

// The circuit breaker of an upstream: open after `failures` consecutive failures; while open,
// requests take the failure policy at once and a probe is sent every `probe_interval_ms`.
struct BreakerConfig {
  std::uint32_t failures = 5;
  std::uint32_t probe_interval_ms = 1000;
};

struct Revision {
  std::string name;
  Backend backend = Backend::kLocal;
  std::string template_path;  // local: the sidecar template file, resolved against the config dir
  std::shared_ptr<const SidecarTemplate> sidecar;  // local: loaded template
  std::string url;            // proxy: the injector URL (== upstream.url)
  // proxy: the istiod to forward to; local with `shadow`: the istiod to compare against.
  UpstreamConfig upstream;
  bool shadow = false;          // local: also send each request to `upstream`, compare, never wait
  UpstreamFailurePolicy on_failure;  // proxy only
  BreakerConfig breaker;        // proxy and shadow
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
  // True when a request may need its original bytes after parsing: a proxy or shadow revision.
  bool has_upstreams() const;
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
