// Local injection: the JSON Patch that turns a pod into what Istio's injector would make of it with
// this revision's template, emitted in one pass over the pod (no render-then-diff).
//
// What Istio does, and where (istio/istio pkg/kube/inject, 1.2x):
//  - webhook.go injectPod: run the template (RunTemplate), strategic-merge it onto the pod, then
//    postProcessPod: overwriteClusterInfo -> applyPrometheusMerge -> applyRewrite (probes) ->
//    applyMetadata (network label, sidecar.istio.io/status) -> reorderPod; finally diff the result
//    against the original pod. The env order below follows that sequence exactly.
//  - inject.go RunTemplate: ISTIO_META_CLUSTER_ID / ISTIO_META_NETWORK come from values, then the
//    webhook path's cluster/net segments, then (network only) the pod's topology.istio.io/network
//    label. updateClusterEnvs removes the proxy's env vars of those names and appends the path
//    env vars sorted by name.
//  - injection-template.yaml: tlsMode / canonical-name / canonical-revision labels; istio.io/rev,
//    kubectl.kubernetes.io/default-logs-container and default-container annotations (the first
//    app container, unless the pod sets them); ISTIO_META_POD_PORTS, ISTIO_META_APP_CONTAINERS,
//    ISTIO_META_WORKLOAD_NAME, ISTIO_META_OWNER.
//  - app_probe.go: HTTP, TCP and gRPC probes become HTTP GETs of the agent's
//    /app-health/<container>/{readyz,livez,startupz} on the status port; the originals (named ports
//    resolved) go, as a JSON map sorted by key, into ISTIO_KUBE_APP_PROBERS.
//  - reorderPod: istio-proxy last among containers (first with holdApplicationUntilProxyStarts);
//    as a native sidecar: istio-init/istio-validation, istio-proxy, enable-core-dump first among
//    init containers; classic: istio-validation first, istio-init and enable-core-dump last.
//
// Operation order: metadata, probe rewrites (indexes of the original pod), init containers,
// containers, volumes, image pull secrets. Inserts come after the rewrites so indexes stay valid.
#include "admission/patch_builder.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "admission/json_out.h"
#include "admission/json_patch_writer.h"
#include "admission/sidecar_template.h"

namespace revrouter {
namespace {

using std::string_view;

constexpr string_view kProxyName = "istio-proxy";
constexpr string_view kInitName = "istio-init";
constexpr string_view kValidationName = "istio-validation";
constexpr string_view kCoreDumpName = "enable-core-dump";
constexpr string_view kStatusAnnotation = "sidecar.istio.io/status";

constexpr std::array<string_view, 3> kProbeKeys = {"readinessProbe", "livenessProbe",
                                                   "startupProbe"};
constexpr std::array<string_view, 3> kProbeUrlSuffix = {"/readyz", "/livez", "/startupz"};

struct ContainerView {
  string_view name;
  const JsonValue* ports = nullptr;          // an array of objects, or null
  std::array<const JsonValue*, 3> probes{};  // objects, or null; kProbeKeys order
};

// How a probe is answered: the handler Istio's kubeProbeToInternalProber picks (httpGet first).
enum class Handler { kNone, kHttpGet, kTcpSocket, kGrpc };
constexpr std::array<string_view, 4> kHandlerKeys = {"", "httpGet", "tcpSocket", "grpc"};

struct ProberEntry {
  std::uint32_t key_offset, key_size;  // into Scratch::prober_keys
  std::uint32_t order;                 // position in pod order: breaks ties between equal keys
  const ContainerView* container;
  std::uint8_t probe;  // index into kProbeKeys
};

struct KeyValue {
  string_view key, value;
  string_view json;  // when not empty: `value` already as a JSON string, quotes included
};

// Per-thread buffers: once they have grown to a request's size, a request allocates nothing.
struct Scratch {
  std::vector<ContainerView> init, containers;
  std::vector<KeyValue> labels, annotations, path_env;
  std::vector<string_view> removed_annotations;
  std::vector<ProberEntry> probers;
  // Text built for this request. Each buffer has one use, and views into it are taken only once it
  // is complete (a growing std::string moves its characters).
  std::string env_arena;    // upper-cased path env names, values with --slash-- replaced
  std::string prober_keys;  // "/app-health/<container>/<probe>" (ProberEntry offsets)
  std::string port_text;    // the status port as text
  std::string url;          // one rewritten probe's path at a time
  std::string status, status_json, pod_ports, app_containers, owner, probers_json, prometheus_json;
  std::string image, resources;  // overrides from pod annotations

  void clear() {
    init.clear();
    containers.clear();
    labels.clear();
    annotations.clear();
    path_env.clear();
    removed_annotations.clear();
    probers.clear();
    env_arena.clear();
    prober_keys.clear();
  }
};

// Where a field is, as a chain of stack frames: the text "spec.containers[0].ports" is only
// built when an error is reported, so reading a well-formed pod allocates nothing.
// A frame points at its parent: build chains from named frames (a temporary parent would dangle).
struct JsonPath {
  const JsonPath* parent = nullptr;
  string_view key;               // a member name, or
  std::size_t index = SIZE_MAX;  // an array index

  JsonPath operator/(string_view k) const { return JsonPath{this, k, SIZE_MAX}; }
  JsonPath operator[](std::size_t i) const { return JsonPath{this, {}, i}; }

