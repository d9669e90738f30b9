#include "admission/json_reader.h"

#include <rapidjson/reader.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <vector>

#include "admission/json_scan.h"
#include "admission/utf8.h"

namespace revrouter {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Writes cp as UTF-8 at out; returns the end.
char* put_utf8(unsigned cp, char* out) {
  if (cp < 0x80) {
    *out++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out++ = static_cast<char>(0xC0 | (cp >> 6));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out++ = static_cast<char>(0xE0 | (cp >> 12));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out++ = static_cast<char>(0xF0 | (cp >> 18));
    *out++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

#if defined(__GNUC__)
#define REVROUTER_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define REVROUTER_ALWAYS_INLINE inline
#endif

// The lexical rules JsonReader (which says what is wrong) and json_valid (which only says whether)
// share: each reads one string or number at p and returns kOk with p past it, or what is wrong
// with p at the byte to blame (for kUnterminated the caller blames the string's opening quote).
// Inlined into both, so json_valid keeps p in a register.
enum class Lexed : std::uint8_t {
  kOk,
  kUnterminated,
  kBadUEscape,
  kBadEscape,
  kControl,
  kBadUtf8,
  kDigit,
  kFractionDigit,
  kExponentDigit,
};

const char* lexed_message(Lexed e) {
  switch (e) {
    case Lexed::kOk:
      break;
    case Lexed::kUnterminated:
      return "unterminated string";
    case Lexed::kBadUEscape:
      return "invalid \\u escape: want four hex digits";
    case Lexed::kBadEscape:
      return "invalid escape in string";
    case Lexed::kControl:
      return "control character in string";
    case Lexed::kBadUtf8:
      return "invalid UTF-8 in string";
    case Lexed::kDigit:
      return "expected a digit";
    case Lexed::kFractionDigit:
      return "expected a digit after '.'";
    case Lexed::kExponentDigit:
      return "expected a digit in the exponent";
  }
  return "internal reader state";
}

// From just past a string's opening quote to just past its closing one; `escaped` is set when the
// string has an escape.
REVROUTER_ALWAYS_INLINE Lexed lex_string(const char*& p, const char* end, JsonStringScanner& scan,
                                         bool& escaped) {
  for (;;) {
    p = scan.next(p);
    if (p == end) return Lexed::kUnterminated;
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      ++p;
      return Lexed::kOk;
    }
    if (c == '\\') {
      escaped = true;
      if (end - p < 2) return Lexed::kUnterminated;
      switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;
          break;
        case 'u':
          if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5])) {
            return Lexed::kBadUEscape;
          }
          p += 6;
          break;
        default:
          return Lexed::kBadEscape;
      }
    } else if (c < 0x20) {
      return Lexed::kControl;
    } else {
      unsigned cp;
      const std::size_t n =
          utf8_sequence(std::string_view(p, static_cast<std::size_t>(end - p)), 0, cp);
      if (n == 0) return Lexed::kBadUtf8;
      p += n;
    }
  }
}

// A number (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?), p not at end.
REVROUTER_ALWAYS_INLINE Lexed lex_number(const char*& p, const char* end) {
  const auto digits = [&] {
    while (p != end && is_digit(*p)) ++p;
  };
  if (*p == '-') ++p;
  if (p == end || !is_digit(*p)) return Lexed::kDigit;
  if (*p == '0') {
    ++p;
  } else {
    digits();
  }
  if (p != end && *p == '.') {
    ++p;
    if (p == end || !is_digit(*p)) return Lexed::kFractionDigit;
    digits();
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    if (p == end || !is_digit(*p)) return Lexed::kExponentDigit;
    digits();
  }
  return Lexed::kOk;
}

// Whether `word` (true, false, null) is at p; moves p past it if so.
REVROUTER_ALWAYS_INLINE bool lex_literal(const char*& p, const char* end, std::string_view word) {
  if (static_cast<std::size_t>(end - p) < word.size() ||
      std::memcmp(p, word.data(), word.size()) != 0) {
    return false;
  }
  p += word.size();
  return true;
}

