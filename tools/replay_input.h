// Replay inputs: recorded AdmissionReviews (JSON, JSON arrays, Kubernetes Lists, JSON lines,
// directories of them) and plain Pods (YAML or JSON) wrapped into v1 AdmissionReviews, each with
// the webhook path it is sent to. Bad records become errors naming file and line; the rest still
// load.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admission/result.h"

namespace revrouter::replay {

struct InputOptions {
  std::string path = "/inject";  // webhook path for inputs that do not carry one
  std::string namespace_;        // plain pods: their namespace ("": the pod's own, else "default")
  // Namespace labels as key/value; istio.io/rev and istio-injection become ns-rev / ns-injection
  // segments of the webhook path (admission/webhook_path.h).
  std::vector<std::pair<std::string, std::string>> namespace_labels;
};

// Parses "key=value" (from --namespace-label). Only istio.io/rev and istio-injection reach the
// injector (through the webhook path), so other keys are an error rather than silently ignored.
Result<std::pair<std::string, std::string>> parse_namespace_label(std::string_view text);

// The webhook path for inputs without their own: options.path with the namespace-label segments
// inserted after /inject. Validated with the server's parser (parse_webhook_path).
Result<std::string> webhook_path_for(const InputOptions& options);

struct ReplayInput {
  std::string source;          // "file", "file:line" (JSON lines, YAML documents) or "file[index]"
  std::string path;            // webhook path
  std::string review;          // the AdmissionReview request, JSON text
  std::string uid;             // request.uid, to check the response against
  nlohmann::ordered_json pod;  // request.object when it is an object (for diffs), else null
  std::string namespace_, name;  // for display: request namespace, pod name or generateName
};

struct InputError {
  std::string source;  // file, or file:line
  std::string message;
};

struct InputSet {
  std::vector<ReplayInput> inputs;
  std::vector<InputError> errors;
  std::size_t wrapped_pods = 0;  // numbers the uids generated for plain pods: replay-1, replay-2...
};

enum class Format { kAuto, kJson, kJsonLines, kYaml };

// Format by extension: .json, .jsonl/.ndjson, .yaml/.yml; kAuto for anything else (sniffed).
Format format_of(std::string_view file_name);

// Reads one text (the contents of `source`) into `out`. Each record is an AdmissionReview, a Pod,
// a List (kind ending in "List" with items), a JSON array of records, or an envelope
// {"path": "/inject/...", "review": {...}} carrying its own webhook path.
void read_text(std::string_view text, const std::string& source, Format format,
               const InputOptions& options, InputSet& out);

// Reads files and directories (recursively, in name order; only .json/.jsonl/.ndjson/.yaml/.yml
// inside directories). "-" reads standard input. Generated uids are numbered in input order, so
// runs are deterministic.
InputSet read_inputs(const std::vector<std::string>& paths, const InputOptions& options);

}  // namespace revrouter::replay
