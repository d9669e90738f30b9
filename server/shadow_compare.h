// Shadow mode's verdict: does revrouter's local patch give the same pod as the revision's istiod?
// Both patches are applied to the pod of the request and the two resulting pods compared; the
// difference is reported as a short RFC 6902 diff (from istiod's pod to ours). Runs after the
// answer has been sent, never on the answer's path.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "admission/result.h"

namespace revrouter::server {

struct ShadowVerdict {
  bool match = false;
  std::size_t differences = 0;  // operations in the full diff
  // At most `max_ops` diff operations as compact JSON, each value cut to 120 characters, e.g.
  // [{"op":"replace","path":"/spec/containers/1/image","value":"proxyv2:1.24.1"}] and a
  // "(+N more)" suffix when cut.
  std::string diff;
};

// `review` is the original request body (AdmissionReview JSON with request.object); `local_patch`
// and `upstream_patch` are JSON Patch documents (raw JSON arrays; empty means no patch). Errors
// (code "shadow_compare") say which input is unusable: "request.object missing", "local patch
// does not apply: ...", "istiod patch does not apply: ...". Annotation values that carry
// revision-specific JSON (sidecar.istio.io/status) are compared as parsed JSON, not as text.
Result<ShadowVerdict> compare_shadow(std::string_view review, std::string_view local_patch,
                                     std::string_view upstream_patch, std::size_t max_ops = 5);

}  // namespace revrouter::server
