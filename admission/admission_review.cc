#include "admission/admission_review.h"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstring>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "admission/cpu.h"
#include "admission/json_out.h"
#include "admission/json_reader.h"

namespace revrouter {
namespace {

constexpr std::string_view kV1 = "admission.k8s.io/v1";
constexpr std::string_view kV1beta1 = "admission.k8s.io/v1beta1";

// Encoding validation turns invalid UTF-8 into a specific error instead of bytes we would later
// echo into a patch. Iterative parsing (for bodies that could nest deep) keeps a 100k-deep document
// off the C++ stack.
constexpr unsigned kParseFlags =
    rapidjson::kParseValidateEncodingFlag | rapidjson::kParseInsituFlag;
constexpr unsigned kIterativeParseFlags = kParseFlags | rapidjson::kParseIterativeFlag;

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

// Whether `body` has more than `limit` '{' and '[' bytes (inside strings too: an upper bound on
// its nesting depth), counted 16 bytes at a time; stops counting once past the limit.
bool more_open_brackets_than(const char* body, std::size_t len, std::size_t limit) {
  std::size_t count = 0;
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i brace = _mm_set1_epi8('{');
  const __m128i bracket = _mm_set1_epi8('[');
  const __m128i one = _mm_set1_epi8(1);
  for (; i + 16 <= len; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(body + i));
    const __m128i open = _mm_or_si128(_mm_cmpeq_epi8(v, brace), _mm_cmpeq_epi8(v, bracket));
    // The block's count without a popcount instruction (not in the x86-64 baseline).
    const __m128i sums = _mm_sad_epu8(_mm_and_si128(open, one), _mm_setzero_si128());
    count += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    if (count > limit) return true;
  }
#endif
  for (; i < len; ++i) count += body[i] == '{' || body[i] == '[';
  return count > limit;
}

template <unsigned kFlags, typename Encoding>
void parse_in_situ(char* body, ReviewDocument& doc) {
  rapidjson::GenericInsituStringStream<Encoding> in(body);
  doc.ParseStream<kFlags, Encoding>(in);
}

// RapidJSON's recursive parser is 6-13% faster per review than its iterative one (bench_injection,
// small to large pods) but takes stack per nesting level: at most 64 bytes measured (256 under
// ASan), so the limit's 4,096 levels need at most 256 KiB (1 MiB) of the I/O thread's 8 MiB.
void parse_with_rapidjson(char* body, std::size_t len, ReviewDocument& doc, bool recursive) {
  if (may_have_low_surrogate_escape(body, len)) {
    return recursive ? parse_in_situ<kParseFlags, GoUtf8>(body, doc)
                     : parse_in_situ<kIterativeParseFlags, GoUtf8>(body, doc);
  }
  return recursive ? parse_in_situ<kParseFlags, rapidjson::UTF8<char>>(body, doc)
                   : parse_in_situ<kIterativeParseFlags, rapidjson::UTF8<char>>(body, doc);
}

// For a body json_to_document declined: the parser its bracket count allows.
void parse_declined(char* body, std::size_t len, ReviewDocument& doc) {
  parse_with_rapidjson(body, len, doc,
                       !more_open_brackets_than(body, len, kRecursiveParseOpenLimit));
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

bool ends_inside_utf8_sequence(const char* body, std::size_t len) {
  // RapidJSON reads 3 bytes from a lead E0..EF and 4 from F0..F4 (no byte in those ranges is a
  // continuation byte, so one is always read as a lead), and only reading body[len], the NUL, is
  // safe. Every other lead's read ends inside the body or at its NUL.
  auto at = [&](std::size_t back) { return static_cast<unsigned char>(body[len - back]); };
  return (len >= 1 && at(1) >= 0xE0 && at(1) <= 0xF4) ||
         (len >= 2 && at(2) >= 0xF0 && at(2) <= 0xF4);
}

// json_to_document builds nearly every body's document; RapidJSON parses the rest (not JSON, or
// JSON it reads its own way), so its error messages stay those of a RapidJSON parse.
void parse_review_json(char* body, std::size_t len, ReviewDocument& doc) {
  if (!json_to_document(std::string_view(body, len), doc)) parse_declined(body, len, doc);
}

void parse_review_json_with_rapidjson(char* body, std::size_t len, ReviewDocument& doc,
                                      bool recursive) {
  parse_with_rapidjson(body, len, doc, recursive);
}

Result<AdmissionRequest> parse_admission_review(char* body, std::size_t len, ReviewDocument& doc) {
  // json_to_document reads only the body's `len` bytes and declines a body with a NUL byte (never
  // JSON); only a declined body needs the checks before RapidJSON's in-situ parse.
  if (!json_to_document(std::string_view(body, len), doc)) {
    // In-situ parsing stops at the first NUL; one inside the body would silently truncate it.
    if (std::memchr(body, '\0', len) != nullptr) {
      return error(review_error::kNotJson, "body is not JSON: it contains a NUL byte");
    }
    if (ends_inside_utf8_sequence(body, len)) {
      return error(review_error::kNotJson, "body is not JSON: it ends inside a UTF-8 sequence");
    }
    parse_declined(body, len, doc);
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Twelve bytes to sixteen characters per step with SSSE3 (W. Mula and D. Lemire, "Faster Base64
// Encoding and Decoding Using AVX2 Instructions", 2018, the SSE variant). A shuffle gives each
// 32-bit lane the bytes b,a,c,b of its 3-byte group; two multiplies move the four 6-bit values into
// the four bytes; one more shuffle adds each value's offset to its alphabet range. Loads 16 bytes
// per step for 12, so it stops 4 bytes short of `n`; returns how many bytes it encoded (a multiple
// of 3), which the scalar loop continues from.
__attribute__((target("ssse3"))) std::size_t encode_base64_ssse3(const unsigned char* p,
                                                                 std::size_t n, char* o) {
  const __m128i spread = _mm_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  // Offsets by range: A-Z +65, a-z +71, 0-9 -4, '+' -19, '/' -16 (see `translate` below).
  const __m128i offsets =
      _mm_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 12, o += 16) {
    const __m128i in =
        _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), spread);
    // Per lane (16-bit words a:b and b:c): a>>2 and ((b&15)<<2 | c>>6) by a high multiply, then
    // ((a&3)<<4 | b>>4) and c&63 by a low one, each landing in its own byte.
    const __m128i hi =
        _mm_mulhi_epu16(_mm_and_si128(in, _mm_set1_epi32(0x0fc0fc00)), _mm_set1_epi32(0x04000040));
    const __m128i lo =
        _mm_mullo_epi16(_mm_and_si128(in, _mm_set1_epi32(0x003f03f0)), _mm_set1_epi32(0x01000010));
    const __m128i v = _mm_or_si128(hi, lo);
    // translate: 0..51 -> index 0 (upper case) or 1 (lower case, v > 25); 52..63 -> 2..13.
    __m128i index = _mm_subs_epu8(v, _mm_set1_epi8(51));
    index = _mm_sub_epi8(index, _mm_cmpgt_epi8(v, _mm_set1_epi8(25)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                     _mm_add_epi8(v, _mm_shuffle_epi8(offsets, index)));
  }
  return i;
}

// Twenty-four bytes to thirty-two characters per step with AVX-512 VBMI on 256-bit registers (the
// VBMI encoder of Mula and Lemire, "Base64 encoding and decoding at almost the speed of a memory
// copy", 2019, narrowed from 512 bits: no wide-register clock penalty for a short burst). A byte
// permutation gives each 32-bit lane the bytes b,a,c,b of its group; one multishift moves the four
// 6-bit values into the four bytes (their top two bits are left over); a two-table byte
// permutation, which reads six index bits, looks each up in the alphabet. Loads 32 bytes per step
// for 24, so it stops 8 bytes short of `n`; returns how many bytes it encoded (a multiple of 3).
__attribute__((target("avx512vbmi,avx512vl"))) std::size_t encode_base64_vbmi(
    const unsigned char* p, std::size_t n, char* o) {
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 13, 12,
                                          14, 13, 16, 15, 17, 16, 19, 18, 20, 19, 22, 21, 23, 22);
  // Bit offsets of the four values in each 32-bit lane b,a,c,b: a>>2 at 10, (a&3)<<4|b>>4 at 4,
  // (b&15)<<2|c>>6 at 22, c&63 at 16; the same plus 32 for the lane's partner in the qword.
  const __m256i shifts = _mm256_set1_epi64x(0x3036242a1016040a);
  const __m256i alphabet_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kBase64Alphabet));
  const __m256i alphabet_hi =
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kBase64Alphabet + 32));
  std::size_t i = 0;
  for (; i + 32 <= n; i += 24, o += 32) {
    // The zero-masking forms with every lane kept: GCC 12's unmasked ones pass an "undefined"
    // register that -Wmaybe-uninitialized reports in sanitizer builds.
    const __m256i in = _mm256_maskz_permutexvar_epi8(
        ~0U, spread, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    const __m256i values = _mm256_maskz_multishift_epi64_epi8(~0U, shifts, in);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o),
                        _mm256_permutex2var_epi8(alphabet_lo, values, alphabet_hi));
  }
  return i;
}
#endif

}  // namespace

void append_base64(std::string_view in, std::string& out) {
  append_base64(in, out, SimdLevel::kAvx512Vbmi);
}

void append_base64(std::string_view in, std::string& out, SimdLevel level) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t n = in.size();
  const std::size_t start = out.size();
  out.resize(start + (n + 2) / 3 * 4);
  char* o = out.data() + start;
  std::size_t i = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  level = std::min(level, best_simd_level());
  // Each level continues where the one above stopped: VBMI leaves up to 31 bytes, SSSE3 up to 15.
  if (level >= SimdLevel::kAvx512Vbmi) {
    const std::size_t done = encode_base64_vbmi(p, n, o);
    i += done;
    o += done / 3 * 4;
  }
  if (level >= SimdLevel::kSsse3) {
    const std::size_t done = encode_base64_ssse3(p + i, n - i, o);
    i += done;
    o += done / 3 * 4;
  }
#endif
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
