// Runs the real `revrouter serve` binary (REVROUTER_BINARY) for integration tests: certificates
// and a routing table in a temporary directory, the server on 127.0.0.1 with a free port reported
// through --port-file, waited on until /readyz answers, killed in the destructor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/server/support/test_client.h"
#include "tests/server/support/test_pki.h"

namespace revrouter::server::testing {

// A test's working set: PKI, TLS files in a Secret-like volume, config + template in a
// ConfigMap-like volume.
class ServerFiles {
 public:
  ServerFiles();
  const TempDir& dir() const { return dir_; }
  TestPki& pki() { return pki_; }
  std::string ca_file() const { return (dir_ / "ca.crt").string(); }
  std::string cert_file() const { return secret_.file("tls.crt").string(); }
  std::string key_file() const { return secret_.file("tls.key").string(); }
  std::string config_file() const { return config_.file("routing.yaml").string(); }
  std::string client_cert_file() const { return (dir_ / "client.crt").string(); }
  std::string client_key_file() const { return (dir_ / "client.key").string(); }

  // Replaces the serving pair (atomically, as a Secret update does); returns the new cert PEM.
  std::string rotate_serving_cert();
  // Replaces the routing table text (the template stays).
  void write_config(const std::string& yaml);

  ClientTls client_tls() const;  // verifies against ca.crt and the Service name

 private:
  TempDir dir_;
  TestPki pki_;
  ProjectedVolume secret_;
  ProjectedVolume config_;
  std::string template_text_;
};

// The routing table the tests serve: two local revisions (rev-a, rev-b), tag `default` -> rev-a
// unless `default_revision` says otherwise.
std::string test_routing_config(const std::string& default_revision = "rev-a");

class ServerProcess {
 public:
  enum class Mode {
    kFiles,  // --config, --tls-cert and --tls-key from `files`
    kBare,   // only the listen, port-file, threads and log flags: extra_args say the rest
  };
  // Starts `revrouter serve` with `extra_args` (which override the defaults).
  ServerProcess(ServerFiles& files, std::vector<std::string> extra_args = {},
                Mode mode = Mode::kFiles);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits (bounded) for the port file and for /readyz (health port) to answer 200; false on
  // timeout or exit.
  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void signal(int signo);
  // The exit code once the process ends within `timeout`; -1 if killed by a signal; nullopt on
  // timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::uint16_t health_port() const { return health_port_; }
  std::string log() const;       // the server's stderr and stdout so far
  std::string metrics() const;   // GET /metrics on the health port ("" on failure)
  TlsClient client() const;      // a verifying client for this server
  ClientTls client_tls() const;  // its settings

 private:
  ServerFiles& files_;
  std::filesystem::path port_file_, log_file_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::uint16_t port_ = 0, health_port_ = 0;
};

}  // namespace revrouter::server::testing
