#include "tools/loadtest_body.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/replay_input.h"

namespace revrouter::loadtest {

namespace {

using ojson = nlohmann::ordered_json;

// Stands in for the uid while the review is serialised; it cannot occur in JSON text by accident.
constexpr std::string_view kPlaceholder = "revrouter-loadtest-uid-placeholder-5f0c2a";

void put_hex(std::uint64_t value, int digits, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = kHex[value & 0xf];
    value >>= 4;
  }
}

}  // namespace

void format_uid(std::uint64_t run_id, std::uint64_t index, char* out) {
  // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: 48 bits of run id, then the index's 64 bits around the
  // fixed version digit (4) and variant bits (V is 8, 9, a or b).
  const std::uint64_t run = run_id & 0xffff'ffff'ffffULL;
  put_hex(run >> 16, 8, out);
  out[8] = '-';
  put_hex(run & 0xffff, 4, out + 9);
  out[13] = '-';
  out[14] = '4';
  put_hex((index >> 60) & 0xf, 3, out + 15);
  out[18] = '-';
  out[19] = "89ab"[(index >> 58) & 0x3];  // RFC 4122 variant: 10xx
  put_hex((index >> 48) & 0x3ff, 3, out + 20);
  out[23] = '-';
  put_hex(index & 0xffff'ffff'ffffULL, 12, out + 24);
}

std::string make_uid(std::uint64_t run_id, std::uint64_t index) {
  std::string uid(kUidSize, '0');
  format_uid(run_id, index, uid.data());
  return uid;
}

Result<BodyTemplate> make_body_template(std::string_view review, std::string source,
                                        std::string path) {
  auto bad = [&](std::string_view why) {
    return make_error("bad_input", source + ": " + std::string(why));
  };
  ojson doc = ojson::parse(review, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad("not JSON");
  if (!doc.is_object() || !doc.contains("request") || !doc["request"].is_object()) {
    return bad("not an AdmissionReview: no request object");
  }
  if (review.find(kPlaceholder) != std::string_view::npos) return bad("holds the uid placeholder");
  doc["request"]["uid"] = kPlaceholder;
  const std::string text = doc.dump();
  const std::size_t at = text.find(kPlaceholder);
  BodyTemplate out;
  out.source = std::move(source);
  out.path = std::move(path);
  out.prefix = text.substr(0, at);
  out.suffix = text.substr(at + kPlaceholder.size());
  return out;
}

RequestTemplate make_request_template(const BodyTemplate& body, std::string_view target,
                                      std::string_view host) {
  RequestTemplate out;
  std::string& h = out.head;
  h.reserve(256 + body.prefix.size());
  h.append("POST ").append(target).append(" HTTP/1.1\r\n");
  h.append("Host: ").append(host).append("\r\n");
  h.append("User-Agent: revrouter-loadtest\r\n");
  h.append("Accept: application/json\r\n");
  h.append("Content-Type: application/json\r\n");
  h.append("Content-Length: ").append(std::to_string(body.body_size())).append("\r\n\r\n");
  h.append(body.prefix);
  out.suffix = body.suffix;
  return out;
}

void render_request(const RequestTemplate& request, std::string_view uid, std::string& out) {
  out.resize(request.size());  // no reallocation once the buffer has held the largest request
  char* p = out.data();
  std::memcpy(p, request.head.data(), request.head.size());
  p += request.head.size();
  std::memcpy(p, uid.data(), kUidSize);
  p += kUidSize;
  std::memcpy(p, request.suffix.data(), request.suffix.size());
}

BodySet load_bodies(const std::vector<std::string>& inputs, const std::string& path) {
  replay::InputOptions options;
  options.path = path;
  const replay::InputSet set = replay::read_inputs(inputs, options);
  BodySet out;
  for (const auto& e : set.errors) out.errors.push_back(e.source + ": " + e.message);
  for (const auto& in : set.inputs) {
    auto body = make_body_template(in.review, in.source, in.path);
    if (!body) {
      out.errors.push_back(body.error().message);
      continue;
    }
    out.bodies.push_back(std::move(*body));
  }
  return out;
}

}  // namespace revrouter::loadtest
