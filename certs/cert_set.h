// The full set of PEM files a webhook deployment needs — CA, serving pair, optional client pair —
// generated in one call (for `revrouter certs` and `revrouter serve --dev`) and written to a
// directory under the names Kubernetes TLS secrets use (ca.crt, tls.crt, tls.key).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "admission/result.h"
#include "certs/certificate.h"
#include "certs/key.h"

namespace revrouter::certs {

inline constexpr const char* kCaCertFile = "ca.crt";
inline constexpr const char* kCaKeyFile = "ca.key";
inline constexpr const char* kTlsCertFile = "tls.crt";
inline constexpr const char* kTlsKeyFile = "tls.key";
inline constexpr const char* kClientCertFile = "client.crt";
inline constexpr const char* kClientKeyFile = "client.key";

struct CertSetOptions {
  std::string service;
  std::string namespace_;
  std::vector<std::string> extra_dns_names;
  std::vector<std::string> ip_addresses;
  KeyType key_type = kDefaultKeyType;  // for every key in the set
  std::chrono::seconds ca_lifetime = kDefaultCaLifetime;
  std::chrono::seconds serving_lifetime = kDefaultServingLifetime;
  bool client = false;  // also issue client.crt/client.key (clientAuth) for mTLS tests
};

struct CertSetPem {
  std::string ca_cert;
  std::string ca_key;
  std::string tls_cert;
  std::string tls_key;
  std::string client_cert;  // empty unless requested
  std::string client_key;

  // base64(ca_cert): the MutatingWebhookConfiguration's clientConfig.caBundle.
  std::string ca_bundle() const;
};

Result<CertSetPem> generate_cert_set(const CertSetOptions& options);

// Writes the set into `dir` (created if missing): certificates 0644, keys 0600, each file
// atomically. Unless `overwrite`, refuses (error "exists", nothing written) when any of the
// files already exists, so an existing CA key is never destroyed by accident.
Status write_cert_set(const CertSetPem& set, const std::filesystem::path& dir, bool overwrite);

}  // namespace revrouter::certs
