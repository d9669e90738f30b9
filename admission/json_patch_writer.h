// JsonWriter: compact JSON appended to a reused std::string, with RFC 6901 JSON Pointer tokens and
// RFC 6902 patch operations. Used by local injection; nothing here allocates beyond `out` growing.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "admission/json_view.h"

namespace revrouter {

// Appends `s` as the body of a JSON string (no quotes) the way Go's encoding/json does: quote,
// backslash and control characters escaped, and also <, >, & (as \u003c, \u003e, \u0026) and
// U+2028/U+2029; invalid UTF-8 becomes U+FFFD. Istio marshals its annotations and env values
// (sidecar.istio.io/status, ISTIO_KUBE_APP_PROBERS, ...) with encoding/json, so their text matches.
void append_go_json_escaped(std::string& out, std::string_view s);
// The same with its quotes: a JSON string as encoding/json writes it.
inline void append_go_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_go_json_escaped(out, s);
  out.push_back('"');
}

// One reference token of a JSON Pointer: a member name (escaped ~ -> ~0, / -> ~1 on output) or an
// array index. "-" (the end of an array) is written with PointerToken::append_end().
struct PointerToken {
  std::string_view name;
  std::int64_t index = -1;  // >= 0: an array index

  PointerToken(std::string_view n) : name(n) {}  // NOLINT: implicit on purpose
  PointerToken(const char* n) : name(n) {}       // NOLINT
  PointerToken(std::size_t i) : index(static_cast<std::int64_t>(i)) {}  // NOLINT
  static PointerToken append_end() { return PointerToken(std::string_view("-")); }
};

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(&out) {}

  void begin_object() {
    prefix();
    out_->push_back('{');
    push();
  }
  void end_object() {
    --depth_;
    out_->push_back('}');
  }
  void begin_array() {
    prefix();
    out_->push_back('[');
    push();
  }
  void end_array() {
    --depth_;
    out_->push_back(']');
  }
  void key(std::string_view k);
  // A key known to need no escaping (a literal of the builder's own): copied as is.
  void literal_key(std::string_view k) {
    prefix();
    out_->push_back('"');
    out_->append(k);
    out_->append("\":");
    after_key_ = true;
  }
  void string(std::string_view s);
  void integer(std::int64_t v);
  void boolean(bool v) {
    prefix();
    out_->append(v ? "true" : "false");
  }
  void null() {
    prefix();
    out_->append("null");
  }
  // A complete JSON value, already serialised.
  void raw_value(std::string_view json) {
    prefix();
    out_->append(json);
  }
  // Already-serialised `"key":value,...` members spliced into the current object.
  void raw_members(std::string_view members) {
    if (members.empty()) return;
    prefix();
    out_->append(members);
  }
  // A RapidJSON value, copied member by member (numbers in their shortest round-trip form). False
  // (output incomplete) when it nests deeper than kMaxValueDepth: no Kubernetes field does.
  static constexpr int kMaxValueDepth = 64;
  [[nodiscard]] bool value(const JsonValue& v);
  // A JSON Pointer as a JSON string: "/a/b~1c/0".
  void pointer(std::initializer_list<PointerToken> tokens);

  // The head of an RFC 6902 operation object: {"op":"<op>","path":"<pointer>" (`op` is one of the
  // RFC's names: no escaping). The caller writes "value" where the op has one, then end_object().
  void begin_op(std::string_view op, std::initializer_list<PointerToken> path) {
    prefix();
    out_->append("{\"op\":\"");
    out_->append(op);
    out_->append("\",\"path\":");
    push();
    first_[depth_] = false;
    after_key_ = true;
    pointer(path);
  }

  std::string& out() { return *out_; }

 private:
  void prefix() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0) {
      if (!first_[depth_]) out_->push_back(',');
      first_[depth_] = false;
    }
  }
  void push() {
    // Deeper nesting than this is a programming error in the builder (pod values are copied with
    // value(), which recurses without this stack).
    first_[++depth_] = true;
  }

  std::string* out_;
  std::array<bool, 32> first_{};
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace revrouter
