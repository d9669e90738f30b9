#include "server/routes.h"

#include <fmt/format.h>

#include <iterator>

#include "admission/handler.h"
#include "server/proxy.h"
#include "server/request_timeout.h"

namespace revrouter::server {
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kPrometheusText = "text/plain; version=0.0.4; charset=utf-8";

bool is_webhook_path(std::string_view path) {
  return path == "/inject" || path.starts_with("/inject/");
}

// Request-controlled text quoted in a message, cut short so a message stays readable.
std::string_view quoted(std::string_view s) { return s.substr(0, 256); }

RouteResult probe(int status, std::string_view text, std::string& body) {
  RouteResult r;
  r.status = status;
  r.content_type = kText;
  r.counted = false;
  body.assign(text);
  return r;
}

RouteResult method_not_allowed(const HttpRequestView& req, std::string_view path,
                               std::string_view allow, std::string& body) {
  body.clear();
  fmt::format_to(std::back_inserter(body), "method {} not allowed for {}: use {}",
                 quoted(req.method_text), quoted(path), allow);
  RouteResult r = reject(405, "method_not_allowed", body, body);
  r.allow = allow;
  return r;
}

RouteResult route_webhook(const HttpRequestView& req, std::string_view path, std::string_view query,
                          Worker& worker, std::string& body) {
  if (req.method != http::verb::post) return method_not_allowed(req, path, "POST", body);
  if (!req.has_content_type) {
    return reject(415, "unsupported_media_type",
                  "missing Content-Type: webhook requests must be application/json", body);
  }
  if (!is_json_media_type(req.content_type)) {
    body.clear();
    fmt::format_to(std::back_inserter(body),
                   "unsupported Content-Type \"{}\": webhook requests must be application/json",
                   quoted(req.content_type));
    return reject(415, "unsupported_media_type", body, body);
  }
  if (req.body_len == 0) {
    return reject(400, "empty_body", "empty body: expected an AdmissionReview", body);
  }
  auto timeout = timeout_from_query(query);
  if (!timeout) return reject(400, timeout.error().code, timeout.error().message, body);
  const ServerLimits& limits = worker.shared.options.limits;
  const Duration budget =
      answer_budget(timeout->value_or(limits.default_request_timeout), limits.timeout_margin);

  const LoadedConfig& config = worker.config.get();
  RequestScratch& scratch = worker.scratch;
  // The parse rewrites the body in place: keep the bytes an upstream may need.
  const bool keep_original = config.table.has_upstreams() && req.original != nullptr;
  if (keep_original) req.original->assign(req.body, req.body_len);
  const HandledRequest handled =
      handle_admission(config.table, path, req.body, req.body_len, scratch);

  RouteResult r;
  r.answer_by = req.received + std::chrono::duration_cast<Clock::duration>(budget);
  if (handled.forward_to != nullptr) {
    if (!keep_original) {
      return reject(500, "other",
                    "internal error: the request's bytes were not kept for forwarding", body);
    }
    auto call = std::make_shared<ForwardCall>();
    call->config = worker.config.shared();
    call->decided = call->asking = handled.forward_to;
    call->version = handled.version;
    call->reason = handled.decision.reason;
    call->requested.assign(handled.decision.requested);
    call->warning = handled.decision.warning;
    call->uid.assign(handled.uid);
    call->namespace_.assign(handled.namespace_);
    call->pod.assign(handled.pod_name);
    call->path.assign(path);
    call->original = *req.original;
    call->answer_by = r.answer_by;
    r.forward = std::move(call);
    return r;
  }
  // A local injection of a shadowed revision (not a denial: scratch.patch holds a patch).
  const Revision* shadowed = handled.decision.inject && handled.error_code.empty() &&
                                     handled.decision.revision->shadow && keep_original
                                 ? handled.decision.revision
                                 : nullptr;
  if (shadowed != nullptr) {
    start_shadow(worker, worker.config.shared(),
                 static_cast<std::size_t>(shadowed - config.table.revisions.data()), *req.original,
                 scratch.patch, path, handled.uid, handled.version);
  }
  r.status = handled.http_status;
  r.content_type = handled.content_type;
  r.uid = handled.uid;
  r.namespace_ = handled.namespace_;
  r.pod = handled.pod_name;
  r.revision_slot = config.slot_of(handled.decision.revision);
  if (handled.http_status != 200) {
    r.outcome = Outcome::kRejected;
    r.reason = ReasonLabel::of_error(handled.error_code);
  } else if (!handled.error_code.empty()) {
    // An in-protocol answer with an error: a denial, or an allowance with a warning.
    r.outcome = handled.body.find(R"("allowed":false)") != std::string_view::npos
                    ? Outcome::kDenied
                    : Outcome::kAllowed;
    r.reason = ReasonLabel::of_error(handled.error_code);
  } else {
    r.outcome = handled.decision.inject ? Outcome::kInjected : Outcome::kAllowed;
    r.reason = ReasonLabel::of(handled.decision.reason);
  }
  // The body normally is the whole scratch response: swap buffers instead of copying (both keep
  // their capacity, so neither thread's buffer reallocates once warm).
  if (handled.body.data() == scratch.response.data() &&
      handled.body.size() == scratch.response.size()) {
    body.swap(scratch.response);
  } else {
    body.assign(handled.body);
  }
  // The local backend answers synchronously: an answer past its deadline is still the best one
  // there is, so it is sent, and the overrun counted.
  if (Clock::now() > r.answer_by) worker.metrics.limit_tripped(Limit::kDeadline);
  return r;
}

}  // namespace

