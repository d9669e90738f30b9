// PEM and base64: round trips, specific errors for the wrong kind of input, and the caBundle.
#include "certs/pem.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>
#include <vector>

#include "certs/cert_set.h"
#include "certs/certificate.h"

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
  return options;
}

class PemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Credential(must(create_ca(CaOptions{})));
    leaf_ = new Credential(must(issue_serving_cert(*ca_, serving_options())));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete leaf_;
  }
  static Credential* ca_;
  static Credential* leaf_;
};
Credential* PemTest::ca_ = nullptr;
Credential* PemTest::leaf_ = nullptr;

TEST_F(PemTest, CertificateRoundTrips) {
  const std::string pem = must(cert_to_pem(leaf_->cert.get()));
  EXPECT_TRUE(pem.starts_with("-----BEGIN CERTIFICATE-----\n")) << pem;
  auto parsed = cert_from_pem(pem);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(X509_cmp(parsed->get(), leaf_->cert.get()), 0);
}

TEST_F(PemTest, ChainParsesInOrder) {
  const std::string chain =
      must(cert_to_pem(leaf_->cert.get())) + must(cert_to_pem(ca_->cert.get()));
  auto parsed = certs_from_pem(chain);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ(X509_cmp((*parsed)[0].get(), leaf_->cert.get()), 0);
  EXPECT_EQ(X509_cmp((*parsed)[1].get(), ca_->cert.get()), 0);
}

TEST(PemKeys, EveryKeyTypeRoundTripsAsUnencryptedPkcs8) {
  for (KeyType type :
       {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kRsa2048, KeyType::kRsa3072}) {
    auto key = generate_key(type);
    ASSERT_TRUE(key.ok()) << key.error().message;
    const std::string pem = must(key_to_pem(key->get()));
    EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----\n")) << key_type_name(type);
    auto parsed = key_from_pem(pem);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key->get()), 1) << key_type_name(type);
    auto classified = classify_key(parsed->get());
    ASSERT_TRUE(classified.ok()) << classified.error().message;
    EXPECT_EQ(*classified, type);
  }
}

TEST(PemKeys, TraditionalEcKeyFormatIsAccepted) {
  auto key = generate_key(KeyType::kEcdsaP256);
  ASSERT_TRUE(key.ok());
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key->get(), nullptr, nullptr, 0,
                                                 nullptr, nullptr),
            1);
  const std::string pem = memory_bio_contents(bio.get());
  ASSERT_TRUE(pem.starts_with("-----BEGIN EC PRIVATE KEY-----")) << pem;
  auto parsed = key_from_pem(pem);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(EVP_PKEY_eq(parsed->get(), key->get()), 1);
}

// The error of a failed result, or code "ok" so a success fails the comparison visibly.
template <class T>
Error error_of(const Result<T>& result) {
  return result.ok() ? Error{"ok", "parsed successfully"} : result.error();
}

std::string corrupt_body(std::string pem) {
  // Flip characters in the middle of the base64 body, keeping it base64 so the PEM framing
  // still parses and the DER inside does not.
  const size_t body = pem.find('\n') + 1;
  for (size_t i = body + 10; i < body + 40; ++i) pem[i] = 'A';
  return pem;
}

std::string encrypted_key_pem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  static char pass[] = "secret";
  if (PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr) !=
      1) {
    return {};
  }
  return memory_bio_contents(bio.get());
}