// Records level `depth` of a container-kind stack (a bit per level: 1 object, 0 array). A level
// that starts a word sets all of it, so the stack is never read uninitialised.
REVROUTER_ALWAYS_INLINE void set_level(std::uint64_t* stack, std::size_t depth, bool object) {
  std::uint64_t& word = stack[depth / 64];
  const std::uint64_t bit = std::uint64_t{1} << (depth % 64);
  const std::uint64_t kept = depth % 64 == 0 ? 0 : word & (bit - 1);
  word = object ? (kept | bit) : kept;
}

bool level_is_object(const std::uint64_t* stack, std::size_t depth) {
  return (stack[depth / 64] >> (depth % 64)) & 1u;
}

}  // namespace

JsonToken JsonReader::fail(const char* at, const char* message) {
  token_ = at;
  error_ = message;
  p_ = end_;
  expect_ = Expect::kDone;
  raw_ = {};
  return JsonToken::kError;
}

void JsonReader::skip_whitespace() {
  while (p_ != end_ && is_space(*p_)) ++p_;
}

JsonToken JsonReader::next() {
  if (*error_ != '\0') return JsonToken::kError;
  is_key_ = false;
  escaped_ = false;
  skip_whitespace();
  token_ = p_;
  switch (expect_) {
    case Expect::kDone:
      if (p_ != end_) return fail(p_, "unexpected text after the value");
      raw_ = {};
      return JsonToken::kEnd;
    case Expect::kValue:
      return value();
    case Expect::kFirstElement:
      if (p_ != end_ && *p_ == ']') return close(']');
      return value();
    case Expect::kCommaOrEnd: {
      const bool object = in_object();
      if (p_ == end_) return fail(p_, object ? "expected ',' or '}'" : "expected ',' or ']'");
      if (*p_ == (object ? '}' : ']')) return close(*p_);
      if (*p_ != ',') return fail(p_, object ? "expected ',' or '}'" : "expected ',' or ']'");
      ++p_;
      skip_whitespace();
      token_ = p_;
      if (!object) return value();
      [[fallthrough]];
    }
    case Expect::kMember:
    case Expect::kFirstMember: {
      if (expect_ == Expect::kFirstMember && p_ != end_ && *p_ == '}') return close('}');
      if (p_ == end_ || *p_ != '"') return fail(p_, "expected a member name in quotes");
      if (string() == JsonToken::kError) return JsonToken::kError;
      skip_whitespace();
      if (p_ == end_ || *p_ != ':') return fail(p_, "expected ':' after a member name");
      ++p_;
      is_key_ = true;
      expect_ = Expect::kValue;
      return JsonToken::kString;
    }
  }
  return fail(p_, "internal reader state");
}

JsonToken JsonReader::close(char c) {
  ++p_;
  --depth_;
  raw_ = {};
  after_value();
  return c == '}' ? JsonToken::kObjectEnd : JsonToken::kArrayEnd;
}

JsonToken JsonReader::value() {
  if (p_ == end_) return fail(p_, "expected a value");
  switch (*p_) {
    case '{':
    case '[': {
      if (depth_ == kMaxDepth) return fail(p_, "nested deeper than 10000 levels");
      const bool object = *p_ == '{';
      set_level(stack_, depth_, object);
      ++depth_;
      ++p_;
      raw_ = {};
      expect_ = object ? Expect::kFirstMember : Expect::kFirstElement;
      return object ? JsonToken::kObjectBegin : JsonToken::kArrayBegin;
    }
    case '"':
      if (string() == JsonToken::kError) return JsonToken::kError;
      after_value();
      return JsonToken::kString;
    case 't':
      return literal("true", JsonToken::kTrue);
    case 'f':
      return literal("false", JsonToken::kFalse);
    case 'n':
      return literal("null", JsonToken::kNull);
    default:
      if (*p_ == '-' || is_digit(*p_)) return number();
      return fail(p_, "expected a value");
  }
}

JsonToken JsonReader::literal(std::string_view word, JsonToken token) {
  const char* start = p_;
  if (!lex_literal(p_, end_, word)) return fail(p_, "expected a value");
  raw_ = {start, word.size()};
  after_value();
  return token;
}

