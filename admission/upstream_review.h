// Checking an istiod's answer before passing it on: it must be an AdmissionReview response in the
// request's apiVersion, for the request's uid, with a base64 JSON Patch of patchType JSONPatch when
// it patches. What passes is re-written by revrouter's own writer with its audit annotations
// added, so the API server never sees bytes revrouter has not checked.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admission/admission_review.h"
#include "admission/result.h"

namespace revrouter {

// The fields of a checked answer; views into the parsed body or into `patch_out`.
struct UpstreamAnswer {
  bool allowed = true;
  std::string_view patch;  // the decoded JSON Patch (a JSON array), empty when none
  std::string_view patch_base64;  // the same as istiod sent it (checked to decode to `patch`)
  int status_code = 0;     // response.status.code, 0 when absent
  std::string_view status_message;
  std::vector<std::string_view> warnings;
  std::vector<AuditAnnotation> audit_annotations;
};

// Reads `body` in one pass without building a DOM (admission/json_reader.h: strict JSON, UTF-8) and
// checks it against the request (`version`, `uid`). Escaped strings are decoded in place, so `body`
// must be writable; the answer's views point into it. The decoded patch is written to `patch_out`. Errors have code
// "upstream_invalid" and say what is wrong: "not JSON at offset 12: ...", "apiVersion
// admission.k8s.io/v1beta1 does not match the request's admission.k8s.io/v1", "response.uid
// \"x\" does not match the request's \"y\"", "response.patch is not valid base64", "patchType
// \"Foo\" is not JSONPatch", "response.patch is not a JSON array", "missing response.allowed".
Result<UpstreamAnswer> check_upstream_review(char* body, std::size_t len, ReviewVersion version,
                                             std::string_view uid, std::string& patch_out);

// Decodes standard base64 (RFC 4648 with padding; no whitespace) appended to `out`; false on any
// invalid character, length or padding.
bool decode_base64(std::string_view in, std::string& out);

// The response revrouter sends for a checked answer: `answer` with `extra_audit` appended to its
// audit annotations (an upstream key that revrouter also sets is replaced by revrouter's) and
// `extra_warnings` appended to its warnings.
void write_upstream_answer(const UpstreamAnswer& answer, ReviewVersion version,
                           std::string_view uid, std::span<const AuditAnnotation> extra_audit,
                           std::span<const std::string_view> extra_warnings, std::string& out);

}  // namespace revrouter
