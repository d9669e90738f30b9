// Local injection: golden injected pods (each patch applied with nlohmann::json::patch, an
// independent RFC 6902 implementation), the rules behind them, wrong-typed pods and the writer.
//
// REVROUTER_UPDATE_GOLDEN=1 rewrites golden/<case>/expected.json from the builder; review the diff.
#include "admission/patch_builder.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "admission/json_out.h"
#include "admission/json_patch_writer.h"
#include "admission/pod.h"
#include "admission/sidecar_template.h"
#include "admission/webhook_path.h"
#include "admission/workload.h"

namespace revrouter {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path golden_dir() { return fs::path(REVROUTER_TEST_DATA) / "golden"; }

// The example template with one setting flipped: the variants the golden cases use.
std::shared_ptr<const SidecarTemplate> example_template(const std::string& variant) {
  std::string text =
      read_file(fs::path(REVROUTER_SOURCE_DIR) / "config/templates/example-sidecar.yaml");
  auto flip = [&](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  if (variant == "native") flip("nativeSidecar: false", "nativeSidecar: true");
  if (variant == "hold") {
    flip("holdApplicationUntilProxyStarts: false", "holdApplicationUntilProxyStarts: true");
  }
  auto t = load_sidecar_template(text, "example-sidecar.yaml");
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : nullptr;
}

// Everything build_injection_patch needs, from a pod's JSON and the case's parameters.
struct Injection {
  std::string pod_text;
  ReviewDocument doc;
  Revision revision;
  std::string path = "/inject";
  std::string ns = "bookinfo";
  std::string patch;

  std::string padded;  // RapidJSON's SSE4.2 scanner reads whole 16-byte blocks

  Status run() {
    padded = pod_text + std::string(16, '\0');
    doc.Parse(padded.c_str());
    EXPECT_FALSE(doc.HasParseError());
    auto pod = read_pod(doc, ns);
    if (!pod) return pod.error();
    auto webhook = parse_webhook_path(path);
    if (!webhook) return webhook.error();
    const AdmissionRequest request;
    const Workload workload = workload_of(*pod);
    return build_injection_patch(PatchInput{request, *pod, revision, *webhook, workload}, patch);
  }
};

Injection injection_for(std::string pod_text, const std::string& variant = "default") {
  Injection in;
  in.pod_text = std::move(pod_text);
  in.revision.name = "1-24-1";
  in.revision.sidecar = example_template(variant);
  return in;
}

// Applies a patch with nlohmann::json::patch (RFC 6902); fails the test when it does not apply.
json apply_patch(const json& pod, const std::string& patch_text) {
  json patch = json::parse(patch_text);
  EXPECT_TRUE(patch.is_array());
  try {
    return pod.patch(patch);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "patch does not apply: " << e.what() << "\n" << patch_text;
    return pod;
  }
}

std::vector<std::string> golden_cases() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(golden_dir())) {
    if (e.is_directory() && fs::exists(e.path() / "pod.json")) out.push_back(e.path().filename());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, PatchAppliedWithAnIndependentImplementationGivesTheExpectedPod) {
  const fs::path dir = golden_dir() / GetParam();
  json params = json::object();
  if (fs::exists(dir / "params.json")) params = json::parse(read_file(dir / "params.json"));

  Injection in = injection_for(read_file(dir / "pod.json"), params.value("template", "default"));
  in.path = params.value("path", in.path);
  in.ns = params.value("namespace", in.ns);
  in.revision.name = params.value("revision", in.revision.name);
  const Status st = in.run();
  ASSERT_TRUE(st.ok()) << st.error().message;

  const json pod = json::parse(in.pod_text);
  const json injected = apply_patch(pod, in.patch);
  if (std::getenv("REVROUTER_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(dir / "expected.json") << injected.dump(2) << "\n";
  }
  const json expected = json::parse(read_file(dir / "expected.json"));
  EXPECT_EQ(injected, expected) << "diff (expected -> injected): "
                                << json::diff(expected, injected).dump(2);

  // The same input gives the same bytes (stable order), and the builder reuses its buffers.
  const std::string first = in.patch;
  ASSERT_TRUE(in.run().ok());
  EXPECT_EQ(in.patch, first);
}

INSTANTIATE_TEST_SUITE_P(Cases, Golden, ::testing::ValuesIn(golden_cases()), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n) {
    if (c == '-') c = '_';
  }
  return n;
});

