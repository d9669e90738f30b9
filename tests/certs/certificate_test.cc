// Certificate generation: chains verify with OpenSSL's own verifier for exactly the names and
// addresses requested, and carry the extensions a Kubernetes webhook needs.
#include "certs/certificate.h"

#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "certs/key.h"
#include "tests/certs/test_support.h"

namespace revrouter::certs {
namespace {

using testing::verify_chain;
using testing::verify_error_string;
using testing::VerifyRequest;

ServingOptions serving_options() {
  ServingOptions options;
  options.service = "revrouter";
  options.namespace_ = "istio-system";
  options.extra_dns_names = {"localhost"};
  options.ip_addresses = {"127.0.0.1", "::1"};
  return options;
}

Credential must(Result<Credential> r) {
  if (!r) throw std::runtime_error(r.error().code + ": " + r.error().message);
  return std::move(r).value();
}

// One CA and its leaves for the whole suite: key generation is the slow part.
class CertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Credential(must(create_ca(CaOptions{})));
    serving_ = new Credential(must(issue_serving_cert(*ca_, serving_options())));
    client_ = new Credential(must(issue_client_cert(*ca_, ClientOptions{})));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete serving_;
    delete client_;
  }
  static Credential* ca_;
  static Credential* serving_;
  static Credential* client_;
};
Credential* CertificateTest::ca_ = nullptr;
Credential* CertificateTest::serving_ = nullptr;
Credential* CertificateTest::client_ = nullptr;

struct VerifyCase {
  const char* rule;
  VerifyRequest request;
  int expected;
};

TEST_F(CertificateTest, ServingCertVerifiesOnlyForRequestedNamesAndAddresses) {
  const std::vector<VerifyCase> cases = {
      {"service_svc_name", {"revrouter.istio-system.svc", "", X509_PURPOSE_SSL_SERVER}, X509_V_OK},
      {"service_cluster_local_name",
       {"revrouter.istio-system.svc.cluster.local", "", X509_PURPOSE_SSL_SERVER},
       X509_V_OK},
      {"extra_dns_name", {"localhost", "", X509_PURPOSE_SSL_SERVER}, X509_V_OK},
      {"ipv4_address", {"", "127.0.0.1", X509_PURPOSE_SSL_SERVER}, X509_V_OK},
      {"ipv6_address", {"", "::1", X509_PURPOSE_SSL_SERVER}, X509_V_OK},
      {"other_service_rejected",
       {"istiod.istio-system.svc", "", X509_PURPOSE_SSL_SERVER},
       X509_V_ERR_HOSTNAME_MISMATCH},
      {"other_namespace_rejected",
       {"revrouter.default.svc", "", X509_PURPOSE_SSL_SERVER},
       X509_V_ERR_HOSTNAME_MISMATCH},
      {"short_service_name_rejected",
       {"revrouter", "", X509_PURPOSE_SSL_SERVER},
       X509_V_ERR_HOSTNAME_MISMATCH},
      {"subdomain_not_wildcarded",
       {"x.revrouter.istio-system.svc", "", X509_PURPOSE_SSL_SERVER},
       X509_V_ERR_HOSTNAME_MISMATCH},
      {"other_ip_rejected",
       {"", "10.0.0.1", X509_PURPOSE_SSL_SERVER},
       X509_V_ERR_IP_ADDRESS_MISMATCH},
      {"serving_cert_is_not_a_client_cert",
       {"revrouter.istio-system.svc", "", X509_PURPOSE_SSL_CLIENT},
       X509_V_ERR_INVALID_PURPOSE},
  };
  for (const auto& c : cases) {
    const int got = verify_chain(ca_->cert.get(), serving_->cert.get(), c.request);
    EXPECT_EQ(got, c.expected) << c.rule << ": " << verify_error_string(got);
  }
}

