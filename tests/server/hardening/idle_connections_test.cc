// 10,000 idle connections (1,000 under ThreadSanitizer) against the real binary: plain TCP connects
// that never send a ClientHello, each holding a server session (and a descriptor) until the
// handshake timeout. The server must hold all of them within --max-connections, keep answering
// health checks and webhook requests, refuse connections beyond the cap (counted in its metrics),
// stay within a memory bound, and give every descriptor back once the clients are gone.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/hardening/process_memory.h"
#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using boost::beast::http::verb;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__)
// Under ThreadSanitizer (scripts/tsan.sh) a pending handshake costs ~600 KiB of shadow memory and
// bookkeeping: 10,000 would take 6 GB beside the other shard. The races this test can find are in
// accept, the cap and close, which 1,000 go through the same way; every other build holds 10,000.
constexpr int kIdle = 1000;
#else
constexpr int kIdle = 10000;  // the figure, and the server's --max-connections
#endif
constexpr int kExtra = 100;  // connections beyond the cap, each refused
// Descriptors each process needs: the test holds kIdle sockets plus its own files, the server
// kIdle sessions plus listeners, epoll, timers and logs.
constexpr rlim_t kNeededFds = kIdle + 1024;
constexpr const char* kPath = "/inject/ns-injection/enabled?timeout=10s";

// Raises this process's RLIMIT_NOFILE to at least `needed` (the hard limit too, which needs root
// or CAP_SYS_RESOURCE) and restores it on destruction. The server, forked from this process,
// inherits the raised limit.
class FdLimit {
 public:
  explicit FdLimit(rlim_t needed) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit want = saved_;
    if (want.rlim_max != RLIM_INFINITY && want.rlim_max < needed) want.rlim_max = needed;
    want.rlim_cur = want.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
      error_ = "cannot raise RLIMIT_NOFILE to " + std::to_string(needed) + " (hard limit " +
               std::to_string(saved_.rlim_max) + "): " + std::strerror(errno) +
               "; this test needs CAP_SYS_RESOURCE (root) or a hard limit of at least " +
               std::to_string(needed) + " (`ulimit -Hn " + std::to_string(needed) + "`)";
      return;
    }
    raised_ = true;
  }
  ~FdLimit() {
    if (raised_) ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  const std::string& error() const { return error_; }

 private:
  rlimit saved_{};
  bool raised_ = false;
  std::string error_;
};

// A plain TCP socket to 127.0.0.1:port; -1 on failure. Blocking connect, bounded by SO_SNDTIMEO.
int connect_tcp(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True if the server ends the connection (EOF or reset) within the socket's receive timeout.
bool closed_by_server(int fd) {
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE));
}

// Owns the idle sockets; closes whatever is left.
struct Sockets {
  std::vector<int> fds;
  ~Sockets() { close_all(); }
  void close_all() {
    for (int fd : fds) ::close(fd);
    fds.clear();
  }
};

