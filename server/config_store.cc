#include "server/config_store.h"

namespace revrouter::server {

std::uint16_t LoadedConfig::slot_of(const Revision* revision) const {
  if (revision == nullptr || table.revisions.empty()) return RevisionLabels::kNone;
  const auto index = revision - table.revisions.data();
  if (index < 0 || static_cast<std::size_t>(index) >= revision_slots.size()) {
    return RevisionLabels::kNone;
  }
  return revision_slots[static_cast<std::size_t>(index)];
}

std::shared_ptr<const LoadedConfig> ConfigStore::publish(RoutingTable table, RevisionLabels& labels,
                                                         UpstreamStates upstreams) {
  auto loaded = std::make_shared<LoadedConfig>();
  loaded->table = std::move(table);
  loaded->upstreams = std::move(upstreams);
  loaded->upstreams.resize(loaded->table.revisions.size());
  loaded->revision_slots.reserve(loaded->table.revisions.size());
  for (const Revision& r : loaded->table.revisions) {
    loaded->revision_slots.push_back(labels.slot_for(r.name));
  }
  std::lock_guard lock(mutex_);
  loaded->generation = generation_.load(std::memory_order_relaxed) + 1;
  current_ = loaded;
  generation_.store(loaded->generation, std::memory_order_release);
  return loaded;
}

std::shared_ptr<const LoadedConfig> ConfigStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace revrouter::server
