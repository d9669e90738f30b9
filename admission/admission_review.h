// The AdmissionReview codec: parses admission.k8s.io/v1 and v1beta1 requests in place (no copy of
// the pod) and writes responses in the request's apiVersion. The hot path of every request.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "admission/cpu.h"
#include "admission/json_view.h"
#include "admission/result.h"

namespace revrouter {

enum class ReviewVersion { kV1, kV1beta1 };
std::string_view api_version_string(ReviewVersion v);  // "admission.k8s.io/v1", ...

struct GroupVersionKind {
  std::string_view group, version, kind;
};

// Views into the parsed body: valid while the body buffer and the Document live.
struct AdmissionRequest {
  ReviewVersion version = ReviewVersion::kV1;
  std::string_view uid;
  GroupVersionKind kind;          // request.kind
  std::string_view resource;      // request.resource.resource ("pods")
  std::string_view sub_resource;  // request.subResource
  std::string_view operation;     // CREATE, UPDATE, DELETE, CONNECT
  std::string_view namespace_;    // request.namespace
  std::string_view name;          // request.name (often empty on CREATE)
  bool dry_run = false;
  const JsonValue* object = nullptr;  // request.object, null when absent or JSON null
  // A field the core reads (request.kind, resource, operation, ...) had the wrong type. The review
  // still has a uid, so it is answered in-protocol with a denial carrying this error.
  std::optional<Error> malformed;

  // A Pod CREATE (kind Pod in core/v1 or resource pods, no sub-resource): the only request that
  // revrouter mutates. Everything else is allowed untouched.
  bool is_pod_create() const;
};

// Error codes (Error::code), one per failure class; each is also a metrics label.
namespace review_error {
inline constexpr std::string_view kNotJson = "not_json";
inline constexpr std::string_view kNotAdmissionReview = "not_admission_review";
inline constexpr std::string_view kUnsupportedApiVersion = "unsupported_api_version";
inline constexpr std::string_view kMissingRequest = "missing_request";
inline constexpr std::string_view kMissingUid = "missing_uid";
inline constexpr std::string_view kBadField = "bad_field";         // a field the core reads has the wrong type
inline constexpr std::string_view kMissingObject = "missing_object";  // Pod CREATE without request.object
inline constexpr std::string_view kNotAPod = "not_a_pod";          // request.object is not a Pod
}  // namespace review_error

// Parses `body` in place (RapidJSON in-situ): the buffer must be writable, NUL-terminated at
// body[len], and outlive the result. `doc` is reused across requests by the caller.
Result<AdmissionRequest> parse_admission_review(char* body, std::size_t len, ReviewDocument& doc);

// Whether the body ends inside a UTF-8 sequence that RapidJSON's UTF-8 check would finish reading
// past the NUL terminator (it reads a whole sequence before judging it): a 3- or 4-byte lead as the
// last byte, or a 4-byte lead as the one before. Such a body is never JSON; parse_admission_review
// rejects it before RapidJSON parses, and parse_review_json must not be given one.
bool ends_inside_utf8_sequence(const char* body, std::size_t len);

// The JSON step of parse_admission_review: json_to_document (json_reader.h) builds the document;
// for a body it declines, RapidJSON parses in situ, which gives the error: its recursive parser
// when the body has at most kRecursiveParseOpenLimit '{' and '[' bytes (it cannot nest deeper than
// that), its iterative one otherwise, which keeps a 100k-deep document off the stack. `doc` holds
// the result or the error.
inline constexpr std::size_t kRecursiveParseOpenLimit = 4096;
void parse_review_json(char* body, std::size_t len, ReviewDocument& doc);
// RapidJSON's parse alone, recursive or iterative: for tests that compare the three parsers.
void parse_review_json_with_rapidjson(char* body, std::size_t len, ReviewDocument& doc,
                                      bool recursive);

struct AuditAnnotation {
  std::string_view key, value;
};

struct AdmissionResponse {
  ReviewVersion version = ReviewVersion::kV1;
  std::string_view uid;
  bool allowed = true;
  std::string_view patch;  // the JSON Patch document (raw JSON, base64-encoded on output); empty: none
  // The same patch already base64-encoded (an upstream's, checked): written as it is, instead of
  // encoding `patch` again.
  std::string_view patch_base64;
  int status_code = 0;     // with a message: response.status {code, message} (denials)
  std::string_view status_message;
  std::span<const std::string_view> warnings;
  std::span<const AuditAnnotation> audit_annotations;
};

// Serialises the response AdmissionReview into `out` (cleared first, capacity kept).
void write_admission_review(const AdmissionResponse& response, std::string& out);

// Standard base64 (RFC 4648, with padding) of `in`, appended to `out`.
void append_base64(std::string_view in, std::string& out);
// The same using SIMD up to `level` (and no higher than the CPU has): for tests of each level.
void append_base64(std::string_view in, std::string& out, SimdLevel level);

}  // namespace revrouter
