// The injection decision: which revision (if any) injects a pod, and a short machine-readable
// reason for it (used in logs, metrics, audit annotations and replay output).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "admission/admission_review.h"
#include "admission/pod.h"
#include "admission/routing_config.h"

namespace revrouter {

// What selected a revision: which of Istio's webhooks would have matched.
enum class RouteSource : std::uint8_t {
  kNone,
  kNamespaceRev,        // namespace istio.io/rev (rev.namespace webhook)
  kNamespaceInjection,  // namespace istio-injection=enabled -> default tag (namespace webhook)
  kPodRev,              // pod istio.io/rev (rev.object webhook, or pod-override mode)
  kPodInjectLabel,      // pod label sidecar.istio.io/inject=true -> default tag (object webhook)
};
std::string_view to_string(RouteSource s);

enum class Reason : std::uint8_t {
  kNotPodCreate,                // another kind, sub-resource or operation: allowed untouched
  kHostNetwork,                 // spec.hostNetwork pods are never injected
  kIgnoredNamespace,            // kube-system, kube-public, kube-node-lease, local-path-storage
  kNamespaceInjectionDisabled,  // namespace istio-injection=disabled
  kPodInjectLabelFalse,         // pod label sidecar.istio.io/inject=false (objectSelector NotIn [false])
  kNotSelected,                 // no webhook of Istio's would match this pod in this namespace
  kUnknownRevision,             // the selected value is neither a tag nor a revision
  kLabelInject,                 // sidecar.istio.io/inject label said inject
  kLabelNoInject,               // ... said don't
  kAnnotationInject,            // sidecar.istio.io/inject annotation said inject
  kAnnotationNoInject,          // ... said don't
  kNeverInjectSelector,         // matched the revision's neverInjectSelector
  kAlwaysInjectSelector,        // matched the revision's alwaysInjectSelector
  kPolicyEnabled,               // nothing explicit; the revision's policy is enabled
  kPolicyDisabled,              // nothing explicit; the revision's policy is disabled
  kAlreadyInjected,             // sidecar.istio.io/status present: re-invocation adds nothing
};
std::string_view to_string(Reason r);  // kebab-case: "host-network", "already-injected", ...

// The namespace's labels, as known from the webhook path that matched (see webhook_path.h).
struct NamespaceLabels {
  std::optional<std::string_view> rev;        // istio.io/rev
  std::optional<std::string_view> injection;  // istio-injection
};

struct Decision {
  bool inject = false;
  Reason reason = Reason::kNotSelected;
  RouteSource source = RouteSource::kNone;
  std::string_view requested;          // the tag or revision name that was selected ("" if none)
  const Revision* revision = nullptr;  // the resolved revision; set whenever resolution succeeded
  std::string warning;  // for the response's warnings (invalid inject value, injected by another revision)
};

// The whole decision for one request. Pure: a function of its inputs. In order:
//  1. not a Pod CREATE -> kNotPodCreate; spec.hostNetwork -> kHostNetwork; an ignored namespace
//     (the pod's metadata.namespace, else the request's) -> kIgnoredNamespace.
//  2. Routing (revision_resolver.h route()), which of Istio's webhooks would match:
//     - namespace istio-injection=disabled -> kNamespaceInjectionDisabled, in both modes;
//     - pod label sidecar.istio.io/inject exactly "false" -> kPodInjectLabelFalse (every webhook has
//       objectSelector NotIn [false]); object selectors see labels only and compare exactly.
//     kIstio (Istio's selectors, revisionLabelPreference "namespace"):
//     - istio-injection=enabled -> the default tag (kNamespaceInjection), even if the namespace also
//       has istio.io/rev or the pod has istio.io/rev; any other istio-injection value -> kNotSelected;
//     - else namespace istio.io/rev=X -> X (kNamespaceRev), the pod's istio.io/rev ignored;
//     - else pod istio.io/rev=X -> X (kPodRev); else pod label inject=true -> the default tag
//       (kPodInjectLabel); else kNotSelected.
//     kPodOverride: as kIstio, except that a pod istio.io/rev=X -> X (kPodRev) before any namespace
//     label but istio-injection=disabled (so also over istio-injection=enabled or another value).
//     This goes further than Istio's own revisionLabelPreference "pod", where istio-injection=enabled
//     still selects the default revision.
//  3. Resolution through the tag table (an unknown name -> kUnknownRevision with a warning);
//     `source`, `requested` and `revision` are set from here on.
//  4. injectRequired with the resolved revision's InjectorConfig (injection_policy.h).
//  5. Only if that says inject: a sidecar.istio.io/status annotation -> kAlreadyInjected, inject
//     false, with a warning when its "revision" names another revision than the resolved one.
Decision decide(const RoutingTable& table, const AdmissionRequest& request, const PodFacts& pod,
                const NamespaceLabels& ns);

}  // namespace revrouter
