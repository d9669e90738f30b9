#include "admission/admission_review.h"

#include <rapidjson/error/en.h>

#include <cstring>
#include <string>

#include "admission/json_out.h"

namespace revrouter {
namespace {

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

// Iterative parsing keeps a 100k-deep document off the C++ stack; encoding validation turns invalid
// UTF-8 into a specific error instead of bytes we would later echo into a patch.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseInsituFlag;

// UTF-8 whose escapes decode as Go's encoding/json (kube-apiserver's and istiod's) decodes them: a
// lone surrogate ("\udc00", or "\ud800" not followed by a low one) becomes U+FFFD. RapidJSON 1.1
// writes a lone low surrogate as its own three bytes, which are not UTF-8: echoed in a uid they
// made the answer invalid JSON. (It rejects a lone high surrogate; that stays a 400.) An in-situ
// parse decodes with the source encoding, hence this type in that role.
struct GoUtf8 : rapidjson::UTF8<char> {
  static unsigned go_codepoint(unsigned cp) { return cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp; }
  template <typename OutputStream>
  static void Encode(OutputStream& os, unsigned codepoint) {
    rapidjson::UTF8<char>::Encode(os, go_codepoint(codepoint));
  }
  template <typename OutputStream>
  static void EncodeUnsafe(OutputStream& os, unsigned codepoint) {
    rapidjson::UTF8<char>::EncodeUnsafe(os, go_codepoint(codepoint));
  }
};

// Whether `body` may hold a \u escape of a low surrogate (U+DC00..U+DFFF), lone or in a pair. Only
// such a body needs GoUtf8: RapidJSON's parser for plain UTF-8 compiles to faster code (about 12%
// on a 100 KB pod), so the common body keeps it. An escaped backslash before "udc00" counts too;
// that only costs the slower parse.
bool may_have_low_surrogate_escape(const char* body, std::size_t len) {
  const char* p = body;
  const char* end = body + len;
  while (end - p >= 6) {
    p = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(end - p - 5)));
    if (p == nullptr) return false;
    if (p[1] == 'u' && (p[2] == 'd' || p[2] == 'D') &&
        ((p[3] >= 'c' && p[3] <= 'f') || (p[3] >= 'C' && p[3] <= 'F'))) {
      return true;
    }
    p += 2;  // past the escaped character, so "\\\\" is one escape
  }
  return false;
}

Error error(std::string_view code, std::string message) {
  return Error{std::string(code), std::move(message)};
}

const JsonValue* present(const JsonValue* v) { return v == nullptr || v->IsNull() ? nullptr : v; }

// Reads an optional string field of the request; a wrong type is recorded once as `malformed`.
std::string_view read_string(const JsonValue* obj, std::string_view key, std::string_view path,
                             std::optional<Error>& malformed) {
  const JsonValue* v = present(member(obj, key));
  if (v == nullptr) return {};
  if (!v->IsString()) {
    if (!malformed) {
      malformed = error(review_error::kBadField, std::string(path) + ": expected a string");
    }
    return {};
  }
  return sv(*v);
}

const JsonValue* read_object(const JsonValue* obj, std::string_view key, std::string_view path,
                             std::optional<Error>& malformed) {
  const JsonValue* v = present(member(obj, key));
  if (v == nullptr) return nullptr;
  if (!v->IsObject()) {
    if (!malformed) {
      malformed = error(review_error::kBadField, std::string(path) + ": expected an object");
    }
    return nullptr;
  }
  return v;
}

}  // namespace

std::string_view api_version_string(ReviewVersion v) {
  return v == ReviewVersion::kV1 ? kV1 : kV1beta1;
}

bool AdmissionRequest::is_pod_create() const {
  return kind.kind == "Pod" && kind.group.empty() && (resource.empty() || resource == "pods") &&
         sub_resource.empty() && operation == "CREATE";
}

