#include "db/pg_system_stats_store.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/system_stats_sql.h"

namespace mixsweep::db {
namespace {

// The bounds negated and ascending, as kJob*Buckets want them: "{-b_n,...}".
std::string NegatedBoundsArray(const std::vector<double>& bounds) {
  std::vector<std::string> negated;
  for (auto it = bounds.rbegin(); it != bounds.rend(); ++it) negated.push_back(absl::StrCat(-*it));
  return absl::StrCat("{", absl::StrJoin(negated, ","), "}");
}

// Reads (kind, index, count, sum) rows into per-kind bucket counts; see
// kJobDurationBuckets for what the index means.
std::map<std::string, metrics::BucketCounts> ReadBuckets(pqxx::work& tx, const char* query,
                                                         const std::vector<double>& bounds) {
  std::map<std::string, metrics::BucketCounts> out;
  const int n = static_cast<int>(bounds.size());
  for (const auto& row : tx.exec_params(query, NegatedBoundsArray(bounds))) {
    auto& buckets = out[row[0].as<std::string>()];
    buckets.counts.resize(bounds.size() + 1, 0);
    const int at_least = row[1].as<int>();  // bounds >= x
    const int index = std::clamp(n - at_least, 0, n);
    buckets.counts[index] += row[2].as<int64_t>();
    buckets.sum += row[3].is_null() ? 0.0 : row[3].as<double>();
  }
  return out;
}

std::map<std::string, int64_t> CountsByFirstColumn(pqxx::work& tx, const char* query) {
  std::map<std::string, int64_t> out;
  for (const auto& row : tx.exec(query)) out[row[0].as<std::string>()] = row[1].as<int64_t>();
  return out;
}

}  // namespace

absl::StatusOr<metrics::SystemSnapshot> PgSystemStatsStore::ReadSnapshot(
    const metrics::SnapshotOptions& options) {
  using Snapshot = metrics::SystemSnapshot;
  return Transact<Snapshot>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Snapshot> {
    // One snapshot for every count: a job moving between two reads is
    // counted once.
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    Snapshot s;
    for (const auto& row : tx.exec(sql::kJobsByKindState)) {
      s.jobs_by_kind_state[{row[0].as<std::string>(), row[1].as<std::string>()}] =
          row[2].as<int64_t>();
    }
    s.sweeps_by_state = CountsByFirstColumn(tx, sql::kSweepsByState);

    std::map<int64_t, metrics::SweepActivity> active;
    for (const auto& row : tx.exec(sql::kActiveSweepJobs)) {
      auto& sweep = active[row[0].as<int64_t>()];
      sweep.jobs_by_state[row[1].as<std::string>()] = row[2].as<int64_t>();
    }
    for (const auto& row : tx.exec(sql::kActiveSweepRequests)) {
      auto& sweep = active[row[0].as<int64_t>()];
      sweep.requests = row[1].as<int64_t>();
      sweep.requests_complete = row[2].as<int64_t>();
    }
    for (const auto& row : tx.exec(sql::kActiveSweepLastProgress)) {
      auto& sweep = active[row[0].as<int64_t>()];
      if (!row[1].is_null()) sweep.last_progress = absl::FromUnixMicros(row[1].as<int64_t>());
    }
    for (auto& [id, sweep] : active) {
      sweep.sweep_id = id;
      s.active_sweeps.push_back(std::move(sweep));
    }

    s.requests_by_state = CountsByFirstColumn(tx, sql::kRequestsByState);
    for (const auto& row : tx.exec(sql::kWorkersByState)) {
      const std::string state = row[0].as<std::string>();
      s.workers_by_state[state] = row[1].as<int64_t>();
      if (state == "alive" || state == "draining") s.gpus_total += row[2].as<int64_t>();
    }
    s.gpus_busy = tx.exec1(sql::kBusyGpus)[0].as<int64_t>();
    s.events_by_kind = CountsByFirstColumn(tx, sql::kEventCounts);
    s.job_duration_seconds =
        ReadBuckets(tx, sql::kJobDurationBuckets, metrics::kJobDurationBoundsSeconds);
    s.job_gpu_seconds = ReadBuckets(tx, sql::kJobGpuSecondsBuckets, metrics::kJobGpuSecondsBounds);
    const pqxx::row trials = tx.exec1(sql::kTrialCounts);
    s.trials_recorded = trials[0].as<int64_t>();
    s.trial_corrections = trials[1].as<int64_t>();
    for (const auto& row : tx.exec_params(sql::kEstimateSweeps, options.estimate_days)) {
      s.estimate_sweep_ids.push_back(row[0].as<int64_t>());
    }
    return s;
  });
}

}  // namespace mixsweep::db
