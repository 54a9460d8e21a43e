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

namespace mixsweep::db {
namespace {

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

absl::Time FromMicros(const pqxx::field& f) {
  return f.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(f.as<int64_t>());
}

std::string BigintArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// "{1,2,3}" -> ids.
std::vector<int64_t> ParseBigintArray(absl::string_view text) {
  text = absl::StripPrefix(absl::StripSuffix(text, "}"), "{");
  std::vector<int64_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id)) ids.push_back(id);
  }
  return ids;
}

RequestState ParseRequestState(const std::string& s) {
  if (s == "complete") return RequestState::kComplete;
  if (s == "cancelled") return RequestState::kCancelled;
  return RequestState::kOpen;
}

RobotRecord RobotFromRow(const pqxx::row& row) {
  return {.id = row[0].as<std::string>(),
          .platform = row[1].as<std::string>(),
          .location = row[2].as<std::string>(),
          .registered_at = FromMicros(row[3])};
}

RequestRecord RequestFromRow(const pqxx::row& row) {
  return {.id = row[0].as<int64_t>(),
          .sweep_id = row[1].as<int64_t>(),
          .run_id = row[2].as<int64_t>(),
          .scenario = row[3].as<std::string>(),
          .checkpoint_uri = row[4].as<std::string>(),
          .trials_wanted = row[5].as<int>(),
          .trials_recorded = row[6].as<int>(),
          .state = ParseRequestState(row[7].as<std::string>()),
          .blind_label = row[8].as<std::string>(),
          .batch_id = row[9].as<std::string>(),
          .robot_id = row[10].as<std::string>(),
          .batch_position = row[11].as<int>(),
          .platform = row[12].as<std::string>(),
          .n_tele = row[13].as<int64_t>(),
          .source = row[14].as<std::string>(),
          .n_nt = row[15].as<int64_t>(),
          .seed = row[16].as<int64_t>()};
}

std::vector<std::string> StringList(const std::string& json_text) {
  std::vector<std::string> out;
  for (const json& item : json::parse(json_text)) out.push_back(item.get<std::string>());
  return out;
}

TrialRecord TrialFromRow(const pqxx::row& row) {
  TrialRecord t;
  t.id = row[0].as<int64_t>();
  t.request_id = row[1].as<int64_t>();
  t.sweep_id = row[2].as<int64_t>();
  t.run_id = row[3].as<int64_t>();
  t.scenario = row[4].as<std::string>();
  t.checkpoint_uri = row[5].as<std::string>();
  t.values.trial_index = row[6].as<int>();
  t.values.achieved = StringList(row[7].as<std::string>());
  t.score = row[8].as<double>();
  t.values.success = row[9].as<bool>();
  const int64_t duration_ms = row[10].as<int64_t>();
  if (duration_ms >= 0) t.values.duration_ms = duration_ms;
  t.values.intervention = row[11].as<bool>();
  t.values.safety_stop = row[12].as<bool>();
  t.values.operator_name = row[13].as<std::string>();
  t.values.robot_id = row[14].as<std::string>();
  t.values.notes = row[15].as<std::string>();
  t.values.video_uris = StringList(row[16].as<std::string>());
  t.simulated = row[17].as<bool>();
  t.supersedes_trial_id = row[18].as<int64_t>();
  t.superseded_by_trial_id = row[19].as<int64_t>();
  t.correction_reason = row[20].as<std::string>();
  t.recorded_at = FromMicros(row[21]);
  return t;
}

json TrialJson(const ScoredTrial& trial) {
  const evaluation::TrialValues& v = trial.values;
  return {{"trial_index", v.trial_index},
          {"achieved", v.achieved},
          {"score", trial.score},
          {"success", v.success},
          {"duration_ms", v.duration_ms ? json(*v.duration_ms) : json(nullptr)},
          {"intervention", v.intervention},
          {"safety_stop", v.safety_stop},
          {"operator", v.operator_name},
          {"robot_id", v.robot_id},
          {"notes", v.notes},
          {"video_uris", v.video_uris}};
}

