#include "tools/loadtest_runner.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "tools/https_client.h"

namespace revrouter::loadtest {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// A connection whose connect or handshake failed waits this long before it takes the next
// request, so a refusing server is not hammered in a tight loop.
constexpr auto kReconnectBackoff = std::chrono::milliseconds(100);
// After the hard deadline, workers get this long to wind down before their loops are stopped.
constexpr auto kAbortGrace = std::chrono::seconds(2);
constexpr std::uint64_t kBodyLimit = 64 * 1024 * 1024;

std::string duration_text(std::chrono::nanoseconds d) {
  return format_latency(static_cast<std::uint64_t>(d.count()));
}

// Read-only during the run, except the closed loop's request counter.
struct Shared {
  const RunnerOptions& options;
  ssl::context ctx{ssl::context::tls_client};
  std::string where;  // host:port, for messages
  std::string verify_name;
  bool verify_name_is_ip = false;
  tcp::resolver::results_type endpoints;
  std::vector<RequestTemplate> requests;  // parallel to options.bodies
  std::uint64_t open_loop_total = 0;
  Clock::time_point start;
  std::atomic<std::uint64_t> next_index{0};  // closed loop: the next request number to send

  explicit Shared(const RunnerOptions& o) : options(o) {}
};

class Worker;

// One kept-alive TLS connection. One request at a time; all of it runs on its worker's thread.
class Connection {
 public:
  explicit Connection(Worker& worker);
  void preconnect();
  void send(std::uint64_t index, Clock::time_point intended);
  void abort();

 private:
  void do_connect();
  void on_connect(const beast::error_code& ec);
  void on_handshake(const beast::error_code& ec);
  void do_write();
  void on_write(const beast::error_code& ec);
  void on_read(const beast::error_code& ec);
  void fail(ErrorClass c, std::string detail);
  void fail_io(const beast::error_code& ec, std::string_view step);
  void close();

  Worker& w_;
  Shared& shared_;
  // The io_context's own executor type rather than tcp_stream's type-erased one: every completion
  // on the hot path would otherwise copy and destroy an any_executor.
  using TcpStream = beast::basic_stream<tcp, asio::io_context::executor_type>;
  std::optional<beast::ssl_stream<TcpStream>> stream_;
  bool connected_ = false;
  bool has_request_ = false;  // false while pre-connecting
  std::uint64_t index_ = 0;
  Clock::time_point intended_;
  char uid_[kUidSize] = {};
  std::string out_;  // the request's bytes, reused
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  asio::steady_timer backoff_;
};

// One thread: an io_context, its connections, and for the open loop its lane of the schedule.
class Worker {
 public:
  Worker(Shared& shared, unsigned lane, unsigned lanes, unsigned connections)
      : shared(shared),
        lane_(shared.options.plan.rate, shared.open_loop_total, lane, lanes),
        timer_(ioc) {
    for (unsigned i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<Connection>(*this));
  }

  // Phase 1: opens every connection; ioc.run() returns when all have connected or failed.
  void preconnect() {
    for (auto& c : conns_) c->preconnect();
  }
  void on_preconnect_failed(Error e) {
    if (!preconnect_error) preconnect_error = std::move(e);
  }

  // Phase 2: runs the plan from shared.start.
  void start() {
    if (open_loop()) {
      for (auto& c : conns_) idle_.push_back(c.get());
      tick();
    } else {
      for (auto& c : conns_) on_available(*c);
    }
  }

  // `c` has finished its request (answer, failure or backoff) and can take the next one.
  void on_available(Connection& c) {
    if (aborted) return;
    if (open_loop()) {
      if (queue_.empty()) {
        idle_.push_back(&c);
        return;
      }
      const std::uint64_t index = queue_.front();
      queue_.pop_front();
      c.send(index, intended(index));
      return;
    }
    const auto now = Clock::now();
    const std::uint64_t index = shared.next_index.fetch_add(1, std::memory_order_relaxed);
    if (!closed_loop_may_send(shared.options.plan, index, now - shared.start)) return;
    count_issued();
    c.send(index, now);
  }