TEST_F(PemTest, WrongInputGivesSpecificErrors) {
  const std::string cert_pem = must(cert_to_pem(leaf_->cert.get()));
  const std::string key_pem = must(key_to_pem(leaf_->key.get()));
  const std::string encrypted = encrypted_key_pem(leaf_->key.get());
  ASSERT_FALSE(encrypted.empty());

  enum class Parser { kCert, kKey };
  struct Case {
    const char* rule;
    Parser parser;
    std::string input;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"empty_input_is_not_a_pem_cert", Parser::kCert, "", "not_pem"},
      {"empty_input_is_not_a_pem_key", Parser::kKey, "", "not_pem"},
      {"text_is_not_a_pem_cert", Parser::kCert, "hello, world\n", "not_pem"},
      {"text_is_not_a_pem_key", Parser::kKey, "hello, world\n", "not_pem"},
      {"der_is_not_pem", Parser::kCert, std::string("\x30\x82\x01\x00", 4), "not_pem"},
      {"key_is_not_a_certificate", Parser::kCert, key_pem, "no_certificate"},
      {"certificate_is_not_a_key", Parser::kKey, cert_pem, "no_private_key"},
      {"corrupt_certificate", Parser::kCert, corrupt_body(cert_pem), "bad_certificate"},
      {"corrupt_key", Parser::kKey, corrupt_body(key_pem), "bad_key"},
      {"encrypted_key_never_prompts", Parser::kKey, encrypted, "encrypted_key"},
  };
  for (const auto& c : cases) {
    const Error error = c.parser == Parser::kCert ? error_of(cert_from_pem(c.input))
                                                  : error_of(key_from_pem(c.input));
    EXPECT_EQ(error.code, c.code) << c.rule << ": " << error.message;
    EXPECT_FALSE(error.message.empty()) << c.rule;
  }
}

TEST(PemLabel, FirstLabelIsReported) {
  EXPECT_EQ(first_pem_label("x\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n"), "EC PRIVATE KEY");
  EXPECT_EQ(first_pem_label("no pem here"), "");
  EXPECT_EQ(first_pem_label("-----BEGIN broken\n-----"), "");
}

TEST(Base64, MatchesRfc4648TestVectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded) << plain;
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.error().message;
    EXPECT_EQ(*decoded, plain) << encoded;
  }
}

TEST(Base64, BinaryRoundTripsWithoutLineBreaks) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<char>(i * 7 % 256));
  const std::string encoded = base64_encode(bytes);
  EXPECT_EQ(encoded.find('\n'), std::string::npos);
  EXPECT_EQ(encoded.size(), 4 * ((bytes.size() + 2) / 3));
  auto decoded = base64_decode(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, bytes);
}

TEST(Base64, InvalidTextIsRejected) {
  for (const char* text : {"Zm9", "Zm9v!A==", "Zg==Zg==", "Zm=v", "Z===", "Zm9v\nYmFy"}) {
    auto decoded = base64_decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.error().code, "base64") << text;
  }
}

TEST_F(PemTest, CaBundleDecodesBackToTheCaPem) {
  const std::string ca_pem = must(cert_to_pem(ca_->cert.get()));
  auto bundle = ca_bundle_from_pem(ca_pem);
  ASSERT_TRUE(bundle.ok()) << bundle.error().message;
  EXPECT_EQ(bundle->find_first_of("\n\r "), std::string::npos);
  auto decoded = base64_decode(*bundle);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, ca_pem);
}

TEST_F(PemTest, CaBundleRefusesWhatIsNotACaCertificate) {
  const std::string ca_pem = must(cert_to_pem(ca_->cert.get()));
  const std::string ca_key_pem = must(key_to_pem(ca_->key.get()));
  struct Case {
    const char* rule;
    std::string input;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"serving_cert_is_not_a_ca", must(cert_to_pem(leaf_->cert.get())), "not_ca"},
      {"key_never_published", ca_key_pem, "private_key_in_bundle"},
      {"key_after_ca_never_published", ca_pem + ca_key_pem, "private_key_in_bundle"},
      {"text_is_not_pem", "not a certificate", "not_pem"},
      {"other_pem_has_no_certificate",
       "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "no_certificate"},
  };
  for (const auto& c : cases) {
    auto bundle = ca_bundle_from_pem(c.input);
    ASSERT_FALSE(bundle.ok()) << c.rule;
    EXPECT_EQ(bundle.error().code, c.code) << c.rule << ": " << bundle.error().message;
  }
}

TEST(CertSetBundle, IsTheBase64OfTheCaCertificate) {
  CertSetOptions options;
  options.service = "revrouter";
  options.namespace_ = "istio-system";
  auto set = generate_cert_set(options);
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto decoded = base64_decode(set->ca_bundle());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, set->ca_cert);
}

}  // namespace
}  // namespace revrouter::certs
