// The webhook path scheme. A pod's AdmissionReview does not carry its namespace's labels, but the
// webhook that matched knows them, so each generated webhook encodes the namespace label values it
// selected on in its path, as key/value segments after /inject:
//
//   /inject[/ns-rev/<istio.io/rev value>][/ns-injection/<istio-injection value>]
//          [/cluster/<cluster id>][/net/<network>][/<key>/<value>...]
//
// `cluster` and `net` are Istio's own segments (ISTIO_META_CLUSTER_ID, ISTIO_META_NETWORK); other
// keys are passed on as Istio does (proxy env named by the upper-cased key). A path without ns-*
// segments means the namespace carries neither label (Istio's object webhooks).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "admission/decision.h"
#include "admission/result.h"

namespace revrouter {

struct PathSegment {
  std::string_view key, value;
};

struct WebhookPath {
  NamespaceLabels ns;
  std::string_view cluster;  // "cluster" segment
  std::string_view network;  // "net" segment
  static constexpr std::size_t kMaxExtra = 8;
  std::array<PathSegment, kMaxExtra> extra{};  // other key/value segments, in path order
  std::size_t extra_count = 0;
};

// `path` is the request target without its query string. Errors (code "bad_path"): not under
// /inject, a key without a value, an empty or repeated key, percent-encoding, too many segments.
Result<WebhookPath> parse_webhook_path(std::string_view path);

}  // namespace revrouter
