#include "admission/upstream_review.h"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

namespace revrouter {
namespace {

constexpr std::string_view kCode = "upstream_invalid";

// Iterative parsing keeps a deeply nested answer off the C++ stack. Unlike a request, the answer is
// parsed without RapidJSON's encoding validation, which transcodes every character of the large
// base64 patch string: what revrouter passes on is checked with valid_utf8 instead (the patch,
// the status message, warnings and audit annotations), and the rest is compared to known text.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag;

// Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). Eight ASCII
// bytes at a time: a patch is almost all ASCII.
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    if (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

std::optional<Error> not_utf8(std::string_view what) {
  return Error{std::string(kCode), std::string(what) + " is not valid UTF-8"};
}

Error invalid(std::string message) { return Error{std::string(kCode), std::move(message)}; }

const JsonValue* present(const JsonValue* v) { return v == nullptr || v->IsNull() ? nullptr : v; }

// `s` in quotes for a message, cut at a UTF-8 character boundary: the text comes from istiod and
// may be long, and a message is itself echoed into JSON (logs, the failure answer).
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "\"";
  if (s.size() <= kMax) {
    out.append(s);
  } else {
    std::size_t n = kMax;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    out.append(s.substr(0, n)).append("...");
  }
  // The answer was parsed without encoding validation: never echo invalid UTF-8.
  if (!valid_utf8(out)) {
    for (char& c : out) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  out.push_back('"');
  return out;
}

std::string_view type_name(const JsonValue& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "unknown";
}

Error wrong_type(std::string_view path, std::string_view want, const JsonValue& v) {
  return invalid(std::string(path) + " is " + std::string(type_name(v)) + ", not " +
                 std::string(want));
}

// Validates the decoded patch as one JSON array without building a DOM. Its parse stack comes from
// the Document's pool (the per-request scratch), so a warm pool serves it without malloc.
std::optional<Error> check_patch_json(std::string_view patch, ReviewDocument& doc) {
  // The reader takes a NUL for the end of input, so "[]\0junk" would pass as "[]".
  if (std::memchr(patch.data(), '\0', patch.size()) != nullptr) {
    return invalid("response.patch is not a JSON array: it contains a NUL byte");
  }
  std::size_t first = 0;
  while (first < patch.size() && (patch[first] == ' ' || patch[first] == '\t' ||
                                  patch[first] == '\n' || patch[first] == '\r')) {
    ++first;
  }
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>
      reader(&doc.GetAllocator());
  rapidjson::MemoryStream is(patch.data(), patch.size());
  rapidjson::BaseReaderHandler<> handler;
  const rapidjson::ParseResult r = reader.Parse<kParseFlags>(is, handler);
  if (r.IsError()) {
    return invalid("response.patch is not a JSON array: not JSON at offset " +
                   std::to_string(r.Offset()) + ": " + rapidjson::GetParseError_En(r.Code()));
  }
  if (first == patch.size() || patch[first] != '[') {
    return invalid("response.patch is not a JSON array");
  }
  return std::nullopt;
}

// The response fields, checked one by one; every wrong type is its own message.
std::optional<Error> read_response(const JsonValue& response, ReviewDocument& doc,
                                   std::string& patch_out, UpstreamAnswer& a) {
  const JsonValue* allowed = present(member(&response, "allowed"));
  if (allowed == nullptr) return invalid("missing response.allowed");
  if (!allowed->IsBool()) return wrong_type("response.allowed", "a boolean", *allowed);
  a.allowed = allowed->GetBool();

  std::string_view encoded;
  if (const JsonValue* patch = present(member(&response, "patch"))) {
    if (!patch->IsString()) return wrong_type("response.patch", "a base64 string", *patch);
    encoded = sv(*patch);
  }
  // As the apiserver (v1): a patchType needs a patch and a patch needs patchType, and JSONPatch is
  // the only type there is. v1beta1 apiservers assumed JSONPatch; istiod sets it for both.
  const JsonValue* patch_type = present(member(&response, "patchType"));
  if (patch_type != nullptr) {
    if (!patch_type->IsString()) return wrong_type("response.patchType", "a string", *patch_type);
    if (sv(*patch_type) != "JSONPatch") {
      return invalid("patchType " + quoted(sv(*patch_type)) + " is not JSONPatch");
    }
    if (encoded.empty()) return invalid("response.patchType is set without a response.patch");
  } else if (!encoded.empty()) {
    return invalid("response.patch is set without patchType \"JSONPatch\"");
  }
  if (!encoded.empty()) {
    patch_out.clear();
    if (!decode_base64(encoded, patch_out)) {
      return invalid("response.patch is not valid base64");
    }
    if (!valid_utf8(patch_out)) return not_utf8("response.patch");
    if (auto e = check_patch_json(patch_out, doc)) return e;
    a.patch = patch_out;
    a.patch_base64 = encoded;
  }

  if (const JsonValue* status = present(member(&response, "status"))) {
    if (!status->IsObject()) return wrong_type("response.status", "an object", *status);
    if (const JsonValue* code = present(member(status, "code"))) {
      if (!code->IsInt()) return wrong_type("response.status.code", "a 32-bit integer", *code);
      a.status_code = code->GetInt();
    }
    if (const JsonValue* message = present(member(status, "message"))) {
      if (!message->IsString()) return wrong_type("response.status.message", "a string", *message);
      a.status_message = sv(*message);
      if (!valid_utf8(a.status_message)) return not_utf8("response.status.message");
    }
  }

  if (const JsonValue* warnings = present(member(&response, "warnings"))) {
    if (!warnings->IsArray()) {
      return wrong_type("response.warnings", "an array of strings", *warnings);
    }
    a.warnings.reserve(warnings->Size());
    for (rapidjson::SizeType i = 0; i < warnings->Size(); ++i) {
      const JsonValue& w = (*warnings)[i];
      if (!w.IsString()) {
        return wrong_type("response.warnings[" + std::to_string(i) + "]", "a string", w);
      }
      if (!valid_utf8(sv(w))) return not_utf8("response.warnings[" + std::to_string(i) + "]");
      a.warnings.push_back(sv(w));
    }
  }

  if (const JsonValue* audit = present(member(&response, "auditAnnotations"))) {
    if (!audit->IsObject()) {
      return wrong_type("response.auditAnnotations", "an object of strings", *audit);
    }
    a.audit_annotations.reserve(audit->MemberCount());
    for (auto it = audit->MemberBegin(); it != audit->MemberEnd(); ++it) {
      if (!it->value.IsString()) {
        return wrong_type("response.auditAnnotations[" + quoted(sv(it->name)) + "]", "a string",
                          it->value);
      }
      if (!valid_utf8(sv(it->name)) || !valid_utf8(sv(it->value))) {
        return not_utf8("response.auditAnnotations[" + quoted(sv(it->name)) + "]");
      }
      a.audit_annotations.push_back(AuditAnnotation{sv(it->name), sv(it->value)});
    }
  }
  return std::nullopt;
}

}  // namespace

Result<UpstreamAnswer> check_upstream_review(char* body, std::size_t len, ReviewVersion version,
                                             std::string_view uid, ReviewDocument& doc,
                                             std::string& patch_out) {
  // In-situ parsing stops at the first NUL; one inside the body would silently truncate it.
  if (const void* nul = std::memchr(body, '\0', len)) {
    return invalid("not JSON at offset " + std::to_string(static_cast<const char*>(nul) - body) +
                   ": a NUL byte");
  }
  doc.ParseInsitu<kParseFlags>(body);
  if (doc.HasParseError()) {
    return invalid("not JSON at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
                   rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return wrong_type("the answer", "an AdmissionReview object", doc);

  const JsonValue* kind = present(member(&doc, "kind"));
  if (kind == nullptr) return invalid("missing kind");
  if (!kind->IsString()) return wrong_type("kind", "a string", *kind);
  if (sv(*kind) != "AdmissionReview") {
    return invalid("kind " + quoted(sv(*kind)) + " is not AdmissionReview");
  }
  const std::string_view want_version = api_version_string(version);
  const JsonValue* api_version = present(member(&doc, "apiVersion"));
  if (api_version == nullptr) return invalid("missing apiVersion");
  if (!api_version->IsString()) return wrong_type("apiVersion", "a string", *api_version);
  if (sv(*api_version) != want_version) {
    return invalid("apiVersion " + quoted(sv(*api_version)) + " does not match the request's " +
                   std::string(want_version));
  }

  const JsonValue* response = present(member(&doc, "response"));
  if (response == nullptr) return invalid("missing response");
  if (!response->IsObject()) return wrong_type("response", "an object", *response);
  const JsonValue* response_uid = present(member(response, "uid"));
  if (response_uid == nullptr) return invalid("missing response.uid");
  if (!response_uid->IsString()) return wrong_type("response.uid", "a string", *response_uid);
  if (sv(*response_uid) != uid) {
    return invalid("response.uid " + quoted(sv(*response_uid)) + " does not match the request's " +
                   quoted(uid));
  }

  UpstreamAnswer answer;
  if (auto e = read_response(*response, doc, patch_out, answer)) return std::move(*e);
  return answer;
}

namespace {

// Each base64 character's 6 bits already shifted to its place in the 24-bit group, one table per
// position in the quad, so a quad decodes with four loads and three ORs. Invalid characters carry
// bit 24, which survives the ORs: one test per quad finds any of them.
constexpr std::uint32_t kBad = 1u << 24;

struct Base64Decode {
  std::uint32_t d[4][256];
  constexpr Base64Decode() : d() {
    for (int pos = 0; pos < 4; ++pos) {
      for (int c = 0; c < 256; ++c) d[pos][c] = kBad;
    }
    constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (std::uint32_t v = 0; v < 64; ++v) {
      const auto c = static_cast<unsigned char>(kAlphabet[v]);
      d[0][c] = v << 18;
      d[1][c] = v << 12;
      d[2][c] = v << 6;
      d[3][c] = v;
    }
  }
};
constexpr Base64Decode kBase64Decode;

inline std::uint32_t quad(const unsigned char* p) {
  return kBase64Decode.d[0][p[0]] | kBase64Decode.d[1][p[1]] | kBase64Decode.d[2][p[2]] |
         kBase64Decode.d[3][p[3]];
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  const std::size_t n = in.size();
  if (n % 4 != 0) return false;
  if (n == 0) return true;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t start = out.size();
  out.resize(start + n / 4 * 3);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + start);
  auto fail = [&] {
    out.resize(start);
    return false;
  };
  // Every quad but the last: no padding allowed.
  const std::size_t body = n - 4;
  for (std::size_t i = 0; i < body; i += 4) {
    const std::uint32_t v = quad(p + i);
    if (v & kBad) return fail();
    o[0] = static_cast<unsigned char>(v >> 16);
    o[1] = static_cast<unsigned char>(v >> 8);
    o[2] = static_cast<unsigned char>(v);
    o += 3;
  }
  // The last quad: "xxxx", "xxx=" or "xx==". The bits padding drops must be zero (RFC 4648 3.5):
  // every encoder writes them so, and accepting others would give one patch several spellings.
  const unsigned char* q = p + body;
  std::size_t keep = 3;
  std::uint32_t v;
  if (q[3] != '=') {
    v = quad(q);
  } else if (q[2] != '=') {
    v = kBase64Decode.d[0][q[0]] | kBase64Decode.d[1][q[1]] | kBase64Decode.d[2][q[2]];
    if (v & 0xff) return fail();
    keep = 2;
  } else {
    v = kBase64Decode.d[0][q[0]] | kBase64Decode.d[1][q[1]];
    if (v & 0xffff) return fail();
    keep = 1;
  }
  if (v & kBad) return fail();
  o[0] = static_cast<unsigned char>(v >> 16);
  if (keep > 1) o[1] = static_cast<unsigned char>(v >> 8);
  if (keep > 2) o[2] = static_cast<unsigned char>(v);
  out.resize(start + body / 4 * 3 + keep);
  return true;
}

void write_upstream_answer(const UpstreamAnswer& answer, ReviewVersion version,
                           std::string_view uid, std::span<const AuditAnnotation> extra_audit,
                           std::span<const std::string_view> extra_warnings, std::string& out) {
  AdmissionResponse r;
  r.version = version;
  r.uid = uid;
  r.allowed = answer.allowed;
  r.patch = answer.patch;
  r.patch_base64 = answer.patch_base64;
  r.status_code = answer.status_code;
  r.status_message = answer.status_message;

  // Merged lists only when both sides have entries; otherwise one side is used as it is.
  std::vector<std::string_view> warnings;
  if (extra_warnings.empty()) {
    r.warnings = answer.warnings;
  } else if (answer.warnings.empty()) {
    r.warnings = extra_warnings;
  } else {
    warnings.reserve(answer.warnings.size() + extra_warnings.size());
    warnings.insert(warnings.end(), answer.warnings.begin(), answer.warnings.end());
    warnings.insert(warnings.end(), extra_warnings.begin(), extra_warnings.end());
    r.warnings = warnings;
  }

  std::vector<AuditAnnotation> audit;
  if (extra_audit.empty()) {
    r.audit_annotations = answer.audit_annotations;
  } else if (answer.audit_annotations.empty()) {
    r.audit_annotations = extra_audit;
  } else {
    audit.reserve(answer.audit_annotations.size() + extra_audit.size());
    for (const AuditAnnotation& a : answer.audit_annotations) {
      bool replaced = false;
      for (const AuditAnnotation& e : extra_audit) {
        if (e.key == a.key) {
          replaced = true;
          break;
        }
      }
      if (!replaced) audit.push_back(a);
    }
    audit.insert(audit.end(), extra_audit.begin(), extra_audit.end());
    r.audit_annotations = audit;
  }

  write_admission_review(r, out);
}

}  // namespace revrouter