std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// Polls `done` every 20 ms for at most `limit`; true once it holds.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST(IdleConnections, UpToTheCapAreHeldTheServerStaysUsableAndMoreAreRefused) {
  FdLimit limit(kNeededFds);
  ASSERT_TRUE(limit.error().empty()) << limit.error();

  ServerFiles files;
  // A handshake timeout far beyond the test's length: the connections stay idle, not timed out.
  ServerProcess server(files, {"--max-connections", std::to_string(kIdle), "--handshake-timeout",
                               "120s", "--log-level", "warn"});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  auto metric = [&](const std::string& series) { return metric_value(server.metrics(), series); };
  const std::string trips = "revrouter_limit_trips_total{limit=\"max_connections\"}";

  // Baseline after one served request, so TLS and the routing table are warm.
  {
    TlsClient client = server.client();
    const auto request = pod_review("warm-up");
    auto res = client.review(kPath, request.dump());
    ASSERT_TRUE(res) << res.error().message;
  }
  ASSERT_TRUE(eventually([&] { return metric("revrouter_open_connections") == 0; }));
  // The health connection that answered the last probe may still be closing on the server's side:
  // let it go before counting, and probe no more until the count is taken.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::size_t fds_before = open_fds(server.pid());
  const auto rss_before = resident_kib(server.pid());
  ASSERT_TRUE(rss_before);

  Sockets idle;
  idle.fds.reserve(kIdle);
  for (int i = 0; i < kIdle; ++i) {
    const int fd = connect_tcp(server.port());
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    idle.fds.push_back(fd);
  }
  ASSERT_TRUE(eventually([&] { return metric("revrouter_open_connections") == kIdle; }))
      << "open connections: " << metric("revrouter_open_connections");
  EXPECT_EQ(metric(trips), 0);
  const auto rss_held = resident_kib(server.pid());
  ASSERT_TRUE(rss_held);
  EXPECT_GE(open_fds(server.pid()), fds_before + kIdle);

  // The health port is separate from the capped webhook port: probes keep working.
  auto health = plain_get(server.health_port(), "/healthz");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);

  // At the cap, every further connection is accepted and closed at once, and counted.
  int refused = 0;
  for (int i = 0; i < kExtra; ++i) {
    const int fd = connect_tcp(server.port());
    if (fd >= 0 && closed_by_server(fd)) ++refused;
    if (fd >= 0) ::close(fd);
  }
  EXPECT_EQ(refused, kExtra);
  EXPECT_EQ(metric(trips), kExtra);
  EXPECT_EQ(metric("revrouter_open_connections"), kIdle);

  // One idle client leaves; its slot serves a webhook request while the others stay open.
  ::close(idle.fds.back());
  idle.fds.pop_back();
  ASSERT_TRUE(eventually([&] { return metric("revrouter_open_connections") == kIdle - 1; }));
  {
    TlsClient client = server.client();
    const auto request = pod_review("beside-the-idle-ones");
    auto res = client.review(kPath, request.dump());
    ASSERT_TRUE(res) << res.error().message << "\n" << server.log();
    Answer answer;
    EXPECT_TRUE(check_answer(*res, request, answer));
    EXPECT_TRUE(answer.patched);
    auto healthz = client.request(verb::get, "/healthz", "", "");
    ASSERT_TRUE(healthz) << healthz.error().message;
    EXPECT_EQ(healthz->status, 200);
  }
  EXPECT_TRUE(server.running());

  // Memory: what a connection waiting for its ClientHello costs. Measured with Asio's SSL stream
  // (two 17 KiB record buffers, OpenSSL its own): ~88 KiB in a Release build, ~137 KiB under ASan;
  // with revrouter's TlsStream (one 17 KiB input buffer): ~81 KiB under ASan (0.8 GB for the
  // 10,000). --max-connections is what bounds it. The limits leave headroom, so one more buffer of
  // a request's size (64 KiB) per connection fails the test.
#if defined(__SANITIZE_THREAD__)
  constexpr long kMaxBytesPerIdle = 1024 * 1024;  // measured ~600 KiB
#elif defined(__SANITIZE_ADDRESS__)
  constexpr long kMaxBytesPerIdle = 192 * 1024;
#else
  constexpr long kMaxBytesPerIdle = 128 * 1024;
#endif
  const long per_connection = (*rss_held - *rss_before) * 1024 / kIdle;
  RecordProperty("vmrss_before_kib", std::to_string(*rss_before));
  RecordProperty("idle_connections", std::to_string(kIdle));
  RecordProperty("vmrss_idle_held_kib", std::to_string(*rss_held));
  RecordProperty("bytes_per_idle_connection", std::to_string(per_connection));
  EXPECT_LT(per_connection, kMaxBytesPerIdle)
      << "VmRSS " << *rss_before << " KiB -> " << *rss_held << " KiB with " << kIdle << " idle";

  // Every client gone: every session and descriptor is given back.
  idle.close_all();
  EXPECT_TRUE(eventually([&] { return metric("revrouter_open_connections") == 0; }))
      << "open connections: " << metric("revrouter_open_connections");
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) == fds_before; }))
      << "descriptors " << fds_before << " before, " << open_fds(server.pid()) << " after";
  EXPECT_TRUE(server.running());
}

}  // namespace
}  // namespace revrouter::server::testing
