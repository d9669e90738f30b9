// Local injection, whole request: AdmissionReview bytes in -> response bytes out.
//
//  HotPath:  handle_admission() (RapidJSON in-situ parse, decision, patch emitted directly from the
//            pod and the pre-serialised template, base64, response writer) with reused buffers.
//  Baseline: what Istio's injector does, made generous: parse to a DOM (nlohmann), deep-copy the
//            pod, mutate it to the injected pod (template parts pre-parsed once, where Istio
//            renders and parses its template per request), json::diff the two, serialise the patch,
//            base64 it and serialise the response.
//  PatchOnly: build_injection_patch() alone on an already-parsed pod.
//
// Before timing, each size checks that both paths produce the same injected pod (the hot path's
// patch and the baseline's diff applied to the original), so the comparison is like for like.
// Reports ns/op, bytes_per_second (of AdmissionReview input) and allocs/op (every malloc, calloc,
// realloc and operator new of the process while timing, counted by the replacements below).
// bench/injection_ratio.sh prints hot path / baseline per size.
#include <benchmark/benchmark.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "admission/admission_review.h"
#include "admission/handler.h"
#include "admission/patch_builder.h"
#include "admission/pod.h"
#include "admission/routing_config.h"
#include "admission/sidecar_template.h"
#include "admission/upstream_review.h"
#include "admission/webhook_path.h"
#include "admission/workload.h"

// --- Allocation counting ---------------------------------------------------------------------
// Every heap allocation of the process goes through malloc/calloc/realloc (operator new too, but
// it is replaced as well so that a C++ allocation is counted once). Sanitizer builds bring their
// own allocator: no counting there (the benchmark still runs, allocs/op reads 0).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REVROUTER_COUNT_ALLOCS 0
#else
#define REVROUTER_COUNT_ALLOCS 1
#endif

namespace {
std::atomic<std::uint64_t> g_allocs{0};
}  // namespace

#if REVROUTER_COUNT_ALLOCS
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
void* malloc(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
}  // extern "C"

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = __libc_malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
#endif

