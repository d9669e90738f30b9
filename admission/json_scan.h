// Finding the next byte of a JSON string that is not plain text, 16 bytes at a time: shared by the
// strict reader (which also stops at non-ASCII bytes to check UTF-8) and the string escaper.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace revrouter {

namespace json_scan_detail {

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;

// Bytes of `w` equal to zero, as their high bits. The lowest flagged byte is always a real zero
// (a borrow only flags bytes above one), and only the lowest one is used.
constexpr std::uint64_t zero_bytes(std::uint64_t w) { return (w - kOnes) & ~w & kHighs; }

}  // namespace json_scan_detail

// The first byte at or after p that is '"', '\\' or a control character (and, with kNonAscii, any
// byte >= 0x80), or `end`: sixteen bytes at a time with SSE2 (every x86-64), eight with the
// portable bit trick, then stops short of `end` for the caller's byte loop. Loads never pass `end`.
template <bool kNonAscii>
inline const char* scan_json_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Control characters: v <= 0x1F unsigned, i.e. min(v, 0x1F) == v; bytes >= 0x80 have their
    // sign bit set, which movemask reads directly.
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if constexpr (kNonAscii) mask |= static_cast<unsigned>(_mm_movemask_epi8(v));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    using namespace json_scan_detail;
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      std::uint64_t m = zero_bytes(w ^ (kOnes * '"')) | zero_bytes(w ^ (kOnes * '\\')) |
                        ((w - kOnes * 0x20) & ~w & kHighs);
      if constexpr (kNonAscii) m |= w & kHighs;
      // Only the lowest flagged byte is exact: a byte >= 0x80 (not stopped at without kNonAscii)
      // can make the "below 0x20" borrow flag a later byte, never an earlier one.
      if (m != 0) return p + std::countr_zero(m) / 8;
      p += 8;
    }
  }
  return p;
}

}  // namespace revrouter