Result<AdmissionRequest> parse_admission_review(char* body, std::size_t len, ReviewDocument& doc) {
  // In-situ parsing stops at the first NUL; one inside the body would silently truncate it.
  if (std::memchr(body, '\0', len) != nullptr) {
    return error(review_error::kNotJson, "body is not JSON: it contains a NUL byte");
  }
  if (may_have_low_surrogate_escape(body, len)) {
    rapidjson::GenericInsituStringStream<GoUtf8> in(body);
    doc.ParseStream<kParseFlags, GoUtf8>(in);
  } else {
    rapidjson::InsituStringStream in(body);
    doc.ParseStream<kParseFlags>(in);
  }
  if (doc.HasParseError()) {
    return error(
        review_error::kNotJson,
        "body is not JSON: " + std::string(rapidjson::GetParseError_En(doc.GetParseError())) +
            " (at byte " + std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) {
    return error(review_error::kNotAdmissionReview,
                 "body is not an AdmissionReview: not a JSON object");
  }
  const auto kind = string_member(&doc, "kind");
  const auto api_version = string_member(&doc, "apiVersion");
  if (!kind || *kind != "AdmissionReview" || !api_version) {
    return error(review_error::kNotAdmissionReview,
                 "body is not an AdmissionReview: want kind \"AdmissionReview\" and an apiVersion");
  }
  AdmissionRequest req;
  if (*api_version == kV1) {
    req.version = ReviewVersion::kV1;
  } else if (*api_version == kV1beta1) {
    req.version = ReviewVersion::kV1beta1;
  } else {
    return error(review_error::kUnsupportedApiVersion,
                 "unsupported AdmissionReview apiVersion \"" + std::string(*api_version) +
                     "\": want admission.k8s.io/v1 or admission.k8s.io/v1beta1");
  }
  const JsonValue* request = present(member(&doc, "request"));
  if (request == nullptr || !request->IsObject()) {
    return error(review_error::kMissingRequest, "AdmissionReview has no request object");
  }
  const auto uid = string_member(request, "uid");
  if (!uid || uid->empty()) {
    return error(review_error::kMissingUid, "AdmissionReview request has no uid");
  }
  req.uid = *uid;

  auto& bad = req.malformed;
  const JsonValue* gvk = read_object(request, "kind", "request.kind", bad);
  req.kind.group = read_string(gvk, "group", "request.kind.group", bad);
  req.kind.version = read_string(gvk, "version", "request.kind.version", bad);
  req.kind.kind = read_string(gvk, "kind", "request.kind.kind", bad);
  const JsonValue* resource = read_object(request, "resource", "request.resource", bad);
  req.resource = read_string(resource, "resource", "request.resource.resource", bad);
  req.sub_resource = read_string(request, "subResource", "request.subResource", bad);
  req.operation = read_string(request, "operation", "request.operation", bad);
  req.namespace_ = read_string(request, "namespace", "request.namespace", bad);
  req.name = read_string(request, "name", "request.name", bad);
  if (const JsonValue* dry_run = present(member(request, "dryRun"))) {
    if (dry_run->IsBool()) {
      req.dry_run = dry_run->GetBool();
    } else if (!bad) {
      bad = error(review_error::kBadField, "request.dryRun: expected a boolean");
    }
  }
  req.object = present(member(request, "object"));
  return req;
}

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Both output characters for every 12-bit value: one lookup per two characters instead of one per
// character (8 KiB, built at compile time). The patch is the largest thing a response carries.
struct Base64Pairs {
  char pair[4096][2];
  constexpr Base64Pairs() : pair() {
    for (int v = 0; v < 4096; ++v) {
      pair[v][0] = kBase64Alphabet[v >> 6];
      pair[v][1] = kBase64Alphabet[v & 63];
    }
  }
};
constexpr Base64Pairs kBase64Pairs;

}  // namespace

void append_base64(std::string_view in, std::string& out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  const std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    std::memcpy(o, kBase64Pairs.pair[v >> 12], 2);
    std::memcpy(o + 2, kBase64Pairs.pair[v & 0xfff], 2);
    o += 4;
  }
  if (i < n) {
    std::uint32_t v = std::uint32_t{p[i]} << 16;
    if (i + 1 < n) v |= std::uint32_t{p[i + 1]} << 8;
    *o++ = kBase64Alphabet[v >> 18];
    *o++ = kBase64Alphabet[(v >> 12) & 63];
    *o++ = i + 1 < n ? kBase64Alphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
}

void write_admission_review(const AdmissionResponse& r, std::string& out) {
  out.clear();
  out.append(R"({"apiVersion":)");
  append_json_string(out, api_version_string(r.version));
  out.append(R"(,"kind":"AdmissionReview","response":{"uid":)");
  append_json_string(out, r.uid);
  out.append(r.allowed ? R"(,"allowed":true)" : R"(,"allowed":false)");
  if (!r.patch_base64.empty() || !r.patch.empty()) {
    out.append(R"(,"patchType":"JSONPatch","patch":")");
    if (!r.patch_base64.empty()) {
      out.append(r.patch_base64);
    } else {
      append_base64(r.patch, out);
    }
    out.push_back('"');
  }
  if (!r.status_message.empty() || r.status_code != 0) {
    // metav1.Status: the apiserver shows `message` to whoever created the pod.
    out.append(R"(,"status":{"metadata":{},"status":)");
    out.append(r.allowed ? R"("Success")" : R"("Failure")");
    out.append(R"(,"message":)");
    append_json_string(out, r.status_message);
    out.append(R"(,"code":)");
    append_json_int(out, r.status_code);
    out.push_back('}');
  }
  if (!r.warnings.empty()) {
    out.append(R"(,"warnings":[)");
    for (std::size_t i = 0; i < r.warnings.size(); ++i) {
      if (i != 0) out.push_back(',');
      append_json_string(out, r.warnings[i]);
    }
    out.push_back(']');
  }
  if (!r.audit_annotations.empty()) {
    out.append(R"(,"auditAnnotations":{)");
    for (std::size_t i = 0; i < r.audit_annotations.size(); ++i) {
      if (i != 0) out.push_back(',');
      append_json_string(out, r.audit_annotations[i].key);
      out.push_back(':');
      append_json_string(out, r.audit_annotations[i].value);
    }
    out.push_back('}');
  }
  out.append("}}");
}

}  // namespace revrouter