TEST_F(CertificateTest, ClientCertVerifiesForClientAuthOnly) {
  EXPECT_EQ(verify_chain(ca_->cert.get(), client_->cert.get(), {"", "", X509_PURPOSE_SSL_CLIENT}),
            X509_V_OK);
  EXPECT_EQ(verify_chain(ca_->cert.get(), client_->cert.get(), {"", "", X509_PURPOSE_SSL_SERVER}),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(CertificateTest, ChainDoesNotVerifyAgainstAnotherCa) {
  const Credential other = must(create_ca(CaOptions{}));
  EXPECT_EQ(verify_chain(other.cert.get(), serving_->cert.get(),
                         {"revrouter.istio-system.svc", "", X509_PURPOSE_SSL_SERVER}),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

bool extension_critical(const X509* cert, int nid) {
  const int index = X509_get_ext_by_NID(cert, nid, -1);
  return index >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1;
}

bool has_extension(const X509* cert, int nid) { return X509_get_ext_by_NID(cert, nid, -1) >= 0; }

TEST_F(CertificateTest, CaHasCriticalCaConstraintsAndSigningKeyUsage) {
  X509* ca = ca_->cert.get();
  EXPECT_EQ(X509_check_ca(ca), 1);
  EXPECT_TRUE(X509_get_extension_flags(ca) & EXFLAG_CA);
  EXPECT_TRUE(extension_critical(ca, NID_basic_constraints));
  EXPECT_EQ(X509_get_pathlen(ca), 0);
  EXPECT_TRUE(extension_critical(ca, NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(ca), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(ca), nullptr);
  EXPECT_EQ(X509_check_issued(ca, ca), X509_V_OK) << "CA must be self-signed";
  EXPECT_EQ(X509_verify(ca, X509_get0_pubkey(ca)), 1);
  EXPECT_EQ(X509_get_version(ca), X509_VERSION_3);
}

TEST_F(CertificateTest, ServingCertHasServerAuthAndLeafConstraints) {
  X509* leaf = serving_->cert.get();
  EXPECT_EQ(X509_check_ca(leaf), 0);
  EXPECT_TRUE(extension_critical(leaf, NID_basic_constraints));
  EXPECT_FALSE(X509_get_extension_flags(leaf) & EXFLAG_CA);
  EXPECT_EQ(X509_get_extended_key_usage(leaf), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_FALSE(extension_critical(leaf, NID_ext_key_usage));
  // ECDSA keys cannot encipher, so keyEncipherment would be wrong for them.
  EXPECT_EQ(X509_get_key_usage(leaf), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_TRUE(extension_critical(leaf, NID_key_usage));
  EXPECT_EQ(X509_check_issued(ca_->cert.get(), leaf), X509_V_OK);
  EXPECT_TRUE(has_extension(leaf, NID_subject_alt_name));

  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(leaf);
  const ASN1_OCTET_STRING* ca_skid = X509_get0_subject_key_id(ca_->cert.get());
  ASSERT_NE(akid, nullptr);
  ASSERT_NE(ca_skid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, ca_skid), 0);

  X509_NAME* subject = X509_get_subject_name(leaf);
  char cn[128] = {};
  ASSERT_GT(X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof cn), 0);
  EXPECT_STREQ(cn, "revrouter.istio-system.svc");
}

TEST_F(CertificateTest, ServingCertSubjectAltNamesAreExactlyTheRequestedOnes) {
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(serving_->cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_TRUE(names);
  std::vector<std::string> dns;
  int ip_count = 0;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                       ASN1_STRING_length(name->d.dNSName));
    } else if (name->type == GEN_IPADD) {
      ++ip_count;
    } else {
      ADD_FAILURE() << "unexpected SAN type " << name->type;
    }
  }
  EXPECT_EQ(dns,
            (std::vector<std::string>{"revrouter.istio-system.svc",
                                      "revrouter.istio-system.svc.cluster.local", "localhost"}));
  EXPECT_EQ(ip_count, 2);
}

TEST_F(CertificateTest, ClientCertHasClientAuthOnly) {
  EXPECT_EQ(X509_get_extended_key_usage(client_->cert.get()),
            static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_ca(client_->cert.get()), 0);
  EXPECT_FALSE(has_extension(client_->cert.get(), NID_subject_alt_name));
}

TEST_F(CertificateTest, SerialsAreRandom128BitPositiveIntegers) {
  const Credential second = must(issue_serving_cert(*ca_, serving_options()));
  std::vector<const X509*> certs = {ca_->cert.get(), serving_->cert.get(), client_->cert.get(),
                                    second.cert.get()};
  for (const X509* cert : certs) {
    BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    ASSERT_TRUE(serial);
    EXPECT_FALSE(BN_is_negative(serial.get()));
    EXPECT_LE(BN_num_bits(serial.get()), 128);
    // 128 random bits have fewer than 65 significant bits with probability 2^-64.
    EXPECT_GT(BN_num_bits(serial.get()), 64);
  }
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(serving_->cert.get()),
                             X509_get0_serialNumber(second.cert.get())),
            0);
}

// Seconds from a certificate time to a fixed reference point.
long long seconds_between(const ASN1_TIME* from, const ASN1_TIME* to) {
  int days = 0;
  int secs = 0;
  if (ASN1_TIME_diff(&days, &secs, from, to) != 1) return -1;
  return static_cast<long long>(days) * 86400 + secs;
}

TEST_F(CertificateTest, ValidityIsBackdatedAndUsesTheRequestedLifetime) {
  // 2030-01-01T00:00:00Z: a fixed issue time keeps the check exact.
  const Clock::time_point issued = Clock::from_time_t(1893456000);
  CaOptions ca_options;
  ca_options.validity.issued_at = issued;
  const Credential ca = must(create_ca(ca_options));
  ServingOptions options = serving_options();
  options.validity.issued_at = issued;
  options.validity.lifetime = std::chrono::days(30);
  const Credential leaf = must(issue_serving_cert(ca, options));

  Asn1TimePtr reference(ASN1_TIME_set(nullptr, 1893456000));
  ASSERT_TRUE(reference);
  EXPECT_EQ(seconds_between(X509_get0_notBefore(leaf.cert.get()), reference.get()), 5 * 60);
  EXPECT_EQ(seconds_between(reference.get(), X509_get0_notAfter(leaf.cert.get())), 30 * 86400);
  EXPECT_EQ(seconds_between(X509_get0_notBefore(ca.cert.get()), reference.get()), 5 * 60);
  EXPECT_EQ(seconds_between(reference.get(), X509_get0_notAfter(ca.cert.get())), 3650LL * 86400);
}

TEST_F(CertificateTest, DefaultServingLifetimeIsOneYear) {
  EXPECT_EQ(seconds_between(X509_get0_notBefore(serving_->cert.get()),
                            X509_get0_notAfter(serving_->cert.get())),
            365LL * 86400 + 5 * 60);
}

}  // namespace

