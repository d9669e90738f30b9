#include "admission/json_out.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

namespace revrouter {
namespace {

// Byte by byte, as RFC 8259 section 7 states it: the reference the block-scanning escaper is
// checked against.
std::string reference_escaped(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

TEST(JsonEscaped, Examples) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", ""},
      {"plain text", "plain text"},
      {R"({"a":"b"})", R"({\"a\":\"b\"})"},
      {"back\\slash", "back\\\\slash"},
      {"tab\there\nline\rret", "tab\\there\\nline\\rret"},
      {std::string_view("nul\0x", 5), "nul\\u0000x"},
      {"\x01\x1f\x7f", "\\u0001\\u001f\x7f"},
      {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"},  // UTF-8 passes through
  };
  for (const auto& [in, want] : cases) {
    std::string out = "kept:";
    append_json_escaped(out, in);
    EXPECT_EQ(out, "kept:" + std::string(want)) << in;
  }
}

// The input in a heap block of exactly its size, so ASan reports any read past its end.
std::string escaped_exact(std::string_view in, std::string out) {
  const auto copy = std::make_unique<char[]>(in.size());
  std::memcpy(copy.get(), in.data(), in.size());
  append_json_escaped(out, std::string_view(copy.get(), in.size()));
  return out;
}

// write_json_escaped into a heap block of exactly json_escaped_size bytes, so ASan reports any
// store past the room it is promised; the block's end is where the writer says it stopped.
std::string written_exact(std::string_view in) {
  const std::size_t n = json_escaped_size(in);
  const auto room = std::make_unique<char[]>(n);
  const char* end = write_json_escaped(room.get(), in);
  EXPECT_EQ(end, room.get() + n) << in;
  return std::string(room.get(), n);
}

// Every byte value at every position of strings that cross the 16- and 8-byte scan blocks and the
// byte tail, into a buffer that already holds text (the escaper appends).
TEST(JsonEscaped, EveryByteAtEveryPosition) {
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (int b = 0; b < 256; ++b) {
        std::string in(len, 'a');
        in[pos] = static_cast<char>(b);
        ASSERT_EQ(escaped_exact(in, "x"), "x" + reference_escaped(in))
            << "byte " << b << " at " << pos << "/" << len;
        ASSERT_EQ(written_exact(in), reference_escaped(in))
            << "byte " << b << " at " << pos << "/" << len;
      }
    }
  }
}

// Dense and sparse escapes mixed with UTF-8 and high bytes (which the scan must pass over); the
// output also parses back to the input.
TEST(JsonEscaped, RandomTextRoundTrips) {
  std::mt19937 rng(5);
  // '\xc3' is always followed by '\xa9' below (U+00E9), so the text stays UTF-8.
  const std::string_view alphabet = "ab\"\\\n\t\x01\x1f \xc3{}:,";
  for (int round = 0; round < 2000; ++round) {
    const std::size_t len = rng() % 300;
    std::string in;
    for (std::size_t i = 0; i < len; ++i) {
      // Mostly plain runs of varying length, so block scans both hit and miss.
      if (rng() % 4 == 0) {
        const char c = alphabet[rng() % alphabet.size()];
        in.push_back(c);
        if (c == '\xc3') in.push_back('\xa9');
      } else {
        in.push_back(static_cast<char>('a' + rng() % 26));
      }
    }
    ASSERT_EQ(escaped_exact(in, "\""), "\"" + reference_escaped(in));
    ASSERT_EQ(written_exact(in), reference_escaped(in));
    std::string out;
    append_json_string(out, in);
    ASSERT_EQ(nlohmann::json::parse(out).get<std::string>(), in);
  }
}

}  // namespace
}  // namespace revrouter
