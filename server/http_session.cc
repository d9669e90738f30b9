#include "server/http_session.h"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>
#include <string>
#include <tuple>

#include "server/logging.h"
#include "server/proxy.h"
#include "server/routes.h"
#include "server/tls_stream.h"

namespace revrouter::server {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

using TcpStream =
    beast::basic_stream<tcp, net::io_context::executor_type, beast::unlimited_rate_policy>;

// What one idle read asks for: a TLS record carries at most 16 KiB of plaintext.
constexpr std::size_t kReadChunk = 16 * 1024;

const boost::system::error_category& http_category() {
  static const boost::system::error_category& c =
      http::make_error_code(http::error::end_of_stream).category();
  return c;
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// The request/response loop shared by TLS and plain connections (CRTP, as in Beast's
// advanced_server_flex example). Derived provides stream(), shared_from_this() and do_close().
template <class Derived>
class HttpSession : public SessionBase {
 public:
  HttpSession(Worker& worker, Port port, std::atomic<std::uint64_t>& open_connections)
      : worker_(worker), port_(port), open_connections_(open_connections) {
    worker_.sessions.push_back(*this);
  }
  ~HttpSession() override { open_connections_.fetch_sub(1, std::memory_order_relaxed); }

  void on_server_stop() override {
    // An idle connection is closed now; any other finds `stopping` set when it next reads and
    // answers its current request with Connection: close first.
    if (phase_ == Phase::kIdle) beast::get_lowest_layer(derived().stream()).cancel();
  }

 protected:
  enum class Phase : std::uint8_t { kHandshake, kIdle, kHeader, kBody, kForward, kWrite, kClose };

  Derived& derived() { return static_cast<Derived&>(*this); }
  const ServerLimits& limits() const { return worker_.shared.options.limits; }
  auto& lowest() { return beast::get_lowest_layer(derived().stream()); }
  // The stream's next operation times out `in` after `now` (saturating: a timeout may be as long
  // as a Go duration can say): one clock read, where the stream's expires_after reads it once for
  // each of its two timers.
  void expire_in(Clock::duration in, Clock::time_point now = Clock::now()) {
    lowest().expires_at(in < Clock::time_point::max() - now ? now + in : Clock::time_point::max());
  }

  // `now`: the caller's reading of the clock, when it has one (a read costs about as much as the
  // rest of arming a timeout).
  void do_read(Clock::time_point now = Clock::now()) {
    // A fresh parser per request; the previous request's body buffer is reused (cleared, capacity
    // kept) so a warm connection does not allocate one per request.
    if (parser_) request_body_ = std::move(parser_->get().body());
    request_body_.clear();
    parser_.emplace(std::piecewise_construct, std::make_tuple(std::move(request_body_)));
    parser_->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(limits().max_header_bytes, UINT32_MAX)));
    parser_->body_limit(limits().max_body_bytes);
    if (buffer_.size() > 0) return parse_buffered();  // the client sent ahead (pipelining)
    if (worker_.shared.stopping.load(std::memory_order_relaxed)) return derived().do_close();

    // Idle until the next request's first byte; then the header timeout runs from there.
    phase_ = Phase::kIdle;
    expire_in(limits().idle_timeout, now);
    derived().stream().async_read_some(
        buffer_.prepare(kReadChunk),
        beast::bind_front_handler(&HttpSession::on_idle_read, derived().shared_from_this()));
  }

  Worker& worker_;
  Phase phase_ = Phase::kHandshake;
  beast::flat_buffer buffer_;

 private:
  void on_idle_read(beast::error_code ec, std::size_t bytes) {
    if (ec) {
      // The idle connection is over: our timeout (the stream closed the socket), the server's
      // shutdown (cancelled), or the client left (EOF, reset). A TLS client that closes without
      // close_notify yields ssl::error::stream_truncated here; that is harmless because it falls
      // between messages: Beast reports a cut inside a message as http::error::partial_message.
      if (ec == beast::error::timeout) worker_.metrics.limit_tripped(Limit::kIdleTimeout);
      // The client ended the connection cleanly (TLS close_notify): answer with ours, so OpenSSL
      // keeps the session resumable for the client's next connection.
      if (ec == net::error::eof) return derived().do_close();
      return;
    }
    buffer_.commit(bytes);
    parse_buffered();
  }

