// Request bodies for the load generator: AdmissionReviews (recorded ones, or a built-in typical
// pod CREATE) cut once around their request.uid, so each request's bytes are the HTTP head and
// body prefix, a fresh uid and the body suffix copied into a reused buffer: no JSON per request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"

namespace revrouter::loadtest {

// Every uid is 36 characters (UUID text), so each body has one Content-Length whatever its uid.
inline constexpr std::size_t kUidSize = 36;

// Writes the uid of request `index` into out[0..36): UUID layout with version-4 and variant bits,
// the low 48 bits of `run_id` in the first 12 hex digits and `index` in the remaining 18 (so uids
// differ between runs and between requests of a run, and sort by index within a run).
void format_uid(std::uint64_t run_id, std::uint64_t index, char* out);
std::string make_uid(std::uint64_t run_id, std::uint64_t index);

// A review with its request.uid cut out: body = prefix + uid + suffix.
struct BodyTemplate {
  std::string source;  // where it came from, for messages: "built-in", "file:line"...
  std::string path;    // the webhook path it is sent to (no query)
  std::string prefix;  // up to and including the opening quote of request.uid's value
  std::string suffix;  // from the closing quote on
  std::size_t body_size() const { return prefix.size() + kUidSize + suffix.size(); }
};

// Cuts `review` (an AdmissionReview, JSON text) around request.uid; a review without a uid gets
// one. Errors (code "bad_input"): not JSON, or no request object.
Result<BodyTemplate> make_body_template(std::string_view review, std::string source,
                                        std::string path);

// The built-in review (tools/loadtest_default_review.cc) and the path it is sent to: a namespace
// labelled istio-injection=enabled, so the example routing table injects it.
std::string_view default_review();
inline constexpr std::string_view kDefaultPath = "/inject/ns-injection/enabled";

// A whole HTTP/1.1 request with the uid cut out: head + body prefix, then the uid, then the rest.
struct RequestTemplate {
  std::string head;    // request line, headers, blank line, body prefix
  std::string suffix;  // body suffix
  std::size_t size() const { return head.size() + kUidSize + suffix.size(); }
};

// `target` is the request target (path and query); `host` the Host header value.
RequestTemplate make_request_template(const BodyTemplate& body, std::string_view target,
                                      std::string_view host);

// Writes the request with `uid` (kUidSize characters) into `out`, reusing its capacity.
void render_request(const RequestTemplate& request, std::string_view uid, std::string& out);

// Reads recorded reviews (files or directories, as `revrouter replay` reads them; plain Pods are
// wrapped into reviews) into templates. `path`: the webhook path for inputs that carry none.
struct BodySet {
  std::vector<BodyTemplate> bodies;
  std::vector<std::string> errors;  // "source: message", one per unreadable record
};
BodySet load_bodies(const std::vector<std::string>& inputs, const std::string& path);

}  // namespace revrouter::loadtest
