// A scripted HTTPS webhook in the test process, for the load generator's tests: it reads each
// request's uid and lets the test decide the answer (status, body, delay, close). One thread per
// connection, blocking Beast I/O; stopped and joined in the destructor.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "certs/cert_set.h"
#include "tests/tools/replay_test_util.h"

namespace revrouter::loadtest::testing {

struct FakeAnswer {
  int status = 200;
  std::string body;  // "": a good AdmissionReview answer for the request's uid
  std::chrono::milliseconds delay{0};
  bool close = false;  // Connection: close after this answer
};

// The answer a webhook gives: allowed, for `uid`.
inline std::string allowed_review(const std::string& uid, bool allowed = true,
                                  const std::string& message = "") {
  nlohmann::json r = {{"apiVersion", "admission.k8s.io/v1"},
                      {"kind", "AdmissionReview"},
                      {"response", {{"uid", uid}, {"allowed", allowed}}}};
  if (!message.empty()) r["response"]["status"] = {{"code", 403}, {"message", message}};
  return r.dump();
}

class FakeServer {
 public:
  // `respond(n, uid)`: the answer to the n-th request (0-based, in arrival order) carrying `uid`.
  using Respond = std::function<FakeAnswer(std::uint64_t n, const std::string& uid)>;

  explicit FakeServer(Respond respond) : respond_(std::move(respond)) {
    certs::CertSetOptions options;
    options.service = "fake";
    options.namespace_ = "test";
    options.ip_addresses = {"127.0.0.1"};
    auto set = certs::generate_cert_set(options);
    if (!set) throw std::runtime_error(set.error().message);
    ca_file_ = dir_.write("ca.crt", set->ca_cert);
    ctx_.use_certificate_chain(boost::asio::buffer(set->tls_cert));
    ctx_.use_private_key(boost::asio::buffer(set->tls_key), boost::asio::ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FakeServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);  // wakes connection threads in read()
    }
    cv_.notify_all();  // wakes delays
    // Wake the blocking accept() with a connection of our own.
    boost::system::error_code ignored;
    tcp::socket poke(ioc_);
    poke.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ignored);
    accept_thread_.join();
    for (auto& t : threads_) t.join();
  }
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::string& ca_file() const { return ca_file_; }
  std::uint64_t requests() const { return count_.load(); }
  std::uint64_t connections() const { return connections_.load(); }
  std::vector<std::string> uids() const {
    std::lock_guard lock(mu_);
    return uids_;
  }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  void accept_loop() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (ec) continue;
      ++connections_;
      fds_.push_back(socket.native_handle());
      threads_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }

  void serve(tcp::socket socket) {
    namespace http = boost::beast::http;
    const int fd = socket.native_handle();
    boost::asio::ssl::stream<tcp::socket> stream(std::move(socket), ctx_);
    // Forget the descriptor before the stream closes it, so the destructor never shuts down a
    // number the process has since reused.
    struct Forget {
      FakeServer& s;
      int fd;
      ~Forget() {
        std::lock_guard lock(s.mu_);
        std::erase(s.fds_, fd);
      }
    } forget{*this, fd};
    boost::system::error_code ec;
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    boost::beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      http::read(stream, buffer, req, ec);
      if (ec) return;
      std::string uid;
      const auto doc = nlohmann::json::parse(req.body(), nullptr, false);
      if (!doc.is_discarded() && doc.contains("request") && doc["request"].contains("uid")) {
        uid = doc["request"]["uid"].get<std::string>();
      }
      const std::uint64_t n = count_.fetch_add(1);
      {
        std::lock_guard lock(mu_);
        uids_.push_back(uid);
        targets_.push_back(std::string(req.target()));
      }
      FakeAnswer answer = respond_(n, uid);
      if (answer.delay.count() > 0) {
        std::unique_lock lock(mu_);
        if (cv_.wait_for(lock, answer.delay, [this] { return stopping_; })) return;
      }
      http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
      res.set(http::field::content_type, "application/json");
      res.body() = answer.body.empty() ? allowed_review(uid) : answer.body;
      res.keep_alive(!answer.close);
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || answer.close) return;
    }
  }

  Respond respond_;
  replay::testing::TempDir dir_;
  std::string ca_file_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_{boost::asio::ssl::context::tls_server};
  tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::vector<std::string> uids_, targets_;
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> connections_{0};
};

}  // namespace revrouter::loadtest::testing