namespace revrouter {
namespace {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

// --- Inputs ----------------------------------------------------------------------------------

enum class Size { kSmall, kTypical, kLarge };

json app_container(bool large) {
  json env = json::array();
  const int n = large ? 1500 : 30;
  for (int i = 0; i < n; ++i) {
    env.push_back({{"name", "APP_SETTING_" + std::to_string(i)},
                   {"value", "value-" + std::to_string(i) + "-abcdefghijklmnop"}});
  }
  return {
      {"name", "reviews"},
      {"image", "docker.io/istio/examples-bookinfo-reviews-v1:1.20.2"},
      {"ports",
       {{{"name", "http"}, {"containerPort", 9080}, {"protocol", "TCP"}},
        {{"name", "http-admin"}, {"containerPort", 9090}, {"protocol", "TCP"}}}},
      {"env", env},
      {"resources",
       {{"limits", {{"cpu", "1"}, {"memory", "512Mi"}}},
        {"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
      {"volumeMounts",
       {{{"name", "tmp"}, {"mountPath", "/tmp"}},
        {{"name", "kube-api-access-7xk2p"},
         {"readOnly", true},
         {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/ready"}, {"port", "http"}, {"scheme", "HTTP"}}},
        {"initialDelaySeconds", 5},
        {"timeoutSeconds", 1},
        {"periodSeconds", 10},
        {"successThreshold", 1},
        {"failureThreshold", 3}}},
      {"livenessProbe",
       {{"tcpSocket", {{"port", 9080}}},
        {"timeoutSeconds", 1},
        {"periodSeconds", 10},
        {"successThreshold", 1},
        {"failureThreshold", 3}}},
      {"terminationMessagePath", "/dev/termination-log"},
      {"terminationMessagePolicy", "File"},
      {"imagePullPolicy", "IfNotPresent"},
      {"securityContext", {{"runAsUser", 1000}, {"allowPrivilegeEscalation", false}}},
  };
}

json make_pod(Size size) {
  if (size == Size::kSmall) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"generateName", "web-"}, {"namespace", "shop"}, {"labels", {{"app", "web"}}}}},
            {"spec",
             {{"containers",
               {{{"name", "web"},
                 {"image", "nginx:1.25"},
                 {"ports", {{{"containerPort", 80}, {"protocol", "TCP"}}}}}}}}}};
  }
  // A Deployment's pod as the API server sends it (defaults applied, managedFields included).
  const json managed_fields = json::array({{
      {"manager", "kube-controller-manager"},
      {"operation", "Update"},
      {"apiVersion", "v1"},
      {"time", "2024-11-20T10:15:02Z"},
      {"fieldsType", "FieldsV1"},
      {"fieldsV1",
       {{"f:metadata",
         {{"f:generateName", json::object()},
          {"f:labels",
           {{".", json::object()},
            {"f:app", json::object()},
            {"f:version", json::object()},
            {"f:pod-template-hash", json::object()}}},
          {"f:ownerReferences",
           {{".", json::object()},
            {"k:{\"uid\":\"6f1c7a52-3b1e-4d43-9a53-0f3c1f0e9b21\"}", json::object()}}}}},
        {"f:spec",
         {{"f:containers",
           {{"k:{\"name\":\"reviews\"}",
             {{".", json::object()},
              {"f:env", json::object()},
              {"f:image", json::object()},
              {"f:imagePullPolicy", json::object()},
              {"f:livenessProbe", json::object()},
              {"f:name", json::object()},
              {"f:ports", json::object()},
              {"f:readinessProbe", json::object()},
              {"f:resources", json::object()},
              {"f:securityContext", json::object()},
              {"f:terminationMessagePath", json::object()},
              {"f:terminationMessagePolicy", json::object()},
              {"f:volumeMounts", json::object()}}}}},
          {"f:dnsPolicy", json::object()},
          {"f:enableServiceLinks", json::object()},
          {"f:restartPolicy", json::object()},
          {"f:schedulerName", json::object()},
          {"f:securityContext", json::object()},
          {"f:serviceAccount", json::object()},
          {"f:serviceAccountName", json::object()},
          {"f:terminationGracePeriodSeconds", json::object()},
          {"f:volumes", json::object()}}}}},
  }});
  return {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"generateName", "reviews-v1-7d9f8c6b5d-"},
        {"namespace", "bookinfo"},
        {"creationTimestamp", nullptr},
        {"labels", {{"app", "reviews"}, {"version", "v1"}, {"pod-template-hash", "7d9f8c6b5d"}}},
        {"annotations", {{"kubectl.kubernetes.io/restartedAt", "2024-11-20T10:15:00Z"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"},
           {"kind", "ReplicaSet"},
           {"name", "reviews-v1-7d9f8c6b5d"},
           {"uid", "6f1c7a52-3b1e-4d43-9a53-0f3c1f0e9b21"},
           {"controller", true},
           {"blockOwnerDeletion", true}}}},
        {"managedFields", managed_fields}}},
      {"spec",
       {{"volumes",
         {{{"name", "tmp"}, {"emptyDir", json::object()}},
          {{"name", "kube-api-access-7xk2p"},
           {"projected",
            {{"sources",
              {{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
               {{"configMap",
                 {{"name", "kube-root-ca.crt"},
                  {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
               {{"downwardAPI",
                 {{"items",
                   {{{"path", "namespace"},
                     {"fieldRef",
                      {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}}}}}}}},
             {"defaultMode", 420}}}}}},
        {"containers", {app_container(size == Size::kLarge)}},
        {"restartPolicy", "Always"},
        {"terminationGracePeriodSeconds", 30},
        {"dnsPolicy", "ClusterFirst"},
        {"serviceAccountName", "bookinfo-reviews"},
        {"serviceAccount", "bookinfo-reviews"},
        {"securityContext", json::object()},
        {"schedulerName", "default-scheduler"},
        {"affinity",
         {{"podAntiAffinity",
           {{"preferredDuringSchedulingIgnoredDuringExecution",
             {{{"weight", 100},
               {"podAffinityTerm",
                {{"labelSelector",
                  {{"matchExpressions",
                    {{{"key", "app"}, {"operator", "In"}, {"values", {"reviews"}}}}}}},
                 {"topologyKey", "kubernetes.io/hostname"}}}}}}}}}},
        {"tolerations",
         {{{"key", "node.kubernetes.io/not-ready"},
           {"operator", "Exists"},
           {"effect", "NoExecute"},
           {"tolerationSeconds", 300}},
          {{"key", "node.kubernetes.io/unreachable"},
           {"operator", "Exists"},
           {"effect", "NoExecute"},
           {"tolerationSeconds", 300}}}},
        {"priority", 0},
        {"enableServiceLinks", true},
        {"preemptionPolicy", "PreemptLowerPriority"}}},
      {"status", json::object()},
  };
}

std::string make_review(Size size) {
  const json pod = make_pod(size);
  const json gvk_pod = {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}};
  const json gvr_pods = {{"group", ""}, {"version", "v1"}, {"resource", "pods"}};
  const json review = {
      {"apiVersion", "admission.k8s.io/v1"},
      {"kind", "AdmissionReview"},
      {"request",
       {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
        {"kind", gvk_pod},
        {"resource", gvr_pods},
        {"requestKind", gvk_pod},
        {"requestResource", gvr_pods},
        {"namespace", pod["metadata"]["namespace"]},
        {"operation", "CREATE"},
        {"userInfo",
         {{"username", "system:serviceaccount:kube-system:replicaset-controller"},
          {"uid", "2a3b4c5d-1111-2222-3333-444455556666"},
          {"groups",
           {"system:serviceaccounts", "system:serviceaccounts:kube-system",
            "system:authenticated"}}}},
        {"object", pod},
        {"oldObject", nullptr},
        {"dryRun", false},
        {"options", {{"kind", "CreateOptions"}, {"apiVersion", "meta.k8s.io/v1"}}}}},
  };
  return review.dump();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr std::string_view kPath = "/inject/ns-injection/enabled";
constexpr std::string_view kRevision = "1-24-1";

const RoutingTable& routing_table() {
  static const RoutingTable table = [] {
    const std::string tpl =
        read_text(std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml");
    const std::string config = R"(mode: istio
defaultTag: default
revisions:
  1-24-1:
    backend: local
    template: example-sidecar.yaml
tags:
  default: 1-24-1
)";
    auto t = load_routing_table(config, "bench.yaml",
                                [&](const std::string&) -> Result<std::string> { return tpl; });
    if (!t) {
      std::fprintf(stderr, "bench: routing table: %s\n", t.error().message.c_str());
      std::abort();
    }
    return std::move(*t);
  }();
  return table;
}

// --- Baseline: the Istio way -----------------------------------------------------------------

// The template's parts as DOM values, parsed once (Istio re-renders and re-parses per request).
struct DomTemplate {
  std::vector<json> init_containers, volumes;
  ojson proxy;  // without env
  struct Env {
    ComputedEnv computed;
    std::string name;
    json entry;
  };
  std::vector<Env> env;
  std::vector<std::string> init_names, volume_names;
};

const DomTemplate& dom_template() {
  static const DomTemplate d = [] {
    const SidecarTemplate& t = *routing_table().find_revision(kRevision)->sidecar;
    DomTemplate d;
    for (const NamedJson& c : t.init_containers) {
      d.init_containers.push_back(json::parse(c.json));
      d.init_names.push_back(c.name);
    }
    for (const NamedJson& v : t.volumes) {
      d.volumes.push_back(json::parse(v.json));
      d.volume_names.push_back(v.name);
    }
    d.proxy = ojson::parse("{" + t.proxy_members + "}");
    d.proxy["image"] = t.proxy_image;
    d.proxy["resources"] = ojson::parse(t.proxy_resources);
    for (const TemplateEnv& e : t.proxy_env) {
      d.env.push_back({e.computed, e.name, e.json.empty() ? json() : json::parse(e.json)});
    }
    return d;
  }();
  return d;
}

std::string label_or(const json& labels, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = labels.find(k);
    if (it != labels.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return *it;
    }
  }
  return {};
}

// The injected pod, built as a DOM from the original (same rules as the hot path, for the
// features the benchmark's pods use).
json mutate(const json& pod) {
  const DomTemplate& t = dom_template();
  json out = pod;
  json& meta = out["metadata"];
  json& labels = meta["labels"];
  json& annotations = meta["annotations"];
  if (labels.is_null()) labels = json::object();
  if (annotations.is_null()) annotations = json::object();

  // Workload (GetDeployMetaFromPod, the ReplicaSet case and the generateName fallback).
  std::string workload = meta.value("generateName", "");
  std::string kind = "Pod", api_version = "v1";
  if (meta.contains("ownerReferences")) {
    for (const json& ref : meta["ownerReferences"]) {
      if (!ref.value("controller", false)) continue;
      std::string name = ref.value("name", "");
      const std::string hash = label_or(labels, {"pod-template-hash"});
      if (ref.value("kind", "") == "ReplicaSet" && !hash.empty() && name.size() > hash.size() + 1 &&
          name.ends_with("-" + hash)) {
        workload = name.substr(0, name.size() - hash.size() - 1);
        kind = "Deployment";
        api_version = ref.value("apiVersion", "");
      }
    }
  }
  std::string canonical =
      label_or(labels, {"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"});
  if (canonical.empty()) canonical = workload;
  if (canonical.size() > 63) canonical.resize(63);
  while (!canonical.empty() && std::strchr("-_.", canonical.back()) != nullptr) {
    canonical.pop_back();
  }
  std::string revision = label_or(
      labels, {"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"});
  std::string tls = label_or(labels, {"security.istio.io/tlsMode"});
  labels["security.istio.io/tlsMode"] = tls.empty() ? "istio" : tls;
  labels["service.istio.io/canonical-name"] = canonical;
  labels["service.istio.io/canonical-revision"] = revision.empty() ? "latest" : revision;

  json& spec = out["spec"];
  json& containers = spec["containers"];
  const std::string first_app = containers.at(0).at("name");
  annotations["istio.io/rev"] = kRevision;
  if (!annotations.contains("kubectl.kubernetes.io/default-logs-container")) {
    annotations["kubectl.kubernetes.io/default-logs-container"] = first_app;
  }
  if (!annotations.contains("kubectl.kubernetes.io/default-container")) {
    annotations["kubectl.kubernetes.io/default-container"] = first_app;
  }
  annotations["prometheus.io/port"] = "15020";
  annotations["prometheus.io/path"] = "/stats/prometheus";
  annotations["prometheus.io/scrape"] = "true";
  ojson status;
  status["initContainers"] = t.init_names;
  status["containers"] = {"istio-proxy"};
  status["volumes"] = t.volume_names;
  status["imagePullSecrets"] = nullptr;
  status["revision"] = kRevision;
  annotations["sidecar.istio.io/status"] = status.dump();

  // Probes: the originals (named ports resolved) into ISTIO_KUBE_APP_PROBERS, the pod's probes
  // pointed at the agent.
  static const char* const kProbes[] = {"readinessProbe", "livenessProbe", "startupProbe"};
  static const char* const kSuffix[] = {"/readyz", "/livez", "/startupz"};
  std::map<std::string, ojson> probers;
  std::string ports = "[";
  bool first_port = true;
  std::string app_names;
  for (json& c : containers) {
    const std::string name = c.at("name");
    if (!app_names.empty()) app_names += ",";
    app_names += name;
    std::map<std::string, int> named;
    if (c.contains("ports")) {
      for (const json& p : c["ports"]) {
        ojson o;
        if (p.contains("name")) {
          o["name"] = p["name"];
          named[p["name"]] = p["containerPort"];
        }
        o["containerPort"] = p.value("containerPort", 0);
        if (p.contains("protocol")) o["protocol"] = p["protocol"];
        ports += "\n    ";
        if (!first_port) ports += ",";
        first_port = false;
        ports += o.dump();
      }
    }
    for (int k = 0; k < 3; ++k) {
      if (!c.contains(kProbes[k])) continue;
      json& probe = c[kProbes[k]];
      const char* handler = probe.contains("httpGet")     ? "httpGet"
                            : probe.contains("tcpSocket") ? "tcpSocket"
                            : probe.contains("grpc")      ? "grpc"
                                                          : nullptr;
      if (handler == nullptr) continue;
      const std::string url = "/app-health/" + name + kSuffix[k];
      ojson action = ojson::parse(probe[handler].dump());
      bool resolved = true;
      if (action.contains("port") && action["port"].is_string()) {
        auto it = named.find(action["port"]);
        resolved = it != named.end();
        if (resolved) action["port"] = it->second;
      }
      if (resolved) {
        ojson entry;
        entry[handler] = action;
        if (probe.value("timeoutSeconds", 0) != 0) {
          entry["timeoutSeconds"] = probe["timeoutSeconds"];
        }
        probers[url] = entry;
      }
      json http = std::string(handler) == "httpGet" ? probe["httpGet"] : json::object();
      http["path"] = url;
      http["port"] = 15020;
      if (http.value("scheme", "") == "HTTPS") http["scheme"] = "HTTP";
      probe.erase(handler);
      probe["httpGet"] = http;
    }
  }
  ports += "\n]";

  ojson proxy = t.proxy;
  ojson env = ojson::array();
  auto add_env = [&](const std::string& n, const std::string& v) {
    ojson e;
    e["name"] = n;
    e["value"] = v;
    env.push_back(e);
  };
  const std::string ns = meta.value("namespace", "default");
  std::string lower_kind;
  for (char ch : kind) {
    lower_kind += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  for (const DomTemplate::Env& e : t.env) {
    switch (e.computed) {
      case ComputedEnv::kNone:
        env.push_back(ojson::parse(e.entry.dump()));
        break;
      case ComputedEnv::kPodPorts:
        add_env(e.name, ports);
        break;
      case ComputedEnv::kAppContainers:
        add_env(e.name, app_names);
        break;
      case ComputedEnv::kWorkloadName:
        add_env(e.name, workload);
        break;
      case ComputedEnv::kOwner:
        add_env(e.name, "kubernetes://apis/" + api_version + "/namespaces/" + ns + "/" +
                            lower_kind + "s/" + workload);
        break;
    }
  }
  if (!probers.empty()) {
    ojson p = ojson::object();
    for (auto& [k, v] : probers) p[k] = v;
    add_env("ISTIO_KUBE_APP_PROBERS", p.dump());
  }
  proxy["env"] = env;
  containers.push_back(json::parse(proxy.dump()));

  json& init = spec["initContainers"];
  if (init.is_null()) init = json::array();
  for (const json& c : t.init_containers) init.push_back(c);
  json& volumes = spec["volumes"];
  if (volumes.is_null()) volumes = json::array();
  for (const json& v : t.volumes) volumes.push_back(v);
  return out;
}

std::string baseline(const std::string& body, std::string* patch_out = nullptr) {
  const json review = json::parse(body);
  const json& request = review.at("request");
  const json& pod = request.at("object");
  const json injected = mutate(pod);
  const std::string patch = json::diff(pod, injected).dump();
  if (patch_out != nullptr) *patch_out = patch;
  std::string encoded;
  append_base64(patch, encoded);
  const json response = {
      {"apiVersion", review.at("apiVersion")},
      {"kind", "AdmissionReview"},
      {"response",
       {{"uid", request.at("uid")},
        {"allowed", true},
        {"patchType", "JSONPatch"},
        {"patch", encoded}}},
  };
  return response.dump();
}

// --- Benchmarks ------------------------------------------------------------------------------

const char* size_name(Size s) {
  switch (s) {
    case Size::kSmall:
      return "small";
    case Size::kTypical:
      return "typical";
    case Size::kLarge:
      return "large";
  }
  return "?";
}

struct Input {
  std::string review;
  json pod;
};

const Input& input(Size size) {
  static std::map<Size, Input> inputs;
  auto it = inputs.find(size);
  if (it == inputs.end()) {
    Input in;
    in.review = make_review(size);
    in.pod = json::parse(in.review)["request"]["object"];
    it = inputs.emplace(size, std::move(in)).first;
  }
  return it->second;
}

// The hot path's patch and the baseline's diff must give the same injected pod.
bool same_result(Size size, std::string& why) {
  const Input& in = input(size);
  // NUL-terminated, with room for RapidJSON's 16-byte SSE4.2 reads past the end.
  std::vector<char> body(in.review.size() + 16, '\0');
  std::memcpy(body.data(), in.review.data(), in.review.size());
  RequestScratch scratch;
  const HandledRequest r =
      handle_admission(routing_table(), kPath, body.data(), in.review.size(), scratch);
  if (r.http_status != 200 || !r.decision.inject) {
    why = "hot path did not inject: " + std::string(r.body);
    return false;
  }
  const json response = json::parse(r.body);
  const std::string encoded = response["response"].value("patch", "");
  // Decode the base64 the hot path wrote.
  std::string patch;
  int bits = 0, acc = 0;
  for (char c : encoded) {
    const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* at = std::strchr(digits, c);
    if (c == '=' || at == nullptr) break;
    acc = (acc << 6) | static_cast<int>(at - digits);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      patch.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  std::string baseline_patch;
  baseline(in.review, &baseline_patch);
  const json hot = in.pod.patch(json::parse(patch));
  const json base = in.pod.patch(json::parse(baseline_patch));
  if (hot != base) {
    why = "hot path and baseline disagree: " + json::diff(base, hot).dump();
    return false;
  }
  return true;
}

void report(benchmark::State& state, const std::string& review, std::uint64_t allocs) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(review.size()));
  state.counters["allocs/op"] =
      benchmark::Counter(static_cast<double>(allocs), benchmark::Counter::kAvgIterations);
  state.counters["review_bytes"] = static_cast<double>(review.size());
}

void BM_HotPath(benchmark::State& state) {
  const Size size = static_cast<Size>(state.range(0));
  state.SetLabel(size_name(size));
  std::string why;
  if (!same_result(size, why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  const std::string& review = input(size).review;
  std::vector<char> body(review.size() + 16, '\0');
  RequestScratch scratch;
  // Warm the per-thread buffers, as a serving thread is after its first requests.
  for (int i = 0; i < 3; ++i) {
    std::memcpy(body.data(), review.data(), review.size());
    body[review.size()] = '\0';
    handle_admission(routing_table(), kPath, body.data(), review.size(), scratch);
  }
  const std::uint64_t before = g_allocs.load();
  for (auto _ : state) {
    // The request body arrives in a buffer the parser may write into (in-situ parsing).
    std::memcpy(body.data(), review.data(), review.size());
    body[review.size()] = '\0';
    HandledRequest r =
        handle_admission(routing_table(), kPath, body.data(), review.size(), scratch);
    benchmark::DoNotOptimize(r.body.data());
  }
  report(state, review, g_allocs.load() - before);
}

void BM_Baseline(benchmark::State& state) {
  const Size size = static_cast<Size>(state.range(0));
  state.SetLabel(size_name(size));
  const std::string& review = input(size).review;
  dom_template();
  const std::uint64_t before = g_allocs.load();
  for (auto _ : state) {
    std::string out = baseline(review);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, review, g_allocs.load() - before);
}

void BM_PatchOnly(benchmark::State& state) {
  const Size size = static_cast<Size>(state.range(0));
  state.SetLabel(size_name(size));
  const std::string& review = input(size).review;
  std::vector<char> body(review.size() + 16, '\0');
  std::memcpy(body.data(), review.data(), review.size());
  ReviewDocument doc;
  auto req = parse_admission_review(body.data(), review.size(), doc);
  auto pod = read_pod(*req->object, req->namespace_);
  auto path = parse_webhook_path(kPath);
  const Workload workload = workload_of(*pod);
  const PatchInput patch_input{*req, *pod, *routing_table().find_revision(kRevision), *path,
                               workload};
  std::string out;
  if (!build_injection_patch(patch_input, out).ok()) {
    state.SkipWithError("patch failed");
    return;
  }
  const std::uint64_t before = g_allocs.load();
  for (auto _ : state) {
    Status st = build_injection_patch(patch_input, out);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, review, g_allocs.load() - before);
}

// Checking istiod's answer (the proxy backend), on the answer the hot path gives for each size:
//  UpstreamAnswer<true>: check_upstream_review() (one pass of the JsonReader, patch decoded and its
//  JSON
//                  checked by the same reader).
//  UpstreamAnswer<false>: the baseline, made generous: what the check did before, an in-situ
//                  RapidJSON DOM of the answer and the decoded patch through RapidJSON's reader,
//                  but without its UTF-8 checks and with only uid and patch looked up.
struct Answer {
  std::string body;
  std::string uid;
};

const Answer& answer_for(Size size) {
  static std::map<Size, Answer> cache;
  auto it = cache.find(size);
  if (it != cache.end()) return it->second;
  std::string review = input(size).review;
  RequestScratch scratch;
  const HandledRequest r =
      handle_admission(routing_table(), kPath, review.data(), review.size(), scratch);
  return cache[size] = Answer{std::string(r.body), std::string(r.uid)};
}

template <bool kReader>
void BM_UpstreamAnswer(benchmark::State& state) {
  const Size size = static_cast<Size>(state.range(0));
  state.SetLabel(size_name(size));
  const Answer& a = answer_for(size);
  std::vector<char> body(a.body.size() + 1, '\0');
  std::string patch;
  RequestScratch scratch;
  for (auto _ : state) {
    std::memcpy(body.data(), a.body.data(), a.body.size());
    if constexpr (kReader) {
      auto r = check_upstream_review(body.data(), a.body.size(), ReviewVersion::kV1, a.uid, patch);
      if (!r) state.SkipWithError(r.error().message.c_str());
      benchmark::DoNotOptimize(r);
    } else {
      ReviewDocument& doc = scratch.fresh_document();
      doc.ParseInsitu<rapidjson::kParseIterativeFlag>(body.data());
      const JsonValue* response = member(&doc, "response");
      const auto uid = string_member(response, "uid");
      const auto encoded = string_member(response, "patch");
      if (doc.HasParseError() || !uid || *uid != a.uid || !encoded) {
        state.SkipWithError("baseline: bad answer");
      }
      patch.clear();
      if (!decode_base64(*encoded, patch)) state.SkipWithError("baseline: bad base64");
      rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>,
                               rapidjson::MemoryPoolAllocator<>>
          reader(&doc.GetAllocator());
      rapidjson::MemoryStream is(patch.data(), patch.size());
      rapidjson::BaseReaderHandler<> handler;
      if (reader
              .Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
                  is, handler)
              .IsError()) {
        state.SkipWithError("baseline: patch not JSON");
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * a.body.size()));
  state.counters["answer_bytes"] = static_cast<double>(a.body.size());
}

BENCHMARK(BM_HotPath)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_Baseline)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_PatchOnly)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK_TEMPLATE(BM_UpstreamAnswer, true)->Arg(0)->Arg(1)->Arg(2);
BENCHMARK_TEMPLATE(BM_UpstreamAnswer, false)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace revrouter

// append_base64 (SSSE3 12-byte blocks where the CPU has SSSE3, a pair table for the rest) against a
// plain one-lookup-per-character encoder, on a typical patch-sized input (the response's largest
// field).
void base64_per_char(std::string_view in, std::string& out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t start = out.size();
  out.resize(start + (in.size() + 2) / 3 * 4);
  char* o = out.data() + start;
  for (std::size_t i = 0; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }  // the tail (at most 4 characters) is left out: irrelevant to the timing
}

template <bool kRevrouter>
void BM_Base64(benchmark::State& state) {
  std::string in(static_cast<std::size_t>(state.range(0)), '\0');
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<char>((i * 131) ^ (i >> 3));
  std::string out;
  out.reserve(in.size() * 2);
  for (auto _ : state) {
    out.clear();
    if constexpr (kRevrouter) {
      revrouter::append_base64(in, out);
    } else {
      base64_per_char(in, out);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK_TEMPLATE(BM_Base64, true)->Arg(12 * 1024);
BENCHMARK_TEMPLATE(BM_Base64, false)->Arg(12 * 1024);

BENCHMARK_MAIN();