TEST(GoldenCases, CoverTheIssuesList) {
  const std::vector<std::string> have = golden_cases();
  for (const char* want :
       {"single-container", "several-containers", "init-containers", "named-ports", "probes-http",
        "probes-tcp", "probes-grpc", "prometheus-merge", "existing-labels",
        "unicode-and-pointer-escapes", "env-1500", "containers-50", "already-injected"}) {
    EXPECT_NE(std::find(have.begin(), have.end(), want), have.end()) << want;
  }
}

// --- Rules, checked on the patch itself ------------------------------------------------------

json patch_for(const std::string& pod_text, const std::string& variant = "default",
               const std::string& path = "/inject") {
  Injection in = injection_for(pod_text, variant);
  in.path = path;
  const Status st = in.run();
  EXPECT_TRUE(st.ok()) << st.error().message;
  return json::parse(in.patch.empty() ? "null" : in.patch);
}

json op_at(const json& patch, const std::string& op, const std::string& path) {
  for (const json& o : patch) {
    if (o.at("op") == op && o.at("path") == path) return o;
  }
  ADD_FAILURE() << "no " << op << " " << path << " in " << patch.dump();
  return json();
}

std::vector<std::string> paths(const json& patch) {
  std::vector<std::string> out;
  for (const json& o : patch) {
    out.push_back(o.at("op").get<std::string>() + " " + o.at("path").get<std::string>());
  }
  return out;
}

constexpr const char* kSmallPod = R"({"metadata":{"name":"p","namespace":"ns",
  "labels":{"app":"web"},"annotations":{"a":"b"}},
  "spec":{"containers":[{"name":"web","ports":[{"containerPort":8080}]}],"volumes":[{"name":"v"}],
  "initContainers":[{"name":"setup"}]}})";

TEST(PatchRules, KeysAreEscapedAsJsonPointerTokens) {
  const json patch = patch_for(read_file(golden_dir() / "unicode-and-pointer-escapes/pod.json"));
  // '/' -> ~1 in a label key; '~' -> ~0 in a removed annotation's key.
  op_at(patch, "add", "/metadata/labels/security.istio.io~1tlsMode");
  op_at(patch, "remove", "/metadata/annotations/prometheus.io~0scrape");
}

TEST(PatchRules, AbsentMapsAndListsAreAddedWhole) {
  const json patch = patch_for(read_file(golden_dir() / "bare-pod/pod.json"));
  EXPECT_TRUE(op_at(patch, "add", "/metadata/labels").at("value").is_object());
  EXPECT_TRUE(op_at(patch, "add", "/metadata/annotations").at("value").is_object());
  EXPECT_EQ(op_at(patch, "add", "/spec/initContainers").at("value").size(), 1u);
  EXPECT_EQ(op_at(patch, "add", "/spec/volumes").at("value").size(), 8u);
}

