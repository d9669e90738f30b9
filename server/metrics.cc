#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

#include "admission/admission_review.h"

namespace revrouter::server {
namespace {

// Error codes with their own `reason` label value; anything else is "other".
constexpr std::array<std::string_view, 23> kErrorCodes = {
    // admission/admission_review.h and webhook_path.h
    review_error::kNotJson, review_error::kNotAdmissionReview, review_error::kUnsupportedApiVersion,
    review_error::kMissingRequest, review_error::kMissingUid, review_error::kBadField,
    review_error::kMissingObject, review_error::kNotAPod, "bad_path",
    // the server's own
    "unsupported_media_type", "empty_body", "body_too_large", "header_too_large",
    "method_not_allowed", "not_found", "bad_timeout", "bad_request", "deadline_exceeded",
    "draining",
    // a proxy revision's istiod failed and its onFailure policy answered (server/proxy.h)
    "upstream_fallback", "upstream_fail_open", "upstream_fail_closed", "other"};

void append_escaped_label(std::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::kInjected:
      return "injected";
    case Outcome::kAllowed:
      return "allowed";
    case Outcome::kDenied:
      return "denied";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kTimedOut:
      return "timed_out";
  }
  return "unknown";
}

std::string_view to_string(Limit l) {
  switch (l) {
    case Limit::kConnections:
      return "max_connections";
    case Limit::kHandshakeTimeout:
      return "handshake_timeout";
    case Limit::kIdleTimeout:
      return "idle_timeout";
    case Limit::kHeaderTimeout:
      return "header_timeout";
    case Limit::kBodyTimeout:
      return "body_timeout";
    case Limit::kWriteTimeout:
      return "write_timeout";
    case Limit::kHeaderSize:
      return "max_header_bytes";
    case Limit::kBodySize:
      return "max_body_bytes";
    case Limit::kDeadline:
      return "request_deadline";
  }
  return "unknown";
}

std::size_t ReasonLabel::of(Reason r) {
  const auto i = static_cast<std::size_t>(r);
  return i < kDecisionSlots ? i : of_error("other");
}

std::size_t ReasonLabel::of_error(std::string_view code) {
  const auto it = std::find(kErrorCodes.begin(), kErrorCodes.end(), code);
  const auto i = it == kErrorCodes.end() ? kErrorCodes.size() - 1 : it - kErrorCodes.begin();
  return kDecisionSlots + static_cast<std::size_t>(i);
}

std::string_view ReasonLabel::name(std::size_t index) {
  if (index < kDecisionSlots) return to_string(static_cast<Reason>(index));
  index -= kDecisionSlots;
  return index < kErrorCodes.size() ? kErrorCodes[index] : std::string_view{};
}

std::size_t ReasonLabel::count() { return kDecisionSlots + kErrorCodes.size(); }

RevisionLabels::RevisionLabels() { names_[kSlots - 1] = "other"; }

std::uint16_t RevisionLabels::slot_for(std::string_view revision) {
  if (revision.empty()) return kNone;
  std::lock_guard lock(mutex_);
  const std::size_t used = used_.load(std::memory_order_relaxed);
  for (std::size_t i = 1; i < used; ++i) {
    if (names_[i] == revision) return static_cast<std::uint16_t>(i);
  }
  if (used == kSlots - 1) return kSlots - 1;
  names_[used] = std::string(revision);
  used_.store(used + 1, std::memory_order_release);  // publishes names_[used] to scrapes
  return static_cast<std::uint16_t>(used);
}

std::string_view RevisionLabels::name(std::size_t slot) const {
  if (slot == kSlots - 1) return names_[slot];
  return slot < used() ? std::string_view(names_[slot]) : std::string_view{};
}

void MetricsShard::request_finished(Outcome outcome, std::size_t reason,
                                    std::uint16_t revision_slot, std::uint64_t latency_us) {
  add(finished_);
  add(requests_[request_index(static_cast<std::size_t>(outcome), reason, revision_slot)]);
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kLatencyBucketsUs.begin(), kLatencyBucketsUs.end(), latency_us) -
      kLatencyBucketsUs.begin());
  add(latency_buckets_[bucket]);
  add(latency_sum_us_, latency_us);
}

Metrics::Metrics(std::size_t shards) {
  static_assert(ReasonLabel::kDecisionSlots + kErrorCodes.size() <= 64);
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<MetricsShard>());
}

std::uint64_t Metrics::requests(Outcome outcome) const {
  std::uint64_t total = 0;
  for (std::size_t reason = 0; reason < ReasonLabel::count(); ++reason) {
    for (const auto& s : shards_) {
      for (std::size_t rev = 0; rev < RevisionLabels::kSlots; ++rev) {
        total += s->requests_[MetricsShard::request_index(static_cast<std::size_t>(outcome), reason,
                                                          rev)]
                     .load(std::memory_order_relaxed);
      }
    }
  }
  return total;
}

std::uint64_t Metrics::requests(Outcome outcome, std::string_view reason) const {
  std::uint64_t total = 0;
  for (std::size_t r = 0; r < ReasonLabel::count(); ++r) {
    if (ReasonLabel::name(r) != reason) continue;
    for (const auto& s : shards_) {
      for (std::size_t rev = 0; rev < RevisionLabels::kSlots; ++rev) {
        total +=
            s->requests_[MetricsShard::request_index(static_cast<std::size_t>(outcome), r, rev)]
                .load(std::memory_order_relaxed);
      }
    }
  }
  return total;
}

