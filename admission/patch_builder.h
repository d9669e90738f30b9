// Local injection: the RFC 6902 JSON Patch that adds a revision's sidecar to a pod, emitted
// directly from the pod and the revision's template (no render-then-diff), linear in the pod's size.
#pragma once

#include <string>

#include "admission/admission_review.h"
#include "admission/pod.h"
#include "admission/result.h"
#include "admission/routing_config.h"
#include "admission/webhook_path.h"
#include "admission/workload.h"

namespace revrouter {

struct PatchInput {
  const AdmissionRequest& request;
  const PodFacts& pod;
  const Revision& revision;  // backend local, with its sidecar template loaded
  const WebhookPath& path;   // cluster / net / extra segments
  const Workload& workload;
};

// Writes the JSON Patch (a JSON array of operations) into `out`, cleared first, capacity kept.
// Errors: code "bad_field", naming the JSON path of a pod field with the wrong type.
Status build_injection_patch(const PatchInput& input, std::string& out);

}  // namespace revrouter
