#include "server/upstream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "certs/openssl_handles.h"
#include "certs/pem.h"
#include "server/tls_stream.h"

namespace revrouter::server {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

std::string_view upstream_error_name(UpstreamError e) {
  switch (e) {
    case UpstreamError::kNone:
      return "none";
    case UpstreamError::kConnect:
      return "connect";
    case UpstreamError::kTls:
      return "tls";
    case UpstreamError::kTimeout:
      return "timeout";
    case UpstreamError::kStatus:
      return "status";
    case UpstreamError::kProtocol:
      return "protocol";
    case UpstreamError::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

namespace {

// Everything on the request path is bound to the pool's io_context by its concrete executor type
// (see WorkerSocket in http_session.h): no type-erased executor copies per operation.
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Stream = TlsStream<Socket>;
using Timer = net::basic_waitable_timer<UpstreamClock, net::wait_traits<UpstreamClock>, Executor>;
using Resolver = net::ip::basic_resolver<tcp, Executor>;

// One read asks for at most a TLS record's worth of plaintext.
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kExcerptBytes = 200;

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

bool is_ipv6_literal(const std::string& host) {
  boost::system::error_code ec;
  return net::ip::make_address(host, ec).is_v6() && !ec;
}

// "host:port" ("[::1]:port" for IPv6), for messages.
std::string authority(const UpstreamConfig& c) {
  std::string out;
  if (is_ipv6_literal(c.host)) {
    out.append("[").append(c.host).append("]");
  } else {
    out.append(c.host);
  }
  out.push_back(':');
  append_number(out, c.port);
  return out;
}

// The Host header: the authority without the default port.
std::string host_header(const UpstreamConfig& c) {
  std::string out = authority(c);
  if (c.port == 443) out.resize(out.rfind(':'));
  return out;
}

// A request target is written into the request line as is: refuse anything that could break it.
bool valid_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return false;
  return std::none_of(target.begin(), target.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
  });
}

// The start of an error body, safe for a log line: control and non-ASCII bytes are replaced.
std::string excerpt(std::string_view body) {
  std::string out;
  const std::size_t n = std::min(body.size(), kExcerptBytes);
  out.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : '?');
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > kExcerptBytes) out.append("...");
  if (out.empty()) out = "(empty body)";
  return out;
}

// The index of the SSL_CTX ex_data slot pointing back at the Upstream that owns the context (asio
// keeps its own callbacks in the app-data slots).
int upstream_ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL hands every new client session here: during the handshake for TLS 1.2, and for TLS 1.3
// when a NewSessionTicket arrives after it (while reading the response). Returning 1 keeps the
// reference for the Upstream's cache.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* upstream =
      static_cast<Upstream*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), upstream_ex_index()));
  if (upstream == nullptr) return 0;
  upstream->store_session(session);
  return 1;
}

std::string tls_failure(const UpstreamConfig& config, SSL* ssl, beast::error_code ec) {
  std::string m = "TLS handshake with " + config.server_name + ": ";
  const char* reason = nullptr;
  if (ec.category() == net::error::get_ssl_category()) {
    reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
  }
  m += reason != nullptr ? std::string(reason) : ec.message();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    m += ": ";
    m += X509_verify_cert_error_string(verify);
  }
  return m;
}

// The peer closed (or reset) the connection: on a pooled connection before any response byte,
// the request is sent again on a new one.
bool is_peer_close(beast::error_code ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
         ec == ssl::error::stream_truncated;
}

class Call;

