// What the CPU running this process can do, asked once: for the core's SIMD paths that need more
// than the x86-64 baseline (SSE2), such as the SSSE3 and AVX-512 VBMI base64 encoders.
#pragma once

namespace revrouter {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline bool have_ssse3() {
  static const bool yes = __builtin_cpu_supports("ssse3");
  return yes;
}
// AVX-512 VBMI with its 256-bit forms (VL); GCC's check includes the OS saving the AVX-512 state.
inline bool have_avx512vbmi() {
  static const bool yes =
      __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vl");
  return yes;
}
#endif

// The SIMD levels of a code path that has several, lowest first. Tests run each level the CPU has.
enum class SimdLevel { kBaseline, kSsse3, kAvx512Vbmi };

inline SimdLevel best_simd_level() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (have_avx512vbmi()) return SimdLevel::kAvx512Vbmi;
  if (have_ssse3()) return SimdLevel::kSsse3;
#endif
  return SimdLevel::kBaseline;
}

}  // namespace revrouter