TEST(PatchRules, ExistingListsAreAppendedToInAStableOrder) {
  const json patch = patch_for(kSmallPod);
  const std::vector<std::string> want = {
      "add /metadata/labels/security.istio.io~1tlsMode",
      "add /metadata/labels/service.istio.io~1canonical-name",
      "add /metadata/labels/service.istio.io~1canonical-revision",
      "add /metadata/annotations/istio.io~1rev",
      "add /metadata/annotations/kubectl.kubernetes.io~1default-logs-container",
      "add /metadata/annotations/kubectl.kubernetes.io~1default-container",
      "add /metadata/annotations/prometheus.io~1port",
      "add /metadata/annotations/prometheus.io~1path",
      "add /metadata/annotations/prometheus.io~1scrape",
      "add /metadata/annotations/sidecar.istio.io~1status",
      "add /spec/initContainers/-",
      "add /spec/containers/-",
  };
  std::vector<std::string> got = paths(patch);
  ASSERT_GE(got.size(), want.size());
  EXPECT_EQ(std::vector<std::string>(got.begin(), got.begin() + want.size()), want);
  // then one append per template volume
  for (std::size_t i = want.size(); i < got.size(); ++i) EXPECT_EQ(got[i], "add /spec/volumes/-");
  EXPECT_EQ(got.size(), want.size() + 8);
}

TEST(PatchRules, ProbeRewritesComeBeforeInsertsSoIndexesStayValid) {
  const std::string pod = R"({"metadata":{"name":"p"},"spec":{"initContainers":[{"name":"i"}],
    "containers":[{"name":"a"},{"name":"b","readinessProbe":{"tcpSocket":{"port":1}}}]}})";
  const json patch = patch_for(pod, "native");
  const std::vector<std::string> got = paths(patch);
  const auto rewrite =
      std::find(got.begin(), got.end(), "replace /spec/containers/1/readinessProbe");
  const auto insert = std::find(got.begin(), got.end(), "add /spec/initContainers/0");
  ASSERT_NE(rewrite, got.end());
  ASSERT_NE(insert, got.end());
  EXPECT_LT(rewrite, insert);
  // native sidecar: istio-init at 0, istio-proxy at 1, before the pod's own init container
  EXPECT_EQ(op_at(patch, "add", "/spec/initContainers/0").at("value").at("name"), "istio-init");
  EXPECT_EQ(op_at(patch, "add", "/spec/initContainers/1").at("value").at("name"), "istio-proxy");
}

TEST(PatchRules, HoldApplicationPutsTheProxyFirstButNotAsANativeSidecar) {
  const json hold = patch_for(kSmallPod, "hold");
  const json proxy = op_at(hold, "add", "/spec/containers/0").at("value");
  EXPECT_EQ(proxy.at("name"), "istio-proxy");
  EXPECT_EQ(proxy.at("lifecycle").at("postStart").at("exec").at("command"),
            json::parse(R"(["pilot-agent","wait"])"));
  EXPECT_FALSE(proxy.contains("restartPolicy"));

  // A native sidecar starts before the app anyway: no postStart hook, the drain hook instead.
  std::string pod = kSmallPod;
  pod.replace(pod.find(R"("a":"b")"), 7, R"("sidecar.istio.io/nativeSidecar":"true")");
  const json native = patch_for(pod, "hold");
  const json native_proxy = op_at(native, "add", "/spec/initContainers/1").at("value");
  EXPECT_EQ(native_proxy.at("restartPolicy"), "Always");
  EXPECT_TRUE(native_proxy.at("lifecycle").contains("preStop"));
  EXPECT_FALSE(native_proxy.at("lifecycle").contains("postStart"));
}

TEST(PatchRules, NativeSidecarAnnotationFalseBeatsTheTemplate) {
  std::string pod = kSmallPod;
  pod.replace(pod.find(R"("a":"b")"), 7, R"("sidecar.istio.io/nativeSidecar":"false")");
  const json patch = patch_for(pod, "native");
  EXPECT_EQ(op_at(patch, "add", "/spec/containers/-").at("value").at("name"), "istio-proxy");
}

TEST(PatchRules, ReinvocationOnAnInjectedPodAddsNothing) {
  const json patch = patch_for(read_file(golden_dir() / "already-injected/pod.json"));
  EXPECT_EQ(patch, json::array());
}