absl::StatusOr<std::vector<TrialRecord>> TrialsByIds(pqxx::work& tx,
                                                     const std::vector<int64_t>& ids) {
  std::vector<TrialRecord> out;
  for (const auto& row : tx.exec_params(sql::kSelectTrialsByIds, BigintArray(ids))) {
    out.push_back(TrialFromRow(row));
  }
  return out;
}

// Locks the request and the trials of its scenario, in that order (every
// trial write does the same, so two writes never deadlock).
struct LockedRequest {
  std::string state;
  std::string scenario;
  int trials_wanted = 0;
};
std::optional<LockedRequest> LockRequestForTrials(pqxx::work& tx, int64_t request_id) {
  const pqxx::result rows = tx.exec_params(sql::kLockRequest, request_id);
  if (rows.empty()) return std::nullopt;
  LockedRequest locked{.state = rows[0][0].as<std::string>(),
                       .scenario = rows[0][1].as<std::string>(),
                       .trials_wanted = rows[0][2].as<int>()};
  tx.exec_params(sql::kLockScenarioTrials, locked.scenario);
  return locked;
}

// Inserts the trials and marks the estimates they feed stale; their ids.
std::vector<int64_t> InsertTrials(pqxx::work& tx, int64_t request_id,
                                  const std::vector<ScoredTrial>& trials, bool simulated,
                                  const std::string& recorded_by, const char* supersedes,
                                  const char* reason) {
  json rows = json::array();
  for (const ScoredTrial& t : trials) rows.push_back(TrialJson(t));
  const std::vector<int64_t> ids = ParseBigintArray(
      tx.exec_params1(sql::kInsertTrials, request_id, rows.dump(), simulated, recorded_by,
                      supersedes, reason)[0]
          .as<std::string>());
  return ids;
}

void MarkStale(pqxx::work& tx, const RequestRecord& request, int64_t trigger_trial_id) {
  tx.exec_params(sql::kMarkStale, request.sweep_id, request.scenario, trigger_trial_id);
}

// After a request completed: the sweep completes if nothing is left to do.
void CompleteSweepIfDone(pqxx::work& tx, int64_t sweep_id) {
  if (!tx.exec_params(sql::kCompleteSweepIfDone, sweep_id).empty()) {
    tx.exec_params(sql::kInsertSweepEvent, "sweep.completed", sweep_id, "", "{}");
  }
}

absl::StatusOr<RequestRecord> SelectRequest(pqxx::work& tx, int64_t request_id) {
  const pqxx::result rows = tx.exec_params(sql::kSelectRequest, request_id);
  if (rows.empty()) {
    return absl::NotFoundError(absl::StrCat("request_id: no evaluation request ", request_id));
  }
  return RequestFromRow(rows[0]);
}

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
          if (locked->state != "open") {
            return absl::FailedPreconditionError(absl::StrCat(
                "request_id: evaluation request ", request_id, " is ", locked->state,
                "; new trials need an open request (send a correction to change a trial)"));
          }
          std::set<int> recorded;
          for (const auto& row : tx.exec_params(sql::kRecordedIndices, request_id)) {
            recorded.insert(row[0].as<int>());
          }
          for (size_t i = 0; i < trials.size(); ++i) {
            const int index = trials[i].values.trial_index;
            if (recorded.count(index)) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "trials[", i, "].trial_index: trial ", index, " of request ", request_id,
                  " is already recorded; send a correction to change it"));
            }
          }
          const std::vector<int64_t> ids =
              InsertTrials(tx, request_id, trials, simulated, ctx.principal, nullptr, nullptr);
          absl::StatusOr<RequestRecord> request = SelectRequest(tx, request_id);
          if (!request.ok()) return request.status();
          MarkStale(tx, *request, ids.empty() ? 0 : ids.back());
          const bool complete = !tx.exec_params(sql::kCompleteRequestIfDone, request_id).empty();
          if (complete) CompleteSweepIfDone(tx, request->sweep_id);
          tx.exec_params(sql::kInsertRunEvent, "trials.recorded", request->sweep_id,
                         request->run_id, ctx.principal,
                         json{{"request_id", request_id},
                              {"trial_ids", ids},
                              {"scenario", request->scenario},
                              {"request_complete", complete}}
                             .dump());
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
