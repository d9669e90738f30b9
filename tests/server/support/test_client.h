// An HTTPS client that behaves like kube-apiserver's webhook client: verifies the server against
// the CA and the Service DNS name (SNI and hostname check) while connecting to 127.0.0.1, offers
// ALPN http/1.1, keeps the connection alive, and bounds every operation with a timeout. Also a
// plain HTTP GET for the health port.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "tests/server/support/test_pki.h"

namespace revrouter::server::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  bool keep_alive = false;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct ClientTls {
  std::string ca_file;                           // trust anchor for the server certificate
  std::string server_name = kServiceName;        // SNI and the name the certificate must match
  std::string cert_file, key_file;               // client certificate (mTLS), optional
  int min_version = 0, max_version = 0;          // e.g. TLS1_1_VERSION; 0: library default
  std::vector<std::string> alpn = {"http/1.1"};  // protocols offered, in order
};

class TlsClient {
 public:
  TlsClient(std::uint16_t port, ClientTls tls,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~TlsClient();

  Status connect();  // TCP connect to 127.0.0.1 and TLS handshake with verification
  bool connected() const { return stream_.has_value(); }
  Result<HttpResponse> request(
      boost::beast::http::verb method, const std::string& target, const std::string& body = {},
      const std::string& content_type = "application/json",
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  // POST an AdmissionReview the way the API server does.
  Result<HttpResponse> review(const std::string& path, const std::string& body) {
    return request(boost::beast::http::verb::post, path, body);
  }
  Status write_raw(std::string_view bytes);  // bytes as they are, e.g. a malformed request
  Result<HttpResponse> read_response();
  // Waits (bounded) for the server to end the connection: true if it did.
  bool wait_closed_by_server();
  void close();

  std::string alpn() const;                   // the negotiated protocol, "" if none
  std::string peer_certificate() const;       // PEM of the server's leaf certificate
  int tls_version() const;                    // e.g. TLS1_3_VERSION
  int connects() const { return connects_; }  // TCP connections made so far

 private:
  template <class Initiate>
  boost::system::error_code run(Initiate&& initiate);

  std::uint16_t port_;
  ClientTls tls_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> stream_;
  boost::beast::flat_buffer buffer_;
  int connects_ = 0;
};

// A bare TCP connection (no TLS), e.g. a client that never starts its handshake.
class TcpConnection {
 public:
  explicit TcpConnection(std::uint16_t port,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool connected() const { return connected_; }
  bool write(std::string_view bytes);
  // Reads until the server closes (bounded); true if it did.
  bool wait_closed_by_server();

 private:
  std::chrono::milliseconds timeout_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  bool connected_ = false;
};

// GET over plain HTTP (health port), one connection per call.
Result<HttpResponse> plain_get(std::uint16_t port, const std::string& target,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The value of an unlabelled metric or of one series ("name{a=\"b\"}") in Prometheus text, -1 if
// absent.
double metric_value(const std::string& metrics_text, const std::string& series);

}  // namespace revrouter::server::testing
