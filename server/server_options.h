// Everything `revrouter serve` can be told: addresses, TLS files, limits and timeouts (each a
// named setting; every trip is counted in revrouter_limit_trips_total) and lifecycle periods.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "server/tls_context.h"

namespace revrouter::server {

using Duration = std::chrono::nanoseconds;

struct ServerLimits {
  std::size_t max_body_bytes = 6 * 1024 * 1024;  // istiod's limit; over it: 413
  std::size_t max_header_bytes = 16 * 1024;      // request line + headers; over it: 431
  std::size_t max_connections = 1024;            // open TLS connections; more are refused
  Duration handshake_timeout = std::chrono::seconds(10);
  // A keep-alive connection may sit idle this long. Longer than the 90 s the API server's Go
  // client keeps idle connections, so the client, not us, closes them: a server-side close can
  // race a request the client is sending and fail it.
  Duration idle_timeout = std::chrono::seconds(120);
  Duration header_timeout = std::chrono::seconds(10);  // first byte to end of headers (slowloris)
  Duration body_timeout = std::chrono::seconds(10);    // end of headers to end of body
  Duration write_timeout = std::chrono::seconds(10);   // a response (or TLS close) being sent
  // Used when a request has no ?timeout= (the API server's default webhook timeout).
  Duration default_request_timeout = std::chrono::seconds(10);
  // Subtracted from ?timeout= so the answer arrives before the API server gives up.
  Duration timeout_margin = std::chrono::milliseconds(200);
};

struct ServerOptions {
  std::string listen = "0.0.0.0:15017";  // HTTPS: webhook, health and metrics
  std::string health_listen;             // plain HTTP: /healthz, /readyz, /metrics; empty: off
  std::string port_file;  // written once listening: the HTTPS port, then the health port if any
  TlsFiles tls;
  unsigned threads = 0;  // I/O threads, one io_context each; 0: one per core
  ServerLimits limits;
  Duration drain_period = std::chrono::seconds(5);       // after SIGTERM: serve, /readyz false
  Duration shutdown_timeout = std::chrono::seconds(15);  // then: bound on finishing in-flight work
  Duration watch_interval = std::chrono::seconds(1);  // how often config and cert files are checked
};

}  // namespace revrouter::server