JsonToken JsonReader::number() {
  const char* start = p_;
  if (const Lexed e = lex_number(p_, end_); e != Lexed::kOk) return fail(p_, lexed_message(e));
  raw_ = {start, static_cast<std::size_t>(p_ - start)};
  after_value();
  return JsonToken::kNumber;
}

// p_ is at the opening quote; leaves p_ after the closing one with raw_ between them.
JsonToken JsonReader::string() {
  const char* start = ++p_;
  if (const Lexed e = lex_string(p_, end_, scan_, escaped_); e != Lexed::kOk) {
    return fail(e == Lexed::kUnterminated ? start - 1 : p_, lexed_message(e));
  }
  raw_ = {start, static_cast<std::size_t>(p_ - 1 - start)};
  return JsonToken::kString;
}

JsonToken JsonReader::skip_value(JsonToken first) {
  if (first != JsonToken::kObjectBegin && first != JsonToken::kArrayBegin) return first;
  const std::size_t outer = depth_ - 1;
  for (;;) {
    const JsonToken t = next();
    if (t == JsonToken::kError) return t;
    if ((t == JsonToken::kObjectEnd || t == JsonToken::kArrayEnd) && depth_ == outer) return first;
  }
}

bool JsonReader::validate() {
  for (;;) {
    const JsonToken t = next();
    if (t == JsonToken::kEnd) return true;
    if (t == JsonToken::kError) return false;
  }
}

namespace {

// The grammar of one JSON value (RFC 8259, at most JsonReader::kMaxDepth levels) over the lexers
// above, shared by json_valid (events that do nothing, so it compiles to the bare check) and
// json_to_document (events that build a RapidJSON document). `ev` is told each token in order; a
// false from it stops the walk, which then returns false. Strings are passed raw: their text
// between the quotes, escapes as written, and whether there is one.
template <class Events>
REVROUTER_ALWAYS_INLINE bool json_walk(std::string_view text, Events& ev) {
  const char* p = text.data();
  const char* const end = p + text.size();
  JsonStringScanner stops(end);
  std::uint64_t stack[(JsonReader::kMaxDepth + 63) / 64];  // bit per level: 1 object, 0 array
  std::size_t depth = 0;
  const auto skip_space = [&] {
    while (p != end && is_space(*p)) ++p;
  };
  const char* raw;  // a string's text, from just past its opening quote
  bool escaped;

value:
  skip_space();
  if (p == end) return false;
  switch (*p) {
    case '{':
    case '[': {
      const bool object = *p == '{';
      if (depth == JsonReader::kMaxDepth || !ev.begin(object)) return false;
      set_level(stack, depth++, object);
      ++p;
      skip_space();
      if (p != end && *p == (object ? '}' : ']')) {
        ++p;
        --depth;
        if (!ev.end(object)) return false;
        goto after_value;
      }
      if (object) goto member;
      goto value;
    }
    case '"':
      raw = ++p;
      escaped = false;
      if (lex_string(p, end, stops, escaped) != Lexed::kOk ||
          !ev.string(raw, static_cast<std::size_t>(p - 1 - raw), escaped)) {
        return false;
      }
      goto after_value;
    case 't':
      if (!lex_literal(p, end, "true") || !ev.literal('t')) return false;
      goto after_value;
    case 'f':
      if (!lex_literal(p, end, "false") || !ev.literal('f')) return false;
      goto after_value;
    case 'n':
      if (!lex_literal(p, end, "null") || !ev.literal('n')) return false;
      goto after_value;
    default: {
      const char* const number = p;
      if (lex_number(p, end) != Lexed::kOk || !ev.number(number, p)) return false;
      goto after_value;
    }
  }

member:  // at a member name, whitespace skipped
  if (p == end || *p != '"') return false;
  raw = ++p;
  escaped = false;
  if (lex_string(p, end, stops, escaped) != Lexed::kOk ||
      !ev.key(raw, static_cast<std::size_t>(p - 1 - raw), escaped)) {
    return false;
  }
  skip_space();
  if (p == end || *p != ':') return false;
  ++p;
  goto value;

after_value:
  skip_space();
  if (depth == 0) return p == end;
  if (p == end) return false;
  if (*p == ',') {
    ++p;
    if (level_is_object(stack, depth - 1)) {
      skip_space();
      goto member;
    }
    goto value;
  }
  {
    const bool object = level_is_object(stack, depth - 1);
    if (*p != (object ? '}' : ']')) return false;
    ++p;
    --depth;
    if (!ev.end(object)) return false;
  }
  goto after_value;
}

struct NoEvents {
  static bool begin(bool) { return true; }
  static bool end(bool) { return true; }
  static bool key(const char*, std::size_t, bool) { return true; }
  static bool string(const char*, std::size_t, bool) { return true; }
  static bool number(const char*, const char*) { return true; }
  static bool literal(char) { return true; }
};

unsigned hex4(const char* at) {
  return hex_value(at[0]) << 12 | hex_value(at[1]) << 8 | hex_value(at[2]) << 4 | hex_value(at[3]);
}

// Whether the raw text of a valid string has a \u escape of a high surrogate (U+D800..U+DBFF)
// that is not followed by one of a low surrogate: RapidJSON rejects that string.
bool has_lone_high_surrogate(const char* raw, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (raw[i] != '\\') continue;
    if (raw[i + 1] != 'u') {
      ++i;  // a two-character escape
      continue;
    }
    const unsigned cp = hex4(raw + i + 2);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 12 > n || raw[i + 6] != '\\' || raw[i + 7] != 'u') return true;
      const unsigned low = hex4(raw + i + 8);
      if (low < 0xDC00 || low > 0xDFFF) return true;
      i += 11;  // the pair
      continue;
    }
    i += 5;
  }
  return false;
}

