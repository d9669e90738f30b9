// Parses one body with both of RapidJSON's parsers (parse_review_json picks one by the body's
// bracket count) and says how they disagree: shared by the codec tests and fuzz_admission_review.
// An ASCII body is parsed recursively without RapidJSON's UTF-8 check and iteratively with it, so
// the comparison covers skipping that check too.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admission/admission_review.h"

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
    } else if (!(*x == *y)) {  // numbers, true, false, null
      return false;
    }
  }
  return true;
}

// Empty when both parsers give the same error at the same offset, or equal documents and the same
// bytes left in the in-situ buffer (where the strings' decoded text lives); else what differs.
// `text` must hold no NUL byte; bodies parse_admission_review rejects before parsing (a NUL
// inside, ends_inside_utf8_sequence) and bodies it never parses recursively are not compared.
inline std::string review_parsers_disagree(const std::string& text) {
  // Rejected before parsing (RapidJSON would read past the end of these).
  if (ends_inside_utf8_sequence(text.data(), text.size())) return "";
  // Never parsed recursively by the codec, and forcing it could overflow this thread's stack.
  const auto open =
      std::count_if(text.begin(), text.end(), [](char c) { return c == '{' || c == '['; });
  if (static_cast<std::size_t>(open) > kRecursiveParseOpenLimit) return "";
  std::string recursive_body = text, iterative_body = text;
  ReviewDocument recursive, iterative;
  parse_review_json(recursive_body.data(), recursive_body.size(), recursive, true);
  parse_review_json(iterative_body.data(), iterative_body.size(), iterative, false);
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
