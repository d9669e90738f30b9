#include "tools/https_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

namespace revrouter::tools {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Result<HttpsUrl> parse_https_url(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  auto bad = [&](std::string_view why) {
    return make_error("usage", "URL \"" + std::string(url) + "\": " + std::string(why));
  };
  if (!url.starts_with(kScheme)) return bad("want https://host[:port][/path]");
  std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpsUrl out;
  out.path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  if (out.path.find_first_of("?#") != std::string::npos) return bad("no query or fragment, please");
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");
  std::string_view port;
  if (authority.starts_with("[")) {  // [v6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated [IPv6] host");
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(":")) return bad("junk after the [IPv6] host");
    if (!after.empty()) port = after.substr(1);
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (port.empty()) port = "443";
  if (port.find_first_not_of("0123456789") != std::string_view::npos || port.size() > 5) {
    return bad("the port is not a number");
  }
  out.port = std::string(port);
  return out;
}

struct HttpsClient::Impl {
  HttpsClientOptions options;
  HttpsUrl url;
  std::string verify_name;
  asio::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;

  std::string where() const { return url.host + ":" + url.port; }

  // Runs one asynchronous step to completion; the tcp_stream's expiry bounds it.
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  Error failure(std::string_view step, const beast::error_code& ec) {
    std::string code = ec == beast::error::timeout ? "timeout" : std::string(step);
    std::string message = std::string(step == "connect" ? "connecting to " : "") +
                          (step == "tls" ? "TLS handshake with " : "") +
                          (step == "http" ? "HTTP exchange with " : "") + where() + ": ";
    if (ec == beast::error::timeout) {
      message += "timed out after " + std::to_string(options.timeout.count()) + " ms";
    } else {
      message += ec.message();
    }
    if (step == "tls" && stream) {
      const long verify = SSL_get_verify_result(stream->native_handle());
      if (verify != X509_V_OK) {
        message += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) +
                   "; verified name \"" + verify_name + "\")";
      }
    }
    return make_error(std::move(code), std::move(message));
  }

  Status connect() {
    stream.reset();
    buffer.clear();
    stream.emplace(ioc, ctx);
    beast::error_code ec;
    // SNI carries DNS names only (RFC 6066); an IP is verified against the certificate's IP SANs.
    boost::system::error_code not_an_ip;
    asio::ip::make_address(verify_name, not_an_ip);
    if (not_an_ip) {
      if (!SSL_set_tlsext_host_name(stream->native_handle(), verify_name.c_str())) {
        return make_error("tls", "cannot set the server name \"" + verify_name + "\"");
      }
    }
    stream->set_verify_callback(ssl::host_name_verification(verify_name));

    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    ec = run([&](auto handler) {
      resolver.async_resolve(
          url.host, url.port,
          [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
            endpoints = std::move(r);
            handler(e);
          });
    });
    if (ec) return failure("connect", ec);
    auto& lowest = beast::get_lowest_layer(*stream);
    lowest.expires_after(options.timeout);
    ec = run([&](auto handler) {
      lowest.async_connect(
          endpoints, [handler](beast::error_code e, const tcp::endpoint&) mutable { handler(e); });
    });
    if (ec) return failure("connect", ec);
    lowest.expires_after(options.timeout);
    ec = run([&](auto handler) { stream->async_handshake(ssl::stream_base::client, handler); });
    if (ec) return failure("tls", ec);
    return Ok{};
  }

  // One request/response on the current connection.
  Result<HttpsResponse> exchange(std::string_view target, std::string_view body,
                                 std::string_view content_type) {
    http::request<http::string_body> req{http::verb::post, std::string(target), 11};
    req.set(http::field::host, verify_name);
    req.set(http::field::user_agent, "revrouter-replay");
    req.set(http::field::content_type,
            beast::string_view(content_type.data(), content_type.size()));
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    req.body() = std::string(body);
    req.prepare_payload();

    auto& lowest = beast::get_lowest_layer(*stream);
    lowest.expires_after(options.timeout);
    beast::error_code ec = run([&](auto handler) { http::async_write(*stream, req, handler); });
    if (ec) return failure("http", ec);

    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    lowest.expires_after(options.timeout);
    ec = run([&](auto handler) { http::async_read(*stream, buffer, parser, handler); });
    if (ec) return failure("http", ec);
    auto res = parser.release();
    HttpsResponse out;
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = std::move(res.body());
    if (!res.keep_alive()) stream.reset();
    return out;
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

const HttpsUrl& HttpsClient::url() const { return impl_->url; }

Result<std::unique_ptr<HttpsClient>> HttpsClient::create(const HttpsClientOptions& options) {
  auto url = parse_https_url(options.url);
  if (!url) return url.error();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->url = *url;
  impl->verify_name = options.server_name.empty() ? url->host : options.server_name;

  beast::error_code ec;
  impl->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  impl->ctx.set_verify_mode(ssl::verify_peer, ec);
  if (options.ca_file.empty()) {
    impl->ctx.set_default_verify_paths(ec);
    if (ec) return make_error("tls", "loading the system trust store: " + ec.message());
  } else {
    impl->ctx.load_verify_file(options.ca_file, ec);
    if (ec) {
      return make_error(
          "tls", "--ca " + options.ca_file + ": " + ec.message() + " (want a PEM CA bundle)");
    }
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return make_error("usage", "a client certificate needs both --cert and --key");
  }
  if (!options.cert_file.empty()) {
    impl->ctx.use_certificate_chain_file(options.cert_file, ec);
    if (ec) return make_error("tls", "--cert " + options.cert_file + ": " + ec.message());
    impl->ctx.use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) return make_error("tls", "--key " + options.key_file + ": " + ec.message());
  }
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<HttpsResponse> HttpsClient::post(std::string_view target, std::string_view body,
                                        std::string_view content_type) {
  Impl& c = *impl_;
  const bool reused = c.stream.has_value();
  if (!reused) {
    if (auto st = c.connect(); !st) {
      c.stream.reset();
      return st.error();
    }
  }
  auto res = c.exchange(target, body, content_type);
  if (res) return res;
  c.stream.reset();  // a failed exchange leaves the connection in an unknown state
  if (!reused || res.error().code == "timeout") return res;
  // The server may have closed an idle kept-alive connection: one fresh attempt.
  if (auto st = c.connect(); !st) {
    c.stream.reset();
    return st.error();
  }
  res = c.exchange(target, body, content_type);
  if (!res) c.stream.reset();
  return res;
}

}  // namespace revrouter::tools
