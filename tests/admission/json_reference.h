// nlohmann::json's SAX parser as an independent RFC 8259 reference for the JsonReader (its tests
// and its fuzz target): whether it accepts a text, why not, and the strings it decodes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace revrouter::testing {

class Reference : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& s) override {
    strings.push_back(s);
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t& s) override {
    strings.push_back(s);
    return true;
  }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_id = e.id;
    return false;
  }

  std::vector<std::string> strings;  // keys and string values in document order, decoded
  int error_id = 0;
};

// Whether `t` has a \\u escape of a UTF-16 surrogate, which nlohmann rejects when lone and the
// grammar (and the reader) accept.
inline bool has_surrogate_escape(std::string_view t) {
  for (std::size_t i = 0; i + 3 < t.size(); ++i) {
    if (t[i] != '\\' || t[i + 1] != 'u' || (t[i + 2] != 'd' && t[i + 2] != 'D')) continue;
    const char c = t[i + 3];
    if ((c >= '8' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) return true;
  }
  return false;
}

}  // namespace revrouter::testing
