// TLS for the webhook's sessions and the upstream pool: an Asio/Beast stream whose OpenSSL object
// sends its records straight to the socket and reads them from one buffer the next layer fills.
// Asio's ssl::stream moves every record through a memory-BIO pair and one more Asio operation
// (two copies and a completion per record); this one does what nginx does on the write side and
// keeps Asio's readiness tracking on the read side. Same errors as ssl::stream (eof,
// ssl::error::stream_truncated, ssl-category codes, the next layer's codes such as timeout).
//
// One read and one write may be outstanding at once (as with ssl::stream); a handshake or
// shutdown is alone. All on one thread (an io_context per thread, as the server runs them).
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace revrouter::server {

// The socket every TLS stream ends in (bound to a worker's io_context, see WorkerSocket).
using TlsSocket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

// The part that does not depend on the next layer: the SSL object, its BIO, the input buffer and
// the output the socket did not take at once.
class TlsEngine {
 public:
  enum class Op : std::uint8_t { kHandshake, kRead, kWrite, kShutdown };
  enum class Want : std::uint8_t { kDone, kInput, kOutput };

  explicit TlsEngine(SSL_CTX* ctx);  // throws std::runtime_error if OpenSSL cannot make the SSL
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  SSL* native_handle() const { return ssl_; }

  // Records are sent on this socket's descriptor, read as it is at each send: a socket closed
  // meanwhile (a timeout) is never written, and neither is a descriptor number reused since.
  void attach(TlsSocket& socket);
  void set_role(boost::asio::ssl::stream_base::handshake_type role);

  // One OpenSSL call. kDone: `ec` and `n` hold its outcome. kInput: it needs more bytes from the
  // peer (commit_input(), then call again). kOutput: the queued output is at its limit (flush,
  // then call again).
  Want perform(Op op, void* data, std::size_t size, std::size_t& n, boost::system::error_code& ec);
  // Whether a read can make progress without more input (else read the next layer first).
  bool can_read_now() const { return in_begin_ != in_end_ || SSL_has_pending(ssl_) == 1; }

  boost::asio::mutable_buffer input_space();
  void commit_input(std::size_t n) { in_end_ += n; }
  // An error of the next layer's read, as ssl::stream reports it: EOF without the peer's
  // close_notify is ssl::error::stream_truncated.
  boost::system::error_code input_error(boost::system::error_code ec) const;

  // Ciphertext the socket would not take at once, at most kQueueLimit (then OpenSSL is told to
  // retry). It is written through the next layer by one operation at a time (between
  // begin_flush and end_flush); what OpenSSL writes meanwhile queues behind it.
  bool output_pending() const { return !out_.empty(); }
  bool flushing() const { return flushing_; }
  boost::asio::const_buffer begin_flush();
  void end_flush();

 private:
  static int bio_write(BIO* bio, const char* data, std::size_t len, std::size_t* written);
  static int bio_read(BIO* bio, char* data, std::size_t len, std::size_t* read);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);
  static BIO_METHOD* bio_method();

  SSL* ssl_ = nullptr;
  TlsSocket* socket_ = nullptr;
  int send_errno_ = 0;  // of the send() that failed, for the error code
  std::unique_ptr<char[]> in_;
  std::size_t in_begin_ = 0, in_end_ = 0;
  std::string out_;      // queued
  std::string sending_;  // being written by a flush
  bool flushing_ = false;
};

inline TlsSocket& lowest_socket(TlsSocket& s) { return s; }
template <class Stream>
TlsSocket& lowest_socket(Stream& s) {
  return boost::beast::get_lowest_layer(s).socket();
}

