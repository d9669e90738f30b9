#include "tests/server/support/test_client.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <sstream>

namespace revrouter::server::testing {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

Error client_error(std::string_view what, const boost::system::error_code& ec) {
  return make_error("client", std::string(what) + ": " + ec.message());
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <class Message>
HttpResponse to_response(Message& res) {
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& f : res) {
    out.headers[lower(std::string_view(f.name_string().data(), f.name_string().size()))] =
        std::string(f.value());
  }
  out.keep_alive = res.keep_alive();
  return out;
}

// Runs the io_context until the operation `initiate` starts has completed. Every operation runs
// under a beast::tcp_stream timeout, so this returns in bounded time.
template <class Initiate>
boost::system::error_code run_op(net::io_context& ioc, Initiate&& initiate) {
  boost::system::error_code result = net::error::timed_out;
  bool done = false;
  initiate([&](boost::system::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  ioc.restart();
  ioc.run();
  return done ? result : boost::system::error_code(net::error::timed_out);
}

}  // namespace

TlsClient::TlsClient(std::uint16_t port, ClientTls tls, std::chrono::milliseconds timeout)
    : port_(port), tls_(std::move(tls)), timeout_(timeout), ctx_(ssl::context::tls_client) {
  ctx_.set_verify_mode(ssl::verify_peer);
  if (!tls_.ca_file.empty()) ctx_.load_verify_file(tls_.ca_file);
  if (!tls_.cert_file.empty()) {
    ctx_.use_certificate_chain_file(tls_.cert_file);
    ctx_.use_private_key_file(tls_.key_file, ssl::context::pem);
  }
  SSL_CTX* native = ctx_.native_handle();
  if (tls_.min_version != 0) SSL_CTX_set_min_proto_version(native, tls_.min_version);
  if (tls_.max_version != 0) {
    SSL_CTX_set_max_proto_version(native, tls_.max_version);
    // Old protocol versions need the lowest security level to be offered at all.
    if (tls_.max_version < TLS1_2_VERSION) SSL_CTX_set_cipher_list(native, "DEFAULT:@SECLEVEL=0");
  }
}

TlsClient::~TlsClient() = default;

template <class Initiate>
boost::system::error_code TlsClient::run(Initiate&& initiate) {
  return run_op(ioc_, std::forward<Initiate>(initiate));
}

Status TlsClient::connect() {
  stream_.emplace(ioc_, ctx_);
  buffer_.clear();
  SSL* ssl = stream_->native_handle();
  SSL_set_tlsext_host_name(ssl, tls_.server_name.c_str());
  // The hostname check Go's crypto/tls does: the certificate must name server_name.
  X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), tls_.server_name.c_str(), 0);
  if (!tls_.alpn.empty()) {
    std::string wire;
    for (const auto& p : tls_.alpn) wire.append(1, static_cast<char>(p.size())).append(p);
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  auto& tcp_layer = beast::get_lowest_layer(*stream_);
  tcp_layer.expires_after(timeout_);
  ++connects_;
  auto ec = run([&](auto handler) {
    tcp_layer.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port_), handler);
  });
  if (ec) {
    stream_.reset();
    return client_error("connect", ec);
  }
  tcp_layer.expires_after(timeout_);
  ec = run([&](auto handler) { stream_->async_handshake(ssl::stream_base::client, handler); });
  if (ec) {
    stream_.reset();
    return client_error("handshake", ec);
  }
  return Ok{};
}

Result<HttpResponse> TlsClient::request(
    http::verb method, const std::string& target, const std::string& body,
    const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!stream_) {
    if (auto c = connect(); !c) return c.error();
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, tls_.server_name);
  req.set(http::field::user_agent, "kube-apiserver-admission");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.set(http::field::accept, "application/json, */*");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  beast::get_lowest_layer(*stream_).expires_after(timeout_);
  auto ec = run([&](auto handler) { http::async_write(*stream_, req, handler); });
  if (ec) {
    close();
    return client_error("write", ec);
  }
  return read_response();
}

Status TlsClient::write_raw(std::string_view bytes) {
  if (!stream_) {
    if (auto c = connect(); !c) return c.error();
  }
  beast::get_lowest_layer(*stream_).expires_after(timeout_);
  auto ec = run([&](auto handler) { net::async_write(*stream_, net::buffer(bytes), handler); });
  if (ec) return client_error("write", ec);
  return Ok{};
}

Result<HttpResponse> TlsClient::read_response() {
  if (!stream_) return make_error("client", "not connected");
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::get_lowest_layer(*stream_).expires_after(timeout_);
  auto ec = run([&](auto handler) { http::async_read(*stream_, buffer_, parser, handler); });
  if (ec) {
    close();
    return client_error("read", ec);
  }
  return to_response(parser.get());
}

bool TlsClient::wait_closed_by_server() {
  if (!stream_) return true;
  beast::get_lowest_layer(*stream_).expires_after(timeout_);
  std::size_t got = 0;
  auto ec = run([&](auto handler) {
    stream_->async_read_some(buffer_.prepare(4096), [&got, handler](auto e, std::size_t n) mutable {
      got = n;
      handler(e);
    });
  });
  // Our own timeout firing means the server kept the connection open.
  const bool closed = ec && ec != beast::error::timeout && got == 0;
  close();
  return closed;
}

void TlsClient::close() { stream_.reset(); }

std::string TlsClient::alpn() const {
  if (!stream_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(const_cast<TlsClient*>(this)->stream_->native_handle(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

std::string TlsClient::peer_certificate() const {
  if (!stream_) return {};
  X509* cert = SSL_get1_peer_certificate(const_cast<TlsClient*>(this)->stream_->native_handle());
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

int TlsClient::tls_version() const {
  return stream_ ? SSL_version(const_cast<TlsClient*>(this)->stream_->native_handle()) : 0;
}

TcpConnection::TcpConnection(std::uint16_t port, std::chrono::milliseconds timeout)
    : timeout_(timeout), stream_(ioc_) {
  stream_.expires_after(timeout_);
  connected_ = !run_op(ioc_, [&](auto handler) {
    stream_.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port), handler);
  });
}

bool TcpConnection::write(std::string_view bytes) {
  stream_.expires_after(timeout_);
  return !run_op(ioc_,
                 [&](auto handler) { net::async_write(stream_, net::buffer(bytes), handler); });
}

bool TcpConnection::wait_closed_by_server() {
  char buf[4096];
  for (;;) {
    stream_.expires_after(timeout_);
    std::size_t got = 0;
    auto ec = run_op(ioc_, [&](auto handler) {
      stream_.async_read_some(net::buffer(buf), [&got, handler](auto e, std::size_t n) mutable {
        got = n;
        handler(e);
      });
    });
    if (ec) return ec != beast::error::timeout;  // our timeout: the server kept it open
    // Data (e.g. a TLS alert) before the close: keep reading.
  }
}

Result<HttpResponse> plain_get(std::uint16_t port, const std::string& target,
                               std::chrono::milliseconds timeout) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  auto ec = run_op(ioc, [&](auto handler) {
    stream.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port), handler);
  });
  if (ec) return client_error("connect", ec);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  stream.expires_after(timeout);
  ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, handler); });
  if (ec) return client_error("write", ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  stream.expires_after(timeout);
  ec = run_op(ioc, [&](auto handler) { http::async_read(stream, buffer, res, handler); });
  if (ec) return client_error("read", ec);
  return to_response(res);
}

double metric_value(const std::string& metrics_text, const std::string& series) {
  std::istringstream in(metrics_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

}  // namespace revrouter::server::testing
