// SpecCache: a sweep's parsed spec (its rubric, scenarios, costs), read from
// its latest stored revision and kept per (sweep, revision).
//
// Example:
//   SpecCache specs(sweep_store);
//   absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> s = specs.Get(7);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/statusor.h"
#include "scheduler/spec/sweep_spec.h"
#include "scheduler/sweep_store.h"

namespace mixsweep::evaluation {

class SpecCache {
 public:
  explicit SpecCache(scheduler::SweepStore& sweeps) : sweeps_(sweeps) {}

  // NOT_FOUND for an unknown sweep; INTERNAL if a stored spec no longer
  // parses (it did when it was stored).
  absl::StatusOr<std::shared_ptr<const spec::SweepSpec>> Get(int64_t sweep_id);

 private:
  scheduler::SweepStore& sweeps_;
  std::mutex mu_;
  std::map<std::pair<int64_t, int>, std::shared_ptr<const spec::SweepSpec>> cache_;
};

}  // namespace mixsweep::evaluation
