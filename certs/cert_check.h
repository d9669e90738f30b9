// Checks a certificate + private key pair before the server uses it, so a bad pair is refused at
// start-up (or on reload) with a message that says what is wrong instead of a TLS handshake error.
#pragma once

#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "certs/key.h"

namespace revrouter::certs {

// What the check learned about a good pair, for logging.
struct CertSummary {
  std::string subject;                    // e.g. "CN=revrouter.istio-system.svc"
  std::string issuer;                     // e.g. "CN=revrouter-ca"
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, textual
  KeyType key_type = kDefaultKeyType;
  std::time_t not_before = 0;
  std::time_t not_after = 0;
};

// What the certificate is going to be used for.
enum class CertUse {
  kTlsServer,  // requires serverAuth (or no EKU) and a keyUsage allowing TLS server signatures
  kTlsClient,  // requires clientAuth (or no EKU), for mTLS client certificates
  kAny,        // no usage check (e.g. checking a CA pair)
};

struct CheckOptions {
  CertUse use = CertUse::kTlsServer;
  // Unset means now.
  std::optional<std::chrono::system_clock::time_point> now = std::nullopt;
};

// Checks PEM text. Error codes, each with a specific message:
//   cert: not_pem, no_certificate, bad_certificate
//   key:  not_pem, no_private_key, encrypted_key, bad_key
//   unsupported_key_type  the key is not ecdsa-p256/p384 or rsa-2048/3072
//   key_mismatch          the key is not the certificate's key
//   expired / not_yet_valid  relative to options.now
//   wrong_usage           the certificate's (extended) key usage does not allow options.use
// Messages are prefixed with "certificate: " or "key: " to say which input is at fault.
Result<CertSummary> check_cert_key_pem(std::string_view cert_pem, std::string_view key_pem,
                                       const CheckOptions& options = {});

// As check_cert_key_pem, reading the files; adds error "unreadable" and names the file in each
// message.
Result<CertSummary> check_cert_key_files(const std::filesystem::path& cert_file,
                                         const std::filesystem::path& key_file,
                                         const CheckOptions& options = {});

// "2035-01-31T12:00:00Z".
std::string format_utc(std::time_t t);

}  // namespace revrouter::certs
