// A strict JSON (RFC 8259) pull reader over a byte buffer, for the JSON revrouter checks and passes
// on without building a DOM: istiod's answers and their patches; and, over the same lexers, the
// builder of the review bodies' RapidJSON documents. Strings are scanned eight bytes
// at a time and must be UTF-8 (no surrogate or overlong encodings), so a check runs near memory
// speed. It never allocates, never reads outside the buffer, and nests at most kMaxDepth deep
// (Go's encoding/json limit, which istiod and kube-apiserver parse with).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admission/json_scan.h"
#include "admission/json_view.h"

namespace revrouter {

enum class JsonToken : std::uint8_t {
  kObjectBegin,
  kObjectEnd,
  kArrayBegin,
  kArrayEnd,
  kString,  // a value, or an object member's key (is_key())
  kNumber,
  kTrue,
  kFalse,
  kNull,
  kEnd,    // the one top-level value is complete and only whitespace follows
  kError,  // error() says what, offset() where; every later next() returns kError again
};

class JsonReader {
 public:
  static constexpr std::size_t kMaxDepth = 10000;

  explicit JsonReader(std::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}
  JsonReader(const JsonReader&) = delete;
  JsonReader& operator=(const JsonReader&) = delete;

  JsonToken next();

  // Reads past the value whose first token `first` next() just returned: a container up to and
  // including its end. Returns `first`, or kError.
  JsonToken skip_value(JsonToken first);

  // Reads the whole text; true when it is one valid JSON value.
  bool validate();

  // The token next() returned last: a string's raw text between its quotes (escapes as written)
  // and whether it has any escape; a number's text.
  std::string_view raw() const { return raw_; }
  bool escaped() const { return escaped_; }
  bool is_key() const { return is_key_; }
  std::size_t depth() const { return depth_; }

  // Where the last token began, or where the error is (bytes from the start of the text).
  std::size_t offset() const { return static_cast<std::size_t>(token_ - begin_); }
  // What is wrong, e.g. "unterminated string"; empty unless next() returned kError.
  std::string_view error() const { return error_; }

 private:
  enum class Expect : std::uint8_t {
    kValue,
    kFirstMember,
    kMember,
    kFirstElement,
    kCommaOrEnd,
    kDone
  };

  JsonToken fail(const char* at, const char* message);
  JsonToken value();
  JsonToken close(char c);
  JsonToken string();
  JsonToken number();
  JsonToken literal(std::string_view word, JsonToken token);
  void skip_whitespace();
  bool in_object() const { return (stack_[(depth_ - 1) / 64] >> ((depth_ - 1) % 64)) & 1u; }
  void after_value() { expect_ = depth_ == 0 ? Expect::kDone : Expect::kCommaOrEnd; }

  const char* begin_;
  const char* p_;
  const char* end_;
  const char* token_ = begin_;
  std::string_view raw_;
  const char* error_ = "";
  Expect expect_ = Expect::kValue;
  bool escaped_ = false;
  bool is_key_ = false;
  std::size_t depth_ = 0;
  JsonStringScanner scan_{end_};
  std::uint64_t stack_[(kMaxDepth + 63) / 64];  // bit per level: 1 object, 0 array
};

// Whether `text` is one valid JSON value: exactly what JsonReader accepts (RFC 8259, UTF-8, at most
// kMaxDepth levels), in one pass with its state in registers, about twice JsonReader's speed. No
// error message: when it says no, a JsonReader tells what and where.
bool json_valid(std::string_view text);

// Builds `doc` from `text` as RapidJSON's parse of a review body would (strings decoded as
// parse_review_json decodes them) and returns true. Returns false, and the caller parses with
// RapidJSON, for text that is not JSON, nests deeper than kMaxDepth, or that RapidJSON would reject
// or read differently (a lone high surrogate escape, a number it cannot store). The document's
// strings point into `text`, which must outlive it and is not written (strings with escapes are
// decoded into the document's pool). One pass over the lexers json_valid uses.
bool json_to_document(std::string_view text, ReviewDocument& doc);

// Decodes the raw text of a JSON string (JsonReader::raw() of a valid string) in place and returns
// the decoded text, which starts at `raw` and is never longer. Escapes decode as Go's encoding/json
// decodes them: a lone surrogate becomes U+FFFD.
std::string_view decode_json_string_in_place(char* raw, std::size_t n);
// The same, appended to `out`.
void decode_json_string(std::string_view raw, std::string& out);

// "an object", "a string", ... for messages about a value that starts with `t`.
std::string_view json_type_name(JsonToken t);

}  // namespace revrouter