  // A request usually arrives whole in one read: parse what is buffered right here and go back to
  // the stream only for what is missing, under the header or the body timeout.
  void parse_buffered() {
    while (buffer_.size() > 0 && !parser_->is_done()) {
      beast::error_code ec;
      const std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        phase_ = parser_->is_header_done() ? Phase::kBody : Phase::kHeader;
        return on_read_error(ec);
      }
      if (used == 0) break;
    }
    if (parser_->is_header_done() && unusable_transfer_encoding())
      return reject_transfer_encoding();
    if (parser_->is_done()) return on_request();
    if (!parser_->is_header_done()) return read_header();
    read_body();
  }

  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no reliable
  // length; Beast reads it as bodiless and the rest as the next request (request smuggling).
  bool unusable_transfer_encoding() {
    const auto& req = parser_->get();
    return req.find(http::field::transfer_encoding) != req.end() && !parser_->chunked();
  }
  void reject_transfer_encoding() {
    body_.assign("malformed HTTP request: Transfer-Encoding must end with chunked");
    answer_error(400, "bad_request");
  }

  void read_header() {
    phase_ = Phase::kHeader;
    expire_in(limits().header_timeout);
    http::async_read_header(
        derived().stream(), buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_header, derived().shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    if (unusable_transfer_encoding()) return reject_transfer_encoding();
    if (parser_->is_done()) return on_request();
    read_body();
  }

  void read_body() {
    phase_ = Phase::kBody;
    expire_in(limits().body_timeout);
    http::async_read(
        derived().stream(), buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::on_body, derived().shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    on_request();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      // Slow or stalled client (slowloris): the stream has closed the socket, nothing to answer.
      worker_.metrics.limit_tripped(phase_ == Phase::kHeader ? Limit::kHeaderTimeout
                                                             : Limit::kBodyTimeout);
      return;
    }
    if (ec == http::error::body_limit) {
      worker_.metrics.limit_tripped(Limit::kBodySize);
      body_.clear();
      fmt::format_to(std::back_inserter(body_),
                     "request body too large: the limit is {} bytes (--max-body-bytes)",
                     limits().max_body_bytes);
      return answer_error(413, "body_too_large");
    }
    if (ec == http::error::header_limit) {
      worker_.metrics.limit_tripped(Limit::kHeaderSize);
      body_.clear();
      fmt::format_to(std::back_inserter(body_),
                     "request headers too large: the limit is {} bytes (--max-header-bytes)",
                     limits().max_header_bytes);
      return answer_error(431, "header_too_large");
    }
    if (ec.category() == http_category() && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      body_.assign("malformed HTTP request: ").append(ec.message());
      return answer_error(400, "bad_request");
    }
    // The client went away mid-request (EOF, reset, TLS truncation): no one to answer.
  }

  // An error found while reading: the request's framing can no longer be trusted, so the answer
  // closes the connection. `body_` holds the message.
  void answer_error(int status, std::string_view code) {
    begin_request();
    const RouteResult r = reject(status, code, body_, body_);
    close_ = true;
    linger_ = true;
    keep_alive_header_ = false;
    write_response(r);
  }

  // After answering a request whose body we did not read: half-close and discard what the client
  // still sends, for at most the write timeout. Closing outright would make the kernel answer the
  // unread bytes with a reset, which can destroy our response before the client has read it.
  // (Any TLS close_notify is skipped: the connection is being abandoned, not ended cleanly.)
  void linger_close() {
    phase_ = Phase::kClose;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    expire_in(limits().write_timeout);
    buffer_.clear();
    discard();
  }

  void discard() {
    lowest().async_read_some(
        buffer_.prepare(kReadChunk),
        beast::bind_front_handler(&HttpSession::on_discard, derived().shared_from_this()));
  }

  void on_discard(beast::error_code ec, std::size_t) {
    if (!ec) discard();  // until EOF, an error, or the timeout closes the socket
  }

  void begin_request() {
    received_ = Clock::now();
    worker_.metrics.request_started();
  }

  void on_request() {
    auto& req = parser_->get();
    begin_request();
    HttpRequestView view;
    view.method = req.method();
    view.method_text = sv(req.method_string());
    view.target = sv(req.target());
    if (const auto ct = req.find(http::field::content_type); ct != req.end()) {
      view.has_content_type = true;
      view.content_type = sv(ct->value());
    }
    std::string& body = req.body();  // NUL-terminated by std::string: parsed in place
    view.body = body.data();
    view.body_len = body.size();
    view.received = received_;
    view.original = &original_;
    RouteResult r = route_request(view, port_, worker_, body_);
    if (r.forward) {
      // The answer comes from an upstream: nothing is read from this connection meanwhile, and
      // the call ends by the request's deadline whatever the upstream does.
      phase_ = Phase::kForward;
      r.forward->body = &body_;
      start_forward(worker_, std::move(r.forward),
                    [self = derived().shared_from_this()](const RouteResult& answered) {
                      self->respond(answered);
                    });
      return;
    }
    respond(r);
  }

  void respond(const RouteResult& r) {
    const auto& req = parser_->get();
    close_ = !req.keep_alive() || worker_.shared.stopping.load(std::memory_order_relaxed);
    keep_alive_header_ = !close_ && req.version() < 11;  // HTTP/1.0 keep-alive must be confirmed
    write_response(r);
  }

  void write_response(const RouteResult& r) {
    result_ = r;
    head_.clear();
    head_.append("HTTP/1.1 ");
    append_number(head_, static_cast<std::uint64_t>(r.status));
    head_.push_back(' ');
    head_.append(sv(http::obsolete_reason(static_cast<http::status>(r.status))));
    head_.append("\r\nContent-Type: ").append(r.content_type);
    head_.append("\r\nContent-Length: ");
    append_number(head_, body_.size());
    if (!r.allow.empty()) head_.append("\r\nAllow: ").append(r.allow);
    if (close_) head_.append("\r\nConnection: close");
    if (keep_alive_header_) head_.append("\r\nConnection: keep-alive");
    head_.append("\r\n\r\n");

    // One buffer, so TLS sends the response as one record in one send() (a TLS stream writes one
    // buffer per operation); the body copy costs less than a second record.
    head_.append(body_);

    phase_ = Phase::kWrite;
    expire_in(limits().write_timeout);
    net::async_write(
        derived().stream(), net::buffer(head_),
        beast::bind_front_handler(&HttpSession::on_write, derived().shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    const Clock::time_point now = finish_request(ec);
    if (ec) {
      if (ec == beast::error::timeout) worker_.metrics.limit_tripped(Limit::kWriteTimeout);
      return;
    }
    if (linger_) return linger_close();
    if (close_) return derived().do_close();
    do_read(now);
  }

  // Counts and logs the request; returns when it ended.
  Clock::time_point finish_request(beast::error_code write_error) {
    const Clock::time_point now = Clock::now();
    const auto latency_us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - received_).count());
    if (!result_.counted) {
      worker_.metrics.probe_finished();
      return now;
    }
    worker_.metrics.request_finished(result_.outcome, result_.reason, result_.revision_slot,
                                     latency_us);
    const bool rejected = result_.outcome == Outcome::kRejected;
    const auto level = rejected ? spdlog::level::warn : spdlog::level::info;
    if (!log_enabled(level)) return now;
    LogEvent event(rejected ? "request rejected" : "admission review answered");
    event.str("uid", result_.uid)
        .str("namespace", result_.namespace_)
        .str("pod", result_.pod)
        .str("revision", worker_.shared.metrics.revisions().name(result_.revision_slot))
        .str("reason", ReasonLabel::name(result_.reason))
        .num("latency_us", static_cast<std::int64_t>(latency_us))
        .str("outcome", to_string(result_.outcome))
        .num("status", result_.status);
    if (rejected) {
      std::string_view error = body_;
      if (!error.empty() && error.back() == '\n') error.remove_suffix(1);
      event.str("error", error);
    }
    if (write_error) event.str("write_error", write_error.message());
    log(level, event);
    return now;
  }

  const Port port_;
  std::atomic<std::uint64_t>& open_connections_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string request_body_;  // the body buffer between requests
  std::string head_, body_;   // the response being written
  std::string original_;      // the request body as received, when an upstream may need it
  RouteResult result_;        // of the request being answered, for metrics and the log
  Clock::time_point received_;
  bool close_ = false;
  bool linger_ = false;  // close with linger_close(): the request's bytes were not all read
  bool keep_alive_header_ = false;
};