  void append_to(std::string& out) const {
    if (parent != nullptr) parent->append_to(out);
    if (index != SIZE_MAX) {
      out.append("[").append(std::to_string(index)).append("]");
    } else {
      if (parent != nullptr) out.push_back('.');
      out.append(key);
    }
  }
};

Error bad_field(const JsonPath& path, string_view want) {
  std::string msg = "request.object.";
  path.append_to(msg);
  msg.append(": expected ").append(want);
  return make_error("bad_field", std::move(msg));
}

// JSON null counts as absent, as in Go's decoding of Kubernetes objects.
const JsonValue* present(const JsonValue* v) { return v == nullptr || v->IsNull() ? nullptr : v; }

// --- Reading the pod -------------------------------------------------------------------------

Status check_string(const JsonValue* v, const JsonPath& path) {
  if (v != nullptr && !v->IsString()) return bad_field(path, "a string");
  return Ok{};
}

Status check_int(const JsonValue* v, const JsonPath& path) {
  if (v != nullptr && !v->IsInt()) return bad_field(path, "an integer");
  return Ok{};
}

Status check_int_or_string(const JsonValue* v, const JsonPath& path) {
  if (v != nullptr && !v->IsInt() && !v->IsString()) {
    return bad_field(path, "an integer or a port name");
  }
  return Ok{};
}

// The fields of a probe that rewriting and ISTIO_KUBE_APP_PROBERS read.
Status check_probe(const JsonValue& probe, const JsonPath& path) {
  if (!probe.IsObject()) return bad_field(path, "an object");
  for (auto it = probe.MemberBegin(); it != probe.MemberEnd(); ++it) {
    const string_view k = sv(it->name);
    const JsonValue* v = present(&it->value);
    if (k == "timeoutSeconds") {
      if (auto s = check_int(v, path / k); !s) return s;
      continue;
    }
    if (v == nullptr || (k != "httpGet" && k != "tcpSocket" && k != "grpc")) continue;
    const JsonPath hp = path / k;
    if (!v->IsObject()) return bad_field(hp, "an object");
    for (auto m = v->MemberBegin(); m != v->MemberEnd(); ++m) {
      const string_view mk = sv(m->name);
      const JsonValue* mv = present(&m->value);
      Status s = Ok{};
      if (mk == "port") {
        s = k == "grpc" ? check_int(mv, hp / mk) : check_int_or_string(mv, hp / mk);
      } else if (mk == "path" || mk == "host" || mk == "scheme" || mk == "service") {
        s = check_string(mv, hp / mk);
      } else if (mk == "httpHeaders" && mv != nullptr) {
        const JsonPath headers = hp / mk;
        if (!mv->IsArray()) return bad_field(headers, "an array");
        for (rapidjson::SizeType i = 0; i < mv->Size(); ++i) {
          const JsonValue& h = (*mv)[i];
          const JsonPath at = headers[i];
          if (!h.IsObject()) return bad_field(at, "an object");
          if (auto c = check_string(present(member(&h, "name")), at / "name"); !c) return c;
          if (auto c = check_string(present(member(&h, "value")), at / "value"); !c) return c;
        }
      }
      if (!s) return s;
    }
  }
  return Ok{};
}

Status check_ports(const JsonValue& ports, const JsonPath& path) {
  if (!ports.IsArray()) return bad_field(path, "an array");
  for (rapidjson::SizeType i = 0; i < ports.Size(); ++i) {
    const JsonValue& p = ports[i];
    const JsonPath at = path[i];
    if (!p.IsObject()) return bad_field(at, "an object");
    for (auto it = p.MemberBegin(); it != p.MemberEnd(); ++it) {
      const string_view k = sv(it->name);
      const JsonValue* v = present(&it->value);
      if (v == nullptr) continue;
      Status s = Ok{};
      if (k == "containerPort" || k == "hostPort") {
        s = check_int(v, at / k);
      } else if (k == "name" || k == "protocol" || k == "hostIP") {
        s = check_string(v, at / k);
      }
      if (!s) return s;
    }
  }
  return Ok{};
}

// Reads spec.containers or spec.initContainers. `absent` tells whether the list is missing (a whole
// array is then added instead of elements).
Status read_containers(const JsonValue* spec, string_view key, std::vector<ContainerView>& out,
                       bool& absent) {
  const JsonValue* list = present(member(spec, key));
  absent = list == nullptr;
  if (list == nullptr) return Ok{};
  const JsonPath spec_path{nullptr, "spec"};
  const JsonPath path = spec_path / key;
  if (!list->IsArray()) return bad_field(path, "an array");
  out.reserve(list->Size());
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    const JsonValue& c = (*list)[i];
    const JsonPath at = path[i];
    if (!c.IsObject()) return bad_field(at, "an object");
    ContainerView view;
    for (auto it = c.MemberBegin(); it != c.MemberEnd(); ++it) {
      const string_view k = sv(it->name);
      const JsonValue* v = present(&it->value);
      if (v == nullptr) continue;
      if (k == "name") {
        if (!v->IsString()) return bad_field(at / k, "a string");
        view.name = sv(*v);
      } else if (k == "ports") {
        if (auto s = check_ports(*v, at / k); !s) return s;
        view.ports = v;
      } else {
        for (std::size_t p = 0; p < kProbeKeys.size(); ++p) {
          if (k != kProbeKeys[p]) continue;
          if (auto s = check_probe(*v, at / k); !s) return s;
          view.probes[p] = v;
        }
      }
    }
    if (view.name == kProxyName) {
      // Istio merges a user-supplied istio-proxy onto its own (custom injection); the local
      // backend does not, and adding a second container of that name would fail validation.
      std::string msg = "request.object.";
      at.append_to(msg);
      msg.append(
          ": the pod already defines an istio-proxy container; customising the sidecar that way "
          "needs a proxy (istiod) backend");
      return make_error("bad_field", std::move(msg));
    }
    out.push_back(view);
  }
  return Ok{};
}

Status check_list(const JsonValue* spec, string_view key, bool& absent) {
  const JsonValue* list = present(member(spec, key));
  absent = list == nullptr;
  const JsonPath spec_path{nullptr, "spec"};
  if (list != nullptr && !list->IsArray()) return bad_field(spec_path / key, "an array");
  return Ok{};
}

// --- Small helpers ---------------------------------------------------------------------------

// Go's strconv.ParseBool.
std::optional<bool> parse_go_bool(string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    return false;
  }
  return std::nullopt;
}

// prometheus/util/strutil.SanitizeLabelName: every byte outside [a-zA-Z0-9_] becomes '_', so
// prometheus.io/scrape, prometheus-io/scrape and prometheus.io.scrape are one annotation to Istio.
bool sanitized_equals(string_view key, string_view sanitized) {
  if (key.size() != sanitized.size()) return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool keep =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if ((keep ? c : '_') != sanitized[i]) return false;
  }
  return true;
}

