// Prometheus metrics for the webhook: requests by outcome, reason and revision, a latency
// histogram, in-flight requests, limit trips, TLS handshake failures and reloads. Counters are
// relaxed atomics in one shard per I/O thread (no lock, no shared cache line on the request
// path); a scrape sums the shards.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "admission/decision.h"

namespace revrouter::server {

// How a webhook request ended (the `outcome` label).
enum class Outcome : std::uint8_t {
  kInjected,  // answered with a patch
  kAllowed,   // answered, allowed without a patch
  kDenied,    // answered, allowed: false (e.g. a Pod CREATE without a pod)
  kRejected,  // an HTTP error instead of an AdmissionReview (4xx)
  kTimedOut,  // no answer before the deadline (504)
};
inline constexpr std::size_t kOutcomeCount = 5;
std::string_view to_string(Outcome o);

// Every limit the server enforces; each trip is counted (`revrouter_limit_trips_total{limit}`).
enum class Limit : std::uint8_t {
  kConnections,       // --max-connections: a connection was refused
  kHandshakeTimeout,  // --handshake-timeout
  kIdleTimeout,       // --idle-timeout: a keep-alive connection closed while idle
  kHeaderTimeout,     // --header-timeout: request headers did not arrive in time (slowloris)
  kBodyTimeout,       // --body-timeout
  kWriteTimeout,      // --write-timeout: the client did not read the response
  kHeaderSize,        // --max-header-bytes (431)
  kBodySize,          // --max-body-bytes (413)
  kDeadline,          // the answer was ready only after the request's ?timeout= budget
};
inline constexpr std::size_t kLimitCount = 9;
std::string_view to_string(Limit l);

// The `reason` label: a decision Reason for answered reviews, an error code otherwise. Indices are
// fixed at compile time so a request indexes a counter array directly.
class ReasonLabel {
 public:
  // Reason values; a reason added after kAlreadyInjected is counted as "other" until listed here.
  static constexpr std::size_t kDecisionSlots =
      static_cast<std::size_t>(Reason::kAlreadyInjected) + 1;
  static std::size_t of(Reason r);
  // An error code ("not_json", "unsupported_media_type", ...); unknown codes map to "other".
  static std::size_t of_error(std::string_view code);
  static std::string_view name(std::size_t index);
  static std::size_t count();
};

// Revision names seen in routing tables, each given a counter slot for the `revision` label when
// a table is loaded (never on the request path). Slot 0 is "no revision"; names beyond capacity
// share the last slot, "other".
class RevisionLabels {
 public:
  static constexpr std::size_t kSlots = 64;
  static constexpr std::uint16_t kNone = 0;
  RevisionLabels();
  std::uint16_t slot_for(std::string_view revision);  // takes a lock: call at load time
  std::string_view name(std::size_t slot) const;      // "" for slot 0 and unused slots
  std::size_t used() const { return used_.load(std::memory_order_acquire); }

 private:
  std::mutex mutex_;
  std::array<std::string, kSlots> names_;
  std::atomic<std::size_t> used_{1};
};

// Upper bounds of the latency histogram, in microseconds (Prometheus `le` in seconds).
inline constexpr std::array<std::uint64_t, 16> kLatencyBucketsUs = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

// The counters one I/O thread writes.
class alignas(64) MetricsShard {
 public:
  void request_started() { add(started_); }
  // Ends a webhook request (one started with request_started).
  void request_finished(Outcome outcome, std::size_t reason, std::uint16_t revision_slot,
                        std::uint64_t latency_us);
  // Ends a request that is not a webhook request (a health or metrics probe): in-flight only.
  void probe_finished() { add(finished_); }
  void limit_tripped(Limit limit) { add(limits_[static_cast<std::size_t>(limit)]); }
  void handshake_failed() { add(handshake_failures_); }

 private:
  friend class Metrics;
  using Counter = std::atomic<std::uint64_t>;
  static void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static constexpr std::size_t kReasonSlots = 64;
  static std::size_t request_index(std::size_t outcome, std::size_t reason, std::size_t rev) {
    return (outcome * kReasonSlots + reason) * RevisionLabels::kSlots + rev;
  }

  Counter started_{0};
  Counter finished_{0};
  std::array<Counter, kLatencyBucketsUs.size() + 1> latency_buckets_{};  // last: +Inf
  Counter latency_sum_us_{0};
  std::array<Counter, kLimitCount> limits_{};
  Counter handshake_failures_{0};
  std::array<Counter, kOutcomeCount * kReasonSlots * RevisionLabels::kSlots> requests_{};
};

// Values the server owns that a scrape reports as gauges.
struct ServerGauges {
  bool ready = false;
  bool draining = false;
  std::uint64_t open_connections = 0;
  std::uint64_t config_generation = 0;
};

class Metrics {
 public:
  explicit Metrics(std::size_t shards);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  MetricsShard& shard(std::size_t i) { return *shards_[i]; }
  std::size_t shard_count() const { return shards_.size(); }
  RevisionLabels& revisions() { return revisions_; }

  void config_reloaded(bool ok) { (ok ? config_reload_ok_ : config_reload_failed_).fetch_add(1); }
  void certs_reloaded(bool ok) { (ok ? cert_reload_ok_ : cert_reload_failed_).fetch_add(1); }

  // Sums and totals, for tests and logs.
  std::uint64_t requests(Outcome outcome) const;
  std::uint64_t requests(Outcome outcome, std::string_view reason) const;
  std::uint64_t limit_trips(Limit limit) const;
  std::uint64_t handshake_failures() const;
  std::uint64_t in_flight() const;
  std::uint64_t config_reloads(bool ok) const {
    return (ok ? config_reload_ok_ : config_reload_failed_).load();
  }
  std::uint64_t cert_reloads(bool ok) const {
    return (ok ? cert_reload_ok_ : cert_reload_failed_).load();
  }

  // The Prometheus text exposition (format 0.0.4), written into `out` (cleared first).
  void render(const ServerGauges& gauges, std::string& out) const;

 private:
  std::vector<std::unique_ptr<MetricsShard>> shards_;
  RevisionLabels revisions_;
  std::atomic<std::uint64_t> config_reload_ok_{0}, config_reload_failed_{0};
  std::atomic<std::uint64_t> cert_reload_ok_{0}, cert_reload_failed_{0};
};

}  // namespace revrouter::server
