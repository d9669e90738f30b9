// End to end: the real `revrouter serve --dev` (generated certificates, the embedded example
// config) on 127.0.0.1 with a port it picks, and the real `revrouter loadtest` against it, checked
// through its exit code and --output json. Counts only: no timing assertions.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/replay_test_util.h"

extern char** environ;

namespace revrouter::loadtest {
namespace {

using ojson = nlohmann::ordered_json;
using replay::testing::read_file;
using replay::testing::TempDir;

const std::string kData = std::string(REVROUTER_TEST_DATA) + "/data";

// `revrouter serve --dev` in a temporary directory, its port read from --port-file; killed in the
// destructor.
class DevServer {
 public:
  DevServer() {
    const std::string port_file = (tmp_.path() / "port").string();
    log_file_ = (tmp_.path() / "serve.log").string();
    std::vector<std::string> args = {REVROUTER_BINARY,
                                     "serve",
                                     "--dev",
                                     "--dev-dir",
                                     dev_dir(),
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
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);

    // Bounded wait for the port file, written once the listener is bound.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pid_ > 0 && port_.empty() && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::ifstream in(port_file);
      unsigned port = 0;
      if (in >> port && port != 0) port_ = std::to_string(port);
      if (port_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~DevServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  DevServer(const DevServer&) = delete;
  DevServer& operator=(const DevServer&) = delete;

  bool up() const { return !port_.empty(); }
  std::string url() const { return "https://127.0.0.1:" + port_; }
  std::string ca_file() const { return dev_dir() + "/ca.crt"; }
  std::string log() const { return read_file(log_file_); }

 private:
  std::string dev_dir() const { return (tmp_.path() / "dev").string(); }

  TempDir tmp_;
  pid_t pid_ = -1;
  std::string port_;
  std::string log_file_;
};

struct Ran {
  int exit_code = -1;
  std::string out, err;
  ojson json;  // stdout parsed, when it is JSON
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

class LoadtestLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new DevServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->up()) << "revrouter serve --dev did not start:\n" << server_->log();
  }

  // `revrouter loadtest --url <server> --ca <its CA> --server-name <the Service name> args...`
  static Ran loadtest(const std::vector<std::string>& args, bool verified = true) {
    TempDir tmp;
    const auto out = tmp.path() / "stdout";
    const auto err = tmp.path() / "stderr";
    std::string cmd = quote(REVROUTER_BINARY) + " loadtest --url " + quote(server_->url());
    if (verified) {
      cmd += " --ca " + quote(server_->ca_file()) + " --server-name revrouter.istio-system.svc";
    }
    for (const auto& a : args) cmd += " " + quote(a);
    cmd += " </dev/null >" + quote(out.string()) + " 2>" + quote(err.string());
    const int status = std::system(cmd.c_str());
    Ran r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(out.string());
    r.err = read_file(err.string());
    r.json = ojson::parse(r.out, nullptr, false);
    return r;
  }

  static DevServer* server_;
};
DevServer* LoadtestLive::server_ = nullptr;

// Every request answered, once, without an error: the figures a run must add up to.
void expect_clean(const Ran& r, std::uint64_t count) {
  ASSERT_FALSE(r.json.is_discarded()) << r.out << r.err;
  EXPECT_EQ(r.json["requests"]["issued"], count) << r.out;
  EXPECT_EQ(r.json["requests"]["completed"], count) << r.out;
  EXPECT_EQ(r.json["requests"]["ok"], count) << r.out;
  EXPECT_EQ(r.json["requests"]["errors"], 0) << r.out;
  for (const auto& [cls, n] : r.json["errors"].items()) EXPECT_EQ(n, 0) << cls;
  EXPECT_EQ(r.json["latencyMs"]["answers"], count);
  EXPECT_GT(r.json["latencyMs"]["p50"].get<double>(), 0.0);
  EXPECT_FALSE(r.json["hitDeadline"].get<bool>());
}

TEST_F(LoadtestLive, ClosedLoopCountsEveryRequestWithoutErrors) {
  const Ran r = loadtest({"-n", "300", "-c", "4", "--output", "json", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out << server_->log();
  expect_clean(r, 300);
  EXPECT_EQ(r.json["mode"], "closed-loop");
  EXPECT_EQ(r.json["connections"], 4);
  EXPECT_EQ(r.err, "");  // --quiet: no progress line
}

TEST_F(LoadtestLive, OpenLoopOnTwoThreadsCountsEveryRequestWithoutErrors) {
  const Ran r = loadtest(
      {"--rate", "1000", "-n", "300", "-c", "4", "--threads", "2", "--output", "json", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out << server_->log();
  expect_clean(r, 300);
  EXPECT_EQ(r.json["mode"], "open-loop");
  EXPECT_EQ(r.json["threads"], 2);
}

// Busy polling: the schedule is kept by reading the clock between polls instead of a timer.
TEST_F(LoadtestLive, OpenLoopBusyPollingCountsEveryRequestWithoutErrors) {
  const Ran r = loadtest({"--rate", "2000", "-n", "300", "-c", "4", "--threads", "2", "--busy-poll",
                          "--output", "json", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out << server_->log();
  expect_clean(r, 300);
  EXPECT_EQ(r.json["mode"], "open-loop");
  EXPECT_EQ(r.json["busyPoll"], true);
}

TEST_F(LoadtestLive, RecordedReviewsWithFreshUids) {
  const Ran r = loadtest({"-n", "70", "-c", "2", "--output", "json", "-q", kData + "/recorded"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out << server_->log();
  expect_clean(r, 70);
  EXPECT_EQ(r.json["bodies"], 7);
}

TEST_F(LoadtestLive, TextReportAndProgressLine) {
  // 400 requests due over 2 s: the run is still going when the first progress line is due.
  const Ran r = loadtest({"--rate", "200", "-n", "400", "-c", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Requests:  400 in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(": 400 ok, 0 errors\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Errors:    none\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find(" requests "), std::string::npos) << r.err;  // stderr is not a tty here
  EXPECT_NE(r.err.find(" req/s  p99 "), std::string::npos) << r.err;
}

TEST_F(LoadtestLive, HttpErrorsAreCountedByStatus) {
  const Ran r = loadtest({"--path", "/nope", "-n", "12", "--output", "json", "-q"});
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  ASSERT_FALSE(r.json.is_discarded()) << r.out << r.err;
  EXPECT_EQ(r.json["requests"]["completed"], 12);
  EXPECT_EQ(r.json["errors"]["http_status"], 12);
  EXPECT_EQ(r.json["httpStatusErrors"], ojson::parse(R"({"404":12})"));
  EXPECT_NE(r.json["errorSamples"]["http_status"].get<std::string>().find("HTTP 404"),
            std::string::npos);
}

TEST_F(LoadtestLive, AnUnverifiedServerStopsTheRun) {
  // No --ca: the system trust store does not know the dev CA.
  const Ran r = loadtest({"-n", "5", "-q"}, /*verified=*/false);
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("opening 8 connections: TLS handshake with 127.0.0.1:"), std::string::npos)
      << r.err;
}

TEST_F(LoadtestLive, UsageErrorsExitTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--duration", "soon"},
           {"--output", "yaml"},
           {"--connections", "0"},
           {kData + "/bad/mixed.jsonl"},
       }) {
    const Ran r = loadtest(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err << r.out;
    EXPECT_NE(r.err.find("revrouter loadtest: "), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace revrouter::loadtest
