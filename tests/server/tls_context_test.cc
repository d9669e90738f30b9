#include "server/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tests/server/support/test_pki.h"

namespace revrouter::server {
namespace {

using testing::PemPair;
using testing::TempDir;
using testing::TestPki;
using testing::write_text;

struct KeyRow {
  const char* name;
  certs::KeyType type;
  const char* reported;
};

class TlsContextKeyTest : public ::testing::TestWithParam<KeyRow> {};

TEST_P(TlsContextKeyTest, LoadsEcdsaAndRsaServingPairs) {
  TempDir dir;
  TestPki pki;
  const PemPair pair = pki.serving(GetParam().type);
  write_text(dir / "tls.crt", pair.cert);
  write_text(dir / "tls.key", pair.key);
  auto tls = make_server_tls_context({(dir / "tls.crt").string(), (dir / "tls.key").string(), ""});
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ(tls->info.key_type, GetParam().reported);
  EXPECT_EQ(tls->info.subject, "CN=revrouter.istio-system.svc");
  EXPECT_FALSE(tls->info.not_after.empty());
  SSL_CTX* ctx = tls->context->native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
}

INSTANTIATE_TEST_SUITE_P(
    Keys, TlsContextKeyTest,
    ::testing::Values(KeyRow{"EcdsaP256", certs::KeyType::kEcdsaP256, "ecdsa-p256"},
                      KeyRow{"EcdsaP384", certs::KeyType::kEcdsaP384, "ecdsa-p384"},
                      KeyRow{"Rsa2048", certs::KeyType::kRsa2048, "rsa-2048"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TlsContextTest, OnlyModernAeadCipherSuitesAreOffered) {
  TempDir dir;
  TestPki pki;
  const PemPair pair = pki.serving();
  write_text(dir / "tls.crt", pair.cert);
  write_text(dir / "tls.key", pair.key);
  auto tls = make_server_tls_context({(dir / "tls.crt").string(), (dir / "tls.key").string(), ""});
  ASSERT_TRUE(tls) << tls.error().message;
  SSL* ssl = SSL_new(tls->context->native_handle());
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get1_supported_ciphers(ssl);
  ASSERT_NE(ciphers, nullptr);
  ASSERT_GT(sk_SSL_CIPHER_num(ciphers), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    EXPECT_TRUE(SSL_CIPHER_is_aead(c)) << SSL_CIPHER_get_name(c);
    const int kx = SSL_CIPHER_get_kx_nid(c);
    EXPECT_TRUE(kx == NID_kx_ecdhe || kx == NID_kx_any) << SSL_CIPHER_get_name(c);
  }
  sk_SSL_CIPHER_free(ciphers);
  SSL_free(ssl);
}

TEST(TlsContextTest, ClientCaTurnsOnRequiredClientCertificates) {
  TempDir dir;
  TestPki pki;
  const PemPair pair = pki.serving();
  write_text(dir / "tls.crt", pair.cert);
  write_text(dir / "tls.key", pair.key);
  write_text(dir / "ca.crt", pki.ca_pem());
  auto tls = make_server_tls_context(
      {(dir / "tls.crt").string(), (dir / "tls.key").string(), (dir / "ca.crt").string()});
  ASSERT_TRUE(tls) << tls.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode(tls->context->native_handle()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

struct BadFilesRow {
  const char* name;
  // Writes tls.crt / tls.key / ca.crt into dir as the case needs; returns the TlsFiles.
  std::function<TlsFiles(const TempDir&, const TestPki&)> files;
  const char* message;
};

class TlsContextErrorTest : public ::testing::TestWithParam<BadFilesRow> {};

TEST_P(TlsContextErrorTest, SaysWhatIsWrongWithWhichFile) {
  TempDir dir;
  TestPki pki;
  auto tls = make_server_tls_context(GetParam().files(dir, pki));
  ASSERT_FALSE(tls);
  EXPECT_EQ(tls.error().code, "tls");
  EXPECT_NE(tls.error().message.find(GetParam().message), std::string::npos) << tls.error().message;
}

TlsFiles pair_files(const TempDir& dir, const std::string& cert, const std::string& key) {
  write_text(dir / "tls.crt", cert);
  write_text(dir / "tls.key", key);
  return {(dir / "tls.crt").string(), (dir / "tls.key").string(), ""};
}

INSTANTIATE_TEST_SUITE_P(
    Errors, TlsContextErrorTest,
    ::testing::Values(
        BadFilesRow{"MissingCertificate",
                    [](const TempDir& d, const TestPki&) {
                      return TlsFiles{(d / "nope.crt").string(), (d / "nope.key").string(), ""};
                    },
                    "cannot read certificate file"},
        BadFilesRow{"KeyGivenAsCertificate",
                    [](const TempDir& d, const TestPki& p) {
                      const auto pair = p.serving();
                      return pair_files(d, pair.key, pair.key);
                    },
                    "no usable PEM certificate chain"},
        BadFilesRow{"CertificateGivenAsKey",
                    [](const TempDir& d, const TestPki& p) {
                      const auto pair = p.serving();
                      return pair_files(d, pair.cert, pair.cert);
                    },
                    "no usable PEM private key"},
        BadFilesRow{"KeyOfAnotherCertificate",
                    [](const TempDir& d, const TestPki& p) {
                      return pair_files(d, p.serving().cert, p.serving().key);
                    },
                    "does not match certificate"},
        BadFilesRow{
            "EmptyKeyFile",
            [](const TempDir& d, const TestPki& p) { return pair_files(d, p.serving().cert, ""); },
            "is empty"},
        BadFilesRow{"ClientCaNotACertificate",
                    [](const TempDir& d, const TestPki& p) {
                      const auto pair = p.serving();
                      TlsFiles f = pair_files(d, pair.cert, pair.key);
                      write_text(d / "ca.crt", "not a certificate\n");
                      f.client_ca_file = (d / "ca.crt").string();
                      return f;
                    },
                    "client CA file"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TlsContextTest, WeakOrUnusualKeyTypesAreRefused) {
  // An Ed25519 key with a self-signed certificate: not a key type the issue allows.
  TempDir dir;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("ed"),
                             -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, nullptr), 0);
  BIO* cb = BIO_new(BIO_s_mem());
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, cert);
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(cb, &data);
  write_text(dir / "tls.crt", std::string(data, static_cast<std::size_t>(n)));
  n = BIO_get_mem_data(kb, &data);
  write_text(dir / "tls.key", std::string(data, static_cast<std::size_t>(n)));
  BIO_free(cb);
  BIO_free(kb);
  X509_free(cert);
  EVP_PKEY_free(key);

  auto tls = make_server_tls_context({(dir / "tls.crt").string(), (dir / "tls.key").string(), ""});
  ASSERT_FALSE(tls);
  EXPECT_NE(tls.error().message.find("unsupported type ED25519"), std::string::npos)
      << tls.error().message;
}

}  // namespace
}  // namespace revrouter::server
