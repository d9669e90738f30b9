// Helpers shared by the admission tests: reading test data, parsing JSON for assertions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace revrouter::testing {

inline std::string read_test_file(const std::string& relative) {
  const std::string path = std::string(REVROUTER_TEST_DATA) + "/" + relative;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// RFC 4648 base64 decoding, independent of the codec's encoder.
inline std::string decode_base64(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) return "<invalid base64>";
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// Printable form of a text with control and non-ASCII bytes escaped, for failure messages.
inline std::string show_bytes(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", u);
      out += hex;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every .json file under tests/, sorted: inputs for differential checks of the JSON parsers.
inline std::vector<std::filesystem::path> repository_json_files() {
  std::vector<std::filesystem::path> files;
  const std::filesystem::path root = std::filesystem::path(REVROUTER_SOURCE_DIR) / "tests";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The repository's JSON files of at most 4 KiB: bases for mutations, small so that a few thousand
// of them stay fast under ASan.
inline std::vector<std::string> small_repository_json_texts() {
  std::vector<std::string> bases;
  for (const auto& path : repository_json_files()) {
    std::string text = read_file(path);
    if (text.size() <= 4096) bases.push_back(std::move(text));
  }
  return bases;
}

// Bytes that change a JSON grammar's path: structure, string and number syntax, UTF-8 edges, NUL.
inline const std::string& json_mutation_bytes() {
  static const std::string bytes =
      std::string(
          "{}[],:\"\\/ \t\n0123456789-+.eEtrufalsn\x01\x1F\x7F\x80\xBF\xC0"
          "\xC3\xE0\xED\xF0\xF4\xF5\xFF") +
      '\0';
  return bytes;
}

// One to three random edits of `text` (bit flip, a byte from `interesting` written or inserted,
// up to four bytes erased): the mutations the parser differential tests feed both sides.
inline void mutate_json(std::string& text, const std::string& interesting, std::mt19937& rng) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = text.empty() ? 0 : rng() % text.size();
    const char byte = interesting[rng() % interesting.size()];
    switch (rng() % 4) {
      case 0:
        if (!text.empty()) text[at] = static_cast<char>(text[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (!text.empty()) text[at] = byte;
        break;
      case 2:
        text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), byte);
        break;
      default:
        if (!text.empty()) text.erase(at, 1 + rng() % 4);
        break;
    }
  }
}

}  // namespace revrouter::testing
