// Loads a sidecar template (schema: docs/sidecar-template.md) from YAML into pre-serialised JSON.
// Runs at start-up and on reload, never per request: clarity over speed here.
#include "admission/sidecar_template.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "admission/json_out.h"
#include "admission/json_patch_writer.h"

namespace revrouter {
namespace {

using YAML::Node;

constexpr std::string_view kProxyName = "istio-proxy";

struct ComputedKind {
  std::string_view key;       // the `computed:` value in the template
  std::string_view env_name;  // the env var Istio gives it
  ComputedEnv kind;
};
constexpr std::array<ComputedKind, 4> kComputed = {{
    {"podPorts", "ISTIO_META_POD_PORTS", ComputedEnv::kPodPorts},
    {"appContainers", "ISTIO_META_APP_CONTAINERS", ComputedEnv::kAppContainers},
    {"workloadName", "ISTIO_META_WORKLOAD_NAME", ComputedEnv::kWorkloadName},
    {"owner", "ISTIO_META_OWNER", ComputedEnv::kOwner},
}};

int line_of(const Node& n) { return n.Mark().line < 0 ? 1 : n.Mark().line + 1; }

class Loader {
 public:
  explicit Loader(std::string_view file) : file_(file) {}

  Error error(int line, std::string_view what) const {
    std::string msg(file_);
    msg.append(":").append(std::to_string(line)).append(": ").append(what);
    return make_error("config", std::move(msg));
  }
  Error error(const Node& n, std::string_view what) const { return error(line_of(n), what); }

  // YAML -> compact JSON. Plain scalars are typed by YAML 1.2's core schema (null, bool, int,
  // float, else string); quoted scalars are strings. With `as_string`, every scalar is a string:
  // used for Kubernetes fields that only take strings (args, command, env values), so that
  // `- 15001` means "15001" rather than a number the API server would reject.
  Status to_json(const Node& n, JsonWriter& w, std::string_view where, bool as_string = false,
                 int depth = 0) const {
    if (depth > 32) return error(n, std::string(where) + ": nested too deep");
    switch (n.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        w.null();
        return Ok{};
      case YAML::NodeType::Scalar:
        return scalar(n, w, where, as_string);
      case YAML::NodeType::Sequence: {
        w.begin_array();
        for (const Node& e : n) {
          if (auto s = to_json(e, w, where, as_string, depth + 1); !s) return s;
        }
        w.end_array();
        return Ok{};
      }
      case YAML::NodeType::Map: {
        if (auto s = check_keys(n, where); !s) return s;
        w.begin_object();
        for (const auto& kv : n) {
          const std::string key = kv.first.Scalar();
          w.key(key);
          const bool strings = key == "args" || key == "command";
          const std::string sub = std::string(where) + "." + key;
          if (auto s = to_json(kv.second, w, sub, strings, depth + 1); !s) return s;
        }
        w.end_object();
        return Ok{};
      }
    }
    return Ok{};
  }

  // Map keys must be scalars and unique (yaml-cpp keeps duplicates; JSON objects must not).
  Status check_keys(const Node& map, std::string_view where) const {
    std::vector<std::string> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        return error(kv.first, std::string(where) + ": a key is not a string");
      }
      const std::string& k = kv.first.Scalar();
      for (const std::string& s : seen) {
        if (s == k) return error(kv.first, std::string(where) + ": duplicate key \"" + k + "\"");
      }
      seen.push_back(k);
    }
    return Ok{};
  }

  Result<bool> boolean(const Node& n, std::string_view where) const {
    if (n.IsScalar() && n.Tag() != "!") {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    return error(n, std::string(where) + ": expected true or false");
  }

  Result<std::string> string(const Node& n, std::string_view where) const {
    if (n.IsNull()) return std::string();
    if (!n.IsScalar()) return error(n, std::string(where) + ": expected a string");
    return n.Scalar();
  }

  Result<int> port(const Node& n, std::string_view where) const {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      int v = 0;
      const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (r.ec == std::errc() && r.ptr == s.data() + s.size() && v >= 1 && v <= 65535) return v;
    }
    return error(n, std::string(where) + ": expected a port number (1-65535)");
  }

