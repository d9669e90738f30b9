// `revrouter manifests`: prints the MutatingWebhookConfiguration that sends pods to revrouter, with
// Istio's injector selectors for every tag and revision of a routing table. A thin main over
// admission/webhook_manifest.h.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "admission/routing_config.h"
#include "admission/webhook_manifest.h"
#include "certs/file_io.h"
#include "certs/pem.h"
#include "tools/commands.h"

namespace revrouter::tools {
namespace {

constexpr int kExitFailure = 1;  // the config does not load, or a file cannot be read or written
constexpr int kExitUsage = 2;    // the arguments are wrong

struct ManifestsArgs {
  std::string config;
  std::string ca_file;
  std::string failure_policy = "Fail";
  std::string reinvocation_policy = "Never";
  std::string out;
  WebhookManifestOptions options;
};

int run(ManifestsArgs& args) {
  WebhookManifestOptions& o = args.options;
  o.failure_policy =
      args.failure_policy == "Ignore" ? FailurePolicy::kIgnore : FailurePolicy::kFail;
  o.reinvocation = args.reinvocation_policy == "IfNeeded" ? ReinvocationPolicy::kIfNeeded
                                                          : ReinvocationPolicy::kNever;

  if (!args.ca_file.empty()) {
    auto pem = certs::read_file(args.ca_file);
    if (!pem) {
      std::fprintf(stderr, "revrouter manifests: --ca-file: %s\n", pem.error().message.c_str());
      return kExitFailure;
    }
    auto bundle = certs::ca_bundle_from_pem(*pem);
    if (!bundle) {
      std::fprintf(stderr, "revrouter manifests: --ca-file %s: %s\n", args.ca_file.c_str(),
                   bundle.error().message.c_str());
      return kExitFailure;
    }
    o.ca_bundle = std::move(*bundle);
  }

  auto table = load_routing_table_file(args.config);
  if (!table) {
    std::fprintf(stderr, "revrouter manifests: %s\n", table.error().message.c_str());
    return kExitFailure;
  }
  auto yaml = generate_webhook_manifest(*table, o);
  if (!yaml) {
    std::fprintf(stderr, "revrouter manifests: %s\n", yaml.error().message.c_str());
    return kExitUsage;  // every generation error is about the options or names given
  }
  if (o.ca_bundle.empty() && o.inject_ca_from.empty()) {
    std::fprintf(stderr,
                 "revrouter manifests: warning: no caBundle (--ca-file, --ca-bundle or "
                 "--inject-ca-from): the API server will only trust revrouter's serving "
                 "certificate if a CA it already trusts signed it\n");
  }
  if (args.out.empty()) {
    std::fwrite(yaml->data(), 1, yaml->size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : kExitFailure;
  }
  if (auto st = certs::write_file_atomic(args.out, *yaml, certs::kCertFileMode); !st) {
    std::fprintf(stderr, "revrouter manifests: --out: %s\n", st.error().message.c_str());
    return kExitFailure;
  }
  return 0;
}

}  // namespace

void add_manifests_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ManifestsArgs>();
  WebhookManifestOptions& o = args->options;
  auto* cmd = app.add_subcommand(
      "manifests",
      "Print the MutatingWebhookConfiguration that routes pods to revrouter (Istio's injector "
      "selectors for every tag and revision of the routing table)");
  cmd->add_option("--config", args->config, "Routing table YAML (e.g. config/example.yaml)")
      ->required();
  cmd->add_option("--name", o.name, "MutatingWebhookConfiguration name")->capture_default_str();
  cmd->add_option("--service", o.service_name, "Service name of revrouter")->capture_default_str();
  cmd->add_option("--namespace", o.service_namespace, "Namespace of that Service")
      ->capture_default_str();
  cmd->add_option("--port", o.service_port, "Service port")->capture_default_str();
  cmd->add_option("--url", o.url,
                  "Call revrouter at this https:// base URL instead of through the Service "
                  "(e.g. https://10.0.0.5:15017 for a webhook outside the cluster)");
  auto* ca_file =
      cmd->add_option("--ca-file", args->ca_file,
                      "CA certificate PEM (ca.crt from `revrouter certs`) for caBundle");
  cmd->add_option("--ca-bundle", o.ca_bundle, "caBundle as base64 (what `revrouter certs` prints)")
      ->excludes(ca_file);
  cmd->add_option("--inject-ca-from", o.inject_ca_from,
                  "<namespace>/<certificate>: let cert-manager's CA injector fill caBundle");
  cmd->add_option("--failure-policy", args->failure_policy, "Fail or Ignore")
      ->check(CLI::IsMember({"Fail", "Ignore"}))
      ->capture_default_str();
  cmd->add_option("--timeout-seconds", o.timeout_seconds, "Webhook timeout, 1..30")
      ->check(CLI::Range(1, 30))
      ->capture_default_str();
  cmd->add_option("--reinvocation-policy", args->reinvocation_policy, "Never or IfNeeded")
      ->check(CLI::IsMember({"Never", "IfNeeded"}))
      ->capture_default_str();
  cmd->add_option("--cluster", o.cluster,
                  "Add /cluster/<id> to every path (the proxy's ISTIO_META_CLUSTER_ID)");
  cmd->add_option("--network", o.network,
                  "Add /net/<name> to every path (the proxy's ISTIO_META_NETWORK)");
  cmd->add_option(
         "--only", o.only,
         "Route only these tags/revisions (repeatable or comma-separated); the default "
         "tag brings the istio-injection=enabled and sidecar.istio.io/inject=true webhooks")
      ->delimiter(',');
  cmd->add_option("--out", args->out, "Write to this file instead of stdout");
  cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace revrouter::tools
