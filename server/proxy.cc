#include "server/proxy.h"

#include <fmt/format.h>

#include <array>
#include <boost/asio/post.hpp>
#include <iterator>

#include "admission/upstream_review.h"
#include "server/logging.h"
#include "server/shadow_compare.h"

namespace revrouter::server {
namespace net = boost::asio;
using spdlog::level::level_enum;

namespace {

constexpr std::string_view kJson = "application/json";

// Less than this left before the deadline: the upstream is not asked at all, the policy answers.
constexpr auto kMinUpstreamTime = std::chrono::milliseconds(5);
// A shadow call is never on a request's path, but it must not pile up either.
constexpr auto kShadowTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxShadowsInFlight = 64;
constexpr auto kProbeTimeout = std::chrono::seconds(2);

std::size_t index_of(const LoadedConfig& config, const Revision* r) {
  return static_cast<std::size_t>(r - config.table.revisions.data());
}

UpstreamState* state_of(const LoadedConfig& config, const Revision* r) {
  const std::size_t i = index_of(config, r);
  return i < config.upstreams.size() ? config.upstreams[i].get() : nullptr;
}

// The reason labels of answers a failure policy gave (looked up once).
const std::size_t kFallbackLabel = ReasonLabel::of_error("upstream_fallback");
const std::size_t kFailOpenLabel = ReasonLabel::of_error("upstream_fail_open");
const std::size_t kFailClosedLabel = ReasonLabel::of_error("upstream_fail_closed");

// Records a failed call (a request's, a shadow's) and logs when it opened the breaker.
void record_failure(UpstreamState& state, UpstreamOutcome outcome, std::string_view message) {
  if (!state.record(outcome, message)) return;
  log(level_enum::warn, LogEvent("upstream circuit breaker opened")
                            .str("revision", state.revision())
                            .str("url", state.upstream()->config().url)
                            .num("consecutive_failures", state.consecutive_failures())
                            .str("error", message));
}

class Forward : public std::enable_shared_from_this<Forward> {
 public:
  Forward(Worker& worker, std::shared_ptr<ForwardCall> call,
          std::function<void(const RouteResult&)> done)
      : worker_(worker), call_(std::move(call)), done_(std::move(done)) {}

  void start() {
    UpstreamState* state = state_of(*call_->config, call_->asking);
    if (state == nullptr) {
      return post_failure(UpstreamOutcome::kProtocol, "no upstream is configured for it");
    }
    if (state->breaker_open()) {
      state->record(UpstreamOutcome::kBreakerOpen, {});
      return post_failure(
          UpstreamOutcome::kBreakerOpen,
          fmt::format("circuit breaker open (last error: {})", state->last_error()));
    }
    const auto left = call_->answer_by - Clock::now();
    if (left < kMinUpstreamTime) {
      state->record(UpstreamOutcome::kNoTime, {});
      return post_failure(UpstreamOutcome::kNoTime, "no time left before the request's deadline");
    }
    // The path of the revision being asked: a fallback's istiod may have another.
    target_ = upstream_target(call_->asking->upstream.path, call_->path);
    worker_.upstream_pool->post(
        state->upstream(), target_, call_->original, call_->answer_by,
        [self = shared_from_this()](UpstreamReply&& reply) { self->on_reply(std::move(reply)); });
  }

 private:
  void post_failure(UpstreamOutcome outcome, std::string message) {
    net::post(worker_.ioc, [self = shared_from_this(), outcome, message = std::move(message)] {
      self->fail(outcome, message);
    });
  }

