#include "server/metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/server/support/test_client.h"

namespace revrouter::server {
namespace {

using testing::metric_value;

TEST(MetricsTest, RequestsAreCountedByOutcomeReasonAndRevisionAcrossShards) {
  Metrics m(2);
  const auto rev = m.revisions().slot_for("1-24-1");
  m.shard(0).request_started();
  m.shard(0).request_finished(Outcome::kInjected, ReasonLabel::of(Reason::kPolicyEnabled), rev,
                              300);
  m.shard(1).request_started();
  m.shard(1).request_finished(Outcome::kInjected, ReasonLabel::of(Reason::kPolicyEnabled), rev,
                              700);
  m.shard(1).request_started();
  m.shard(1).request_finished(Outcome::kRejected, ReasonLabel::of_error("not_json"),
                              RevisionLabels::kNone, 50);
  std::string text;
  m.render(ServerGauges{}, text);
  EXPECT_EQ(
      metric_value(
          text,
          R"(revrouter_requests_total{outcome="injected",reason="policy-enabled",revision="1-24-1"})"),
      2)
      << text;
  EXPECT_EQ(
      metric_value(text,
                   R"(revrouter_requests_total{outcome="rejected",reason="not_json",revision=""})"),
      1);
  EXPECT_EQ(m.requests(Outcome::kInjected), 2u);
  EXPECT_EQ(m.requests(Outcome::kRejected, "not_json"), 1u);
  EXPECT_EQ(m.in_flight(), 0u);
}

TEST(MetricsTest, LatencyHistogramIsCumulative) {
  Metrics m(1);
  for (std::uint64_t us : {50u, 100u, 101u, 2000u, 20'000'000u}) {
    m.shard(0).request_started();
    m.shard(0).request_finished(Outcome::kAllowed, ReasonLabel::of(Reason::kNotSelected), 0, us);
  }
  std::string text;
  m.render(ServerGauges{}, text);
  EXPECT_EQ(metric_value(text, R"(revrouter_request_duration_seconds_bucket{le="0.0001"})"), 2)
      << text;  // 50 and 100 (le is inclusive)
  EXPECT_EQ(metric_value(text, R"(revrouter_request_duration_seconds_bucket{le="0.00025"})"), 3);
  EXPECT_EQ(metric_value(text, R"(revrouter_request_duration_seconds_bucket{le="0.0025"})"), 4);
  EXPECT_EQ(metric_value(text, R"(revrouter_request_duration_seconds_bucket{le="10"})"), 4);
  EXPECT_EQ(metric_value(text, R"(revrouter_request_duration_seconds_bucket{le="+Inf"})"), 5);
  EXPECT_EQ(metric_value(text, "revrouter_request_duration_seconds_count"), 5);
  EXPECT_DOUBLE_EQ(metric_value(text, "revrouter_request_duration_seconds_sum"), 20.002251);
}

TEST(MetricsTest, InFlightCountsStartedButUnfinishedRequests) {
  Metrics m(2);
  m.shard(0).request_started();
  m.shard(1).request_started();
  m.shard(1).request_started();
  m.shard(1).probe_finished();
  EXPECT_EQ(m.in_flight(), 2u);
  std::string text;
  m.render(ServerGauges{}, text);
  EXPECT_EQ(metric_value(text, "revrouter_requests_in_flight"), 2);
}

TEST(MetricsTest, EveryLimitHasASeriesAndTripsAreCounted) {
  Metrics m(1);
  m.shard(0).limit_tripped(Limit::kHeaderTimeout);
  m.shard(0).limit_tripped(Limit::kHeaderTimeout);
  std::string text;
  m.render(ServerGauges{}, text);
  for (std::size_t l = 0; l < kLimitCount; ++l) {
    const std::string series = "revrouter_limit_trips_total{limit=\"" +
                               std::string(to_string(static_cast<Limit>(l))) + "\"}";
    EXPECT_GE(metric_value(text, series), 0) << series;
  }
  EXPECT_EQ(metric_value(text, R"(revrouter_limit_trips_total{limit="header_timeout"})"), 2);
  EXPECT_EQ(m.limit_trips(Limit::kHeaderTimeout), 2u);
}

TEST(MetricsTest, ReloadsHandshakeFailuresAndGaugesAreReported) {
  Metrics m(1);
  m.config_reloaded(true);
  m.config_reloaded(false);
  m.config_reloaded(false);
  m.certs_reloaded(true);
  m.shard(0).handshake_failed();
  ServerGauges g;
  g.ready = true;
  g.open_connections = 3;
  g.config_generation = 2;
  std::string text;
  m.render(g, text);
  EXPECT_EQ(metric_value(text, R"(revrouter_config_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(metric_value(text, R"(revrouter_config_reloads_total{result="failed"})"), 2);
  EXPECT_EQ(metric_value(text, R"(revrouter_cert_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(metric_value(text, "revrouter_tls_handshake_failures_total"), 1);
  EXPECT_EQ(metric_value(text, "revrouter_ready"), 1);
  EXPECT_EQ(metric_value(text, "revrouter_draining"), 0);
  EXPECT_EQ(metric_value(text, "revrouter_open_connections"), 3);
  EXPECT_EQ(metric_value(text, "revrouter_config_generation"), 2);
}

TEST(RevisionLabelsTest, NamesKeepTheirSlotAndOverflowSharesOther) {
  RevisionLabels labels;
  EXPECT_EQ(labels.slot_for(""), RevisionLabels::kNone);
  const auto a = labels.slot_for("rev-a");
  EXPECT_NE(a, RevisionLabels::kNone);
  EXPECT_EQ(labels.slot_for("rev-a"), a);  // a reload keeps a revision's series
  EXPECT_EQ(labels.name(a), "rev-a");
  std::uint16_t last = 0;
  for (std::size_t i = 0; i < RevisionLabels::kSlots + 5; ++i) {
    last = labels.slot_for("rev-" + std::to_string(i));
  }
  EXPECT_EQ(last, RevisionLabels::kSlots - 1);
  EXPECT_EQ(labels.name(last), "other");
}

TEST(ReasonLabelTest, UnknownErrorCodesAreOther) {
  EXPECT_EQ(ReasonLabel::name(ReasonLabel::of_error("no_such_code")), "other");
  EXPECT_EQ(ReasonLabel::name(ReasonLabel::of_error("not_json")), "not_json");
  EXPECT_EQ(ReasonLabel::name(ReasonLabel::of(Reason::kHostNetwork)),
            to_string(Reason::kHostNetwork));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m(1);
  const auto rev = m.revisions().slot_for("we\"ird\\rev");
  m.shard(0).request_started();
  m.shard(0).request_finished(Outcome::kAllowed, ReasonLabel::of(Reason::kNotSelected), rev, 1);
  std::string text;
  m.render(ServerGauges{}, text);
  EXPECT_NE(text.find(R"(revision="we\"ird\\rev")"), std::string::npos) << text;
}

}  // namespace
}  // namespace revrouter::server