// A prefix of `s` of at most `n` bytes that does not split a UTF-8 sequence.
string_view utf8_prefix(string_view s, std::size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void put(std::vector<KeyValue>& kvs, string_view key, string_view value, string_view json = {}) {
  for (KeyValue& kv : kvs) {
    if (kv.key == key) {
      kv.value = value;
      kv.json = json;
      return;
    }
  }
  kvs.push_back({key, value, json});
}

const KeyValue* find(const std::vector<KeyValue>& kvs, string_view key) {
  for (const KeyValue& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

// The port a probe's handler names, resolved as Istio's DumpAppProbers does: a name through the
// container's own ports (the last of that name), a number as is; nullopt when unresolvable.
std::optional<int> resolve_port(const JsonValue* port, const ContainerView& c) {
  if (port == nullptr) return 0;  // Go's zero value
  if (port->IsInt()) return port->GetInt();
  std::optional<int> found;
  if (c.ports != nullptr) {
    for (const JsonValue& p : c.ports->GetArray()) {
      const JsonValue* name = present(member(&p, "name"));
      if (name == nullptr || sv(*name).empty() || sv(*name) != sv(*port)) continue;
      const JsonValue* number = present(member(&p, "containerPort"));
      found = number == nullptr ? 0 : number->GetInt();
    }
  }
  return found;
}

Handler handler_of(const JsonValue& probe, const JsonValue** action) {
  for (int h = 1; h <= 3; ++h) {
    const JsonValue* a = present(member(&probe, kHandlerKeys[h]));
    if (a != nullptr) {
      *action = a;
      return static_cast<Handler>(h);
    }
  }
  return Handler::kNone;
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// --- The builder -----------------------------------------------------------------------------

class Builder {
 public:
  Builder(const PatchInput& in, const SidecarTemplate& t, Scratch& s, std::string& out)
      : in_(in), t_(t), s_(s), w_(out) {}

  Status build();

 private:
  Status read_pod();
  Status decide_settings();
  void collect_path_env();
  void collect_labels();
  void collect_annotations();
  void collect_probers();
  void build_pod_ports();
  void build_status();
  void write_value(const KeyValue& kv);

  void write_metadata();
  void write_map_ops(const JsonValue* existing, string_view field,
                     const std::vector<KeyValue>& kvs);
  Status write_probe_rewrites(const std::vector<ContainerView>& list, string_view field);
  Status write_rewritten_probe(const JsonValue& probe, Handler handler, const JsonValue* action,
                               string_view container, std::size_t probe_index, string_view field,
                               std::size_t index);
  Status read_proxy_config();
  void collect_overrides();
  void write_image_and_resources(string_view image, string_view resources);
  void write_init_containers();
  void write_containers();
  void write_named_list(string_view field, const std::vector<NamedJson>& items, bool absent);
  void write_proxy();
  void write_env(string_view name, string_view value);

  const PatchInput& in_;
  const SidecarTemplate& t_;
  Scratch& s_;
  JsonWriter w_;

  const JsonValue* metadata_ = nullptr;
  const JsonValue* labels_ = nullptr;
  const JsonValue* annotations_ = nullptr;
  const JsonValue* spec_ = nullptr;
  bool init_absent_ = true, containers_absent_ = true, volumes_absent_ = true,
       secrets_absent_ = true;

  bool native_ = false;
  bool hold_ = false;  // holdApplicationUntilProxyStarts, after proxy.istio.io/config
  bool image_override_ = false, resources_override_ = false;  // from pod annotations
  bool rewrite_probes_ = true;
  int rewrite_port_ = 15020;  // where rewritten probes point (status.sidecar.istio.io/port)
  bool prometheus_ = false;
  string_view first_app_;
};

Status Builder::read_pod() {
  const JsonValue& pod = *in_.pod.object;
  metadata_ = present(member(&pod, "metadata"));
  labels_ = in_.pod.labels.json();
  annotations_ = in_.pod.annotations.json();
  spec_ = present(member(&pod, "spec"));
  if (spec_ != nullptr && !spec_->IsObject()) {
    return bad_field(JsonPath{nullptr, "spec"}, "an object");
  }
  if (auto st = read_containers(spec_, "initContainers", s_.init, init_absent_); !st) return st;
  if (auto st = read_containers(spec_, "containers", s_.containers, containers_absent_); !st) {
    return st;
  }
  if (auto st = check_list(spec_, "volumes", volumes_absent_); !st) return st;
  if (auto st = check_list(spec_, "imagePullSecrets", secrets_absent_); !st) return st;
  for (const ContainerView& c : s_.containers) {
    if (c.name != kProxyName) {
      first_app_ = c.name;
      break;
    }
  }
  return Ok{};
}

Status Builder::decide_settings() {
  const StringMap& a = in_.pod.annotations;
  // injection-template.yaml: native unless the annotation (or, without it, the setting) is "false".
  const string_view native = a.get("sidecar.istio.io/nativeSidecar").value_or("");
  native_ = native.empty() ? t_.native_sidecar : native != "false";

  rewrite_probes_ = t_.rewrite_app_probers;
  if (auto v = a.get("sidecar.istio.io/rewriteAppHTTPProbers")) {
    if (auto b = parse_go_bool(*v)) rewrite_probes_ = *b;
  }
  rewrite_port_ = t_.status_port;
  if (auto v = a.get("status.sidecar.istio.io/port")) {
    // Istio validates this annotation before injecting and fails the injection when it is bad.
    int port = 0;
    const auto r = std::from_chars(v->data(), v->data() + v->size(), port);
    if (r.ec != std::errc() || r.ptr != v->data() + v->size() || port < 1 || port > 65535) {
      return bad_field(JsonPath{nullptr, "metadata.annotations.status.sidecar.istio.io/port"},
                       "a port number (1-65535)");
    }
    rewrite_port_ = port;
  }

  // applyPrometheusMerge: the first scrape annotation that parses as a bool decides, default true.
  bool scrape = true;
  bool decided = false;
  a.for_each([&](string_view k, string_view v) {
    if (decided || !sanitized_equals(k, "prometheus_io_scrape")) return;
    if (auto b = parse_go_bool(v)) {
      scrape = *b;
      decided = true;
    }
  });
  bool merge = t_.prometheus_merge;
  if (auto v = a.get("prometheus.istio.io/merge-metrics")) {
    if (auto b = parse_go_bool(*v)) merge = *b;
  }
  prometheus_ = scrape && merge;
  return Ok{};
}

// proxy.istio.io/config: the pod's ProxyConfig overlay. Only holdApplicationUntilProxyStarts is
// read (it decides container order and the postStart hook); Istio fails the injection when the
// overlay does not parse, and so does this. Parsed only for pods that carry it.
Status Builder::read_proxy_config() {
  hold_ = t_.hold_application_until_proxy_starts;
  const std::optional<string_view> text = in_.pod.annotations.get("proxy.istio.io/config");
  if (!text) return Ok{};
  const JsonPath path{nullptr, "metadata.annotations.proxy.istio.io/config"};
  try {
    const YAML::Node config = YAML::Load(std::string(*text));
    if (config.IsNull()) return Ok{};
    if (!config.IsMap()) return bad_field(path, "a ProxyConfig (YAML or JSON map)");
    const YAML::Node& c = config;
    const YAML::Node hold = c["holdApplicationUntilProxyStarts"];
    if (!hold || hold.IsNull()) return Ok{};
    const std::string v = hold.IsScalar() ? hold.Scalar() : std::string();
    if (v == "true" || v == "True" || v == "TRUE") {
      hold_ = true;
    } else if (v == "false" || v == "False" || v == "FALSE") {
      hold_ = false;
    } else {
      return bad_field(path, "holdApplicationUntilProxyStarts to be true or false");
    }
  } catch (const YAML::Exception&) {
    return bad_field(path, "a ProxyConfig (YAML or JSON map)");
  }
  return Ok{};
}

// Istio's ProxyImage/updateImageTypeIfPresent: the tag loses a known type suffix (-distroless,
// -debug) and gains `type` unless it is "default". False when the image has no tag.
bool retag_image(string_view image, string_view type, std::string& out) {
  const std::size_t slash = image.rfind('/');
  const std::size_t colon = image.rfind(':');
  if (colon == string_view::npos || (slash != string_view::npos && colon < slash)) return false;
  string_view tag = image.substr(colon + 1);
  for (string_view known : {string_view("-distroless"), string_view("-debug")}) {
    if (tag.size() > known.size() && tag.ends_with(known)) {
      tag.remove_suffix(known.size());
      break;
    }
  }
  out.assign(image.substr(0, colon + 1)).append(tag);
  if (type != "default") out.append("-").append(type);
  return true;
}

// The template parts pods may override by annotation: the proxy image (istio-proxy, istio-init and
// istio-validation all run it) and the proxy's resources (the template's "resources" block, which
// istio-init shares). Istio replaces the whole resources object when any of the four is set.
void Builder::collect_overrides() {
  const StringMap& a = in_.pod.annotations;
  image_override_ = false;
  if (auto v = a.get("sidecar.istio.io/proxyImage"); v && v->find('/') != string_view::npos) {
    s_.image.assign(*v);
    image_override_ = true;
  } else if (auto type = a.get("sidecar.istio.io/proxyImageType"); type && !type->empty()) {
    image_override_ = retag_image(t_.proxy_image, *type, s_.image);
  }

  const auto cpu = a.get("sidecar.istio.io/proxyCPU");
  const auto memory = a.get("sidecar.istio.io/proxyMemory");
  const auto cpu_limit = a.get("sidecar.istio.io/proxyCPULimit");
  const auto memory_limit = a.get("sidecar.istio.io/proxyMemoryLimit");
  resources_override_ = cpu || memory || cpu_limit || memory_limit;
  if (!resources_override_) return;
  s_.resources.clear();
  JsonWriter w(s_.resources);
  w.begin_object();
  auto section = [&](string_view name, const std::optional<string_view>& c,
                     const std::optional<string_view>& m) {
    if (!c && !m) return;
    w.literal_key(name);
    w.begin_object();
    if (c) {
      w.literal_key("cpu");
      w.string(*c);
    }
    if (m) {
      w.literal_key("memory");
      w.string(*m);
    }
    w.end_object();
  };
  section("requests", cpu, memory);
  section("limits", cpu_limit, memory_limit);
  w.end_object();
}

void Builder::write_image_and_resources(string_view image, string_view resources) {
  const string_view img = image_override_ ? string_view(s_.image) : image;
  if (!img.empty()) {
    w_.literal_key("image");
    w_.string(img);
  }
  const string_view res = resources_override_ ? string_view(s_.resources) : resources;
  if (!res.empty()) {
    w_.literal_key("resources");
    w_.raw_value(res);
  }
}

void Builder::collect_path_env() {
  struct Pending {
    std::size_t name_off, name_len;
    string_view value;
    std::size_t value_off = 0, value_len = 0;
    bool value_in_arena = false;
  };
  std::array<Pending, WebhookPath::kMaxExtra> pending;
  std::size_t n = 0;
  const WebhookPath& path = in_.path;
  for (std::size_t i = 0; i < path.extra_count; ++i) {
    const PathSegment& seg = path.extra[i];
    Pending p;
    p.name_off = s_.env_arena.size();
    for (char c : seg.key) {
      s_.env_arena.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 32) : c);
    }
    p.name_len = seg.key.size();
    // parseInjectEnvs: "--slash--" in a value stands for '/', which a path segment cannot hold.
    if (seg.value.find("--slash--") != string_view::npos) {
      p.value_in_arena = true;
      p.value_off = s_.env_arena.size();
      string_view rest = seg.value;
      for (std::size_t at; (at = rest.find("--slash--")) != string_view::npos;) {
        s_.env_arena.append(rest.substr(0, at)).push_back('/');
        rest.remove_prefix(at + 9);
      }
      s_.env_arena.append(rest);
      p.value_len = s_.env_arena.size() - p.value_off;
    } else {
      p.value = seg.value;
    }
    pending[n++] = p;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const Pending& p = pending[i];
    const string_view name(s_.env_arena.data() + p.name_off, p.name_len);
    put(s_.path_env, name,
        p.value_in_arena ? string_view(s_.env_arena.data() + p.value_off, p.value_len) : p.value);
  }
  if (!path.cluster.empty()) put(s_.path_env, "ISTIO_META_CLUSTER_ID", path.cluster);
  if (!path.network.empty()) put(s_.path_env, "ISTIO_META_NETWORK", path.network);

  // RunTemplate: values first, then the webhook path, then (network) the pod's label.
  string_view cluster = t_.cluster_name;
  if (const KeyValue* kv = find(s_.path_env, "ISTIO_META_CLUSTER_ID"); kv && !kv->value.empty()) {
    cluster = kv->value;
  }
  string_view network = t_.network;
  if (const KeyValue* kv = find(s_.path_env, "ISTIO_META_NETWORK"); kv && !kv->value.empty()) {
    network = kv->value;
  }
  if (auto label = in_.pod.labels.get("topology.istio.io/network")) network = *label;
  if (!cluster.empty()) put(s_.path_env, "ISTIO_META_CLUSTER_ID", cluster);
  if (!network.empty()) put(s_.path_env, "ISTIO_META_NETWORK", network);
  std::sort(s_.path_env.begin(), s_.path_env.end(),
            [](const KeyValue& a, const KeyValue& b) { return a.key < b.key; });
}

void Builder::collect_labels() {
  const StringMap& l = in_.pod.labels;
  for (const auto& [k, v] : t_.labels) put(s_.labels, k, v);
  auto first_set = [&](std::initializer_list<string_view> keys) -> string_view {
    for (string_view k : keys) {
      if (auto v = l.get(k); v && !v->empty()) return *v;
    }
    return {};
  };
  string_view tls = first_set({"security.istio.io/tlsMode"});
  put(s_.labels, "security.istio.io/tlsMode", tls.empty() ? "istio" : tls);

  string_view name =
      first_set({"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"});
  if (name.empty()) name = in_.workload.name;
  // A label value: at most 63 characters, ending in an alphanumeric.
  name = utf8_prefix(name, 63);
  while (!name.empty() && (name.back() == '-' || name.back() == '_' || name.back() == '.')) {
    name.remove_suffix(1);
  }
  put(s_.labels, "service.istio.io/canonical-name", name);

  string_view revision =
      first_set({"service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"});
  put(s_.labels, "service.istio.io/canonical-revision", revision.empty() ? "latest" : revision);

  // applyMetadata: the network the proxy was given is also the pod's network label.
  if (const KeyValue* nw = find(s_.path_env, "ISTIO_META_NETWORK")) {
    put(s_.labels, "topology.istio.io/network", nw->value);
  }
}

void Builder::collect_annotations() {
  const StringMap& a = in_.pod.annotations;
  for (const auto& [k, v] : t_.annotations) put(s_.annotations, k, v);
  const string_view revision =
      in_.revision.name.empty() ? string_view("default") : string_view(in_.revision.name);
  put(s_.annotations, "istio.io/rev", revision);
  if (!first_app_.empty()) {
    if (!a.contains("kubectl.kubernetes.io/default-logs-container")) {
      put(s_.annotations, "kubectl.kubernetes.io/default-logs-container", first_app_);
    }
    if (!a.contains("kubectl.kubernetes.io/default-container")) {
      put(s_.annotations, "kubectl.kubernetes.io/default-container", first_app_);
    }
  }

  s_.prometheus_json.clear();
  if (prometheus_) {
    // The agent serves merged metrics on the status port (meshConfig's, not the annotation's).
    s_.port_text.clear();
    append_int(s_.port_text, t_.status_port);
    const string_view target = s_.port_text;
    std::optional<string_view> current_port;
    a.for_each([&](string_view k, string_view v) {
      if (!current_port && sanitized_equals(k, "prometheus_io_port")) current_port = v;
    });
    // Already pointing at the agent: the user controls it (or it was injected before).
    if (!current_port || *current_port != target) {
      string_view scrape, path, port;
      bool any = false;
      a.for_each([&](string_view k, string_view v) {
        if (sanitized_equals(k, "prometheus_io_scrape")) {
          scrape = v;
        } else if (sanitized_equals(k, "prometheus_io_path")) {
          path = v;
        } else if (sanitized_equals(k, "prometheus_io_port")) {
          port = v;
        } else {
          return;
        }
        any = true;
        if (k != "prometheus.io/scrape" && k != "prometheus.io/path" && k != "prometheus.io/port") {
          s_.removed_annotations.push_back(k);
        }
      });
      if (any && (!scrape.empty() || !path.empty() || !port.empty())) {
        // status.PrometheusScrapeConfiguration, marshalled by encoding/json.
        std::string& j = s_.prometheus_json;
        j.append("{\"scrape\":");
        append_go_json_string(j, scrape);
        j.append(",\"path\":");
        append_go_json_string(j, path);
        j.append(",\"port\":");
        append_go_json_string(j, port);
        j.push_back('}');
      }
      put(s_.annotations, "prometheus.io/port", target);
      put(s_.annotations, "prometheus.io/path", "/stats/prometheus");
      put(s_.annotations, "prometheus.io/scrape", "true");
    }
  }
  put(s_.annotations, kStatusAnnotation, s_.status, s_.status_json);
}

void Builder::collect_probers() {
  auto add = [&](const std::vector<ContainerView>& list) {
    for (const ContainerView& c : list) {
      for (std::size_t p = 0; p < kProbeKeys.size(); ++p) {
        if (c.probes[p] == nullptr) continue;
        const JsonValue* action = nullptr;
        const Handler h = handler_of(*c.probes[p], &action);
        if (h == Handler::kNone) continue;
        if (h != Handler::kGrpc) {
          const JsonValue* port = present(member(action, "port"));
          const std::optional<int> resolved = resolve_port(port, c);
          if (!resolved) continue;  // a name the container does not define
          // Already pointing at the agent: a pod injected before.
          if (port != nullptr && port->IsInt() && *resolved == t_.status_port) continue;
        }
        ProberEntry e;
        e.key_offset = static_cast<std::uint32_t>(s_.prober_keys.size());
        s_.prober_keys.append("/app-health/").append(c.name).append(kProbeUrlSuffix[p]);
        e.key_size = static_cast<std::uint32_t>(s_.prober_keys.size() - e.key_offset);
        e.container = &c;
        e.probe = static_cast<std::uint8_t>(p);
        e.order = static_cast<std::uint32_t>(s_.probers.size());
        s_.probers.push_back(e);
      }
    }
  };
  add(s_.init);
  add(s_.containers);
  s_.probers_json.clear();
  if (s_.probers.empty()) return;

  const std::string& keys = s_.prober_keys;
  auto key = [&](const ProberEntry& e) {
    return string_view(keys.data() + e.key_offset, e.key_size);
  };
  // A Go map marshals sorted by key; on a duplicate key (two containers of one name) the later
  // wins. std::sort with the pod order as tie-break: stable_sort would allocate a buffer.
  std::sort(s_.probers.begin(), s_.probers.end(), [&](const ProberEntry& a, const ProberEntry& b) {
    const int c = key(a).compare(key(b));
    return c != 0 ? c < 0 : a.order < b.order;
  });
  std::string& j = s_.probers_json;
  j.push_back('{');
  bool first = true;
  for (std::size_t i = 0; i < s_.probers.size(); ++i) {
    const ProberEntry& e = s_.probers[i];
    if (i + 1 < s_.probers.size() && key(s_.probers[i + 1]) == key(e)) continue;
    if (!first) j.push_back(',');
    first = false;
    append_go_json_string(j, key(e));
    j.append(":{");
    const JsonValue& probe = *e.container->probes[e.probe];
    const JsonValue* action = nullptr;
    const Handler h = handler_of(probe, &action);
    auto str = [&](string_view field) -> string_view {
      const JsonValue* v = present(member(action, field));
      return v == nullptr ? string_view{} : sv(*v);
    };
    j.push_back('"');
    j.append(kHandlerKeys[static_cast<int>(h)]);
    j.append("\":{");
    if (h == Handler::kGrpc) {
      // corev1.GRPCAction: port, then service (a *string without omitempty: null when unset).
      const JsonValue* port = present(member(action, "port"));
      j.append("\"port\":");
      append_int(j, port == nullptr ? 0 : port->GetInt());
      j.append(",\"service\":");
      if (const JsonValue* svc = present(member(action, "service"))) {
        append_go_json_string(j, sv(*svc));
      } else {
        j.append("null");
      }
    } else {
      const int port = *resolve_port(present(member(action, "port")), *e.container);
      if (h == Handler::kHttpGet) {
        // corev1.HTTPGetAction field order: path, port, host, scheme, httpHeaders.
        if (string_view path = str("path"); !path.empty()) {
          j.append("\"path\":");
          append_go_json_string(j, path);
          j.push_back(',');
        }
        j.append("\"port\":");
        append_int(j, port);
        if (string_view host = str("host"); !host.empty()) {
          j.append(",\"host\":");
          append_go_json_string(j, host);
        }
        if (string_view scheme = str("scheme"); !scheme.empty()) {
          j.append(",\"scheme\":");
          append_go_json_string(j, scheme);
        }
        if (const JsonValue* headers = present(member(action, "httpHeaders"));
            headers != nullptr && !headers->Empty()) {
          j.append(",\"httpHeaders\":[");
          bool first_header = true;
          for (const JsonValue& hdr : headers->GetArray()) {
            if (!first_header) j.push_back(',');
            first_header = false;
            const JsonValue* n = present(member(&hdr, "name"));
            const JsonValue* v = present(member(&hdr, "value"));
            j.append("{\"name\":");
            append_go_json_string(j, n == nullptr ? string_view{} : sv(*n));
            j.append(",\"value\":");
            append_go_json_string(j, v == nullptr ? string_view{} : sv(*v));
            j.push_back('}');
          }
          j.push_back(']');
        }
      } else {
        // corev1.TCPSocketAction: port, host.
        j.append("\"port\":");
        append_int(j, port);
        if (string_view host = str("host"); !host.empty()) {
          j.append(",\"host\":");
          append_go_json_string(j, host);
        }
      }
    }
    j.push_back('}');
    if (const JsonValue* timeout = present(member(&probe, "timeoutSeconds"));
        timeout != nullptr && timeout->GetInt() != 0) {
      j.append(",\"timeoutSeconds\":");
      append_int(j, timeout->GetInt());
    }
    j.push_back('}');
  }
  j.push_back('}');
}

// The template's ISTIO_META_POD_PORTS: a '[' line, each port's JSON on its own line indented by 4
// with a leading comma from the second on, and a ']' line (the |- block of the template).
void Builder::build_pod_ports() {
  std::string& j = s_.pod_ports;
  j.assign("[");
  bool first = true;
  for (const ContainerView& c : s_.containers) {
    if (c.ports == nullptr) continue;
    for (const JsonValue& p : c.ports->GetArray()) {
      j.append("\n    ");
      if (!first) j.push_back(',');
      first = false;
      // corev1.ContainerPort: name, hostPort, containerPort, protocol, hostIP (all but
      // containerPort omitted when empty).
      auto str = [&](string_view k) -> string_view {
        const JsonValue* v = present(member(&p, k));
        return v == nullptr ? string_view{} : sv(*v);
      };
      auto num = [&](string_view k) -> int {
        const JsonValue* v = present(member(&p, k));
        return v == nullptr ? 0 : v->GetInt();
      };
      j.push_back('{');
      if (string_view name = str("name"); !name.empty()) {
        j.append("\"name\":");
        append_go_json_string(j, name);
        j.push_back(',');
      }
      if (int host = num("hostPort"); host != 0) {
        j.append("\"hostPort\":");
        append_int(j, host);
        j.push_back(',');
      }
      j.append("\"containerPort\":");
      append_int(j, num("containerPort"));
      if (string_view protocol = str("protocol"); !protocol.empty()) {
        j.append(",\"protocol\":");
        append_go_json_string(j, protocol);
      }
      if (string_view ip = str("hostIP"); !ip.empty()) {
        j.append(",\"hostIP\":");
        append_go_json_string(j, ip);
      }
      j.push_back('}');
    }
  }
  j.append("\n]");

  std::string& names = s_.app_containers;
  names.clear();
  for (const ContainerView& c : s_.containers) {
    if (c.name == kProxyName) continue;
    if (!names.empty()) names.push_back(',');
    names.append(c.name);
  }

  std::string& owner = s_.owner;
  owner.clear();
  const Workload& wl = in_.workload;
  if (!wl.name.empty()) {
    const string_view ns = in_.pod.namespace_.empty() ? "default" : in_.pod.namespace_;
    owner.append("kubernetes://apis/").append(wl.api_version).append("/namespaces/").append(ns);
    owner.push_back('/');
    for (char c : wl.kind) owner.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    owner.append("s/").append(wl.name);
  }
}

// sidecar.istio.io/status: the names the template injects (not the merged pod's, written at load:
// SidecarTemplate::status_head), then the real revision.
void Builder::build_status() {
  const std::size_t head = t_.status_head[native_].size();
  s_.status.assign(t_.status_head[native_]);
  append_go_json_string(s_.status, in_.revision.name.empty() ? "default" : in_.revision.name);
  s_.status.push_back('}');
  // As a JSON string: the head was escaped once, at load; only the revision's part is escaped now.
  s_.status_json.assign("\"").append(t_.status_head_escaped[native_]);
  append_json_escaped(s_.status_json, string_view(s_.status).substr(head));
  s_.status_json.push_back('"');
}

void Builder::write_value(const KeyValue& kv) {
  if (kv.json.empty()) {
    w_.string(kv.value);
  } else {
    w_.raw_value(kv.json);
  }
}

void Builder::write_map_ops(const JsonValue* existing, string_view field,
                            const std::vector<KeyValue>& kvs) {
  if (existing == nullptr) {
    w_.begin_op("add", {"metadata", field});
    w_.literal_key("value");
    w_.begin_object();
    for (const KeyValue& kv : kvs) {
      w_.key(kv.key);
      write_value(kv);
    }
    w_.end_object();
    w_.end_object();
    return;
  }
  const StringMap current(existing);
  for (const KeyValue& kv : kvs) {
    if (auto v = current.get(kv.key); v && *v == kv.value) continue;  // already so
    w_.begin_op("add", {"metadata", field, kv.key});
    w_.literal_key("value");
    write_value(kv);
    w_.end_object();
  }
}

void Builder::write_metadata() {
  if (metadata_ == nullptr) {
    w_.begin_op("add", {"metadata"});
    w_.literal_key("value");
    w_.begin_object();
    for (auto [field, kvs] : {std::pair{"labels", &s_.labels}, {"annotations", &s_.annotations}}) {
      w_.literal_key(field);
      w_.begin_object();
      for (const KeyValue& kv : *kvs) {
        w_.key(kv.key);
        write_value(kv);
      }
      w_.end_object();
    }
    w_.end_object();
    w_.end_object();
    return;
  }
  write_map_ops(labels_, "labels", s_.labels);
  for (string_view k : s_.removed_annotations) {
    w_.begin_op("remove", {"metadata", "annotations", k});
    w_.end_object();
  }
  write_map_ops(annotations_, "annotations", s_.annotations);
}

Status Builder::write_rewritten_probe(const JsonValue& probe, Handler handler,
                                      const JsonValue* action, string_view container,
                                      std::size_t probe_index, string_view field,
                                      std::size_t index) {
  auto too_deep = [&](string_view handler_key, string_view key) {
    // Each frame is named: a frame points at its parent, which must outlive it.
    const JsonPath spec{nullptr, "spec"};
    const JsonPath list = spec / field;
    const JsonPath container_path = list[index];
    const JsonPath probe_path = container_path / kProbeKeys[probe_index];
    if (handler_key.empty()) return bad_field(probe_path / key, "less deeply nested JSON");
    const JsonPath handler_path = probe_path / handler_key;
    return bad_field(handler_path / key, "less deeply nested JSON");
  };
  // app_probe.go convertAppProber: the probe is kept except for its handler, which becomes an
  // HTTP GET of the agent (HTTPS -> HTTP: the agent speaks TLS to the app itself).
  const string_view handler_key = kHandlerKeys[static_cast<int>(handler)];
  w_.begin_object();
  for (auto it = probe.MemberBegin(); it != probe.MemberEnd(); ++it) {
    const string_view k = sv(it->name);
    if (k != handler_key) {
      w_.key(k);
      if (!w_.value(it->value)) return too_deep({}, k);
      continue;
    }
    w_.literal_key("httpGet");
    w_.begin_object();
    w_.literal_key("path");
    s_.url.assign("/app-health/").append(container).append(kProbeUrlSuffix[probe_index]);
    w_.string(s_.url);
    w_.literal_key("port");
    w_.integer(rewrite_port_);
    if (handler == Handler::kHttpGet) {
      for (auto m = action->MemberBegin(); m != action->MemberEnd(); ++m) {
        const string_view mk = sv(m->name);
        if (mk == "path" || mk == "port") continue;
        w_.key(mk);
        if (mk == "scheme" && m->value.IsString() && sv(m->value) == "HTTPS") {
          w_.string("HTTP");
        } else if (!w_.value(m->value)) {
          return too_deep(handler_key, mk);
        }
      }
    }
    w_.end_object();
  }
  w_.end_object();
  return Ok{};
}

Status Builder::write_probe_rewrites(const std::vector<ContainerView>& list, string_view field) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ContainerView& c = list[i];
    for (std::size_t p = 0; p < kProbeKeys.size(); ++p) {
      if (c.probes[p] == nullptr) continue;
      const JsonValue* action = nullptr;
      const Handler h = handler_of(*c.probes[p], &action);
      if (h == Handler::kNone) continue;
      w_.begin_op("replace", {"spec", field, i, kProbeKeys[p]});
      w_.literal_key("value");
      if (auto st = write_rewritten_probe(*c.probes[p], h, action, c.name, p, field, i); !st) {
        return st;
      }
      w_.end_object();
    }
  }
  return Ok{};
}

