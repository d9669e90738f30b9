#include "admission/decision.h"

#include <rapidjson/allocators.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "admission/injection_policy.h"
#include "admission/revision_resolver.h"
#include "admission/workload.h"

namespace revrouter {
namespace {

constexpr std::string_view kStatusAnnotation = "sidecar.istio.io/status";

// SAX handler that finds the top-level "revision" string of Istio's sidecar.istio.io/status
// annotation and stops there; everything else in the status is skipped.
class StatusRevision : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, StatusRevision> {
 public:
  explicit StatusRevision(std::string_view resolved) : resolved_(resolved) {}

  bool Default() {
    want_ = false;
    return true;
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (!want_) return true;
    found_ = true;
    if (std::string_view(s, n) != resolved_) other_.assign(s, n);  // only on the warning path
    return false;  // stop parsing: nothing else is needed
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    want_ = depth_ == 1 && std::string_view(s, n) == "revision";
    return true;
  }
  bool StartObject() { return open(); }
  bool StartArray() { return open(); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  bool found() const { return found_; }
  const std::string& other() const { return other_; }

 private:
  bool open() {
    ++depth_;
    want_ = false;
    return true;
  }
  bool close() {
    --depth_;
    want_ = false;
    return true;
  }

  std::string_view resolved_;
  int depth_ = 0;
  bool want_ = false;
  bool found_ = false;
  std::string other_;
};

// The revision named by the status annotation when it differs from `resolved`, else "". A status
// that is not JSON or has no revision (older Istio) yields "".
std::string injected_by_other(std::string_view status, std::string_view resolved) {
  // The reader's stack lives in a local buffer: small statuses parse without touching the heap.
  char buffer[1024];
  rapidjson::MemoryPoolAllocator<> pool(buffer, sizeof buffer);
  rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>
      reader(&pool, 256);
  rapidjson::MemoryStream in(status.data(), status.size());
  StatusRevision handler(resolved);
  reader.Parse(in, handler);  // stopping early reports an error on purpose; `found` says enough
  return handler.found() ? handler.other() : std::string();
}

Decision outcome(Reason reason) {
  Decision d;
  d.reason = reason;
  return d;
}

void add_warning(std::string& warnings, std::string_view w) {
  if (!warnings.empty()) warnings.append("; ");
  warnings.append(w);
}

}  // namespace

std::string_view to_string(RouteSource s) {
  switch (s) {
    case RouteSource::kNone:
      return "none";
    case RouteSource::kNamespaceRev:
      return "namespace-rev";
    case RouteSource::kNamespaceInjection:
      return "namespace-injection";
    case RouteSource::kPodRev:
      return "pod-rev";
    case RouteSource::kPodInjectLabel:
      return "pod-inject-label";
  }
  return "unknown";
}

std::string_view to_string(Reason r) {
  switch (r) {
    case Reason::kNotPodCreate:
      return "not-pod-create";
    case Reason::kHostNetwork:
      return "host-network";
    case Reason::kIgnoredNamespace:
      return "ignored-namespace";
    case Reason::kNamespaceInjectionDisabled:
      return "namespace-injection-disabled";
    case Reason::kPodInjectLabelFalse:
      return "pod-inject-label-false";
    case Reason::kNotSelected:
      return "not-selected";
    case Reason::kUnknownRevision:
      return "unknown-revision";
    case Reason::kLabelInject:
      return "label-inject";
    case Reason::kLabelNoInject:
      return "label-no-inject";
    case Reason::kAnnotationInject:
      return "annotation-inject";
    case Reason::kAnnotationNoInject:
      return "annotation-no-inject";
    case Reason::kNeverInjectSelector:
      return "never-inject-selector";
    case Reason::kAlwaysInjectSelector:
      return "always-inject-selector";
    case Reason::kPolicyEnabled:
      return "policy-enabled";
    case Reason::kPolicyDisabled:
      return "policy-disabled";
    case Reason::kAlreadyInjected:
      return "already-injected";
  }
  return "unknown";
}

Decision decide(const RoutingTable& table, const AdmissionRequest& request, const PodFacts& pod,
                const NamespaceLabels& ns) {
  if (!request.is_pod_create()) return outcome(Reason::kNotPodCreate);
  // Istio's injectRequired checks these two before anything else; neither depends on a revision.
  if (pod.host_network) return outcome(Reason::kHostNetwork);
  if (is_ignored_namespace(pod.namespace_)) return outcome(Reason::kIgnoredNamespace);

  const Route r = route(table, ns, pod.labels);
  if (r.source == RouteSource::kNone) return outcome(r.reason_if_none);

  Decision d;
  d.source = r.source;
  d.requested = r.requested;
  d.revision = resolve(table, r.requested, pod.namespace_, workload_of(pod));
  if (d.revision == nullptr) {
    d.reason = Reason::kUnknownRevision;
    d.warning.append("unknown revision \"")
        .append(r.requested)
        .append("\": no tag or revision of that name in the routing table; not injected");
    return d;
  }

  InjectVerdict verdict = inject_required(d.revision->injector, pod);
  d.inject = verdict.inject;
  d.reason = verdict.reason;
  d.warning = std::move(verdict.warning);
  if (!d.inject) return d;

  // A pod that already carries a sidecar (kube-inject, or an earlier webhook pass) gets nothing
  // more.
  if (const auto status = pod.annotations.get(kStatusAnnotation)) {
    d.inject = false;
    d.reason = Reason::kAlreadyInjected;
    const std::string other = injected_by_other(*status, d.revision->name);
    if (!other.empty()) {
      std::string w = "pod was already injected by revision \"";
      w.append(other).append("\", not by the selected revision \"");
      w.append(d.revision->name).append("\"; leaving it as it is");
      add_warning(d.warning, w);
    }
  }
  return d;
}

}  // namespace revrouter
