// Loading sidecar templates: the example template, YAML scalar typing, and errors that name the
// file and line.
#include "admission/sidecar_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace revrouter {
namespace {

using nlohmann::json;

std::string example_text() {
  std::ifstream in(std::string(REVROUTER_SOURCE_DIR) + "/config/templates/example-sidecar.yaml");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<const SidecarTemplate> load_ok(const std::string& yaml) {
  auto t = load_sidecar_template(yaml, "t.yaml");
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return t.ok() ? *t : nullptr;
}

json proxy_object(const SidecarTemplate& t) { return json::parse("{" + t.proxy_members + "}"); }

TEST(SidecarTemplate, LoadsTheExampleTemplate) {
  auto t = load_ok(example_text());
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->native_sidecar);
  EXPECT_FALSE(t->hold_application_until_proxy_starts);
  EXPECT_TRUE(t->rewrite_app_probers);
  EXPECT_TRUE(t->prometheus_merge);
  EXPECT_EQ(t->status_port, 15020);
  ASSERT_EQ(t->init_containers.size(), 1u);
  EXPECT_EQ(t->init_containers[0].name, "istio-init");
  const json init = json::parse(t->init_containers[0].json);
  EXPECT_EQ(init.at("args").at(2), "15001");  // quoted in YAML, a string in JSON
  EXPECT_EQ(init.at("securityContext").at("runAsUser"), 0);
  EXPECT_EQ(init.at("securityContext").at("privileged"), false);

  const json proxy = proxy_object(*t);
  EXPECT_EQ(proxy.at("name"), "istio-proxy");
  EXPECT_EQ(proxy.at("ports").at(0).at("containerPort"), 15090);
  EXPECT_FALSE(proxy.contains("env"));  // written by the builder

  std::vector<std::string> computed;
  for (const TemplateEnv& e : t->proxy_env) {
    if (e.computed != ComputedEnv::kNone) computed.push_back(e.name);
  }
  EXPECT_EQ(computed, (std::vector<std::string>{"ISTIO_META_POD_PORTS", "ISTIO_META_APP_CONTAINERS",
                                                "ISTIO_META_WORKLOAD_NAME", "ISTIO_META_OWNER"}));
  EXPECT_EQ(json::parse(t->proxy_env[0].json),
            json::parse(R"({"name":"PILOT_CERT_PROVIDER","value":"istiod"})"));
  EXPECT_EQ(t->volumes.size(), 8u);
  EXPECT_EQ(t->volumes[3].name, "istio-envoy");
  EXPECT_EQ(json::parse(t->native_lifecycle).at("preStop").at("exec").at("command").at(2),
            "--debug-port=15020");
}

TEST(SidecarTemplate, ScalarsAreTypedByTheYamlCoreSchema) {
  auto t = load_ok(R"(
proxy:
  image: "proxy:1"
  x:
    int: 15090
    neg: -3
    hex: 0x1F
    float: 1.5
    exp: 2e3
    bool: true
    Bool: False
    null1: ~
    null2:
    quoted: "15090"
    single: 'true'
    tagged: !!str 7
    text: 100m
    version: 1.24.1
  args:
    - 15001
    - true
    - "-p"
  env:
    - name: N
      value: 1
)");
  ASSERT_NE(t, nullptr);
  const json p = proxy_object(*t);
  EXPECT_EQ(p.at("x"), json::parse(R"({"int":15090,"neg":-3,"hex":31,"float":1.5,"exp":2000.0,
    "bool":true,"Bool":false,"null1":null,"null2":null,"quoted":"15090","single":"true",
    "tagged":"7","text":"100m","version":"1.24.1"})"));
  // args, command and env values only take strings in Kubernetes
  EXPECT_EQ(p.at("args"), json::parse(R"(["15001","true","-p"])"));
  EXPECT_EQ(json::parse(t->proxy_env[0].json), json::parse(R"({"name":"N","value":"1"})"));
}

TEST(SidecarTemplate, ComputedEnvMissingFromTheTemplateIsAppended) {
  auto t = load_ok(R"(
proxy:
  env:
    - name: ISTIO_META_OWNER
      computed: owner
    - name: A
      value: a
)");
  ASSERT_NE(t, nullptr);
  std::vector<std::string> names;
  for (const TemplateEnv& e : t->proxy_env) names.push_back(e.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"ISTIO_META_OWNER", "A", "ISTIO_META_POD_PORTS",
                                      "ISTIO_META_APP_CONTAINERS", "ISTIO_META_WORKLOAD_NAME"}));
}

TEST(SidecarTemplate, SettingsAndMetadata) {
  auto t = load_ok(R"(
settings:
  nativeSidecar: true
  holdApplicationUntilProxyStarts: true
  rewriteAppHTTPProbers: false
  enablePrometheusMerge: false
  statusPort: 15030
  clusterName: east
  network: net-1
metadata:
  labels: {a: "1"}
  annotations: {sidecar.istio.io/interceptionMode: REDIRECT}
proxy:
  lifecycle:
    preStop: {exec: {command: [sleep, "5"]}}
imagePullSecrets:
  - name: regcred
)");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->native_sidecar);
  EXPECT_TRUE(t->hold_application_until_proxy_starts);
  EXPECT_FALSE(t->rewrite_app_probers);
  EXPECT_FALSE(t->prometheus_merge);
  EXPECT_EQ(t->status_port, 15030);
  EXPECT_EQ(t->cluster_name, "east");
  EXPECT_EQ(t->network, "net-1");
  ASSERT_EQ(t->labels.size(), 1u);
  EXPECT_EQ(t->labels[0], (std::pair<std::string, std::string>{"a", "1"}));
  ASSERT_EQ(t->annotations.size(), 1u);
  EXPECT_EQ(json::parse(t->proxy_lifecycle),
            json::parse(R"({"preStop":{"exec":{"command":["sleep","5"]}}})"));
  EXPECT_EQ(json::parse(t->native_lifecycle).at("preStop").at("exec").at("command").at(2),
            "--debug-port=15030");
  ASSERT_EQ(t->image_pull_secrets.size(), 1u);
  EXPECT_EQ(json::parse(t->image_pull_secrets[0].json), json::parse(R"({"name":"regcred"})"));
}

