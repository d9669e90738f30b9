#include "admission/json_out.h"

#include <bit>
#include <cstdint>
#include <cstring>

#include "admission/json_scan.h"

namespace revrouter {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// The next byte at or after p that needs escaping, or end.
const char* next_to_escape(const char* p, const char* end) {
  p = scan_json_plain<false>(p, end);
  while (p != end && !needs_escape(static_cast<unsigned char>(*p))) ++p;
  return p;
}

// Writes the escape of `c` (one that needs_escape) at o; returns its end. Short forms where JSON
// has one that Go's encoder also uses (\", \\, \n, \r, \t), \u00XX for the other controls.
inline __attribute__((always_inline)) char* write_escape(char* o, unsigned char c) {
  o[0] = '\\';
  switch (c) {
    case '"':
    case '\\':
      o[1] = static_cast<char>(c);
      return o + 2;
    case '\n':
      o[1] = 'n';
      return o + 2;
    case '\r':
      o[1] = 'r';
      return o + 2;
    case '\t':
      o[1] = 't';
      return o + 2;
    default:
      o[1] = 'u';
      o[2] = '0';
      o[3] = '0';
      o[4] = kHex[c >> 4];
      o[5] = kHex[c & 0xf];
      return o + 6;
  }
}

// The bytes from p to end, written at o (room for what they escape to); meant for fewer than 16
// (keys, names, a block's tail). Plain text of 4 to 16 bytes, the usual case, is checked and copied
// as two overlapping words: no loop, and no store past its length.
inline __attribute__((always_inline)) char* write_short_escaped(char* o, const char* p,
                                                                const char* end) {
  const auto n = static_cast<std::size_t>(end - p);
  auto copy_if_plain = [&](auto word) {
    decltype(word) head;
    decltype(word) tail;
    std::memcpy(&head, p, sizeof head);
    std::memcpy(&tail, end - sizeof tail, sizeof tail);
    if ((json_escape_bits(head) | json_escape_bits(tail)) != 0) return false;
    std::memcpy(o, &head, sizeof head);
    std::memcpy(o + n - sizeof tail, &tail, sizeof tail);
    return true;
  };
  if (n >= 8 ? n <= 16 && copy_if_plain(std::uint64_t{})
             : n >= 4 && copy_if_plain(std::uint32_t{})) {
    return o + n;
  }
  for (; p != end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (needs_escape(c)) {
      o = write_escape(o, c);
    } else {
      *o++ = static_cast<char>(c);
    }
  }
  return o;
}

std::size_t escape_extra(unsigned char c) {
  return c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ? 1 : 5;
}

}  // namespace

void append_json_u_escape(std::string& out, unsigned cp) {
  const char esc[6] = {
      '\\',          'u', kHex[(cp >> 12) & 0xf], kHex[(cp >> 8) & 0xf], kHex[(cp >> 4) & 0xf],
      kHex[cp & 0xf]};
  out.append(esc, 6);
}

void append_json_escape(std::string& out, unsigned char c) {
  char esc[6];
  out.append(esc, static_cast<std::size_t>(write_escape(esc, c) - esc));
}

std::size_t json_escaped_size(std::string_view s) {
  const char* r = next_to_escape(s.data(), s.data() + s.size());
  const char* const end = s.data() + s.size();
  std::size_t extra = 0;
#if defined(__SSE2__)
  // Counting: an escape adds 1 byte (two characters) or 5 (\u00XX); per block the weights are
  // summed by _mm_sad_epu8 (the x86-64 baseline has no popcount instruction).
  __m128i sums = _mm_setzero_si128();
  for (; end - r >= 16; r += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r));
    const __m128i all = json_escape_bytes(v);
    // Those with a two-character form: '"', '\\', '\n', '\r', '\t'.
    const __m128i two = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
    const __m128i weight =
        _mm_or_si128(_mm_and_si128(two, _mm_set1_epi8(1)),
                     _mm_and_si128(_mm_andnot_si128(two, all), _mm_set1_epi8(5)));
    sums = _mm_add_epi64(sums, _mm_sad_epu8(weight, _mm_setzero_si128()));
  }
  extra += static_cast<std::size_t>(_mm_cvtsi128_si64(sums)) +
           static_cast<std::size_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
#endif
  for (; r != end; ++r) {
    const auto c = static_cast<unsigned char>(*r);
    if (needs_escape(c)) extra += escape_extra(c);
  }
  return s.size() + extra;
}

// Between escapes, 16 bytes per store: plain text is stored whole, each escape written in place.
// Room: while n input bytes remain, at least n bytes of output room remain (an escape is never
// shorter than its byte), so a 16-byte store is safe wherever 16 input bytes remain, even when only
// its first few bytes count.
char* write_json_escaped(char* o, std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
#if defined(__SSE2__)
  // With 32 bytes left, a block's escapes are all handled from its one mask: the plain run before
  // each is stored from an unaligned load at the run's start (which stays inside the input).
  while (end - p >= 32) {
    auto mask = static_cast<unsigned>(
        _mm_movemask_epi8(json_escape_bytes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
    unsigned done = 0;
    while (mask != 0) {
      const auto k = static_cast<unsigned>(std::countr_zero(mask));
      mask &= mask - 1;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + done)));
      o = write_escape(o + (k - done), static_cast<unsigned char>(p[k]));
      done = k + 1;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + done)));
    o += 16 - done;
    p += 16;
  }
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto all = static_cast<unsigned>(_mm_movemask_epi8(json_escape_bytes(v)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(o), v);
    if (all == 0) {
      o += 16;
      p += 16;
      continue;
    }
    const int k = std::countr_zero(all);
    o = write_escape(o + k, static_cast<unsigned char>(p[k]));
    p += k + 1;
  }
#endif
  return write_short_escaped(o, p, end);
}

// Most text needs no escaping: it is found 16 bytes at a time and copied whole. Text that does
// (JSON inside env values: a quote every few bytes) is measured first, then written through a
// pointer into exactly the room it needs.
void append_json_escaped(std::string& out, std::string_view s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* q = next_to_escape(p, end);
  if (q == end) {
    out.append(p, s.size());
    return;
  }
  const std::size_t plain = static_cast<std::size_t>(q - p);
  const std::string_view rest(q, static_cast<std::size_t>(end - q));
  const std::size_t start = out.size();
  out.resize(start + plain + json_escaped_size(rest));
  char* o = out.data() + start;
  std::memcpy(o, p, plain);
  write_json_escaped(o + plain, rest);
}

}  // namespace revrouter
