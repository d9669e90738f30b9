#include "tests/server/support/fake_istiod.h"

#include <fcntl.h>
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>

#include "certs/cert_set.h"
#include "certs/pem.h"

namespace revrouter::server::testing {
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// Asio opens sockets without close-on-exec: a server binary a test forks would inherit the
// listener (keeping the port busy after stop()) and the connections (keeping them open).
void set_cloexec(int fd) { ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC); }

int select_http11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                  unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof kHttp11, in, in_len) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// What the sidecar injector adds, as the smallest patch a test can recognise.
nlohmann::json default_patch(const nlohmann::json& pod) {
  nlohmann::json patch = nlohmann::json::array();
  const auto meta = pod.find("metadata");
  const bool has_annotations = meta != pod.end() && meta->is_object() &&
                               meta->contains("annotations") && (*meta)["annotations"].is_object();
  if (has_annotations) {
    patch.push_back({{"op", "add"},
                     {"path", "/metadata/annotations/fake-istiod~1injected"},
                     {"value", "true"}});
  } else {
    patch.push_back({{"op", "add"},
                     {"path", "/metadata/annotations"},
                     {"value", {{"fake-istiod/injected", "true"}}}});
  }
  patch.push_back(
      {{"op", "add"},
       {"path", "/spec/containers/-"},
       {"value", {{"name", "istio-proxy"}, {"image", "docker.io/istio/proxyv2:fake"}}}});
  return patch;
}

}  // namespace

struct FakeIstiod::Server {
  struct Session;

  explicit Server(FakeIstiod& o) : owner(o) {}

  void accept();
  void close_all();

  FakeIstiod& owner;
  ssl::context ctx{ssl::context::tls_server};  // before ioc: sessions die with the ioc
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::set<std::shared_ptr<Session>> sessions;  // the ioc thread only
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::thread thread;
};

struct FakeIstiod::Server::Session : std::enable_shared_from_this<Session> {
  Session(Server& s, tcp::socket socket)
      : server(s), stream(std::move(socket), s.ctx), timer(s.ioc) {}

  void run() {
    stream.async_handshake(ssl::stream_base::server,
                           [self = shared_from_this()](beast::error_code ec) {
                             if (ec) return self->end();
                             auto& c = self->server.owner.counters_;
                             c.handshakes.fetch_add(1);
                             if (SSL_session_reused(self->stream.native_handle()) == 1) {
                               c.resumed.fetch_add(1);
                             }
                             self->read();
                           });
  }

  void read() {
    parser.emplace();
    parser->body_limit(64 * 1024 * 1024);
    http::async_read(stream, buffer, *parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->end();  // the client left, or we were closed
                       self->on_request();
                     });
  }

  void on_request() {
    server.owner.counters_.requests.fetch_add(1);
    request = parser->release();
    {
      std::lock_guard lock(server.owner.patch_mutex_);
      server.owner.last_target_.assign(request.target().data(), request.target().size());
    }
    switch (server.owner.mode()) {
      case Mode::kCorrect:
        return respond_review(false);
      case Mode::kSlow:
        timer.expires_after(std::chrono::milliseconds(server.owner.delay_ms_.load()));
        return timer.async_wait([self = shared_from_this()](beast::error_code ec) {
          if (!ec) self->respond_review(false);
        });
      case Mode::kStatus500:
        return respond(http::status::internal_server_error, status500_body(), "text/plain");
      case Mode::kGarbage:
        return respond(http::status::ok, "<html><body>not an AdmissionReview</body></html>",
                       "text/html");
      case Mode::kWrongUid:
        return respond_review(true);
      case Mode::kHang:
        return read();  // completes only when the client closes (or we stop)
      case Mode::kCloseAfterRead:
        close();
        return end();
    }
  }

  void respond_review(bool wrong_uid) {
    const std::string body = server.owner.answer(request.body(), wrong_uid);
    if (body.empty()) {
      return respond(http::status::bad_request, "fake istiod: not an AdmissionReview\n",
                     "text/plain");
    }
    respond(http::status::ok, body, "application/json");
  }

  void respond(http::status status, std::string body, const char* content_type) {
    response = {};
    response.result(status);
    response.version(11);
    response.set(http::field::content_type, content_type);
    response.keep_alive(request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    http::async_write(stream, response,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec || !self->response.keep_alive()) {
                          self->close();
                          return self->end();
                        }
                        self->read();
                      });
  }

  void close() {
    timer.cancel();
    beast::error_code ignored;
    stream.next_layer().close(ignored);
  }

  void end() { server.sessions.erase(shared_from_this()); }

  Server& server;
  ssl::stream<tcp::socket> stream;
  net::steady_timer timer;
  beast::flat_buffer buffer;
  std::optional<http::request_parser<http::string_body>> parser;
  http::request<http::string_body> request;
  http::response<http::string_body> response;
};

