#include "admission/webhook_path.h"

#include <gtest/gtest.h>

#include <string>

namespace revrouter {
namespace {

TEST(WebhookPath, PlainInjectMeansNamespaceWithoutLabels) {
  for (std::string_view p : {"/inject", "/inject/"}) {
    auto r = parse_webhook_path(p);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_FALSE(r->ns.rev.has_value());
    EXPECT_FALSE(r->ns.injection.has_value());
    EXPECT_TRUE(r->cluster.empty());
    EXPECT_EQ(r->extra_count, 0u);
  }
}

TEST(WebhookPath, NamespaceLabelSegments) {
  auto r = parse_webhook_path("/inject/ns-rev/canary");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ns.rev, "canary");
  EXPECT_FALSE(r->ns.injection.has_value());
  r = parse_webhook_path("/inject/ns-injection/enabled");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ns.injection, "enabled");
  EXPECT_FALSE(r->ns.rev.has_value());
}

TEST(WebhookPath, IstioClusterAndNetSegmentsWorkBesideOurs) {
  auto r = parse_webhook_path("/inject/cluster/Kubernetes/net/network1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cluster, "Kubernetes");
  EXPECT_EQ(r->network, "network1");
  r = parse_webhook_path("/inject/ns-rev/1-15-4/cluster/east/net/n2/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ns.rev, "1-15-4");
  EXPECT_EQ(r->cluster, "east");
  EXPECT_EQ(r->network, "n2");
}

TEST(WebhookPath, OtherKeysAreKeptInOrder) {
  auto r = parse_webhook_path("/inject/zone/a/cluster/c1/mesh/m");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->extra_count, 2u);
  EXPECT_EQ(r->extra[0].key, "zone");
  EXPECT_EQ(r->extra[0].value, "a");
  EXPECT_EQ(r->extra[1].key, "mesh");
  EXPECT_EQ(r->extra[1].value, "m");
}

struct BadPath {
  const char* name;
  std::string path;
  std::string message_part;
};

class WebhookPathErrors : public ::testing::TestWithParam<BadPath> {};

TEST_P(WebhookPathErrors, AreSpecific) {
  auto r = parse_webhook_path(GetParam().path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bad_path");
  EXPECT_NE(r.error().message.find(GetParam().message_part), std::string::npos)
      << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Classes, WebhookPathErrors,
    ::testing::Values(BadPath{"Root", "/", "not an injection path"},
                      BadPath{"Prefix", "/injector", "not an injection path"},
                      BadPath{"Other", "/mutate", "not an injection path"},
                      BadPath{"KeyWithoutValue", "/inject/ns-rev", "key \"ns-rev\" has no value"},
                      BadPath{"OddSegments", "/inject/cluster/c/net", "key \"net\" has no value"},
                      BadPath{"EmptySegment", "/inject//x", "empty segment"},
                      BadPath{"Repeated", "/inject/ns-rev/a/ns-rev/b", "key \"ns-rev\" is repeated"},
                      BadPath{"RepeatedCluster", "/inject/cluster/a/cluster/b", "is repeated"},
                      BadPath{"RepeatedExtra", "/inject/x/a/x/b", "is repeated"},
                      BadPath{"Percent", "/inject/ns-rev/a%2Fb", "percent-encoded"},
                      BadPath{"DeprecatedEnvForm", "/inject/:ENV:cluster=a/x", ":ENV:"},
                      BadPath{"TooManyExtras", "/inject/a/1/b/2/c/3/d/4/e/5/f/6/g/7/h/8/i/9",
                              "more than 8"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace revrouter
