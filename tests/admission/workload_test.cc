// workload_of: Istio's GetDeployMetaFromPod heuristics (pkg/kube/util.go) and revrouter's fallback.
#include "admission/workload.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/admission/decision_fixtures.h"

namespace revrouter {
namespace {

using testing::ParsedPod;

// metadata members (JSON text without braces) -> a pod.
std::string pod(const std::string& metadata) {
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{)" + metadata +
         R"(},"spec":{"containers":[{"name":"app","image":"nginx"}]}})";
}

std::string owner(const std::string& api_version, const std::string& kind, const std::string& name,
                  const char* controller = "true") {
  std::string s = R"({"apiVersion":")" + api_version + R"(","kind":")" + kind + R"(","name":")" +
                  name + R"(","uid":"0b6e-1")";
  if (controller != nullptr) s += std::string(R"(,"controller":)") + controller;
  return s + "}";
}

struct WorkloadCase {
  const char* name;
  std::string pod;
  const char* want_name;
  const char* want_kind;
  const char* want_api_version;
  const char* want_split_key = "";
};

std::vector<WorkloadCase> cases() {
  const std::string rs = owner("apps/v1", "ReplicaSet", "reviews-v1-5d8f7c9b4");
  return {
      {"replicaset_hash_suffix_is_deployment",
       pod(R"("generateName":"reviews-v1-5d8f7c9b4-","labels":{"pod-template-hash":"5d8f7c9b4"},)"
           R"("ownerReferences":[)" +
           rs + "]"),
       "reviews-v1", "Deployment", "apps/v1"},
      {"replicaset_hash_not_a_suffix_stays_replicaset",
       pod(R"("generateName":"reviews-v1-5d8f7c9b4-","labels":{"pod-template-hash":"aaaa"},)"
           R"("ownerReferences":[)" +
           rs + "]"),
       "reviews-v1-5d8f7c9b4", "ReplicaSet", "apps/v1"},
      {"replicaset_without_hash_label_stays_replicaset",
       pod(R"("generateName":"reviews-v1-5d8f7c9b4-","ownerReferences":[)" + rs + "]"),
       "reviews-v1-5d8f7c9b4", "ReplicaSet", "apps/v1"},
      {"replicaset_empty_hash_label_stays_replicaset",
       pod(R"("generateName":"x-","labels":{"pod-template-hash":""},"ownerReferences":[)" + rs +
           "]"),
       "reviews-v1-5d8f7c9b4", "ReplicaSet", "apps/v1"},
      // Istio tests HasSuffix(name, hash) but trims "-"+hash: a suffix without the dash is kept.
      {"replicaset_hash_suffix_without_dash_keeps_name",
       pod(R"("generateName":"x-","labels":{"pod-template-hash":"abc"},"ownerReferences":[)" +
           owner("apps/v1", "ReplicaSet", "webabc") + "]"),
       "webabc", "Deployment", "apps/v1"},
      {"argo_rollout_hash_suffix_is_rollout",
       pod(R"("generateName":"canary-demo-7f6c5b8d9-","labels":{"rollouts-pod-template-hash":)"
           R"("7f6c5b8d9"},"ownerReferences":[)" +
           owner("apps/v1", "ReplicaSet", "canary-demo-7f6c5b8d9") + "]"),
       "canary-demo", "Rollout", "v1alpha1"},
      {"deployment_hash_checked_before_rollout_hash",
       pod(R"("generateName":"x-","labels":{"pod-template-hash":"5d8f7c9b4",)"
           R"("rollouts-pod-template-hash":"5d8f7c9b4"},"ownerReferences":[)" +
           rs + "]"),
       "reviews-v1", "Deployment", "apps/v1"},
      {"replicationcontroller_with_deploymentconfig_label",
       pod(R"("generateName":"frontend-3-","labels":{"deploymentconfig":"frontend"},)"
           R"("ownerReferences":[)" +
           owner("v1", "ReplicationController", "frontend-3") + "]"),
       "frontend", "DeploymentConfig", "v1"},
      {"replicationcontroller_without_deploymentconfig_label",
       pod(R"("generateName":"frontend-3-","ownerReferences":[)" +
           owner("v1", "ReplicationController", "frontend-3") + "]"),
       "frontend-3", "ReplicationController", "v1"},
      {"job_with_8_digit_suffix_is_cronjob",
       pod(R"("generateName":"backup-28391040-","ownerReferences":[)" +
           owner("batch/v1", "Job", "backup-28391040") + "]"),
       "backup", "CronJob", "batch/v1"},
      {"job_with_10_digit_suffix_is_cronjob",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "nightly-report-1700000000") + "]"),
       "nightly-report", "CronJob", "batch/v1"},
      {"job_cronjob_name_keeps_inner_dashes_and_digits",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "a-123-b-99999999") + "]"),
       "a-123-b", "CronJob", "batch/v1"},
      {"job_with_7_digit_suffix_stays_job",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "backup-2839104") + "]"),
       "backup-2839104", "Job", "batch/v1"},
      {"job_with_11_digit_suffix_stays_job",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "backup-28391040123") + "]"),
       "backup-28391040123", "Job", "batch/v1"},
      {"job_with_non_digit_suffix_stays_job",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "backup-2839104a") + "]"),
       "backup-2839104a", "Job", "batch/v1"},
      {"job_digits_after_last_dash_only",
       pod(R"("generateName":"x-","ownerReferences":[)" +
           owner("batch/v1", "Job", "backup-12345678-x") + "]"),
       "backup-12345678-x", "Job", "batch/v1"},
      {"job_without_name_before_timestamp_stays_job",
       pod(R"("generateName":"x-","ownerReferences":[)" + owner("batch/v1", "Job", "-12345678") +
           "]"),
       "-12345678", "Job", "batch/v1"},
      {"job_without_dash_stays_job",
       pod(R"("generateName":"x-","ownerReferences":[)" + owner("batch/v1", "Job", "12345678") +
           "]"),
       "12345678", "Job", "batch/v1"},
      {"other_controller_kind_used_as_is",
       pod(R"("generateName":"fluentd-","ownerReferences":[)" +
           owner("apps/v1", "DaemonSet", "fluentd") + "]"),
       "fluentd", "DaemonSet", "apps/v1"},
      {"non_controller_owner_ignored",
       pod(R"("generateName":"worker-","ownerReferences":[)" +
           owner("apps/v1", "ReplicaSet", "worker-abc", "false") + "]"),
       "worker-", "Pod", "v1"},
      {"owner_without_controller_field_ignored",
       pod(R"("generateName":"worker-","ownerReferences":[)" +
           owner("apps/v1", "ReplicaSet", "worker-abc", nullptr) + "]"),
       "worker-", "Pod", "v1"},
      {"first_controller_wins",
       pod(R"("generateName":"x-","ownerReferences":[)" + owner("v1", "ConfigMap", "cm", "false") +
           "," + owner("apps/v1", "DaemonSet", "ds1") + "," + owner("apps/v1", "DaemonSet", "ds2") +
           "]"),
       "ds1", "DaemonSet", "apps/v1"},
      // Istio only follows the controller of pods with a generateName; StatefulSet pods have none,
      // so the workload is the pod itself, but the split keys on the StatefulSet.
      {"controller_not_followed_without_generate_name",
       pod(R"("name":"web-0","ownerReferences":[)" + owner("apps/v1", "StatefulSet", "web") + "]"),
       "web-0", "Pod", "v1", "web"},
      {"controller_without_name_falls_back_to_generate_name",
       pod(R"("generateName":"odd-","ownerReferences":[)" + owner("apps/v1", "ReplicaSet", "") +
           "]"),
       "odd-", "ReplicaSet", "apps/v1"},
      {"no_owner_generate_name", pod(R"("generateName":"debug-")"), "debug-", "Pod", "v1"},
      {"no_owner_generate_name_preferred_to_name",
       pod(R"("name":"debug-x1","generateName":"debug-")"), "debug-", "Pod", "v1"},
      {"no_owner_pod_name", pod(R"("name":"standalone")"), "standalone", "Pod", "v1"},
      {"nothing_to_go_by", pod(R"("namespace":"app")"), "", "Pod", "v1"},
  };
}

