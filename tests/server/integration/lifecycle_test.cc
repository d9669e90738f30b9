// Lifecycle under traffic: serving-certificate rotation (a Secret volume update) and SIGTERM drain
// each with zero failed requests; routing-table reloads by SIGHUP and by file change, keeping the
// last good table on a bad file; start-up failures; --dev.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using boost::beast::http::verb;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr const char* kInjectPath = "/inject/ns-injection/enabled?timeout=10s";

// Polls `condition` every 20 ms for at most `timeout`.
template <class F>
bool eventually(F&& condition, milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return condition();
}

// Clients sending reviews in a loop, like an apiserver under load, each on its own keep-alive
// connection; a client with `reconnect_every` > 0 opens a new connection that often. Every
// answer is checked as the apiserver would check it.
class Traffic {
 public:
  Traffic(const ServerProcess& server, std::vector<int> reconnect_every) {
    for (std::size_t i = 0; i < reconnect_every.size(); ++i) {
      workers_.push_back(std::make_unique<Worker>());
      Worker* w = workers_.back().get();
      const int every = reconnect_every[i];
      w->thread = std::thread([this, w, every, &server, i] {
        auto client = std::make_unique<TlsClient>(server.port(), server.client_tls());
        int since_connect = 0;
        for (int n = 0; !stop_.load(); ++n) {
          if (every > 0 && ++since_connect > every) {
            client = std::make_unique<TlsClient>(server.port(), server.client_tls());
            since_connect = 1;
          }
          const auto request = pod_review("traffic-" + std::to_string(i) + "-" + std::to_string(n));
          auto res = client->review(kInjectPath, request.dump());
          Answer answer;
          if (!res) {
            fail("request " + std::to_string(n) + ": " + res.error().message);
          } else if (auto ok = check_answer(*res, request, answer); !ok || !answer.patched) {
            fail("request " + std::to_string(n) + ": " + (ok ? "not patched" : ok.message()));
          }
          ++w->requests;
        }
        w->connects = client->connects();
        w->client = std::move(client);  // left open: idle keep-alive connections
      });
    }
  }
  ~Traffic() { stop(); }

  // Waits until every client has sent `n` more requests than when called.
  bool advance(int n, milliseconds timeout = std::chrono::seconds(20)) {
    std::vector<long> start;
    for (auto& w : workers_) start.push_back(w->requests.load());
    return eventually(
        [&] {
          for (std::size_t i = 0; i < workers_.size(); ++i) {
            if (workers_[i]->requests.load() < start[i] + n) return false;
          }
          return true;
        },
        timeout);
  }
  void stop() {
    stop_ = true;
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
  }
  long requests() const {
    long total = 0;
    for (auto& w : workers_) total += w->requests.load();
    return total;
  }
  int failures() const { return failures_.load(); }
  std::string first_errors() {
    std::lock_guard lock(mutex_);
    return errors_;
  }
  int connects(std::size_t i) const { return workers_[i]->connects; }
  TlsClient& client(std::size_t i) { return *workers_[i]->client; }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<long> requests{0};
    int connects = 0;
    std::unique_ptr<TlsClient> client;
  };
  void fail(const std::string& why) {
    ++failures_;
    std::lock_guard lock(mutex_);
    if (errors_.size() < 2000) errors_ += why + "\n";
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::mutex mutex_;
  std::string errors_;
};

TEST(LifecycleTest, CertificateRotationUnderTrafficFailsNoRequest) {
  ServerFiles files;
  ServerProcess server(files);
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string old_cert = read_text(files.cert_file());

  // Client 0 keeps one connection throughout; client 1 reconnects every 5 requests.
  Traffic traffic(server, {0, 5});
  ASSERT_TRUE(traffic.advance(20));
  const std::string new_cert = files.rotate_serving_cert();
  ASSERT_NE(new_cert, old_cert);

  // New handshakes get the new certificate once the server notices the swap.
  EXPECT_TRUE(eventually([&] {
    TlsClient probe = server.client();
    return probe.connect() && probe.peer_certificate() == new_cert;
  })) << server.log();
  ASSERT_TRUE(traffic.advance(20));
  traffic.stop();

  EXPECT_EQ(traffic.failures(), 0) << traffic.first_errors();
  EXPECT_EQ(traffic.connects(0), 1);  // the connection made before the rotation kept working
  EXPECT_EQ(traffic.client(0).peer_certificate(), old_cert);
  EXPECT_EQ(traffic.client(1).peer_certificate(), new_cert);
  const std::string metrics = server.metrics();
  EXPECT_EQ(metric_value(metrics, R"(revrouter_cert_reloads_total{result="ok"})"), 1) << metrics;
  EXPECT_EQ(metric_value(metrics, R"(revrouter_cert_reloads_total{result="failed"})"), 0);
}