struct BadTemplate {
  const char* name;
  std::string yaml;
  std::string message;
};
class SidecarTemplateErrors : public ::testing::TestWithParam<BadTemplate> {};

TEST_P(SidecarTemplateErrors, NameTheFileAndLine) {
  auto t = load_sidecar_template(GetParam().yaml, "t.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, "config");
  EXPECT_EQ(t.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SidecarTemplateErrors,
    ::testing::Values(
        BadTemplate{"BadYaml", "proxy: [\n", "t.yaml:2: bad YAML: end of sequence flow not found"},
        BadTemplate{"NotAMap", "- a\n",
                    "t.yaml:1: expected a map (settings, metadata, initContainers, proxy, volumes, "
                    "imagePullSecrets)"},
        BadTemplate{"UnknownTopLevelKey", "proxy: {}\ncontainers: []\n",
                    "t.yaml:2: unknown key \"containers\" (known: settings, metadata, "
                    "initContainers, proxy, volumes, imagePullSecrets)"},
        BadTemplate{"NoProxy", "volumes: []\n",
                    "t.yaml:1: no \"proxy\": the template must define the istio-proxy container"},
        BadTemplate{"ProxyName", "proxy:\n  name: envoy\n",
                    "t.yaml:2: proxy.name: must be istio-proxy (Istio and its tools find it by "
                    "name)"},
        BadTemplate{"RestartPolicy", "proxy:\n  restartPolicy: Always\n",
                    "t.yaml:2: proxy.restartPolicy: set by revrouter from settings.nativeSidecar"},
        BadTemplate{"SettingsUnknown", "settings:\n  native: true\nproxy: {}\n",
                    "t.yaml:2: settings: unknown key \"native\" (known: nativeSidecar, "
                    "holdApplicationUntilProxyStarts, rewriteAppHTTPProbers, "
                    "enablePrometheusMerge, statusPort, clusterName, network)"},
        BadTemplate{"SettingsBool", "settings:\n  nativeSidecar: yes\nproxy: {}\n",
                    "t.yaml:2: settings.nativeSidecar: expected true or false"},
        BadTemplate{"SettingsPort", "settings:\n  statusPort: 70000\nproxy: {}\n",
                    "t.yaml:2: settings.statusPort: expected a port number (1-65535)"},
        BadTemplate{"ComputedUnknown", "proxy:\n  env:\n    - name: X\n      computed: podIP\n",
                    "t.yaml:4: proxy.env[0].computed: expected podPorts, appContainers, "
                    "workloadName or owner"},
        BadTemplate{"ComputedWrongName",
                    "proxy:\n  env:\n    - name: PORTS\n      computed: podPorts\n",
                    "t.yaml:3: proxy.env[0]: computed podPorts is named ISTIO_META_POD_PORTS, not "
                    "PORTS"},
        BadTemplate{"ComputedWithValue",
                    "proxy:\n  env:\n    - name: ISTIO_META_OWNER\n      computed: owner\n"
                    "      value: x\n",
                    "t.yaml:3: proxy.env[0]: a computed entry has only name and computed"},
        BadTemplate{"StaticComputedName",
                    "proxy:\n  env:\n    - name: ISTIO_META_POD_PORTS\n      value: \"[]\"\n",
                    "t.yaml:3: proxy.env[0]: ISTIO_META_POD_PORTS is computed from the pod; write "
                    "`computed: podPorts` instead of a value"},
        BadTemplate{
            "DuplicateEnv",
            "proxy:\n  env:\n    - name: A\n      value: a\n    - name: A\n      value: b\n",
            "t.yaml:5: proxy.env[1]: A is listed twice"},
        BadTemplate{"EnvWithoutName", "proxy:\n  env:\n    - value: a\n",
                    "t.yaml:3: proxy.env[0]: needs a non-empty name"},
        BadTemplate{"InitWithoutName", "proxy: {}\ninitContainers:\n  - image: x\n",
                    "t.yaml:3: initContainers[0]: needs a non-empty name"},
        BadTemplate{"InitDuplicate", "proxy: {}\ninitContainers:\n  - name: a\n  - name: a\n",
                    "t.yaml:4: initContainers[1]: the name \"a\" is used twice"},
        BadTemplate{"InitIsProxy", "proxy: {}\ninitContainers:\n  - name: istio-proxy\n",
                    "t.yaml:3: initContainers: istio-proxy is the proxy; set "
                    "settings.nativeSidecar instead"},
        BadTemplate{"DuplicateKey", "proxy:\n  image: a\n  image: b\n",
                    "t.yaml:3: proxy: duplicate key \"image\""},
        BadTemplate{"Infinity", "proxy:\n  x: .inf\n", "t.yaml:2: proxy.x: .inf has no JSON form"},
        BadTemplate{"MetadataUnknown", "proxy: {}\nmetadata:\n  finalizers: []\n",
                    "t.yaml:3: metadata: unknown key \"finalizers\" (known: labels, annotations)"},
        BadTemplate{"LabelNotString", "proxy: {}\nmetadata:\n  labels:\n    a: [1]\n",
                    "t.yaml:4: metadata.labels.a: expected a string"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace revrouter
