// JsonWriter: compact JSON appended to a reused std::string, with RFC 6901 JSON Pointer tokens and
// RFC 6902 patch operations. Used by local injection; nothing here allocates beyond `out` growing.
#pragma once

#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
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

// Writes through a pointer into room claimed at the end of `out`: while writing, `out` is longer
// than what was written (by room not yet used, whose bytes are unspecified). finish(), or the
// writer's end, trims it to what was written: read `out` after one of them, and change it only
// through the writer while the writer lives. Writing may go on after finish(). Small appends are
// inline (std::string's are calls into the library).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(&out), p_(out.data() + out.size()), room_end_(p_) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;
  ~JsonWriter() {
    if (room_end_ != p_) finish();
  }

  // `out` as written so far, without the unused room.
  std::string& finish() {
    out_->resize(static_cast<std::size_t>(p_ - out_->data()));
    room_end_ = p_;
    return *out_;
  }

  void begin_object() {
    prefix();
    put('{');
    push();
  }
  void end_object() {
    --depth_;
    put('}');
  }
  void begin_array() {
    prefix();
    put('[');
    push();
  }
  void end_array() {
    --depth_;
    put(']');
  }
  void key(std::string_view k);
  // A key known to need no escaping (a literal of the builder's own): copied as is.
  void literal_key(std::string_view k) {
    prefix();
    char* o = room(k.size() + 3);
    *o++ = '"';
    std::memcpy(o, k.data(), k.size());
    o += k.size();
    o[0] = '"';
    o[1] = ':';
    wrote(o + 2);
    after_key_ = true;
  }
  void string(std::string_view s);
  void integer(std::int64_t v);
  void boolean(bool v) {
    prefix();
    put(v ? std::string_view("true") : std::string_view("false"));
  }
  void null() {
    prefix();
    put("null");
  }
  // A complete JSON value, already serialised.
  void raw_value(std::string_view json) {
    prefix();
    put(json);
  }
  // Already-serialised `"key":value,...` members spliced into the current object.
  void raw_members(std::string_view members) {
    if (members.empty()) return;
    prefix();
    put(members);
  }
  // A RapidJSON value, copied member by member (numbers in their shortest round-trip form). False
  // (output incomplete) when it nests deeper than kMaxValueDepth: no Kubernetes field does.
  static constexpr int kMaxValueDepth = 64;
  [[nodiscard]] bool value(const JsonValue& v) {
    prefix();
    return copy_value(v, 0);
  }
  // A JSON Pointer as a JSON string: "/a/b~1c/0".
  void pointer(std::initializer_list<PointerToken> tokens);

  // The head of an RFC 6902 operation object: {"op":"<op>","path":"<pointer>" (`op` is one of the
  // RFC's names: no escaping). The caller writes "value" where the op has one, then end_object().
  void begin_op(std::string_view op, std::initializer_list<PointerToken> path) {
    prefix();
    put("{\"op\":\"");
    put(op);
    put("\",\"path\":");
    push();
    first_[depth_] = false;
    after_key_ = true;
    pointer(path);
  }

 private:
  // At least n bytes of room at the returned pointer (which is p_); the caller then says where
  // what it wrote ends.
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(room_end_ - p_) < n) grow(n);
    return p_;
  }
  void wrote(char* end) {
    assert(end >= p_ && end <= room_end_);  // within the room claimed
    p_ = end;
  }
  void grow(std::size_t n);
  void put(char c) {
    char* o = room(1);
    *o = c;
    wrote(o + 1);
  }
  void put(std::string_view s) {
    char* o = room(s.size());
    std::memcpy(o, s.data(), s.size());
    wrote(o + s.size());
  }
  // `s` escaped, quotes included.
  void quoted(std::string_view s);
  bool copy_value(const JsonValue& v, int depth);

  void prefix() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0) {
      if (!first_[depth_]) put(',');
      first_[depth_] = false;
    }
  }
  void push() {
    // Deeper nesting than this is a programming error in the builder (pod values are copied with
    // value(), which recurses without this stack).
    first_[++depth_] = true;
  }

  std::string* out_;
  char* p_;         // where the next byte goes
  char* room_end_;  // the end of *out_ while writing: room from p_ to here
  std::array<bool, 32> first_{};
  int depth_ = 0;
  bool after_key_ = false;
};

}  // namespace revrouter
