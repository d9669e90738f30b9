// Fuzzes the patch builder: each input is a pod (JSON). It is wrapped in a Pod CREATE
// AdmissionReview and handled on an injecting path; when a patch comes back, nlohmann::json (an
// independent RFC 6902 implementation) must apply it to the pod, and the result must carry the
// istio-proxy container.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "admission/handler.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace revrouter;
using nlohmann::json;

constexpr const char* kUid = "0df28fbd-5f5f-11e8-9f0d-0242ac110002";

bool has_proxy(const json& pod) {
  const auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return false;
  for (const char* list : {"containers", "initContainers"}) {
    const auto it = spec->find(list);
    if (it == spec->end() || !it->is_array()) continue;
    for (const json& c : *it) {
      if (c.is_object() && c.value("name", json()).is_string() && c["name"] == "istio-proxy") {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const RoutingTable& table = fuzz::example_table();
  static RequestScratch scratch;
  static std::string body;

  json pod;
  try {
    pod = json::parse(data, data + size);
  } catch (const json::exception&) {
    return 0;  // not a pod: the codec target covers bytes that are not JSON
  }
  const json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", kUid},
                         {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                         {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                         {"namespace", "fuzz"},
                         {"operation", "CREATE"},
                         {"object", pod}}}};
  try {
    body = review.dump();
  } catch (const json::exception&) {
    return 0;  // invalid UTF-8 in a string: nlohmann will not serialise it
  }
  const HandledRequest r =
      handle_admission(table, "/inject/ns-injection/enabled", body.data(), body.size(), scratch);
  if (r.http_status != 200) fuzz::fail("a Pod CREATE review was not answered in-protocol", r.body);
  const std::string patch_text = fuzz::check_answer(r, kUid);
  if (patch_text.empty()) return 0;

  json patch;
  try {
    patch = json::parse(patch_text);
  } catch (const json::exception& e) {
    fuzz::fail("patch is not JSON", patch_text);
  }
  if (!patch.is_array()) fuzz::fail("patch is not a JSON array", patch_text);
  json patched;
  try {
    patched = pod.patch(patch);
  } catch (const json::exception& e) {
    fuzz::fail("patch does not apply (RFC 6902, nlohmann)",
               std::string(e.what()) + "\npatch: " + patch_text + "\npod: " + pod.dump());
  }
  if (!has_proxy(patched)) {
    fuzz::fail("patched pod has no istio-proxy container", patch_text + "\npod: " + pod.dump());
  }
  return 0;
}
