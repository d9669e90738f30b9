// Every limit trips, is counted in revrouter_limit_trips_total, and leaves the server serving:
// connection cap, handshake / header / body / idle timeouts (slowloris and friends).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/server/support/reviews.h"
#include "tests/server/support/server_process.h"

namespace revrouter::server::testing {
namespace {

using boost::beast::http::verb;

class LimitsTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args) {
    server_ = std::make_unique<ServerProcess>(files_, std::move(args));
    ASSERT_TRUE(server_->wait_ready()) << server_->log();
  }
  double trips(const std::string& limit) {
    return metric_value(server_->metrics(), "revrouter_limit_trips_total{limit=\"" + limit + "\"}");
  }
  // The server still answers a well-formed review.
  void expect_serving() {
    TlsClient client = server_->client();
    const auto request = pod_review("still-serving");
    auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
    ASSERT_TRUE(res) << res.error().message;
    Answer answer;
    EXPECT_TRUE(check_answer(*res, request, answer));
  }

  ServerFiles files_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(LimitsTest, ConnectionsBeyondTheCapAreRefused) {
  start({"--max-connections", "2"});
  TlsClient first = server_->client(), second = server_->client();
  ASSERT_TRUE(first.connect());
  ASSERT_TRUE(second.connect());
  // The cap counts connections, so the third is refused however it tries.
  TlsClient third = server_->client();
  auto refused = third.request(verb::get, "/healthz", "", "");
  EXPECT_FALSE(refused) << "HTTP " << refused->status;
  EXPECT_EQ(trips("max_connections"), 1);

  // The open connections still work, and a slot frees up when one closes.
  auto res = first.request(verb::get, "/healthz", "", "");
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 200);
  second.close();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    TlsClient again = server_->client();
    auto r = again.request(verb::get, "/healthz", "", "");
    served = r && r->status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(served);
}

TEST_F(LimitsTest, ClientThatNeverHandshakesIsCutOff) {
  start({"--handshake-timeout", "300ms"});
  TcpConnection idle(server_->port());
  ASSERT_TRUE(idle.connected());
  EXPECT_TRUE(idle.wait_closed_by_server());
  EXPECT_EQ(trips("handshake_timeout"), 1);
  EXPECT_EQ(metric_value(server_->metrics(), "revrouter_tls_handshake_failures_total"), 1);
  expect_serving();
}

TEST_F(LimitsTest, SlowHeadersAreCutOff) {
  start({"--header-timeout", "300ms"});
  TlsClient slow = server_->client();
  ASSERT_TRUE(slow.connect());
  ASSERT_TRUE(slow.write_raw("POST /inject HTTP/1.1\r\nHost: revrouter\r\nContent-Ty"));
  EXPECT_TRUE(slow.wait_closed_by_server());
  EXPECT_EQ(trips("header_timeout"), 1);
  expect_serving();
}

TEST_F(LimitsTest, SlowBodyIsCutOff) {
  start({"--body-timeout", "300ms"});
  TlsClient slow = server_->client();
  ASSERT_TRUE(slow.connect());
  ASSERT_TRUE(slow.write_raw(
      "POST /inject HTTP/1.1\r\nHost: revrouter\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n{\"apiVersion\":"));
  EXPECT_TRUE(slow.wait_closed_by_server());
  EXPECT_EQ(trips("body_timeout"), 1);
  expect_serving();
}

TEST_F(LimitsTest, IdleKeepAliveConnectionIsClosed) {
  start({"--idle-timeout", "300ms"});
  TlsClient client = server_->client();
  auto res = client.request(verb::get, "/healthz", "", "");
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_TRUE(res->keep_alive);
  EXPECT_TRUE(client.wait_closed_by_server());
  EXPECT_EQ(trips("idle_timeout"), 1);
}

// The longest timeouts a Go duration can say (2562047h, about 292 years) must mean "a long
// time", not a deadline that wraps around to the past and cuts every connection at once.
TEST_F(LimitsTest, LongestTimeoutsKeepConnectionsOpen) {
  const std::string longest = "2562047h";
  start({"--handshake-timeout", longest, "--idle-timeout", longest, "--header-timeout", longest,
         "--body-timeout", longest, "--write-timeout", longest});
  TlsClient client = server_->client();
  const auto request = pod_review("long-timeouts");
  for (int i = 0; i < 3; ++i) {
    auto res = client.review("/inject/ns-injection/enabled?timeout=10s", request.dump());
    ASSERT_TRUE(res) << "request " << i << ": " << res.error().message;
    Answer answer;
    EXPECT_TRUE(check_answer(*res, request, answer));
    EXPECT_TRUE(res->keep_alive);
  }
  EXPECT_EQ(client.connects(), 1);
}

TEST_F(LimitsTest, BodyLimitTripIsCountedAndConnectionClosed) {
  start({"--max-body-bytes", "1024"});
  TlsClient client = server_->client();
  auto review = pod_review("too-big");
  review["request"]["object"]["metadata"]["annotations"]["padding"] = std::string(2048, 'x');
  auto res = client.review("/inject", review.dump());
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->status, 413);
  EXPECT_FALSE(res->keep_alive);
  EXPECT_EQ(trips("max_body_bytes"), 1);
  expect_serving();
}

}  // namespace
}  // namespace revrouter::server::testing
