#include "tests/server/support/reviews.h"

#include "certs/pem.h"

namespace revrouter::server::testing {

nlohmann::json pod_review(const std::string& uid, const std::string& api_version) {
  static const nlohmann::json base = nlohmann::json::parse(
      read_text(std::filesystem::path(REVROUTER_TEST_DATA) / "data/pod-create.v1.json"));
  nlohmann::json review = base;
  review["apiVersion"] = api_version;
  review["request"]["uid"] = uid;
  return review;
}

::testing::AssertionResult check_answer(const HttpResponse& res, const nlohmann::json& request,
                                        Answer& out) {
  if (res.status != 200) {
    return ::testing::AssertionFailure() << "HTTP " << res.status << ": " << res.body;
  }
  if (res.header("content-type").rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure() << "Content-Type " << res.header("content-type");
  }
  try {
    out.review = nlohmann::json::parse(res.body);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "response is not JSON: " << e.what();
  }
  const auto& r = out.review;
  if (r.value("kind", "") != "AdmissionReview" ||
      r.value("apiVersion", "") != request.value("apiVersion", "")) {
    return ::testing::AssertionFailure()
           << "not an AdmissionReview of the request's version: " << res.body.substr(0, 300);
  }
  if (!r.contains("response") || r["response"].value("uid", "") != request["request"]["uid"]) {
    return ::testing::AssertionFailure() << "response uid does not match the request's";
  }
  out.patched_pod = request["request"]["object"];
  const auto& response = r["response"];
  if (!response.contains("patch")) {
    out.patched = false;
    return ::testing::AssertionSuccess();
  }
  if (response.value("patchType", "") != "JSONPatch") {
    return ::testing::AssertionFailure() << "patchType is " << response.value("patchType", "");
  }
  auto decoded = certs::base64_decode(response["patch"].get<std::string>());
  if (!decoded) return ::testing::AssertionFailure() << "patch is not base64";
  try {
    out.patched_pod = out.patched_pod.patch(nlohmann::json::parse(*decoded));
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "patch does not apply: " << e.what();
  }
  out.patched = true;
  return ::testing::AssertionSuccess();
}

bool has_container(const nlohmann::json& pod, const std::string& name) {
  if (!pod.contains("spec") || !pod["spec"].contains("containers")) return false;
  for (const auto& c : pod["spec"]["containers"]) {
    if (c.value("name", "") == name) return true;
  }
  return false;
}

}  // namespace revrouter::server::testing
