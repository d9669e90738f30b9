#include "certs/cert_check.h"

#include <arpa/inet.h>
#include <openssl/x509v3.h>

#include "certs/file_io.h"
#include "certs/openssl_handles.h"
#include "certs/pem.h"

namespace revrouter::certs {
namespace {

Error prefixed(std::string_view prefix, const Error& e) {
  return make_error(e.code, std::string(prefix) + e.message);
}

std::string name_to_string(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    clear_openssl_errors();
    return "?";
  }
  return memory_bio_contents(bio.get());
}

Result<std::time_t> to_time_t(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return make_error("bad_certificate",
                      "certificate: unreadable validity time: " + take_openssl_errors());
  }
  return ::timegm(&tm);
}

void collect_subject_alt_names(const X509* cert, CertSummary& summary) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    clear_openssl_errors();
    return;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      summary.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                     static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = name->d.iPAddress;
      const int len = ASN1_STRING_length(s);
      char text[INET6_ADDRSTRLEN] = {};
      const int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
      if (family != -1 && ::inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof text)) {
        summary.ip_addresses.emplace_back(text);
      }
    }
  }
}

// A certificate with the wrong usage completes the TLS handshake on our side and then fails in
// the peer (the API server reports only "x509: certificate specifies an incompatible key
// usage"), so it is refused here with the reason.
Status check_use(X509* cert, const std::string& subject, CertUse use) {
  if (use == CertUse::kAny) return Ok{};
  const bool server = use == CertUse::kTlsServer;
  const int purpose = server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT;
  if (X509_check_purpose(cert, purpose, 0) == 1) return Ok{};
  clear_openssl_errors();
  const char* eku = server ? "serverAuth" : "clientAuth";
  std::string reason;
  if (X509_get_extension_flags(cert) & EXFLAG_CA) {
    reason = "it is a CA certificate (use the certificate issued by the CA, e.g. tls.crt)";
  } else {
    reason = std::string("its extendedKeyUsage lacks ") + eku +
             " or its keyUsage lacks digitalSignature";
  }
  return make_error("wrong_usage", "certificate: " + subject + " cannot be used as a TLS " +
                                       (server ? "server" : "client") + " certificate: " + reason);
}

}  // namespace

std::string format_utc(std::time_t t) {
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return "?";
  char buf[32];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

Result<CertSummary> check_cert_key_pem(std::string_view cert_pem, std::string_view key_pem,
                                       const CheckOptions& options) {
  auto cert = cert_from_pem(cert_pem);
  if (!cert) return prefixed("certificate: ", cert.error());
  auto key = key_from_pem(key_pem);
  if (!key) return prefixed("key: ", key.error());

  auto key_type = classify_key(key->get());
  if (!key_type) return prefixed("key: ", key_type.error());

  // EVP_PKEY_eq compares the public halves: 1 equal, 0 different, negative different types.
  const EVP_PKEY* cert_key = X509_get0_pubkey(cert->get());
  if (cert_key == nullptr || EVP_PKEY_eq(cert_key, key->get()) != 1) {
    clear_openssl_errors();
    return make_error("key_mismatch",
                      "key: the private key does not belong to the certificate (its public key "
                      "differs); use the key generated together with this certificate");
  }

  CertSummary summary;
  summary.subject = name_to_string(X509_get_subject_name(cert->get()));
  summary.issuer = name_to_string(X509_get_issuer_name(cert->get()));
  summary.key_type = *key_type;
  auto not_before = to_time_t(X509_get0_notBefore(cert->get()));
  if (!not_before) return not_before.error();
  auto not_after = to_time_t(X509_get0_notAfter(cert->get()));
  if (!not_after) return not_after.error();
  summary.not_before = *not_before;
  summary.not_after = *not_after;

  const std::time_t now_t =
      std::chrono::system_clock::to_time_t(options.now.value_or(std::chrono::system_clock::now()));
  if (now_t < summary.not_before) {
    return make_error("not_yet_valid", "certificate: " + summary.subject + " is not valid until " +
                                           format_utc(summary.not_before) + " (now " +
                                           format_utc(now_t) + "); check the system clock");
  }
  if (now_t > summary.not_after) {
    return make_error("expired", "certificate: " + summary.subject + " expired at " +
                                     format_utc(summary.not_after) + " (now " + format_utc(now_t) +
                                     "); issue a new one with "
                                     "`revrouter certs`");
  }
  if (auto st = check_use(cert->get(), summary.subject, options.use); !st) return st.error();
  collect_subject_alt_names(cert->get(), summary);
  return summary;
}

Result<CertSummary> check_cert_key_files(const std::filesystem::path& cert_file,
                                         const std::filesystem::path& key_file,
                                         const CheckOptions& options) {
  auto cert_pem = read_file(cert_file);
  if (!cert_pem) return prefixed("certificate: ", cert_pem.error());
  auto key_pem = read_file(key_file);
  if (!key_pem) return prefixed("key: ", key_pem.error());
  auto summary = check_cert_key_pem(*cert_pem, *key_pem, options);
  if (!summary) {
    // Name the file at fault: "certificate: x" -> "certificate tls.crt: x".
    const Error& e = summary.error();
    std::string message = e.message;
    if (message.starts_with("certificate: ")) {
      message.replace(0, 13, "certificate " + cert_file.string() + ": ");
    } else if (message.starts_with("key: ")) {
      message.replace(0, 5, "key " + key_file.string() + ": ");
    }
    return make_error(e.code, std::move(message));
  }
  return summary;
}

}  // namespace revrouter::certs