  void record_answer(Clock::time_point now, std::chrono::nanoseconds latency,
                     const Verdict& verdict, int status) {
    std::lock_guard lock(mu_);
    latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)));
    last_answer_ = now;
    if (verdict.ok) {
      ++counters_.ok;
      ++counters_.completed;
    } else {
      counters_.record_error(verdict.error, verdict.detail, status);
    }
  }
  void record_error(ErrorClass c, std::string_view detail) {
    std::lock_guard lock(mu_);
    counters_.record_error(c, detail);
  }

  // Posted at the hard deadline (`reason` set: everything still open ends as a timeout, since the
  // server did not answer in time) or on a stop signal (`reason` empty: open requests are left
  // unfinished and uncounted).
  void abort(std::string reason) {
    aborted = true;
    abort_reason = std::move(reason);
    timer_.cancel();
    if (!abort_reason.empty()) {
      for (std::size_t i = 0; i < queue_.size(); ++i) {
        record_error(ErrorClass::kTimeout, abort_reason + " (still queued for a connection)");
      }
    }
    queue_.clear();
    for (auto& c : conns_) c->abort();
  }

  void snapshot(Counters& counters, LatencyHistogram& latency, Clock::time_point& last) {
    std::lock_guard lock(mu_);
    counters.merge(counters_);
    latency.merge(latency_);
    last = std::max(last, last_answer_);
  }

  Shared& shared;
  asio::io_context ioc{1};
  std::optional<Error> preconnect_error;
  bool aborted = false;
  std::string abort_reason;

 private:
  bool open_loop() const { return shared.options.plan.rate > 0; }
  Clock::time_point intended(std::uint64_t index) const {
    return shared.start + std::chrono::duration_cast<Clock::duration>(
                              intended_offset(index, shared.options.plan.rate));
  }
  void count_issued() {
    std::lock_guard lock(mu_);
    ++counters_.issued;
  }

  // Open loop: sends (or queues) every request of this lane that is due, then sleeps until the
  // next one. A late wake-up sends the overdue requests at once, each still timed from its due
  // time.
  void tick() {
    const auto now = Clock::now();
    while (!lane_.done() && intended(lane_.next_index()) <= now) {
      const std::uint64_t index = lane_.next_index();
      lane_.advance();
      count_issued();
      if (idle_.empty()) {
        queue_.push_back(index);
      } else {
        Connection* c = idle_.back();
        idle_.pop_back();
        c->send(index, intended(index));
      }
    }
    if (lane_.done()) return;
    if (shared.options.busy_poll) {
      // The clock is read again between the reactor's polls instead: a timer re-armed every few
      // microseconds costs a timerfd_settime each, which a virtual machine traps.
      asio::post(ioc, [this] {
        if (!aborted) tick();
      });
      return;
    }
    timer_.expires_at(intended(lane_.next_index()));
    timer_.async_wait([this](const beast::error_code& ec) {
      if (!ec && !aborted) tick();
    });
  }

  std::mutex mu_;  // guards the figures below, read by the progress line from the main thread
  Counters counters_;
  LatencyHistogram latency_;
  Clock::time_point last_answer_{};

  OpenLoopLane lane_;
  asio::steady_timer timer_;
  std::deque<std::uint64_t> queue_;  // due requests waiting for a connection
  std::vector<Connection*> idle_;
  std::vector<std::unique_ptr<Connection>> conns_;
};

Connection::Connection(Worker& worker) : w_(worker), shared_(worker.shared), backoff_(worker.ioc) {}

void Connection::preconnect() {
  has_request_ = false;
  do_connect();
}

void Connection::send(std::uint64_t index, Clock::time_point intended) {
  index_ = index;
  intended_ = intended;
  has_request_ = true;
  format_uid(shared_.options.run_id, index, uid_);
  render_request(shared_.requests[index % shared_.requests.size()],
                 std::string_view(uid_, kUidSize), out_);
  if (connected_) {
    do_write();
  } else {
    do_connect();
  }
}

void Connection::abort() {
  backoff_.cancel();
  if (stream_) {
    beast::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().cancel(ignored);
    beast::get_lowest_layer(*stream_).socket().close(ignored);
  }
}

