#include "admission/json_patch_writer.h"

#include <charconv>
#include <cstdint>
#include <cstring>

#include "admission/json_out.h"
#include "admission/utf8.h"

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
