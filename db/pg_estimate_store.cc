#include "db/pg_estimate_store.h"

#include <algorithm>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "db/evaluation_sql.h"
#include "scheduler/utilization/estimate_json.h"

namespace mixsweep::db {
namespace {

using evaluation::StaleMark;
using evaluation::StoredEstimate;
using nlohmann::json;

json ParamsJson(const utilization::EstimateParams& p) {
  return {{"n_t_star", p.n_t_star}, {"resamples", p.resamples}, {"level", p.level}};
}

utilization::EstimateParams ParamsFromJson(const std::string& text) {
  const json j = json::parse(text);
  utilization::EstimateParams p;
  p.n_t_star = j.value("n_t_star", int64_t{0});
  p.resamples = j.value("resamples", 0);
  p.level = j.value("level", 0.0);
  return p;
}

absl::StatusOr<StoredEstimate> EstimateFromRow(const pqxx::row& row) {
  absl::StatusOr<utilization::Estimate> estimate =
      utilization::EstimateFromJson(row[5].as<std::string>());
  if (!estimate.ok()) {
    return absl::DataLossError(absl::StrCat("stored estimate ", row[0].as<int64_t>(),
                                            " does not read back: ",
                                            estimate.status().message()));
  }
  return StoredEstimate{.row_id = row[0].as<int64_t>(),
                        .estimate = *std::move(estimate),
                        .task = row[6].as<std::string>(),
                        .version = row[4].as<int64_t>(),
                        .computed_at = absl::FromUnixMicros(row[10].as<int64_t>()),
                        .trigger_trial_id = row[7].as<int64_t>(),
                        .trials_digest = row[8].as<std::string>(),
                        .params = ParamsFromJson(row[9].as<std::string>())};
}

absl::StatusOr<std::vector<StoredEstimate>> EstimatesFromRows(const pqxx::result& rows) {
  std::vector<StoredEstimate> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    absl::StatusOr<StoredEstimate> e = EstimateFromRow(row);
    if (!e.ok()) return e.status();
    out.push_back(*std::move(e));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<StaleMark>> PgEstimateStore::ListStale(int limit) {
  using Result = std::vector<StaleMark>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result out;
    for (const auto& row : tx.exec_params(sql::kSelectStale, limit)) {
      out.push_back({.sweep_id = row[0].as<int64_t>(),
                     .scenario = row[1].as<std::string>(),
                     .mark = row[2].as<int64_t>(),
                     .trigger_trial_id = row[3].as<int64_t>()});
    }
    return out;
  });
}

absl::StatusOr<evaluation::ScenarioInputs> PgEstimateStore::LoadScenarioInputs(
    int64_t sweep_id, const std::string& scenario) {
  using Result = evaluation::ScenarioInputs;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    // One snapshot for every read: the trial set and its largest id agree.
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const pqxx::result sweep = tx.exec_params(sql::kSelectEstimateSweep, sweep_id, scenario);
    if (sweep.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
    Result in{.sweep_id = sweep_id, .scenario = scenario, .task = sweep[0][0].as<std::string>()};
    const int64_t baseline = sweep[0][1].as<int64_t>();
    for (absl::string_view source :
         absl::StrSplit(sweep[0][2].as<std::string>(), ',', absl::SkipEmpty())) {
      in.sources.emplace_back(source);
    }
    in.aggregation = sweep[0][3].as<std::string>() == "max_over_checkpoints"
                         ? spec::Aggregation::kMaxOverCheckpoints
                         : spec::Aggregation::kLast;
    in.simulated = sweep[0][4].as<std::string>() == "simulation";
    for (const auto& row :
         tx.exec_params(sql::kSelectEstimateRequests, sweep_id, baseline, scenario)) {
      in.requests.push_back({.request_id = row[0].as<int64_t>(),
                             .run_id = row[1].as<int64_t>(),
                             .checkpoint_step = row[2].as<int64_t>(),
                             .complete = row[3].as<bool>()});
    }
    for (const auto& row : tx.exec_params(sql::kSelectEstimateRuns, sweep_id, baseline)) {
      in.runs.push_back({.run_id = row[0].as<int64_t>(),
                         .n_tele = row[1].as<int64_t>(),
                         .source = row[2].as<std::string>(),
                         .n_nt = row[3].as<int64_t>(),
                         .seed = row[4].as<int64_t>()});
    }
    for (const auto& row :
         tx.exec_params(sql::kSelectEstimateTrials, sweep_id, baseline, scenario)) {
      in.trials.push_back({.trial_id = row[0].as<int64_t>(),
                           .run_id = row[1].as<int64_t>(),
                           .request_id = row[2].as<int64_t>(),
                           .score = row[3].as<double>()});
    }
    in.last_trial_id =
        tx.exec_params1(sql::kSelectScenarioLastTrial, sweep_id, baseline, scenario)[0]
            .as<int64_t>();
    return in;
  });
}

