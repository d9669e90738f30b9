#include "server/config_store.h"

#include <gtest/gtest.h>

namespace revrouter::server {
namespace {

RoutingTable table_with(std::initializer_list<const char*> revisions) {
  RoutingTable t;
  for (const char* name : revisions) {
    Revision r;
    r.name = name;
    t.revisions.push_back(r);
  }
  return t;
}

TEST(ConfigStoreTest, PublishReplacesTheTableWholeAndCountsGenerations) {
  RevisionLabels labels;
  ConfigStore store;
  EXPECT_EQ(store.generation(), 0u);
  auto first = store.publish(table_with({"a"}), labels);
  EXPECT_EQ(first->generation, 1u);
  auto second = store.publish(table_with({"a", "b"}), labels);
  EXPECT_EQ(second->generation, 2u);
  EXPECT_EQ(store.current(), second);
  EXPECT_EQ(first->table.revisions.size(), 1u);  // readers of the old table keep it intact
}

TEST(ConfigStoreTest, RevisionsGetStableMetricSlots) {
  RevisionLabels labels;
  ConfigStore store;
  auto first = store.publish(table_with({"a", "b"}), labels);
  auto second = store.publish(table_with({"b", "c"}), labels);
  EXPECT_EQ(second->slot_of(&second->table.revisions[0]),
            first->slot_of(&first->table.revisions[1]));
  EXPECT_EQ(labels.name(second->slot_of(&second->table.revisions[1])), "c");
  EXPECT_EQ(second->slot_of(nullptr), RevisionLabels::kNone);
}

TEST(ConfigViewTest, SeesANewTableAfterPublish) {
  RevisionLabels labels;
  ConfigStore store;
  store.publish(table_with({"a"}), labels);
  ConfigView view(store);
  EXPECT_EQ(view.get().generation, 1u);
  EXPECT_EQ(view.get().generation, 1u);
  store.publish(table_with({"b"}), labels);
  EXPECT_EQ(view.get().generation, 2u);
  EXPECT_EQ(view.get().table.revisions[0].name, "b");
}

}  // namespace
}  // namespace revrouter::server