void Connection::do_connect() {
  stream_.emplace(w_.ioc.get_executor(), shared_.ctx);
  buffer_.clear();
  // SNI carries DNS names only (RFC 6066); an IP is verified against the certificate's IP SANs.
  if (!shared_.verify_name_is_ip) {
    SSL_set_tlsext_host_name(stream_->native_handle(), shared_.verify_name.c_str());
  }
  stream_->set_verify_callback(ssl::host_name_verification(shared_.verify_name));
  auto& lowest = beast::get_lowest_layer(*stream_);
  lowest.expires_after(shared_.options.timeout);
  lowest.async_connect(shared_.endpoints, [this](const beast::error_code& ec,
                                                 const tcp::endpoint&) { on_connect(ec); });
}

void Connection::on_connect(const beast::error_code& ec) {
  if (ec) return fail_io(ec, "connect");
  auto& lowest = beast::get_lowest_layer(*stream_);
  beast::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);  // as Go's net/http client does
  lowest.expires_after(shared_.options.timeout);
  stream_->async_handshake(ssl::stream_base::client,
                           [this](const beast::error_code& e) { on_handshake(e); });
}

void Connection::on_handshake(const beast::error_code& ec) {
  if (ec) return fail_io(ec, "tls");
  connected_ = true;
  if (has_request_) do_write();  // else pre-connecting: this connection is ready for the start
}

void Connection::do_write() {
  // The answer is due within the timeout of the send; the write is part of that time.
  beast::get_lowest_layer(*stream_).expires_after(shared_.options.timeout);
  asio::async_write(*stream_, asio::buffer(out_),
                    [this](const beast::error_code& ec, std::size_t) { on_write(ec); });
}

void Connection::on_write(const beast::error_code& ec) {
  if (ec) return fail_io(ec, "write");
  parser_.emplace();
  parser_->body_limit(kBodyLimit);
  http::async_read(*stream_, buffer_, *parser_,
                   [this](const beast::error_code& e, std::size_t) { on_read(e); });
}

void Connection::on_read(const beast::error_code& ec) {
  if (ec) return fail_io(ec, "read");
  const auto now = Clock::now();
  const auto& res = parser_->get();
  const int status = static_cast<int>(res.result_int());
  const Verdict verdict =
      check_response(status, res.body(), std::string_view(uid_, kUidSize), shared_.options.check);
  has_request_ = false;
  if (!res.keep_alive()) close();
  parser_.reset();
  w_.record_answer(now, now - intended_, verdict, status);
  w_.on_available(*this);
}

void Connection::close() {
  stream_.reset();
  connected_ = false;
  buffer_.clear();
}

void Connection::fail_io(const beast::error_code& ec, std::string_view step) {
  if (w_.aborted) {
    if (w_.abort_reason.empty()) {  // interrupted: the request stays unfinished
      close();
      has_request_ = false;
      return;
    }
    return fail(ErrorClass::kTimeout, w_.abort_reason);
  }
  const std::string timeout = duration_text(shared_.options.timeout);
  if (ec == beast::error::timeout) {
    if (step == "connect")
      return fail(ErrorClass::kTimeout,
                  "connecting to " + shared_.where + ": no connection within " + timeout);
    if (step == "tls") {
      return fail(ErrorClass::kTimeout,
                  "TLS handshake with " + shared_.where + ": not done within " + timeout);
    }
    return fail(ErrorClass::kTimeout, "no answer from " + shared_.where + " within " + timeout);
  }
  if (step == "connect") {
    return fail(ErrorClass::kConnect, "connecting to " + shared_.where + ": " + ec.message());
  }
  if (step == "tls") {
    std::string message = "TLS handshake with " + shared_.where + ": " + ec.message();
    const long verify = SSL_get_verify_result(stream_->native_handle());
    if (verify != X509_V_OK) {
      message += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) +
                 "; verified name \"" + shared_.verify_name + "\")";
    }
    return fail(ErrorClass::kTls, std::move(message));
  }
  // The server went away mid-exchange: a plain close, or TCP closed without TLS close_notify.
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == ssl::error::stream_truncated) {
    return fail(ErrorClass::kConnect, "the connection to " + shared_.where +
                                          " closed before the answer (" + std::string(step) + ": " +
                                          ec.message() + ")");
  }
  if (ec.category() == asio::error::get_ssl_category() ||
      ec.category() == ssl::error::get_stream_category()) {
    return fail(ErrorClass::kTls, "TLS error with " + shared_.where + " (" + std::string(step) +
                                      "): " + ec.message());
  }
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return fail(ErrorClass::kBadResponse,
                "unreadable HTTP answer from " + shared_.where + ": " + ec.message());
  }
  return fail(ErrorClass::kConnect,
              std::string(step) + " on the connection to " + shared_.where + ": " + ec.message());
}