void FakeIstiod::Server::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;  // the acceptor was closed
    set_cloexec(socket.native_handle());
    owner.counters_.connections.fetch_add(1);
    auto session = std::make_shared<Session>(*this, std::move(socket));
    sessions.insert(session);
    session->run();
    accept();
  });
}

void FakeIstiod::Server::close_all() {
  auto all = std::move(sessions);
  sessions.clear();
  for (const auto& s : all) s->close();
}

const std::string& FakeIstiod::status500_body() {
  static const std::string body =
      "fake istiod: injection failed\n" + std::string(250, 'x') + " (end of the error)";
  return body;
}

FakeIstiod::FakeIstiod() : FakeIstiod(Options{}) {}

FakeIstiod::FakeIstiod(Options options) : options_(std::move(options)) {
  certs::CertSetOptions o;
  o.service = options_.service;
  o.namespace_ = options_.namespace_;
  o.ip_addresses = {"127.0.0.1"};
  auto set = certs::generate_cert_set(o);
  if (!set) throw std::runtime_error("fake istiod certificates: " + set.error().message);
  ca_pem_ = set->ca_cert;
  cert_pem_ = set->tls_cert;
  key_pem_ = set->tls_key;
  port_ = options_.port;
  start();
}

FakeIstiod::~FakeIstiod() { stop(); }

std::string FakeIstiod::server_name() const {
  return options_.service + "." + options_.namespace_ + ".svc";
}

bool FakeIstiod::running() const { return server_ != nullptr; }

void FakeIstiod::set_patch(std::string json_patch) {
  std::lock_guard lock(patch_mutex_);
  patch_ = std::move(json_patch);
}

std::string FakeIstiod::last_target() const {
  std::lock_guard lock(patch_mutex_);
  return last_target_;
}

void FakeIstiod::start() {
  if (server_) return;
  auto server = std::make_unique<Server>(*this);
  SSL_CTX* native = server->ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (options_.max_tls_version != 0)
    SSL_CTX_set_max_proto_version(native, options_.max_tls_version);
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);
  // Resumption: the server session cache (TLS 1.2 ids) and tickets (both versions, the default).
  static constexpr unsigned char kContext[] = "fake-istiod";
  SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  server->ctx.use_certificate_chain(net::buffer(cert_pem_));
  server->ctx.use_private_key(net::buffer(key_pem_), ssl::context::pem);

  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port_);
  server->acceptor.open(endpoint.protocol());
  set_cloexec(server->acceptor.native_handle());
  server->acceptor.set_option(tcp::acceptor::reuse_address(true));
  server->acceptor.bind(endpoint);
  server->acceptor.listen();
  port_ = server->acceptor.local_endpoint().port();
  server->accept();
  server->work.emplace(server->ioc.get_executor());
  Server* s = server.get();
  server->thread = std::thread([s] { s->ioc.run(); });
  server_ = std::move(server);
}

void FakeIstiod::stop() {
  if (!server_) return;
  std::promise<void> closed;
  net::post(server_->ioc, [s = server_.get(), &closed] {
    beast::error_code ignored;
    s->acceptor.close(ignored);
    s->close_all();
    closed.set_value();
  });
  closed.get_future().wait();
  server_->work.reset();
  server_->ioc.stop();
  server_->thread.join();
  server_.reset();  // destroys what the handlers still hold
}

void FakeIstiod::close_connections() {
  if (!server_) return;
  std::promise<void> closed;
  net::post(server_->ioc, [s = server_.get(), &closed] {
    s->close_all();
    closed.set_value();
  });
  closed.get_future().wait();
}

std::string FakeIstiod::answer(const std::string& request, bool wrong_uid) const {
  const auto review = nlohmann::json::parse(request, nullptr, false);
  if (!review.is_object() || !review.contains("request") || !review["request"].is_object())
    return {};
  const auto& req = review["request"];
  if (!req.contains("uid") || !req["uid"].is_string()) return {};
  std::string uid = req["uid"].get<std::string>();
  if (wrong_uid) uid += "-not-the-request";

  std::string patch;
  {
    std::lock_guard lock(patch_mutex_);
    patch = patch_;
  }
  if (patch.empty()) {
    const auto object = req.find("object");
    patch = default_patch(object != req.end() ? *object : nlohmann::json::object()).dump();
  }
  const nlohmann::json response = {
      {"apiVersion", review.value("apiVersion", std::string("admission.k8s.io/v1"))},
      {"kind", "AdmissionReview"},
      {"response",
       {{"uid", uid},
        {"allowed", true},
        {"patchType", "JSONPatch"},
        {"patch", certs::base64_encode(patch)}}}};
  return response.dump();
}

}  // namespace revrouter::server::testing
