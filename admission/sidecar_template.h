// A revision's sidecar template: the pod-independent part of what Istio's injection template
// renders (istio-init / istio-proxy containers, volumes, image, static env, resources, ...),
// loaded once from YAML (schema: docs/sidecar-template.md) into pre-serialised JSON fragments that
// the patch builder splices into every patch. Shared by every revision that names the same file, so
// nothing in it depends on the revision's name.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admission/result.h"

namespace revrouter {

// An env var of istio-proxy whose value the patch builder computes from the pod, at the position
// the template lists it (Istio's injection template renders these from the pod).
enum class ComputedEnv {
  kNone,           // a static entry: `json` holds it
  kPodPorts,       // ISTIO_META_POD_PORTS: the containers' ports, as the template's JSON list
  kAppContainers,  // ISTIO_META_APP_CONTAINERS: app container names, comma-separated
  kWorkloadName,   // ISTIO_META_WORKLOAD_NAME: the workload (Deployment, CronJob, ...) name
  kOwner,  // ISTIO_META_OWNER: kubernetes://apis/<apiVersion>/namespaces/<ns>/<kind>s/<name>
};

struct TemplateEnv {
  std::string name;
  ComputedEnv computed = ComputedEnv::kNone;
  std::string json;  // static entries: the whole {"name":...,"value"...} object
};

// A named JSON object from the template (a volume, an image pull secret).
struct NamedJson {
  std::string name;
  std::string json;
};

// An init container, also split around the two fields pod annotations may override
// (sidecar.istio.io/proxyImage and proxyImageType; proxyCPU, proxyMemory, proxyCPULimit,
// proxyMemoryLimit): Istio renders istio-init and istio-validation with the proxy's image and
// resources.
struct TemplateContainer : NamedJson {
  std::string members;    // `"key":value,...` without image and resources
  std::string image;      // "" when the template gives none
  std::string resources;  // the resources object as JSON, "" when the template gives none
};

struct SidecarTemplate {
  std::string file_name;

  // --- Per-revision knobs (Istio: values.yaml / meshConfig of that revision's istiod) ---
  // Inject istio-proxy as a Kubernetes native sidecar (an init container with restartPolicy
  // Always) instead of a regular container. Pods may override with sidecar.istio.io/nativeSidecar.
  bool native_sidecar = false;
  // meshConfig.defaultConfig.holdApplicationUntilProxyStarts: istio-proxy first among containers,
  // with a postStart `pilot-agent wait` hook (classic sidecar only).
  bool hold_application_until_proxy_starts = false;
  // sidecarInjectorWebhook.rewriteAppHTTPProbe (Istio's default: true); pods may override with
  // sidecar.istio.io/rewriteAppHTTPProbers.
  bool rewrite_app_probers = true;
  // meshConfig.enablePrometheusMerge (default true); pods may override with
  // prometheus.istio.io/merge-metrics.
  bool prometheus_merge = true;
  // meshConfig.defaultConfig.statusPort: the agent's port for rewritten probes and merged metrics.
  int status_port = 15020;
  // values.global.multiCluster.clusterName and values.global.network: become ISTIO_META_CLUSTER_ID
  // and ISTIO_META_NETWORK (the webhook path's cluster/net segments and the pod's
  // topology.istio.io/network label take precedence, as in Istio).
  std::string cluster_name;
  std::string network;

  // --- Static metadata, set on every injected pod (template values win over the pod's) ---
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;

  // --- Containers and pod-level lists, pre-serialised ---
  std::vector<TemplateContainer> init_containers;  // template order (istio-init, ...)
  // istio-proxy as `"key":value,...` members without env, lifecycle, restartPolicy, image and
  // resources, which the builder writes itself (env is partly computed, lifecycle and
  // restartPolicy depend on the sidecar mode, image and resources on pod annotations).
  std::string proxy_members;
  std::string proxy_image;             // "" when the template gives none
  std::string proxy_resources;         // JSON, "" when the template gives none
  std::vector<TemplateEnv> proxy_env;  // every ComputedEnv kind appears exactly once
  std::string proxy_lifecycle;         // an explicit `lifecycle` object from the template, or ""
  std::string hold_lifecycle;          // postStart `pilot-agent wait` (classic + hold)
  std::string native_lifecycle;        // preStop drain via the agent (native sidecar)
  std::vector<NamedJson> volumes;
  std::vector<NamedJson> image_pull_secrets;

  // --- Derived at load ---
  // The sidecar.istio.io/status annotation up to its revision, `{"initContainers":[...],...,
  // "revision":` (Istio's SidecarInjectionStatus as encoding/json writes it: the names the
  // template injects), for the classic sidecar [0] and the native one [1]; and the same as the
  // inside of a JSON string (escaped), which the builder writes without escaping it per request.
  std::array<std::string, 2> status_head, status_head_escaped;
};

// Parses a template file's YAML. Errors carry code "config" and "<file>:<line>: <what>".
Result<std::shared_ptr<const SidecarTemplate>> load_sidecar_template(std::string_view yaml_text,
                                                                     std::string_view file_name);

}  // namespace revrouter
