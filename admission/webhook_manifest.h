// The MutatingWebhookConfiguration that sends pods to revrouter: Istio's injector selectors
// (rev.namespace / rev.object / namespace / object) for every tag and revision of a routing table,
// each webhook's path carrying the namespace labels it matched (webhook_path.h). Pure: a function
// of the table and the options, emitted as YAML.
#pragma once

#include <string>
#include <vector>

#include "admission/result.h"
#include "admission/routing_config.h"

namespace revrouter {

enum class FailurePolicy { kFail, kIgnore };
enum class ReinvocationPolicy { kNever, kIfNeeded };

struct WebhookManifestOptions {
  // metadata.name of the MutatingWebhookConfiguration. Never an `istio-*` name: istioctl and the
  // Istio installer own those.
  std::string name = "revrouter-injector";

  // Where the API server sends reviews: the revrouter Service (clientConfig.service), or, when
  // `url` is set, that base URL (clientConfig.url, e.g. "https://10.0.0.5:15017" for a webhook
  // outside the cluster) with the path appended.
  std::string service_name = "revrouter";
  std::string service_namespace = "istio-system";
  int service_port = 443;
  std::string url;

  std::string ca_bundle;  // base64 of the CA PEM (`revrouter certs` prints it); empty: left out
  // "<namespace>/<certificate>": cert-manager's CA injector fills caBundle instead.
  std::string inject_ca_from;

  FailurePolicy failure_policy = FailurePolicy::kFail;           // Istio's default
  int timeout_seconds = 10;                                      // 1..30, the API server's default
  ReinvocationPolicy reinvocation = ReinvocationPolicy::kNever;  // Istio's default

  // Istio's own path segments, added to every webhook's path: the injected proxy's
  // ISTIO_META_CLUSTER_ID and ISTIO_META_NETWORK.
  std::string cluster;
  std::string network;

  // Emit webhooks only for these tag and revision names (empty: all). The default-tag webhooks
  // (istio-injection=enabled, sidecar.istio.io/inject=true) come with the default tag's name. Used
  // to move one alias at a time between istio-revision-tag-<alias> and revrouter.
  std::vector<std::string> only;
};

// The YAML text of the MutatingWebhookConfiguration (one document, ending in a newline). Errors
// (code "manifest"): an option Kubernetes would reject (names, port, timeout, path segments,
// caBundle), a name in `only` that the table does not have, a tag or revision name that cannot be
// a webhook path segment (Kubernetes requires each to be a lowercase RFC 1123 subdomain), and a
// table that leaves nothing to route.
Result<std::string> generate_webhook_manifest(const RoutingTable& table,
                                              const WebhookManifestOptions& options);

}  // namespace revrouter
