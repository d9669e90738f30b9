#include "certs/cert_set.h"

#include <system_error>
#include <utility>

#include "certs/file_io.h"
#include "certs/pem.h"

namespace revrouter::certs {
namespace {

struct PemPair {
  std::string cert;
  std::string key;
};

Result<PemPair> to_pem(const Credential& credential) {
  auto cert = cert_to_pem(credential.cert.get());
  if (!cert) return cert.error();
  auto key = key_to_pem(credential.key.get());
  if (!key) return key.error();
  return PemPair{std::move(cert).value(), std::move(key).value()};
}

struct OutputFile {
  const char* name;
  const std::string* content;
  mode_t mode;
};

}  // namespace

std::string CertSetPem::ca_bundle() const { return base64_encode(ca_cert); }

Result<CertSetPem> generate_cert_set(const CertSetOptions& options) {
  CaOptions ca_options;
  ca_options.key_type = options.key_type;
  ca_options.validity.lifetime = options.ca_lifetime;
  auto ca = create_ca(ca_options);
  if (!ca) return ca.error();

  ServingOptions serving_options;
  serving_options.service = options.service;
  serving_options.namespace_ = options.namespace_;
  serving_options.extra_dns_names = options.extra_dns_names;
  serving_options.ip_addresses = options.ip_addresses;
  serving_options.key_type = options.key_type;
  serving_options.validity.lifetime = options.serving_lifetime;
  auto serving = issue_serving_cert(*ca, serving_options);
  if (!serving) return serving.error();

  CertSetPem set;
  auto ca_pem = to_pem(*ca);
  if (!ca_pem) return ca_pem.error();
  set.ca_cert = std::move(ca_pem->cert);
  set.ca_key = std::move(ca_pem->key);
  auto tls_pem = to_pem(*serving);
  if (!tls_pem) return tls_pem.error();
  set.tls_cert = std::move(tls_pem->cert);
  set.tls_key = std::move(tls_pem->key);

  if (options.client) {
    ClientOptions client_options;
    client_options.key_type = options.key_type;
    client_options.validity.lifetime = options.serving_lifetime;
    auto client = issue_client_cert(*ca, client_options);
    if (!client) return client.error();
    auto client_pem = to_pem(*client);
    if (!client_pem) return client_pem.error();
    set.client_cert = std::move(client_pem->cert);
    set.client_key = std::move(client_pem->key);
  }
  return set;
}

Status write_cert_set(const CertSetPem& set, const std::filesystem::path& dir, bool overwrite) {
  std::vector<OutputFile> files{
      {kCaCertFile, &set.ca_cert, kCertFileMode},
      {kCaKeyFile, &set.ca_key, kKeyFileMode},
      {kTlsCertFile, &set.tls_cert, kCertFileMode},
      {kTlsKeyFile, &set.tls_key, kKeyFileMode},
  };
  if (!set.client_cert.empty()) {
    files.push_back({kClientCertFile, &set.client_cert, kCertFileMode});
    files.push_back({kClientKeyFile, &set.client_key, kKeyFileMode});
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error("write", "creating directory " + dir.string() + ": " + ec.message());
  }
  if (!overwrite) {
    for (const auto& file : files) {
      const auto path = dir / file.name;
      if (std::filesystem::symlink_status(path, ec).type() !=
          std::filesystem::file_type::not_found) {
        return make_error("exists", path.string() +
                                        " already exists; nothing was written (pass --force to "
                                        "replace the existing certificates and keys)");
      }
    }
  }
  for (const auto& file : files) {
    if (auto st = write_file_atomic(dir / file.name, *file.content, file.mode); !st) return st;
  }
  return Ok{};
}

}  // namespace revrouter::certs