  void on_reply(UpstreamReply&& reply) {
    UpstreamState* state = state_of(*call_->config, call_->asking);
    if (reply.error != UpstreamError::kNone) {
      const UpstreamOutcome outcome = outcome_of(reply.error);
      record_failure(*state, outcome, reply.message);
      return fail(outcome, reply.message);
    }
    RequestScratch& scratch = worker_.scratch;
    auto answer = check_upstream_review(reply.body.data(), reply.body.size(), call_->version,
                                        call_->uid, scratch.patch);
    if (!answer) {
      record_failure(*state, UpstreamOutcome::kInvalid, answer.error().message);
      return fail(UpstreamOutcome::kInvalid, answer.error().message);
    }
    state->record(UpstreamOutcome::kOk, {});

    std::array<AuditAnnotation, 5> audit;
    std::size_t n = 0;
    audit[n++] = {"reason", to_string(call_->reason)};
    if (!call_->requested.empty()) audit[n++] = {"requested", call_->requested};
    audit[n++] = {"revision", call_->asking->name};
    audit[n++] = {"backend", "proxy"};
    if (call_->asking != call_->decided) audit[n++] = {"fallback-for", call_->decided->name};
    std::array<std::string_view, 2> warnings;
    std::size_t w = 0;
    if (!call_->warning.empty()) warnings[w++] = call_->warning;
    if (!fallback_warning_.empty()) warnings[w++] = fallback_warning_;
    write_upstream_answer(*answer, call_->version, call_->uid, std::span(audit.data(), n),
                          std::span(warnings.data(), w), *call_->body);

    RouteResult r = base_result();
    r.content_type = kJson;
    if (!answer->allowed) {
      r.outcome = Outcome::kDenied;
    } else {
      r.outcome = answer->patch.empty() ? Outcome::kAllowed : Outcome::kInjected;
    }
    r.reason = call_->asking != call_->decided ? kFallbackLabel : ReasonLabel::of(call_->reason);
    finish(r);
  }

  // The upstream gave no usable answer: the asking revision's onFailure policy answers.
  void fail(UpstreamOutcome outcome, std::string_view message) {
    const Revision& rev = *call_->asking;
    const UpstreamFailurePolicy& policy = rev.on_failure;
    if (UpstreamState* state = state_of(*call_->config, &rev)) state->count_policy(policy.action);
    log(level_enum::warn, LogEvent("istiod call failed; answering by onFailure")
                              .str("uid", call_->uid)
                              .str("namespace", call_->namespace_)
                              .str("pod", call_->pod)
                              .str("revision", rev.name)
                              .str("url", rev.upstream.url)
                              .str("result", to_string(outcome))
                              .str("error", message)
                              .str("on_failure", to_string(policy.action)));
    const std::string what =
        fmt::format("revrouter: istiod of revision {} ({}) failed: {}", rev.name, rev.upstream.url,
                    std::string_view(message).substr(0, 300));

    if (policy.action == FailureAction::kFallback && call_->asking == call_->decided) {
      return fall_back(call_->config->table.revisions[policy.fallback], what);
    }
    AdmissionResponse resp;
    resp.version = call_->version;
    resp.uid = call_->uid;
    std::array<AuditAnnotation, 5> audit;
    std::size_t n = 0;
    audit[n++] = {"reason", to_string(call_->reason)};
    audit[n++] = {"revision", rev.name};
    audit[n++] = {"upstream-failure", to_string(outcome)};
    audit[n++] = {"on-failure", to_string(policy.action)};
    if (call_->asking != call_->decided) audit[n++] = {"fallback-for", call_->decided->name};
    resp.audit_annotations = std::span(audit.data(), n);
    std::string text;
    std::array<std::string_view, 3> warnings;
    std::size_t w = 0;
    if (!fallback_warning_.empty()) warnings[w++] = fallback_warning_;
    RouteResult r = base_result();
    r.content_type = kJson;
    if (!call_->warning.empty()) warnings[w++] = call_->warning;
    // A fallback that is itself a proxy and failed ends here too, with its own fail-open or
    // fail-closed: the config rejects fallback chains.
    if (policy.action == FailureAction::kFailOpen) {
      text = what + "; pod created without a sidecar (onFailure: fail-open)";
      warnings[w++] = text;
      resp.allowed = true;
      r.outcome = Outcome::kAllowed;
      r.reason = kFailOpenLabel;
    } else {
      text = what + "; pod denied (onFailure: fail-closed)";
      resp.allowed = false;
      resp.status_code = 500;
      resp.status_message = text;
      r.outcome = Outcome::kDenied;
      r.reason = kFailClosedLabel;
    }
    resp.warnings = std::span(warnings.data(), w);
    write_admission_review(resp, *call_->body);
    finish(r);
  }