 private:
  Status scalar(const Node& n, JsonWriter& w, std::string_view where, bool as_string) const {
    const std::string& s = n.Scalar();
    const std::string& tag = n.Tag();
    if (as_string || tag == "!" || tag == "tag:yaml.org,2002:str") {
      w.string(s);
      return Ok{};
    }
    if (tag != "?") return error(n, std::string(where) + ": unsupported tag " + tag);
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
      w.null();
    } else if (s == "true" || s == "True" || s == "TRUE") {
      w.boolean(true);
    } else if (s == "false" || s == "False" || s == "FALSE") {
      w.boolean(false);
    } else if (std::optional<std::int64_t> i = integer(s)) {
      w.integer(*i);
    } else if (is_float(s)) {
      double d = 0;
      const auto r = std::from_chars(s.data() + (s[0] == '+'), s.data() + s.size(), d);
      if (r.ec != std::errc()) return error(n, std::string(where) + ": number out of range: " + s);
      char buf[32];
      const auto t = std::to_chars(buf, buf + sizeof buf, d);
      w.raw_value(std::string_view(buf, static_cast<std::size_t>(t.ptr - buf)));
    } else if (s == ".inf" || s == "-.inf" || s == "+.inf" || s == ".nan" || s == ".NaN") {
      return error(n, std::string(where) + ": " + s + " has no JSON form");
    } else {
      w.string(s);
    }
    return Ok{};
  }

  static std::optional<std::int64_t> integer(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
      neg = s[0] == '-';
      s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
      if (neg) return std::nullopt;  // the core schema has no signed hex/octal
      base = s[1] == 'x' ? 16 : 8;
      s.remove_prefix(2);
    }
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    const auto i = static_cast<std::int64_t>(v);
    return neg ? -i : i;
  }

  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  static bool is_float(std::string_view s) {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
    }
    if (digits == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
      std::size_t exp = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
      if (exp == 0) return false;
    }
    return i == s.size();
  }

  std::string_view file_;
};

// Image and resources of a container apart from its other members (see TemplateContainer).
Status split_container(const Loader& l, const Node& item, std::string_view at,
                       TemplateContainer& c) {
  JsonWriter w(c.members);
  w.begin_object();
  for (const auto& kv : item) {
    const std::string& k = kv.first.Scalar();
    const std::string sub = std::string(at) + "." + k;
    if (k == "image") {
      if (!kv.second.IsScalar()) return l.error(kv.second, sub + ": expected a string");
      c.image = kv.second.Scalar();
      continue;
    }
    if (k == "resources") {
      if (!kv.second.IsMap()) return l.error(kv.second, sub + ": expected a map");
      JsonWriter rw(c.resources);
      if (auto s = l.to_json(kv.second, rw, sub); !s) return s;
      continue;
    }
    w.key(k);
    if (auto s = l.to_json(kv.second, w, sub, k == "args" || k == "command"); !s) return s;
  }
  w.end_object();
  w.finish();
  c.members = c.members.substr(1, c.members.size() - 2);
  return Ok{};
}

// A list of named objects (init containers, volumes, image pull secrets).
template <class Named>
Status load_named_list(const Loader& l, const Node& list, std::string_view where,
                       std::vector<Named>& out) {
  if (list.IsNull()) return Ok{};
  if (!list.IsSequence()) return l.error(list, std::string(where) + ": expected a list");
  std::size_t i = 0;
  for (const Node& item : list) {
    const std::string at = std::string(where) + "[" + std::to_string(i++) + "]";
    if (!item.IsMap()) return l.error(item, at + ": expected a map");
    const Node name = item["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return l.error(item, at + ": needs a non-empty name");
    }
    for (const Named& e : out) {
      if (e.name == name.Scalar()) {
        return l.error(name, at + ": the name \"" + name.Scalar() + "\" is used twice");
      }
    }
    Named e;
    e.name = name.Scalar();
    {
      JsonWriter w(e.json);  // done with e.json (trimmed) when it ends
      if (auto s = l.to_json(item, w, at); !s) return s;
    }
    if constexpr (std::is_same_v<Named, TemplateContainer>) {
      if (auto s = split_container(l, item, at, e); !s) return s;
    }
    out.push_back(std::move(e));
  }
  return Ok{};
}

