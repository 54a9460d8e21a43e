#include "db/pg_evaluation_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "db/evaluation_sql.h"
#include "db/idempotency.h"
#include "db/sql.h"
#include "db/trial_rows.h"

namespace mixsweep::db {
namespace {

using namespace trial_rows;  // NOLINT: this file is their main user

using evaluation::BatchRecord;
using evaluation::RecordTrialsResult;
using evaluation::RequestRecord;
using evaluation::RequestState;
using evaluation::RobotRecord;
using evaluation::ScoredTrial;
using evaluation::TrialRecord;
using nlohmann::json;
using scheduler::WriteContext;

constexpr const char* kRecordTrialsMethod = "RecordTrials";
constexpr const char* kCorrectTrialMethod = "CorrectTrial";

}  // namespace

absl::StatusOr<RobotRecord> PgEvaluationStore::RegisterRobot(const RobotRecord& robot,
                                                             const WriteContext&) {
  // Registering is idempotent by value: the same robot again is answered as
  // the first time, whatever the key.
  return Transact<RobotRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<RobotRecord> {
    const pqxx::result inserted =
        tx.exec_params(sql::kInsertRobot, robot.id, robot.platform, robot.location);
    if (!inserted.empty()) {
      tx.exec_params(sql::kInsertSweepEvent, "robot.registered", nullptr, "",
                     json{{"robot", robot.id}, {"platform", robot.platform}}.dump());
      return RobotFromRow(inserted[0]);
    }
    const RobotRecord existing = RobotFromRow(tx.exec_params1(sql::kSelectRobot, robot.id));
    if (existing.platform != robot.platform || existing.location != robot.location) {
      return absl::AlreadyExistsError(absl::StrCat(
          "robot.id: robot '", robot.id, "' is already registered as platform '",
          existing.platform, "' at '", existing.location, "'"));
    }
    return existing;
  });
}

absl::StatusOr<std::vector<RobotRecord>> PgEvaluationStore::ListRobots() {
  using Result = std::vector<RobotRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result out;
    for (const auto& row : tx.exec(sql::kSelectRobots)) out.push_back(RobotFromRow(row));
    return out;
  });
}

absl::StatusOr<RobotRecord> PgEvaluationStore::GetRobot(const std::string& robot_id) {
  return Transact<RobotRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<RobotRecord> {
    const pqxx::result rows = tx.exec_params(sql::kSelectRobot, robot_id);
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("robot_id: no robot '", robot_id,
                                              "'; register it with `mixsweep robot add`"));
    }
    return RobotFromRow(rows[0]);
  });
}

absl::StatusOr<std::optional<BatchRecord>> PgEvaluationStore::OpenBatchOf(
    const std::string& robot_id) {
  using Result = std::optional<BatchRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const pqxx::result rows = tx.exec_params(sql::kSelectOpenBatchOfRobot, robot_id);
    if (rows.empty()) return std::nullopt;
    BatchRecord batch;
    for (const auto& row : rows) batch.requests.push_back(RequestFromRow(row));
    const RequestRecord& first = batch.requests.front();
    batch.batch_id = first.batch_id;
    batch.robot_id = robot_id;
    batch.sweep_id = first.sweep_id;
    batch.scenario = first.scenario;
    batch.reason = rows[0][17].as<std::string>();
    return batch;
  });
}

absl::StatusOr<std::vector<evaluation::OpenRequest>> PgEvaluationStore::ListUnbatched(
    int64_t sweep_id, const std::string& platform) {
  using Result = std::vector<evaluation::OpenRequest>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result out;
    for (const auto& row : tx.exec_params(sql::kSelectUnbatched, sweep_id, platform)) {
      out.push_back({.request_id = row[0].as<int64_t>(),
                     .sweep_id = row[1].as<int64_t>(),
                     .scenario = row[2].as<std::string>(),
                     .platform = row[3].as<std::string>(),
                     .source = row[4].as<std::string>(),
                     .n_tele = row[5].as<int64_t>(),
                     .n_nt = row[6].as<int64_t>()});
    }
    return out;
  });
}

