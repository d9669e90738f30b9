// The certificate + key check the server runs before serving: accepts a good pair and refuses
// each kind of bad pair with its own error code and a message naming the problem.
#include "certs/cert_check.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <map>
#include <string>
#include <vector>

#include "certs/certificate.h"
#include "certs/file_io.h"
#include "certs/pem.h"
#include "tests/certs/test_support.h"

namespace revrouter::certs {
namespace {

Credential must(Result<Credential> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}

std::string must(Result<std::string> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(r).value();
}

ServingOptions serving_options() {
  ServingOptions options;
  options.service = "revrouter";
  options.namespace_ = "istio-system";
  options.extra_dns_names = {"localhost"};
  options.ip_addresses = {"127.0.0.1"};
  return options;
}

std::string raw_key_pem(const char* algorithm, size_t rsa_bits = 0) {
  PkeyPtr key(rsa_bits != 0 ? EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm, rsa_bits)
                            : EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm));
  if (!key) throw std::runtime_error(std::string("keygen failed: ") + algorithm);
  return must(key_to_pem(key.get()));
}

// Named PEM inputs, built once: the table below refers to them by name.
class CertCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pem_ = new std::map<std::string, std::string>();
    auto& pem = *pem_;
    const Credential ca = must(create_ca(CaOptions{}));
    const Credential good = must(issue_serving_cert(ca, serving_options()));
    const Credential other = must(issue_serving_cert(ca, serving_options()));
    pem["good.crt"] = must(cert_to_pem(good.cert.get()));
    pem["good.key"] = must(key_to_pem(good.key.get()));
    pem["other.key"] = must(key_to_pem(other.key.get()));

    // Already expired: issued 3 days ago for 1 day (CA issued at the same time).
    const Clock::time_point past = Clock::now() - std::chrono::days(3);
    CaOptions old_ca_options;
    old_ca_options.validity.issued_at = past;
    const Credential old_ca = must(create_ca(old_ca_options));
    ServingOptions expired_options = serving_options();
    expired_options.validity.issued_at = past;
    expired_options.validity.lifetime = std::chrono::days(1);
    const Credential expired = must(issue_serving_cert(old_ca, expired_options));
    pem["expired.crt"] = must(cert_to_pem(expired.cert.get()));
    pem["expired.key"] = must(key_to_pem(expired.key.get()));

    // Not yet valid: issued 2 days from now.
    ServingOptions future_options = serving_options();
    future_options.validity.issued_at = Clock::now() + std::chrono::days(2);
    const Credential future = must(issue_serving_cert(ca, future_options));
    pem["future.crt"] = must(cert_to_pem(future.cert.get()));
    pem["future.key"] = must(key_to_pem(future.key.get()));

    pem["ca.crt"] = must(cert_to_pem(ca.cert.get()));
    pem["ca.key"] = must(key_to_pem(ca.key.get()));
    const Credential client = must(issue_client_cert(ca, ClientOptions{}));
    pem["client.crt"] = must(cert_to_pem(client.cert.get()));
    pem["client.key"] = must(key_to_pem(client.key.get()));

    pem["ed25519.key"] = raw_key_pem("ED25519");
    pem["rsa1024.key"] = raw_key_pem("RSA", 1024);
    BioPtr bio(BIO_new(BIO_s_mem()));
    static char pass[] = "secret";
    PEM_write_bio_PKCS8PrivateKey(bio.get(), good.key.get(), EVP_aes_256_cbc(), pass, 6, nullptr,
                                  nullptr);
    pem["encrypted.key"] = memory_bio_contents(bio.get());
    pem["garbage"] = "this is not a certificate\n";
    pem["empty"] = "";
  }
  static void TearDownTestSuite() { delete pem_; }
  static const std::string& pem(const std::string& name) { return pem_->at(name); }
  static std::map<std::string, std::string>* pem_;
};
std::map<std::string, std::string>* CertCheckTest::pem_ = nullptr;

