// What the load generator counts: each request ends ok or in one error class, and each answer is
// checked as kube-apiserver would read it (HTTP 200, an AdmissionReview whose response.uid is the
// uid sent, allowed). The check is a RapidJSON SAX pass: no DOM, no allocation for a good answer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace revrouter::loadtest {

enum class ErrorClass {
  kConnect,      // TCP connect refused/failed, or the connection lost before the answer
  kTls,          // handshake or certificate verification failed, or a TLS error mid-stream
  kTimeout,      // no answer within --timeout (or abandoned at the hard deadline)
  kHttpStatus,   // an HTTP answer other than 200 (counted by code as well)
  kBadResponse,  // not HTTP, not JSON, or no response object / uid / allowed in it
  kUidMismatch,  // response.uid is not the request's uid
  kDenied,       // response.allowed is false
};
inline constexpr std::size_t kErrorClasses = 7;
std::string_view error_class_name(ErrorClass c);  // "connect", "tls", ..., "denied"

struct Verdict {
  bool ok = false;
  ErrorClass error = ErrorClass::kBadResponse;  // when !ok
  std::string detail;                           // when !ok: what was wrong, for the sample
};

// How much of an answer is checked: all of it as kube-apiserver reads it, or only the HTTP status
// (no JSON parse: the client's cost per answer then compares with plain HTTP load tools').
enum class Check { kFull, kStatus };

// Judges one HTTP answer to the request that carried `uid`.
Verdict check_response(int http_status, std::string_view body, std::string_view uid,
                       Check check = Check::kFull);

// Outcomes counted by one worker, or merged over all of them.
struct Counters {
  std::uint64_t issued = 0;     // requests started (sent, or queued behind busy connections)
  std::uint64_t completed = 0;  // ok + errors
  std::uint64_t ok = 0;
  std::array<std::uint64_t, kErrorClasses> errors{};  // by class
  std::map<int, std::uint64_t> http_status;           // kHttpStatus errors by code
  std::array<std::string, kErrorClasses> samples;     // the first error message of each class

  std::uint64_t error_total() const;
  void record_error(ErrorClass c, std::string_view detail, int http_status = 0);
  void merge(const Counters& other);
};

}  // namespace revrouter::loadtest
