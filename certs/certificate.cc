#include "certs/certificate.h"

#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include <array>
#include <climits>
#include <ctime>

namespace revrouter::certs {
namespace {

// What differs between the CA, serving and client certificates.
struct CertProfile {
  std::string common_name;
  KeyType key_type = kDefaultKeyType;
  Validity validity{kDefaultServingLifetime, kDefaultBackdate, std::nullopt};
  bool is_ca = false;
  int extended_key_usage = NID_undef;  // NID_server_auth / NID_client_auth for leaves
  GeneralNamesPtr subject_alt_names;   // may be null
};

// keyUsage bit positions from RFC 5280 section 4.2.1.3.
CertProfile make_profile(std::string common_name, KeyType key_type, const Validity& validity) {
  CertProfile profile;
  profile.common_name = std::move(common_name);
  profile.key_type = key_type;
  profile.validity = validity;
  return profile;
}

constexpr int kDigitalSignature = 0;
constexpr int kKeyEncipherment = 2;
constexpr int kKeyCertSign = 5;
constexpr int kCrlSign = 6;

Error openssl_error(std::string_view what) {
  return make_error("openssl", std::string(what) + ": " + take_openssl_errors());
}

Status set_random_serial(X509* cert) {
  // 128 random bits (RFC 5280 allows up to 20 octets); a zero serial is not allowed.
  std::array<unsigned char, 16> bytes{};
  do {
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return openssl_error("generating a random serial number");
    }
  } while (bytes == decltype(bytes){});
  BignumPtr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return openssl_error("setting the serial number");
  }
  return Ok{};
}

Status set_validity(X509* cert, const Validity& validity) {
  if (validity.lifetime.count() <= 0) {
    return make_error("validity", "certificate lifetime must be positive");
  }
  if (validity.backdate.count() < 0) {
    return make_error("validity", "certificate backdate must not be negative");
  }
  const Clock::time_point issued = validity.issued_at.value_or(Clock::now());
  const std::time_t not_before = Clock::to_time_t(issued - validity.backdate);
  const std::time_t not_after = Clock::to_time_t(issued + validity.lifetime);
  if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), not_after) == nullptr) {
    return openssl_error("setting the validity period");
  }
  return Ok{};
}

Status add_extension(X509* cert, int nid, void* value, bool critical, std::string_view what) {
  if (X509_add1_ext_i2d(cert, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1) {
    return openssl_error("adding the " + std::string(what) + " extension");
  }
  return Ok{};
}

Status add_basic_constraints(X509* cert, bool is_ca) {
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return openssl_error("allocating basicConstraints");
  if (is_ca) {
    bc->ca = 0xFF;  // DER TRUE
    // pathlen:0 — this CA signs leaves only, never another CA.
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, 0) != 1) {
      return openssl_error("setting the CA path length");
    }
  }
  return add_extension(cert, NID_basic_constraints, bc.get(), true, "basicConstraints");
}

Status add_key_usage(X509* cert, const CertProfile& profile) {
  Asn1BitStringPtr usage(ASN1_BIT_STRING_new());
  if (!usage) return openssl_error("allocating keyUsage");
  std::array<int, 2> bits{};
  size_t count = 0;
  if (profile.is_ca) {
    bits = {kKeyCertSign, kCrlSign};
    count = 2;
  } else {
    bits[count++] = kDigitalSignature;
    // RSA key exchange (TLS 1.2 non-ECDHE suites) encrypts to the certificate's key.
    if (is_rsa(profile.key_type)) bits[count++] = kKeyEncipherment;
  }
  for (size_t i = 0; i < count; ++i) {
    if (ASN1_BIT_STRING_set_bit(usage.get(), bits[i], 1) != 1) {
      return openssl_error("setting keyUsage bits");
    }
  }
  return add_extension(cert, NID_key_usage, usage.get(), true, "keyUsage");
}

