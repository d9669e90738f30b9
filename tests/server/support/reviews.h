// AdmissionReview requests for the server tests, and the checks the API server makes of an
// answer: HTTP 200, application/json, the request's apiVersion and uid, patchType JSONPatch; the
// patch is then applied to the pod with an independent implementation (nlohmann::json::patch).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/server/support/test_client.h"

namespace revrouter::server::testing {

// The pod CREATE review in tests/server/data, with `uid` and `api_version`.
nlohmann::json pod_review(const std::string& uid,
                          const std::string& api_version = "admission.k8s.io/v1");

struct Answer {
  nlohmann::json review;       // the response AdmissionReview
  nlohmann::json patched_pod;  // request.object with the patch applied (unchanged if none)
  bool patched = false;
};

// Checks `res` against `request` as the API server would and applies the patch.
::testing::AssertionResult check_answer(const HttpResponse& res, const nlohmann::json& request,
                                        Answer& out);

// True if the pod has a container named `name`.
bool has_container(const nlohmann::json& pod, const std::string& name);

}  // namespace revrouter::server::testing
