// Rendering of `revrouter replay` results: a text report for people (aligned table, patches as
// operations, JSON or a line diff of the pod, a summary by revision and reason, the what-if moves)
// and one JSON document for scripts. Pure functions: results in, text out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "tools/replay.h"
#include "tools/replay_input.h"

namespace revrouter::replay {

// How each request's patch is shown.
enum class Show {
  kNone,   // decision only
  kOps,    // one line per JSON Patch operation: op, path, a short summary of the value
  kPatch,  // the JSON Patch, pretty-printed
  kDiff,   // a unified line diff of the pod (pretty-printed JSON) before and after the patch
};
Result<Show> parse_show(std::string_view text);  // "none", "ops", "patch", "diff"

// One run of all inputs against one target (a routing table, or a live URL).
struct Run {
  std::string target;                  // config file or URL
  std::vector<RequestResult> results;  // parallel to the inputs
  Summary summary;
};

struct Report {
  std::string mode;  // "offline" or "live"
  const std::vector<ReplayInput>* inputs = nullptr;
  const std::vector<InputError>* input_errors = nullptr;
  const Run* run = nullptr;
  const Run* what_if = nullptr;        // set with --what-if: the same inputs under the other table
  const WhatIf* comparison = nullptr;  // set with --what-if
  Show show = Show::kOps;
};

std::string render_text(const Report& report);
nlohmann::ordered_json render_json(const Report& report);

// A short, one-line-per-operation view of a JSON Patch ("add /spec/containers/- {name: x, ...}").
std::string describe_ops(std::string_view patch, std::string_view indent);

// Unified diff (Myers) of two texts by line, with `context` lines around each change; "" when the
// texts are equal.
std::string line_diff(std::string_view before, std::string_view after, int context,
                      std::string_view indent);

}  // namespace revrouter::replay
