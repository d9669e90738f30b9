#include "server/tls_stream.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/tls_context.h"
#include "tests/server/support/test_pki.h"

namespace revrouter::server {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Executor = net::io_context::executor_type;
using TcpStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;
using error_code = boost::system::error_code;

// More than loopback's socket buffers hold (tcp_wmem and tcp_rmem maxima: 4 + 6 MiB by default),
// so a writer with no reader must queue output and wait.
constexpr std::size_t kBig = 16u << 20;

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

// A server stream over Beast's timed TCP stream (as the webhook's sessions) and a client stream
// over a plain socket (as the upstream pool), connected on 127.0.0.1, on one io_context run by
// the test thread for bounded slices.
class TlsStreamTest : public ::testing::Test {
 protected:
  TlsStreamTest() : client_ctx_(ssl::context::tls_client) {
    const auto pair = pki_.serving();
    testing::write_text(dir_ / "tls.crt", pair.cert);
    testing::write_text(dir_ / "tls.key", pair.key);
    auto loaded = make_server_tls_context(
        {(dir_ / "tls.crt").string(), (dir_ / "tls.key").string(), std::string()});
    if (!loaded) throw std::runtime_error(loaded.error().message);
    server_ctx_ = loaded->context;
    trust(client_ctx_, pki_.ca_pem());
  }

  static void trust(ssl::context& ctx, const std::string& ca_pem) {
    ctx.add_certificate_authority(net::buffer(ca_pem));
    ctx.set_verify_mode(ssl::verify_peer);
  }

