// Parses one body with the three parsers parse_review_json may use (json_to_document, and for the
// bodies it declines RapidJSON's recursive or iterative parser, by the body's bracket count) and
// says how they disagree: shared by the codec tests and fuzz_admission_review.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admission/admission_review.h"
#include "admission/json_reader.h"

namespace revrouter::testing {

// Whether two parsed documents hold the same values with members in the same order. (RapidJSON's
// operator== looks members up by name, which is wrong with a repeated name: {"a":1,"a":2} is not
// equal to itself.) Iterative: a document can be 100,000 levels deep.
inline bool same_document(const JsonValue& a, const JsonValue& b) {
  std::vector<std::pair<const JsonValue*, const JsonValue*>> todo{{&a, &b}};
  while (!todo.empty()) {
    const auto [x, y] = todo.back();
    todo.pop_back();
    if (x->GetType() != y->GetType()) return false;
    if (x->IsArray()) {
      if (x->Size() != y->Size()) return false;
      for (rapidjson::SizeType i = 0; i < x->Size(); ++i) todo.emplace_back(&(*x)[i], &(*y)[i]);
    } else if (x->IsObject()) {
      if (x->MemberCount() != y->MemberCount()) return false;
      for (auto i = x->MemberBegin(), j = y->MemberBegin(); i != x->MemberEnd(); ++i, ++j) {
        if (sv(i->name) != sv(j->name)) return false;
        todo.emplace_back(&i->value, &j->value);
      }
    } else if (x->IsString()) {
      if (sv(*x) != sv(*y)) return false;
    } else if (x->IsNumber()) {  // the same value with the same type flags (Int, Uint64, ...)
      if (x->IsInt() != y->IsInt() || x->IsUint() != y->IsUint() || x->IsInt64() != y->IsInt64() ||
          x->IsUint64() != y->IsUint64() || x->IsDouble() != y->IsDouble() || !(*x == *y)) {
        return false;
      }
    } else if (!(*x == *y)) {  // true, false, null
      return false;
    }
  }
  return true;
}

// Empty when json_to_document declines the body or builds the document RapidJSON builds, and both
// RapidJSON parsers give the same error at the same offset, or equal documents and the same bytes
// left in the in-situ buffer (where the strings' decoded text lives); else what differs. `text`
// must hold no NUL byte; bodies parse_admission_review rejects before parsing (a NUL inside,
// ends_inside_utf8_sequence) are not compared, nor by the recursive parser bodies it never parses
// recursively.
inline std::string review_parsers_disagree(const std::string& text) {
  // Rejected before parsing (RapidJSON would read past the end of these).
  if (ends_inside_utf8_sequence(text.data(), text.size())) return "";
  std::string iterative_body = text;
  ReviewDocument iterative;
  parse_review_json_with_rapidjson(iterative_body.data(), iterative_body.size(), iterative, false);
  // What json_to_document accepts, RapidJSON accepts as the same document. (What it declines,
  // RapidJSON parses: the codec's answer is then RapidJSON's by construction.)
  ReviewDocument built;
  if (json_to_document(text, built)) {
    if (iterative.HasParseError()) return "json_to_document accepted a body RapidJSON rejects";
    if (!same_document(built, iterative)) return "json_to_document built a different document";
  }
  // Never parsed recursively by the codec, and forcing it could overflow this thread's stack.
  const auto open =
      std::count_if(text.begin(), text.end(), [](char c) { return c == '{' || c == '['; });
  if (static_cast<std::size_t>(open) > kRecursiveParseOpenLimit) return "";
  std::string recursive_body = text;
  ReviewDocument recursive;
  parse_review_json_with_rapidjson(recursive_body.data(), recursive_body.size(), recursive, true);
  if (recursive.HasParseError() != iterative.HasParseError()) {
    return recursive.HasParseError() ? "only the recursive parser failed"
                                     : "only the iterative parser failed";
  }
  if (recursive.HasParseError()) {
    // One known difference: a body starting with a token that cannot start a value (']', '}',
    // ',' or ':') is "The document is empty." to the iterative parser, "Invalid value." (the better
    // message) to the recursive one.
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (iterative.GetParseError() == rapidjson::kParseErrorDocumentEmpty &&
        first != std::string::npos &&
        std::string_view("]},:").find(text[first]) != std::string_view::npos) {
      return recursive.GetParseError() == rapidjson::kParseErrorValueInvalid
                 ? ""
                 : "a body starting with ']', '}', ',' or ':': not \"Invalid value.\"";
    }
    if (recursive.GetParseError() != iterative.GetParseError()) return "different errors";
    if (recursive.GetErrorOffset() != iterative.GetErrorOffset()) return "different offsets";
    return "";
  }
  if (!same_document(recursive, iterative)) return "different documents";
  if (recursive_body != iterative_body) return "different in-situ buffers";
  return "";
}

}  // namespace revrouter::testing