Status load_string_map(const Loader& l, const Node& map, std::string_view where,
                       std::vector<std::pair<std::string, std::string>>& out) {
  if (map.IsNull()) return Ok{};
  if (!map.IsMap()) return l.error(map, std::string(where) + ": expected a map of strings");
  if (auto s = l.check_keys(map, where); !s) return s;
  for (const auto& kv : map) {
    if (!kv.second.IsScalar() && !kv.second.IsNull()) {
      return l.error(kv.second,
                     std::string(where) + "." + kv.first.Scalar() + ": expected a string");
    }
    out.emplace_back(kv.first.Scalar(), kv.second.IsNull() ? "" : kv.second.Scalar());
  }
  return Ok{};
}

Status load_settings(const Loader& l, const Node& settings, SidecarTemplate& t) {
  if (!settings || settings.IsNull()) return Ok{};
  if (!settings.IsMap()) return l.error(settings, "settings: expected a map");
  if (auto s = l.check_keys(settings, "settings"); !s) return s;
  for (const auto& kv : settings) {
    const std::string& k = kv.first.Scalar();
    const std::string at = "settings." + k;
    auto flag = [&](bool& slot) -> Status {
      auto b = l.boolean(kv.second, at);
      if (!b) return b.error();
      slot = *b;
      return Ok{};
    };
    auto text = [&](std::string& slot) -> Status {
      auto v = l.string(kv.second, at);
      if (!v) return v.error();
      slot = std::move(*v);
      return Ok{};
    };
    Status s = Ok{};
    if (k == "nativeSidecar") {
      s = flag(t.native_sidecar);
    } else if (k == "holdApplicationUntilProxyStarts") {
      s = flag(t.hold_application_until_proxy_starts);
    } else if (k == "rewriteAppHTTPProbers") {
      s = flag(t.rewrite_app_probers);
    } else if (k == "enablePrometheusMerge") {
      s = flag(t.prometheus_merge);
    } else if (k == "statusPort") {
      auto p = l.port(kv.second, at);
      if (!p) return p.error();
      t.status_port = *p;
    } else if (k == "clusterName") {
      s = text(t.cluster_name);
    } else if (k == "network") {
      s = text(t.network);
    } else {
      return l.error(kv.first,
                     "settings: unknown key \"" + k +
                         "\" (known: nativeSidecar, holdApplicationUntilProxyStarts, "
                         "rewriteAppHTTPProbers, enablePrometheusMerge, statusPort, clusterName, "
                         "network)");
    }
    if (!s) return s;
  }
  return Ok{};
}

Status load_proxy_env(const Loader& l, const Node& env, SidecarTemplate& t) {
  if (!env.IsNull() && !env.IsSequence()) return l.error(env, "proxy.env: expected a list");
  std::size_t i = 0;
  for (const Node& item : env) {
    const std::string at = "proxy.env[" + std::to_string(i++) + "]";
    if (!item.IsMap()) return l.error(item, at + ": expected a map");
    if (auto s = l.check_keys(item, at); !s) return s;
    const Node name = item["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return l.error(item, at + ": needs a non-empty name");
    }
    TemplateEnv e;
    e.name = name.Scalar();
    for (const TemplateEnv& prev : t.proxy_env) {
      if (prev.name == e.name) return l.error(name, at + ": " + e.name + " is listed twice");
    }
    const ComputedKind* by_name = nullptr;
    for (const ComputedKind& c : kComputed) {
      if (c.env_name == e.name) by_name = &c;
    }
    if (const Node computed = item["computed"]) {
      const ComputedKind* kind = nullptr;
      for (const ComputedKind& c : kComputed) {
        if (computed.IsScalar() && c.key == computed.Scalar()) kind = &c;
      }
      if (kind == nullptr) {
        return l.error(computed, at + ".computed: expected podPorts, appContainers, workloadName "
                                      "or owner");
      }
      if (kind != by_name) {
        return l.error(name, at + ": computed " + std::string(kind->key) + " is named " +
                                 std::string(kind->env_name) + ", not " + e.name);
      }
      if (item.size() != 2) {
        return l.error(item, at + ": a computed entry has only name and computed");
      }
      e.computed = kind->kind;
    } else {
      if (by_name != nullptr) {
        return l.error(name, at + ": " + e.name + " is computed from the pod; write `computed: " +
                                 std::string(by_name->key) + "` instead of a value");
      }
      JsonWriter w(e.json);
      w.begin_object();
      for (const auto& kv : item) {
        const std::string& k = kv.first.Scalar();
        w.key(k);
        if (auto s = l.to_json(kv.second, w, at + "." + k, k == "value"); !s) return s;
      }
      w.end_object();
    }
    t.proxy_env.push_back(std::move(e));
  }
  // Every computed value is injected; one the template does not place goes at the end.
  for (const ComputedKind& c : kComputed) {
    bool found = false;
    for (const TemplateEnv& e : t.proxy_env) found = found || e.computed == c.kind;
    if (!found) t.proxy_env.push_back(TemplateEnv{std::string(c.env_name), c.kind, {}});
  }
  return Ok{};
}

