#include "server/listener.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <charconv>

#include "server/http_session.h"
#include "server/logging.h"

namespace revrouter::server {
namespace net = boost::asio;
using tcp = net::ip::tcp;

Result<tcp::endpoint> parse_listen_address(std::string_view address) {
  const auto bad = [&](std::string_view why) {
    return make_error("address", "invalid listen address \"" + std::string(address) +
                                     "\": " + std::string(why) +
                                     " (expected host:port, [v6]:port or :port)");
  };
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = address.substr(0, colon);
  const std::string_view port_text = address.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code parse_error;
  const auto ip = net::ip::make_address(std::string(host), parse_error);
  if (parse_error) return bad("host must be an IP address");
  return tcp::endpoint(ip, static_cast<std::uint16_t>(port));
}

Listener::Listener(Port port, std::vector<Worker*> workers, ServerShared& shared)
    : kind_(port),
      workers_(std::move(workers)),
      shared_(shared),
      acceptor_(workers_.front()->ioc),
      retry_timer_(workers_.front()->ioc) {}

Status Listener::bind(const std::string& address) {
  auto endpoint = parse_listen_address(address);
  if (!endpoint) return endpoint.error();
  boost::system::error_code ec;
  const auto failed = [&](std::string_view what) {
    return make_error("listen", std::string(what) + " " + address + ": " + ec.message());
  };
  acceptor_.open(endpoint->protocol(), ec);
  if (ec) return failed("cannot open a socket for");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return failed("cannot set SO_REUSEADDR on");
  acceptor_.bind(*endpoint, ec);
  if (ec) return failed("cannot bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return failed("cannot listen on");
  port_ = acceptor_.local_endpoint(ec).port();
  return Ok{};
}

void Listener::start() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void Listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->retry_timer_.cancel();
    self->acceptor_.close(ignored);
  });
}

void Listener::do_accept() {
  if (!acceptor_.is_open()) return;
  // The socket is created on the worker that will run the session.
  pending_.emplace(workers_[next_worker_]->ioc.get_executor());
  acceptor_.async_accept(*pending_, [self = shared_from_this()](boost::system::error_code ec) {
    WorkerSocket socket = std::move(*self->pending_);
    self->pending_.reset();
    self->on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(boost::system::error_code ec, WorkerSocket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
  if (ec) {
    // Out of file descriptors, or the like: back off briefly rather than spin.
    log(spdlog::level::warn, LogEvent("accept failed").str("error", ec.message()));
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->do_accept();
    });
    return;
  }
  Worker& worker = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();

  if (kind_ == Port::kWebhook) {
    if (shared_.open_connections.load(std::memory_order_relaxed) >=
        shared_.options.limits.max_connections) {
      // Refused at once; the apiserver retries on another connection or endpoint.
      workers_.front()->metrics.limit_tripped(Limit::kConnections);
      boost::system::error_code ignored;
      socket.close(ignored);
      return do_accept();
    }
    shared_.open_connections.fetch_add(1, std::memory_order_relaxed);
    net::dispatch(worker.ioc, [&worker, &shared = shared_, s = std::move(socket)]() mutable {
      start_tls_session(std::move(s), worker, shared.tls.current(), shared.open_connections);
    });
  } else {
    shared_.open_health_connections.fetch_add(1, std::memory_order_relaxed);
    net::dispatch(worker.ioc, [&worker, &shared = shared_, s = std::move(socket)]() mutable {
      start_plain_session(std::move(s), worker, shared.open_health_connections);
    });
  }
  do_accept();
}

}  // namespace revrouter::server
