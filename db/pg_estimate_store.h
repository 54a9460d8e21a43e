// PgEstimateStore: the EstimateStore (scheduler/evaluation/estimate_store.h)
// on PostgreSQL. Estimates are kept as versioned JSON documents
// (utilization/estimate_json.h) in utilization_estimates: every computation
// is a new row, so the history of a number is never lost.
//
// Example:
//   db::PgEstimateStore estimates(pool);
//   evaluation::EstimateRecomputer recomputer(estimates, params, publish);
#pragma once

#include "db/connection_pool.h"
#include "scheduler/evaluation/estimate_store.h"

namespace mixsweep::db {

class PgEstimateStore : public evaluation::EstimateStore {
 public:
  explicit PgEstimateStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<std::vector<evaluation::StaleMark>> ListStale(int limit) override;
  absl::StatusOr<evaluation::ScenarioInputs> LoadScenarioInputs(
      int64_t sweep_id, const std::string& scenario) override;
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> SaveEstimates(
      const evaluation::StaleMark& mark,
      const std::vector<evaluation::StoredEstimate>& estimates) override;
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> LatestEstimates(
      const evaluation::EstimateFilter& filter) override;
  absl::StatusOr<std::vector<evaluation::StoredEstimate>> EstimatesAfter(
      int64_t sweep_id, int64_t after_row_id) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace mixsweep::db
