// Istio's injectRequired (pkg/kube/inject/inject.go): hostNetwork, ignored namespaces, the
// sidecar.istio.io/inject label (beats the annotation), the revision's policy and its
// never/always-inject selectors.
#pragma once

#include <string>
#include <string_view>

#include "admission/decision.h"
#include "admission/pod.h"
#include "admission/routing_config.h"

namespace revrouter {

bool is_ignored_namespace(std::string_view ns);

struct InjectVerdict {
  bool inject = false;
  Reason reason = Reason::kPolicyDisabled;
  std::string warning;  // e.g. an inject value that strict parsing ignores
};

// The part of injectRequired that depends on the revision's injector config: label/annotation,
// policy, neverInjectSelector (checked first), alwaysInjectSelector.
InjectVerdict inject_required(const InjectorConfig& config, const PodFacts& pod);

}  // namespace revrouter
