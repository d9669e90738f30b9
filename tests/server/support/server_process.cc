#include "tests/server/support/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace revrouter::server::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// The repo's example sidecar template: what a local revision injects.
std::string example_template() {
  const std::string text = read_text(std::filesystem::path(REVROUTER_SOURCE_DIR) /
                                     "config/templates/example-sidecar.yaml");
  if (text.empty()) throw std::runtime_error("cannot read the example sidecar template");
  return text;
}

}  // namespace

std::string test_routing_config(const std::string& default_revision) {
  return "mode: istio\n"
         "defaultTag: default\n"
         "revisions:\n"
         "  rev-a:\n"
         "    backend: local\n"
         "    template: sidecar.yaml\n"
         "  rev-b:\n"
         "    backend: local\n"
         "    template: sidecar.yaml\n"
         "tags:\n"
         "  default: " +
         default_revision + "\n";
}

ServerFiles::ServerFiles()
    : secret_(dir_ / "secret"), config_(dir_ / "configmap"), template_text_(example_template()) {
  write_text(dir_ / "ca.crt", pki_.ca_pem());
  const PemPair serving = pki_.serving();
  secret_.update({{"tls.crt", serving.cert}, {"tls.key", serving.key}});
  const PemPair client = pki_.client();
  write_text(dir_ / "client.crt", client.cert);
  write_text(dir_ / "client.key", client.key);
  write_config(test_routing_config());
}

std::string ServerFiles::rotate_serving_cert() {
  const PemPair serving = pki_.serving();
  secret_.update({{"tls.crt", serving.cert}, {"tls.key", serving.key}});
  return serving.cert;
}

void ServerFiles::write_config(const std::string& yaml) {
  config_.update({{"routing.yaml", yaml}, {"sidecar.yaml", template_text_}});
}

ClientTls ServerFiles::client_tls() const {
  ClientTls tls;
  tls.ca_file = ca_file();
  return tls;
}

ServerProcess::ServerProcess(ServerFiles& files, std::vector<std::string> extra_args, Mode mode)
    : files_(files),
      port_file_(files.dir() / ("port-" + std::to_string(::getpid()) + "-" +
                                std::to_string(Clock::now().time_since_epoch().count()))),
      log_file_(port_file_.string() + ".log") {
  // Defaults, each dropped when extra_args sets the same flag (CLI11 refuses repeated options).
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"--listen", "127.0.0.1:0"},          {"--health-listen", "127.0.0.1:0"},
      {"--port-file", port_file_.string()}, {"--threads", "2"},
      {"--watch-interval", "100ms"},        {"--log-level", "debug"}};
  if (mode == Mode::kFiles) {
    defaults.insert(defaults.begin(), {{"--config", files.config_file()},
                                       {"--tls-cert", files.cert_file()},
                                       {"--tls-key", files.key_file()}});
  }
  std::vector<std::string> args = {REVROUTER_BINARY, "serve"};
  for (const auto& [flag, value] : defaults) {
    if (std::find(extra_args.begin(), extra_args.end(), flag) != extra_args.end()) continue;
    args.push_back(flag);
    args.push_back(value);
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // fork + exec rather than posix_spawn: the child asks to be killed when the test process dies,
  // so a crashing test leaves no server behind. Only async-signal-safe calls after fork.
  const pid_t parent = ::getpid();
  const std::string log_path = log_file_.string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("cannot fork for " + std::string(REVROUTER_BINARY));
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test process is already gone
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) ::_exit(127);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    // Nothing of the test process may leak into the server: a listening socket of a fake
    // upstream inherited here would keep its port bound after the test closes it.
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

ServerProcess::~ServerProcess() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool ServerProcess::running() {
  if (exit_status_ || pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return false;
  }
  return true;
}

bool ServerProcess::wait_ready(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!running()) return false;
    std::ifstream in(port_file_);
    unsigned port = 0, health = 0;
    if (in >> port >> health) {
      port_ = static_cast<std::uint16_t>(port);
      health_port_ = static_cast<std::uint16_t>(health);
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  if (port_ == 0) return false;
  // Probed on the plain health port, which works whatever TLS settings (mTLS) a test uses.
  while (Clock::now() < deadline) {
    auto r = plain_get(health_port_, "/readyz");
    if (r && r->status == 200) return true;
    if (!running()) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

void ServerProcess::signal(int signo) {
  if (running()) ::kill(pid_, signo);
}

std::optional<int> ServerProcess::wait_exit(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (running()) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return exit_status_;
}

std::string ServerProcess::log() const { return read_text(log_file_); }

std::string ServerProcess::metrics() const {
  auto r = plain_get(health_port_, "/metrics");
  return r && r->status == 200 ? r->body : std::string();
}

TlsClient ServerProcess::client() const { return TlsClient(port_, files_.client_tls()); }

ClientTls ServerProcess::client_tls() const { return files_.client_tls(); }

}  // namespace revrouter::server::testing
