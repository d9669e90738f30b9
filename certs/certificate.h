// Creates the webhook's self-signed CA and the certificates it issues: the serving certificate
// for the Kubernetes Service the API server calls, and an optional client certificate for mTLS.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "certs/key.h"
#include "certs/openssl_handles.h"

namespace revrouter::certs {

using Clock = std::chrono::system_clock;

inline constexpr std::chrono::days kDefaultCaLifetime{3650};
inline constexpr std::chrono::days kDefaultServingLifetime{365};
// not-before is set this far before issuance so peers with slightly slow clocks accept the cert.
inline constexpr std::chrono::minutes kDefaultBackdate{5};

// When a certificate is valid: [issued_at - backdate, issued_at + lifetime].
struct Validity {
  std::chrono::seconds lifetime;
  std::chrono::seconds backdate = kDefaultBackdate;
  // Unset means now. Set it to mint certificates that are already expired or not yet valid.
  std::optional<Clock::time_point> issued_at;
};

// A certificate with its private key.
struct Credential {
  X509Ptr cert;
  PkeyPtr key;
};

struct CaOptions {
  std::string common_name = "revrouter-ca";
  KeyType key_type = kDefaultKeyType;
  Validity validity{kDefaultCaLifetime, kDefaultBackdate, std::nullopt};
};

struct ServingOptions {
  std::string service;                       // Service name: a DNS-1123 label
  std::string namespace_;                    // Service namespace: a DNS-1123 label
  std::vector<std::string> extra_dns_names;  // e.g. "localhost" for tests
  std::vector<std::string> ip_addresses;     // IPv4 or IPv6 literals, e.g. "127.0.0.1"
  KeyType key_type = kDefaultKeyType;
  Validity validity{kDefaultServingLifetime, kDefaultBackdate, std::nullopt};
};

struct ClientOptions {
  std::string common_name = "revrouter-client";
  KeyType key_type = kDefaultKeyType;
  Validity validity{kDefaultServingLifetime, kDefaultBackdate, std::nullopt};
};

// The DNS names the API server uses to reach a webhook Service:
// "<service>.<namespace>.svc" and "<service>.<namespace>.svc.cluster.local".
std::vector<std::string> service_dns_names(std::string_view service, std::string_view ns);

// A self-signed CA: basicConstraints CA:TRUE, pathlen:0 (critical), keyUsage keyCertSign|cRLSign
// (critical), subject key identifier, random 128-bit serial.
Result<Credential> create_ca(const CaOptions& options);

// A serving certificate signed by `ca`: CN "<service>.<namespace>.svc", SANs from
// service_dns_names plus the extra DNS names and IP addresses, EKU serverAuth, keyUsage
// digitalSignature (+keyEncipherment for RSA), authority key identifier. Rejects invalid names
// and addresses, and a validity that would outlive the CA.
Result<Credential> issue_serving_cert(const Credential& ca, const ServingOptions& options);

// A client certificate signed by `ca` with EKU clientAuth, for mTLS.
Result<Credential> issue_client_cert(const Credential& ca, const ClientOptions& options);

// True if `name` is a valid DNS-1123 label (lowercase alphanumerics and '-', at most 63).
bool is_dns_label(std::string_view name);

// True if `name` is a DNS name usable in a SAN: dot-separated labels (letters, digits, '-'),
// at most 253 characters, optionally starting with a "*." wildcard.
bool is_dns_name(std::string_view name);

}  // namespace revrouter::certs
