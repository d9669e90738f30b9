// Appending JSON text to a reused std::string: escaped strings and small literals. The response
// writers build output with these instead of a DOM or string concatenation of temporaries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace revrouter {

// Appends the body of a JSON string (no quotes): only what RFC 8259 requires is escaped (quote,
// backslash, control characters); UTF-8 passes through (the codec validates its input).
void append_json_escaped(std::string& out, std::string_view s);

// The length of `s`'s escaped body, as append_json_escaped writes it.
std::size_t json_escaped_size(std::string_view s);

// Writes `s`'s escaped body at `o` and returns its end. `o` needs room for json_escaped_size(s)
// bytes (6 * s.size() always suffices); nothing is stored past that room.
char* write_json_escaped(char* o, std::string_view s);

// Appends the escape sequence of one ASCII byte that needs one (\", \\, \n, \r, \t, else \u00XX).
void append_json_escape(std::string& out, unsigned char c);

// Appends `\uXXXX` for a code point below 0x10000.
void append_json_u_escape(std::string& out, unsigned cp);

// Appends `s` as a JSON string literal, quotes included.
inline void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

inline void append_json_int(std::string& out, std::int64_t v) { out.append(std::to_string(v)); }

}  // namespace revrouter