TEST(PatchRules, StatusNamesTheRealRevisionAndDefaultsToDefault) {
  Injection in = injection_for(kSmallPod);
  in.revision.name = "";
  ASSERT_TRUE(in.run().ok());
  const json patch = json::parse(in.patch);
  const json status =
      json::parse(op_at(patch, "add", "/metadata/annotations/sidecar.istio.io~1status")
                      .at("value")
                      .get<std::string>());
  EXPECT_EQ(status.at("revision"), "default");
  // Istio's key order and null for empty lists (SidecarInjectionStatus through encoding/json).
  EXPECT_EQ(op_at(patch, "add", "/metadata/annotations/sidecar.istio.io~1status").at("value"),
            R"({"initContainers":["istio-init"],"containers":["istio-proxy"],)"
            R"("volumes":["workload-socket","credential-socket","workload-certs","istio-envoy",)"
            R"("istio-data","istio-podinfo","istio-token","istiod-ca-cert"],)"
            R"("imagePullSecrets":null,"revision":"default"})");
}

TEST(PatchRules, PatchSizeDoesNotDependOnTheAppsEnv) {
  // The 1,500 env vars are walked past, never copied: the same pod without them gets a patch of
  // exactly the same size.
  json pod = json::parse(read_file(golden_dir() / "env-1500/pod.json"));
  Injection with = injection_for(pod.dump());
  ASSERT_TRUE(with.run().ok());
  pod["spec"]["containers"][0].erase("env");
  Injection without = injection_for(pod.dump());
  ASSERT_TRUE(without.run().ok());
  EXPECT_EQ(with.patch.size(), without.patch.size());
  EXPECT_EQ(with.patch, without.patch);
}

TEST(PatchRules, CanonicalNameFallsBackToTheWorkloadAndIsALabelValue) {
  struct Row {
    const char* labels;
    const char* name;
    const char* want;
  };
  const std::string long_app(70, 'x');
  for (const Row& r : std::initializer_list<Row>{
           {R"({"service.istio.io/canonical-name":"c","app.kubernetes.io/name":"n","app":"a"})",
            "p", "c"},
           {R"({"service.istio.io/canonical-name":"","app.kubernetes.io/name":"n","app":"a"})", "p",
            "n"},
           {R"({"app":"a"})", "p", "a"},
           {R"({})", "my-pod", "my-pod"},
           {R"({"app":"abc-_."})", "p", "abc"},
       }) {
    const std::string pod = std::string(R"({"metadata":{"name":")") + r.name + R"(","labels":)" +
                            r.labels + R"(},"spec":{"containers":[{"name":"c"}]}})";
    const json injected = json::parse(pod).patch(patch_for(pod));
    EXPECT_EQ(injected["metadata"]["labels"]["service.istio.io/canonical-name"], r.want) << pod;
  }
  const std::string pod = R"({"metadata":{"name":"p","labels":{"app":")" + std::string(62, 'a') +
                          "-" + std::string(8, 'b') +
                          R"("}},"spec":{"containers":[{"name":"c"}]}})";
  const json injected = json::parse(pod).patch(patch_for(pod));
  EXPECT_EQ(injected["metadata"]["labels"]["service.istio.io/canonical-name"],
            std::string(62, 'a'));
}

TEST(PatchRules, CanonicalRevisionAndTlsModeKeepWhatThePodSays) {
  struct Row {
    const char* labels;
    const char* revision;
    const char* tls;
  };
  for (
      const Row& r : std::initializer_list<Row>{
          {R"({"service.istio.io/canonical-revision":"r","app.kubernetes.io/version":"v2","version":"v1"})",
           "r", "istio"},
          {R"({"app.kubernetes.io/version":"v2","version":"v1"})", "v2", "istio"},
          {R"({"version":"v1","security.istio.io/tlsMode":"disabled"})", "v1", "disabled"},
          {R"({"security.istio.io/tlsMode":""})", "latest", "istio"},
      }) {
    const std::string pod = std::string(R"({"metadata":{"name":"p","labels":)") + r.labels +
                            R"(},"spec":{"containers":[{"name":"c"}]}})";
    const json injected = json::parse(pod).patch(patch_for(pod));
    EXPECT_EQ(injected["metadata"]["labels"]["service.istio.io/canonical-revision"], r.revision);
    EXPECT_EQ(injected["metadata"]["labels"]["security.istio.io/tlsMode"], r.tls);
  }
}

