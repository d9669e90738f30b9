// The HTTPS client revrouter forwards AdmissionReviews with: one Upstream per istiod injector (its
// TLS settings, verified against the configured CA and DNS name, and a TLS session cache so new
// connections resume instead of doing a full handshake), and one UpstreamPool per I/O thread that
// keeps idle keep-alive connections and runs every request on that thread's io_context.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/result.h"
#include "admission/routing_config.h"

namespace revrouter::server {

using UpstreamClock = std::chrono::steady_clock;

// Why a call failed; each is a metrics label (upstream_error_name).
enum class UpstreamError : std::uint8_t {
  kNone,
  kConnect,   // resolve or TCP connect failed (refused, unreachable, no address)
  kTls,       // handshake failed: certificate not from the CA, wrong name, protocol error
  kTimeout,   // the deadline passed before a whole response arrived
  kStatus,    // a whole response with an HTTP status other than 200
  kProtocol,  // not HTTP, a body over the limit, or the connection closed mid-response
  kCancelled, // the pool was shut down
};
std::string_view upstream_error_name(UpstreamError e);  // "connect", "tls", "timeout", ...

struct UpstreamReply {
  UpstreamError error = UpstreamError::kNone;
  int status = 0;        // HTTP status when a response head was read
  std::string body;      // the response body (kNone and kStatus)
  // Specific and short, for logs and the failure answer: "connect 127.0.0.1:9443: Connection
  // refused", "TLS handshake with istiod-x.istio-system.svc: certificate verify failed",
  // "no response within 812 ms", "HTTP 500: <first 200 bytes of the body>".
  std::string message;
  bool reused_connection = false;  // sent on a pooled keep-alive connection
};

// Counters of one upstream, read by /metrics and the debug endpoint.
struct UpstreamCounters {
  std::atomic<std::uint64_t> handshakes{0};          // completed TLS handshakes
  std::atomic<std::uint64_t> resumed_handshakes{0};  // of which resumed a cached session
  std::atomic<std::uint64_t> connections_opened{0};
  std::atomic<std::uint64_t> requests{0};            // calls made (post())
};

// One injector endpoint. Immutable after create() except for the session cache and counters;
// shared by every I/O thread. Created off the request path (at config load).
class Upstream {
 public:
  // Builds the TLS client context: TLS 1.2+, verify peer against config.ca_pem, check the
  // certificate's DNS name (or IP) against config.server_name, SNI = server_name unless it is an
  // IP literal, ALPN http/1.1. Errors (code "upstream_config") name the file and line:
  // "<config file>:<ca_line>: caFile <path>: <OpenSSL's reason>".
  static Result<std::shared_ptr<Upstream>> create(const UpstreamConfig& config,
                                                  std::string_view config_file);

  const UpstreamConfig& config() const { return config_; }
  // True when both were created from equal settings (url, serverName, CA contents): a reload
  // keeps the existing Upstream, its pooled connections and its session cache.
  bool same_settings(const UpstreamConfig& other) const;

  boost::asio::ssl::context& ssl_context() { return *ssl_; }
  UpstreamCounters& counters() { return counters_; }

  // The TLS session to offer on the next new connection (nullptr when none yet), and the one a
  // finished handshake produced. Thread-safe.
  // (Implementation detail of the pool; SSL_SESSION reference counting is handled inside.)
  void* take_session_for_new_connection();
  void store_session(void* ssl_session);

  ~Upstream();

 private:
  Upstream(UpstreamConfig config, std::unique_ptr<boost::asio::ssl::context> ssl);
  UpstreamConfig config_;
  std::unique_ptr<boost::asio::ssl::context> ssl_;
  UpstreamCounters counters_;
  std::mutex session_mutex_;
  void* session_ = nullptr;  // SSL_SESSION*, one reference owned
};

struct UpstreamPoolOptions {
  std::size_t max_idle_per_upstream = 32;       // idle keep-alive connections kept per upstream
  std::chrono::milliseconds idle_timeout{30000};  // an idle pooled connection is closed after it
  std::size_t max_response_bytes = 16 * 1024 * 1024;
};

// The connections of one I/O thread. Not thread-safe: use only on `ioc`'s thread.
class UpstreamPool {
 public:
  using Callback = std::function<void(UpstreamReply&&)>;

  UpstreamPool(boost::asio::io_context& ioc, UpstreamPoolOptions options = {});
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // POSTs `body` (Content-Type: application/json) to `target` (path and query) on `upstream`.
  // Takes an idle pooled connection when there is one (a connection that turns out closed by the
  // peer before any response byte is retried once on a new connection), else connects, resolving
  // the host asynchronously unless it is an IP literal. `body` and `target` must stay alive until
  // `done` runs. `done` runs exactly once, on `ioc`'s thread, never inside post() itself, and no
  // later than `deadline` (plus scheduling): at the deadline the call is abandoned, its connection
  // closed, and kTimeout reported. On success the connection returns to the pool when the
  // response allows keep-alive.
  void post(const std::shared_ptr<Upstream>& upstream, std::string_view target,
            std::string_view body, UpstreamClock::time_point deadline, Callback done);

  // Closes idle connections and fails calls in flight with kCancelled (their callbacks still run,
  // asynchronously). Later post() calls fail with kCancelled.
  void shutdown();

  std::size_t idle_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace revrouter::server