// Readable parameter names in gtest output instead of raw bytes.
void PrintTo(KeyType type, std::ostream* os) { *os << key_type_name(type); }

namespace {

class KeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTypeTest, ChainOfThisKeyTypeVerifies) {
  CaOptions ca_options;
  ca_options.key_type = GetParam();
  const Credential ca = must(create_ca(ca_options));
  ServingOptions options = serving_options();
  options.key_type = GetParam();
  const Credential leaf = must(issue_serving_cert(ca, options));

  auto ca_type = classify_key(ca.key.get());
  auto leaf_type = classify_key(X509_get0_pubkey(leaf.cert.get()));
  ASSERT_TRUE(ca_type.ok()) << ca_type.error().message;
  ASSERT_TRUE(leaf_type.ok()) << leaf_type.error().message;
  EXPECT_EQ(*ca_type, GetParam());
  EXPECT_EQ(*leaf_type, GetParam());
  EXPECT_EQ(verify_chain(ca.cert.get(), leaf.cert.get(),
                         {"revrouter.istio-system.svc", "127.0.0.1", X509_PURPOSE_SSL_SERVER}),
            X509_V_OK);
  // TLS 1.2 RSA key exchange needs keyEncipherment on RSA leaves; EC leaves must not have it.
  const uint32_t expected_usage =
      is_rsa(GetParam()) ? KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT : KU_DIGITAL_SIGNATURE;
  EXPECT_EQ(X509_get_key_usage(leaf.cert.get()), expected_usage);
  const int expected_sig = GetParam() == KeyType::kEcdsaP384   ? NID_ecdsa_with_SHA384
                           : GetParam() == KeyType::kEcdsaP256 ? NID_ecdsa_with_SHA256
                                                               : NID_sha256WithRSAEncryption;
  EXPECT_EQ(X509_get_signature_nid(leaf.cert.get()), expected_sig);
}