absl::StatusOr<BatchRecord> PgEvaluationStore::AssignBatch(
    const std::string& robot_id, const std::string& operator_name,
    const evaluation::BatchCandidate& batch, const std::vector<int64_t>& blind_order) {
  return Transact<BatchRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<BatchRecord> {
    const std::string batch_id =
        tx.exec("SELECT 'B-' || upper(substr(md5(gen_random_uuid()::text), 1, 10))")[0][0]
            .as<std::string>();
    const pqxx::result taken = tx.exec_params(sql::kAssignBatch, batch_id, robot_id,
                                              operator_name, batch.reason,
                                              BigintArray(blind_order));
    if (taken.size() != blind_order.size()) {
      // Another station took some of them first: roll back, ask again.
      return absl::AbortedError("another station took part of this batch; ask again");
    }
    tx.exec_params(sql::kInsertSweepEvent, "evaluation.batch_assigned", batch.sweep_id,
                   operator_name,
                   json{{"batch_id", batch_id},
                        {"robot", robot_id},
                        {"scenario", batch.scenario},
                        {"requests", blind_order},
                        {"reason", batch.reason}}
                       .dump());
    BatchRecord out{.batch_id = batch_id,
                    .robot_id = robot_id,
                    .sweep_id = batch.sweep_id,
                    .scenario = batch.scenario,
                    .reason = batch.reason};
    for (int64_t id : blind_order) {
      absl::StatusOr<RequestRecord> request = SelectRequest(tx, id);
      if (!request.ok()) return request.status();
      out.requests.push_back(*std::move(request));
    }
    return out;
  });
}

absl::StatusOr<RequestRecord> PgEvaluationStore::GetRequest(int64_t request_id) {
  return Transact<RequestRecord>(pool_, [&](pqxx::work& tx) { return SelectRequest(tx, request_id); });
}

absl::StatusOr<RequestRecord> PgEvaluationStore::FindRequestByLabel(const std::string& label) {
  return Transact<RequestRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<RequestRecord> {
    const pqxx::result rows = tx.exec_params(sql::kSelectRequestByLabel, label);
    if (rows.empty()) {
      return absl::NotFoundError(absl::StrCat("label: no evaluation request labelled '", label, "'"));
    }
    return RequestFromRow(rows[0]);
  });
}

absl::StatusOr<RecordTrialsResult> PgEvaluationStore::RecordTrials(
    int64_t request_id, const std::vector<ScoredTrial>& trials, bool simulated,
    const WriteContext& ctx) {
  json request_json = {{"request_id", request_id}, {"simulated", simulated}};
  for (const ScoredTrial& t : trials) request_json["trials"].push_back(TrialJson(t));
  const std::string request_text = request_json.dump();
  return RetryOnIdempotencyRace(ctx, [&] {
    return Transact<RecordTrialsResult>(
        pool_, [&](pqxx::work& tx) -> absl::StatusOr<RecordTrialsResult> {
          const std::optional<LockedRequest> locked = LockRequestForTrials(tx, request_id);
          if (!locked) {
            return absl::NotFoundError(
                absl::StrCat("request_id: no evaluation request ", request_id));
          }
          auto replay = FindReplay(tx, ctx, kRecordTrialsMethod, request_text);
          if (!replay.ok()) return replay.status();
          if (replay->has_value()) {
            absl::StatusOr<std::vector<TrialRecord>> stored =
                TrialsByIds(tx, (**replay)["trial_ids"].get<std::vector<int64_t>>());
            if (!stored.ok()) return stored.status();
            return RecordTrialsResult{.trials = *std::move(stored),
                                      .replayed = true,
                                      .request_complete = (**replay)["request_complete"]};
          }
          absl::StatusOr<StoredTrials> stored_trials =
              StoreTrials(tx, request_id, *locked, trials, simulated, ctx.principal);
          if (!stored_trials.ok()) return stored_trials.status();
          const std::vector<int64_t>& ids = stored_trials->ids;
          const bool complete = stored_trials->request_complete;
          RememberResult(tx, ctx, kRecordTrialsMethod, request_text,
                         {{"trial_ids", ids}, {"request_complete", complete}});
          absl::StatusOr<std::vector<TrialRecord>> stored = TrialsByIds(tx, ids);
          if (!stored.ok()) return stored.status();
          return RecordTrialsResult{
              .trials = *std::move(stored), .replayed = false, .request_complete = complete};
        });
  });
}