TEST(PatchRules, PrometheusMergeFollowsScrapeAndMergeAnnotations) {
  struct Row {
    const char* annotations;
    bool merged;
  };
  for (const Row& r : std::initializer_list<Row>{
           {R"({})", true},
           {R"({"prometheus.io/scrape":"false"})", false},
           {R"({"prometheus.io/scrape":"F"})", false},
           {R"({"prometheus_io_scrape":"0"})", false},
           {R"({"prometheus.io/scrape":"nonsense","prometheus.io/port":"9"})", true},
           {R"({"prometheus.istio.io/merge-metrics":"false"})", false},
           {R"({"prometheus.io/port":"15020","prometheus.io/path":"/custom"})", false},
       }) {
    const std::string pod = std::string(R"({"metadata":{"name":"p","annotations":)") +
                            r.annotations + R"(},"spec":{"containers":[{"name":"c"}]}})";
    const json injected = json::parse(pod).patch(patch_for(pod));
    const json& a = injected["metadata"]["annotations"];
    EXPECT_EQ(a.value("prometheus.io/path", "") == "/stats/prometheus", r.merged) << pod;
  }
}

TEST(PatchRules, PathEnvReplacesTemplateEnvAndIsAppendedSorted) {
  const json patch = patch_for(kSmallPod, "default", "/inject/zz/1/cluster/c2/aa/2");
  const json proxy = op_at(patch, "add", "/spec/containers/-").at("value");
  std::vector<std::string> names;
  for (const json& e : proxy.at("env")) names.push_back(e.at("name"));
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(names.end() - 3, names.end()),
            (std::vector<std::string>{"AA", "ISTIO_META_CLUSTER_ID", "ZZ"}));
  EXPECT_EQ(std::count(names.begin(), names.end(), "ISTIO_META_CLUSTER_ID"), 1);
  EXPECT_EQ(proxy.at("env")[names.size() - 2].at("value"), "c2");
}

TEST(PatchRules, ProxyImageAnnotations) {
  struct Row {
    const char* annotations;
    const char* image;
  };
  for (const Row& r : std::initializer_list<Row>{
           {R"({})", "docker.io/istio/proxyv2:1.24.1"},
           {R"({"sidecar.istio.io/proxyImage":"r.example/p:2"})", "r.example/p:2"},
           // without a '/' Istio does not take it as an image reference
           {R"({"sidecar.istio.io/proxyImage":"proxyv2:2"})", "docker.io/istio/proxyv2:1.24.1"},
           {R"({"sidecar.istio.io/proxyImageType":"distroless"})",
            "docker.io/istio/proxyv2:1.24.1-distroless"},
           {R"({"sidecar.istio.io/proxyImageType":"default"})", "docker.io/istio/proxyv2:1.24.1"},
           {R"({"sidecar.istio.io/proxyImageType":""})", "docker.io/istio/proxyv2:1.24.1"},
       }) {
    const std::string pod = std::string(R"({"metadata":{"name":"p","annotations":)") +
                            r.annotations + R"(},"spec":{"containers":[{"name":"c"}]}})";
    const json patch = patch_for(pod);
    EXPECT_EQ(op_at(patch, "add", "/spec/containers/-").at("value").at("image"), r.image) << pod;
    EXPECT_EQ(op_at(patch, "add", "/spec/initContainers").at("value").at(0).at("image"), r.image);
  }
}

