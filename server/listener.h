// Accepts connections on one address and hands each to an I/O thread (round robin), enforcing the
// connection cap on the webhook port. The acceptor runs on the first worker's io_context.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "server/http_session.h"
#include "server/routes.h"
#include "server/server_context.h"

namespace revrouter::server {

// "host:port", "[v6]:port" or ":port" (all IPv4 interfaces); the host must be an IP literal.
// Errors have code "address".
Result<boost::asio::ip::tcp::endpoint> parse_listen_address(std::string_view address);

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(Port port, std::vector<Worker*> workers, ServerShared& shared);

  // Opens, binds and listens (SO_REUSEADDR); port 0 picks a free port.
  Status bind(const std::string& address);
  std::uint16_t port() const { return port_; }

  void start();  // thread-safe
  void stop();   // thread-safe: closes the acceptor; open connections are not touched

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, WorkerSocket socket);

  const Port kind_;
  std::vector<Worker*> workers_;
  ServerShared& shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  std::optional<WorkerSocket> pending_;  // the socket the next accept fills
  std::size_t next_worker_ = 0;
  std::uint16_t port_ = 0;
};

}  // namespace revrouter::server