  // Injects with `fallback` instead: re-handles a pristine copy of the request with it as the
  // substitute, locally or by asking its istiod.
  void fall_back(const Revision& fallback, const std::string& what) {
    fallback_warning_ = what + "; injected by fallback revision " + fallback.name;
    std::string& copy = worker_.reparse;
    copy.assign(call_->original);
    RequestScratch& scratch = worker_.scratch;
    const HandledRequest handled =
        handle_admission(call_->config->table, call_->path, copy.data(), copy.size(), scratch,
                         &fallback, fallback_warning_);
    if (handled.forward_to != nullptr) {
      call_->asking = handled.forward_to;
      return start();
    }
    RouteResult r = base_result();
    r.status = handled.http_status;
    r.content_type = handled.content_type;
    if (handled.http_status != 200) {
      r.outcome = Outcome::kRejected;
      r.reason = ReasonLabel::of_error(handled.error_code);
    } else if (!handled.error_code.empty()) {
      r.outcome = Outcome::kDenied;
      r.reason = ReasonLabel::of_error(handled.error_code);
    } else {
      r.outcome = handled.decision.inject ? Outcome::kInjected : Outcome::kAllowed;
      r.reason = kFallbackLabel;
    }
    r.revision_slot = call_->config->slot_of(handled.decision.revision);
    call_->body->assign(handled.body);
    finish(r);
  }

  RouteResult base_result() const {
    RouteResult r;
    r.status = 200;
    r.counted = true;
    r.uid = call_->uid;
    r.namespace_ = call_->namespace_;
    r.pod = call_->pod;
    r.revision_slot = call_->config->slot_of(call_->asking);
    r.answer_by = call_->answer_by;
    r.forward = call_;
    return r;
  }

  void finish(const RouteResult& r) {
    if (Clock::now() > call_->answer_by) worker_.metrics.limit_tripped(Limit::kDeadline);
    auto done = std::move(done_);
    done(r);
  }

