#include "server/shadow_compare.h"

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace revrouter::server {
namespace {

using nlohmann::json;

constexpr std::string_view kCode = "shadow_compare";
constexpr std::size_t kMaxValueChars = 120;

// Annotations whose value is JSON written by the injector: the text differs with key order and
// spacing between revisions (and between Go and revrouter) while the content is the same.
constexpr std::array<std::string_view, 1> kJsonAnnotations = {"sidecar.istio.io/status"};

Error failure(std::string message) { return Error{std::string(kCode), std::move(message)}; }

// The pod after `patch` (empty: the pod unchanged), or the reason it does not apply.
Result<json> apply(const json& pod, std::string_view patch, std::string_view which) {
  if (patch.empty()) return pod;
  json ops = json::parse(patch, nullptr, /*allow_exceptions=*/false);
  if (ops.is_discarded()) {
    return failure(std::string(which) + " patch does not apply: it is not JSON");
  }
  try {
    return pod.patch(ops);
  } catch (const json::exception& e) {
    return failure(std::string(which) + " patch does not apply: " + e.what());
  }
}

// Replaces each JSON-valued annotation that parses with its parsed value.
void normalise(json& pod) {
  auto metadata = pod.find("metadata");
  if (metadata == pod.end() || !metadata->is_object()) return;
  auto annotations = metadata->find("annotations");
  if (annotations == metadata->end() || !annotations->is_object()) return;
  for (std::string_view key : kJsonAnnotations) {
    auto it = annotations->find(key);
    if (it == annotations->end() || !it->is_string()) continue;
    json parsed = json::parse(it->get_ref<const std::string&>(), nullptr, false);
    if (!parsed.is_discarded()) *it = std::move(parsed);
  }
}

// `s` cut to at most `max` bytes at a UTF-8 character boundary, "..." marking the cut.
std::string cut(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// A value short enough for a log line: long strings are cut, and any other value whose JSON text
// is long becomes a string of that text, cut.
void shorten(json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() > kMaxValueChars) value = cut(s, kMaxValueChars);
    return;
  }
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxValueChars) value = cut(text, kMaxValueChars);
}

}  // namespace

Result<ShadowVerdict> compare_shadow(std::string_view review, std::string_view local_patch,
                                     std::string_view upstream_patch, std::size_t max_ops) {
  json doc = json::parse(review, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return failure("request.object missing: the review is not JSON");
  const json* object = nullptr;
  if (doc.is_object()) {
    auto request = doc.find("request");
    if (request != doc.end() && request->is_object()) {
      auto it = request->find("object");
      if (it != request->end() && it->is_object()) object = &*it;
    }
  }
  if (object == nullptr) return failure("request.object missing");

  Result<json> ours = apply(*object, local_patch, "local");
  if (!ours) return ours.error();
  Result<json> theirs = apply(*object, upstream_patch, "istiod");
  if (!theirs) return theirs.error();
  normalise(*ours);
  normalise(*theirs);

  const json diff = json::diff(*theirs, *ours);
  ShadowVerdict verdict;
  verdict.differences = diff.size();
  verdict.match = diff.empty();
  json shown = json::array();
  for (std::size_t i = 0; i < diff.size() && i < max_ops; ++i) {
    json op = diff[i];
    if (auto value = op.find("value"); value != op.end()) shorten(*value);
    shown.push_back(std::move(op));
  }
  verdict.diff = shown.dump(-1, ' ', false, json::error_handler_t::replace);
  if (diff.size() > shown.size()) {
    verdict.diff += " (+" + std::to_string(diff.size() - shown.size()) + " more)";
  }
  return verdict;
}

}  // namespace revrouter::server
