// `revrouter replay`: recorded AdmissionReviews run through the server's code path (offline) or a
// live webhook, turned into per-request results, a summary by revision and reason, and a what-if
// comparison of two routing tables. Pure functions over inputs; the CLI only prints.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "admission/handler.h"
#include "admission/result.h"
#include "admission/routing_config.h"
#include "tools/replay_input.h"

namespace revrouter::replay {

// What the webhook did with one request.
enum class Outcome {
  kInject,  // allowed with a JSON Patch
  kProxy,   // offline only: the revision is served by its istiod, which replay does not call
  kSkip,    // allowed without a patch
  kDeny,    // allowed: false
  kError,   // no usable AdmissionReview answer (HTTP error, transport, bad response, bad patch)
};
std::string_view to_string(Outcome o);  // "inject", "proxy", "skip", "deny", "error"

struct RequestResult {
  std::string source;  // where the input came from (file, file:line, file[index])
  std::string uid, namespace_, pod;
  std::string path;  // the webhook path it was sent to
  Outcome outcome = Outcome::kError;
  // From the decision (offline) or the response's auditAnnotations (live); "" when unknown.
  std::string revision, requested, route_source, reason;
  std::vector<std::string> warnings;
  std::string patch;  // the JSON Patch as the webhook returned it (decoded from base64), or ""
  int http_status = 0;
  // kDeny: the response's status code as text and message; kError: a short code and what failed.
  std::string error_code, error_message;
};

// One HTTP answer from whichever transport ran the request.
struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Turns the webhook's answer to `input` into a result: decodes the AdmissionReview response
// (uid, allowed, base64 patch, status, warnings, auditAnnotations) and checks that a patch applies
// to the pod with an independent implementation (nlohmann::json::patch).
RequestResult interpret_reply(const ReplayInput& input, const HttpReply& reply);

// Offline: the request through handle_admission, the server's own function, then interpret_reply.
// Adds what only the decision knows (route source) and reports proxy revisions as kProxy.
RequestResult run_offline(const RoutingTable& table, const ReplayInput& input,
                          RequestScratch& scratch);

// A transport failure (connect, TLS, timeout) as a result.
RequestResult transport_error(const ReplayInput& input, const Error& error);

// ---- Summary ------------------------------------------------------------------------------------

struct SummaryRow {
  std::string revision;  // "" when none
  Outcome outcome = Outcome::kSkip;
  std::string reason;  // the decision reason; for kDeny/kError the error code
  std::size_t count = 0;
};

struct Summary {
  std::size_t requests = 0;  // results summarised
  std::size_t injected = 0, proxied = 0, skipped = 0, denied = 0, errors = 0;
  std::size_t input_errors = 0;  // files or records that could not be read
  std::vector<SummaryRow> rows;  // sorted by outcome, revision, reason
};

Summary summarize(const std::vector<RequestResult>& results, std::size_t input_errors);

// ---- What-if ------------------------------------------------------------------------------------

struct Change {
  std::size_t index = 0;                                  // into both result vectors
  bool outcome = false, revision = false, patch = false;  // which aspects differ
};

struct Move {
  std::string from, to;     // side labels: a revision, "no sidecar", "denied", "error", ...
  bool patch_only = false;  // same revision and outcome, different patch
  std::size_t count = 0;
};

struct WhatIf {
  std::vector<Change> changes;  // in input order
  std::vector<Move> moves;      // grouped, largest first
  std::size_t unchanged = 0;
};

// One side of a comparison, as a person reads it: the revision for inject/proxy, else what
// happened.
std::string side_label(const RequestResult& r);

// Compares two runs of the same inputs (before: --config, after: --what-if), index by index.
// A change is a different outcome, a different patch (compared as JSON values, so formatting never
// counts), or a different revision where either side injects or proxies: a pod left without a
// sidecar either way has not moved, whichever revision declined it.
WhatIf compare(const std::vector<RequestResult>& before, const std::vector<RequestResult>& after);

// ---- Patch helpers ------------------------------------------------------------------------------

// The pod after applying `patch` (a JSON Patch text) to `pod`.
Result<nlohmann::ordered_json> apply_patch(const nlohmann::ordered_json& pod,
                                           std::string_view patch);

}  // namespace revrouter::replay