void Connection::fail(ErrorClass c, std::string detail) {
  const bool connecting = !connected_;
  close();
  if (!has_request_) {  // pre-connecting: the run does not start
    w_.on_preconnect_failed(make_error(std::string(error_class_name(c)), std::move(detail)));
    return;
  }
  has_request_ = false;
  w_.record_error(c, detail);
  if (connecting && !w_.aborted && (c == ErrorClass::kConnect || c == ErrorClass::kTls)) {
    backoff_.expires_after(kReconnectBackoff);
    backoff_.async_wait([this](const beast::error_code& ec) {
      if (!ec) w_.on_available(*this);
    });
    return;
  }
  w_.on_available(*this);
}

// The run's coordination between the calling thread and the workers.
struct Sync {
  std::mutex mu;
  std::condition_variable cv;
  unsigned connected = 0;  // workers done pre-connecting
  unsigned finished = 0;   // workers whose loop has returned
  bool go = false, cancel = false;
};

Status setup_tls(const RunnerOptions& o, Shared& shared) {
  beast::error_code ec;
  auto& ctx = shared.ctx;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (o.ca_file.empty()) {
    ctx.set_default_verify_paths(ec);
    if (ec) return make_error("tls", "loading the system trust store: " + ec.message());
  } else {
    ctx.load_verify_file(o.ca_file, ec);
    if (ec) {
      return make_error("tls",
                        "--ca " + o.ca_file + ": " + ec.message() + " (want a PEM CA bundle)");
    }
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return make_error("usage", "a client certificate needs both --cert and --key");
  }
  if (!o.cert_file.empty()) {
    ctx.use_certificate_chain_file(o.cert_file, ec);
    if (ec) return make_error("tls", "--cert " + o.cert_file + ": " + ec.message());
    ctx.use_private_key_file(o.key_file, ssl::context::pem, ec);
    if (ec) return make_error("tls", "--key " + o.key_file + ": " + ec.message());
  }
  return Ok{};
}

}  // namespace

