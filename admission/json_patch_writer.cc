#include "admission/json_patch_writer.h"

#include <charconv>
#include <cstdint>
#include <cstring>

#include "admission/json_out.h"

namespace revrouter {
namespace {

// RFC 6901: '~' -> "~0", '/' -> "~1", then JSON string escaping of the result.
void append_pointer_token(std::string& out, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '~' && c != '/') continue;
    append_json_escaped(out, s.substr(run, i - run));
    out.append(c == '~' ? "~0" : "~1");
    run = i + 1;
  }
  append_json_escaped(out, s.substr(run));
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (Go's rules:
// shortest form only, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i, unsigned& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  auto at = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(s[i + k]) & 0x3F);
  };
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1)) {
    cp = ((b0 & 0x1Fu) << 6) | at(1);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(1) && cont(2)) {
    cp = ((b0 & 0x0Fu) << 12) | (at(1) << 6) | at(2);
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    cp = ((b0 & 0x07u) << 18) | (at(1) << 12) | (at(2) << 6) | at(3);
    if (cp < 0x10000 || cp > 0x10FFFF) return 0;
    return 4;
  }
  return 0;
}

// Serialises a pod value. The codec parses iteratively, so a hostile body can nest arbitrarily
// deep: the recursion stops at kMaxValueDepth and reports failure instead of exhausting the stack.
bool append_value(std::string& out, const JsonValue& v, int depth) {
  if (depth > JsonWriter::kMaxValueDepth) return false;
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out.append("null");
      return true;
    case rapidjson::kFalseType:
      out.append("false");
      return true;
    case rapidjson::kTrueType:
      out.append("true");
      return true;
    case rapidjson::kStringType:
      out.push_back('"');
      append_json_escaped(out, sv(v));
      out.push_back('"');
      return true;
    case rapidjson::kNumberType: {
      char buf[32];
      std::to_chars_result r{};
      if (v.IsInt64()) {
        r = std::to_chars(buf, buf + sizeof buf, v.GetInt64());
      } else if (v.IsUint64()) {
        r = std::to_chars(buf, buf + sizeof buf, v.GetUint64());
      } else {
        r = std::to_chars(buf, buf + sizeof buf, v.GetDouble());
      }
      out.append(buf, r.ptr);
      return true;
    }
    case rapidjson::kArrayType: {
      out.push_back('[');
      bool first = true;
      for (const JsonValue& e : v.GetArray()) {
        if (!first) out.push_back(',');
        first = false;
        if (!append_value(out, e, depth + 1)) return false;
      }
      out.push_back(']');
      return true;
    }
    case rapidjson::kObjectType: {
      out.push_back('{');
      bool first = true;
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        append_json_escaped(out, sv(it->name));
        out.append("\":");
        if (!append_value(out, it->value, depth + 1)) return false;
      }
      out.push_back('}');
      return true;
    }
  }
  return true;
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

void JsonWriter::key(std::string_view k) {
  prefix();
  out_->push_back('"');
  append_json_escaped(*out_, k);
  out_->append("\":");
  after_key_ = true;
}

void JsonWriter::string(std::string_view s) {
  prefix();
  out_->push_back('"');
  append_json_escaped(*out_, s);
  out_->push_back('"');
}

void JsonWriter::integer(std::int64_t v) {
  prefix();
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_->append(buf, r.ptr);
}

bool JsonWriter::value(const JsonValue& v) {
  prefix();
  return append_value(*out_, v, 0);
}

void JsonWriter::pointer(std::initializer_list<PointerToken> tokens) {
  prefix();
  out_->push_back('"');
  for (const PointerToken& t : tokens) {
    out_->push_back('/');
    if (t.index >= 0) {
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof buf, t.index);
      out_->append(buf, r.ptr);
    } else {
      append_pointer_token(*out_, t.name);
    }
  }
  out_->push_back('"');
}

}  // namespace revrouter
