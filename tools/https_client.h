// A small synchronous HTTPS client for the operator tools (replay's live mode): POSTs to one
// webhook over a kept-alive TLS connection, verifying the server as kube-apiserver does (the
// caBundle, and the Service DNS name given as server name). One client per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "admission/result.h"

namespace revrouter::tools {

struct HttpsUrl {
  std::string host;  // a DNS name or an IP address (IPv6 without brackets)
  std::string port;  // "443" when not given
  std::string path;  // "" when not given
};

// Parses https://host[:port][/path]; http:// and other schemes are errors (code "usage").
Result<HttpsUrl> parse_https_url(std::string_view url);

struct HttpsClientOptions {
  std::string url;          // https://host[:port][/path]
  std::string ca_file;      // PEM bundle to verify the server; "": the system trust store
  std::string server_name;  // SNI and the name the certificate must carry; "": the URL's host
  std::string cert_file;    // client certificate (PEM) for mTLS, with key_file; optional
  std::string key_file;
  std::chrono::milliseconds timeout{10'000};  // for each connect, handshake, write and read
};

struct HttpsResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class HttpsClient {
 public:
  // Errors: a bad URL (code "usage"), or an unreadable CA / client certificate file (code "tls").
  static Result<std::unique_ptr<HttpsClient>> create(const HttpsClientOptions& options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // POSTs `body` to `target` (the request path) on the URL's host, connecting on first use and
  // again once when a kept-alive connection turns out closed. Errors: code "connect", "tls",
  // "timeout" or "http", with the address and the cause.
  Result<HttpsResponse> post(std::string_view target, std::string_view body,
                             std::string_view content_type = "application/json");

  const HttpsUrl& url() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace revrouter::tools