class TlsSession : public HttpSession<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  TlsSession(WorkerSocket&& socket, Worker& worker, std::shared_ptr<ssl::context> context,
             std::atomic<std::uint64_t>& open_connections)
      : HttpSession(worker, Port::kWebhook, open_connections),
        context_(std::move(context)),
        stream_(std::move(socket), context_->native_handle()) {}

  TlsStream<TcpStream>& stream() { return stream_; }

  void run() {
    phase_ = Phase::kHandshake;
    expire_in(limits().handshake_timeout);
    stream_.async_handshake(
        ssl::stream_base::server,
        beast::bind_front_handler(&TlsSession::on_handshake, shared_from_this()));
  }

  void do_close() {
    phase_ = Phase::kClose;
    expire_in(limits().write_timeout);
    stream_.async_shutdown(beast::bind_front_handler(&TlsSession::on_shutdown, shared_from_this()));
  }

 private:
  void on_handshake(beast::error_code ec) {
    if (ec) {
      worker_.metrics.handshake_failed();
      if (ec == beast::error::timeout) worker_.metrics.limit_tripped(Limit::kHandshakeTimeout);
      if (log_enabled(spdlog::level::debug)) {
        beast::error_code ignored;
        const auto peer = lowest().socket().remote_endpoint(ignored);
        log(spdlog::level::debug, LogEvent("TLS handshake failed")
                                      .str("peer", peer.address().to_string())
                                      .str("error", ec.message()));
      }
      return;
    }
    // The stream sets SSL_MODE_RELEASE_BUFFERS (as Asio's did), which frees OpenSSL's record
    // buffers whenever they are empty and allocates them again for the next record: several
    // malloc/free pairs of 16 KiB per request. Kept from here on (about 34 KiB per established
    // connection); a connection still in its handshake, or a silent one, keeps releasing them.
    SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    do_read();
  }

  // The client may close without answering our close_notify; the connection ends either way.
  void on_shutdown(beast::error_code) {}

  std::shared_ptr<ssl::context> context_;  // outlives stream_, which uses it
  TlsStream<TcpStream> stream_;
};

class PlainSession : public HttpSession<PlainSession>,
                     public std::enable_shared_from_this<PlainSession> {
 public:
  PlainSession(WorkerSocket&& socket, Worker& worker, std::atomic<std::uint64_t>& open_connections)
      : HttpSession(worker, Port::kHealth, open_connections), stream_(std::move(socket)) {}

  TcpStream& stream() { return stream_; }
  void run() { do_read(); }
  void do_close() {
    phase_ = Phase::kClose;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

 private:
  TcpStream stream_;
};

}  // namespace

void start_tls_session(WorkerSocket socket, Worker& worker, std::shared_ptr<ssl::context> context,
                       std::atomic<std::uint64_t>& open_connections) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // responses are single writes: no Nagle wait
  std::make_shared<TlsSession>(std::move(socket), worker, std::move(context), open_connections)
      ->run();
}

void start_plain_session(WorkerSocket socket, Worker& worker,
                         std::atomic<std::uint64_t>& open_connections) {
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<PlainSession>(std::move(socket), worker, open_connections)->run();
}

}  // namespace revrouter::server