TEST(LifecycleTest, BadCertificateUpdateKeepsTheLastGoodOne) {
  ServerFiles files;
  ServerProcess server(files);
  ASSERT_TRUE(server.wait_ready()) << server.log();
  const std::string old_cert = read_text(files.cert_file());
  // A key that does not belong to the certificate.
  const PemPair a = files.pki().serving(), b = files.pki().serving();
  write_text(files.cert_file(), a.cert);
  write_text(files.key_file(), b.key);
  EXPECT_TRUE(eventually([&] {
    return metric_value(server.metrics(), R"(revrouter_cert_reloads_total{result="failed"})") >= 1;
  })) << server.log();
  TlsClient client = server.client();
  ASSERT_TRUE(client.connect());
  EXPECT_EQ(client.peer_certificate(), old_cert);
  EXPECT_NE(server.log().find("does not match certificate"), std::string::npos);
}

TEST(LifecycleTest, SigtermDrainsUnderTrafficFailsNoRequest) {
  ServerFiles files;
  ServerProcess server(files, {"--drain-period", "4s", "--shutdown-timeout", "10s"});
  ASSERT_TRUE(server.wait_ready()) << server.log();

  Traffic traffic(server, {0, 0, 7});
  ASSERT_TRUE(traffic.advance(10));
  server.signal(SIGTERM);

  // /readyz turns false at once, while requests keep being served: that is the drain period,
  // during which the apiserver's endpoints stop pointing here.
  EXPECT_TRUE(eventually([&] {
    auto r = plain_get(server.health_port(), "/readyz");
    return r && r->status == 503;
  }));
  EXPECT_EQ(metric_value(server.metrics(), "revrouter_draining"), 1);
  ASSERT_TRUE(traffic.advance(10));
  {
    TlsClient fresh = server.client();  // new connections are still accepted while draining
    const auto request = pod_review("during-drain");
    auto res = fresh.review(kInjectPath, request.dump());
    ASSERT_TRUE(res) << res.error().message;
    Answer answer;
    EXPECT_TRUE(check_answer(*res, request, answer));
  }
  // Endpoints removed: traffic stops, leaving idle keep-alive connections for the server to close.
  traffic.stop();
  EXPECT_EQ(traffic.failures(), 0) << traffic.first_errors();

  const auto exit_code = server.wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << "still running after the drain period\n" << server.log();
  EXPECT_EQ(*exit_code, 0) << server.log();
  EXPECT_TRUE(traffic.client(0).wait_closed_by_server());
  TlsClient after = server.client();
  EXPECT_FALSE(after.connect());
  const std::string log = server.log();
  EXPECT_NE(log.find("draining"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos) << log;
  // Every connection was closed by the server itself, none left for the shutdown timeout.
  EXPECT_EQ(log.find("shutdown timeout"), std::string::npos) << log;
}

// What revision the server routes the default tag to now.
std::string default_revision(const ServerProcess& server) {
  TlsClient client = server.client();
  const auto request = pod_review("which-revision");
  auto res = client.review(kInjectPath, request.dump());
  if (!res) return "error: " + res.error().message;
  Answer answer;
  if (!check_answer(*res, request, answer)) return "bad answer";
  return answer.review["response"]["auditAnnotations"].value("revision", "");
}

TEST(LifecycleTest, SighupReloadsTheTableAndKeepsTheLastGoodOnABadFile) {
  ServerFiles files;
  ServerProcess server(files, {"--watch-interval", "1h"});  // SIGHUP only
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_EQ(default_revision(server), "rev-a");

  files.write_config(test_routing_config("rev-b"));
  server.signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return metric_value(server.metrics(), R"(revrouter_config_reloads_total{result="ok"})") == 1;
  })) << server.log();
  EXPECT_EQ(default_revision(server), "rev-b");
  EXPECT_EQ(metric_value(server.metrics(), "revrouter_config_generation"), 2);

  files.write_config("revisions: [this is not a routing table\n");
  server.signal(SIGHUP);
  EXPECT_TRUE(eventually([&] {
    return metric_value(server.metrics(), R"(revrouter_config_reloads_total{result="failed"})") ==
           1;
  })) << server.log();
  EXPECT_EQ(default_revision(server), "rev-b");
  EXPECT_EQ(metric_value(server.metrics(), "revrouter_ready"), 1);
  EXPECT_NE(server.log().find("keeping the last good table"), std::string::npos);
}

