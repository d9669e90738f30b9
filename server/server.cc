#include "server/server.h"

#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdio>
#include <string>

#include "server/logging.h"
#include "server/proxy.h"

namespace revrouter::server {
namespace net = boost::asio;
using spdlog::level::level_enum;

namespace {

// Written whole then renamed, so a reader polling for the file never sees half of it.
Status write_port_file(const std::string& path, std::uint16_t port, std::uint16_t health_port) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return make_error("port_file", "cannot write port file " + tmp);
  std::fprintf(f, "%u\n", static_cast<unsigned>(port));
  if (health_port != 0) std::fprintf(f, "%u\n", static_cast<unsigned>(health_port));
  const bool ok = std::fclose(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error("port_file", "cannot write port file " + path);
  }
  return Ok{};
}

std::int64_t millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

Server::Server(ServerOptions options, ConfigSource config)
    : options_(std::move(options)), config_source_(std::move(config)) {
  unsigned threads = options_.threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  metrics_ = std::make_unique<Metrics>(threads);
  shared_ = std::make_unique<ServerShared>(options_, *metrics_, config_, tls_);
  for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>(i, *shared_));
}

Server::~Server() {
  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

std::uint16_t Server::port() const { return listeners_.empty() ? 0 : listeners_[0]->port(); }

std::uint16_t Server::health_port() const {
  return listeners_.size() > 1 ? listeners_[1]->port() : 0;
}

std::vector<std::string> Server::config_watch_paths(const RoutingTable& table) const {
  std::vector<std::string> paths;
  if (config_source_.watch_file.empty()) return paths;
  paths.push_back(config_source_.watch_file);
  for (const Revision& r : table.revisions) {
    if (r.backend == Backend::kLocal && !r.template_path.empty()) paths.push_back(r.template_path);
    // A rotated istio-ca-root-cert is picked up by a reload.
    if (!r.upstream.ca_file.empty()) paths.push_back(r.upstream.ca_file);
  }
  return paths;
}

Status Server::start() {
  auto table = config_source_.load();
  if (!table) return table.error();
  auto upstreams = build_upstreams(*table, nullptr);
  if (!upstreams) return upstreams.error();
  auto loaded = config_.publish(std::move(*table), metrics_->revisions(), std::move(*upstreams));
  config_watch_.reset(config_watch_paths(loaded->table));
  log(level_enum::info,
      LogEvent("routing table loaded")
          .str("source", config_source_.name)
          .num("revisions", static_cast<std::int64_t>(loaded->table.revisions.size()))
          .num("tags", static_cast<std::int64_t>(loaded->table.tags.size())));

  auto tls = make_server_tls_context(options_.tls);
  if (!tls) return tls.error();
  tls_.publish(tls->context);
  std::vector<std::string> tls_paths{options_.tls.cert_file, options_.tls.key_file};
  if (!options_.tls.client_ca_file.empty()) tls_paths.push_back(options_.tls.client_ca_file);
  tls_watch_.reset(std::move(tls_paths));
  log(level_enum::info, LogEvent("serving certificate loaded")
                            .str("subject", tls->info.subject)
                            .str("not_after", tls->info.not_after)
                            .str("key_type", tls->info.key_type)
                            .boolean("client_auth", !options_.tls.client_ca_file.empty()));

  std::vector<Worker*> workers;
  for (auto& w : workers_) workers.push_back(w.get());
  auto webhook = std::make_shared<Listener>(Port::kWebhook, workers, *shared_);
  if (auto bound = webhook->bind(options_.listen); !bound) return bound.error();
  listeners_.push_back(std::move(webhook));
  if (!options_.health_listen.empty()) {
    auto health = std::make_shared<Listener>(Port::kHealth, workers, *shared_);
    if (auto bound = health->bind(options_.health_listen); !bound) return bound.error();
    listeners_.push_back(std::move(health));
  }
  if (!options_.port_file.empty()) {
    if (auto written = write_port_file(options_.port_file, port(), health_port()); !written) {
      return written.error();
    }
  }
  return Ok{};
}

int Server::run() {
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  signals_.async_wait(
      [this](const boost::system::error_code& ec, int signo) { on_signal(ec, signo); });
  for (auto& l : listeners_) l->start();
  for (auto& w : workers_) {
    threads_.emplace_back([w = w.get()] {
      auto guard = net::make_work_guard(w->ioc);  // idle workers wait for connections
      w->ioc.run();
    });
  }
  schedule_watch();
  schedule_probes();
  log(level_enum::info, LogEvent("serving")
                            .num("port", port())
                            .num("health_port", health_port())
                            .num("threads", static_cast<std::int64_t>(workers_.size())));
  control_.run();

  for (auto& w : workers_) w->ioc.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& w : workers_) w->upstream_pool->shutdown();
  log(level_enum::info, LogEvent("stopped"));
  return 0;
}

void Server::shutdown() {
  net::post(control_, [this] {
    if (!shared_->draining) begin_drain();
  });
}