Status add_extended_key_usage(X509* cert, int purpose_nid) {
  ExtendedKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return openssl_error("allocating extendedKeyUsage");
  // OBJ_nid2obj returns a static object; freeing it with the stack is a no-op.
  ASN1_OBJECT* purpose = OBJ_nid2obj(purpose_nid);
  if (purpose == nullptr || sk_ASN1_OBJECT_push(eku.get(), purpose) <= 0) {
    return openssl_error("setting extendedKeyUsage");
  }
  return add_extension(cert, NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
}

// RFC 5280 section 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
Result<Asn1OctetStringPtr> key_identifier(const X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (X509_pubkey_digest(cert, EVP_sha1(), digest.data(), &len) != 1) {
    return openssl_error("hashing the public key for its key identifier");
  }
  Asn1OctetStringPtr id(ASN1_OCTET_STRING_new());
  if (!id || ASN1_OCTET_STRING_set(id.get(), digest.data(), static_cast<int>(len)) != 1) {
    return openssl_error("building a key identifier");
  }
  return id;
}

Status add_subject_key_id(X509* cert) {
  auto id = key_identifier(cert);
  if (!id) return id.error();
  return add_extension(cert, NID_subject_key_identifier, id->get(), false, "subjectKeyIdentifier");
}

Status add_authority_key_id(X509* cert, const X509* issuer) {
  AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
  if (!akid) return openssl_error("allocating authorityKeyIdentifier");
  // Prefer the issuer's own subjectKeyIdentifier so chain building matches it exactly; a CA
  // loaded from elsewhere may lack one, and then the RFC 5280 hash is what it would have been.
  auto* existing = static_cast<ASN1_OCTET_STRING*>(
      X509_get_ext_d2i(issuer, NID_subject_key_identifier, nullptr, nullptr));
  if (existing != nullptr) {
    akid->keyid = existing;
  } else {
    clear_openssl_errors();
    auto id = key_identifier(issuer);
    if (!id) return id.error();
    akid->keyid = id->release();
  }
  return add_extension(cert, NID_authority_key_identifier, akid.get(), false,
                       "authorityKeyIdentifier");
}

Status add_general_name(GENERAL_NAMES* names, int type, ASN1_STRING* value) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (!name) {
    ASN1_STRING_free(value);
    return openssl_error("allocating a subjectAltName entry");
  }
  GENERAL_NAME_set0_value(name.get(), type, value);
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) {
    return openssl_error("adding a subjectAltName entry");
  }
  name.release();  // owned by `names` now
  return Ok{};
}

Result<GeneralNamesPtr> build_subject_alt_names(const std::vector<std::string>& dns_names,
                                                const std::vector<std::string>& ip_addresses) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return openssl_error("allocating subjectAltName");
  for (const auto& dns : dns_names) {
    if (!is_dns_name(dns)) {
      return make_error("dns_name", "\"" + dns +
                                        "\" is not a valid DNS name for a certificate (letters, "
                                        "digits, '-' and '.', optional leading \"*.\")");
    }
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value == nullptr || ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(value);
      return openssl_error("encoding DNS name " + dns);
    }
    if (auto st = add_general_name(names.get(), GEN_DNS, value); !st) return st.error();
  }
  for (const auto& ip : ip_addresses) {
    ASN1_OCTET_STRING* value = a2i_IPADDRESS(ip.c_str());
    if (value == nullptr) {
      clear_openssl_errors();
      return make_error("ip_address", "\"" + ip + "\" is not an IPv4 or IPv6 address");
    }
    if (auto st = add_general_name(names.get(), GEN_IPADD, value); !st) return st.error();
  }
  return names;
}

const EVP_MD* signature_digest(const EVP_PKEY* signer) {
  // Match the digest to the key's strength; SHA-256 for P-256 and RSA.
  auto type = classify_key(signer);
  return type.ok() && *type == KeyType::kEcdsaP384 ? EVP_sha384() : EVP_sha256();
}

