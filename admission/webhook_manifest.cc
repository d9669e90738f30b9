// Generates revrouter's MutatingWebhookConfiguration. The webhooks mirror the selectors of Istio's
// injector webhooks (istio-discovery chart: templates/revision-tags*.yaml, mutatingwebhook.yaml);
// the difference is the path, which tells revrouter which namespace labels the webhook matched.
#include "admission/webhook_manifest.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>

namespace revrouter {
namespace {

constexpr std::string_view kRevLabel = "istio.io/rev";
constexpr std::string_view kInjectionLabel = "istio-injection";
constexpr std::string_view kInjectLabel = "sidecar.istio.io/inject";
// Set on every namespace by the API server (Kubernetes >= 1.21).
constexpr std::string_view kNamespaceNameLabel = "kubernetes.io/metadata.name";
// Istio's injector never injects pods in these (IgnoredNamespaces in pkg/kube/inject, and the
// chart's "auto." webhook selects them out the same way). Selecting them out here keeps the control
// plane's own pods from waiting on revrouter, whatever labels those namespaces carry; decide()
// would answer "ignored-namespace" for them anyway.
constexpr std::array<std::string_view, 4> kSystemNamespaces = {
    "kube-system", "kube-public", "kube-node-lease", "local-path-storage"};
// Webhook names end in this; never in Istio's "sidecar-injector.istio.io", whose webhooks istiod's
// caBundle patcher rewrites (pkg/webhooks/webhookpatch.go).
constexpr std::string_view kWebhookDomain = ".revrouter.io";

Error manifest_error(std::string message) { return make_error("manifest", std::move(message)); }

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s).append("\"");
  return out;
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label: what Service names and namespaces must be.
bool is_dns_label(std::string_view v) {
  if (v.empty() || v.size() > 63 || !is_lower_alnum(v.front()) || !is_lower_alnum(v.back())) {
    return false;
  }
  return std::all_of(v.begin(), v.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// RFC 1123 subdomain: what webhook names, configuration names and, in a Service reference, every
// path segment must be (k8s.io/apiserver ValidateWebhookService).
bool is_dns_subdomain(std::string_view v) {
  if (v.empty() || v.size() > 253) return false;
  while (true) {
    const std::size_t dot = v.find('.');
    if (!is_dns_label(v.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    v.remove_prefix(dot + 1);
  }
}

// RFC 3986 unreserved characters: a path segment of a clientConfig.url that needs no escaping.
bool is_unreserved_segment(std::string_view v) {
  if (v.empty()) return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
  });
}

bool is_base64(std::string_view v) {
  if (v.empty() || v.size() % 4 != 0) return false;
  const std::size_t data_end = v.find_first_of('=');
  if (data_end != std::string_view::npos &&
      (v.size() - data_end > 2 || v.find_first_not_of('=', data_end) != std::string_view::npos)) {
    return false;
  }
  return std::all_of(
      v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(data_end, v.size())), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
      });
}

// The DNS label a tag or revision name contributes to a webhook name. Names are label values
// (letters, digits, '-', '_', '.'); one that is not already a lowercase DNS label is lowercased,
// its '_' and '.' become '-', and a hash of the original keeps two such names apart.
std::string webhook_name_label(std::string_view name) {
  if (is_dns_label(name)) return std::string(name);
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(is_lower_alnum(c) ? c : '-');
  }
  std::uint32_t h = 2166136261u;  // FNV-1a, 32 bit
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  char suffix[10];
  std::snprintf(suffix, sizeof suffix, "-%08x", h);
  out.resize(std::min<std::size_t>(out.size(), 63 - 9));
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out + suffix;
}

enum class Op { kIn, kNotIn, kExists, kDoesNotExist };

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kIn:
      return "In";
    case Op::kNotIn:
      return "NotIn";
    case Op::kExists:
      return "Exists";
    case Op::kDoesNotExist:
      return "DoesNotExist";
  }
  return "In";
}

struct Requirement {
  std::string_view key;
  Op op;
  std::vector<std::string> values;
};

struct Webhook {
  std::string name;
  std::string path;
  std::vector<Requirement> namespace_selector;
  std::vector<Requirement> object_selector;
};

Requirement in(std::string_view key, std::vector<std::string> values) {
  return {key, Op::kIn, std::move(values)};
}
Requirement not_in(std::string_view key, std::vector<std::string> values) {
  return {key, Op::kNotIn, std::move(values)};
}
Requirement absent(std::string_view key) { return {key, Op::kDoesNotExist, {}}; }

Requirement not_system_namespace() {
  return not_in(kNamespaceNameLabel,
                std::vector<std::string>(kSystemNamespaces.begin(), kSystemNamespaces.end()));
}