Result<Report> run_load(const RunnerOptions& o) {
  if (o.bodies.empty()) return make_error("usage", "no request bodies");
  if (o.connections == 0) return make_error("usage", "--connections must be at least 1");
  if (o.plan.count == 0 && o.plan.duration.count() <= 0) {
    return make_error("usage", "a run needs a duration or a count");
  }
  if (o.timeout.count() <= 0) return make_error("usage", "the timeout must be positive");
  auto url = tools::parse_https_url(o.url);
  if (!url) return url.error();

  Shared shared(o);
  if (auto st = setup_tls(o, shared); !st) return st.error();
  shared.where = (url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host) +
                 ":" + url->port;
  shared.verify_name = o.server_name.empty() ? url->host : o.server_name;
  boost::system::error_code not_an_ip;
  asio::ip::make_address(shared.verify_name, not_an_ip);
  shared.verify_name_is_ip = !not_an_ip;
  {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::error_code ec;
    shared.endpoints = resolver.resolve(url->host, url->port, ec);
    if (ec) return make_error("connect", "resolving " + shared.where + ": " + ec.message());
  }
  const std::string host =
      url->port == "443" ? shared.where.substr(0, shared.where.rfind(':')) : shared.where;
  for (const auto& body : o.bodies) {
    shared.requests.push_back(make_request_template(body, body.path + o.query, host));
  }
  shared.open_loop_total = open_loop_total(o.plan);

  Report report;
  Settings& settings = report.settings;
  settings.url = o.url;
  settings.threads = std::clamp(o.threads, 1u, o.connections);
  settings.connections = o.connections;
  settings.busy_poll = o.busy_poll;
  settings.plan = o.plan;
  settings.timeout = o.timeout;
  settings.deadline = o.deadline.count() > 0 ? o.deadline : default_deadline(o.plan, o.timeout);
  settings.bodies = o.bodies.size();
  settings.check = o.check;

  const unsigned lanes = settings.threads;
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned k = 0; k < lanes; ++k) {
    const unsigned conns = o.connections / lanes + (k < o.connections % lanes ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(shared, k, lanes, conns));
  }

  Sync sync;
  std::vector<std::thread> threads;
  for (auto& wp : workers) {
    threads.emplace_back([&sync, w = wp.get()] {
      w->preconnect();
      w->ioc.run();
      std::unique_lock lock(sync.mu);
      ++sync.connected;
      sync.cv.notify_all();
      sync.cv.wait(lock, [&] { return sync.go || sync.cancel; });
      const bool run = sync.go;
      lock.unlock();
      if (run) {
        w->ioc.restart();
        asio::post(w->ioc, [w] { w->start(); });
        if (w->shared.options.busy_poll) {
          // poll() runs what is ready and never blocks; it stops the context once no work is
          // left, as run() would return.
          while (!w->ioc.stopped()) w->ioc.poll();
        } else {
          w->ioc.run();
        }
      }
      lock.lock();
      ++sync.finished;
      sync.cv.notify_all();
    });
  }
  const auto join = [&] {
    for (auto& t : threads) t.join();
  };

  // Every connection opens (or fails) within its connect and handshake timeouts.
  {
    std::unique_lock lock(sync.mu);
    sync.cv.wait(lock, [&] { return sync.connected == lanes; });
  }
  for (auto& w : workers) {
    if (w->preconnect_error) {
      {
        std::lock_guard lock(sync.mu);
        sync.cancel = true;
      }
      sync.cv.notify_all();
      join();
      Error e = *w->preconnect_error;
      e.message = "opening " + std::to_string(o.connections) + " connections: " + e.message;
      return e;
    }
  }

  shared.start = Clock::now();
  {
    std::lock_guard lock(sync.mu);
    sync.go = true;
  }
  sync.cv.notify_all();

  const auto deadline = shared.start + settings.deadline;
  auto next_progress = shared.start + std::chrono::seconds(1);
  std::uint64_t last_completed = 0;
  auto last_progress = shared.start;
  std::optional<Clock::time_point> aborted_at;
  const auto abort_all = [&](std::string reason) {
    aborted_at = Clock::now();
    for (auto& w : workers) {
      asio::post(w->ioc, [w = w.get(), reason] { w->abort(reason); });
    }
  };
  for (;;) {
    {
      std::unique_lock lock(sync.mu);
      const auto wake =
          std::min({next_progress, deadline, Clock::now() + std::chrono::milliseconds(100)});
      if (sync.cv.wait_until(lock, wake, [&] { return sync.finished == lanes; })) break;
    }
    const auto now = Clock::now();
    if (!aborted_at && now >= deadline) {
      report.hit_deadline = true;
      abort_all("abandoned at the hard deadline (" + duration_text(settings.deadline) + ")");
    } else if (!aborted_at && o.stop != nullptr && o.stop->load()) {
      report.interrupted = true;
      abort_all("");
    } else if (aborted_at && now >= *aborted_at + kAbortGrace) {
      for (auto& w : workers) w->ioc.stop();
    }
    if (now >= next_progress && o.progress) {
      Counters counters;
      LatencyHistogram latency;
      Clock::time_point last{};
      for (auto& w : workers) w->snapshot(counters, latency, last);
      const double interval = std::chrono::duration<double>(now - last_progress).count();
      const double rate =
          interval > 0 ? static_cast<double>(counters.completed - last_completed) / interval : 0;
      o.progress(progress_line(now - shared.start, counters.completed, rate,
                               latency.value_at_percentile(99), counters.error_total()));
      last_completed = counters.completed;
      last_progress = now;
    }
    while (next_progress <= now) next_progress += std::chrono::seconds(1);
  }
  join();

  Clock::time_point last{};
  for (auto& w : workers) w->snapshot(report.counters, report.latency, last);
  const auto end = (aborted_at || last == Clock::time_point{}) ? Clock::now() : last;
  report.elapsed = std::max(end - shared.start, Clock::duration::zero());
  return report;
}

}  // namespace revrouter::loadtest