TEST(PatchRules, ProxyConfigAnnotationHoldsTheApplicationEitherWay) {
  struct Row {
    const char* config;
    const char* variant;
    bool first;
  };
  for (const Row& r : std::initializer_list<Row>{
           {R"({\"holdApplicationUntilProxyStarts\": true})", "default", true},
           {R"(holdApplicationUntilProxyStarts: false)", "hold", false},
           {R"(concurrency: 2)", "hold", true},
           {R"()", "default", false},
       }) {
    const std::string pod = std::string(R"({"metadata":{"name":"p","annotations":{)") +
                            R"("proxy.istio.io/config":")" + r.config +
                            R"("}},"spec":{"containers":[{"name":"c"}]}})";
    const json injected = json::parse(pod).patch(patch_for(pod, r.variant));
    EXPECT_EQ(injected["spec"]["containers"][0]["name"] == "istio-proxy", r.first) << pod;
  }
}

// --- Wrong types: an error naming the JSON path, never a crash ---------------------------------

struct BadPod {
  const char* name;
  std::string pod;
  std::string message;
};
class PatchErrors : public ::testing::TestWithParam<BadPod> {};

TEST_P(PatchErrors, NameTheJsonPath) {
  Injection in = injection_for(GetParam().pod);
  in.patch = "stale";
  const Status st = in.run();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "bad_field");
  EXPECT_EQ(st.error().message, GetParam().message);
  EXPECT_TRUE(in.patch.empty());
}

std::string deep_probe() {
  std::string nested(100, '[');
  nested.append(100, ']');
  return R"({"spec":{"containers":[{"name":"c","readinessProbe":{"tcpSocket":{"port":1},"x":)" +
         nested + "}}]}}";
}

