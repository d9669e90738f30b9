// TLS as the issue fixes it: TLS 1.2 and 1.3 only, ALPN offering only http/1.1, a certificate for
// the Service DNS name, and optional client-certificate verification (mTLS from the apiserver).
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using boost::beast::http::verb;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new ServerFiles;
    server_ = new ServerProcess(*files_);
    ready_ = server_->wait_ready();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete files_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << server_->log(); }

  static double handshake_failures() {
    return metric_value(server_->metrics(), "revrouter_tls_handshake_failures_total");
  }

  static ServerFiles* files_;
  static ServerProcess* server_;
  static bool ready_;
};
ServerFiles* TlsTest::files_ = nullptr;
ServerProcess* TlsTest::server_ = nullptr;
bool TlsTest::ready_ = false;

struct VersionRow {
  const char* name;
  int max_version;
  bool accepted;
};

class TlsVersionTest : public TlsTest, public ::testing::WithParamInterface<VersionRow> {};

TEST_P(TlsVersionTest, OnlyTls12AndTls13AreAccepted) {
  const VersionRow& row = GetParam();
  const double failures_before = handshake_failures();
  ClientTls tls = files_->client_tls();
  tls.max_version = row.max_version;
  TlsClient client(server_->port(), tls);
  const auto connected = client.connect();
  EXPECT_EQ(static_cast<bool>(connected), row.accepted)
      << (connected ? std::string("connected") : connected.error().message);
  if (row.accepted) {
    EXPECT_EQ(client.tls_version(), row.max_version);
    auto res = client.request(verb::get, "/healthz", "", "");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  } else {
    EXPECT_EQ(handshake_failures(), failures_before + 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsVersionTest,
                         ::testing::Values(VersionRow{"Tls10Refused", TLS1_VERSION, false},
                                           VersionRow{"Tls11Refused", TLS1_1_VERSION, false},
                                           VersionRow{"Tls12Accepted", TLS1_2_VERSION, true},
                                           VersionRow{"Tls13Accepted", TLS1_3_VERSION, true}),
                         [](const auto& info) { return std::string(info.param.name); });

struct NameRow {
  const char* name;
  std::string server_name;
  bool verifies;
};

class ServerNameTest : public TlsTest, public ::testing::WithParamInterface<NameRow> {};

TEST_P(ServerNameTest, CertificateNamesTheServiceAndTestAddresses) {
  const NameRow& row = GetParam();
  ClientTls tls = files_->client_tls();
  tls.server_name = row.server_name;
  TlsClient client(server_->port(), tls);
  const auto connected = client.connect();
  EXPECT_EQ(static_cast<bool>(connected), row.verifies)
      << (connected ? std::string("verified") : connected.error().message);
}

INSTANTIATE_TEST_SUITE_P(
    Names, ServerNameTest,
    ::testing::Values(NameRow{"ServiceDnsName", "revrouter.istio-system.svc", true},
                      NameRow{"ServiceFqdn", "revrouter.istio-system.svc.cluster.local", true},
                      NameRow{"Localhost", "localhost", true},
                      NameRow{"OtherServiceRejected", "istiod.istio-system.svc", false},
                      NameRow{"OtherNamespaceRejected", "revrouter.default.svc", false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(TlsTest, UntrustedCaIsRejectedByTheClient) {
  TestPki other;
  write_text(files_->dir() / "other-ca.crt", other.ca_pem());
  ClientTls tls = files_->client_tls();
  tls.ca_file = (files_->dir() / "other-ca.crt").string();
  TlsClient client(server_->port(), tls);
  EXPECT_FALSE(client.connect());
}

struct AlpnRow {
  const char* name;
  std::vector<std::string> offered;
  std::string selected;
};

class AlpnTest : public TlsTest, public ::testing::WithParamInterface<AlpnRow> {};

TEST_P(AlpnTest, OnlyHttp11IsNegotiated) {
  const AlpnRow& row = GetParam();
  ClientTls tls = files_->client_tls();
  tls.alpn = row.offered;
  TlsClient client(server_->port(), tls);
  ASSERT_TRUE(client.connect());
  EXPECT_EQ(client.alpn(), row.selected);
  auto res = client.request(verb::get, "/healthz", "", "");
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Alpn, AlpnTest,
    ::testing::Values(AlpnRow{"GoClientOffersH2First", {"h2", "http/1.1"}, "http/1.1"},
                      AlpnRow{"Http11Only", {"http/1.1"}, "http/1.1"},
                      AlpnRow{"H2OnlyGetsNoAlpn", {"h2"}, ""}, AlpnRow{"NoAlpnOffered", {}, ""}),
    [](const auto& info) { return std::string(info.param.name); });

// --client-ca: the apiserver must present a certificate from that CA.
class MutualTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    files_ = new ServerFiles;
    server_ = new ServerProcess(*files_, {"--client-ca", files_->ca_file()});
    ready_ = server_->wait_ready();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete files_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << server_->log(); }

  static ServerFiles* files_;
  static ServerProcess* server_;
  static bool ready_;
};
ServerFiles* MutualTlsTest::files_ = nullptr;
ServerProcess* MutualTlsTest::server_ = nullptr;
bool MutualTlsTest::ready_ = false;

TEST_F(MutualTlsTest, ClientWithCertificateIsServed) {
  ClientTls tls = files_->client_tls();
  tls.cert_file = files_->client_cert_file();
  tls.key_file = files_->client_key_file();
  TlsClient client(server_->port(), tls);
  const auto request = pod_review("mtls-1");
  auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  EXPECT_TRUE(check_answer(*res, request, answer));
}

TEST_F(MutualTlsTest, ClientWithoutCertificateIsRefused) {
  const double before = metric_value(server_->metrics(), "revrouter_tls_handshake_failures_total");
  TlsClient client(server_->port(), files_->client_tls());
  // With TLS 1.3 the client finishes its side of the handshake before the server's verdict
  // arrives, so the refusal may surface at the first read instead.
  auto res = client.request(verb::get, "/healthz", "", "");
  EXPECT_FALSE(res) << "served HTTP " << res->status;
  EXPECT_EQ(metric_value(server_->metrics(), "revrouter_tls_handshake_failures_total"), before + 1);
}

TEST_F(MutualTlsTest, ClientCertificateFromAnotherCaIsRefused) {
  TestPki other;
  const PemPair client_pair = other.client();
  write_text(files_->dir() / "other-client.crt", client_pair.cert);
  write_text(files_->dir() / "other-client.key", client_pair.key);
  ClientTls tls = files_->client_tls();
  tls.cert_file = (files_->dir() / "other-client.crt").string();
  tls.key_file = (files_->dir() / "other-client.key").string();
  TlsClient client(server_->port(), tls);
  auto res = client.request(verb::get, "/healthz", "", "");
  EXPECT_FALSE(res) << "served HTTP " << res->status;
}

}  // namespace
}  // namespace revrouter::server::testing