struct Connection {
  Connection(const Executor& ex, std::shared_ptr<Upstream> up)
      : upstream(std::move(up)),
        stream(ex, upstream->ssl_context().native_handle()),  // the socket built in place
        idle_timer(ex),
        host(host_header(upstream->config())) {
    // SSL_MODE_RELEASE_BUFFERS (set by the stream, as Asio's set it) would free and re-allocate
    // OpenSSL's 16 KiB record buffers for every request on a pooled connection.
    SSL_clear_mode(stream.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }

  void close() {
    if (closed) return;
    closed = true;
    idle = false;
    idle_timer.cancel();
    // Closing without close_notify would make OpenSSL mark the session (possibly the one cached
    // for resumption) as not resumable; the connection was fine, we are just done with it.
    if (handshake_done) {
      SSL_set_shutdown(stream.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    beast::error_code ignored;
    stream.next_layer().close(ignored);
  }

  std::shared_ptr<Upstream> upstream;  // also keeps the ssl::context alive
  Stream stream;
  Timer idle_timer;
  std::string host;              // the Host header value
  beast::flat_buffer buffer;     // bytes read and not yet parsed
  std::string out;               // the request being written; capacity kept across requests
  std::weak_ptr<Call> owner;     // the call using it; empty while idle
  std::uint64_t idle_epoch = 0;  // tells a stale idle-timer expiry from the current one
  bool idle = false;             // in the pool's idle list
  bool handshake_done = false;
  bool read_pending = false;  // an async_read_some is outstanding (the idle watch, or first read)
  bool closed = false;
};

// The pool's state, shared with every pending handler so that destroying the pool (or the
// io_context afterwards) never leaves a handler pointing at freed memory.
class PoolState : public std::enable_shared_from_this<PoolState> {
 public:
  PoolState(net::io_context& ioc, UpstreamPoolOptions opts)
      : executor(ioc.get_executor()), options(opts) {}

  std::shared_ptr<Connection> take_idle(const Upstream* upstream);
  void release(std::shared_ptr<Connection> conn);
  void remove_idle(const std::shared_ptr<Connection>& conn);
  // One async_read_some on `conn`: while idle it watches for the peer's close, after a request
  // it brings the first bytes of the response (to the owning call).
  void read_some(const std::shared_ptr<Connection>& conn);
  void shutdown();
  std::size_t idle_count() const;

  Executor executor;
  UpstreamPoolOptions options;
  bool shut_down = false;
  std::unordered_map<const Upstream*, std::vector<std::shared_ptr<Connection>>> idle;
  std::unordered_set<Call*> in_flight;

 private:
  void on_read_some(const std::shared_ptr<Connection>& conn, beast::error_code ec, std::size_t n);
};

// One post(): resolve -> connect -> handshake (or a pooled connection) -> write -> read, raced by
// the deadline. Every handler checks `finished_` and that its connection is still the call's, so
// whatever loses a race only cleans up.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<PoolState> pool, std::shared_ptr<Upstream> upstream, std::string_view target,
       std::string_view body, UpstreamPool::Callback done, std::int64_t budget_ms)
      : pool_(std::move(pool)),
        upstream_(std::move(upstream)),
        target_(target),
        body_(body),
        done_(std::move(done)),
        deadline_(pool_->executor),
        budget_ms_(budget_ms) {}

  ~Call() { pool_->in_flight.erase(this); }

  void start(UpstreamClock::time_point deadline) {
    pool_->in_flight.insert(this);
    deadline_.expires_at(deadline);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_deadline();
    });
    if (auto conn = pool_->take_idle(upstream_.get())) {
      reused_ = true;
      adopt(conn);
      send(conn);
      return;
    }
    open_connection();
  }

  // The pool is shutting down: the call ends now, its callback runs later.
  void cancel() {
    if (finished_) return;
    finished_ = true;
    stop_io();
    UpstreamReply reply;
    reply.error = UpstreamError::kCancelled;
    reply.message = "upstream " + authority(upstream_->config()) + ": the pool was shut down";
    reply.reused_connection = reused_;
    net::post(pool_->executor, [done = std::move(done_), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }

  void on_first_read(const std::shared_ptr<Connection>& conn, beast::error_code ec, std::size_t n) {
    if (stale(conn)) return;
    if (ec) return failed_before_response(conn, ec);
    conn->buffer.commit(n);
    read_response(conn);
  }

 private:
  bool stale(const std::shared_ptr<Connection>& conn) const { return finished_ || conn != conn_; }

  void adopt(const std::shared_ptr<Connection>& conn) {
    conn_ = conn;
    conn->owner = weak_from_this();
  }

  void open_connection() {
    reused_ = false;
    auto conn = std::make_shared<Connection>(pool_->executor, upstream_);
    adopt(conn);
    const UpstreamConfig& config = upstream_->config();
    SSL* ssl = conn->stream.native_handle();
    if (!is_ip_literal(config.server_name)) {
      SSL_set_tlsext_host_name(ssl, config.server_name.c_str());
    }
    if (void* session = upstream_->take_session_for_new_connection()) {
      SSL_set_session(ssl, static_cast<SSL_SESSION*>(session));  // takes its own reference
      SSL_SESSION_free(static_cast<SSL_SESSION*>(session));
    }
    boost::system::error_code ec;
    const auto address = net::ip::make_address(config.host, ec);
    if (!ec) {
      conn->stream.next_layer().async_connect(
          tcp::endpoint(address, config.port),
          [self = shared_from_this(), conn](beast::error_code e) { self->on_connect(conn, e); });
      return;
    }
    resolver_.emplace(pool_->executor);
    std::string port;
    append_number(port, config.port);
    resolver_->async_resolve(
        config.host, port, Resolver::numeric_service,
        [self = shared_from_this(), conn](beast::error_code e, Resolver::results_type results) {
          self->on_resolve(conn, e, std::move(results));
        });
  }

  void on_resolve(const std::shared_ptr<Connection>& conn, beast::error_code ec,
                  Resolver::results_type results) {
    if (stale(conn)) return;
    if (ec) {
      return fail(UpstreamError::kConnect,
                  "resolve " + authority(upstream_->config()) + ": " + ec.message());
    }
    net::async_connect(
        conn->stream.next_layer(), results,
        [self = shared_from_this(), conn](beast::error_code e, const tcp::endpoint&) {
          self->on_connect(conn, e);
        });
  }

  void on_connect(const std::shared_ptr<Connection>& conn, beast::error_code ec) {
    if (stale(conn)) return;
    if (ec) {
      return fail(UpstreamError::kConnect,
                  "connect " + authority(upstream_->config()) + ": " + ec.message());
    }
    upstream_->counters().connections_opened.fetch_add(1, std::memory_order_relaxed);
    beast::error_code ignored;
    conn->stream.next_layer().set_option(tcp::no_delay(true), ignored);  // one write per request
    conn->stream.async_handshake(
        ssl::stream_base::client,
        [self = shared_from_this(), conn](beast::error_code e) { self->on_handshake(conn, e); });
  }

  void on_handshake(const std::shared_ptr<Connection>& conn, beast::error_code ec) {
    if (stale(conn)) return;
    if (ec) {
      return fail(UpstreamError::kTls,
                  tls_failure(upstream_->config(), conn->stream.native_handle(), ec));
    }
    conn->handshake_done = true;
    auto& counters = upstream_->counters();
    counters.handshakes.fetch_add(1, std::memory_order_relaxed);
    if (SSL_session_reused(conn->stream.native_handle()) == 1) {
      counters.resumed_handshakes.fetch_add(1, std::memory_order_relaxed);
    }
    send(conn);
  }

  void send(const std::shared_ptr<Connection>& conn) {
    std::string& out = conn->out;
    out.clear();
    out.append("POST ").append(target_).append(" HTTP/1.1\r\nHost: ").append(conn->host);
    out.append("\r\nContent-Type: application/json\r\nContent-Length: ");
    append_number(out, body_.size());
    out.append("\r\nConnection: keep-alive\r\n\r\n").append(body_);
    write_done_ = false;
    net::async_write(conn->stream, net::buffer(out),
                     [self = shared_from_this(), conn](beast::error_code e, std::size_t) {
                       self->on_write(conn, e);
                     });
    // A pooled connection already has a read outstanding (its idle watch): its completion is the
    // first read of the response.
    if (!conn->read_pending) pool_->read_some(conn);
  }

  void on_write(const std::shared_ptr<Connection>& conn, beast::error_code ec) {
    if (stale(conn)) return;
    if (ec) {
      // Once the response has begun, its read decides the outcome.
      if (parser_) return;
      return failed_before_response(conn, ec);
    }
    write_done_ = true;
  }

  // Nothing of a response has arrived and the connection failed (while writing or reading).
  void failed_before_response(const std::shared_ptr<Connection>& conn, beast::error_code ec) {
    if (reused_ && !retried_ && is_peer_close(ec)) {
      // The upstream closed the idle connection (its idle timeout) before seeing our request.
      retried_ = true;
      conn->owner.reset();
      conn->close();
      conn_.reset();
      return open_connection();
    }
    fail(UpstreamError::kProtocol, "connection to " + authority(upstream_->config()) +
                                       " closed before any response: " + ec.message());
  }

  // Parses what is buffered and reads only what is missing. Not eager, and not http::async_read
  // (which sets eager): in Boost 1.74 an eager put() drops the body_limit error a Content-Length
  // header raises and goes on reading the body.
  void read_response(const std::shared_ptr<Connection>& conn) {
    parser_.emplace();
    parser_->body_limit(pool_->options.max_response_bytes);
    parse_buffered(conn);
  }

  void parse_buffered(const std::shared_ptr<Connection>& conn) {
    while (conn->buffer.size() > 0 && !parser_->is_done()) {
      beast::error_code ec;
      const std::size_t used = parser_->put(conn->buffer.data(), ec);
      conn->buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return response_failed(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return on_response(conn);
    conn->stream.async_read_some(
        conn->buffer.prepare(kReadChunk),
        [self = shared_from_this(), conn](beast::error_code ec, std::size_t n) {
          self->on_response_bytes(conn, ec, n);
        });
  }

  void on_response_bytes(const std::shared_ptr<Connection>& conn, beast::error_code ec,
                         std::size_t n) {
    if (stale(conn)) return;
    if (ec) {
      // A response delimited by the end of the connection (with or without close_notify).
      if ((ec == net::error::eof || ec == ssl::error::stream_truncated) &&
          parser_->is_header_done() && parser_->need_eof()) {
        ec = {};
        parser_->put_eof(ec);
        if (!ec) return on_response(conn);
      }
      return response_failed(ec);
    }
    conn->buffer.commit(n);
    parse_buffered(conn);
  }

  void on_response(const std::shared_ptr<Connection>& conn) {
    auto& res = parser_->get();
    UpstreamReply reply;
    reply.status = static_cast<int>(res.result_int());
    reply.reused_connection = reused_;
    // Pooled only when the exchange ended cleanly: request fully written, nothing extra read.
    const bool keep =
        res.keep_alive() && !parser_->need_eof() && write_done_ && conn->buffer.size() == 0;
    reply.body = std::move(res.body());
    if (reply.status != 200) {
      reply.error = UpstreamError::kStatus;
      reply.message = "HTTP ";
      append_number(reply.message, static_cast<std::uint64_t>(reply.status));
      reply.message.append(": ").append(excerpt(reply.body));
    }
    finish(std::move(reply), keep);
  }

  void response_failed(beast::error_code ec) {
    const std::string from = authority(upstream_->config());
    if (ec == http::error::body_limit) {
      std::string m = "the response from " + from + " is over the limit of ";
      append_number(m, pool_->options.max_response_bytes);
      return fail(UpstreamError::kProtocol, m + " bytes");
    }
    if (ec == http::error::partial_message || ec == http::error::end_of_stream ||
        is_peer_close(ec)) {
      return fail(UpstreamError::kProtocol,
                  "connection to " + from + " closed mid-response: " + ec.message());
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      return fail(UpstreamError::kProtocol,
                  "malformed HTTP response from " + from + ": " + ec.message());
    }
    fail(UpstreamError::kProtocol, "reading the response from " + from + ": " + ec.message());
  }

  void on_deadline() {
    if (finished_) return;
    std::string m = "no response from " + authority(upstream_->config()) + " within ";
    append_number(m, static_cast<std::uint64_t>(budget_ms_));
    fail(UpstreamError::kTimeout, m + " ms");
  }

  void fail(UpstreamError error, std::string message) {
    UpstreamReply reply;
    reply.error = error;
    reply.message = std::move(message);
    reply.reused_connection = reused_;
    if (parser_ && parser_->is_header_done()) {
      reply.status = static_cast<int>(parser_->get().result_int());
    }
    finish(std::move(reply), false);
  }

  // Cancels whatever is pending and lets go of the connection (closing it).
  void stop_io() {
    deadline_.cancel();
    if (resolver_) resolver_->cancel();
    pool_->in_flight.erase(this);
    if (conn_) {
      conn_->owner.reset();
      conn_->close();
      conn_.reset();
    }
  }

  void finish(UpstreamReply&& reply, bool keep_connection) {
    finished_ = true;
    if (keep_connection && conn_) {
      conn_->owner.reset();
      pool_->release(std::move(conn_));
      conn_.reset();
    }
    stop_io();
    // Last: the callback may post again (and take the connection just pooled) or destroy the pool.
    auto done = std::move(done_);
    done(std::move(reply));
  }

  std::shared_ptr<PoolState> pool_;
  std::shared_ptr<Upstream> upstream_;
  std::string_view target_, body_;
  UpstreamPool::Callback done_;
  Timer deadline_;
  std::int64_t budget_ms_;
  std::optional<Resolver> resolver_;
  std::shared_ptr<Connection> conn_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool finished_ = false;
  bool reused_ = false;   // the current connection came from the pool
  bool retried_ = false;  // the one retry on a new connection was used
  bool write_done_ = false;
};

std::shared_ptr<Connection> PoolState::take_idle(const Upstream* upstream) {
  auto it = idle.find(upstream);
  if (it == idle.end()) return nullptr;
  auto conn = std::move(it->second.back());  // the most recently used: least likely timed out
  it->second.pop_back();
  if (it->second.empty()) idle.erase(it);
  conn->idle = false;
  ++conn->idle_epoch;
  conn->idle_timer.cancel();
  return conn;
}

void PoolState::release(std::shared_ptr<Connection> conn) {
  if (shut_down || conn->closed) return conn->close();
  const Upstream* key = conn->upstream.get();
  auto& list = idle[key];
  if (list.size() >= options.max_idle_per_upstream) {
    if (list.empty()) idle.erase(key);
    return conn->close();
  }
  conn->idle = true;
  const std::uint64_t epoch = ++conn->idle_epoch;
  list.push_back(conn);
  conn->idle_timer.expires_after(options.idle_timeout);
  conn->idle_timer.async_wait([self = shared_from_this(), conn, epoch](beast::error_code ec) {
    if (ec || !conn->idle || conn->idle_epoch != epoch) return;
    self->remove_idle(conn);
    conn->close();
  });
  read_some(conn);
}

void PoolState::remove_idle(const std::shared_ptr<Connection>& conn) {
  if (!conn->idle) return;
  conn->idle = false;
  auto it = idle.find(conn->upstream.get());
  if (it == idle.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), conn), list.end());
  if (list.empty()) idle.erase(it);
}

void PoolState::read_some(const std::shared_ptr<Connection>& conn) {
  conn->read_pending = true;
  conn->stream.async_read_some(
      conn->buffer.prepare(kReadChunk),
      [self = shared_from_this(), conn](beast::error_code ec, std::size_t n) {
        self->on_read_some(conn, ec, n);
      });
}

void PoolState::on_read_some(const std::shared_ptr<Connection>& conn, beast::error_code ec,
                             std::size_t n) {
  conn->read_pending = false;
  if (auto call = conn->owner.lock()) return call->on_first_read(conn, ec, n);
  // Idle: the peer closed it (EOF, reset), we closed it (idle timeout, shutdown), or the peer sent
  // bytes nobody asked for, which leaves the next response's framing in doubt. Drop it.
  remove_idle(conn);
  conn->close();
}

void PoolState::shutdown() {
  shut_down = true;
  auto idle_now = std::move(idle);
  idle.clear();
  for (auto& [upstream, list] : idle_now) {
    for (auto& conn : list) conn->close();
  }
  auto calls = std::move(in_flight);
  in_flight.clear();
  for (Call* call : calls) call->cancel();
}

std::size_t PoolState::idle_count() const {
  std::size_t n = 0;
  for (const auto& [upstream, list] : idle) n += list.size();
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Upstream

Upstream::Upstream(UpstreamConfig config, std::unique_ptr<ssl::context> ssl)
    : config_(std::move(config)), ssl_(std::move(ssl)) {}

Upstream::~Upstream() {
  if (session_ != nullptr) SSL_SESSION_free(static_cast<SSL_SESSION*>(session_));
}

Result<std::shared_ptr<Upstream>> Upstream::create(const UpstreamConfig& config,
                                                   std::string_view config_file) {
  const auto at = [&](int line) {
    std::string s(config_file);
    s.push_back(':');
    append_number(s, static_cast<std::uint64_t>(std::max(line, 0)));
    return s.append(": ");
  };
  const auto ca_error = [&](const std::string& reason) {
    return make_error("upstream_config",
                      at(config.ca_line) + "caFile " + config.ca_file + ": " + reason);
  };
  const auto config_error = [&](const std::string& reason) {
    return make_error("upstream_config", at(config.line) + reason);
  };
  UpstreamConfig c = config;
  if (c.host.empty()) return config_error("upstream " + c.url + " has no host");
  if (c.server_name.empty()) c.server_name = c.host;

  certs::clear_openssl_errors();
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);

  // Every certificate of the bundle is a trust anchor (istio-ca-root-cert may hold several
  // during a root rotation).
  auto cas = certs::certs_from_pem(c.ca_pem);
  if (!cas) return ca_error(cas.error().message);
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const auto& cert : *cas) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      return ca_error("cannot add a certificate to the trust store: " +
                      certs::take_openssl_errors());
    }
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);

  // The name check applies to every connection made with this context.
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(native);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool ip = is_ip_literal(c.server_name);
  const int name_ok =
      ip ? X509_VERIFY_PARAM_set1_ip_asc(param, c.server_name.c_str())
         : X509_VERIFY_PARAM_set1_host(param, c.server_name.data(), c.server_name.size());
  if (name_ok != 1) {
    return config_error(
        "serverName " + c.server_name +
        " cannot be checked against a certificate: " + certs::take_openssl_errors());
  }
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (SSL_CTX_set_alpn_protos(native, kAlpn, sizeof kAlpn) != 0) {  // 0 is success here
    return config_error("cannot offer ALPN http/1.1: " + certs::take_openssl_errors());
  }
  // Sessions are kept by the Upstream (one per upstream is enough), not in OpenSSL's cache.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(native, on_new_session);

  std::shared_ptr<Upstream> upstream(new Upstream(std::move(c), std::move(ctx)));
  SSL_CTX_set_ex_data(native, upstream_ex_index(), upstream.get());
  return upstream;
}