TEST_F(CertCheckTest, GoodPairIsAcceptedAndSummarized) {
  auto summary = check_cert_key_pem(pem("good.crt"), pem("good.key"));
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  EXPECT_EQ(summary->subject, "CN=revrouter.istio-system.svc");
  EXPECT_EQ(summary->issuer, "CN=revrouter-ca");
  EXPECT_EQ(summary->dns_names,
            (std::vector<std::string>{"revrouter.istio-system.svc",
                                      "revrouter.istio-system.svc.cluster.local", "localhost"}));
  EXPECT_EQ(summary->ip_addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(summary->key_type, KeyType::kEcdsaP256);
  EXPECT_EQ(summary->not_after - summary->not_before, 365 * 86400 + 5 * 60);
}

TEST_F(CertCheckTest, BadPairsAreRefusedWithSpecificErrors) {
  struct Case {
    const char* rule;
    const char* cert;
    const char* key;
    const char* code;
    const char* message_part;
  };
  const std::vector<Case> cases = {
      {"key_must_match_cert", "good.crt", "other.key", "key_mismatch", "does not belong"},
      {"cert_must_be_pem", "garbage", "good.key", "not_pem", "certificate: not PEM"},
      {"cert_must_not_be_empty", "empty", "good.key", "not_pem", "certificate: not PEM"},
      {"key_must_be_pem", "good.crt", "garbage", "not_pem", "key: not PEM"},
      {"key_in_cert_slot", "good.key", "good.key", "no_certificate", "PRIVATE KEY"},
      {"cert_in_key_slot", "good.crt", "good.crt", "no_private_key", "CERTIFICATE"},
      {"expired_cert", "expired.crt", "expired.key", "expired", "expired at"},
      {"not_yet_valid_cert", "future.crt", "future.key", "not_yet_valid", "not valid until"},
      {"ed25519_unsupported", "good.crt", "ed25519.key", "unsupported_key_type", "ED25519"},
      {"rsa_1024_unsupported", "good.crt", "rsa1024.key", "unsupported_key_type", "rsa-1024"},
      {"encrypted_key_refused", "good.crt", "encrypted.key", "encrypted_key", "encrypted"},
      {"ca_is_not_a_server_cert", "ca.crt", "ca.key", "wrong_usage", "it is a CA certificate"},
      {"client_cert_is_not_a_server_cert", "client.crt", "client.key", "wrong_usage",
       "lacks serverAuth"},
  };
  for (const auto& c : cases) {
    auto result = check_cert_key_pem(pem(c.cert), pem(c.key));
    ASSERT_FALSE(result.ok()) << c.rule;
    EXPECT_EQ(result.error().code, c.code) << c.rule << ": " << result.error().message;
    EXPECT_NE(result.error().message.find(c.message_part), std::string::npos)
        << c.rule << ": " << result.error().message;
  }
}

TEST_F(CertCheckTest, UsageIsCheckedOnlyForTheRequestedUse) {
  struct Case {
    const char* rule;
    const char* cert;
    const char* key;
    CertUse use;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"server_cert_for_server", "good.crt", "good.key", CertUse::kTlsServer, true},
      {"server_cert_not_for_client", "good.crt", "good.key", CertUse::kTlsClient, false},
      {"client_cert_for_client", "client.crt", "client.key", CertUse::kTlsClient, true},
      {"ca_not_for_client", "ca.crt", "ca.key", CertUse::kTlsClient, false},
      {"any_use_accepts_ca", "ca.crt", "ca.key", CertUse::kAny, true},
      {"any_use_accepts_client", "client.crt", "client.key", CertUse::kAny, true},
  };
  for (const auto& c : cases) {
    auto result = check_cert_key_pem(pem(c.cert), pem(c.key), {c.use, std::nullopt});
    EXPECT_EQ(result.ok(), c.ok) << c.rule << ": "
                                 << (result.ok() ? "accepted" : result.error().message);
    if (!result.ok()) {
      EXPECT_EQ(result.error().code, "wrong_usage") << c.rule;
    }
  }
}

TEST_F(CertCheckTest, ValidityIsJudgedAtTheGivenTime) {
  auto summary = check_cert_key_pem(pem("good.crt"), pem("good.key"));
  ASSERT_TRUE(summary.ok());
  const auto after_expiry = Clock::from_time_t(summary->not_after) + std::chrono::seconds(1);
  auto late =
      check_cert_key_pem(pem("good.crt"), pem("good.key"), {CertUse::kTlsServer, after_expiry});
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "expired");
  const auto at_expiry = Clock::from_time_t(summary->not_after);
  EXPECT_TRUE(
      check_cert_key_pem(pem("good.crt"), pem("good.key"), {CertUse::kTlsServer, at_expiry}).ok());
  const auto before_start = Clock::from_time_t(summary->not_before) - std::chrono::seconds(1);
  auto early =
      check_cert_key_pem(pem("good.crt"), pem("good.key"), {CertUse::kTlsServer, before_start});
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().code, "not_yet_valid");
}

TEST_F(CertCheckTest, FileCheckNamesTheFileAtFault) {
  testing::TempDir dir;
  const auto crt = dir.path() / "tls.crt";
  const auto key = dir.path() / "tls.key";
  const auto other = dir.path() / "other.key";
  ASSERT_TRUE(write_file_atomic(crt, pem("good.crt"), kCertFileMode).ok());
  ASSERT_TRUE(write_file_atomic(key, pem("good.key"), kKeyFileMode).ok());
  ASSERT_TRUE(write_file_atomic(other, pem("other.key"), kKeyFileMode).ok());

  auto good = check_cert_key_files(crt, key);
  ASSERT_TRUE(good.ok()) << good.error().message;
  EXPECT_EQ(good->subject, "CN=revrouter.istio-system.svc");

  auto missing = check_cert_key_files(dir.path() / "absent.crt", key);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "unreadable");
  EXPECT_NE(missing.error().message.find("absent.crt"), std::string::npos)
      << missing.error().message;
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos)
      << missing.error().message;

  auto directory = check_cert_key_files(crt, dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.error().code, "unreadable");

  auto mismatch = check_cert_key_files(crt, other);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, "key_mismatch");
  EXPECT_NE(mismatch.error().message.find("key " + other.string() + ":"), std::string::npos)
      << mismatch.error().message;
}

}  // namespace
}  // namespace revrouter::certs
