// The database-derived series of /metrics (docs/METRICS.md): a pure
// function from a SystemSnapshot and the current estimates to Prometheus
// metric families, and SystemCollector, which reads a fresh snapshot when
// scraped (at most once per refresh interval) and serves it.
//
// Reading on scrape, not on a timer, costs nothing when nobody scrapes; the
// interval bounds the cost when several Prometheus servers do.
//
//   auto collector = std::make_shared<SystemCollector>(stats_store, estimate_store, clock,
//                                                      SystemCollectorOptions{});
//   exposer.RegisterCollectable(collector);
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "absl/time/time.h"
#include "scheduler/clock.h"
#include "scheduler/evaluation/estimate_store.h"
#include "scheduler/metrics/system_snapshot.h"

namespace mixsweep::metrics {

// Every database-derived family, in docs/METRICS.md's order. `estimates`
// are the latest versions of the exported sweeps' estimates.
std::vector<prometheus::MetricFamily> SystemFamilies(
    const SystemSnapshot& snapshot, const std::vector<evaluation::StoredEstimate>& estimates);

struct SystemCollectorOptions {
  // A scrape within this long of the last read serves that read again.
  absl::Duration refresh_interval = absl::Seconds(5);
  SnapshotOptions snapshot;
};

class SystemCollector final : public prometheus::Collectable {
 public:
  SystemCollector(SystemStatsStore& stats, evaluation::EstimateStore& estimates,
                  const scheduler::Clock& clock, SystemCollectorOptions options);

  // The last read's families, after reading again if it is older than the
  // refresh interval. While the database is unreachable: only
  // mixsweep_database_up (0) and the time of the last good read, never
  // stale counts.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  void RefreshLocked() const;

  SystemStatsStore& stats_;
  evaluation::EstimateStore& estimates_;
  const scheduler::Clock& clock_;
  const SystemCollectorOptions options_;
  mutable std::mutex mu_;
  mutable std::optional<absl::Time> last_attempt_;         // guarded by mu_
  mutable std::optional<absl::Time> last_success_;         // guarded by mu_
  mutable bool database_up_ = false;                       // guarded by mu_
  mutable std::vector<prometheus::MetricFamily> families_;  // guarded by mu_
};

}  // namespace mixsweep::metrics
