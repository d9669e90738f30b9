// The workload a pod belongs to, derived as Istio's GetDeployMetaFromPod does (a ReplicaSet's
// pod-template-hash suffix stripped to the Deployment name, CronJob from Job names, ...). It keys the
// weighted split and fills ISTIO_META_WORKLOAD_NAME / ISTIO_META_OWNER.
#pragma once

#include <string_view>

#include "admission/pod.h"

namespace revrouter {

struct Workload {
  std::string_view name;         // e.g. "reviews-v1"
  std::string_view kind;         // "Deployment", "ReplicaSet", "CronJob", "Pod", ...
  std::string_view api_version;  // "apps/v1", "batch/v1", "v1"
  // What a weighted split hashes when non-empty (else `name`): the controlling owner's name where
  // Istio's heuristic keeps the pod's own name although a controller owns it. StatefulSet pods are
  // named by their controller (no generateName), so Istio names each replica after itself; keying
  // the split on the StatefulSet keeps its replicas on one revision.
  std::string_view split_key;
};

// Views into the pod or static strings: nothing allocated. Without a controller Istio falls back to
// metadata.name (empty at CREATE for generated pods); this uses generateName first, then the name.
Workload workload_of(const PodFacts& pod);

}  // namespace revrouter
