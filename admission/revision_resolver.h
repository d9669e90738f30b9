// Revision resolution: which tag or revision a pod selects (Istio's webhook selectors, or
// pod-override), and which revision that resolves to through the tag table, weighted splits
// assigning whole workloads.
#pragma once

#include <cstdint>
#include <string_view>

#include "admission/decision.h"
#include "admission/pod.h"
#include "admission/routing_config.h"
#include "admission/workload.h"

namespace revrouter {

struct Route {
  RouteSource source = RouteSource::kNone;
  std::string_view requested;            // tag or revision name; empty when source is kNone
  Reason reason_if_none = Reason::kNotSelected;  // why nothing was selected
};

// Which of Istio's webhooks (rev.namespace / rev.object / namespace / object) would match, in the
// table's precedence mode.
Route route(const RoutingTable& table, const NamespaceLabels& ns, const StringMap& pod_labels);

// The revision a tag or revision name resolves to for this workload; null when unknown. A weighted
// split hashes namespace + workload name (weighted rendezvous hashing), so replicas never split and
// raising a revision's weight never moves a workload off it. Workload::split_key replaces the name
// when set.
const Revision* resolve(const RoutingTable& table, std::string_view requested,
                        std::string_view ns, const Workload& workload);

}  // namespace revrouter