INSTANTIATE_TEST_SUITE_P(AllKeyTypes, KeyTypeTest,
                         ::testing::Values(KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                           KeyType::kRsa2048, KeyType::kRsa3072),
                         [](const auto& info) {
                           std::string name(key_type_name(info.param));
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

struct RejectCase {
  const char* rule;
  void (*mutate)(ServingOptions&);
  const char* code;
};

TEST_F(CertificateTest, InvalidServingOptionsAreRejectedWithSpecificErrors) {
  const std::vector<RejectCase> cases = {
      {"service_required", [](ServingOptions& o) { o.service.clear(); }, "service"},
      {"service_lowercase", [](ServingOptions& o) { o.service = "RevRouter"; }, "service"},
      {"service_is_one_label", [](ServingOptions& o) { o.service = "a.b"; }, "service"},
      {"service_no_leading_dash", [](ServingOptions& o) { o.service = "-x"; }, "service"},
      {"service_at_most_63", [](ServingOptions& o) { o.service = std::string(64, 'a'); },
       "service"},
      {"namespace_no_underscore", [](ServingOptions& o) { o.namespace_ = "istio_system"; },
       "namespace"},
      {"dns_no_empty_label", [](ServingOptions& o) { o.extra_dns_names = {"a..b"}; }, "dns_name"},
      {"dns_no_trailing_dash", [](ServingOptions& o) { o.extra_dns_names = {"a-.b"}; }, "dns_name"},
      {"dns_no_comma_injection", [](ServingOptions& o) { o.extra_dns_names = {"a,IP:1.2.3.4"}; },
       "dns_name"},
      {"ip_must_parse", [](ServingOptions& o) { o.ip_addresses = {"999.1.1.1"}; }, "ip_address"},
      {"hostname_is_not_ip", [](ServingOptions& o) { o.ip_addresses = {"localhost"}; },
       "ip_address"},
      {"lifetime_positive",
       [](ServingOptions& o) { o.validity.lifetime = std::chrono::seconds(0); }, "validity"},
      {"leaf_must_not_outlive_ca",
       [](ServingOptions& o) { o.validity.lifetime = std::chrono::days(3651); }, "validity"},
  };
  for (const auto& c : cases) {
    ServingOptions options = serving_options();
    c.mutate(options);
    auto result = issue_serving_cert(*ca_, options);
    ASSERT_FALSE(result.ok()) << c.rule;
    EXPECT_EQ(result.error().code, c.code) << c.rule << ": " << result.error().message;
    EXPECT_FALSE(result.error().message.empty()) << c.rule;
  }
}

TEST_F(CertificateTest, IssuingRequiresAMatchingCaCredential) {
  // A leaf cannot sign.
  Credential leaf_as_ca{X509Ptr(X509_dup(serving_->cert.get())), nullptr};
  EVP_PKEY_up_ref(serving_->key.get());
  leaf_as_ca.key.reset(serving_->key.get());
  auto from_leaf = issue_serving_cert(leaf_as_ca, serving_options());
  ASSERT_FALSE(from_leaf.ok());
  EXPECT_EQ(from_leaf.error().code, "ca");
  EXPECT_NE(from_leaf.error().message.find("not a CA"), std::string::npos)
      << from_leaf.error().message;

  // The CA certificate with someone else's key.
  Credential wrong_key{X509Ptr(X509_dup(ca_->cert.get())), nullptr};
  EVP_PKEY_up_ref(client_->key.get());
  wrong_key.key.reset(client_->key.get());
  auto mismatched = issue_client_cert(wrong_key, ClientOptions{});
  ASSERT_FALSE(mismatched.ok());
  EXPECT_EQ(mismatched.error().code, "ca");
  EXPECT_NE(mismatched.error().message.find("does not match"), std::string::npos)
      << mismatched.error().message;
}

TEST(DnsNames, LabelAndNameRules) {
  struct Case {
    const char* name;
    bool label;
    bool dns_name;
  };
  const std::vector<Case> cases = {
      {"revrouter", true, true}, {"istio-system", true, true},   {"a1", true, true},
      {"Upper", false, true},  // labels are lowercase; SAN DNS names are case-insensitive
      {"a.b.c", false, true},    {"*.example.com", false, true}, {"", false, false},
      {"-a", false, false},      {"a-", false, false},           {"a_b", false, false},
      {"a..b", false, false},    {"a.", false, false},           {"*", false, false},
      {"a.*.b", false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(is_dns_label(c.name), c.label) << c.name;
    EXPECT_EQ(is_dns_name(c.name), c.dns_name) << c.name;
  }
  EXPECT_TRUE(is_dns_label(std::string(63, 'a')));
  EXPECT_FALSE(is_dns_label(std::string(64, 'a')));
}

TEST(KeyTypeNames, ParseIsTheInverseOfNameAndRejectsUnknownNames) {
  for (KeyType type :
       {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kRsa2048, KeyType::kRsa3072}) {
    auto parsed = parse_key_type(key_type_name(type));
    ASSERT_TRUE(parsed.ok()) << key_type_name(type);
    EXPECT_EQ(*parsed, type);
  }
  auto bad = parse_key_type("rsa-1024");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "key_type");
  EXPECT_NE(bad.error().message.find("ecdsa-p256"), std::string::npos) << bad.error().message;
}

TEST(ServiceDnsNames, AreTheSvcAndClusterLocalForms) {
  EXPECT_EQ(service_dns_names("revrouter", "istio-system"),
            (std::vector<std::string>{"revrouter.istio-system.svc",
                                      "revrouter.istio-system.svc.cluster.local"}));
}

}  // namespace
}  // namespace revrouter::certs