bool Upstream::same_settings(const UpstreamConfig& other) const {
  const std::string& other_name = other.server_name.empty() ? other.host : other.server_name;
  return config_.url == other.url && config_.server_name == other_name &&
         config_.ca_pem == other.ca_pem;
}

// Returns a new reference (the caller frees it after SSL_set_session); store_session() takes over
// the caller's reference and frees the one it replaces.
void* Upstream::take_session_for_new_connection() {
  std::lock_guard lock(session_mutex_);
  if (session_ == nullptr) return nullptr;
  SSL_SESSION_up_ref(static_cast<SSL_SESSION*>(session_));
  return session_;
}

void Upstream::store_session(void* ssl_session) {
  void* old = nullptr;
  {
    std::lock_guard lock(session_mutex_);
    old = std::exchange(session_, ssl_session);
  }
  if (old != nullptr) SSL_SESSION_free(static_cast<SSL_SESSION*>(old));
}

// ---------------------------------------------------------------------------------------------
// UpstreamPool

struct UpstreamPool::Impl {
  std::shared_ptr<PoolState> state;
};

UpstreamPool::UpstreamPool(net::io_context& ioc, UpstreamPoolOptions options)
    : impl_(std::make_unique<Impl>(Impl{std::make_shared<PoolState>(ioc, options)})) {}