absl::StatusOr<TrialRecord> PgEvaluationStore::CorrectTrial(int64_t trial_id,
                                                            const ScoredTrial& corrected,
                                                            const std::string& reason,
                                                            const WriteContext& ctx) {
  const std::string request_text =
      json{{"trial_id", trial_id}, {"trial", TrialJson(corrected)}, {"reason", reason}}.dump();
  return RetryOnIdempotencyRace(ctx, [&] {
    return Transact<TrialRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<TrialRecord> {
      const pqxx::result original_rows = tx.exec_params(sql::kSelectTrial, trial_id);
      if (original_rows.empty()) {
        return absl::NotFoundError(absl::StrCat("trial_id: no trial ", trial_id));
      }
      const TrialRecord original = TrialFromRow(original_rows[0]);
      if (!LockRequestForTrials(tx, original.request_id)) {
        return absl::NotFoundError(absl::StrCat("no evaluation request ", original.request_id));
      }
      auto replay = FindReplay(tx, ctx, kCorrectTrialMethod, request_text);
      if (!replay.ok()) return replay.status();
      if (replay->has_value()) {
        absl::StatusOr<std::vector<TrialRecord>> stored =
            TrialsByIds(tx, {(**replay)["trial_id"].get<int64_t>()});
        if (!stored.ok()) return stored.status();
        if (stored->empty()) return absl::InternalError("a replayed correction lost its trial");
        return stored->front();
      }
      // Read again under the lock: a correction may have landed meanwhile.
      const TrialRecord current = TrialFromRow(tx.exec_params1(sql::kSelectTrial, trial_id));
      if (current.superseded_by_trial_id != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "trial_id: trial ", trial_id, " was already corrected by trial ",
            current.superseded_by_trial_id, "; correct that one"));
      }
      const std::string supersedes = std::to_string(trial_id);
      const std::vector<int64_t> ids = InsertTrials(tx, original.request_id, {corrected},
                                                    original.simulated, ctx.principal,
                                                    supersedes.c_str(), reason.c_str());
      if (ids.size() != 1) return absl::InternalError("a correction inserted no trial");
      absl::StatusOr<RequestRecord> request = SelectRequest(tx, original.request_id);
      if (!request.ok()) return request.status();
      MarkStale(tx, *request, ids.front());
      tx.exec_params(sql::kInsertRunEvent, "trial.corrected", original.sweep_id, original.run_id,
                     ctx.principal,
                     json{{"trial_id", ids.front()},
                          {"supersedes", trial_id},
                          {"reason", reason},
                          {"score_before", original.score},
                          {"score_after", corrected.score}}
                         .dump());
      RememberResult(tx, ctx, kCorrectTrialMethod, request_text, {{"trial_id", ids.front()}});
      return TrialFromRow(tx.exec_params1(sql::kSelectTrial, ids.front()));
    });
  });
}

absl::StatusOr<TrialRecord> PgEvaluationStore::GetTrial(int64_t trial_id) {
  return Transact<TrialRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<TrialRecord> {
    const pqxx::result rows = tx.exec_params(sql::kSelectTrial, trial_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("trial_id: no trial ", trial_id));
    return TrialFromRow(rows[0]);
  });
}

absl::StatusOr<std::vector<evaluation::ResultRecord>> PgEvaluationStore::ListResults(
    const evaluation::ResultFilter& filter) {
  using Result = std::vector<evaluation::ResultRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result out;
    std::map<int64_t, size_t> by_request;
    for (const auto& row :
         tx.exec_params(sql::kSelectSweepRequests, filter.sweep_id, filter.scenario)) {
      by_request[row[0].as<int64_t>()] = out.size();
      out.push_back({.request = RequestFromRow(row)});
    }
    // S from the current trials, summed in trial-id order like the engine.
    std::map<int64_t, std::vector<std::pair<int64_t, double>>> current_scores;
    for (const auto& row : tx.exec_params(sql::kSelectSweepTrials, filter.sweep_id,
                                          filter.scenario, filter.include_superseded)) {
      TrialRecord trial = TrialFromRow(row);
      auto it = by_request.find(trial.request_id);
      if (it == by_request.end()) continue;
      if (trial.superseded_by_trial_id == 0) {
        current_scores[trial.request_id].push_back({trial.id, trial.score});
      }
      if (filter.include_trials) out[it->second].trials.push_back(std::move(trial));
    }
    for (auto& [request_id, scores] : current_scores) {
      std::sort(scores.begin(), scores.end());
      double sum = 0.0;
      for (const auto& [id, score] : scores) sum += score;
      out[by_request[request_id]].s = sum / static_cast<double>(scores.size());
    }
    return out;
  });
}

}  // namespace mixsweep::db
