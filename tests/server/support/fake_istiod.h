// A fake istiod injector for the proxy backend's tests: an HTTPS server on 127.0.0.1 (own thread,
// Beast/Asio) with a certificate for an istiod Service name from its own CA, answering
// AdmissionReviews correctly or failing in one of the ways a real upstream fails (slow, 500,
// garbage, wrong uid, hang, close). It counts handshakes (and resumed ones), connections and
// requests, and can be stopped and started again on the same port.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace revrouter::server::testing {

class FakeIstiod {
 public:
  enum class Mode : std::uint8_t {
    kCorrect,         // a valid AdmissionReview response for the request, with the patch
    kSlow,            // kCorrect after delay() (other connections are served meanwhile)
    kStatus500,       // HTTP 500 with kStatus500Body
    kGarbage,         // HTTP 200 with a body that is not JSON
    kWrongUid,        // kCorrect but response.uid is not the request's
    kHang,            // reads the request, never answers, keeps the connection open
    kCloseAfterRead,  // reads the request and closes the connection without answering
  };

  struct Options {
    std::string service =
        "istiod-rev-b";  // certificate: <service>.<namespace>.svc (+ .cluster.local)
    std::string namespace_ = "istio-system";
    std::uint16_t port = 0;   // 0: any free port
    int max_tls_version = 0;  // e.g. TLS1_2_VERSION; 0: OpenSSL's maximum (TLS 1.3)
  };

  // What kStatus500 answers: longer than the 200 bytes a client quotes, with a line break.
  static const std::string& status500_body();

  FakeIstiod();                          // default Options, started
  explicit FakeIstiod(Options options);  // started; throws on failure (test set-up)
  ~FakeIstiod();
  FakeIstiod(const FakeIstiod&) = delete;
  FakeIstiod& operator=(const FakeIstiod&) = delete;

  // stop() closes the listener and every connection and joins the thread; start() listens again
  // on the same port (SO_REUSEADDR).
  void start();
  void stop();
  bool running() const;
  // Closes every open connection (as an upstream's idle timeout does) but keeps listening. Returns
  // once they are closed.
  void close_connections();

  std::uint16_t port() const { return port_; }
  const std::string& ca_pem() const { return ca_pem_; }
  std::string server_name() const;  // "<service>.<namespace>.svc"

  void set_mode(Mode mode) { mode_.store(mode); }
  Mode mode() const { return mode_.load(); }
  void set_delay(std::chrono::milliseconds delay) { delay_ms_.store(delay.count()); }
  // The JSON Patch (a JSON array, as text) kCorrect answers with; empty: the default patch, which
  // adds the annotation fake-istiod/injected: "true" and a container named istio-proxy.
  void set_patch(std::string json_patch);

  std::uint64_t handshakes() const { return counters_.handshakes.load(); }
  std::uint64_t resumed_handshakes() const { return counters_.resumed.load(); }
  std::uint64_t connections() const { return counters_.connections.load(); }
  std::uint64_t requests() const { return counters_.requests.load(); }
  std::string last_target() const;  // the request target (path) of the last request read

  // The answer kCorrect gives to `request` (an AdmissionReview as JSON text); exposed so tests can
  // compare. Empty when the request is not an AdmissionReview.
  std::string answer(const std::string& request, bool wrong_uid = false) const;

 private:
  struct Server;  // the I/O side, in fake_istiod.cc
  struct Counters {
    std::atomic<std::uint64_t> handshakes{0}, resumed{0}, connections{0}, requests{0};
  };

  Options options_;
  std::string ca_pem_, cert_pem_, key_pem_;
  std::uint16_t port_ = 0;
  std::atomic<Mode> mode_{Mode::kCorrect};
  std::atomic<std::int64_t> delay_ms_{0};
  mutable std::mutex patch_mutex_;  // guards patch_ and last_target_
  std::string patch_;
  std::string last_target_;  // under patch_mutex_
  Counters counters_;
  std::unique_ptr<Server> server_;
};

}  // namespace revrouter::server::testing