// Builds and signs one certificate. `issuer` null means self-signed.
Result<Credential> build_certificate(CertProfile profile, const Credential* issuer) {
  clear_openssl_errors();
  auto key = generate_key(profile.key_type);
  if (!key) return key.error();

  X509Ptr cert(X509_new());
  if (!cert) return openssl_error("allocating a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return openssl_error("setting version");
  if (auto st = set_random_serial(cert.get()); !st) return st.error();
  if (auto st = set_validity(cert.get(), profile.validity); !st) return st.error();

  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(profile.common_name.c_str());
  if (profile.common_name.empty() || profile.common_name.size() > 64) {
    return make_error("common_name",
                      "common name \"" + profile.common_name + "\" must be 1 to 64 characters");
  }
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, cn, -1, -1, 0) != 1) {
    return openssl_error("setting the subject common name");
  }
  const X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert.get();
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key.get() : key->get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1) {
    return openssl_error("setting the issuer name");
  }
  if (X509_set_pubkey(cert.get(), key->get()) != 1) return openssl_error("setting the public key");

  if (auto st = add_basic_constraints(cert.get(), profile.is_ca); !st) return st.error();
  if (auto st = add_key_usage(cert.get(), profile); !st) return st.error();
  if (profile.extended_key_usage != NID_undef) {
    if (auto st = add_extended_key_usage(cert.get(), profile.extended_key_usage); !st) {
      return st.error();
    }
  }
  if (auto st = add_subject_key_id(cert.get()); !st) return st.error();
  if (issuer != nullptr) {
    if (auto st = add_authority_key_id(cert.get(), issuer_cert); !st) return st.error();
  }
  if (profile.subject_alt_names) {
    if (auto st = add_extension(cert.get(), NID_subject_alt_name, profile.subject_alt_names.get(),
                                false, "subjectAltName");
        !st) {
      return st.error();
    }
  }

  if (issuer != nullptr) {
    // A leaf that outlives its CA fails verification on the day the CA expires, silently.
    const int cmp =
        ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(issuer->cert.get()));
    if (cmp == -2) return openssl_error("comparing validity with the CA's");
    if (cmp > 0) {
      return make_error("validity",
                        "certificate \"" + profile.common_name +
                            "\" would expire after its CA; shorten its lifetime or renew the CA");
    }
  }

  if (X509_sign(cert.get(), signing_key, signature_digest(signing_key)) <= 0) {
    return openssl_error("signing the certificate");
  }
  return Credential{std::move(cert), std::move(key).value()};
}

Status check_issuer(const Credential& ca) {
  if (!ca.cert || !ca.key) return make_error("ca", "the CA certificate or key is missing");
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    clear_openssl_errors();
    return make_error("ca", "the CA key does not match the CA certificate");
  }
  if (X509_check_ca(ca.cert.get()) == 0) {
    return make_error("ca",
                      "the issuing certificate is not a CA (basicConstraints CA:TRUE "
                      "and keyCertSign are required)");
  }
  return Ok{};
}

}  // namespace

bool is_dns_label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool is_dns_name(std::string_view name) {
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (name.empty() || name.size() > 253) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (!alnum(label.front()) || !alnum(label.back())) return false;
    for (char c : label) {
      if (!alnum(c) && c != '-') return false;
    }
    start = end + 1;
  }
  return true;
}

std::vector<std::string> service_dns_names(std::string_view service, std::string_view ns) {
  std::string base = std::string(service) + "." + std::string(ns) + ".svc";
  std::string full = base + ".cluster.local";
  return {std::move(base), std::move(full)};
}

Result<Credential> create_ca(const CaOptions& options) {
  CertProfile profile = make_profile(options.common_name, options.key_type, options.validity);
  profile.is_ca = true;
  return build_certificate(std::move(profile), nullptr);
}

Result<Credential> issue_serving_cert(const Credential& ca, const ServingOptions& options) {
  if (auto st = check_issuer(ca); !st) return st.error();
  if (!is_dns_label(options.service)) {
    return make_error("service", "service name \"" + options.service +
                                     "\" is not a DNS-1123 label (lowercase letters, digits and "
                                     "'-', at most 63, starting and ending alphanumeric)");
  }
  if (!is_dns_label(options.namespace_)) {
    return make_error("namespace", "namespace \"" + options.namespace_ +
                                       "\" is not a DNS-1123 label (lowercase letters, digits "
                                       "and '-', at most 63, starting and ending alphanumeric)");
  }
  std::vector<std::string> dns = service_dns_names(options.service, options.namespace_);
  dns.insert(dns.end(), options.extra_dns_names.begin(), options.extra_dns_names.end());
  auto sans = build_subject_alt_names(dns, options.ip_addresses);
  if (!sans) return sans.error();

  CertProfile profile = make_profile(dns.front(), options.key_type, options.validity);
  profile.extended_key_usage = NID_server_auth;
  profile.subject_alt_names = std::move(sans).value();
  return build_certificate(std::move(profile), &ca);
}

Result<Credential> issue_client_cert(const Credential& ca, const ClientOptions& options) {
  if (auto st = check_issuer(ca); !st) return st.error();
  CertProfile profile = make_profile(options.common_name, options.key_type, options.validity);
  profile.extended_key_usage = NID_client_auth;
  return build_certificate(std::move(profile), &ca);
}

}  // namespace revrouter::certs
