#include "admission/json_reader.h"

#include <algorithm>
#include <bit>
#include <cstring>

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
  while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
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
      std::uint64_t& word = stack_[depth_ / 64];
      const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
      // A level that starts a word sets all of it: the stack is never read uninitialised.
      const std::uint64_t kept = depth_ % 64 == 0 ? 0 : word & (bit - 1);
      word = object ? (kept | bit) : kept;
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
  if (static_cast<std::size_t>(end_ - p_) < word.size() ||
      std::memcmp(p_, word.data(), word.size()) != 0) {
    return fail(p_, "expected a value");
  }
  raw_ = {p_, word.size()};
  p_ += word.size();
  after_value();
  return token;
}

JsonToken JsonReader::number() {
  const char* start = p_;
  if (*p_ == '-') ++p_;
  if (p_ == end_ || !is_digit(*p_)) return fail(p_, "expected a digit");
  if (*p_ == '0') {
    ++p_;
  } else {
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  if (p_ != end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_ || !is_digit(*p_)) return fail(p_, "expected a digit after '.'");
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !is_digit(*p_)) return fail(p_, "expected a digit in the exponent");
    while (p_ != end_ && is_digit(*p_)) ++p_;
  }
  raw_ = {start, static_cast<std::size_t>(p_ - start)};
  after_value();
  return JsonToken::kNumber;
}

// p_ is at the opening quote; leaves p_ after the closing one with raw_ between them.
JsonToken JsonReader::string() {
  const char* start = ++p_;
  for (;;) {
    p_ = scan_.next(p_);
    if (p_ == end_) return fail(start - 1, "unterminated string");
    const auto c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      raw_ = {start, static_cast<std::size_t>(p_ - start)};
      ++p_;
      return JsonToken::kString;
    }
    if (c == '\\') {
      escaped_ = true;
      if (end_ - p_ < 2) return fail(start - 1, "unterminated string");
      switch (p_[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p_ += 2;
          break;
        case 'u':
          if (end_ - p_ < 6 || !is_hex(p_[2]) || !is_hex(p_[3]) || !is_hex(p_[4]) ||
              !is_hex(p_[5])) {
            return fail(p_, "invalid \\u escape: want four hex digits");
          }
          p_ += 6;
          break;
        default:
          return fail(p_, "invalid escape in string");
      }
    } else if (c < 0x20) {
      return fail(p_, "control character in string");
    } else {
      unsigned cp;
      const std::size_t n =
          utf8_sequence(std::string_view(p_, static_cast<std::size_t>(end_ - p_)), 0, cp);
      if (n == 0) return fail(p_, "invalid UTF-8 in string");
      p_ += n;
    }
  }
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

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// json_valid's steps are lambdas sharing its locals; inlined, those locals stay in registers.
#if defined(__GNUC__)
#define RR_INLINE __attribute__((always_inline))
#else
#define RR_INLINE
#endif

}  // namespace

bool json_valid(std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  JsonStringScanner stops(end);
  std::uint64_t stack[(JsonReader::kMaxDepth + 63) / 64];  // bit per level: 1 object, 0 array
  std::size_t depth = 0;
  const auto skip_space = [&] {
    while (p != end && is_space(*p)) ++p;
  };
  const auto in_object = [&] { return (stack[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1u; };
  const auto push = [&](bool object) RR_INLINE {
    if (depth == JsonReader::kMaxDepth) return false;
    const std::uint64_t bit = std::uint64_t{1} << (depth % 64);
    std::uint64_t& word = stack[depth / 64];
    const std::uint64_t kept = depth % 64 == 0 ? 0 : word & (bit - 1);
    word = object ? (kept | bit) : kept;
    ++depth;
    ++p;
    return true;
  };
  const auto string = [&]() RR_INLINE {  // at the opening quote
    ++p;
    for (;;) {
      p = stops.next(p);
      if (p == end) return false;
      const auto c = static_cast<unsigned char>(*p);
      if (c == '"') {
        ++p;
        return true;
      }
      if (c == '\\') {
        if (end - p < 2) return false;
        const char e = p[1];
        if (e == 'u') {
          if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5])) {
            return false;
          }
          p += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
          p += 2;
        } else {
          return false;
        }
      } else if (c < 0x20) {
        return false;
      } else {
        unsigned cp;
        const std::size_t n =
            utf8_sequence(std::string_view(p, static_cast<std::size_t>(end - p)), 0, cp);
        if (n == 0) return false;
        p += n;
      }
    }
  };
  const auto digits = [&] {
    if (p == end || !is_digit(*p)) return false;
    while (p != end && is_digit(*p)) ++p;
    return true;
  };
  const auto number = [&]() RR_INLINE {
    if (*p == '-') ++p;
    if (p == end || !is_digit(*p)) return false;
    if (*p == '0') {
      ++p;
    } else {
      digits();
    }
    if (p != end && *p == '.') {
      ++p;
      if (!digits()) return false;
    }
    if (p != end && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p != end && (*p == '+' || *p == '-')) ++p;
      if (!digits()) return false;
    }
    return true;
  };
  const auto literal = [&](std::string_view word) RR_INLINE {
    if (static_cast<std::size_t>(end - p) < word.size() ||
        std::memcmp(p, word.data(), word.size()) != 0) {
      return false;
    }
    p += word.size();
    return true;
  };

value:
  skip_space();
  if (p == end) return false;
  switch (*p) {
    case '{':
      if (!push(true)) return false;
      skip_space();
      if (p != end && *p == '}') {
        ++p;
        --depth;
        goto after_value;
      }
      goto member;
    case '[':
      if (!push(false)) return false;
      skip_space();
      if (p != end && *p == ']') {
        ++p;
        --depth;
        goto after_value;
      }
      goto value;
    case '"':
      if (!string()) return false;
      goto after_value;
    case 't':
      if (!literal("true")) return false;
      goto after_value;
    case 'f':
      if (!literal("false")) return false;
      goto after_value;
    case 'n':
      if (!literal("null")) return false;
      goto after_value;
    default:
      if (!number()) return false;
      goto after_value;
  }

member:  // at a member name, whitespace skipped
  if (p == end || *p != '"' || !string()) return false;
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
    if (in_object()) {
      skip_space();
      goto member;
    }
    goto value;
  }
  if (*p != (in_object() ? '}' : ']')) return false;
  ++p;
  --depth;
  goto after_value;
}

std::string_view decode_json_string_in_place(char* raw, std::size_t n) {
  // Every escape is longer than what it decodes to ("\u00e9" is 6 bytes for 2, a surrogate pair
  // 12 for 4, a lone surrogate 6 for U+FFFD's 3), so the output never overtakes the input.
  const char* in = raw;
  const char* end = raw + n;
  char* out = raw;
  auto hex4 = [](const char* at) {
    return hex_value(at[0]) << 12 | hex_value(at[1]) << 8 | hex_value(at[2]) << 4 |
           hex_value(at[3]);
  };
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
