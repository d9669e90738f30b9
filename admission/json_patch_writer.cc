#include "admission/json_patch_writer.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "admission/json_out.h"
#include "admission/utf8.h"

namespace revrouter {
namespace {

// Room for `s` escaped: six bytes per byte (\u00XX) covers any string; a long one is measured
// instead, so a megabyte-long annotation does not claim six.
std::size_t escaped_room(std::string_view s) {
  return s.size() <= 4096 ? 6 * s.size() : json_escaped_size(s);
}

// The same for a pointer token, whose '~' and '/' take two bytes each.
std::size_t pointer_token_room(std::string_view s) {
  if (s.size() <= 4096) return 6 * s.size();
  return json_escaped_size(s) +
         static_cast<std::size_t>(
             std::count_if(s.begin(), s.end(), [](char c) { return c == '~' || c == '/'; }));
}

// RFC 6901: '~' -> "~0", '/' -> "~1", then JSON string escaping of the result (neither form needs
// escaping, and neither is longer than six bytes).
char* write_pointer_token(char* o, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '~' && c != '/') continue;
    o = write_json_escaped(o, s.substr(run, i - run));
    o[0] = '~';
    o[1] = c == '~' ? '0' : '1';
    o += 2;
    run = i + 1;
  }
  return write_json_escaped(o, s.substr(run));
}

}  // namespace

void append_go_json_escaped(std::string& out, std::string_view s) {
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
        ++i;
        continue;
      }
      out.append(s.data() + run, i - run);
      append_json_escape(out, c);
      run = ++i;
      continue;
    }
    unsigned cp = 0;
    const std::size_t n = utf8_sequence(s, i, cp);
    if (n == 0) {
      out.append(s.data() + run, i - run);
      out.append("\\ufffd");
      run = ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out.append(s.data() + run, i - run);
      append_json_u_escape(out, cp);
      run = i + n;
    }
    i += n;
  }
  out.append(s.data() + run, s.size() - run);
}

void JsonWriter::grow(std::size_t n) {
  // Doubling, from 256 bytes: claimed room is zero-filled by resize, so claim as it is needed.
  const auto used = static_cast<std::size_t>(p_ - out_->data());
  out_->resize(used + std::max({n, used, std::size_t{256}}));
  p_ = out_->data() + used;
  room_end_ = out_->data() + out_->size();
}

void JsonWriter::quoted(std::string_view s) {
  char* o = room(escaped_room(s) + 2);
  *o++ = '"';
  o = write_json_escaped(o, s);
  *o++ = '"';
  wrote(o);
}

void JsonWriter::key(std::string_view k) {
  prefix();
  quoted(k);
  put(':');
  after_key_ = true;
}

void JsonWriter::string(std::string_view s) {
  prefix();
  quoted(s);
}

void JsonWriter::integer(std::int64_t v) {
  prefix();
  char* o = room(24);
  wrote(std::to_chars(o, o + 24, v).ptr);
}

// Serialises a pod value. The codec parses iteratively, so a hostile body can nest arbitrarily
// deep: the recursion stops at kMaxValueDepth and reports failure instead of exhausting the stack.
bool JsonWriter::copy_value(const JsonValue& v, int depth) {
  if (depth > kMaxValueDepth) return false;
  switch (v.GetType()) {
    case rapidjson::kNullType:
      put("null");
      return true;
    case rapidjson::kFalseType:
      put("false");
      return true;
    case rapidjson::kTrueType:
      put("true");
      return true;
    case rapidjson::kStringType:
      quoted(sv(v));
      return true;
    case rapidjson::kNumberType: {
      char* o = room(32);
      if (v.IsInt64()) {
        wrote(std::to_chars(o, o + 32, v.GetInt64()).ptr);
      } else if (v.IsUint64()) {
        wrote(std::to_chars(o, o + 32, v.GetUint64()).ptr);
      } else {
        wrote(std::to_chars(o, o + 32, v.GetDouble()).ptr);
      }
      return true;
    }
    case rapidjson::kArrayType: {
      put('[');
      bool first = true;
      for (const JsonValue& e : v.GetArray()) {
        if (!first) put(',');
        first = false;
        if (!copy_value(e, depth + 1)) return false;
      }
      put(']');
      return true;
    }
    case rapidjson::kObjectType: {
      put('{');
      bool first = true;
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        if (!first) put(',');
        first = false;
        quoted(sv(it->name));
        put(':');
        if (!copy_value(it->value, depth + 1)) return false;
      }
      put('}');
      return true;
    }
  }
  return true;
}

void JsonWriter::pointer(std::initializer_list<PointerToken> tokens) {
  prefix();
  std::size_t n = 2;
  for (const PointerToken& t : tokens) n += 1 + (t.index >= 0 ? 20 : pointer_token_room(t.name));
  char* o = room(n);
  *o++ = '"';
  for (const PointerToken& t : tokens) {
    *o++ = '/';
    o = t.index >= 0 ? std::to_chars(o, o + 20, t.index).ptr : write_pointer_token(o, t.name);
  }
  *o++ = '"';
  wrote(o);
}

}  // namespace revrouter
