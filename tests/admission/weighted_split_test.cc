// Weighted tags: whole workloads are assigned by weighted rendezvous hashing of namespace and
// workload name, so shares follow the weights, replicas never split, and raising a weight never
// moves a workload off that revision.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "admission/revision_resolver.h"
#include "admission/workload.h"
#include "tests/admission/decision_fixtures.h"

namespace revrouter {
namespace {

using testing::add_tag;
using testing::ParsedPod;
using testing::revision;

constexpr int kWorkloads = 10'000;

RoutingTable table_with_split(
    std::initializer_list<std::pair<std::string_view, std::uint32_t>> targets) {
  RoutingTable t;
  t.revisions = {revision("1-20"), revision("1-21"), revision("1-22")};
  add_tag(t, "split", targets);
  return t;
}

struct Synthetic {
  std::string ns, name;
};

// Varied namespaces and names, shaped like real ones.
std::vector<Synthetic> synthetic_workloads() {
  std::vector<Synthetic> out;
  out.reserve(kWorkloads);
  for (int i = 0; i < kWorkloads; ++i) {
    out.push_back({"team-" + std::to_string(i % 37), "svc-" + std::to_string(i) + "-api"});
  }
  return out;
}

std::map<std::string, int> assign_counts(const RoutingTable& t) {
  std::map<std::string, int> counts;
  for (const Synthetic& s : synthetic_workloads()) {
    const Revision* r = resolve(t, "split", s.ns, testing::workload_named(s.name));
    counts[r == nullptr ? std::string("<null>") : r->name]++;
  }
  return counts;
}

struct ShareCase {
  const char* name;
  std::vector<std::pair<std::string_view, std::uint32_t>> weights;
};

class WeightedShareTest : public ::testing::TestWithParam<ShareCase> {};

TEST_P(WeightedShareTest, ObservedShareWithinTwoPointsOfWeight) {
  const ShareCase& c = GetParam();
  RoutingTable t;
  t.revisions = {revision("1-20"), revision("1-21"), revision("1-22")};
  Tag tag;
  tag.name = "split";
  for (const auto& [rev, w] : c.weights) {
    tag.targets.push_back({.revision = testing::revision_index(t, rev), .weight = w});
  }
  t.tags.push_back(tag);

  const std::map<std::string, int> counts = assign_counts(t);
  EXPECT_EQ(counts.count("<null>"), 0u);
  int total = 0;
  for (const auto& [rev, w] : c.weights) {
    const auto it = counts.find(std::string(rev));
    const int n = it == counts.end() ? 0 : it->second;
    total += n;
    const double share = 100.0 * n / kWorkloads;
    EXPECT_NEAR(share, static_cast<double>(w), 2.0) << rev;
  }
  EXPECT_EQ(total, kWorkloads);
}

INSTANTIATE_TEST_SUITE_P(Splits, WeightedShareTest,
                         ::testing::Values(ShareCase{"ninety_ten", {{"1-20", 90}, {"1-21", 10}}},
                                           ShareCase{"ten_ninety", {{"1-20", 10}, {"1-21", 90}}},
                                           ShareCase{"fifty_fifty", {{"1-20", 50}, {"1-21", 50}}},
                                           ShareCase{"three_way_20_30_50",
                                                     {{"1-20", 20}, {"1-21", 30}, {"1-22", 50}}},
                                           ShareCase{"one_percent", {{"1-20", 99}, {"1-21", 1}}}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(WeightedSplit, ZeroWeightNeverWins) {
  const RoutingTable t = table_with_split({{"1-20", 0}, {"1-21", 100}});
  const std::map<std::string, int> counts = assign_counts(t);
  EXPECT_EQ(counts.count("1-20"), 0u);
  EXPECT_EQ(counts.at("1-21"), kWorkloads);
}

TEST(WeightedSplit, AllWeightsZeroResolvesToNothing) {
  const RoutingTable t = table_with_split({{"1-20", 0}, {"1-21", 0}});
  EXPECT_EQ(resolve(t, "split", "ns", testing::workload_named("w")), nullptr);
}

TEST(WeightedSplit, PlainAliasAndRevisionNames) {
  RoutingTable t = table_with_split({{"1-20", 50}, {"1-21", 50}});
  add_tag(t, "canary", {{"1-22", 100}});
  EXPECT_EQ(resolve(t, "canary", "ns", testing::workload_named("w")), &t.revisions[2]);
  EXPECT_EQ(resolve(t, "1-21", "ns", testing::workload_named("w")), &t.revisions[1]);
  EXPECT_EQ(resolve(t, "1-23", "ns", testing::workload_named("w")), nullptr);
  EXPECT_EQ(resolve(t, "", "ns", testing::workload_named("w")), nullptr);
}

std::string replica(int i, const std::string& deployment, const std::string& hash) {
  const std::string rs = deployment + "-" + hash;
  return R"({"metadata":{"name":")" + rs + "-r" + std::to_string(i) + R"(","generateName":")" + rs +
         R"(-","labels":{"app":")" + deployment + R"(","pod-template-hash":")" + hash +
         R"("},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":")" + rs +
         R"(","uid":"u","controller":true}]},"spec":{}})";
}

// Replicas of one Deployment, across ReplicaSets of successive rollouts, land on one revision;
// over many Deployments both revisions are used, so the check is not vacuous.
TEST(WeightedSplit, ReplicasOfOneWorkloadNeverSplit) {
  const RoutingTable t = table_with_split({{"1-20", 50}, {"1-21", 50}});
  std::map<std::string, int> deployments_per_revision;
  for (int d = 0; d < 200; ++d) {
    const std::string name = "deploy-" + std::to_string(d);
    const Revision* first = nullptr;
    for (int i = 0; i < 12; ++i) {
      ParsedPod p(replica(i, name, i < 6 ? "5d8f7c9b4" : "6c4b8d7f2"));
      const Revision* r = resolve(t, "split", p.facts().namespace_, workload_of(p.facts()));
      ASSERT_NE(r, nullptr);
      if (first == nullptr) first = r;
      EXPECT_EQ(r, first) << name << " replica " << i;
    }
    deployments_per_revision[first->name]++;
  }
  EXPECT_EQ(deployments_per_revision.size(), 2u);
}

