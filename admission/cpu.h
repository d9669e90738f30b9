// What the CPU running this process can do, asked once: for the core's SIMD paths that need more
// than the x86-64 baseline (SSE2), such as the SSSE3 base64 encoder and decoder.
#pragma once

namespace revrouter {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline bool have_ssse3() {
  static const bool yes = __builtin_cpu_supports("ssse3");
  return yes;
}
#endif

}  // namespace revrouter
