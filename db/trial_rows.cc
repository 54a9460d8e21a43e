// Trials as rows: encoding, reading, and the one place new trials are
// stored (see trial_rows.h).
#include "db/trial_rows.h"

#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "db/evaluation_sql.h"
#include "db/sql.h"

namespace mixsweep::db::trial_rows {

using evaluation::RequestRecord;
using evaluation::RequestState;
using evaluation::RobotRecord;
using evaluation::ScoredTrial;
using evaluation::TrialRecord;
using nlohmann::json;

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
          .seed = row[16].as<int64_t>(),
          .checkpoint_step = row[18].as<int64_t>(),
          .simulated = row[19].as<std::string>() == "simulation"};
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
  if (const std::string episode = row[22].as<std::string>(); !episode.empty()) {
    const json e = json::parse(episode);
    t.episode = evaluation::EpisodeInfo{.seed = e.value("seed", int64_t{0}),
                                        .sum_reward = e.value("sum_reward", 0.0),
                                        .max_reward = e.value("max_reward", 0.0),
                                        .has_rewards = e.value("has_rewards", false)};
  }
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
          {"video_uris", v.video_uris},
          {"episode", trial.episode ? json{{"seed", trial.episode->seed},
                                           {"sum_reward", trial.episode->sum_reward},
                                           {"max_reward", trial.episode->max_reward},
                                           {"has_rewards", trial.episode->has_rewards}}
                                    : json(nullptr)}};
}

absl::StatusOr<std::vector<TrialRecord>> TrialsByIds(pqxx::work& tx,
                                                     const std::vector<int64_t>& ids) {
  std::vector<TrialRecord> out;
  for (const auto& row : tx.exec_params(sql::kSelectTrialsByIds, BigintArray(ids))) {
    out.push_back(TrialFromRow(row));
  }
  return out;
}

std::optional<LockedRequest> LockRequestForTrials(pqxx::work& tx, int64_t request_id) {
  const pqxx::result rows = tx.exec_params(sql::kLockRequest, request_id);
  if (rows.empty()) return std::nullopt;
  LockedRequest locked{.state = rows[0][0].as<std::string>(),
                       .scenario = rows[0][1].as<std::string>(),
                       .trials_wanted = rows[0][2].as<int>(),
                       .simulated = rows[0][3].as<std::string>() == "simulation"};
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


absl::StatusOr<StoredTrials> StoreTrials(pqxx::work& tx, int64_t request_id,
                                         const LockedRequest& locked,
                                         const std::vector<ScoredTrial>& trials, bool simulated,
                                         const std::string& recorded_by) {
  if (locked.state != "open") {
    return absl::FailedPreconditionError(absl::StrCat(
        "request_id: evaluation request ", request_id, " is ", locked.state,
        "; new trials need an open request (send a correction to change a trial)"));
  }
  if (locked.simulated != simulated) {
    return absl::FailedPreconditionError(absl::StrCat(
        "request_id: evaluation request ", request_id, " is evaluated by ",
        locked.simulated ? "a simulation job; operators record no trials for it"
                         : "an operator on a robot; jobs record no trials for it"));
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
      InsertTrials(tx, request_id, trials, simulated, recorded_by, nullptr, nullptr);
  absl::StatusOr<RequestRecord> request = SelectRequest(tx, request_id);
  if (!request.ok()) return request.status();
  MarkStale(tx, *request, ids.empty() ? 0 : ids.back());
  const bool complete = !tx.exec_params(sql::kCompleteRequestIfDone, request_id).empty();
  if (complete) CompleteSweepIfDone(tx, request->sweep_id);
  tx.exec_params(sql::kInsertRunEvent, "trials.recorded", request->sweep_id, request->run_id,
                 recorded_by,
                 json{{"request_id", request_id},
                      {"trial_ids", ids},
                      {"scenario", request->scenario},
                      {"simulated", simulated},
                      {"request_complete", complete}}
                     .dump());
  return StoredTrials{.ids = ids, .request_complete = complete, .request = *std::move(request)};
}

}  // namespace mixsweep::db::trial_rows
