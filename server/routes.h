// Routing one HTTP request to its answer: the webhook paths (/inject...), /healthz, /readyz and
// /metrics. A plain function of the request and the thread's state, separate from the session that
// does the I/O; it checks what istiod checks (method, Content-Type, empty body, ?timeout=) before
// handing the body to the admission core.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/metrics.h"
#include "server/server_context.h"

namespace revrouter::server {

struct ForwardCall;  // server/proxy.h

using Clock = std::chrono::steady_clock;

enum class Port : std::uint8_t {
  kWebhook,  // HTTPS: every route
  kHealth,   // plain HTTP: /healthz, /readyz, /metrics only
};

struct HttpRequestView {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view method_text;  // as sent, for messages
  std::string_view target;       // path and query
  std::string_view content_type;
  bool has_content_type = false;
  char* body = nullptr;  // writable, NUL-terminated at body[body_len]; parsed in place
  std::size_t body_len = 0;
  Clock::time_point received;  // when the request was fully read
  // Where the body's original bytes are kept when the table has proxy or shadow revisions (the
  // parse rewrites the body in place); owned by the session, alive until its response is sent.
  std::string* original = nullptr;
};

struct RouteResult {
  int status = 200;
  std::string_view content_type;
  std::string_view allow;  // the Allow header of a 405
  // A webhook request (or a bad one) to count in revrouter_requests_total and log; false for a
  // successful health or metrics probe.
  bool counted = true;
  Outcome outcome = Outcome::kRejected;
  std::size_t reason = 0;  // ReasonLabel index
  std::uint16_t revision_slot = RevisionLabels::kNone;
  std::string_view uid, namespace_, pod;  // views into the request body, for the log
  Clock::time_point answer_by;            // the request's deadline (from ?timeout=)
  // Set when the answer has to come from an upstream: the session hands it to start_forward
  // (server/proxy.h) and sends what that produces. Also kept by that final result, whose uid,
  // namespace and pod views point into it.
  std::shared_ptr<ForwardCall> forward;
};

// Writes the response body into `body` (cleared first; its capacity is reused).
RouteResult route_request(const HttpRequestView& request, Port port, Worker& worker,
                          std::string& body);

// A server-level rejection (an HTTP error before or instead of routing): status, error code (the
// reason label) and message (the body).
RouteResult reject(int status, std::string_view code, std::string_view message, std::string& body);

// True if `content_type` is application/json, ignoring case and parameters ("; charset=utf-8").
bool is_json_media_type(std::string_view content_type);

}  // namespace revrouter::server
