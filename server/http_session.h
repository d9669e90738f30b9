// Connections: one session per TCP connection (TLS on the webhook port, plain on the health port).
// A session reads each request with a fresh parser bounded by the size limits and by the idle,
// header and body timeouts, routes it (routes.h), writes the answer and, keep-alive permitting,
// reads the next: accept -> [handshake] -> read -> route -> write -> read ...
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>

#include "server/server_context.h"

namespace revrouter::server {

// Sockets bound to a worker's io_context by its concrete executor type: Asio's polymorphic
// any_io_executor costs a type-erased copy on every operation of the request path.
using WorkerSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// Start a session on `worker`'s thread. `open_connections` was incremented for this connection by
// the caller; the session decrements it when it ends. Call from the worker's thread.
void start_tls_session(WorkerSocket socket, Worker& worker,
                       std::shared_ptr<boost::asio::ssl::context> context,
                       std::atomic<std::uint64_t>& open_connections);
void start_plain_session(WorkerSocket socket, Worker& worker,
                         std::atomic<std::uint64_t>& open_connections);

}  // namespace revrouter::server
