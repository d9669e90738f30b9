#include "admission/workload.h"

#include <cstddef>

namespace revrouter {
namespace {

struct OwnerRef {
  std::string_view api_version, kind, name;
};

// The first owner reference with controller: true, as Istio picks it.
bool find_controller(const JsonValue* refs, OwnerRef& out) {
  if (refs == nullptr || !refs->IsArray()) return false;
  for (const JsonValue& ref : refs->GetArray()) {
    const JsonValue* controller = member(&ref, "controller");
    if (controller == nullptr || !controller->IsBool() || !controller->GetBool()) continue;
    out.api_version = string_member(&ref, "apiVersion").value_or(std::string_view{});
    out.kind = string_member(&ref, "kind").value_or(std::string_view{});
    out.name = string_member(&ref, "name").value_or(std::string_view{});
    return true;
  }
  return false;
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// Istio matches Job names against `(.+)-\d{8,10}$` (the CronJob controller appends a timestamp).
// The suffix holds no '-', so only the last '-' can start it. Returns the CronJob name or "".
std::string_view cronjob_name(std::string_view job) {
  const std::size_t dash = job.rfind('-');
  if (dash == std::string_view::npos) return {};  // an empty prefix (dash == 0) yields "" below
  const std::string_view digits = job.substr(dash + 1);
  if (digits.size() < 8 || digits.size() > 10) return {};
  for (char c : digits) {
    if (!is_ascii_digit(c)) return {};
  }
  return job.substr(0, dash);
}

// Go's strings.TrimSuffix(s, "-" + hash).
std::string_view trim_hash_suffix(std::string_view s, std::string_view hash) {
  if (s.size() > hash.size() && s.ends_with(hash) && s[s.size() - hash.size() - 1] == '-') {
    return s.substr(0, s.size() - hash.size() - 1);
  }
  return s;
}

}  // namespace

// Follows Istio's GetDeployMetaFromPod (pkg/kube/util.go): the controller is only investigated for
// pods with a generateName; the heuristics below are Istio's, in its order. One deviation, from the
// revrouter design: where Istio falls back to metadata.name (empty at CREATE for generated pods)
// we use generateName first, so generated pods without a controller still group by their prefix.
Workload workload_of(const PodFacts& pod) {
  Workload w{.name = {}, .kind = "Pod", .api_version = "v1", .split_key = {}};
  OwnerRef ref;
  const bool has_controller = find_controller(pod.owner_references, ref);

  if (!pod.generate_name.empty() && has_controller) {
    w.api_version = ref.api_version;
    w.kind = ref.kind;
    w.name = ref.name;
    const std::string_view hash = pod.labels.get("pod-template-hash").value_or("");
    const std::string_view rollout_hash = pod.labels.get("rollouts-pod-template-hash").value_or("");
    const std::string_view dc = pod.labels.get("deploymentconfig").value_or("");
    if (ref.kind == "ReplicaSet" && !hash.empty() && ref.name.ends_with(hash)) {
      w.name = trim_hash_suffix(ref.name, hash);
      w.kind = "Deployment";
    } else if (ref.kind == "ReplicaSet" && !rollout_hash.empty() &&
               ref.name.ends_with(rollout_hash)) {
      // Argo Rollouts; Istio reports apiVersion "v1alpha1" without the group.
      w.name = trim_hash_suffix(ref.name, rollout_hash);
      w.kind = "Rollout";
      w.api_version = "v1alpha1";
    } else if (ref.kind == "ReplicationController" && !dc.empty()) {
      // OpenShift DeploymentConfig: its ReplicationControllers label pods with the config's name.
      w.name = dc;
      w.kind = "DeploymentConfig";
    } else if (ref.kind == "Job") {
      if (std::string_view cron = cronjob_name(ref.name); !cron.empty()) {
        w.name = cron;
        w.kind = "CronJob";
        w.api_version = "batch/v1";  // cannot be derived from the pod; Istio assumes batch/v1
      }
    }
  }

  if (w.name.empty()) {
    w.name = !pod.generate_name.empty() ? pod.generate_name : pod.name;
    // A controller Istio did not look at (StatefulSet pods have fixed names, no generateName).
    if (has_controller && !ref.name.empty()) w.split_key = ref.name;
  }
  return w;
}

}  // namespace revrouter
