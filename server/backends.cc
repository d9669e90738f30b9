#include "server/backends.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <iterator>

#include "admission/json_out.h"

namespace revrouter::server {

std::string_view to_string(UpstreamOutcome o) {
  switch (o) {
    case UpstreamOutcome::kOk:
      return "ok";
    case UpstreamOutcome::kConnect:
      return "connect";
    case UpstreamOutcome::kTls:
      return "tls";
    case UpstreamOutcome::kTimeout:
      return "timeout";
    case UpstreamOutcome::kStatus:
      return "http_status";
    case UpstreamOutcome::kProtocol:
      return "protocol";
    case UpstreamOutcome::kInvalid:
      return "invalid_review";
    case UpstreamOutcome::kBreakerOpen:
      return "breaker_open";
    case UpstreamOutcome::kNoTime:
      return "no_time_left";
    case UpstreamOutcome::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

UpstreamOutcome outcome_of(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return UpstreamOutcome::kOk;
    case UpstreamError::kConnect:
      return UpstreamOutcome::kConnect;
    case UpstreamError::kTls:
      return UpstreamOutcome::kTls;
    case UpstreamError::kTimeout:
      return UpstreamOutcome::kTimeout;
    case UpstreamError::kStatus:
      return UpstreamOutcome::kStatus;
    case UpstreamError::kProtocol:
      return UpstreamOutcome::kProtocol;
    case UpstreamError::kCancelled:
      return UpstreamOutcome::kCancelled;
  }
  return UpstreamOutcome::kProtocol;
}

std::string_view to_string(FailureAction a) {
  switch (a) {
    case FailureAction::kFailClosed:
      return "fail-closed";
    case FailureAction::kFailOpen:
      return "fail-open";
    case FailureAction::kFallback:
      return "fallback";
  }
  return "unknown";
}

std::string_view to_string(ShadowOutcome o) {
  switch (o) {
    case ShadowOutcome::kMatch:
      return "match";
    case ShadowOutcome::kMismatch:
      return "mismatch";
    case ShadowOutcome::kUpstreamFailed:
      return "upstream_failed";
    case ShadowOutcome::kError:
      return "error";
    case ShadowOutcome::kSkipped:
      return "skipped";
  }
  return "unknown";
}

namespace {

std::int64_t ns_of(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool same_breaker(const BreakerConfig& a, const BreakerConfig& b) {
  return a.failures == b.failures && a.probe_interval_ms == b.probe_interval_ms;
}

}  // namespace

UpstreamState::UpstreamState(std::string revision, std::shared_ptr<Upstream> upstream,
                             BreakerConfig breaker)
    : revision_(std::move(revision)), upstream_(std::move(upstream)), breaker_(breaker) {}

bool UpstreamState::record(UpstreamOutcome outcome, std::string_view message) {
  add(calls_[static_cast<std::size_t>(outcome)]);
  if (outcome == UpstreamOutcome::kOk) {
    consecutive_.store(0, std::memory_order_relaxed);
    return false;
  }
  if (outcome == UpstreamOutcome::kBreakerOpen || outcome == UpstreamOutcome::kCancelled ||
      outcome == UpstreamOutcome::kNoTime) {
    return false;  // not the upstream's failure
  }
  {
    std::lock_guard lock(error_mutex_);
    last_error_.assign(message);
    last_error_at_ = std::chrono::system_clock::now();
  }
  const std::uint32_t n = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n < breaker_.failures) return false;
  bool expected = false;
  if (!open_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return false;
  next_probe_ns_.store(ns_of(std::chrono::steady_clock::now() +
                             std::chrono::milliseconds(breaker_.probe_interval_ms)),
                       std::memory_order_relaxed);
  add(opens_);
  return true;
}

bool UpstreamState::claim_probe(std::chrono::steady_clock::time_point now) {
  if (!breaker_open()) return false;
  if (ns_of(now) < next_probe_ns_.load(std::memory_order_relaxed)) return false;
  bool expected = false;
  return probing_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
}

bool UpstreamState::record_probe(bool ok, std::string_view message) {
  next_probe_ns_.store(ns_of(std::chrono::steady_clock::now() +
                             std::chrono::milliseconds(breaker_.probe_interval_ms)),
                       std::memory_order_relaxed);
  probing_.store(false, std::memory_order_release);
  if (!ok) {
    std::lock_guard lock(error_mutex_);
    last_error_.assign("probe: ").append(message);
    last_error_at_ = std::chrono::system_clock::now();
    return false;
  }
  consecutive_.store(0, std::memory_order_relaxed);
  bool expected = true;
  return open_.compare_exchange_strong(expected, false, std::memory_order_acq_rel);
}

std::string UpstreamState::last_error() const {
  std::lock_guard lock(error_mutex_);
  return last_error_;
}

Result<UpstreamStates> build_upstreams(const RoutingTable& table, const UpstreamStates* previous) {
  UpstreamStates out(table.revisions.size());
  for (std::size_t i = 0; i < table.revisions.size(); ++i) {
    const Revision& r = table.revisions[i];
    if (r.backend != Backend::kProxy && !r.shadow) continue;
    if (previous != nullptr) {
      for (const auto& old : *previous) {
        if (old && old->revision() == r.name && old->upstream()->same_settings(r.upstream) &&
            same_breaker(old->breaker_config(), r.breaker)) {
          out[i] = old;
          break;
        }
      }
      if (out[i]) continue;
    }
    auto upstream = Upstream::create(r.upstream, table.source);
    if (!upstream) return upstream.error();
    out[i] = std::make_shared<UpstreamState>(r.name, std::move(*upstream), r.breaker);
  }
  return out;
}

bool any_route_works(const RoutingTable& table, const UpstreamStates& upstreams) {
  for (std::size_t i = 0; i < table.revisions.size(); ++i) {
    if (table.revisions[i].backend == Backend::kLocal) return true;
    if (i < upstreams.size() && upstreams[i] && !upstreams[i]->breaker_open()) return true;
  }
  return false;
}

void render_upstreams_json(const RoutingTable& table, const UpstreamStates& upstreams,
                           std::string& out) {
  out.append("{\"upstreams\":[");
  bool first = true;
  for (std::size_t i = 0; i < table.revisions.size() && i < upstreams.size(); ++i) {
    const UpstreamState* s = upstreams[i].get();
    if (s == nullptr) continue;
    const Revision& r = table.revisions[i];
    if (!first) out.push_back(',');
    first = false;
    auto& c = s->upstream()->counters();
    out.append("{\"revision\":");
    append_json_string(out, r.name);
    out.append(",\"role\":");
    append_json_string(out, r.backend == Backend::kProxy ? "proxy" : "shadow");
    out.append(",\"url\":");
    append_json_string(out, r.upstream.url);
    out.append(",\"serverName\":");
    append_json_string(out, r.upstream.server_name);
    out.append(",\"breaker\":");
    append_json_string(out, s->breaker_open() ? "open" : "closed");
    fmt::format_to(std::back_inserter(out),
                   ",\"consecutiveFailures\":{},\"breakerOpens\":{},\"handshakes\":{},"
                   "\"resumedHandshakes\":{},\"connectionsOpened\":{},\"lastError\":",
                   s->consecutive_failures(), s->breaker_opens(), c.handshakes.load(),
                   c.resumed_handshakes.load(), c.connections_opened.load());
    append_json_string(out, s->last_error());
    if (r.backend == Backend::kProxy) {
      out.append(",\"onFailure\":");
      append_json_string(out, to_string(r.on_failure.action));
      if (r.on_failure.action == FailureAction::kFallback) {
        out.append(",\"fallback\":");
        append_json_string(out, table.revisions[r.on_failure.fallback].name);
      }
    }
    out.append(",\"requests\":{");
    for (std::size_t o = 0; o < kUpstreamOutcomeCount; ++o) {
      if (o != 0) out.push_back(',');
      fmt::format_to(std::back_inserter(out), "\"{}\":{}",
                     to_string(static_cast<UpstreamOutcome>(o)),
                     s->calls(static_cast<UpstreamOutcome>(o)));
    }
    out.append("},\"failurePolicy\":{");
    for (std::size_t p = 0; p < kPolicyCount; ++p) {
      if (p != 0) out.push_back(',');
      fmt::format_to(std::back_inserter(out), "\"{}\":{}", to_string(static_cast<FailureAction>(p)),
                     s->policies(static_cast<FailureAction>(p)));
    }
    out.append("},\"shadow\":{");
    for (std::size_t o = 0; o < kShadowOutcomeCount; ++o) {
      if (o != 0) out.push_back(',');
      fmt::format_to(std::back_inserter(out), "\"{}\":{}", to_string(static_cast<ShadowOutcome>(o)),
                     s->shadows(static_cast<ShadowOutcome>(o)));
    }
    out.append("}}");
  }
  out.append("]}\n");
}

void render_upstream_metrics(const RoutingTable& table, const UpstreamStates& upstreams,
                             std::string& out) {
  auto each = [&](auto&& fn) {
    for (std::size_t i = 0; i < table.revisions.size() && i < upstreams.size(); ++i) {
      if (upstreams[i]) fn(*upstreams[i]);
    }
  };
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("revrouter_upstream_requests_total", "counter",
         "Calls to istiod injectors by revision and result.");
  each([&](const UpstreamState& s) {
    for (std::size_t o = 0; o < kUpstreamOutcomeCount; ++o) {
      fmt::format_to(std::back_inserter(out),
                     "revrouter_upstream_requests_total{{revision=\"{}\",result=\"{}\"}} {}\n",
                     s.revision(), to_string(static_cast<UpstreamOutcome>(o)),
                     s.calls(static_cast<UpstreamOutcome>(o)));
    }
  });
  header("revrouter_upstream_failure_policy_total", "counter",
         "Proxy requests answered by the revision's failure policy.");
  each([&](const UpstreamState& s) {
    for (std::size_t p = 0; p < kPolicyCount; ++p) {
      fmt::format_to(
          std::back_inserter(out),
          "revrouter_upstream_failure_policy_total{{revision=\"{}\",policy=\"{}\"}} {}\n",
          s.revision(), to_string(static_cast<FailureAction>(p)),
          s.policies(static_cast<FailureAction>(p)));
    }
  });
  header("revrouter_upstream_breaker_open", "gauge", "1 while the upstream's breaker is open.");
  each([&](const UpstreamState& s) {
    fmt::format_to(std::back_inserter(out),
                   "revrouter_upstream_breaker_open{{revision=\"{}\"}} {}\n", s.revision(),
                   s.breaker_open() ? 1 : 0);
  });
  header("revrouter_upstream_breaker_opens_total", "counter", "Times the breaker opened.");
  each([&](const UpstreamState& s) {
    fmt::format_to(std::back_inserter(out),
                   "revrouter_upstream_breaker_opens_total{{revision=\"{}\"}} {}\n", s.revision(),
                   s.breaker_opens());
  });
  header("revrouter_upstream_handshakes_total", "counter",
         "TLS handshakes with the upstream, full or resumed.");
  each([&](const UpstreamState& s) {
    auto& c = s.upstream()->counters();
    const std::uint64_t all = c.handshakes.load(), resumed = c.resumed_handshakes.load();
    fmt::format_to(std::back_inserter(out),
                   "revrouter_upstream_handshakes_total{{revision=\"{}\",resumed=\"false\"}} {}\n"
                   "revrouter_upstream_handshakes_total{{revision=\"{}\",resumed=\"true\"}} {}\n",
                   s.revision(), all - std::min(all, resumed), s.revision(), resumed);
  });
  header("revrouter_upstream_connections_opened_total", "counter",
         "Connections opened to the upstream.");
  each([&](const UpstreamState& s) {
    fmt::format_to(std::back_inserter(out),
                   "revrouter_upstream_connections_opened_total{{revision=\"{}\"}} {}\n",
                   s.revision(), s.upstream()->counters().connections_opened.load());
  });
  header("revrouter_shadow_total", "counter",
         "Shadow comparisons of local injection against istiod, by result.");
  each([&](const UpstreamState& s) {
    for (std::size_t o = 0; o < kShadowOutcomeCount; ++o) {
      fmt::format_to(std::back_inserter(out),
                     "revrouter_shadow_total{{revision=\"{}\",result=\"{}\"}} {}\n", s.revision(),
                     to_string(static_cast<ShadowOutcome>(o)),
                     s.shadows(static_cast<ShadowOutcome>(o)));
    }
  });
}

std::string probe_review(std::string_view uid) {
  std::string out =
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":)";
  append_json_string(out, uid);
  out.append(R"(,"kind":{"group":"","version":"v1","kind":"Pod"},)"
             R"("resource":{"group":"","version":"v1","resource":"pods"},)"
             R"("namespace":"revrouter-probe","operation":"CREATE","dryRun":true,)"
             R"("object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"revrouter-probe",)"
             R"("namespace":"revrouter-probe","labels":{"sidecar.istio.io/inject":"false"},)"
             R"("annotations":{"sidecar.istio.io/inject":"false"}},)"
             R"("spec":{"containers":[{"name":"probe","image":"revrouter-probe"}]}}}})");
  return out;
}

}  // namespace revrouter::server