  // Connects and accepts; with `handshake`, completes both handshakes (asserted).
  void connect(bool handshake = true) {
    tcp::acceptor acceptor(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client_.emplace(ioc_.get_executor(), client_ctx_.native_handle());
    client_->next_layer().connect(acceptor.local_endpoint());
    TlsSocket accepted(ioc_.get_executor());
    acceptor.accept(accepted);
    server_.emplace(std::move(accepted), server_ctx_->native_handle());
    SSL_set1_host(client_->native_handle(), testing::kServiceName);
    if (!handshake) return;
    std::optional<error_code> client_ec, server_ec;
    client_->async_handshake(ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
    server_->async_handshake(ssl::stream_base::server, [&](error_code ec) { server_ec = ec; });
    run();
    ASSERT_TRUE(client_ec && server_ec);
    ASSERT_FALSE(*client_ec) << client_ec->message();
    ASSERT_FALSE(*server_ec) << server_ec->message();
  }

  // Runs until nothing is left to do, or for at most `limit` (then the test sees what finished).
  void run(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    ioc_.restart();
    ioc_.run_for(limit);
  }

  testing::TestPki pki_;
  testing::TempDir dir_;
  net::io_context ioc_{1};
  std::shared_ptr<ssl::context> server_ctx_;
  ssl::context client_ctx_;
  std::optional<TlsStream<TlsSocket>> client_;
  std::optional<TlsStream<TcpStream>> server_;
};

TEST_F(TlsStreamTest, HandshakeNegotiatesTls13AndVerifiesTheServiceName) {
  connect();
  EXPECT_EQ(SSL_version(client_->native_handle()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_get_verify_result(client_->native_handle()), X509_V_OK);
}

TEST_F(TlsStreamTest, OutputTheSocketCannotTakeWaitsForTheReader) {
  connect();
  const std::string sent = pattern(kBig);
  std::optional<error_code> write_ec;
  std::size_t written = 0;
  net::async_write(*client_, net::buffer(sent), [&](error_code ec, std::size_t n) {
    write_ec = ec;
    written = n;
  });
  run(std::chrono::milliseconds(200));
  EXPECT_FALSE(write_ec) << "the socket took 16 MiB with no reader";

  std::string received(kBig, '\0');
  std::optional<error_code> read_ec;
  net::async_read(*server_, net::buffer(received),
                  [&](error_code ec, std::size_t) { read_ec = ec; });
  run();
  ASSERT_TRUE(write_ec && read_ec);
  EXPECT_FALSE(*write_ec) << write_ec->message();
  EXPECT_FALSE(*read_ec) << read_ec->message();
  EXPECT_EQ(written, kBig);
  EXPECT_TRUE(received == sent);
}

TEST_F(TlsStreamTest, OneReadAndOneWriteMayBeOutstandingTogether) {
  // The upstream pool's pattern: a read stays outstanding while the request is written.
  connect();
  char reply[16] = {};
  std::optional<error_code> client_read_ec, write_ec;
  std::size_t reply_n = 0;
  client_->async_read_some(net::buffer(reply), [&](error_code ec, std::size_t n) {
    client_read_ec = ec;
    reply_n = n;
  });
  const std::string sent = pattern(kBig);
  net::async_write(*client_, net::buffer(sent), [&](error_code ec, std::size_t) { write_ec = ec; });

  std::string received(kBig, '\0');
  std::optional<error_code> answer_ec;
  net::async_read(*server_, net::buffer(received), [&](error_code ec, std::size_t) {
    ASSERT_FALSE(ec) << ec.message();
    net::async_write(*server_, net::buffer("pong", 4),
                     [&](error_code e, std::size_t) { answer_ec = e; });
  });
  run();
  ASSERT_TRUE(client_read_ec && write_ec && answer_ec);
  EXPECT_FALSE(*write_ec) << write_ec->message();
  EXPECT_FALSE(*answer_ec) << answer_ec->message();
  EXPECT_FALSE(*client_read_ec) << client_read_ec->message();
  EXPECT_EQ(std::string(reply, reply_n), "pong");
  EXPECT_TRUE(received == sent);
}

TEST_F(TlsStreamTest, CompletionsNeverRunInsideTheInitiatingCall) {
  connect();
  bool wrote = false;
  bool in_call = true;
  net::async_write(*client_, net::buffer("0123456789", 10), [&](error_code ec, std::size_t) {
    EXPECT_FALSE(ec);
    EXPECT_FALSE(in_call) << "write handler ran inside async_write";
    wrote = true;
  });
  in_call = false;
  run();
  ASSERT_TRUE(wrote);

  // The first read brings the whole record; the second finds its rest already decrypted.
  char part[4];
  std::size_t first = 0;
  server_->async_read_some(net::buffer(part), [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    first = n;
  });
  run();
  ASSERT_EQ(first, 4u);
  std::optional<std::size_t> second;
  in_call = true;
  server_->async_read_some(net::buffer(part), [&](error_code ec, std::size_t n) {
    EXPECT_FALSE(ec);
    EXPECT_FALSE(in_call) << "read handler ran inside async_read_some";
    second = n;
  });
  in_call = false;
  run();
  ASSERT_TRUE(second);
  EXPECT_EQ(*second, 4u);
  EXPECT_EQ(std::string(part, 4), "4567");
}

TEST_F(TlsStreamTest, PeerClosingWithoutCloseNotifyIsStreamTruncated) {
  connect();
  // A FIN with no close_notify before it. (Closing outright would reset the connection: the
  // client has not read the session tickets the server sent after the handshake.)
  client_->next_layer().shutdown(tcp::socket::shutdown_send);
  char buf[16];
  std::optional<error_code> read_ec;
  server_->async_read_some(net::buffer(buf), [&](error_code ec, std::size_t) { read_ec = ec; });
  run();
  ASSERT_TRUE(read_ec);
  EXPECT_EQ(*read_ec, ssl::error::stream_truncated) << read_ec->message();
}

TEST_F(TlsStreamTest, CloseNotifyReadsAsEofAndBothShutdownsComplete) {
  connect();
  std::optional<error_code> client_shutdown, server_read, server_shutdown;
  client_->async_shutdown([&](error_code ec) { client_shutdown = ec; });
  char buf[16];
  server_->async_read_some(net::buffer(buf), [&](error_code ec, std::size_t) {
    server_read = ec;
    server_->async_shutdown([&](error_code e) { server_shutdown = e; });
  });
  run();
  ASSERT_TRUE(client_shutdown && server_read && server_shutdown);
  EXPECT_EQ(*server_read, net::error::eof) << server_read->message();
  EXPECT_FALSE(*server_shutdown) << server_shutdown->message();
  EXPECT_FALSE(*client_shutdown) << client_shutdown->message();
}

TEST_F(TlsStreamTest, UntrustedCertificateFailsTheHandshakeWithOpenSslsReason) {
  testing::TestPki other;
  client_ctx_ = ssl::context(ssl::context::tls_client);
  trust(client_ctx_, other.ca_pem());
  connect(false);
  std::optional<error_code> client_ec, server_ec;
  client_->async_handshake(ssl::stream_base::client, [&](error_code ec) { client_ec = ec; });
  server_->async_handshake(ssl::stream_base::server, [&](error_code ec) { server_ec = ec; });
  run();
  ASSERT_TRUE(client_ec && server_ec);
  ASSERT_EQ(client_ec->category(), net::error::get_ssl_category());
  const char* reason = ERR_reason_error_string(static_cast<unsigned long>(client_ec->value()));
  ASSERT_NE(reason, nullptr);
  EXPECT_STREQ(reason, "certificate verify failed");
  EXPECT_TRUE(*server_ec);  // the client's alert, or the connection it closed
  EXPECT_EQ(ERR_peek_error(), 0u) << "a failed operation left errors on the thread's queue";
}

TEST_F(TlsStreamTest, TheNextLayersTimeoutEndsAWaitingRead) {
  connect();
  beast::get_lowest_layer(*server_).expires_after(std::chrono::milliseconds(50));
  char buf[16];
  std::optional<error_code> read_ec;
  server_->async_read_some(net::buffer(buf), [&](error_code ec, std::size_t) { read_ec = ec; });
  run();
  ASSERT_TRUE(read_ec);
  EXPECT_EQ(*read_ec, beast::error::timeout) << read_ec->message();
}

TEST_F(TlsStreamTest, WritingToAResetConnectionFailsWithTheSystemError) {
  connect();
  // An abortive close: the server's next read sees the reset, its next send fails.
  client_->next_layer().set_option(net::socket_base::linger(true, 0));
  client_->next_layer().close();
  char buf[16];
  std::optional<error_code> read_ec;
  server_->async_read_some(net::buffer(buf), [&](error_code ec, std::size_t) { read_ec = ec; });
  run();
  ASSERT_TRUE(read_ec);
  EXPECT_EQ(*read_ec, net::error::connection_reset) << read_ec->message();

  const std::string data = pattern(1 << 20);
  std::optional<error_code> write_ec;
  net::async_write(*server_, net::buffer(data), [&](error_code ec, std::size_t) { write_ec = ec; });
  run();
  ASSERT_TRUE(write_ec);
  EXPECT_EQ(write_ec->category(), boost::system::system_category()) << write_ec->message();
  EXPECT_TRUE(*write_ec == net::error::broken_pipe || *write_ec == net::error::connection_reset)
      << write_ec->message();
}

TEST_F(TlsStreamTest, WritingAfterTheSocketWasClosedSendsNothing) {
  // A timeout closes the socket; its descriptor number may belong to another connection by the
  // time a late write comes. The stream reads the descriptor at each send.
  connect();
  const int fd = beast::get_lowest_layer(*server_).socket().native_handle();
  beast::get_lowest_layer(*server_).close();
  // The number now names an unconnected socket, as it would another connection's. Sending there
  // fails differently (ENOTCONN or EPIPE), so the error below tells which descriptor was used.
  const int other = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(other, 0);
  ASSERT_EQ(::dup2(other, fd), fd);
  ::close(other);
  const int reused = fd;
  std::optional<error_code> write_ec;
  net::async_write(*server_, net::buffer("late", 4),
                   [&](error_code ec, std::size_t) { write_ec = ec; });
  run();
  ::close(reused);
  ASSERT_TRUE(write_ec);
  EXPECT_EQ(*write_ec, net::error::bad_descriptor) << write_ec->message();
}

}  // namespace
}  // namespace revrouter::server
