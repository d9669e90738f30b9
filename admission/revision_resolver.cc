#include "admission/revision_resolver.h"

#include <cmath>
#include <cstddef>
#include <optional>

namespace revrouter {
namespace {

constexpr std::string_view kRevLabel = "istio.io/rev";
constexpr std::string_view kInjectLabel = "sidecar.istio.io/inject";

Route selected(RouteSource source, std::string_view requested) {
  return Route{.source = source, .requested = requested, .reason_if_none = Reason::kNotSelected};
}
Route not_selected(Reason why) {
  return Route{.source = RouteSource::kNone, .requested = {}, .reason_if_none = why};
}

// FNV-1a, 64 bit.
constexpr std::uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

// splitmix64's finaliser: FNV-1a alone mixes its last bytes poorly into the high bits.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Weighted rendezvous score of one revision for one workload: weight / -ln(u), u uniform in (0,1).
// Each revision's score depends only on its own weight, so raising a weight can only make that
// revision win more workloads, never move one away from it. '/' cannot occur in Kubernetes names,
// so the hashed text is unambiguous.
double score(std::string_view ns, std::string_view key, std::string_view revision,
             std::uint32_t weight) {
  std::uint64_t h = fnv1a(kFnvOffset, ns);
  h = fnv1a(h, "/");
  h = fnv1a(h, key);
  h = fnv1a(h, "/");
  h = fnv1a(h, revision);
  // The top 53 bits, offset by half a step: strictly inside (0,1), so the log is finite and < 0.
  const double u = (static_cast<double>(mix(h) >> 11) + 0.5) * 0x1.0p-53;
  return static_cast<double>(weight) / -std::log(u);
}

}  // namespace

// Mode kIstio mirrors the selectors of Istio's injector webhooks (istio-discovery chart,
// templates/revision-tags-mwc.yaml with revisionLabelPreference "namespace"; mutatingwebhook.yaml):
//   rev.namespace: ns istio.io/rev In [tag], ns istio-injection DoesNotExist
//   rev.object:    ns istio.io/rev and istio-injection DoesNotExist, pod istio.io/rev In [tag]
//   namespace:     ns istio-injection In [enabled]                          (default tag only)
//   object:        ns labels DoesNotExist, pod inject In [true], pod istio.io/rev DoesNotExist
// and every one requires pod label sidecar.istio.io/inject NotIn [false]. Selectors see labels only
// and compare exactly. Mode kPodOverride lets the pod's istio.io/rev win over the namespace's
// labels unless the namespace opted out (istio-injection=disabled).
Route route(const RoutingTable& table, const NamespaceLabels& ns, const StringMap& pod_labels) {
  if (ns.injection == "disabled") return not_selected(Reason::kNamespaceInjectionDisabled);
  const std::optional<std::string_view> pod_inject = pod_labels.get(kInjectLabel);
  if (pod_inject == "false") return not_selected(Reason::kPodInjectLabelFalse);
  const std::optional<std::string_view> pod_rev = pod_labels.get(kRevLabel);

  if (table.mode == PrecedenceMode::kPodOverride && pod_rev) {
    return selected(RouteSource::kPodRev, *pod_rev);
  }
  if (ns.injection) {
    // Any istio-injection label excludes the namespace from every webhook but the default one,
    // and that one wants exactly "enabled".
    if (*ns.injection == "enabled") {
      return selected(RouteSource::kNamespaceInjection, table.default_tag);
    }
    return not_selected(Reason::kNotSelected);
  }
  if (ns.rev) return selected(RouteSource::kNamespaceRev, *ns.rev);
  if (pod_rev) return selected(RouteSource::kPodRev, *pod_rev);
  if (pod_inject == "true") return selected(RouteSource::kPodInjectLabel, table.default_tag);
  return not_selected(Reason::kNotSelected);
}

const Revision* resolve(const RoutingTable& table, std::string_view requested, std::string_view ns,
                        const Workload& workload) {
  if (const Tag* tag = table.find_tag(requested); tag != nullptr) {
    const std::string_view key = workload.split_key.empty() ? workload.name : workload.split_key;
    const Revision* best = nullptr;
    double best_score = 0;
    for (const WeightedRevision& target : tag->targets) {
      if (target.weight == 0 || target.revision >= table.revisions.size()) continue;
      const Revision& rev = table.revisions[target.revision];
      if (tag->targets.size() == 1) return &rev;  // a plain alias: nothing to hash
      const double s = score(ns, key, rev.name, target.weight);
      if (best == nullptr || s > best_score) {  // ties (never seen in practice): first listed
        best = &rev;
        best_score = s;
      }
    }
    return best;
  }
  return table.find_revision(requested);
}

}  // namespace revrouter