std::uint64_t Metrics::limit_trips(Limit limit) const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s->limits_[static_cast<std::size_t>(limit)].load();
  return total;
}

std::uint64_t Metrics::handshake_failures() const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += s->handshake_failures_.load();
  return total;
}

std::uint64_t Metrics::in_flight() const {
  // Read finished before started: a request finishing between the two reads cannot make the
  // difference negative.
  std::uint64_t finished = 0, started = 0;
  for (const auto& s : shards_) finished += s->finished_.load(std::memory_order_acquire);
  for (const auto& s : shards_) started += s->started_.load(std::memory_order_acquire);
  return started >= finished ? started - finished : 0;
}

void Metrics::render(const ServerGauges& gauges, std::string& out) const {
  out.clear();
  auto it = std::back_inserter(out);

  header(out, "revrouter_requests_total", "counter",
         "Webhook requests by outcome, reason (decision reason or error code) and revision.");
  const std::size_t revisions = revisions_.used();
  for (std::size_t o = 0; o < kOutcomeCount; ++o) {
    for (std::size_t r = 0; r < ReasonLabel::count(); ++r) {
      for (std::size_t rev = 0; rev < RevisionLabels::kSlots; ++rev) {
        if (rev >= revisions && rev != RevisionLabels::kSlots - 1) continue;
        std::uint64_t n = 0;
        for (const auto& s : shards_) {
          n += s->requests_[MetricsShard::request_index(o, r, rev)].load(std::memory_order_relaxed);
        }
        if (n == 0) continue;
        out.append("revrouter_requests_total{outcome=\"");
        out.append(to_string(static_cast<Outcome>(o)));
        out.append("\",reason=\"");
        append_escaped_label(ReasonLabel::name(r), out);
        out.append("\",revision=\"");
        append_escaped_label(revisions_.name(rev), out);
        fmt::format_to(it, "\"}} {}\n", n);
      }
    }
  }

  header(out, "revrouter_request_duration_seconds", "histogram",
         "Time from a webhook request's last byte to its response, by the server's clock.");
  std::uint64_t cumulative = 0;
  std::uint64_t sum_us = 0;
  for (const auto& s : shards_) sum_us += s->latency_sum_us_.load(std::memory_order_relaxed);
  for (std::size_t b = 0; b <= kLatencyBucketsUs.size(); ++b) {
    for (const auto& s : shards_)
      cumulative += s->latency_buckets_[b].load(std::memory_order_relaxed);
    if (b < kLatencyBucketsUs.size()) {
      fmt::format_to(it, "revrouter_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                     static_cast<double>(kLatencyBucketsUs[b]) / 1e6, cumulative);
    } else {
      fmt::format_to(it, "revrouter_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                     cumulative);
    }
  }
  fmt::format_to(it, "revrouter_request_duration_seconds_sum {}\n",
                 static_cast<double>(sum_us) / 1e6);
  fmt::format_to(it, "revrouter_request_duration_seconds_count {}\n", cumulative);

  header(out, "revrouter_requests_in_flight", "gauge",
         "HTTP requests read and not yet answered (this scrape included).");
  fmt::format_to(it, "revrouter_requests_in_flight {}\n", in_flight());

  header(out, "revrouter_limit_trips_total", "counter",
         "Times a configured limit stopped a connection or request.");
  for (std::size_t l = 0; l < kLimitCount; ++l) {
    fmt::format_to(it, "revrouter_limit_trips_total{{limit=\"{}\"}} {}\n",
                   to_string(static_cast<Limit>(l)), limit_trips(static_cast<Limit>(l)));
  }

  header(out, "revrouter_tls_handshake_failures_total", "counter", "Failed TLS handshakes.");
  fmt::format_to(it, "revrouter_tls_handshake_failures_total {}\n", handshake_failures());

  header(out, "revrouter_config_reloads_total", "counter",
         "Routing table reloads; a failed one keeps the last good table.");
  fmt::format_to(it, "revrouter_config_reloads_total{{result=\"ok\"}} {}\n", config_reloads(true));
  fmt::format_to(it, "revrouter_config_reloads_total{{result=\"failed\"}} {}\n",
                 config_reloads(false));

  header(out, "revrouter_cert_reloads_total", "counter",
         "Serving certificate reloads; a failed one keeps the last good certificate.");
  fmt::format_to(it, "revrouter_cert_reloads_total{{result=\"ok\"}} {}\n", cert_reloads(true));
  fmt::format_to(it, "revrouter_cert_reloads_total{{result=\"failed\"}} {}\n", cert_reloads(false));

  header(out, "revrouter_open_connections", "gauge", "Open client connections (TLS port).");
  fmt::format_to(it, "revrouter_open_connections {}\n", gauges.open_connections);
  header(out, "revrouter_ready", "gauge", "1 when /readyz answers 200.");
  fmt::format_to(it, "revrouter_ready {}\n", gauges.ready ? 1 : 0);
  header(out, "revrouter_draining", "gauge", "1 after SIGTERM, while the server drains.");
  fmt::format_to(it, "revrouter_draining {}\n", gauges.draining ? 1 : 0);
  header(out, "revrouter_config_generation", "gauge",
         "How many routing tables have been loaded (1 after start-up).");
  fmt::format_to(it, "revrouter_config_generation {}\n", gauges.config_generation);
}

}  // namespace revrouter::server
