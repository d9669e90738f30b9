#include "server/tls_stream.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

namespace revrouter::server {
namespace net = boost::asio;
namespace ssl = net::ssl;

namespace {

// Room for one whole TLS record (16 KiB of plaintext plus its header, padding and tag) per read.
constexpr std::size_t kInputBytes = 17 * 1024;
// Ciphertext kept for a socket that is full; past it SSL_write stops (and returns what it wrote).
constexpr std::size_t kQueueLimit = 256 * 1024;

}  // namespace

TlsEngine::TlsEngine(SSL_CTX* ctx) : ssl_(SSL_new(ctx)), in_(new char[kInputBytes]) {
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
  BIO* bio = BIO_new(bio_method());
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw std::runtime_error("BIO_new failed");
  }
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // the SSL owns it
  // As ssl::stream sets them: SSL_write may return after some records (async_write continues),
  // and a retried write may come from another address. Idle buffers are released until the
  // owner clears the mode (after the handshake).
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

void TlsEngine::attach(TlsSocket& socket) { socket_ = &socket; }

void TlsEngine::set_role(ssl::stream_base::handshake_type role) {
  if (role == ssl::stream_base::client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsEngine::Want TlsEngine::perform(Op op, void* data, std::size_t size, std::size_t& n,
                                   boost::system::error_code& ec) {
  // SSL_get_error reads this thread's error queue: it must hold nothing older than the call.
  // (Peeking first: clearing walks all 16 slots, and the queue is almost always empty.)
  if (ERR_peek_error() != 0) ERR_clear_error();
  send_errno_ = 0;
  n = 0;
  int r = 0;
  switch (op) {
    case Op::kHandshake:
      r = SSL_do_handshake(ssl_);
      break;
    case Op::kRead:
      r = SSL_read_ex(ssl_, data, size, &n);
      break;
    case Op::kWrite:
      r = SSL_write_ex(ssl_, data, size, &n);
      break;
    case Op::kShutdown:
      // 0: our close_notify is out; the second call waits for the peer's (as ssl::stream does).
      r = SSL_shutdown(ssl_);
      if (r == 0) r = SSL_shutdown(ssl_);
      break;
  }
  if (r > 0) {
    ec = {};
    return Want::kDone;
  }
  const int error = SSL_get_error(ssl_, r);
  switch (error) {
    case SSL_ERROR_WANT_READ:
      ec = {};
      return Want::kInput;
    case SSL_ERROR_WANT_WRITE:
      ec = {};
      return Want::kOutput;
    case SSL_ERROR_ZERO_RETURN:
      ec = net::error::eof;  // the peer's close_notify
      break;
    case SSL_ERROR_SYSCALL:
    case SSL_ERROR_SSL: {
      // As ssl::stream reports them. (The BIO never signals end of input: the next layer's EOF
      // is reported by input_error() before OpenSSL could see it.)
      const unsigned long e = ERR_get_error();
      if (send_errno_ != 0) {
        ec = {send_errno_, boost::system::system_category()};  // e.g. broken_pipe, reset
      } else if (e == 0) {
        ec = ssl::error::unspecified_system_error;
      } else {
        ec = {static_cast<int>(e), net::error::get_ssl_category()};
      }
      ERR_clear_error();
      break;
    }
    default:
      ec = ssl::error::unexpected_result;
      break;
  }
  return Want::kDone;
}

net::mutable_buffer TlsEngine::input_space() {
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_end_ == kInputBytes) {
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  return {in_.get() + in_end_, kInputBytes - in_end_};
}

boost::system::error_code TlsEngine::input_error(boost::system::error_code ec) const {
  if (ec != net::error::eof) return ec;
  // The transport ended: cleanly only if the peer's close_notify came first.
  if ((SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) == 0) return ssl::error::stream_truncated;
  return ec;
}

net::const_buffer TlsEngine::begin_flush() {
  flushing_ = true;
  sending_.clear();
  sending_.swap(out_);
  return net::buffer(sending_);
}

void TlsEngine::end_flush() {
  flushing_ = false;
  sending_.clear();
}

// ---------------------------------------------------------------------------------------------
// The BIO: reads come from the input buffer, writes go to the socket at once and queue only what
// it does not take (or everything while earlier output is still queued, to keep the order).

int TlsEngine::bio_write(BIO* bio, const char* data, std::size_t len, std::size_t* written) {
  auto* e = static_cast<TlsEngine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (e->out_.size() >= kQueueLimit) {
    BIO_set_retry_write(bio);  // SSL_ERROR_WANT_WRITE: the operation flushes, then retries
    return 0;
  }
  std::size_t sent = 0;
  if (e->out_.empty() && !e->flushing_) {
    const int fd = e->socket_ != nullptr ? e->socket_->native_handle() : -1;
    if (fd < 0) {
      e->send_errno_ = EBADF;
      return 0;
    }
    const ssize_t r = ::send(fd, data, len, MSG_NOSIGNAL);
    if (r >= 0) {
      sent = static_cast<std::size_t>(r);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      e->send_errno_ = errno;
      return 0;
    }
  }
  e->out_.append(data + sent, len - sent);
  *written = len;
  return 1;
}

int TlsEngine::bio_read(BIO* bio, char* data, std::size_t len, std::size_t* read) {
  auto* e = static_cast<TlsEngine*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const std::size_t available = e->in_end_ - e->in_begin_;
  if (available == 0) {
    BIO_set_retry_read(bio);  // SSL_ERROR_WANT_READ: the operation reads the next layer
    return 0;
  }
  const std::size_t n = std::min(len, available);
  std::memcpy(data, e->in_.get() + e->in_begin_, n);
  e->in_begin_ += n;
  *read = n;
  return 1;
}

long TlsEngine::bio_ctrl(BIO* bio, int cmd, long, void*) {
  auto* e = static_cast<TlsEngine*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // writes are sent or queued as they come
    case BIO_CTRL_PENDING:
      return static_cast<long>(std::min<std::size_t>(e->in_end_ - e->in_begin_, LONG_MAX));
    case BIO_CTRL_WPENDING:
      return static_cast<long>(std::min<std::size_t>(e->out_.size(), LONG_MAX));
    default:
      return 0;
  }
}

BIO_METHOD* TlsEngine::bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "revrouter tls");
    if (m == nullptr) throw std::runtime_error("BIO_meth_new failed");
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    return m;
  }();
  return method;
}

}  // namespace revrouter::server
