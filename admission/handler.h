// handle_admission: one injection request from path and body bytes to response bytes, for the
// revisions revrouter answers itself (local backend, and every "no sidecar" answer). A plain
// function, separate from the session that does the I/O; the server calls it on its I/O thread.
#pragma once

#include <rapidjson/allocators.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "admission/admission_review.h"
#include "admission/decision.h"
#include "admission/routing_config.h"
#include "admission/webhook_path.h"

namespace revrouter {

// Buffers reused across the requests of one thread: once warm, a request allocates nothing here.
class RequestScratch {
 public:
  RequestScratch();
  RequestScratch(const RequestScratch&) = delete;
  RequestScratch& operator=(const RequestScratch&) = delete;

  // A Document over this scratch's pool, emptied of the previous request's values.
  ReviewDocument& fresh_document();

  std::string patch;     // the JSON Patch of the current request
  std::string response;  // the response body of the current request

 private:
  // Enough for the values of a large pod (1,500 env vars); beyond it the pool mallocs chunks and
  // frees them at the next request.
  static constexpr std::size_t kPoolBytes = 256 * 1024;
  static constexpr std::size_t kStackBytes = 128 * 1024;
  std::unique_ptr<char[]> pool_buffer_;
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> pool_;
  std::unique_ptr<char[]> stack_buffer_;
  std::unique_ptr<rapidjson::MemoryPoolAllocator<>> stack_pool_;
  std::optional<ReviewDocument> doc_;
};

struct HandledRequest {
  int http_status = 200;          // 200 whenever an AdmissionReview answer was written
  std::string_view content_type;  // "application/json", or "text/plain" for HTTP-level errors
  std::string_view body;          // view into scratch.response
  std::string error_code;  // "" when the review was answered normally; set on error paths only
  Decision decision;
  // Set when the pod is to be injected by a proxy revision: nothing was written (body is empty)
  // and the answer has to come from this revision's istiod (decision.revision == forward_to).
  const Revision* forward_to = nullptr;
  ReviewVersion version = ReviewVersion::kV1;  // of the request, which the answer must match
  // For logs; views into the request body.
  std::string_view uid, namespace_, pod_name;
};

// `path` is the request target without the query string; `body` is parsed in place (writable,
// NUL-terminated at body[len], alive while the result is used).
//  - bad path: 404 text; not an AdmissionReview (not JSON, wrong apiVersion/kind, no request or
//    uid): 400 text with the specific message;
//  - a review with a uid is always answered with an AdmissionReview (200): allowed untouched for
//    anything but Pod CREATE, denied (code 400) for a Pod CREATE whose object is missing or
//    malformed, otherwise the decision: a patch when the revision is local and injection applies,
//    allowed without a patch (and a warning where it helps) when not; when the revision is a
//    proxy, nothing is written and `forward_to` names it.
// `substitute` (a failed proxy revision's fallback) replaces the decided revision when the pod is
// to be injected: the patch is built from its template (or `forward_to` names it when it is a
// proxy itself), the audit annotations say which revision it stands in for, and
// `substitute_warning` (why) is added to the warnings.
HandledRequest handle_admission(const RoutingTable& table, std::string_view path, char* body,
                                std::size_t len, RequestScratch& scratch,
                                const Revision* substitute = nullptr,
                                std::string_view substitute_warning = {});

}  // namespace revrouter