void Builder::write_env(string_view name, string_view value) {
  w_.begin_object();
  w_.literal_key("name");
  w_.string(name);
  w_.literal_key("value");
  w_.string(value);
  w_.end_object();
}

void Builder::write_proxy() {
  w_.begin_object();
  w_.raw_members(t_.proxy_members);
  write_image_and_resources(t_.proxy_image, t_.proxy_resources);
  w_.literal_key("env");
  w_.begin_array();
  for (const TemplateEnv& e : t_.proxy_env) {
    if (find(s_.path_env, e.name) != nullptr) continue;  // replaced by the path's value below
    switch (e.computed) {
      case ComputedEnv::kNone:
        w_.raw_value(e.json);
        break;
      case ComputedEnv::kPodPorts:
        write_env(e.name, s_.pod_ports);
        break;
      case ComputedEnv::kAppContainers:
        write_env(e.name, s_.app_containers);
        break;
      case ComputedEnv::kWorkloadName:
        if (!in_.workload.name.empty()) write_env(e.name, in_.workload.name);
        break;
      case ComputedEnv::kOwner:
        if (!s_.owner.empty()) write_env(e.name, s_.owner);
        break;
    }
  }
  for (const KeyValue& kv : s_.path_env) write_env(kv.key, kv.value);
  if (!s_.prometheus_json.empty()) write_env("ISTIO_PROMETHEUS_ANNOTATIONS", s_.prometheus_json);
  if (rewrite_probes_ && !s_.probers_json.empty()) {
    write_env("ISTIO_KUBE_APP_PROBERS", s_.probers_json);
  }
  w_.end_array();
  const bool hold = hold_ && !native_;
  string_view lifecycle = t_.proxy_lifecycle;
  if (lifecycle.empty() && hold) lifecycle = t_.hold_lifecycle;
  if (lifecycle.empty() && native_) lifecycle = t_.native_lifecycle;
  if (!lifecycle.empty()) {
    w_.literal_key("lifecycle");
    w_.raw_value(lifecycle);
  }
  if (native_) {
    w_.literal_key("restartPolicy");
    w_.string("Always");
  }
  w_.end_object();
}

