#include "tools/replay.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "admission/decision.h"
#include "admission/upstream_review.h"

namespace revrouter::replay {
namespace {

using ojson = nlohmann::ordered_json;

std::string string_at(const ojson& obj, std::string_view key) {
  if (!obj.is_object()) return {};
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

RequestResult base_result(const ReplayInput& input) {
  RequestResult r;
  r.source = input.source;
  r.uid = input.uid;
  r.namespace_ = input.namespace_;
  r.pod = input.name;
  r.path = input.path;
  return r;
}

RequestResult failed(RequestResult r, std::string code, std::string message) {
  r.outcome = Outcome::kError;
  r.error_code = std::move(code);
  r.error_message = std::move(message);
  return r;
}

std::string first_line(std::string_view s) {
  const std::size_t eol = s.find('\n');
  std::string line(s.substr(0, eol));
  if (line.size() > 300) line.resize(300);
  return line;
}

// Patches compare as JSON values: the same operations in different formatting are equal.
bool same_patch(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  const auto ja = ojson::parse(a, nullptr, false);
  const auto jb = ojson::parse(b, nullptr, false);
  if (ja.is_discarded() || jb.is_discarded()) return false;
  return ja == jb;
}

}  // namespace

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::kInject:
      return "inject";
    case Outcome::kProxy:
      return "proxy";
    case Outcome::kSkip:
      return "skip";
    case Outcome::kDeny:
      return "deny";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

Result<ojson> apply_patch(const ojson& pod, std::string_view patch) {
  const auto ops = ojson::parse(patch, nullptr, false);
  if (ops.is_discarded()) return make_error("bad_patch", "the patch is not JSON");
  if (!ops.is_array())
    return make_error("bad_patch", "the patch is not a JSON array of operations");
  try {
    return pod.patch(ops);
  } catch (const nlohmann::json::exception& e) {
    return make_error("patch_does_not_apply",
                      std::string("the patch does not apply to the pod: ") + e.what());
  }
}

RequestResult transport_error(const ReplayInput& input, const Error& error) {
  return failed(base_result(input), error.code, error.message);
}

RequestResult interpret_reply(const ReplayInput& input, const HttpReply& reply) {
  RequestResult r = base_result(input);
  r.http_status = reply.status;
  if (reply.status != 200) {
    return failed(std::move(r), "http_" + std::to_string(reply.status), first_line(reply.body));
  }
  const auto doc = ojson::parse(reply.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return failed(std::move(r), "bad_response",
                  "the response is not a JSON object: " + first_line(reply.body));
  }
  if (string_at(doc, "kind") != "AdmissionReview") {
    return failed(std::move(r), "bad_response", "the response is not an AdmissionReview");
  }
  const auto resp = doc.find("response");
  if (resp == doc.end() || !resp->is_object()) {
    return failed(std::move(r), "bad_response", "the AdmissionReview has no response");
  }
  if (const std::string uid = string_at(*resp, "uid"); uid != input.uid) {
    return failed(std::move(r), "uid_mismatch",
                  "response.uid \"" + uid + "\" is not the request's \"" + input.uid + "\"");
  }
  const auto allowed = resp->find("allowed");
  if (allowed == resp->end() || !allowed->is_boolean()) {
    return failed(std::move(r), "bad_response", "response.allowed is missing or not a boolean");
  }
  if (const auto w = resp->find("warnings"); w != resp->end() && w->is_array()) {
    for (const auto& item : *w) {
      if (item.is_string()) r.warnings.push_back(item.get<std::string>());
    }
  }
  if (const auto audit = resp->find("auditAnnotations"); audit != resp->end()) {
    r.reason = string_at(*audit, "reason");
    r.requested = string_at(*audit, "requested");
    r.revision = string_at(*audit, "revision");
  }
  if (!allowed->get<bool>()) {
    r.outcome = Outcome::kDeny;
    r.error_code = "denied";
    if (const auto status = resp->find("status"); status != resp->end()) {
      r.error_message = string_at(*status, "message");
    }
    return r;
  }
  const std::string encoded = string_at(*resp, "patch");
  if (encoded.empty()) {
    r.outcome = Outcome::kSkip;
    return r;
  }
  if (const std::string type = string_at(*resp, "patchType"); type != "JSONPatch") {
    return failed(std::move(r), "bad_response",
                  "response.patchType is \"" + type + "\", want \"JSONPatch\"");
  }
  // The same strict decoder the proxy backend checks istiod's answers with.
  if (!revrouter::decode_base64(encoded, r.patch)) {
    return failed(std::move(r), "bad_response", "response.patch is not valid base64");
  }
  // An independent JSON Patch implementation checks what the apiserver would do with it.
  if (!input.pod.is_object()) {
    return failed(std::move(r), "bad_response", "a patch for a request without a pod object");
  }
  if (auto applied = apply_patch(input.pod, r.patch); !applied) {
    return failed(std::move(r), applied.error().code, applied.error().message);
  }
  r.outcome = Outcome::kInject;
  return r;
}

RequestResult run_offline(const RoutingTable& table, const ReplayInput& input,
                          RequestScratch& scratch) {
  std::string body = input.review;  // parsed in place by the handler, NUL-terminated by std::string
  const HandledRequest handled =
      handle_admission(table, input.path, body.data(), body.size(), scratch);
  const Decision& d = handled.decision;
  RequestResult r;
  if (handled.forward_to != nullptr) {
    // The server forwards these to the revision's istiod; offline there is nothing to call, so
    // the result is the routing, without a patch.
    r = base_result(input);
    r.http_status = 200;
    r.outcome = Outcome::kProxy;
    if (!d.warning.empty()) r.warnings.push_back(d.warning);
  } else {
    HttpReply reply{handled.http_status, std::string(handled.content_type),
                    std::string(handled.body)};
    r = interpret_reply(input, reply);
    if (r.outcome == Outcome::kDeny) {
      r.error_code = handled.error_code;
      return r;
    }
    if (r.outcome == Outcome::kError) return r;
  }
  r.reason = std::string(to_string(d.reason));
  r.requested = std::string(d.requested);
  r.revision = d.revision != nullptr ? d.revision->name : std::string();
  if (d.source != RouteSource::kNone) r.route_source = std::string(to_string(d.source));
  return r;
}

Summary summarize(const std::vector<RequestResult>& results, std::size_t input_errors) {
  Summary s;
  s.requests = results.size();
  s.input_errors = input_errors;
  std::map<std::tuple<Outcome, std::string, std::string>, std::size_t> counts;
  for (const auto& r : results) {
    switch (r.outcome) {
      case Outcome::kInject:
        ++s.injected;
        break;
      case Outcome::kProxy:
        ++s.proxied;
        break;
      case Outcome::kSkip:
        ++s.skipped;
        break;
      case Outcome::kDeny:
        ++s.denied;
        break;
      case Outcome::kError:
        ++s.errors;
        break;
    }
    const bool failed = r.outcome == Outcome::kDeny || r.outcome == Outcome::kError;
    ++counts[{r.outcome, r.revision, failed ? r.error_code : r.reason}];
  }
  for (const auto& [key, count] : counts) {
    s.rows.push_back(SummaryRow{std::get<1>(key), std::get<0>(key), std::get<2>(key), count});
  }
  return s;
}

std::string side_label(const RequestResult& r) {
  switch (r.outcome) {
    case Outcome::kInject:
      return r.revision.empty() ? "injected" : r.revision;
    case Outcome::kProxy:
      return r.revision + " (istiod)";
    case Outcome::kSkip:
      return "no sidecar";
    case Outcome::kDeny:
      return "denied";
    case Outcome::kError:
      return "error";
  }
  return "error";
}

WhatIf compare(const std::vector<RequestResult>& before, const std::vector<RequestResult>& after) {
  WhatIf w;
  std::map<std::tuple<std::string, std::string, bool>, std::size_t> moves;
  const std::size_t n = std::min(before.size(), after.size());
  for (std::size_t i = 0; i < n; ++i) {
    const RequestResult& a = before[i];
    const RequestResult& b = after[i];
    Change c;
    c.index = i;
    c.outcome = a.outcome != b.outcome;
    // The revision matters where one side gives the pod a sidecar (or its istiod would); a pod
    // without one either way has not moved, whichever revision declined it.
    const auto sidecar = [](const RequestResult& r) {
      return r.outcome == Outcome::kInject || r.outcome == Outcome::kProxy;
    };
    c.revision = (sidecar(a) || sidecar(b)) && a.revision != b.revision;
    c.patch = !same_patch(a.patch, b.patch);
    if (!c.outcome && !c.revision && !c.patch) {
      ++w.unchanged;
      continue;
    }
    w.changes.push_back(c);
    ++moves[{side_label(a), side_label(b), !c.outcome && !c.revision}];
  }
  for (const auto& [key, count] : moves) {
    w.moves.push_back(Move{std::get<0>(key), std::get<1>(key), std::get<2>(key), count});
  }
  std::stable_sort(w.moves.begin(), w.moves.end(),
                   [](const Move& x, const Move& y) { return x.count > y.count; });
  return w;
}

}  // namespace revrouter::replay