absl::StatusOr<std::vector<StoredEstimate>> PgEstimateStore::SaveEstimates(
    const StaleMark& mark, const std::vector<StoredEstimate>& estimates) {
  using Result = std::vector<StoredEstimate>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    tx.exec_params(sql::kLockSweepEstimates, mark.sweep_id);
    Result saved;
    for (const StoredEstimate& e : estimates) {
      const utilization::EstimateKey& key = e.estimate.key;
      int64_t version = 1;
      const pqxx::result latest =
          tx.exec_params(sql::kSelectLatestVersion, key.sweep_id, key.scenario, key.source);
      if (!latest.empty()) {
        // A slower recomputation of an older trial set must not follow a
        // newer one; the same set computed again adds nothing.
        if (latest[0][1].as<int64_t>() >= e.estimate.last_trial_id) continue;
        // Trials of another source (or of a baseline sweep's mixed runs)
        // moved the scenario's last trial id but not this estimate's set.
        if (latest[0][2].as<std::string>() == e.trials_digest) continue;
        version = latest[0][0].as<int64_t>() + 1;
      }
      // The newest trial the estimate includes: trials that committed after
      // the mark was read are in it too, and a later pass over the same set
      // stores nothing, so the mark's own trigger could be older than what a
      // client waits for.
      const int64_t trigger = std::max(mark.trigger_trial_id, e.estimate.last_trial_id);
      const pqxx::row row = tx.exec_params1(
          sql::kInsertEstimate, key.sweep_id, key.scenario, key.source, version,
          utilization::EstimateToJson(e.estimate), e.estimate.trial_count,
          e.estimate.last_trial_id, e.task, trigger, e.trials_digest,
          ParamsJson(e.params).dump());
      StoredEstimate out = e;
      out.row_id = row[0].as<int64_t>();
      out.version = version;
      out.computed_at = absl::FromUnixMicros(row[1].as<int64_t>());
      out.trigger_trial_id = trigger;
      saved.push_back(std::move(out));
    }
    tx.exec_params(sql::kClearStale, mark.sweep_id, mark.scenario, mark.mark);
    return saved;
  });
}

absl::StatusOr<std::vector<StoredEstimate>> PgEstimateStore::LatestEstimates(
    const evaluation::EstimateFilter& filter) {
  using Result = std::vector<StoredEstimate>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    return EstimatesFromRows(tx.exec_params(sql::kSelectLatestEstimates, filter.sweep_id,
                                            filter.scenario, filter.source));
  });
}

absl::StatusOr<std::vector<StoredEstimate>> PgEstimateStore::EstimatesAfter(int64_t sweep_id,
                                                                            int64_t after_row_id) {
  using Result = std::vector<StoredEstimate>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    return EstimatesFromRows(tx.exec_params(sql::kSelectEstimatesAfter, sweep_id, after_row_id));
  });
}

}  // namespace mixsweep::db