Status check_options(const WebhookManifestOptions& o) {
  if (!is_dns_subdomain(o.name)) {
    return manifest_error("configuration name " + quoted(o.name) +
                          " is not a lowercase RFC 1123 subdomain");
  }
  if (o.name.rfind("istio-", 0) == 0) {
    return manifest_error("configuration name " + quoted(o.name) +
                          " starts with \"istio-\": istioctl and the Istio installer own those "
                          "MutatingWebhookConfigurations; pick another name");
  }
  if (o.url.empty()) {
    if (!is_dns_label(o.service_name)) {
      return manifest_error("service name " + quoted(o.service_name) +
                            " is not a lowercase RFC 1123 label");
    }
    if (!is_dns_label(o.service_namespace)) {
      return manifest_error("service namespace " + quoted(o.service_namespace) +
                            " is not a lowercase RFC 1123 label");
    }
    if (o.service_port < 1 || o.service_port > 65535) {
      return manifest_error("service port " + std::to_string(o.service_port) +
                            " is outside 1..65535");
    }
  } else {
    constexpr std::string_view kScheme = "https://";
    const std::string_view u = o.url;
    const std::string_view host = u.substr(std::min(kScheme.size(), u.size()));
    if (u.rfind(kScheme, 0) != 0 || host.empty() || host.front() == '/') {
      return manifest_error("url " + quoted(u) +
                            " must be https://<host>[:<port>][/<path>]; the API server calls "
                            "webhooks over HTTPS only");
    }
    if (u.find_first_of("?#@ %") != std::string_view::npos) {
      return manifest_error("url " + quoted(u) +
                            " must not carry a query, fragment, user information, spaces or "
                            "percent-escapes");
    }
  }
  if (!o.ca_bundle.empty() && !is_base64(o.ca_bundle)) {
    return manifest_error(
        "caBundle is not base64 (give the base64 of the CA PEM on one line, as `revrouter certs` "
        "prints it)");
  }
  if (!o.inject_ca_from.empty()) {
    const std::size_t slash = o.inject_ca_from.find('/');
    if (slash == std::string::npos ||
        !is_dns_label(std::string_view(o.inject_ca_from).substr(0, slash)) ||
        !is_dns_subdomain(std::string_view(o.inject_ca_from).substr(slash + 1))) {
      return manifest_error("inject-ca-from " + quoted(o.inject_ca_from) +
                            " must be <namespace>/<certificate name>");
    }
  }
  if (o.timeout_seconds < 1 || o.timeout_seconds > 30) {
    return manifest_error("timeoutSeconds " + std::to_string(o.timeout_seconds) +
                          " is outside 1..30 (the API server's limits)");
  }
  return Ok{};
}

// A path segment value: in a Service reference Kubernetes wants an RFC 1123 subdomain; in a URL
// anything that needs no escaping (revrouter's path parser takes no percent-escapes).
Status check_segment(const WebhookManifestOptions& o, std::string_view what,
                     std::string_view value) {
  if (o.url.empty() ? is_dns_subdomain(value) : is_unreserved_segment(value)) return Ok{};
  std::string msg = std::string(what) + " " + quoted(value) + " cannot be a webhook path segment: ";
  msg += o.url.empty()
             ? "Kubernetes requires each segment of a Service reference's path to be a lowercase "
               "RFC 1123 subdomain (letters, digits, '-', '.'); rename it, or call revrouter by "
               "URL (--url), whose path has no such rule"
             : "use letters, digits, '-', '.', '_' and '~' only";
  return manifest_error(std::move(msg));
}

// The tag and revision names to route, tags first, each once.
Result<std::vector<std::string>> selected_names(const RoutingTable& table,
                                                const WebhookManifestOptions& o) {
  for (const std::string& name : o.only) {
    if (table.find_tag(name) == nullptr && table.find_revision(name) == nullptr) {
      return manifest_error(
          "--only " + quoted(name) + " is neither a tag nor a revision of " +
          (table.source.empty() ? std::string("the routing table") : table.source));
    }
  }
  auto wanted = [&](const std::string& name) {
    return o.only.empty() || std::find(o.only.begin(), o.only.end(), name) != o.only.end();
  };
  std::vector<std::string> names;
  for (const Tag& t : table.tags) {
    if (wanted(t.name)) names.push_back(t.name);
  }
  for (const Revision& r : table.revisions) {
    if (wanted(r.name) && std::find(names.begin(), names.end(), r.name) == names.end()) {
      names.push_back(r.name);
    }
  }
  return names;
}

std::string path_for(const WebhookManifestOptions& o, std::string_view key,
                     std::string_view value) {
  std::string path = "/inject";
  if (!key.empty()) path.append("/").append(key).append("/").append(value);
  if (!o.cluster.empty()) path.append("/cluster/").append(o.cluster);
  if (!o.network.empty()) path.append("/net/").append(o.network);
  return path;
}

