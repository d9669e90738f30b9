#include "fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace revrouter::fuzz {

void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

std::string read_file_or_die(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read fixture", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& example_template_text() {
  static const std::string text = read_file_or_die(std::string(REVROUTER_SOURCE_DIR) +
                                                   "/config/templates/example-sidecar.yaml");
  return text;
}

const RoutingTable& example_table() {
  static const RoutingTable table = [] {
    const std::string dir = std::string(REVROUTER_SOURCE_DIR) + "/config/";
    const std::string text = read_file_or_die(dir + "example.yaml");
    auto loaded = load_routing_table(
        text, "example.yaml", [&](const std::string& path) -> Result<std::string> {
          // Paths arrive resolved against the config's directory ("templates/..." here).
          const std::string full = path.starts_with("/") ? path : dir + path;
          return read_file_or_die(full);
        });
    if (!loaded) fail("config/example.yaml does not load", loaded.error().message);
    return std::move(loaded).value();
  }();
  return table;
}

std::string decode_base64_or_die(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) fail("patch base64 length is not a multiple of 4", in);
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '=') {
      if (i + 2 < in.size()) fail("base64 padding in the middle", in);
      break;
    }
    const int v = val(c);
    if (v < 0) fail("patch is not base64", in);
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}

std::string check_answer(const HandledRequest& r, std::string_view expected_uid) {
  if (r.http_status != 200) {
    if (r.error_code.empty()) fail("non-200 answer without an error code", r.body);
    if (r.http_status != 400 && r.http_status != 404) fail("unexpected HTTP status", r.body);
    if (!r.content_type.starts_with("text/plain")) fail("error answer is not text/plain", r.body);
    return {};
  }
  if (r.content_type != "application/json") fail("200 answer is not application/json", r.body);
  nlohmann::json resp;
  try {
    resp = nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception& e) {
    fail("200 answer is not valid JSON", std::string(e.what()) + "\n" + std::string(r.body));
  }
  if (!resp.is_object() || resp.value("kind", "") != "AdmissionReview") {
    fail("200 answer is not an AdmissionReview", r.body);
  }
  const auto& response = resp["response"];
  if (!response.is_object() || !response.contains("uid") || !response["uid"].is_string() ||
      response["uid"].get<std::string>() != expected_uid) {
    fail("uid not echoed", std::string(r.body) + "\nexpected uid: " + std::string(expected_uid));
  }
  if (!response.contains("allowed") || !response["allowed"].is_boolean()) {
    fail("response.allowed missing", r.body);
  }
  if (!response.contains("patch")) return {};
  if (!response["patch"].is_string() || response.value("patchType", "") != "JSONPatch") {
    fail("patch without patchType JSONPatch", r.body);
  }
  return decode_base64_or_die(response["patch"].get<std::string>());
}

}  // namespace revrouter::fuzz
