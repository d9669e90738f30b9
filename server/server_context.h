// What the connections of one server share (options, metrics, the routing table and TLS stores,
// lifecycle flags), and what each I/O thread owns: its io_context, its request scratch buffers, its
// metrics shard and the list of its sessions.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <cstdint>

#include "admission/handler.h"
#include "server/config_store.h"
#include "server/metrics.h"
#include "server/server_options.h"
#include "server/tls_context.h"
#include "server/upstream.h"

namespace revrouter::server {

struct ServerShared {
  ServerShared(const ServerOptions& o, Metrics& m, ConfigStore& c, TlsContextStore& t)
      : options(o), metrics(m), config(c), tls(t) {}

  const ServerOptions& options;
  Metrics& metrics;
  ConfigStore& config;
  TlsContextStore& tls;
  std::atomic<bool> draining{false};  // SIGTERM seen: /readyz answers 503, requests still served
  std::atomic<bool> stopping{false};  // drain over: connections close after their current request
  std::atomic<std::uint64_t> open_connections{0};         // HTTPS port
  std::atomic<std::uint64_t> open_health_connections{0};  // plain health port

  // Ready: not draining, table and certificate loaded, and some route works (not every revision
  // a proxy whose breaker is open).
  bool ready() const;
  ServerGauges gauges() const;
};

// A connection, as its I/O thread's shutdown sweep sees it. Linked into its Worker's list while it
// lives; only that worker's thread touches the list.
class SessionBase : public boost::intrusive::list_base_hook<
                        boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual ~SessionBase() = default;
  // The server stopped accepting: close now if idle, else after the current response.
  virtual void on_server_stop() = 0;
};
using SessionList =
    boost::intrusive::list<SessionBase, boost::intrusive::constant_time_size<false>>;

class Worker {
 public:
  Worker(std::size_t index, ServerShared& shared)
      : index(index), shared(shared), metrics(shared.metrics.shard(index)), config(shared.config) {
    upstream_pool = std::make_unique<UpstreamPool>(ioc);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Closes idle sessions and marks the rest to close after their response; run on this thread.
  void stop_sessions() {
    for (SessionBase& s : sessions) s.on_server_stop();
  }

  const std::size_t index;
  ServerShared& shared;
  MetricsShard& metrics;
  ConfigView config;
  RequestScratch scratch;
  std::string reparse;  // a pristine copy of a request being handled again (a proxy's fallback)
  std::size_t shadows_in_flight = 0;
  SessionList sessions;
  // Declared last so it is destroyed first: destroying it destroys the sessions its pending
  // handlers own, and they unlink themselves from `sessions`.
  boost::asio::io_context ioc{1};
  // Connections to istiod upstreams. Declared after ioc so it is destroyed before it: its sockets
  // and timers must not outlive their io_context.
  std::unique_ptr<UpstreamPool> upstream_pool;
};

}  // namespace revrouter::server
