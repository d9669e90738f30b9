#include "admission/upstream_review.h"

#include <bit>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "admission/cpu.h"
#include "admission/json_reader.h"

namespace revrouter {
namespace {

constexpr std::string_view kCode = "upstream_invalid";

Error invalid(std::string message) { return Error{std::string(kCode), std::move(message)}; }

// `s` in quotes for a message, cut at a UTF-8 character boundary: the text comes from istiod and
// may be long, and a message is itself echoed into JSON (logs, the failure answer). The reader
// checked it is UTF-8.
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
  out.push_back('"');
  return out;
}

// One member's value as the reader saw it: its first token and, for scalars, its text. Absent and
// null are the same (as for the apiserver's decoder).
struct Field {
  JsonToken type = JsonToken::kNull;
  std::string_view raw;
  bool escaped = false;

  bool present() const { return type != JsonToken::kNull; }
  bool is(JsonToken t) const { return type == t; }
  // A string's text, its escapes decoded in place in the body (once: the bytes are then changed).
  std::string_view text() {
    if (escaped) {
      raw = decode_json_string_in_place(const_cast<char*>(raw.data()), raw.size());
      escaped = false;
    }
    return raw;
  }
};

Error wrong_type(std::string_view path, std::string_view want, const Field& f) {
  return invalid(std::string(path) + " is " + std::string(json_type_name(f.type)) + ", not " +
                 std::string(want));
}

// The members revrouter reads, from one pass over the answer. A repeated member counts once, with
// its last value, as Go's decoder (the apiserver's) takes it.
struct Answer {
  Field kind, api_version, response;
  Field uid, allowed, patch, patch_type, status;
  Field code, message;
  Field warnings, audit;
  // The first warning or audit annotation that is not a string (its index or key), if any.
  std::optional<std::size_t> bad_warning;
  Field bad_warning_value;
  std::optional<Field> bad_audit_key;
  Field bad_audit_value;
};

// Reads the value that begins with token `t` into `f` (containers are skipped here unless the
// caller descends into them).
Field scalar(const JsonReader& r, JsonToken t) { return Field{t, r.raw(), r.escaped()}; }

// Walks the answer once. False on invalid JSON (the reader says why).
bool read_answer(JsonReader& r, Answer& a, UpstreamAnswer& out) {
  auto members = [&](auto&& on_member) {
    for (;;) {
      JsonToken t = r.next();
      if (t == JsonToken::kObjectEnd) return true;
      if (t != JsonToken::kString) return false;  // kError: a member name is all that can follow
      const std::string_view key = r.raw();
      t = r.next();
      if (t == JsonToken::kError || !on_member(key, t)) return false;
    }
  };
  auto skip = [&](JsonToken t) { return r.skip_value(t) != JsonToken::kError; };

  JsonToken t = r.next();
  if (t == JsonToken::kError) return false;
  a.response.type = JsonToken::kEnd;  // marks "the answer is not an object" for the caller
  if (t != JsonToken::kObjectBegin) {
    a.kind = scalar(r, t);
    return skip(t) && r.next() == JsonToken::kEnd;
  }
  a.response = {};
  const bool ok = members([&](std::string_view key, JsonToken v) {
    if (key == "kind") {
      a.kind = scalar(r, v);
    } else if (key == "apiVersion") {
      a.api_version = scalar(r, v);
    } else if (key == "response") {
      a.response = scalar(r, v);
      if (v != JsonToken::kObjectBegin) return skip(v);
      a.uid = a.allowed = a.patch = a.patch_type = a.status = a.code = a.message = a.warnings =
          a.audit = Field{};
      a.bad_warning.reset();
      a.bad_audit_key.reset();
      out.warnings.clear();
      out.audit_annotations.clear();
      return members([&](std::string_view rkey, JsonToken rv) {
        if (rkey == "uid") {
          a.uid = scalar(r, rv);
        } else if (rkey == "allowed") {
          a.allowed = scalar(r, rv);
        } else if (rkey == "patch") {
          a.patch = scalar(r, rv);
        } else if (rkey == "patchType") {
          a.patch_type = scalar(r, rv);
        } else if (rkey == "status") {
          a.status = scalar(r, rv);
          a.code = a.message = Field{};
          if (rv != JsonToken::kObjectBegin) return skip(rv);
          return members([&](std::string_view skey, JsonToken sv) {
            if (skey == "code") {
              a.code = scalar(r, sv);
            } else if (skey == "message") {
              a.message = scalar(r, sv);
            }
            return skip(sv);
          });
        } else if (rkey == "warnings") {
          a.warnings = scalar(r, rv);
          out.warnings.clear();
          a.bad_warning.reset();
          if (rv != JsonToken::kArrayBegin) return skip(rv);
          for (std::size_t i = 0;; ++i) {
            const JsonToken w = r.next();
            if (w == JsonToken::kArrayEnd) return true;
            if (w == JsonToken::kError) return false;
            if (w == JsonToken::kString) {
              out.warnings.push_back(scalar(r, w).text());
            } else if (!a.bad_warning) {
              a.bad_warning = i;
              a.bad_warning_value = scalar(r, w);
            }
            if (!skip(w)) return false;
          }
        } else if (rkey == "auditAnnotations") {
          a.audit = scalar(r, rv);
          out.audit_annotations.clear();
          a.bad_audit_key.reset();
          if (rv != JsonToken::kObjectBegin) return skip(rv);
          // Keys are decoded only once the value is read: decoding moves no bytes the reader
          // has yet to see.
          return members([&](std::string_view akey, JsonToken av) {
            Field key{JsonToken::kString, akey, akey.find('\\') != std::string_view::npos};
            if (av == JsonToken::kString) {
              const std::string_view value = scalar(r, av).text();
              out.audit_annotations.push_back(AuditAnnotation{key.text(), value});
            } else if (!a.bad_audit_key) {
              a.bad_audit_key = key;
              a.bad_audit_value = scalar(r, av);
            }
            return skip(av);
          });
        }
        return skip(rv);
      });
    }
    return skip(v);
  });
  return ok && r.next() == JsonToken::kEnd;
}

// The patch: a base64 string that decodes to a JSON array (checked without building anything).
std::optional<Error> read_patch(std::string_view encoded, std::string& patch_out) {
  patch_out.clear();
  if (!decode_base64(encoded, patch_out)) return invalid("response.patch is not valid base64");
  const std::size_t first_byte = patch_out.find_first_not_of(" \t\r\n");
  if (first_byte != std::string::npos && patch_out[first_byte] == '[' && json_valid(patch_out)) {
    return std::nullopt;  // the common case in one pass; the reader below says what is wrong
  }
  JsonReader r(patch_out);
  const JsonToken first = r.next();
  if (first != JsonToken::kError && first != JsonToken::kArrayBegin) {
    return invalid("response.patch is not a JSON array");
  }
  if (first == JsonToken::kError || !r.validate()) {
    return invalid("response.patch is not a JSON array: not JSON at offset " +
                   std::to_string(r.offset()) + ": " + std::string(r.error()));
  }
  return std::nullopt;
}

// The response's fields, checked one by one; every wrong type is its own message.
std::optional<Error> check_response(Answer& a, std::string& patch_out, UpstreamAnswer& out) {
  if (!a.allowed.present()) return invalid("missing response.allowed");
  if (!a.allowed.is(JsonToken::kTrue) && !a.allowed.is(JsonToken::kFalse)) {
    return wrong_type("response.allowed", "a boolean", a.allowed);
  }
  out.allowed = a.allowed.is(JsonToken::kTrue);

  std::string_view encoded;
  if (a.patch.present()) {
    if (!a.patch.is(JsonToken::kString)) {
      return wrong_type("response.patch", "a base64 string", a.patch);
    }
    encoded = a.patch.text();
  }
  // As the apiserver (v1): a patchType needs a patch and a patch needs patchType, and JSONPatch is
  // the only type there is. v1beta1 apiservers assumed JSONPatch; istiod sets it for both.
  if (a.patch_type.present()) {
    if (!a.patch_type.is(JsonToken::kString)) {
      return wrong_type("response.patchType", "a string", a.patch_type);
    }
    const std::string_view type = a.patch_type.text();
    if (type != "JSONPatch") return invalid("patchType " + quoted(type) + " is not JSONPatch");
    if (encoded.empty()) return invalid("response.patchType is set without a response.patch");
  } else if (!encoded.empty()) {
    return invalid("response.patch is set without patchType \"JSONPatch\"");
  }
  if (!encoded.empty()) {
    if (auto e = read_patch(encoded, patch_out)) return e;
    out.patch = patch_out;
    out.patch_base64 = encoded;
  }

  if (a.status.present()) {
    if (!a.status.is(JsonToken::kObjectBegin)) {
      return wrong_type("response.status", "an object", a.status);
    }
    if (a.code.present()) {
      int code = 0;
      const std::string_view raw = a.code.raw;
      const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), code);
      if (!a.code.is(JsonToken::kNumber) || ec != std::errc() || end != raw.data() + raw.size()) {
        return wrong_type("response.status.code", "a 32-bit integer", a.code);
      }
      out.status_code = code;
    }
    if (a.message.present()) {
      if (!a.message.is(JsonToken::kString)) {
        return wrong_type("response.status.message", "a string", a.message);
      }
      out.status_message = a.message.text();
    }
  }

  if (a.warnings.present()) {
    if (!a.warnings.is(JsonToken::kArrayBegin)) {
      return wrong_type("response.warnings", "an array of strings", a.warnings);
    }
    if (a.bad_warning) {
      return wrong_type("response.warnings[" + std::to_string(*a.bad_warning) + "]", "a string",
                        a.bad_warning_value);
    }
  }
  if (a.audit.present()) {
    if (!a.audit.is(JsonToken::kObjectBegin)) {
      return wrong_type("response.auditAnnotations", "an object of strings", a.audit);
    }
    if (a.bad_audit_key) {
      return wrong_type("response.auditAnnotations[" + quoted(a.bad_audit_key->text()) + "]",
                        "a string", a.bad_audit_value);
    }
  }
  return std::nullopt;
}

}  // namespace