// The webhooks, in the order Istio's charts list them. Within one precedence mode they are
// mutually exclusive: every pod matches at most one.
Result<std::vector<Webhook>> plan_webhooks(const RoutingTable& table,
                                           const WebhookManifestOptions& o) {
  auto names = selected_names(table, o);
  if (!names) return names.error();
  for (const std::string& name : *names) {
    if (Status s = check_segment(o, table.find_tag(name) ? "tag" : "revision", name); !s) {
      return s.error();
    }
  }
  if (!o.cluster.empty()) {
    if (Status s = check_segment(o, "cluster", o.cluster); !s) return s.error();
  }
  if (!o.network.empty()) {
    if (Status s = check_segment(o, "network", o.network); !s) return s.error();
  }

  const bool pod_override = table.mode == PrecedenceMode::kPodOverride;
  std::vector<Webhook> hooks;

  // rev.namespace: the namespace names a tag or revision. One webhook per name, since the path
  // carries the value. In pod-override mode a pod with its own istio.io/rev goes to rev.object.
  for (const std::string& name : *names) {
    Webhook w;
    w.name = "rev.namespace." + webhook_name_label(name) + std::string(kWebhookDomain);
    w.path = path_for(o, "ns-rev", name);
    w.namespace_selector = {in(kRevLabel, {name}), absent(kInjectionLabel), not_system_namespace()};
    w.object_selector = {not_in(kInjectLabel, {"false"})};
    if (pod_override) w.object_selector.push_back(absent(kRevLabel));
    hooks.push_back(std::move(w));
  }

  // rev.object: the pod names a tag or revision. One webhook for every name: the path is the same
  // for all (revrouter reads the value from the pod), so the union of Istio's per-tag webhooks is
  // one In over all names. In Istio's mode only namespaces without either label qualify; in
  // pod-override mode every namespace but an opted-out one does, and the path then says nothing
  // about the namespace, which route() does not need when the pod names its revision.
  if (!names->empty()) {
    Webhook w;
    w.name = "rev.object" + std::string(kWebhookDomain);
    w.path = path_for(o, "", "");
    if (pod_override) {
      w.namespace_selector = {not_in(kInjectionLabel, {"disabled"}), not_system_namespace()};
    } else {
      w.namespace_selector = {absent(kRevLabel), absent(kInjectionLabel), not_system_namespace()};
    }
    w.object_selector = {not_in(kInjectLabel, {"false"}), in(kRevLabel, *names)};
    hooks.push_back(std::move(w));
  }

  // The default tag's webhooks (Istio emits them on the "default" tag's configuration):
  // istio-injection=enabled, and a pod labelled sidecar.istio.io/inject=true in a namespace with
  // neither label.
  const bool has_default = table.find_tag(table.default_tag) != nullptr ||
                           table.find_revision(table.default_tag) != nullptr;
  const bool default_wanted =
      o.only.empty() || std::find(o.only.begin(), o.only.end(), table.default_tag) != o.only.end();
  if (has_default && default_wanted) {
    Webhook ns;
    ns.name = "namespace" + std::string(kWebhookDomain);
    ns.path = path_for(o, "ns-injection", "enabled");
    ns.namespace_selector = {in(kInjectionLabel, {"enabled"}), not_system_namespace()};
    ns.object_selector = {not_in(kInjectLabel, {"false"})};
    if (pod_override) ns.object_selector.push_back(absent(kRevLabel));
    hooks.push_back(std::move(ns));

    Webhook obj;
    obj.name = "object" + std::string(kWebhookDomain);
    obj.path = path_for(o, "", "");
    obj.namespace_selector = {absent(kInjectionLabel), absent(kRevLabel), not_system_namespace()};
    obj.object_selector = {in(kInjectLabel, {"true"}), absent(kRevLabel)};
    hooks.push_back(std::move(obj));
  }

  if (hooks.empty()) {
    return manifest_error(
        "nothing to route: the routing table (with --only, if given) selects no tag or revision");
  }
  return hooks;
}

// Values that YAML could read as something else ("false", "1.24", "null") stay strings.
YAML::Emitter& str(YAML::Emitter& out, std::string_view s) {
  return out << YAML::DoubleQuoted << std::string(s);
}

