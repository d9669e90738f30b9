// The routing table the server answers with: built once per (re)load, shared read-only by every
// I/O thread, and replaced whole, so a bad file never half-applies and a request never sees a
// table change under it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "admission/routing_config.h"
#include "server/backends.h"
#include "server/metrics.h"

namespace revrouter::server {

struct LoadedConfig {
  RoutingTable table;
  std::vector<std::uint16_t> revision_slots;  // metrics label slot of table.revisions[i]
  UpstreamStates upstreams;                   // of table.revisions[i], null when none
  std::uint64_t generation = 0;               // 1 for the table loaded at start-up

  std::uint16_t slot_of(const Revision* revision) const;
};

class ConfigStore {
 public:
  // Publishes `table` as the current one; revision label slots are assigned here, off the
  // request path.
  std::shared_ptr<const LoadedConfig> publish(RoutingTable table, RevisionLabels& labels,
                                              UpstreamStates upstreams = {});
  std::shared_ptr<const LoadedConfig> current() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const LoadedConfig> current_;
  std::atomic<std::uint64_t> generation_{0};
};

// One I/O thread's handle on the store: a request costs one atomic load of the generation, and
// the shared pointer is copied only when a reload happened.
class ConfigView {
 public:
  explicit ConfigView(const ConfigStore& store) : store_(store) {}
  const LoadedConfig& get() {
    if (store_.generation() != generation_) {
      cached_ = store_.current();
      generation_ = cached_->generation;
    }
    return *cached_;
  }
  // The table get() returned, for work that outlives the request's handler.
  const std::shared_ptr<const LoadedConfig>& shared() const { return cached_; }

 private:
  const ConfigStore& store_;
  std::shared_ptr<const LoadedConfig> cached_;
  std::uint64_t generation_ = 0;
};

}  // namespace revrouter::server