TEST(LifecycleTest, ConfigFileChangeReloadsTheTable) {
  ServerFiles files;
  ServerProcess server(files);  // watches every 100 ms
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_EQ(default_revision(server), "rev-a");
  files.write_config(test_routing_config("rev-b"));
  EXPECT_TRUE(eventually([&] { return default_revision(server) == "rev-b"; })) << server.log();
  EXPECT_EQ(metric_value(server.metrics(), R"(revrouter_config_reloads_total{result="ok"})"), 1);
}

struct StartupRow {
  const char* name;
  std::function<std::vector<std::string>(ServerFiles&)> args;
  const char* message;  // in the server's output
};

class StartupFailureTest : public ::testing::TestWithParam<StartupRow> {};

TEST_P(StartupFailureTest, ExitsNonZeroWithAMessage) {
  ServerFiles files;
  ServerProcess server(files, GetParam().args(files));
  const auto exit_code = server.wait_exit(std::chrono::seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << server.log();
  EXPECT_NE(*exit_code, 0);
  EXPECT_NE(server.log().find(GetParam().message), std::string::npos) << server.log();
}

INSTANTIATE_TEST_SUITE_P(
    Rows, StartupFailureTest,
    ::testing::Values(
        StartupRow{"BadRoutingTable",
                   [](ServerFiles& f) {
                     f.write_config("mode: istio\nrevisions: {}\ntags:\n  default: nowhere\n");
                     return std::vector<std::string>{};
                   },
                   "routing.yaml"},
        StartupRow{
            "MissingCertificate",
            [](ServerFiles& f) {
              return std::vector<std::string>{"--tls-cert", (f.dir() / "missing.crt").string()};
            },
            "cannot read certificate file"},
        StartupRow{"KeyOfAnotherCertificate",
                   [](ServerFiles& f) {
                     write_text(f.dir() / "other.key", f.pki().serving().key);
                     return std::vector<std::string>{"--tls-key", (f.dir() / "other.key").string()};
                   },
                   "does not match certificate"},
        StartupRow{"UnusableListenAddress",
                   [](ServerFiles&) {
                     return std::vector<std::string>{"--listen", "localhost:99999"};
                   },
                   "invalid listen address"},
        StartupRow{"BadDurationFlag",
                   [](ServerFiles&) {
                     return std::vector<std::string>{"--drain-period", "five seconds"};
                   },
                   "--drain-period"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(LifecycleTest, DevModeServesTheEmbeddedExampleWithGeneratedCerts) {
  ServerFiles files;  // only for its temporary directory
  const auto dev_dir = files.dir() / "dev";
  ServerProcess server(files, {"--dev", "--dev-dir", dev_dir.string()}, ServerProcess::Mode::kBare);
  ASSERT_TRUE(server.wait_ready()) << server.log();
  EXPECT_NE(server.log().find((dev_dir / "ca.crt").string()), std::string::npos) << server.log();

  ClientTls tls;
  tls.ca_file = (dev_dir / "ca.crt").string();
  TlsClient client(server.port(), tls);
  const auto request = pod_review("dev-mode");
  auto res = client.review(kInjectPath, request.dump());
  ASSERT_TRUE(res) << res.error().message;
  Answer answer;
  ASSERT_TRUE(check_answer(*res, request, answer));
  EXPECT_TRUE(has_container(answer.patched_pod, "istio-proxy"));
}

}  // namespace
}  // namespace revrouter::server::testing