// Builds a RapidJSON document from the walk's events, as GenericDocument does from its reader's:
// values pushed on the document's stack, each container closed with its count. Declines (returns
// false) what RapidJSON would parse differently or reject: a lone high surrogate escape, a number
// it could not store, a string over its 4 GiB size type.
class DocumentEvents {
 public:
  DocumentEvents(ReviewDocument& doc, std::vector<std::uint32_t>& counts)
      : doc_(doc), counts_(counts) {}

  bool begin(bool object) {
    counted();
    counts_.push_back(0);
    return object ? doc_.StartObject() : doc_.StartArray();
  }
  bool end(bool object) {
    const std::uint32_t n = counts_.back();
    counts_.pop_back();
    return object ? doc_.EndObject(n) : doc_.EndArray(n);
  }
  bool key(const char* raw, std::size_t n, bool escaped) { return put_string(raw, n, escaped); }
  bool string(const char* raw, std::size_t n, bool escaped) {
    counted();
    return put_string(raw, n, escaped);
  }
  bool literal(char first) {
    counted();
    return first == 'n' ? doc_.Null() : doc_.Bool(first == 't');
  }
  bool number(const char* begin, const char* end) {
    counted();
    // An integer of up to nine digits, as RapidJSON's reader gives it: Uint, or Int when negative.
    const bool minus = *begin == '-';
    const char* d = begin + minus;
    if (end - d <= 9) {
      unsigned v = 0;
      for (; d != end && is_digit(*d); ++d) v = v * 10 + static_cast<unsigned>(*d - '0');
      if (d == end) return minus ? doc_.Int(-static_cast<int>(v)) : doc_.Uint(v);
    }
    return other_number(begin, static_cast<std::size_t>(end - begin));
  }

 private:
  void counted() {
    if (!counts_.empty()) ++counts_.back();
  }

  bool put_string(const char* raw, std::size_t n, bool escaped) {
    if (n > std::numeric_limits<rapidjson::SizeType>::max()) return false;
    if (!escaped) return doc_.String(raw, static_cast<rapidjson::SizeType>(n), false);
    if (has_lone_high_surrogate(raw, n)) return false;
    // Decoded into the document's pool: the body stays as it came.
    char* text = static_cast<char*>(doc_.GetAllocator().Malloc(n));
    std::memcpy(text, raw, n);
    const std::string_view decoded = decode_json_string_in_place(text, n);
    return doc_.String(decoded.data(), static_cast<rapidjson::SizeType>(decoded.size()), false);
  }

