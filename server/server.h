// The webhook server's lifecycle: loads the routing table and the serving certificate, listens,
// runs one io_context per I/O thread, reloads the table (SIGHUP, file change) and the certificate
// (file change) without a restart, and drains on SIGTERM: /readyz turns false while it keeps
// serving for the drain period, then it stops accepting and finishes what is in flight.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admission/result.h"
#include "admission/routing_config.h"
#include "server/config_store.h"
#include "server/file_watch.h"
#include "server/listener.h"
#include "server/metrics.h"
#include "server/server_context.h"
#include "server/server_options.h"
#include "server/tls_context.h"

namespace revrouter::server {

// Where the routing table comes from.
struct ConfigSource {
  std::string name;  // for logs: the file, or "embedded example"
  std::function<Result<RoutingTable>()> load;
  // Reloaded when this file or any local revision's template changes; empty: SIGHUP only.
  std::string watch_file;
};

class Server {
 public:
  Server(ServerOptions options, ConfigSource config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the table and the certificate, binds the listeners and writes the port file. An error
  // here is a start-up failure (exit non-zero).
  Status start();
  // Serves until shut down (SIGTERM, SIGINT, or shutdown()); handles SIGHUP. Returns the exit
  // code.
  int run();
  // As SIGTERM; callable from any thread.
  void shutdown();

  std::uint16_t port() const;
  std::uint16_t health_port() const;
  Metrics& metrics() { return *metrics_; }

 private:
  void on_signal(const boost::system::error_code& ec, int signo);
  void schedule_watch();
  void on_watch();
  bool reload_config(std::string_view why);
  bool publish_reloaded(RoutingTable table, UpstreamStates upstreams, std::string_view why);
  void schedule_probes();
  bool reload_tls(bool log_failure);
  void begin_drain();
  void begin_stop();
  void wait_for_connections();
  void finish();
  std::vector<std::string> config_watch_paths(const RoutingTable& table) const;

  ServerOptions options_;
  ConfigSource config_source_;
  std::unique_ptr<Metrics> metrics_;
  ConfigStore config_;
  TlsContextStore tls_;
  std::unique_ptr<ServerShared> shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::shared_ptr<Listener>> listeners_;
  std::vector<std::thread> threads_;

  // The control thread (the caller of run()): signals, file watching, lifecycle. Reloads block it,
  // never an I/O thread.
  boost::asio::io_context control_{1};
  boost::asio::signal_set signals_{control_};
  boost::asio::steady_timer watch_timer_{control_};
  boost::asio::steady_timer drain_timer_{control_};
  boost::asio::steady_timer probe_timer_{control_};
  std::size_t next_probe_worker_ = 0;
  FileSetWatch config_watch_;
  FileSetWatch tls_watch_;
  bool tls_failing_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  bool stop_begun_ = false;
};

}  // namespace revrouter::server
