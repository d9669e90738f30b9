#include "admission/webhook_path.h"

#include <string>

namespace revrouter {
namespace {

constexpr std::string_view kPrefix = "/inject";

Error bad_path(std::string_view path, std::string_view why) {
  std::string msg = "webhook path \"";
  msg.append(path).append("\": ").append(why);
  return make_error("bad_path", std::move(msg));
}

}  // namespace

Result<WebhookPath> parse_webhook_path(std::string_view path) {
  if (path.substr(0, kPrefix.size()) != kPrefix ||
      (path.size() > kPrefix.size() && path[kPrefix.size()] != '/')) {
    return bad_path(path, "not an injection path (want /inject[/<key>/<value>...])");
  }
  std::string_view rest = path.substr(kPrefix.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);  // as Istio: "/inject/" is "/inject"
  if (!rest.empty()) rest.remove_prefix(1);

  WebhookPath out;
  while (!rest.empty()) {
    const std::size_t key_end = rest.find('/');
    const std::string_view key = rest.substr(0, key_end);
    if (key_end == std::string_view::npos) {
      return bad_path(path, "key \"" + std::string(key) + "\" has no value");
    }
    rest.remove_prefix(key_end + 1);
    const std::size_t value_end = rest.find('/');
    const std::string_view value = rest.substr(0, value_end);
    rest.remove_prefix(value_end == std::string_view::npos ? rest.size() : value_end + 1);

    if (key.empty() || value.empty()) return bad_path(path, "empty segment");
    // Segments end up in JSON (warnings, audit annotations, proxy env): bytes that are not
    // printable ASCII (invalid UTF-8 from a raw request target) would make the answer invalid.
    // Label values, cluster ids and network names are all ASCII.
    for (const std::string_view s : {key, value}) {
      for (const char c : s) {
        if (c < 0x21 || c > 0x7e) return bad_path(path, "segments must be printable ASCII");
      }
    }
    if (key.find('%') != std::string_view::npos || value.find('%') != std::string_view::npos) {
      return bad_path(path, "percent-encoded segments are not supported");
    }
    if (key.front() == ':') {
      return bad_path(path, "the deprecated :ENV: form is not supported; use /<key>/<value> segments");
    }

    auto set_once = [&](auto& slot) -> bool {
      if (slot.has_value()) return false;
      slot = value;
      return true;
    };
    bool fresh = true;
    if (key == "ns-rev") {
      fresh = set_once(out.ns.rev);
    } else if (key == "ns-injection") {
      fresh = set_once(out.ns.injection);
    } else if (key == "cluster" || key == "net") {
      std::string_view& slot = key == "cluster" ? out.cluster : out.network;
      fresh = slot.empty();
      slot = value;
    } else {
      for (std::size_t i = 0; i < out.extra_count; ++i) fresh = fresh && out.extra[i].key != key;
      if (fresh) {
        if (out.extra_count == WebhookPath::kMaxExtra) {
          return bad_path(path, "more than " + std::to_string(WebhookPath::kMaxExtra) +
                                    " extra key/value segments");
        }
        out.extra[out.extra_count++] = PathSegment{key, value};
      }
    }
    if (!fresh) return bad_path(path, "key \"" + std::string(key) + "\" is repeated");
  }
  return out;
}

}  // namespace revrouter