template <class NextLayer>
class TlsStream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  template <class Arg>
  TlsStream(Arg&& arg, SSL_CTX* ctx)
      : next_(std::forward<Arg>(arg)), engine_(ctx), flush_done_(next_.get_executor()) {
    flush_done_.expires_at(Timer::time_point::max());  // only ever cancelled
  }

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() { return next_; }
  SSL* native_handle() { return engine_.native_handle(); }

  template <class Handler>
  void async_handshake(boost::asio::ssl::stream_base::handshake_type role, Handler&& handler) {
    TlsSocket& socket = lowest_socket(next_);
    boost::system::error_code ignored;
    socket.non_blocking(true, ignored);  // OpenSSL's sends must never block the thread
    engine_.attach(socket);
    engine_.set_role(role);
    start<false>(TlsEngine::Op::kHandshake, nullptr, 0, std::forward<Handler>(handler));
  }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    const boost::asio::mutable_buffer b = first_buffer(buffers);
    return start<true>(TlsEngine::Op::kRead, b.data(), b.size(), std::forward<Token>(token));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    const boost::asio::const_buffer b = first_buffer(buffers);
    return start<true>(TlsEngine::Op::kWrite, const_cast<void*>(b.data()), b.size(),
                       std::forward<Token>(token));
  }

  template <class Handler>
  void async_shutdown(Handler&& handler) {
    start<false>(TlsEngine::Op::kShutdown, nullptr, 0, std::forward<Handler>(handler));
  }

 private:
  using Timer =
      boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                        boost::asio::wait_traits<std::chrono::steady_clock>,
                                        executor_type>;

  // Like ssl::stream: one buffer per operation (the first non-empty one).
  template <class Buffers>
  static auto first_buffer(const Buffers& buffers) {
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    for (; it != end; ++it) {
      if (boost::asio::buffer_size(*it) > 0) return *it;
    }
    using Buffer = std::decay_t<decltype(*it)>;
    return Buffer{};
  }

  template <bool kWithSize, class Token>
  auto start(TlsEngine::Op op, void* data, std::size_t size, Token&& token) {
    using Signature = std::conditional_t<kWithSize, void(boost::system::error_code, std::size_t),
                                         void(boost::system::error_code)>;
    return boost::asio::async_compose<Token, Signature>(Operation<kWithSize>(this, op, data, size),
                                                        token, next_);
  }

  // One handshake, read, write or shutdown: perform, send what the socket did not take, read
  // when OpenSSL needs input, perform again ... until OpenSSL is done.
  template <bool kWithSize>
  struct Operation {
    enum class State : std::uint8_t { kStart, kInput, kFlush, kWaitFlush, kPosted };

    Operation(TlsStream* stream, TlsEngine::Op o, void* d, std::size_t n_bytes)
        : s(stream), op(o), data(d), size(n_bytes) {}

    TlsStream* s;
    TlsEngine::Op op;
    void* data;
    std::size_t size;
    State state = State::kStart;
    TlsEngine::Want want = TlsEngine::Want::kInput;
    bool perform_next = true;
    std::size_t n = 0;
    boost::system::error_code result;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t bytes = 0) {
      TlsEngine& e = s->engine_;
      switch (state) {
        case State::kStart:
          break;
        case State::kInput:
          if (ec) return complete(self, e.input_error(ec), 0);
          e.commit_input(bytes);
          perform_next = true;
          break;
        case State::kFlush:
          e.end_flush();
          s->flush_done_.cancel();  // wakes whoever waited for this flush
          if (ec) return complete(self, ec, 0);
          perform_next = want == TlsEngine::Want::kOutput;
          break;
        case State::kWaitFlush:  // another operation's flush ended (ec: the wake-up's cancel)
          perform_next = want == TlsEngine::Want::kOutput && !e.output_pending();
          break;
        case State::kPosted:
          return complete(self, ec, bytes);
      }
      if (perform_next) {
        perform_next = false;
        const bool transfer = op == TlsEngine::Op::kRead || op == TlsEngine::Op::kWrite;
        if (transfer && size == 0) {
          want = TlsEngine::Want::kDone;  // as ssl::stream: nothing asked, nothing done
        } else if (op == TlsEngine::Op::kRead && !e.can_read_now()) {
          want = TlsEngine::Want::kInput;  // nothing buffered: straight to the socket
        } else {
          want = e.perform(op, data, size, n, result);
        }
      }
      if (e.output_pending()) {
        if (e.flushing()) {
          state = State::kWaitFlush;
          s->flush_done_.async_wait(std::move(self));
          return;
        }
        state = State::kFlush;
        boost::asio::async_write(s->next_, e.begin_flush(), std::move(self));
        return;
      }
      if (want == TlsEngine::Want::kDone) {
        if (state == State::kStart) {  // nothing was waited for: complete as if posted
          state = State::kPosted;
          boost::asio::post(boost::beast::bind_handler(std::move(self), result, n));
          return;
        }
        return complete(self, result, n);
      }
      state = State::kInput;
      s->next_.async_read_some(e.input_space(), std::move(self));
    }

    template <class Self>
    void complete(Self& self, boost::system::error_code ec, std::size_t bytes) {
      if constexpr (kWithSize) {
        self.complete(ec, bytes);
      } else {
        self.complete(ec);
      }
    }
  };

  NextLayer next_;
  TlsEngine engine_;
  Timer flush_done_;  // never expires; cancelled when a flush ends, to wake an operation waiting
};

}  // namespace revrouter::server