RouteResult reject(int status, std::string_view code, std::string_view message, std::string& body) {
  RouteResult r;
  r.status = status;
  r.content_type = kText;
  r.counted = true;
  r.outcome = Outcome::kRejected;
  r.reason = ReasonLabel::of_error(code);
  if (message.data() == body.data()) {
    body.resize(message.size());  // message is already the body
  } else {
    body.assign(message);
  }
  body.push_back('\n');
  return r;
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  if (type.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

RouteResult route_request(const HttpRequestView& req, Port port, Worker& worker,
                          std::string& body) {
  body.clear();
  const std::size_t q = req.target.find('?');
  const std::string_view path = req.target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view{} : req.target.substr(q + 1);

  if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/debug/upstreams") {
    if (req.method != http::verb::get) return method_not_allowed(req, path, "GET", body);
    if (path == "/healthz") return probe(200, "ok\n", body);
    if (path == "/readyz") {
      if (worker.shared.ready()) return probe(200, "ready\n", body);
      return probe(503, worker.shared.draining ? "not ready: draining\n" : "not ready\n", body);
    }
    const LoadedConfig& config = worker.config.get();
    RouteResult r = probe(200, "", body);
    if (path == "/debug/upstreams") {
      r.content_type = "application/json";
      render_upstreams_json(config.table, config.upstreams, body);
      return r;
    }
    r.content_type = kPrometheusText;
    worker.shared.metrics.render(worker.shared.gauges(), body);
    render_upstream_metrics(config.table, config.upstreams, body);
    return r;
  }
  if (port == Port::kWebhook && is_webhook_path(path)) {
    return route_webhook(req, path, query, worker, body);
  }
  body.clear();
  fmt::format_to(std::back_inserter(body), "no route for {}: webhook paths start with /inject",
                 quoted(path));
  return reject(404, "not_found", body, body);
}

bool ServerShared::ready() const {
  if (draining.load(std::memory_order_relaxed) || config.generation() == 0 ||
      tls.current() == nullptr) {
    return false;
  }
  const auto loaded = config.current();
  return any_route_works(loaded->table, loaded->upstreams);
}

ServerGauges ServerShared::gauges() const {
  ServerGauges g;
  g.ready = ready();
  g.draining = draining.load(std::memory_order_relaxed);
  g.open_connections = open_connections.load(std::memory_order_relaxed);
  g.config_generation = config.generation();
  return g;
}

}  // namespace revrouter::server