class WorkloadTest : public ::testing::TestWithParam<WorkloadCase> {};

TEST_P(WorkloadTest, Derives) {
  const WorkloadCase& c = GetParam();
  ParsedPod p(c.pod);
  const Workload w = workload_of(p.facts());
  EXPECT_EQ(w.name, c.want_name);
  EXPECT_EQ(w.kind, c.want_kind);
  EXPECT_EQ(w.api_version, c.want_api_version);
  EXPECT_EQ(w.split_key, c.want_split_key);
}

INSTANTIATE_TEST_SUITE_P(Heuristics, WorkloadTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

bool points_into(std::string_view view, std::string_view whole) {
  return view.data() >= whole.data() && view.data() + view.size() <= whole.data() + whole.size();
}

// Nothing is allocated: names are views into the pod's own strings.
TEST(Workload, NamesAreViewsIntoThePod) {
  ParsedPod p(pod(R"("generateName":"reviews-v1-5d8f7c9b4-","labels":{"pod-template-hash":)"
                  R"("5d8f7c9b4"},"ownerReferences":[)" +
                  owner("apps/v1", "ReplicaSet", "reviews-v1-5d8f7c9b4") + "]"));
  const Workload w = workload_of(p.facts());
  const JsonValue& ref = p.doc()["metadata"]["ownerReferences"][0];
  EXPECT_TRUE(points_into(w.name, sv(ref["name"])));
  EXPECT_TRUE(points_into(w.api_version, sv(ref["apiVersion"])));

  ParsedPod bare(pod(R"("generateName":"debug-")"));
  EXPECT_EQ(workload_of(bare.facts()).name.data(),
            bare.doc()["metadata"]["generateName"].GetString());
}

}  // namespace
}  // namespace revrouter
