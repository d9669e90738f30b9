// Fuzzes the check of an istiod answer (check_upstream_review), which reads untrusted bytes with
// the JsonReader and decodes escapes in place: the input is the answer to a v1 request with uid
// "u1". A rejection must be a specific message; an accepted answer's views must lie inside the
// body or the decoded patch, and revrouter's re-written answer must be valid JSON that echoes the
// uid, carries the patch as base64 of a JSON array, and parses with nlohmann as an independent
// check.
#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admission/upstream_review.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace revrouter;

bool inside(std::string_view v, const char* begin, std::size_t size) {
  return v.empty() || (v.data() >= begin && v.data() + v.size() <= begin + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string original(reinterpret_cast<const char*>(data), size);
  // An exactly-sized copy: ASan sees any read past the end.
  const std::unique_ptr<char[]> body(new char[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(body.get(), data, size);
  std::string patch;
  const auto r = check_upstream_review(body.get(), size, ReviewVersion::kV1, "u1", patch);
  if (!r) {
    if (r.error().code != "upstream_invalid") fuzz::fail("rejection with another code", original);
    if (r.error().message.empty()) fuzz::fail("rejection without a message", original);
    try {
      (void)nlohmann::json(r.error().message).dump();  // throws on invalid UTF-8
    } catch (const nlohmann::json::exception&) {
      fuzz::fail("rejection message is not UTF-8", original + "\n" + r.error().message);
    }
    return 0;
  }
  const UpstreamAnswer& a = *r;
  if (!inside(a.patch, patch.data(), patch.size())) fuzz::fail("patch view outside", original);
  for (std::string_view v : {a.patch_base64, a.status_message}) {
    if (!inside(v, body.get(), size)) fuzz::fail("view outside the body", original);
  }
  for (std::string_view w : a.warnings) {
    if (!inside(w, body.get(), size)) fuzz::fail("warning outside the body", original);
  }
  for (const AuditAnnotation& an : a.audit_annotations) {
    if (!inside(an.key, body.get(), size) || !inside(an.value, body.get(), size)) {
      fuzz::fail("audit annotation outside the body", original);
    }
  }
  if (!a.patch.empty() && nlohmann::json::accept(a.patch) == false) {
    fuzz::fail("accepted a patch that is not JSON", original);
  }

  const AuditAnnotation extra[] = {{"revision", "r1"}, {"backend", "proxy"}};
  const std::string_view warning[] = {"fallback used"};
  std::string out;
  write_upstream_answer(a, ReviewVersion::kV1, "u1", extra, warning, out);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    fuzz::fail("re-written answer is not valid JSON", original + "\n" + e.what() + "\n" + out);
  }
  const auto& resp = j["response"];
  if (resp["uid"] != "u1") fuzz::fail("re-written answer does not echo the uid", out);
  if (resp["allowed"] != a.allowed) fuzz::fail("re-written answer changed allowed", out);
  if (resp.contains("patch")) {
    const std::string decoded = fuzz::decode_base64_or_die(resp["patch"].get<std::string>());
    if (decoded != a.patch) fuzz::fail("re-written patch differs", out);
    if (!nlohmann::json::parse(decoded).is_array()) fuzz::fail("patch is not an array", out);
  } else if (!a.patch.empty()) {
    fuzz::fail("re-written answer lost the patch", out);
  }
  return 0;
}
