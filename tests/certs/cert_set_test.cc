// Generating the full certificate set and writing it: file names, modes, atomic replacement and
// refusal to destroy existing keys.
#include "certs/cert_set.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "certs/cert_check.h"
#include "certs/file_io.h"
#include "certs/pem.h"
#include "tests/certs/test_support.h"

namespace revrouter::certs {
namespace {

namespace fs = std::filesystem;

mode_t file_mode(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string read(const fs::path& path) {
  auto content = read_file(path);
  return content.ok() ? *content : "<unreadable: " + content.error().message + ">";
}

CertSetOptions options(bool client) {
  CertSetOptions o;
  o.service = "revrouter";
  o.namespace_ = "istio-system";
  o.ip_addresses = {"127.0.0.1"};
  o.client = client;
  return o;
}

TEST(CertSet, GeneratedPairsCheckAndChainToTheCa) {
  auto set = generate_cert_set(options(true));
  ASSERT_TRUE(set.ok()) << set.error().message;
  struct Pair {
    const std::string* cert;
    const std::string* key;
    CertUse use;
  };
  for (const auto& pair : {Pair{&set->ca_cert, &set->ca_key, CertUse::kAny},
                           Pair{&set->tls_cert, &set->tls_key, CertUse::kTlsServer},
                           Pair{&set->client_cert, &set->client_key, CertUse::kTlsClient}}) {
    auto summary = check_cert_key_pem(*pair.cert, *pair.key, {pair.use, std::nullopt});
    EXPECT_TRUE(summary.ok()) << summary.error().message;
  }
  auto ca = cert_from_pem(set->ca_cert);
  auto tls = cert_from_pem(set->tls_cert);
  auto client = cert_from_pem(set->client_cert);
  ASSERT_TRUE(ca.ok() && tls.ok() && client.ok());
  EXPECT_EQ(
      testing::verify_chain(ca->get(), tls->get(),
                            {"revrouter.istio-system.svc", "127.0.0.1", X509_PURPOSE_SSL_SERVER}),
      X509_V_OK);
  EXPECT_EQ(testing::verify_chain(ca->get(), client->get(), {"", "", X509_PURPOSE_SSL_CLIENT}),
            X509_V_OK);
}

TEST(CertSet, ClientPairOnlyWhenAsked) {
  auto set = generate_cert_set(options(false));
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_TRUE(set->client_cert.empty());
  EXPECT_TRUE(set->client_key.empty());
  testing::TempDir dir;
  ASSERT_TRUE(write_cert_set(*set, dir.path(), false).ok());
  EXPECT_FALSE(fs::exists(dir.path() / kClientCertFile));
  EXPECT_FALSE(fs::exists(dir.path() / kClientKeyFile));
}

TEST(CertSet, InvalidOptionsAreReported) {
  CertSetOptions bad = options(false);
  bad.namespace_ = "Istio System";
  auto set = generate_cert_set(bad);
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.error().code, "namespace");
  EXPECT_NE(set.error().message.find("Istio System"), std::string::npos) << set.error().message;
}

TEST(CertSet, WritesEveryFileWithKeysPrivate) {
  auto set = generate_cert_set(options(true));
  ASSERT_TRUE(set.ok()) << set.error().message;
  testing::TempDir tmp;
  const fs::path dir = tmp.path() / "nested" / "out";  // created on demand
  auto st = write_cert_set(*set, dir, false);
  ASSERT_TRUE(st.ok()) << st.error().message;

  struct Expect {
    const char* name;
    const std::string* content;
    mode_t mode;
  };
  const std::vector<Expect> files = {
      {kCaCertFile, &set->ca_cert, 0644},         {kCaKeyFile, &set->ca_key, 0600},
      {kTlsCertFile, &set->tls_cert, 0644},       {kTlsKeyFile, &set->tls_key, 0600},
      {kClientCertFile, &set->client_cert, 0644}, {kClientKeyFile, &set->client_key, 0600},
  };
  for (const auto& f : files) {
    EXPECT_EQ(read(dir / f.name), *f.content) << f.name;
    EXPECT_EQ(file_mode(dir / f.name), f.mode) << f.name;
  }
  // Nothing else: no temporary files left behind.
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++count;
  EXPECT_EQ(count, files.size());
}

TEST(CertSet, ExistingFilesAreKeptUnlessOverwriteIsAsked) {
  auto first = generate_cert_set(options(false));
  auto second = generate_cert_set(options(false));
  ASSERT_TRUE(first.ok() && second.ok());
  testing::TempDir dir;
  ASSERT_TRUE(write_cert_set(*first, dir.path(), false).ok());

  auto refused = write_cert_set(*second, dir.path(), false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "exists");
  EXPECT_NE(refused.error().message.find("--force"), std::string::npos);
  EXPECT_EQ(read(dir.path() / kCaKeyFile), first->ca_key);
  EXPECT_EQ(read(dir.path() / kTlsCertFile), first->tls_cert);

  auto replaced = write_cert_set(*second, dir.path(), true);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_EQ(read(dir.path() / kCaKeyFile), second->ca_key);
  EXPECT_EQ(read(dir.path() / kTlsCertFile), second->tls_cert);
  EXPECT_EQ(file_mode(dir.path() / kCaKeyFile), 0600u);
}

TEST(FileIo, AtomicWriteReplacesContentAndSetsMode) {
  testing::TempDir dir;
  const fs::path path = dir.path() / "f";
  ASSERT_TRUE(write_file_atomic(path, "one", 0644).ok());
  EXPECT_EQ(file_mode(path), 0644u);
  ASSERT_TRUE(write_file_atomic(path, "two", 0600).ok());
  EXPECT_EQ(read(path), "two");
  EXPECT_EQ(file_mode(path), 0600u);
}

TEST(FileIo, AtomicWriteIntoMissingDirectoryFails) {
  testing::TempDir dir;
  auto st = write_file_atomic(dir.path() / "missing" / "f", "x", 0600);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "write");
  EXPECT_NE(st.error().message.find("missing"), std::string::npos) << st.error().message;
}

TEST(FileIo, ReadingAMissingFileIsUnreadable) {
  testing::TempDir dir;
  auto content = read_file(dir.path() / "nope");
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.error().code, "unreadable");
  EXPECT_NE(content.error().message.find("nope"), std::string::npos);
}

}  // namespace
}  // namespace revrouter::certs