INSTANTIATE_TEST_SUITE_P(
    WrongTypes, PatchErrors,
    ::testing::Values(
        BadPod{"ContainersNotArray", R"({"spec":{"containers":{}}})",
               "request.object.spec.containers: expected an array"},
        BadPod{"ContainerNotObject", R"({"spec":{"containers":[1]}})",
               "request.object.spec.containers[0]: expected an object"},
        BadPod{"ContainerName", R"({"spec":{"containers":[{"name":5}]}})",
               "request.object.spec.containers[0].name: expected a string"},
        BadPod{"InitContainersNotArray", R"({"spec":{"initContainers":"x","containers":[]}})",
               "request.object.spec.initContainers: expected an array"},
        BadPod{"PortsNotArray", R"({"spec":{"containers":[{"name":"c","ports":{}}]}})",
               "request.object.spec.containers[0].ports: expected an array"},
        BadPod{"PortNotObject", R"({"spec":{"containers":[{"name":"c","ports":[8080]}]}})",
               "request.object.spec.containers[0].ports[0]: expected an object"},
        BadPod{"ContainerPortString",
               R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":"80"}]}]}})",
               "request.object.spec.containers[0].ports[0].containerPort: expected an integer"},
        BadPod{"PortNameNumber",
               R"({"spec":{"containers":[{"name":"c","ports":[{"containerPort":80,"name":1}]}]}})",
               "request.object.spec.containers[0].ports[0].name: expected a string"},
        BadPod{"ProbeNotObject", R"({"spec":{"containers":[{"name":"c","readinessProbe":[]}]}})",
               "request.object.spec.containers[0].readinessProbe: expected an object"},
        BadPod{
            "HttpGetPortBool",
            R"({"spec":{"containers":[{"name":"c","livenessProbe":{"httpGet":{"port":true}}}]}})",
            "request.object.spec.containers[0].livenessProbe.httpGet.port: expected an integer "
            "or a port name"},
        BadPod{
            "HttpGetPathNumber",
            R"({"spec":{"containers":[{"name":"c","livenessProbe":{"httpGet":{"port":1,"path":2}}}]}})",
            "request.object.spec.containers[0].livenessProbe.httpGet.path: expected a string"},
        BadPod{
            "HttpHeaderNotObject",
            R"({"spec":{"containers":[{"name":"c","livenessProbe":{"httpGet":{"port":1,"httpHeaders":["x"]}}}]}})",
            "request.object.spec.containers[0].livenessProbe.httpGet.httpHeaders[0]: expected "
            "an object"},
        BadPod{"GrpcPortString",
               R"({"spec":{"initContainers":[{"name":"c","startupProbe":{"grpc":{"port":"g"}}}]}})",
               "request.object.spec.initContainers[0].startupProbe.grpc.port: expected an integer"},
        BadPod{"TcpSocketNotObject",
               R"({"spec":{"containers":[{"name":"c","readinessProbe":{"tcpSocket":1}}]}})",
               "request.object.spec.containers[0].readinessProbe.tcpSocket: expected an object"},
        BadPod{
            "TimeoutString",
            R"({"spec":{"containers":[{"name":"c","startupProbe":{"timeoutSeconds":"1"}}]}})",
            "request.object.spec.containers[0].startupProbe.timeoutSeconds: expected an integer"},
        BadPod{"VolumesObject", R"({"spec":{"containers":[],"volumes":{}}})",
               "request.object.spec.volumes: expected an array"},
        BadPod{"ImagePullSecretsString", R"({"spec":{"containers":[],"imagePullSecrets":"s"}})",
               "request.object.spec.imagePullSecrets: expected an array"},
        BadPod{"StatusPortAnnotation",
               R"({"metadata":{"annotations":{"status.sidecar.istio.io/port":"http"}},"spec":{}})",
               "request.object.metadata.annotations.status.sidecar.istio.io/port: expected a port "
               "number (1-65535)"},
        BadPod{"ExistingIstioProxy",
               R"({"spec":{"containers":[{"name":"app"},{"name":"istio-proxy"}]}})",
               "request.object.spec.containers[1]: the pod already defines an istio-proxy "
               "container; customising the sidecar that way needs a proxy (istiod) backend"},
        BadPod{"ProxyConfigNotYaml",
               R"({"metadata":{"annotations":{"proxy.istio.io/config":"a: [1"}},"spec":{}})",
               "request.object.metadata.annotations.proxy.istio.io/config: expected a ProxyConfig "
               "(YAML or JSON map)"},
        BadPod{
            "ProxyConfigHoldNotBool",
            R"({"metadata":{"annotations":{"proxy.istio.io/config":"holdApplicationUntilProxyStarts: 3"}},"spec":{}})",
            "request.object.metadata.annotations.proxy.istio.io/config: expected "
            "holdApplicationUntilProxyStarts to be true or false"},
        BadPod{"DeeplyNestedProbeMember", deep_probe(),
               "request.object.spec.containers[0].readinessProbe.x: expected less deeply nested "
               "JSON"}),
    [](const auto& info) { return info.param.name; });

// --- The writer ----------------------------------------------------------------------------

TEST(JsonWriter, PointerTokensEscapeTildeThenSlash) {
  std::string out;
  JsonWriter w(out);
  w.pointer({"metadata", "annotations", "a/b~c~1", std::size_t{3}, PointerToken::append_end()});
  EXPECT_EQ(w.finish(), R"("/metadata/annotations/a~1b~0c~01/3/-")");
  EXPECT_EQ(json::parse(R"({"a/b~c~1":1})").at(json::json_pointer("/a~1b~0c~01")), 1);
}

// Past 4 KiB the writer measures a string instead of claiming six bytes per byte: a long pointer
// token's '~' and '/' still take two bytes each (debug builds assert on writing past the room).
TEST(JsonWriter, LongPointerTokensGetTheirRoom) {
  for (const std::string& token : {std::string(5000, '/'), std::string(5000, '~'),
                                   std::string(3000, '/') + std::string(3000, '"')}) {
    std::string out;
    {
      JsonWriter w(out);
      w.pointer({"metadata", "labels", std::string_view(token)});
    }
    json object = json::object();
    object["metadata"]["labels"][token] = 1;
    EXPECT_EQ(object.at(json::json_pointer(json::parse(out).get<std::string>())), 1);
  }
}

TEST(JsonWriter, StringsRoundTripWhereverTheEscapesFall) {
  // The escaper stores 16 bytes at a time, and the writer claims room before it writes: each
  // special character at every offset of strings across those blocks, as value, key and pointer
  // token, written after text already in `out`.
  for (const std::string& special : std::vector<std::string>{"\"", "\\", "\n", std::string(1, 1),
                                                             "\x7f", "\xc3\xa9", "/", "~"}) {
    for (std::size_t len : {1, 15, 16, 17, 31, 32, 33, 70}) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s.replace(at, 1, special);
        std::string out = "[";
        {
          JsonWriter w(out);
          w.string(s);
          w.raw_value(",{");
          w.key(s);
          w.integer(1);
          w.raw_value("},");
          w.pointer({std::string_view(s)});
        }
        out += "]";
        const json got = json::parse(out);
        EXPECT_EQ(got[0].get<std::string>(), s) << out;
        EXPECT_EQ(got[1].at(s), 1) << out;
        EXPECT_EQ(json({{s, 1}}).at(json::json_pointer(got[2].get<std::string>())), 1) << out;
      }
    }
  }
}

