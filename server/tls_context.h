// The webhook's TLS server context: TLS 1.2/1.3 only, modern AEAD cipher suites, ECDSA (P-256,
// P-384) or RSA (>= 2048 bit) keys, ALPN offering only http/1.1, optional client-certificate
// verification. Contexts are immutable once built; a certificate reload builds a new one and
// swaps it in for new handshakes while existing connections keep theirs.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "admission/result.h"

namespace revrouter::server {

struct TlsFiles {
  std::string cert_file;       // PEM: the serving certificate, then any intermediates
  std::string key_file;        // PEM: its private key
  std::string client_ca_file;  // PEM CA bundle; non-empty: clients must present a cert it signed
};

// What was loaded, for logs.
struct TlsInfo {
  std::string subject;
  std::string not_after;  // e.g. "Jan  1 00:00:00 2030 GMT"
  std::string key_type;   // "ecdsa-p256", "rsa-2048", ...
};

struct LoadedTls {
  std::shared_ptr<boost::asio::ssl::context> context;
  TlsInfo info;
};

// Errors (code "tls") name the file and what is wrong with it.
Result<LoadedTls> make_server_tls_context(const TlsFiles& files);

// The context new handshakes use. Read once per connection, replaced on reload.
class TlsContextStore {
 public:
  std::shared_ptr<boost::asio::ssl::context> current() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void publish(std::shared_ptr<boost::asio::ssl::context> context) {
    std::lock_guard lock(mutex_);
    current_ = std::move(context);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;
};

}  // namespace revrouter::server