void Builder::write_init_containers() {
  if (t_.init_containers.empty() && !native_) return;
  auto named = [&](string_view name) -> const TemplateContainer* {
    for (const TemplateContainer& c : t_.init_containers) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  auto is_special = [](string_view n) {
    return n == kInitName || n == kValidationName || n == kCoreDumpName;
  };
  const TemplateContainer* init = named(kInitName);
  const TemplateContainer* validation = named(kValidationName);
  const TemplateContainer* core_dump = named(kCoreDumpName);

  // reorderPod's result is always: [front] ++ the pod's own init containers ++ [back].
  //  native:  front = istio-init, istio-validation, istio-proxy, enable-core-dump
  //           back  = other template init containers
  //  classic: front = istio-validation
  //           back  = other template init containers, istio-init, enable-core-dump
  // `emit(container or nullptr for istio-proxy, at_front)`.
  auto for_each_item = [&](auto&& emit) {
    if (native_) {
      if (init != nullptr) emit(init, true);
      if (validation != nullptr) emit(validation, true);
      emit(nullptr, true);
      if (core_dump != nullptr) emit(core_dump, true);
    } else if (validation != nullptr) {
      emit(validation, true);
    }
    for (const TemplateContainer& c : t_.init_containers) {
      if (!is_special(c.name)) emit(&c, false);
    }
    if (!native_) {
      if (init != nullptr) emit(init, false);
      if (core_dump != nullptr) emit(core_dump, false);
    }
  };
  auto write_item = [&](const TemplateContainer* c) {
    if (c == nullptr) {
      write_proxy();
    } else if (c->name == kInitName || c->name == kValidationName) {
      // Istio renders these with the proxy's image and resources, pod overrides included.
      w_.begin_object();
      w_.raw_members(c->members);
      write_image_and_resources(c->image, c->resources);
      w_.end_object();
    } else {
      w_.raw_value(c->json);
    }
  };

  if (init_absent_) {
    w_.begin_op("add", {"spec", "initContainers"});
    w_.literal_key("value");
    w_.begin_array();
    for_each_item([&](const TemplateContainer* c, bool) { write_item(c); });
    w_.end_array();
    w_.end_object();
    return;
  }
  std::size_t index = 0;
  for_each_item([&](const TemplateContainer* c, bool at_front) {
    if (at_front) {
      w_.begin_op("add", {"spec", "initContainers", index++});
    } else {
      w_.begin_op("add", {"spec", "initContainers", PointerToken::append_end()});
    }
    w_.literal_key("value");
    write_item(c);
    w_.end_object();
  });
}

void Builder::write_containers() {
  if (native_) return;
  if (containers_absent_) {
    w_.begin_op("add", {"spec", "containers"});
    w_.literal_key("value");
    w_.begin_array();
    write_proxy();
    w_.end_array();
    w_.end_object();
    return;
  }
  // istio-proxy last, so kubectl exec/logs default to the app; first when the app must wait for it.
  if (hold_) {
    w_.begin_op("add", {"spec", "containers", std::size_t{0}});
  } else {
    w_.begin_op("add", {"spec", "containers", PointerToken::append_end()});
  }
  w_.literal_key("value");
  write_proxy();
  w_.end_object();
}

void Builder::write_named_list(string_view field, const std::vector<NamedJson>& items,
                               bool absent) {
  if (items.empty()) return;
  if (absent) {
    w_.begin_op("add", {"spec", field});
    w_.literal_key("value");
    w_.begin_array();
    for (const NamedJson& v : items) w_.raw_value(v.json);
    w_.end_array();
    w_.end_object();
    return;
  }
  for (const NamedJson& v : items) {
    w_.begin_op("add", {"spec", field, PointerToken::append_end()});
    w_.literal_key("value");
    w_.raw_value(v.json);
    w_.end_object();
  }
}

Status Builder::build() {
  // Re-invocation (reinvocationPolicy: IfNeeded, or a pod injected before): nothing to add.
  if (in_.pod.annotations.contains(kStatusAnnotation)) {
    w_.begin_array();
    w_.end_array();
    return Ok{};
  }
  if (auto st = read_pod(); !st) return st;
  if (auto st = decide_settings(); !st) return st;
  if (auto st = read_proxy_config(); !st) return st;
  collect_overrides();
  collect_path_env();
  build_status();
  collect_labels();
  collect_annotations();
  build_pod_ports();
  if (rewrite_probes_) collect_probers();

  w_.begin_array();
  write_metadata();
  if (spec_ == nullptr) {
    w_.begin_op("add", {"spec"});
    w_.literal_key("value");
    w_.raw_value("{}");
    w_.end_object();
  }
  if (rewrite_probes_) {
    if (auto st = write_probe_rewrites(s_.init, "initContainers"); !st) return st;
    if (auto st = write_probe_rewrites(s_.containers, "containers"); !st) return st;
  }
  write_init_containers();
  write_containers();
  write_named_list("volumes", t_.volumes, volumes_absent_);
  write_named_list("imagePullSecrets", t_.image_pull_secrets, secrets_absent_);
  w_.end_array();
  return Ok{};
}

}  // namespace

Status build_injection_patch(const PatchInput& input, std::string& out) {
  if (input.revision.sidecar == nullptr) {
    return make_error("config", "revision \"" + input.revision.name +
                                    "\" is local but has no sidecar template loaded");
  }
  if (input.pod.object == nullptr || !input.pod.object->IsObject()) {
    return make_error("bad_field", "request.object: expected an object");
  }
  thread_local Scratch scratch;
  scratch.clear();
  out.clear();
  Status st = Builder(input, *input.revision.sidecar, scratch, out).build();  // `out` trimmed
  if (!st) out.clear();
  return st;
}

}  // namespace revrouter
