// The istiod injectors of a routing table, as the server sees them at run time: each proxy (or
// shadowed) revision's Upstream with its circuit breaker and counters. Built when a table is
// loaded, off the request path; an upstream whose settings did not change keeps its state (pooled
// connections, session cache, breaker) across reloads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "admission/routing_config.h"
#include "server/upstream.h"

namespace revrouter::server {

// Why an upstream call did not give an answer; each is a value of the `result` label.
enum class UpstreamOutcome : std::uint8_t {
  kOk,
  kConnect,
  kTls,
  kTimeout,
  kStatus,
  kProtocol,
  kInvalid,      // a 200 whose body is not a valid AdmissionReview for the request
  kBreakerOpen,  // not called: the breaker is open
  kNoTime,       // not called: the request's deadline left no time for it
  kCancelled,    // the server is stopping
};
inline constexpr std::size_t kUpstreamOutcomeCount = 10;
std::string_view to_string(UpstreamOutcome o);
UpstreamOutcome outcome_of(UpstreamError e);

// What a failed proxy request was answered with (the `policy` label): "fail-closed", ...
inline constexpr std::size_t kPolicyCount = 3;  // FailureAction values
std::string_view to_string(FailureAction a);

// Shadow comparisons (the `result` label of revrouter_shadow_total).
enum class ShadowOutcome : std::uint8_t { kMatch, kMismatch, kUpstreamFailed, kError, kSkipped };
inline constexpr std::size_t kShadowOutcomeCount = 5;
std::string_view to_string(ShadowOutcome o);

// One revision's upstream: shared by every I/O thread (atomics and a mutex for the last error).
class UpstreamState {
 public:
  UpstreamState(std::string revision, std::shared_ptr<Upstream> upstream, BreakerConfig breaker);

  const std::string& revision() const { return revision_; }
  const std::shared_ptr<Upstream>& upstream() const { return upstream_; }
  const BreakerConfig& breaker_config() const { return breaker_; }

  // Closed breaker: requests go to the upstream. Open: they take the failure policy at once.
  bool breaker_open() const { return open_.load(std::memory_order_acquire); }
  // Records a call's result; true when this failure opened the breaker.
  bool record(UpstreamOutcome outcome, std::string_view message);
  // A probe's result while open: success closes the breaker. True when it closed.
  bool record_probe(bool ok, std::string_view message);
  // True once per probe interval while open and no probe is in flight; the caller sends one and
  // reports it with record_probe.
  bool claim_probe(std::chrono::steady_clock::time_point now);

  void count_policy(FailureAction a) { add(policy_[static_cast<std::size_t>(a)]); }
  void count_shadow(ShadowOutcome o) { add(shadow_[static_cast<std::size_t>(o)]); }

  std::uint64_t calls(UpstreamOutcome o) const {
    return calls_[static_cast<std::size_t>(o)].load(std::memory_order_relaxed);
  }
  std::uint64_t policies(FailureAction a) const {
    return policy_[static_cast<std::size_t>(a)].load(std::memory_order_relaxed);
  }
  std::uint64_t shadows(ShadowOutcome o) const {
    return shadow_[static_cast<std::size_t>(o)].load(std::memory_order_relaxed);
  }
  std::uint64_t breaker_opens() const { return opens_.load(std::memory_order_relaxed); }
  std::uint32_t consecutive_failures() const {
    return consecutive_.load(std::memory_order_relaxed);
  }
  std::string last_error() const;

 private:
  using Counter = std::atomic<std::uint64_t>;
  static void add(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }

  const std::string revision_;
  const std::shared_ptr<Upstream> upstream_;
  const BreakerConfig breaker_;
  std::atomic<bool> open_{false};
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<bool> probing_{false};
  std::atomic<std::int64_t> next_probe_ns_{0};  // steady_clock, when open
  Counter opens_{0};
  std::array<Counter, kUpstreamOutcomeCount> calls_{};
  std::array<Counter, kPolicyCount> policy_{};
  std::array<Counter, kShadowOutcomeCount> shadow_{};
  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::chrono::system_clock::time_point last_error_at_{};
};

// The upstreams of one loaded table, indexed like RoutingTable::revisions (null where a revision
// has none).
using UpstreamStates = std::vector<std::shared_ptr<UpstreamState>>;

// Builds the upstreams of `table`, reusing from `previous` the state of a revision whose upstream
// settings and breaker did not change. Errors (a CA that OpenSSL cannot use) name the config file
// and line; the caller keeps its last good table.
Result<UpstreamStates> build_upstreams(const RoutingTable& table, const UpstreamStates* previous);

// True when some revision can be answered: a local revision exists, or a proxy revision's breaker
// is closed. /readyz reports not ready only when every route is a proxy with an open breaker.
bool any_route_works(const RoutingTable& table, const UpstreamStates& upstreams);

// The debug endpoint (/debug/upstreams): one JSON object per upstream with its revision, URL,
// breaker state, consecutive failures, last error, and counters.
void render_upstreams_json(const RoutingTable& table, const UpstreamStates& upstreams,
                           std::string& out);
// Prometheus series appended to a scrape: revrouter_upstream_requests_total{revision,result},
// revrouter_upstream_failure_policy_total{revision,policy}, revrouter_upstream_breaker_open,
// revrouter_upstream_breaker_opens_total, revrouter_upstream_handshakes_total{revision,resumed},
// revrouter_upstream_connections_opened_total, revrouter_shadow_total{revision,result}.
void render_upstream_metrics(const RoutingTable& table, const UpstreamStates& upstreams,
                             std::string& out);

// The AdmissionReview a probe sends: a Pod CREATE that opts out of injection, so istiod answers
// allowed without a patch. `uid` identifies it.
std::string probe_review(std::string_view uid);

}  // namespace revrouter::server
