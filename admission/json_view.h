// Read-only helpers over RapidJSON values: members by name, string views, and StringMap, a view of
// a JSON object of strings (labels, annotations). Nothing here allocates.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <optional>
#include <string_view>

namespace revrouter {

using JsonValue = rapidjson::Value;
// A Document whose parse stack also lives in the memory pool, so a reused Document parses without
// touching malloc once its pool is warm (the default CrtAllocator stack is freed after every parse).
using ReviewDocument = rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                                                  rapidjson::MemoryPoolAllocator<>>;

inline std::string_view sv(const JsonValue& v) { return {v.GetString(), v.GetStringLength()}; }

// The member `key` of `obj`, or null when obj is null, not an object, or has no such member.
inline const JsonValue* member(const JsonValue* obj, std::string_view key) {
  if (obj == nullptr || !obj->IsObject()) return nullptr;
  for (auto it = obj->MemberBegin(); it != obj->MemberEnd(); ++it) {
    if (sv(it->name) == key) return &it->value;
  }
  return nullptr;
}

// The string member `key`, or nullopt when absent or not a string.
inline std::optional<std::string_view> string_member(const JsonValue* obj, std::string_view key) {
  const JsonValue* v = member(obj, key);
  if (v == nullptr || !v->IsString()) return std::nullopt;
  return sv(*v);
}

// A view of a JSON object whose values are strings. A null view is an empty map. Values that are
// not strings are invisible (read_pod rejects them before any rule looks).
class StringMap {
 public:
  StringMap() = default;
  explicit StringMap(const JsonValue* obj) : obj_(obj != nullptr && obj->IsObject() ? obj : nullptr) {}

  std::optional<std::string_view> get(std::string_view key) const {
    if (obj_ == nullptr) return std::nullopt;
    for (auto it = obj_->MemberBegin(); it != obj_->MemberEnd(); ++it) {
      if (sv(it->name) == key && it->value.IsString()) return sv(it->value);
    }
    return std::nullopt;
  }
  bool contains(std::string_view key) const { return get(key).has_value(); }
  std::size_t size() const { return obj_ == nullptr ? 0 : obj_->MemberCount(); }
  const JsonValue* json() const { return obj_; }

  template <class F>  // f(std::string_view key, std::string_view value)
  void for_each(F&& f) const {
    if (obj_ == nullptr) return;
    for (auto it = obj_->MemberBegin(); it != obj_->MemberEnd(); ++it) {
      if (it->value.IsString()) f(sv(it->name), sv(it->value));
    }
  }

 private:
  const JsonValue* obj_ = nullptr;
};

}  // namespace revrouter
