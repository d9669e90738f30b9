#include "admission/json_out.h"

#include <cstdint>
#include <cstring>

namespace revrouter {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Whether any of 8 bytes is a control character, '"' or '\\' (the "hasless"/"haszero" bit tricks:
// exact for the question "is there one", which is all the scan needs).
inline bool needs_escape8(std::uint64_t x) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
  const std::uint64_t below_space = (x - kOnes * 0x20) & ~x & kHigh;
  return (below_space | has_zero(x ^ (kOnes * '"')) | has_zero(x ^ (kOnes * '\\'))) != 0;
}

}  // namespace

void append_json_u_escape(std::string& out, unsigned cp) {
  const char esc[6] = {
      '\\',          'u', kHex[(cp >> 12) & 0xf], kHex[(cp >> 8) & 0xf], kHex[(cp >> 4) & 0xf],
      kHex[cp & 0xf]};
  out.append(esc, 6);
}

void append_json_escape(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out.append("\\\"");
      break;
    case '\\':
      out.append("\\\\");
      break;
    case '\n':
      out.append("\\n");
      break;
    case '\r':
      out.append("\\r");
      break;
    case '\t':
      out.append("\\t");
      break;
    default:
      append_json_u_escape(out, c);
  }
}

// Most text needs no escaping, so it is scanned 8 bytes at a time and copied in runs.
void append_json_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    while (i + 8 <= s.size()) {
      std::uint64_t chunk;
      std::memcpy(&chunk, s.data() + i, 8);
      if (needs_escape8(chunk)) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    append_json_escape(out, c);
  }
  out.append(s.data() + run, s.size() - run);
}

}  // namespace revrouter