Status load_proxy(const Loader& l, const Node& proxy, SidecarTemplate& t) {
  if (!proxy) return l.error(1, "no \"proxy\": the template must define the istio-proxy container");
  if (!proxy.IsMap()) return l.error(proxy, "proxy: expected a map (the istio-proxy container)");
  if (auto s = l.check_keys(proxy, "proxy"); !s) return s;
  if (const Node name = proxy["name"]; name && (!name.IsScalar() || name.Scalar() != kProxyName)) {
    return l.error(name, "proxy.name: must be istio-proxy (Istio and its tools find it by name)");
  }
  JsonWriter w(t.proxy_members);
  w.begin_object();
  w.key("name");
  w.string(kProxyName);
  for (const auto& kv : proxy) {
    const std::string& k = kv.first.Scalar();
    const std::string at = "proxy." + k;
    if (k == "name") continue;
    if (k == "env") {
      if (auto s = load_proxy_env(l, kv.second, t); !s) return s;
      continue;
    }
    if (k == "restartPolicy") {
      return l.error(kv.first, "proxy.restartPolicy: set by revrouter from settings.nativeSidecar");
    }
    if (k == "lifecycle") {
      JsonWriter lw(t.proxy_lifecycle);
      if (auto s = l.to_json(kv.second, lw, at); !s) return s;
      continue;
    }
    if (k == "image") {
      if (!kv.second.IsScalar()) return l.error(kv.second, at + ": expected a string");
      t.proxy_image = kv.second.Scalar();
      continue;
    }
    if (k == "resources") {
      if (!kv.second.IsMap()) return l.error(kv.second, at + ": expected a map");
      JsonWriter rw(t.proxy_resources);
      if (auto s = l.to_json(kv.second, rw, at); !s) return s;
      continue;
    }
    w.key(k);
    if (auto s = l.to_json(kv.second, w, at, k == "args" || k == "command"); !s) return s;
  }
  if (!proxy["env"]) {
    if (auto s = load_proxy_env(l, Node(YAML::NodeType::Null), t); !s) return s;
  }
  w.end_object();
  w.finish();
  // Keep the members only: the builder opens and closes the object around them.
  t.proxy_members = t.proxy_members.substr(1, t.proxy_members.size() - 2);

  const std::string port = std::to_string(t.status_port);
  t.hold_lifecycle = R"({"postStart":{"exec":{"command":["pilot-agent","wait"]}}})";
  t.native_lifecycle = R"({"preStop":{"exec":{"command":["pilot-agent","request","--debug-port=)" +
                       port + R"(","POST","drain"]}}})";
  return Ok{};
}