TEST(WeightedSplit, StatefulSetReplicasNeverSplit) {
  const RoutingTable t = table_with_split({{"1-20", 50}, {"1-21", 50}});
  std::map<std::string, int> sets_per_revision;
  for (int s = 0; s < 200; ++s) {
    const std::string set = "db-" + std::to_string(s);
    const Revision* first = nullptr;
    for (int i = 0; i < 5; ++i) {
      ParsedPod p(R"({"metadata":{"name":")" + set + "-" + std::to_string(i) +
                  R"(","ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":")" +
                  set + R"(","uid":"u","controller":true}]},"spec":{}})");
      const Revision* r = resolve(t, "split", p.facts().namespace_, workload_of(p.facts()));
      ASSERT_NE(r, nullptr);
      if (first == nullptr) first = r;
      EXPECT_EQ(r, first) << set << " replica " << i;
    }
    sets_per_revision[first->name]++;
  }
  EXPECT_EQ(sets_per_revision.size(), 2u);
}

// The same workload name in two namespaces is two workloads: the namespace is part of the key.
TEST(WeightedSplit, NamespaceIsPartOfTheKey) {
  const RoutingTable t = table_with_split({{"1-20", 50}, {"1-21", 50}});
  int differ = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string name = "svc-" + std::to_string(i);
    const Workload w = testing::workload_named(name);
    if (resolve(t, "split", "ns-a", w) != resolve(t, "split", "ns-b", w)) ++differ;
  }
  EXPECT_GT(differ, 50);
  EXPECT_LT(differ, 150);
}

// Raising one revision's weight step by step never moves a workload back off it.
TEST(WeightedSplit, RaisingAWeightNeverMovesAWorkloadBack) {
  const std::vector<Synthetic> workloads = synthetic_workloads();
  std::vector<bool> on_new(workloads.size(), false);
  for (std::uint32_t w = 0; w <= 100; ++w) {
    const RoutingTable t = table_with_split({{"1-20", 100 - w}, {"1-21", w}});
    int count = 0;
    for (std::size_t i = 0; i < workloads.size(); ++i) {
      const Revision* r =
          resolve(t, "split", workloads[i].ns, testing::workload_named(workloads[i].name));
      ASSERT_NE(r, nullptr);
      const bool now_new = r->name == "1-21";
      if (on_new[i]) {
        ASSERT_TRUE(now_new) << workloads[i].ns << "/" << workloads[i].name << " moved back at "
                             << w;
      }
      on_new[i] = now_new;
      count += now_new ? 1 : 0;
    }
    if (w == 0) {
      EXPECT_EQ(count, 0);
    }
    if (w == 100) {
      EXPECT_EQ(count, kWorkloads);
    }
  }
}

// Three revisions: raising one while the others keep their weights only ever adds workloads to it.
TEST(WeightedSplit, RaisingOneOfThreeOnlyGains) {
  const std::vector<Synthetic> workloads = synthetic_workloads();
  std::vector<std::string> before(workloads.size());
  int gained = 0;
  for (std::uint32_t w = 0; w <= 100; w += 5) {
    const RoutingTable t = table_with_split({{"1-20", 30}, {"1-21", 20}, {"1-22", w}});
    for (std::size_t i = 0; i < workloads.size(); ++i) {
      const Revision* r =
          resolve(t, "split", workloads[i].ns, testing::workload_named(workloads[i].name));
      ASSERT_NE(r, nullptr);
      // A workload that moves can only move to the raised revision, never off it.
      if (w > 0 && r->name != before[i]) {
        ASSERT_EQ(r->name, "1-22") << workloads[i].name << " moved to " << r->name << " at " << w;
        ++gained;
      }
      before[i] = r->name;
    }
  }
  EXPECT_GT(gained, kWorkloads / 2);  // the raised revision did gain workloads along the way
}

// Deterministic: the same inputs give the same revision, from separately built tables too.
TEST(WeightedSplit, Deterministic) {
  const RoutingTable a = table_with_split({{"1-20", 20}, {"1-21", 30}, {"1-22", 50}});
  const RoutingTable b = table_with_split({{"1-20", 20}, {"1-21", 30}, {"1-22", 50}});
  for (const Synthetic& s : synthetic_workloads()) {
    const Workload w = testing::workload_named(s.name);
    const Revision* ra = resolve(a, "split", s.ns, w);
    ASSERT_NE(ra, nullptr);
    EXPECT_EQ(ra, resolve(a, "split", s.ns, w));
    EXPECT_EQ(ra->name, resolve(b, "split", s.ns, w)->name);
  }
}

// The order targets are listed in does not matter: scores depend on revision names, not positions.
TEST(WeightedSplit, TargetOrderDoesNotMatter) {
  const RoutingTable a = table_with_split({{"1-20", 20}, {"1-21", 30}, {"1-22", 50}});
  const RoutingTable b = table_with_split({{"1-22", 50}, {"1-20", 20}, {"1-21", 30}});
  for (const Synthetic& s : synthetic_workloads()) {
    const Workload w = testing::workload_named(s.name);
    EXPECT_EQ(resolve(a, "split", s.ns, w)->name, resolve(b, "split", s.ns, w)->name);
  }
}

}  // namespace
}  // namespace revrouter
