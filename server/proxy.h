// Forwarding a pod to its proxy revision's istiod, and what happens when that fails: the request's
// original bytes go to the upstream within what is left of the request's deadline; a valid answer
// is re-written with revrouter's audit annotations; any failure (or an open breaker) is answered
// by the revision's onFailure policy: fallback to another revision, fail-open or fail-closed.
// Shadow mode sends a local revision's requests to its istiod after the answer and compares.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "admission/handler.h"
#include "server/backends.h"
#include "server/config_store.h"
#include "server/routes.h"
#include "server/server_context.h"

namespace revrouter::server {

// One request waiting for an upstream. Created by route_request (RouteResult::forward) and owned
// by the session until its response has been written and logged.
struct ForwardCall {
  std::shared_ptr<const LoadedConfig> config;  // keeps the revisions and upstream states alive
  const Revision* decided = nullptr;           // the revision the decision chose
  const Revision* asking = nullptr;            // the one being asked (decided, or its fallback)
  ReviewVersion version = ReviewVersion::kV1;
  Reason reason = Reason::kNotSelected;
  std::string requested;             // the tag or revision the pod asked for
  std::string warning;               // the decision's warning, passed on with the answer
  std::string uid, namespace_, pod;  // owned: the log reads them after the parse buffers are reused
  std::string path;                  // the webhook path the request came in on
  std::string_view original;         // the request body as received (owned by the session)
  Clock::time_point answer_by;
  std::string* body = nullptr;  // where the response body goes (the session's)
};

// Starts the call; `done` runs exactly once on the worker's thread, never inside this function,
// with the RouteResult to send (its body written to *call->body), no later than answer_by plus
// the time to build a fallback answer.
void start_forward(Worker& worker, std::shared_ptr<ForwardCall> call,
                   std::function<void(const RouteResult&)> done);

// The upstream path for a webhook request path: `upstream_path` followed by the request's
// key/value segments except revrouter's own ns-rev and ns-injection ("/inject/ns-rev/x/cluster/c"
// to "/inject/cluster/c" when upstream_path is "/inject").
std::string upstream_target(std::string_view upstream_path, std::string_view request_path);

// Shadow mode: after `local_patch` has been answered for a review of a shadowed revision, sends
// `original` to the revision's istiod in the background and counts and logs the comparison.
// Copies what it needs; never delays the caller.
// `uid` and `version` are the request's, as the handler read them.
void start_shadow(Worker& worker, std::shared_ptr<const LoadedConfig> config,
                  std::size_t revision_index, std::string_view original,
                  std::string_view local_patch, std::string_view request_path, std::string_view uid,
                  ReviewVersion version);

// Sends one breaker probe (probe_review) to `state`'s upstream on `worker` and records the
// result; call on the worker's thread.
void send_probe(Worker& worker, std::shared_ptr<UpstreamState> state);

}  // namespace revrouter::server
