// UTF-8 as Go (and so kube-apiserver and istiod) accepts it, for the writers and readers of the
// core that check or repair text byte by byte.
#pragma once

#include <cstddef>
#include <string_view>

namespace revrouter {

// Length of the valid UTF-8 sequence starting at s[i] (s[i] >= 0x80), with its code point in
// `cp`; 0 when it is invalid (shortest form only, no surrogates, nothing above U+10FFFF).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, unsigned& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  auto at = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(s[i + k]) & 0x3F);
  };
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1)) {
    cp = ((b0 & 0x1Fu) << 6) | at(1);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(1) && cont(2)) {
    cp = ((b0 & 0x0Fu) << 12) | (at(1) << 6) | at(2);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    cp = ((b0 & 0x07u) << 18) | (at(1) << 12) | (at(2) << 6) | at(3);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    return 4;
  }
  return 0;
}

}  // namespace revrouter