// SidecarTemplate::status_head: Istio lists the names in the order its template renders them; a
// native sidecar is an init container (listed last there) and no container; an empty list is null.
void write_status_heads(SidecarTemplate& t) {
  for (const bool native : {false, true}) {
    std::string& j = t.status_head[native];
    j.assign("{\"initContainers\":");
    auto list = [&](auto&& each, bool empty) {
      if (empty) {
        j.append("null");
        return;
      }
      j.push_back('[');
      bool first = true;
      each([&](std::string_view name) {
        if (!first) j.push_back(',');
        first = false;
        append_go_json_string(j, name);
      });
      j.push_back(']');
    };
    list(
        [&](auto&& emit) {
          for (const TemplateContainer& c : t.init_containers) emit(c.name);
          if (native) emit("istio-proxy");
        },
        t.init_containers.empty() && !native);
    j.append(",\"containers\":");
    list([&](auto&& emit) { emit("istio-proxy"); }, native);
    j.append(",\"volumes\":");
    list(
        [&](auto&& emit) {
          for (const NamedJson& v : t.volumes) emit(v.name);
        },
        t.volumes.empty());
    j.append(",\"imagePullSecrets\":");
    list(
        [&](auto&& emit) {
          for (const NamedJson& v : t.image_pull_secrets) emit(v.name);
        },
        t.image_pull_secrets.empty());
    j.append(",\"revision\":");
    t.status_head_escaped[native].clear();
    append_json_escaped(t.status_head_escaped[native], j);
  }
}

}  // namespace

Result<std::shared_ptr<const SidecarTemplate>> load_sidecar_template(std::string_view yaml_text,
                                                                     std::string_view file_name) {
  const Loader l(file_name);
  Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return l.error(e.mark.line < 0 ? 1 : e.mark.line + 1, "bad YAML: " + e.msg);
  }
  if (!root.IsMap()) {
    return l.error(
        root,
        "expected a map (settings, metadata, initContainers, proxy, volumes, imagePullSecrets)");
  }
  if (auto s = l.check_keys(root, "template"); !s) return s.error();

  auto t = std::make_shared<SidecarTemplate>();
  t->file_name = std::string(file_name);
  const Node& croot = root;  // const lookups: a missing key reads as undefined, never inserted
  try {
    // Settings first: the proxy's generated lifecycle hooks use the status port.
    if (auto s = load_settings(l, croot["settings"], *t); !s) return s.error();
    for (const auto& kv : croot) {
      const std::string& k = kv.first.Scalar();
      const Node& v = kv.second;
      Status s = Ok{};
      if (k == "settings" || k == "proxy") {
        continue;
      } else if (k == "metadata") {
        if (!v.IsMap() && !v.IsNull()) {
          return l.error(v, "metadata: expected a map (labels, annotations)");
        }
        if (v.IsMap()) {
          if (auto c = l.check_keys(v, "metadata"); !c) return c.error();
          for (const auto& m : v) {
            const std::string& mk = m.first.Scalar();
            if (mk == "labels") {
              s = load_string_map(l, m.second, "metadata.labels", t->labels);
            } else if (mk == "annotations") {
              s = load_string_map(l, m.second, "metadata.annotations", t->annotations);
            } else {
              return l.error(m.first,
                             "metadata: unknown key \"" + mk + "\" (known: labels, annotations)");
            }
            if (!s) return s.error();
          }
        }
      } else if (k == "initContainers") {
        s = load_named_list(l, v, "initContainers", t->init_containers);
        for (const TemplateContainer& c : t->init_containers) {
          if (s && c.name == kProxyName) {
            s = l.error(
                v, "initContainers: istio-proxy is the proxy; set settings.nativeSidecar instead");
          }
        }
      } else if (k == "volumes") {
        s = load_named_list(l, v, "volumes", t->volumes);
      } else if (k == "imagePullSecrets") {
        s = load_named_list(l, v, "imagePullSecrets", t->image_pull_secrets);
      } else {
        return l.error(kv.first, "unknown key \"" + k +
                                     "\" (known: settings, metadata, initContainers, proxy, "
                                     "volumes, imagePullSecrets)");
      }
      if (!s) return s.error();
    }
    if (auto s = load_proxy(l, croot["proxy"], *t); !s) return s.error();
  } catch (const YAML::Exception& e) {
    return l.error(e.mark.line < 0 ? 1 : e.mark.line + 1, "bad template: " + e.msg);
  }
  write_status_heads(*t);
  return std::shared_ptr<const SidecarTemplate>(std::move(t));
}

}  // namespace revrouter
