// `revrouter certs`: generates the webhook's CA, serving and (optionally) client certificates
// into a directory and prints the caBundle; `revrouter certs ca-bundle` prints the caBundle of an
// existing CA. A thin main over certs/.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "certs/cert_check.h"
#include "certs/cert_set.h"
#include "certs/file_io.h"
#include "certs/key.h"
#include "certs/pem.h"
#include "tools/commands.h"

namespace revrouter::tools {
namespace {

constexpr int kExitFailure = 1;  // generation or I/O failed
constexpr int kExitUsage = 2;    // the arguments are wrong

struct CertsArgs {
  std::string service;
  std::string namespace_;
  std::string out_dir;
  std::string key_type{certs::key_type_name(certs::kDefaultKeyType)};
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  int days = static_cast<int>(certs::kDefaultServingLifetime.count());
  int ca_days = static_cast<int>(certs::kDefaultCaLifetime.count());
  bool client = false;
  bool force = false;
  std::string ca_file;  // ca-bundle
};

void print_error(const char* what, const Error& error) {
  std::fprintf(stderr, "revrouter certs: %s: %s\n", what, error.message.c_str());
}

int run_generate(const CertsArgs& args) {
  for (const auto& [flag, value] :
       {std::pair{"--service", &args.service}, std::pair{"--namespace", &args.namespace_},
        std::pair{"--out-dir", &args.out_dir}}) {
    if (value->empty()) {
      std::fprintf(stderr, "revrouter certs: %s is required (see revrouter certs --help)\n", flag);
      return kExitUsage;
    }
  }
  auto key_type = certs::parse_key_type(args.key_type);
  if (!key_type) {
    print_error("--key-type", key_type.error());
    return kExitUsage;
  }
  if (args.days > args.ca_days) {
    std::fprintf(stderr,
                 "revrouter certs: --days (%d) must not exceed --ca-days (%d): the serving "
                 "certificate would outlive its CA\n",
                 args.days, args.ca_days);
    return kExitUsage;
  }

  certs::CertSetOptions options;
  options.service = args.service;
  options.namespace_ = args.namespace_;
  options.extra_dns_names = args.dns;
  options.ip_addresses = args.ips;
  options.key_type = *key_type;
  options.serving_lifetime = std::chrono::days(args.days);
  options.ca_lifetime = std::chrono::days(args.ca_days);
  options.client = args.client;

  auto set = certs::generate_cert_set(options);
  if (!set) {
    print_error("generating certificates", set.error());
    const auto& code = set.error().code;
    return code == "service" || code == "namespace" || code == "dns_name" || code == "ip_address" ||
                   code == "validity"
               ? kExitUsage
               : kExitFailure;
  }
  if (auto st = certs::write_cert_set(*set, args.out_dir, args.force); !st) {
    print_error("writing certificates", st.error());
    return kExitFailure;
  }
  // Re-read what was written, exactly as the server will, so a bad write fails here.
  const std::filesystem::path dir(args.out_dir);
  auto summary = certs::check_cert_key_files(dir / certs::kTlsCertFile, dir / certs::kTlsKeyFile);
  if (!summary) {
    print_error("checking the written serving certificate", summary.error());
    return kExitFailure;
  }

  std::string names;
  for (const auto& name : summary->dns_names) names += (names.empty() ? "" : ", ") + name;
  for (const auto& ip : summary->ip_addresses) names += (names.empty() ? "" : ", ") + ip;
  std::fprintf(stderr,
               "revrouter certs: wrote %s, %s, %s, %s%s in %s\n"
               "  serving certificate: %s (%s), valid until %s\n"
               "  caBundle (base64 of ca.crt) follows on stdout\n",
               certs::kCaCertFile, certs::kCaKeyFile, certs::kTlsCertFile, certs::kTlsKeyFile,
               args.client ? ", client.crt, client.key" : "", args.out_dir.c_str(), names.c_str(),
               std::string(certs::key_type_name(summary->key_type)).c_str(),
               certs::format_utc(summary->not_after).c_str());
  std::printf("%s\n", set->ca_bundle().c_str());
  return 0;
}

int run_ca_bundle(const CertsArgs& args) {
  auto pem = certs::read_file(args.ca_file);
  if (!pem) {
    print_error("--ca", pem.error());
    return kExitFailure;
  }
  auto bundle = certs::ca_bundle_from_pem(*pem);
  if (!bundle) {
    std::fprintf(stderr, "revrouter certs ca-bundle: %s: %s\n", args.ca_file.c_str(),
                 bundle.error().message.c_str());
    return kExitFailure;
  }
  std::printf("%s\n", bundle->c_str());
  return 0;
}

}  // namespace

void add_certs_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CertsArgs>();
  auto* cmd = app.add_subcommand(
      "certs",
      "Generate a CA and a serving certificate for the webhook Service; prints the caBundle");
  cmd->add_option("--service", args->service, "Service name of the webhook (e.g. revrouter)");
  cmd->add_option("--namespace", args->namespace_, "Namespace of the Service (e.g. istio-system)");
  cmd->add_option("--out-dir", args->out_dir,
                  "Directory for ca.crt, ca.key, tls.crt, tls.key (created if missing)");
  cmd->add_option("--key-type", args->key_type,
                  "ecdsa-p256 (default), ecdsa-p384, rsa-2048 or rsa-3072");
  cmd->add_option("--dns", args->dns,
                  "Extra DNS name for the serving certificate (repeatable or comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option(
         "--ip", args->ips,
         "IP address for the serving certificate, e.g. 127.0.0.1 (repeatable or comma-separated)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--days", args->days, "Serving (and client) certificate validity in days")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
  cmd->add_option("--ca-days", args->ca_days, "CA validity in days")
      ->check(CLI::Range(1, 36500))
      ->capture_default_str();
  cmd->add_flag("--client", args->client,
                "Also write client.crt/client.key (clientAuth) signed by the CA, for mTLS");
  cmd->add_flag("--force", args->force, "Replace existing files in --out-dir");
  cmd->require_subcommand(0, 1);

  auto* bundle = cmd->add_subcommand(
      "ca-bundle", "Print the webhook caBundle (base64 of the CA certificate PEM) for a CA file");
  bundle->add_option("--ca", args->ca_file, "CA certificate PEM file (ca.crt)")->required();
  bundle->callback([args, &exit_code] { exit_code = run_ca_bundle(*args); });

  cmd->callback([args, bundle, &exit_code] {
    if (bundle->parsed()) return;  // `certs ca-bundle` ran instead
    exit_code = run_generate(*args);
  });
}

}  // namespace revrouter::tools
