// Finding the next byte of a JSON string that is not plain text: 16 bytes at a time for the string
// escaper, as a 64-byte bitmap for the strict reader (which also stops at non-ASCII bytes to check
// UTF-8).
#pragma once

#include <algorithm>
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

}  // namespace json_scan_detail

// The bytes of a little-endian word (4 or 8 bytes) that are '"', '\\' or a control character, as
// their high bits. Only the lowest flagged byte is exact (a borrow can flag a byte above a real
// one, never below): enough to find the first, or to tell whether there is any.
template <class Word>
constexpr Word json_escape_bits(Word w) {
  constexpr auto ones = static_cast<Word>(json_scan_detail::kOnes);
  constexpr auto highs = static_cast<Word>(json_scan_detail::kHighs);
  const auto zero = [](Word x) { return static_cast<Word>((x - ones) & ~x & highs); };
  return zero(static_cast<Word>(w ^ ones * '"')) | zero(static_cast<Word>(w ^ ones * '\\')) |
         static_cast<Word>((w - ones * 0x20) & ~w & highs);
}

#if defined(__SSE2__)
// 0xFF at each byte of the block that is '"', '\\' or a control character (v <= 0x1F unsigned,
// i.e. min(v, 0x1F) == v).
inline __m128i json_escape_bytes(__m128i v) {
  return _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
      _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v));
}
#endif

// The first byte at or after p that is '"', '\\' or a control character (and, with kNonAscii, any
// byte >= 0x80), or `end`: sixteen bytes at a time with SSE2 (every x86-64), eight with the
// portable bit trick, then stops short of `end` for the caller's byte loop. Loads never pass `end`.
template <bool kNonAscii>
inline const char* scan_json_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Bytes >= 0x80 have their sign bit set, which movemask reads directly.
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(json_escape_bytes(v)));
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
      std::uint64_t m = json_escape_bits(w);
      if constexpr (kNonAscii) m |= w & kHighs;
      // Only the lowest flagged byte is exact: a byte >= 0x80 (not stopped at without kNonAscii)
      // can make the "below 0x20" borrow flag a later byte, never an earlier one.
      if (m != 0) return p + std::countr_zero(m) / 8;
      p += 8;
    }
  }
  return p;
}

// One bit per byte of the 64 at p (bit i for p[i]) that is '"', '\\', a control character or
// >= 0x80: a JSON string's stops, for a reader that finds many short strings in one block. Bytes
// at or past `end` read as stops too (so a scan ends there); nothing at or past `end` is loaded.
inline std::uint64_t json_string_stops(const char* p, const char* end) {
  if (end - p < 64) {
    char block[64];
    const auto n = static_cast<std::size_t>(end - p);
    std::memcpy(block, p, n);
    std::memset(block + n, ' ', 64 - n);
    return json_string_stops(block, block + 64) | (~std::uint64_t{0} << n);
  }
  std::uint64_t bits = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i below_space = _mm_set1_epi8(0x1F);
  for (int i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v), v));
    bits |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(hit))) << (16 * i);
  }
#else
  for (int i = 0; i < 64; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) bits |= std::uint64_t{1} << i;
  }
#endif
  return bits;
}

// Finds the next string stop at or after a position, from the bitmap of the 64-byte block it is in
// (computed when a scan first enters the block): a document's short strings then cost a shift and
// a bit scan each, not a load and compare. Positions only move forward between blocks.
class JsonStringScanner {
 public:
  explicit JsonStringScanner(const char* end) : block_(end), block_end_(end), end_(end) {}

  // The first stop at or after p, or `end`. (Always inlined: the bit scan is the fast path of a
  // reader's strings.)
#if defined(__GNUC__)
  __attribute__((always_inline))
#endif
  const char*
  next(const char* p) {
    for (;;) {
      if (p < block_ || p >= block_end_) {
        if (p >= end_) return end_;
        block_ = p;
        block_end_ = p + std::min<std::ptrdiff_t>(64, end_ - p);
        stops_ = json_string_stops(p, end_);
      }
      const std::uint64_t ahead = stops_ >> (p - block_);
      if (ahead != 0) return p + std::countr_zero(ahead);  // at most end_: stops mark it
      p = block_end_;
    }
  }

 private:
  const char* block_;
  const char* block_end_;
  const char* end_;
  std::uint64_t stops_ = 0;
};

}  // namespace revrouter