void emit_selector(YAML::Emitter& out, const std::vector<Requirement>& reqs) {
  out << YAML::BeginMap << YAML::Key << "matchExpressions" << YAML::Value << YAML::BeginSeq;
  for (const Requirement& r : reqs) {
    out << YAML::BeginMap;
    out << YAML::Key << "key" << YAML::Value << std::string(r.key);
    out << YAML::Key << "operator" << YAML::Value << std::string(op_name(r.op));
    if (!r.values.empty()) {
      out << YAML::Key << "values" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const std::string& v : r.values) str(out, v);
      out << YAML::EndSeq;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
}

void emit_webhook(YAML::Emitter& out, const Webhook& w, const WebhookManifestOptions& o) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << w.name;
  out << YAML::Key << "clientConfig" << YAML::Value << YAML::BeginMap;
  if (o.url.empty()) {
    out << YAML::Key << "service" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << o.service_name;
    out << YAML::Key << "namespace" << YAML::Value << o.service_namespace;
    out << YAML::Key << "path" << YAML::Value;
    str(out, w.path);
    out << YAML::Key << "port" << YAML::Value << o.service_port;
    out << YAML::EndMap;
  } else {
    std::string base = o.url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    out << YAML::Key << "url" << YAML::Value;
    str(out, base + w.path);
  }
  if (!o.ca_bundle.empty()) out << YAML::Key << "caBundle" << YAML::Value << o.ca_bundle;
  out << YAML::EndMap;

  out << YAML::Key << "rules" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "operations" << YAML::Value << YAML::Flow << YAML::BeginSeq << "CREATE"
      << YAML::EndSeq;
  out << YAML::Key << "apiGroups" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  str(out, "");
  out << YAML::EndSeq;
  out << YAML::Key << "apiVersions" << YAML::Value << YAML::Flow << YAML::BeginSeq << "v1"
      << YAML::EndSeq;
  out << YAML::Key << "resources" << YAML::Value << YAML::Flow << YAML::BeginSeq << "pods"
      << YAML::EndSeq;
  out << YAML::EndMap << YAML::EndSeq;

  out << YAML::Key << "failurePolicy" << YAML::Value
      << (o.failure_policy == FailurePolicy::kFail ? "Fail" : "Ignore");
  out << YAML::Key << "sideEffects" << YAML::Value << "None";
  out << YAML::Key << "admissionReviewVersions" << YAML::Value << YAML::Flow << YAML::BeginSeq
      << "v1"
      << "v1beta1" << YAML::EndSeq;
  out << YAML::Key << "timeoutSeconds" << YAML::Value << o.timeout_seconds;
  out << YAML::Key << "reinvocationPolicy" << YAML::Value
      << (o.reinvocation == ReinvocationPolicy::kNever ? "Never" : "IfNeeded");
  out << YAML::Key << "namespaceSelector" << YAML::Value;
  emit_selector(out, w.namespace_selector);
  out << YAML::Key << "objectSelector" << YAML::Value;
  emit_selector(out, w.object_selector);
  out << YAML::EndMap;
}

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::string> generate_webhook_manifest(const RoutingTable& table,
                                              const WebhookManifestOptions& options) {
  if (Status s = check_options(options); !s) return s.error();
  auto hooks = plan_webhooks(table, options);
  if (!hooks) return hooks.error();

  const bool pod_override = table.mode == PrecedenceMode::kPodOverride;
  YAML::Emitter out;
  out.SetIndent(2);
  std::string header = "Generated by `revrouter manifests`";
  if (!table.source.empty()) header.append(" from ").append(base_name(table.source));
  header.append(". Regenerate it when a tag or revision");
  out << YAML::Comment(header) << YAML::Newline
      << YAML::Comment("is added or removed, or the precedence mode changes (docs/migration.md).")
      << YAML::Newline;

  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "admissionregistration.k8s.io/v1";
  out << YAML::Key << "kind" << YAML::Value << "MutatingWebhookConfiguration";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << options.name;
  // Never istio.io/rev or istio.io/tag: istiod patches the caBundle of configurations labelled with
  // its revision, and reads tags from configurations labelled istio.io/tag.
  out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "app.kubernetes.io/name" << YAML::Value << "revrouter";
  out << YAML::Key << "app.kubernetes.io/component" << YAML::Value << "injector-webhook";
  out << YAML::Key << "app.kubernetes.io/managed-by" << YAML::Value << "revrouter";
  out << YAML::EndMap;
  out << YAML::Key << "annotations" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "revrouter.io/precedence-mode" << YAML::Value
      << (pod_override ? "pod-override" : "istio");
  if (!options.inject_ca_from.empty()) {
    out << YAML::Key << "cert-manager.io/inject-ca-from" << YAML::Value << options.inject_ca_from;
  }
  out << YAML::EndMap;
  out << YAML::EndMap;

  out << YAML::Key << "webhooks" << YAML::Value << YAML::BeginSeq;
  for (const Webhook& w : *hooks) emit_webhook(out, w, options);
  out << YAML::EndSeq;
  out << YAML::EndMap;

  if (!out.good()) {
    return manifest_error("emitting YAML failed: " + out.GetLastError());  // a bug, not input
  }
  std::string text = out.c_str();
  text.push_back('\n');
  return text;
}

}  // namespace revrouter