// Calls still in flight end with kCancelled; their callbacks run if the io_context runs again,
// or are destroyed uninvoked with it. Pending handlers own what they touch.
UpstreamPool::~UpstreamPool() { impl_->state->shutdown(); }

void UpstreamPool::post(const std::shared_ptr<Upstream>& upstream, std::string_view target,
                        std::string_view body, UpstreamClock::time_point deadline, Callback done) {
  if (!upstream) throw std::invalid_argument("UpstreamPool::post: no upstream");
  PoolState& state = *impl_->state;
  upstream->counters().requests.fetch_add(1, std::memory_order_relaxed);
  const auto fail_later = [&](UpstreamError error, std::string message) {
    UpstreamReply reply;
    reply.error = error;
    reply.message = std::move(message);
    net::post(state.executor, [done = std::move(done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  };
  if (state.shut_down) {
    return fail_later(UpstreamError::kCancelled,
                      "upstream " + authority(upstream->config()) + ": the pool was shut down");
  }
  if (!valid_target(target)) {
    return fail_later(UpstreamError::kProtocol, "invalid request target \"" + excerpt(target) +
                                                    "\" for " + authority(upstream->config()));
  }
  const auto budget = std::chrono::ceil<std::chrono::milliseconds>(deadline - UpstreamClock::now());
  auto call = std::make_shared<Call>(impl_->state, upstream, target, body, std::move(done),
                                     std::max<std::int64_t>(budget.count(), 0));
  call->start(deadline);
}

void UpstreamPool::shutdown() { impl_->state->shutdown(); }

std::size_t UpstreamPool::idle_connections() const { return impl_->state->idle_count(); }

}  // namespace revrouter::server