// The writer claims room in steps; what it wrote before a step, and text `out` held before the
// writer, stay as they were; finish() trims, and writing may go on after it. The strings escape to
// up to six times their length, so the room claimed for them runs out at every kind of boundary
// (debug builds assert that nothing is written past it).
TEST(JsonWriter, GrowsKeepsWhatWasWrittenAndFinishesTwice) {
  std::string out = "head:";
  JsonWriter w(out);
  w.begin_array();
  std::string want = "head:[";
  for (int i = 0; i < 2000; ++i) {
    const auto n = static_cast<std::size_t>(i % 37);
    const std::string s = "v" + std::to_string(i) + std::string(n, i % 3 == 0 ? '\x01' : 'x') +
                          std::string(n / 2, '"');
    w.string(s);
    want += i == 0 ? "\"" : ",\"";
    append_json_escaped(want, s);
    want += '"';
  }
  EXPECT_EQ(w.finish(), want);
  w.integer(-5);
  w.end_array();
  EXPECT_EQ(w.finish(), want + ",-5]");
  EXPECT_EQ(w.finish(), want + ",-5]");
}

TEST(JsonWriter, GoEscapingMatchesEncodingJson) {
  struct Row {
    std::string in, want;
  };
  for (const Row& r : std::initializer_list<Row>{
           {"plain", "plain"},
           {"a<b>&c", R"(a\u003cb\u003e\u0026c)"},
           {"q\"b\\", R"(q\"b\\)"},
           {"\n\t\x01", R"(\n\t\u0001)"},
           {"caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5"},
           {"\xe2\x80\xa8", R"(\u2028)"},
           {"bad\xff", R"(bad\ufffd)"},
           {"\xed\xa0\x80", R"(\ufffd\ufffd\ufffd)"},  // a UTF-16 surrogate is not UTF-8
       }) {
    std::string out;
    append_go_json_escaped(out, r.in);
    EXPECT_EQ(out, r.want) << r.in;
  }
}

TEST(JsonWriter, CopiesValuesAndSeparatesMembers) {
  ReviewDocument doc;
  const std::string text =
      R"({"a":[1,-2,3.5,1e300,true,null,"x\"y"],"b":{"c":{}}})" + std::string(16, '\0');
  doc.Parse(text.c_str());
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("v");
  ASSERT_TRUE(w.value(doc));
  w.key("n");
  w.integer(-7);
  w.end_object();
  EXPECT_EQ(json::parse(w.finish()),
            json::parse(R"({"v":{"a":[1,-2,3.5,1e300,true,null,"x\"y"],"b":{"c":{}}},"n":-7})"));
}

}  // namespace
}  // namespace revrouter