  // Any other number goes through RapidJSON's own number reader, so its type (Int64, Uint64,
  // Double) and its double's rounding are RapidJSON's; one it cannot store (1e400) is declined.
  bool other_number(const char* text, std::size_t n) {
    char buf[64];
    if (n >= sizeof buf) return false;
    std::memcpy(buf, text, n);
    buf[n] = '\0';
    struct Forward : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Forward> {
      ReviewDocument* doc;
      bool Int(int i) { return doc->Int(i); }
      bool Uint(unsigned u) { return doc->Uint(u); }
      bool Int64(std::int64_t i) { return doc->Int64(i); }
      bool Uint64(std::uint64_t u) { return doc->Uint64(u); }
      bool Double(double d) { return doc->Double(d); }
      static bool Default() { return false; }
    } forward;
    forward.doc = &doc_;
    rapidjson::StringStream in(buf);
    rapidjson::Reader reader;
    reader.Parse<rapidjson::kParseStopWhenDoneFlag>(in, forward);
    return !reader.HasParseError() && in.Tell() == n;
  }

  ReviewDocument& doc_;
  std::vector<std::uint32_t>& counts_;
};

}  // namespace

bool json_valid(std::string_view text) {
  NoEvents none;
  return json_walk(text, none);
}

bool json_to_document(std::string_view text, ReviewDocument& doc) {
  thread_local std::vector<std::uint32_t> counts;  // members or elements per open container
  counts.clear();
  DocumentEvents events(doc, counts);
  bool ok = false;
  auto generate = [&](ReviewDocument&) { return ok = json_walk(text, events); };
  // Populate keeps the parse result of an earlier Parse into `doc`; a one-byte parse clears it.
  if (doc.HasParseError()) doc.Parse("0");
  doc.Populate(generate);
  return ok;
}

std::string_view decode_json_string_in_place(char* raw, std::size_t n) {
  // Every escape is longer than what it decodes to ("\u00e9" is 6 bytes for 2, a surrogate pair
  // 12 for 4, a lone surrogate 6 for U+FFFD's 3), so the output never overtakes the input.
  const char* in = raw;
  const char* end = raw + n;
  char* out = raw;
  while (in < end) {
    if (*in != '\\') {
      *out++ = *in++;
      continue;
    }
    const char e = in[1];
    in += 2;
    switch (e) {
      case 'b':
        *out++ = '\b';
        continue;
      case 'f':
        *out++ = '\f';
        continue;
      case 'n':
        *out++ = '\n';
        continue;
      case 'r':
        *out++ = '\r';
        continue;
      case 't':
        *out++ = '\t';
        continue;
      case 'u':
        break;
      default:
        *out++ = e;
        continue;  // '"', '\\', '/'
    }
    unsigned cp = hex4(in);
    in += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF && end - in >= 6 && in[0] == '\\' && in[1] == 'u') {
      const unsigned low = hex4(in + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        in += 6;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    out = put_utf8(cp, out);
  }
  return {raw, static_cast<std::size_t>(out - raw)};
}

void decode_json_string(std::string_view raw, std::string& out) {
  const std::size_t start = out.size();
  out.append(raw);
  out.resize(start + decode_json_string_in_place(out.data() + start, raw.size()).size());
}

std::string_view json_type_name(JsonToken t) {
  switch (t) {
    case JsonToken::kObjectBegin:
      return "an object";
    case JsonToken::kArrayBegin:
      return "an array";
    case JsonToken::kString:
      return "a string";
    case JsonToken::kNumber:
      return "a number";
    case JsonToken::kTrue:
    case JsonToken::kFalse:
      return "a boolean";
    case JsonToken::kNull:
      return "null";
    default:
      return "not a value";
  }
}

}  // namespace revrouter