Result<UpstreamAnswer> check_upstream_review(char* body, std::size_t len, ReviewVersion version,
                                             std::string_view uid, std::string& patch_out) {
  UpstreamAnswer out;
  Answer a;
  JsonReader r(std::string_view(body, len));
  if (!read_answer(r, a, out)) {
    return invalid("not JSON at offset " + std::to_string(r.offset()) + ": " +
                   std::string(r.error()));
  }
  if (a.response.is(JsonToken::kEnd)) {
    return wrong_type("the answer", "an AdmissionReview object", a.kind);
  }
  if (!a.kind.present()) return invalid("missing kind");
  if (!a.kind.is(JsonToken::kString)) return wrong_type("kind", "a string", a.kind);
  if (const std::string_view kind = a.kind.text(); kind != "AdmissionReview") {
    return invalid("kind " + quoted(kind) + " is not AdmissionReview");
  }
  const std::string_view want_version = api_version_string(version);
  if (!a.api_version.present()) return invalid("missing apiVersion");
  if (!a.api_version.is(JsonToken::kString)) {
    return wrong_type("apiVersion", "a string", a.api_version);
  }
  if (const std::string_view v = a.api_version.text(); v != want_version) {
    return invalid("apiVersion " + quoted(v) + " does not match the request's " +
                   std::string(want_version));
  }
  if (!a.response.present()) return invalid("missing response");
  if (!a.response.is(JsonToken::kObjectBegin)) {
    return wrong_type("response", "an object", a.response);
  }
  if (!a.uid.present()) return invalid("missing response.uid");
  if (!a.uid.is(JsonToken::kString)) return wrong_type("response.uid", "a string", a.uid);
  if (const std::string_view got = a.uid.text(); got != uid) {
    return invalid("response.uid " + quoted(got) + " does not match the request's " + quoted(uid));
  }
  if (auto e = check_response(a, patch_out, out)) return std::move(*e);
  return out;
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Sixteen characters to twelve bytes per step with SSSE3 (W. Mula and D. Lemire, "Faster Base64
// Encoding and Decoding Using AVX2 Instructions", 2018, the SSE variant): nibble lookups validate
// and translate, two multiply-adds pack the 6-bit values. Stops at the first block with any
// character outside the alphabet ('=' included) and returns how many characters it decoded, which
// the scalar loop continues from (and which reports the error). Never reads past `n`; writes 16
// bytes per block of which 12 count, so `o` needs 4 spare bytes.
__attribute__((target("ssse3"))) std::size_t decode_base64_ssse3(const unsigned char* p,
                                                                 std::size_t n, unsigned char* o) {
  const __m128i lut_lo = _mm_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                       0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m128i lut_hi = _mm_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                                       0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m128i lut_roll = _mm_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m128i nibble = _mm_set1_epi8(0x0F);
  const __m128i slash = _mm_set1_epi8('/');
  const __m128i pack = _mm_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16, o += 12) {
    const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(in, 4), nibble);
    const __m128i lo = _mm_and_si128(in, nibble);
    const __m128i bad = _mm_and_si128(_mm_shuffle_epi8(lut_lo, lo), _mm_shuffle_epi8(lut_hi, hi));
    if (_mm_movemask_epi8(_mm_cmpgt_epi8(bad, _mm_setzero_si128())) != 0) break;
    const __m128i roll = _mm_shuffle_epi8(lut_roll, _mm_add_epi8(_mm_cmpeq_epi8(in, slash), hi));
    const __m128i values = _mm_add_epi8(in, roll);
    const __m128i pairs = _mm_maddubs_epi16(values, _mm_set1_epi32(0x01400140));
    const __m128i words = _mm_madd_epi16(pairs, _mm_set1_epi32(0x00011000));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_shuffle_epi8(words, pack));
  }
  return i;
}
#endif

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  const std::size_t n = in.size();
  if (n % 4 != 0) return false;
  if (n == 0) return true;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t start = out.size();
  // Four spare bytes: a SIMD block is stored as 16 bytes for 12, a scalar quad as 4 for 3.
  out.resize(start + n / 4 * 3 + 4);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + start);
  auto fail = [&] {
    out.resize(start);
    return false;
  };
  // Every quad but the last: no padding allowed. Two quads per step, one test for both.
  const std::size_t body = n - 4;
  std::size_t i = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (have_ssse3()) {
    i = decode_base64_ssse3(p, body, o);
    o += i / 4 * 3;
  }
#endif
  for (; i + 8 <= body; i += 8) {
    const std::uint32_t v = quad(p + i);
    const std::uint32_t w = quad(p + i + 4);
    if ((v | w) & kBad) return fail();
    constexpr bool kLittle = std::endian::native == std::endian::little;
    const std::uint32_t a = kLittle ? __builtin_bswap32(v << 8) : v << 8;
    const std::uint32_t b = kLittle ? __builtin_bswap32(w << 8) : w << 8;
    std::memcpy(o, &a, 4);
    std::memcpy(o + 3, &b, 4);
    o += 6;
  }
  for (; i < body; i += 4) {
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