  Worker& worker_;
  std::shared_ptr<ForwardCall> call_;
  std::function<void(const RouteResult&)> done_;
  std::string target_;  // of the call in flight; the pool reads it until the reply
  std::string fallback_warning_;
};

// A shadow comparison in flight: owns copies of the request and of the local patch.
struct Shadow {
  std::shared_ptr<const LoadedConfig> config;
  std::shared_ptr<UpstreamState> state;
  std::string review, local_patch, target, uid;
  ReviewVersion version = ReviewVersion::kV1;
};

}  // namespace

std::string upstream_target(std::string_view upstream_path, std::string_view request_path) {
  std::string out(upstream_path);
  while (!out.empty() && out.back() == '/') out.pop_back();
  std::string_view rest = request_path;
  if (rest.starts_with("/inject")) rest.remove_prefix(7);
  while (!rest.empty()) {
    // rest is "/key/value..." (the path was validated before it got here)
    const std::size_t k_end = rest.find('/', 1);
    if (k_end == std::string_view::npos) break;
    const std::string_view key = rest.substr(1, k_end - 1);
    std::size_t v_end = rest.find('/', k_end + 1);
    if (v_end == std::string_view::npos) v_end = rest.size();
    if (key != "ns-rev" && key != "ns-injection") out.append(rest.substr(0, v_end));
    rest.remove_prefix(v_end);
  }
  if (out.empty()) out.push_back('/');
  return out;
}

void start_forward(Worker& worker, std::shared_ptr<ForwardCall> call,
                   std::function<void(const RouteResult&)> done) {
  std::make_shared<Forward>(worker, std::move(call), std::move(done))->start();
}

void start_shadow(Worker& worker, std::shared_ptr<const LoadedConfig> config,
                  std::size_t revision_index, std::string_view original,
                  std::string_view local_patch, std::string_view request_path, std::string_view uid,
                  ReviewVersion version) {
  if (revision_index >= config->upstreams.size() || !config->upstreams[revision_index]) return;
  auto state = config->upstreams[revision_index];
  if (state->breaker_open() || worker.shadows_in_flight >= kMaxShadowsInFlight) {
    state->count_shadow(ShadowOutcome::kSkipped);
    return;
  }
  auto shadow = std::make_shared<Shadow>();
  shadow->config = std::move(config);
  shadow->state = std::move(state);
  shadow->review.assign(original);
  shadow->local_patch.assign(local_patch);
  shadow->uid.assign(uid);
  shadow->version = version;
  shadow->target = upstream_target(shadow->state->upstream()->config().path, request_path);
  ++worker.shadows_in_flight;
  // After the current handler: the answer's write is started first.
  net::post(worker.ioc, [&worker, shadow] {
    worker.upstream_pool->post(
        shadow->state->upstream(), shadow->target, shadow->review,
        UpstreamClock::now() + kShadowTimeout, [&worker, shadow](UpstreamReply&& reply) {
          --worker.shadows_in_flight;
          UpstreamState& state = *shadow->state;
          auto report = [&](ShadowOutcome o, level_enum level, std::string_view msg,
                            std::string_view detail) {
            state.count_shadow(o);
            if (!log_enabled(level)) return;
            log(level, LogEvent(msg)
                           .str("uid", shadow->uid)
                           .str("revision", state.revision())
                           .str("result", to_string(o))
                           .str("detail", detail));
          };
          if (reply.error != UpstreamError::kNone) {
            record_failure(state, outcome_of(reply.error), reply.message);
            return report(ShadowOutcome::kUpstreamFailed, level_enum::info, "shadow call failed",
                          reply.message);
          }
          std::string upstream_patch;
          auto answer = check_upstream_review(reply.body.data(), reply.body.size(), shadow->version,
                                              shadow->uid, upstream_patch);
          if (!answer) {
            record_failure(state, UpstreamOutcome::kInvalid, answer.error().message);
            return report(ShadowOutcome::kUpstreamFailed, level_enum::info, "shadow answer invalid",
                          answer.error().message);
          }
          state.record(UpstreamOutcome::kOk, {});
          auto verdict = compare_shadow(shadow->review, shadow->local_patch, answer->patch);
          if (!verdict) {
            return report(ShadowOutcome::kError, level_enum::warn, "shadow comparison failed",
                          verdict.error().message);
          }
          if (verdict->match) {
            return report(ShadowOutcome::kMatch, level_enum::debug, "shadow match", {});
          }
          report(ShadowOutcome::kMismatch, level_enum::warn,
                 "shadow mismatch: local injection differs from istiod", verdict->diff);
        });
  });
}

void send_probe(Worker& worker, std::shared_ptr<UpstreamState> state) {
  struct Probe {
    std::string uid, review, target;
  };
  auto probe = std::make_shared<Probe>();
  static std::atomic<std::uint64_t> counter{0};
  probe->uid = fmt::format("revrouter-probe-{}", counter.fetch_add(1));
  probe->review = probe_review(probe->uid);
  probe->target = upstream_target(state->upstream()->config().path, "/inject");
  const auto interval = std::chrono::milliseconds(state->breaker_config().probe_interval_ms);
  worker.upstream_pool->post(
      state->upstream(), probe->target, probe->review,
      UpstreamClock::now() + std::min<std::chrono::milliseconds>(kProbeTimeout, interval),
      [state, probe](UpstreamReply&& reply) {
        std::string error = reply.message;
        bool ok = reply.error == UpstreamError::kNone;
        if (ok) {
          std::string patch;
          auto answer = check_upstream_review(reply.body.data(), reply.body.size(),
                                              ReviewVersion::kV1, probe->uid, patch);
          if (!answer) {
            ok = false;
            error = answer.error().message;
          }
        }
        if (state->record_probe(ok, error)) {
          log(level_enum::info, LogEvent("upstream circuit breaker closed: probe succeeded")
                                    .str("revision", state->revision())
                                    .str("url", state->upstream()->config().url));
        }
      });
}

}  // namespace revrouter::server
