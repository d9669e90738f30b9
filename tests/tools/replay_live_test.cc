// Live mode against the real server: `revrouter serve --dev` (generated certificates, the embedded
// config/example.yaml) on 127.0.0.1, then the HTTPS client and `revrouter replay --url` against
// it. Live answers must equal the offline ones: same code path, same table.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "certs/cert_set.h"
#include "tests/tools/replay_test_util.h"
#include "tools/https_client.h"

extern char** environ;

namespace revrouter::replay {
namespace {

using testing::ojson;
using tools::HttpsClient;
using tools::HttpsClientOptions;
using tools::parse_https_url;

const std::string kData = std::string(REVROUTER_TEST_DATA) + "/data";
const std::string kConfig = std::string(REVROUTER_SOURCE_DIR) + "/config/example.yaml";

// ---- URLs
// ----------------------------------------------------------------------------------------

TEST(HttpsUrl, Parse) {
  struct Case {
    const char* url;
    const char* host;  // nullptr: an error
    const char* port;
    const char* path;
  };
  for (const auto& c : std::vector<Case>{
           {"https://127.0.0.1:8443", "127.0.0.1", "8443", ""},
           {"https://revrouter.istio-system.svc/inject/cluster/c1", "revrouter.istio-system.svc",
            "443", "/inject/cluster/c1"},
           {"https://[::1]:15017/inject", "::1", "15017", "/inject"},
           {"https://localhost:1/", "localhost", "1", "/"},
           {"http://127.0.0.1:8443", nullptr, nullptr, nullptr},
           {"127.0.0.1:8443", nullptr, nullptr, nullptr},
           {"https://:8443", nullptr, nullptr, nullptr},
           {"https://host:port", nullptr, nullptr, nullptr},
           {"https://[::1:8443", nullptr, nullptr, nullptr},
           {"https://host/inject?x=1", nullptr, nullptr, nullptr},
           {"https://user@host", nullptr, nullptr, nullptr},
       }) {
    auto got = parse_https_url(c.url);
    if (c.host == nullptr) {
      EXPECT_FALSE(got.ok()) << c.url;
      continue;
    }
    ASSERT_TRUE(got.ok()) << c.url << ": " << got.error().message;
    EXPECT_EQ(got->host, c.host) << c.url;
    EXPECT_EQ(got->port, c.port) << c.url;
    EXPECT_EQ(got->path, c.path) << c.url;
  }
}

TEST(HttpsClient, UnreadableCaIsAnError) {
  HttpsClientOptions options;
  options.url = "https://127.0.0.1:1";
  options.ca_file = kData + "/no-such-ca.crt";
  auto client = HttpsClient::create(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, "tls");
  EXPECT_NE(client.error().message.find("no-such-ca.crt"), std::string::npos);
}

// ---- The real server
// -----------------------------------------------------------------------------

struct Ran {
  int exit_code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Ran run_replay(const testing::TempDir& tmp, const std::vector<std::string>& args) {
  const auto out = tmp.path() / "replay.out";
  const auto err = tmp.path() / "replay.err";
  std::string cmd = quote(REVROUTER_BINARY) + " replay";
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " </dev/null >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  Ran r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::read_file(out.string());
  r.err = testing::read_file(err.string());
  return r;
}

// `revrouter serve --dev` in a temporary directory; killed in the destructor.
class DevServer {
 public:
  DevServer() {
    const std::string port_file = (tmp_.path() / "port").string();
    log_file_ = (tmp_.path() / "serve.log").string();
    std::vector<std::string> args = {REVROUTER_BINARY,
                                     "serve",
                                     "--dev",
                                     "--dev-dir",
                                     (tmp_.path() / "dev").string(),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file,
                                     "--threads",
                                     "1",
                                     "--log-level",
                                     "warn"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;

    // Bounded wait for the port file (written once the listener is bound).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pid_ > 0 && port_.empty() && std::chrono::steady_clock::now() < deadline) {
      if (exited()) break;
      std::ifstream in(port_file);
      unsigned port = 0;
      if (in >> port && port != 0) port_ = std::to_string(port);
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~DevServer() {
    if (pid_ > 0 && !exited()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  DevServer(const DevServer&) = delete;
  DevServer& operator=(const DevServer&) = delete;

  bool up() const { return !port_.empty(); }
  std::string url() const { return "https://127.0.0.1:" + port_; }
  std::string ca_file() const { return (tmp_.path() / "dev" / "ca.crt").string(); }
  std::string log() const { return testing::read_file(log_file_); }
  const testing::TempDir& tmp() const { return tmp_; }

 private:
  bool exited() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  testing::TempDir tmp_;
  pid_t pid_ = -1;
  std::string port_;
  std::string log_file_;
};

class Live : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new DevServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->up()) << "revrouter serve --dev did not start:\n" << server_->log();
  }

  static DevServer* server_;
};
DevServer* Live::server_ = nullptr;

TEST_F(Live, ClientVerifiesTheServerAndKeepsTheConnection) {
  HttpsClientOptions options;
  options.url = server_->url();
  options.ca_file = server_->ca_file();
  options.server_name = "revrouter.istio-system.svc";  // the Service name, as kube-apiserver uses
  auto client = HttpsClient::create(options);
  ASSERT_TRUE(client.ok()) << client.error().message;
  const std::string body =
      testing::review("live-1", "shop", testing::pod("web-", {{"istio.io/rev", "canary"}})).dump();
  for (int i = 0; i < 3; ++i) {  // the second and third requests reuse the connection
    auto res = (*client)->post("/inject", body);
    ASSERT_TRUE(res.ok()) << res.error().message;
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->content_type, "application/json");
    const auto doc = ojson::parse(res->body, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << res->body;
    EXPECT_EQ(doc["response"]["uid"], "live-1");
  }
  // An HTTP-level error comes back as a response, not a transport failure.
  auto bad = (*client)->post("/inject", "not json");
  ASSERT_TRUE(bad.ok()) << bad.error().message;
  EXPECT_EQ(bad->status, 400);
}

TEST_F(Live, ClientRejectsAServerNameTheCertificateDoesNotCarry) {
  HttpsClientOptions options;
  options.url = server_->url();
  options.ca_file = server_->ca_file();
  options.server_name = "istiod.istio-system.svc";
  auto client = HttpsClient::create(options);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto res = (*client)->post("/inject", "{}");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "tls");
  EXPECT_NE(res.error().message.find("istiod.istio-system.svc"), std::string::npos)
      << res.error().message;
}

// A CA of its own, which signed nothing the server presents.
std::string other_ca(const testing::TempDir& dir) {
  certs::CertSetOptions options;
  options.service = "other";
  options.namespace_ = "elsewhere";
  auto set = certs::generate_cert_set(options);
  if (!set) throw std::runtime_error(set.error().message);
  return dir.write("other-ca.crt", set->ca_cert);
}

TEST_F(Live, ClientRejectsAnUntrustedServer) {
  testing::TempDir dir;
  HttpsClientOptions options;
  options.url = server_->url();
  options.ca_file = other_ca(dir);
  auto client = HttpsClient::create(options);
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto res = (*client)->post("/inject", "{}");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code, "tls");
  EXPECT_NE(res.error().message.find("certificate"), std::string::npos) << res.error().message;
}

TEST_F(Live, ReplayAgainstTheServerMatchesOffline) {
  const std::string inputs = kData + "/recorded";
  const Ran live = run_replay(server_->tmp(),
                              {"--url", server_->url(), "--ca", server_->ca_file(), "--server-name",
                               "revrouter.istio-system.svc", "--output", "json", inputs});
  ASSERT_EQ(live.exit_code, 0) << live.err << live.out << server_->log();
  const Ran offline = run_replay(server_->tmp(), {"--config", kConfig, "--output", "json", inputs});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;

  const auto a = ojson::parse(live.out, nullptr, false);
  const auto b = ojson::parse(offline.out, nullptr, false);
  ASSERT_FALSE(a.is_discarded() || b.is_discarded());
  EXPECT_EQ(a["mode"], "live");
  ASSERT_EQ(a["results"].size(), b["results"].size());
  ASSERT_FALSE(a["results"].empty());
  for (std::size_t i = 0; i < a["results"].size(); ++i) {
    const auto& l = a["results"][i];
    const auto& o = b["results"][i];
    EXPECT_EQ(l["source"], o["source"]);
    EXPECT_EQ(l["decision"], o["decision"]) << o["source"];
    EXPECT_EQ(l["revision"], o["revision"]) << o["source"];
    EXPECT_EQ(l["patch"], o["patch"]) << o["source"];
    EXPECT_EQ(l["httpStatus"], 200);
    // Live reasons come from the response's auditAnnotations, which the server writes for every
    // Pod CREATE it decides on; requests it does not look at carry none.
    if (l["reason"].is_null()) {
      EXPECT_EQ(o["reason"], "not-pod-create") << o["source"];
    } else {
      EXPECT_EQ(l["reason"], o["reason"]) << o["source"];
    }
  }
  for (const char* key : {"requests", "inject", "proxy", "skip", "deny", "error"}) {
    EXPECT_EQ(a["summary"][key], b["summary"][key]) << key;
  }
}

TEST_F(Live, ReplayReportsTransportErrorsPerRequest) {
  testing::TempDir dir;
  const Ran r = run_replay(dir, {"--url", server_->url(), "--ca", other_ca(dir),
                                 kData + "/recorded/single-review.json"});
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("error: TLS handshake with 127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 inject, 0 proxy, 0 skip, 0 deny, 1 error"), std::string::npos) << r.out;
}

TEST_F(Live, ReplayDefaultsTheServerNameToTheUrlHost) {
  const Ran r = run_replay(server_->tmp(), {"--url", server_->url(), "--ca", server_->ca_file(),
                                            "--show", "none", kData + "/recorded"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Summary: 7 requests: 4 inject"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace revrouter::replay