void Server::on_signal(const boost::system::error_code& ec, int signo) {
  if (ec) return;  // cancelled: the server is finishing
  if (signo == SIGHUP) {
    reload_config("SIGHUP");
  } else if (!shared_->draining) {
    begin_drain();
  } else if (!stop_begun_) {
    log(level_enum::info, LogEvent("second termination signal: ending the drain period now"));
    drain_timer_.cancel();
    begin_stop();
  }
  signals_.async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
}

void Server::schedule_watch() {
  watch_timer_.expires_after(options_.watch_interval);
  watch_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_watch();
  });
}

void Server::on_watch() {
  if (config_watch_.poll()) reload_config("file changed");
  if (tls_watch_.poll()) {
    reload_tls(true);
  } else if (tls_failing_) {
    // A certificate and key read across a Secret update can mismatch: try again quietly.
    reload_tls(false);
  }
  schedule_watch();
}

bool Server::reload_config(std::string_view why) {
  auto table = config_source_.load();
  Result<UpstreamStates> upstreams = UpstreamStates{};
  if (table) {
    // A CA that OpenSSL rejects fails the reload like a bad file does.
    const auto previous = config_.current();
    upstreams = build_upstreams(*table, previous ? &previous->upstreams : nullptr);
  }
  if (table && upstreams) return publish_reloaded(std::move(*table), std::move(*upstreams), why);
  const Error& error = table ? upstreams.error() : table.error();
  metrics_->config_reloaded(false);
  log(level_enum::err, LogEvent("routing table reload failed; keeping the last good table")
                           .str("trigger", why)
                           .str("source", config_source_.name)
                           .str("error", error.message)
                           .num("generation", static_cast<std::int64_t>(config_.generation())));
  return false;
}

bool Server::publish_reloaded(RoutingTable table, UpstreamStates upstreams, std::string_view why) {
  auto loaded = config_.publish(std::move(table), metrics_->revisions(), std::move(upstreams));
  metrics_->config_reloaded(true);
  config_watch_.reset(config_watch_paths(loaded->table));
  log(level_enum::info,
      LogEvent("routing table reloaded")
          .str("trigger", why)
          .str("source", config_source_.name)
          .num("generation", static_cast<std::int64_t>(loaded->generation))
          .num("revisions", static_cast<std::int64_t>(loaded->table.revisions.size()))
          .num("tags", static_cast<std::int64_t>(loaded->table.tags.size())));
  return true;
}

bool Server::reload_tls(bool log_failure) {
  auto tls = make_server_tls_context(options_.tls);
  if (!tls) {
    if (log_failure) {
      metrics_->certs_reloaded(false);
      log(level_enum::err, LogEvent("serving certificate reload failed; keeping the last good one")
                               .str("error", tls.error().message));
    }
    tls_failing_ = true;
    return false;
  }
  tls_.publish(tls->context);  // new handshakes only; open connections keep theirs
  tls_failing_ = false;
  metrics_->certs_reloaded(true);
  log(level_enum::info, LogEvent("serving certificate reloaded")
                            .str("subject", tls->info.subject)
                            .str("not_after", tls->info.not_after)
                            .str("key_type", tls->info.key_type));
  return true;
}

// Breakers are probed from here: every tick, each open breaker whose probe is due gets one probe,
// sent from the I/O threads in turn.
void Server::schedule_probes() {
  probe_timer_.expires_after(std::chrono::milliseconds(50));
  probe_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shared_->stopping) return;
    const auto loaded = config_.current();
    const auto now = std::chrono::steady_clock::now();
    for (const auto& state : loaded->upstreams) {
      if (!state || !state->claim_probe(now)) continue;
      Worker& w = *workers_[next_probe_worker_++ % workers_.size()];
      net::post(w.ioc, [&w, state] { send_probe(w, state); });
    }
    schedule_probes();
  });
}

void Server::begin_drain() {
  shared_->draining = true;
  log(level_enum::info, LogEvent("draining: /readyz reports not ready, still serving")
                            .num("drain_period_ms", millis(options_.drain_period)));
  drain_timer_.expires_after(options_.drain_period);
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) begin_stop();
  });
}

void Server::begin_stop() {
  stop_begun_ = true;
  shared_->stopping = true;
  for (auto& l : listeners_) l->stop();
  for (auto& w : workers_) net::post(w->ioc, [w = w.get()] { w->stop_sessions(); });
  stop_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
  log(level_enum::info, LogEvent("stopped accepting; finishing requests in flight")
                            .num("open_connections",
                                 static_cast<std::int64_t>(shared_->open_connections.load() +
                                                           shared_->open_health_connections.load()))
                            .num("shutdown_timeout_ms", millis(options_.shutdown_timeout)));
  wait_for_connections();
}

void Server::wait_for_connections() {
  const std::uint64_t open =
      shared_->open_connections.load() + shared_->open_health_connections.load();
  if (open == 0) return finish();
  if (std::chrono::steady_clock::now() >= stop_deadline_) {
    log(level_enum::warn, LogEvent("shutdown timeout: closing connections still open")
                              .num("open_connections", static_cast<std::int64_t>(open)));
    return finish();
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) wait_for_connections();
  });
}

void Server::finish() {
  boost::system::error_code ignored;
  watch_timer_.cancel();
  probe_timer_.cancel();
  signals_.cancel(ignored);
  control_.stop();
}

}  // namespace revrouter::server
