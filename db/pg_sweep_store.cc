#include "db/pg_sweep_store.h"

#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "db/command_json.h"
#include "db/idempotency.h"
#include "db/prepared.h"
#include "db/sql.h"

namespace mixsweep::db {
namespace {

using nlohmann::json;
using scheduler::JobRecord;
using scheduler::JobState;
using scheduler::RunRecord;
using scheduler::SweepRecord;
using scheduler::SweepState;
using scheduler::WriteContext;

constexpr const char* kSubmitMethod = "SubmitSweep";
constexpr const char* kExtendMethod = "ExtendSweep";
constexpr const char* kCancelMethod = "CancelSweep";

// ---- Encoding plans as JSON for jsonb_to_recordset ---------------------------

json ScenariosJson(const spec::SweepSpec& spec) {
  json out = json::array();
  int position = 0;
  for (const spec::Scenario& s : spec.evaluation.scenarios) {
    const bool simulated = s.evaluator == spec::Evaluator::kSimulation && s.simulation;
    out.push_back({{"name", s.name},
                   {"position", position++},
                   {"trials_wanted", s.trials},
                   {"platform", s.platform},
                   {"evaluator", simulated ? "simulation" : "robot"},
                   {"command", simulated ? CommandJson(s.simulation->command) : json(nullptr)},
                   {"eval_seed", simulated ? s.simulation->seed : 0}});
  }
  return out;
}

json JobsJson(const spec::SweepSpec& spec, const plan::SweepPlan& plan) {
  json jobs = json::array();
  for (const plan::PlannedJob& job : plan.jobs) {
    jobs.push_back({{"key", job.key},
                    {"kind", plan::JobKindName(job.kind)},
                    {"depends_on", job.depends_on},
                    {"source", job.source},
                    {"dataset_uri", job.dataset.uri},
                    {"dataset_hash", job.dataset.content_hash},
                    {"dataset_episodes", job.dataset.episodes},
                    {"n_demos", job.n_demos},
                    {"seed", job.seed},
                    {"steps", job.steps},
                    {"command", CommandJson(job.command)},
                    {"subset_episodes", job.subset.episodes},
                    {"checkpoint_steps", job.checkpoint_steps},
                    {"priority", spec.priority},
                    {"gpus", spec.resources.gpus},
                    {"min_gpu_memory_gib", spec.resources.min_gpu_memory_gib},
                    {"labels", spec.resources.labels},
                    {"max_attempts", spec.max_attempts},
                    {"deadline_seconds",
                     spec.job_deadline_hours
                         ? json(static_cast<int64_t>(std::ceil(*spec.job_deadline_hours * 3600)))
                         : json(nullptr)}});
  }
  return jobs;
}

json DependenciesJson(const plan::SweepPlan& plan) {
  json links = json::array();
  for (const plan::PlannedJob& job : plan.jobs) {
    if (!job.depends_on.empty()) {
      links.push_back({{"key", job.key}, {"depends_on", job.depends_on}});
    }
  }
  return links;
}

const char* SourceKindName(const spec::SweepSpec& spec, const std::string& source) {
  for (const spec::Source& s : spec.sources) {
    if (s.name == source) {
      return s.kind == spec::SourceKind::kHumanVideo ? "human_video" : "simulation";
    }
  }
  return "teleop";
}

json RunsJson(const spec::SweepSpec& spec, const plan::SweepPlan& plan) {
  json runs = json::array();
  for (const plan::PlannedRun& run : plan.runs) {
    runs.push_back({{"key", run.key},
                    {"n_tele", run.run.n_tele},
                    {"source", run.run.source},
                    {"source_kind", run.run.source.empty()
                                        ? "teleop"
                                        : SourceKindName(spec, run.run.source)},
                    {"n_nt", run.run.n_nt},
                    {"seed", run.run.seed},
                    {"train_job", run.train_job},
                    {"pretrain_job", run.pretrain_job},
                    {"finetune_job", run.finetune_job}});
  }
  return runs;
}

// Stores the jobs, their dependency links and the runs of `plan`.
void InsertPlan(pqxx::work& tx, int64_t sweep_id, int revision,
                const spec::SweepSpec& spec, const plan::SweepPlan& plan) {
  tx.exec_params(sql::kInsertJobs, sweep_id, JobsJson(spec, plan).dump());
  tx.exec_params(sql::kLinkDependencies, sweep_id, DependenciesJson(plan).dump());
  tx.exec_params(sql::kInsertRuns, sweep_id, RunsJson(spec, plan).dump(), revision);
  tx.exec_params(sql::kInsertScenarios, sweep_id, ScenariosJson(spec).dump());
}

// ---- Reading rows -------------------------------------------------------------

std::vector<scheduler::GenerationRecord> ReadGenerations(pqxx::work& tx, int64_t sweep_id) {
  std::vector<scheduler::GenerationRecord> out;
  for (const auto& row : tx.exec_params(sql::kSelectGenerations, sweep_id)) {
    scheduler::GenerationRecord g;
    g.job_id = row[0].as<int64_t>();
    g.source = row[1].as<std::string>();
    g.state = scheduler::ParseJobState(row[2].as<std::string>()).value_or(JobState::kQueued);
    g.recorded = row[3].as<bool>();
    g.dataset_uri = row[4].as<std::string>();
    g.num_success = row[5].as<int64_t>();
    g.num_attempts = row[6].as<int64_t>();
    g.seconds = row[7].as<double>();
    out.push_back(std::move(g));
  }
  return out;
}

absl::Time MicrosToTime(const pqxx::field& field) {
  return field.is_null() ? absl::InfinitePast() : absl::FromUnixMicros(field.as<int64_t>());
}

std::optional<absl::Time> OptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return absl::FromUnixMicros(field.as<int64_t>());
}

std::vector<int64_t> ParseIdList(const std::string& text) {
  std::vector<int64_t> ids;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id)) ids.push_back(id);
  }
  return ids;
}

SweepRecord ReadSweep(const pqxx::row& row) {
  SweepRecord sweep;
  sweep.id = row[0].as<int64_t>();
  sweep.name = row[1].as<std::string>();
  sweep.owner = row[2].as<std::string>();
  sweep.state = scheduler::ParseSweepState(row[3].as<std::string>()).value_or(SweepState::kActive);
  sweep.revision = row[4].as<int>();
  sweep.spec_yaml = row[5].as<std::string>();
  sweep.cancel_reason = row[6].as<std::string>();
  sweep.created_at = MicrosToTime(row[7]);
  sweep.updated_at = MicrosToTime(row[8]);
  return sweep;
}

JobState JobStateOf(const pqxx::field& field) {
  return scheduler::ParseJobState(field.as<std::string>()).value_or(JobState::kQueued);
}

std::vector<RunRecord> ReadRuns(pqxx::work& tx, int64_t sweep_id) {
  std::vector<RunRecord> runs;
  for (const auto& row : tx.exec_params(sql::kSelectRuns, sweep_id)) {
    RunRecord run;
    run.id = row[0].as<int64_t>();
    run.sweep_id = row[1].as<int64_t>();
    run.key = row[2].as<std::string>();
    run.run.n_tele = row[3].as<int64_t>();
    run.run.source = row[4].as<std::string>();
    run.source_kind = row[5].as<std::string>();
    run.run.n_nt = row[6].as<int64_t>();
    run.run.seed = row[7].as<int64_t>();
    run.train_job_id = row[8].as<int64_t>();
    run.pretrain_job_id = row[9].as<int64_t>();
    run.finetune_job_id = row[10].as<int64_t>();
    run.checkpoint_uri = row[11].as<std::string>();
    run.revision_added = row[12].as<int>();
    std::vector<JobState> job_states;
    for (int column = 13; column <= 15; ++column) {
      if (!row[column].is_null()) job_states.push_back(JobStateOf(row[column]));
    }
    run.state = scheduler::DeriveRunState(
        job_states, {.open = row[16].as<int64_t>(), .complete = row[17].as<int64_t>()});
    runs.push_back(std::move(run));
  }
  return runs;
}

// Columns of MIXSWEEP_JOB_COLUMNS; kSelectJob adds the subset after them.
constexpr int kJobColumns = 33;

JobRecord ReadJob(const pqxx::row& row) {
  JobRecord job;
  job.id = row[0].as<int64_t>();
  job.sweep_id = row[1].as<int64_t>();
  job.key = row[2].as<std::string>();
  job.kind = scheduler::ParseJobKind(row[3].as<std::string>()).value_or(plan::JobKind::kTrain);
  job.state = JobStateOf(row[4]);
  job.source = row[5].as<std::string>();
  job.dataset.uri = row[6].as<std::string>();
  job.dataset.content_hash = row[7].as<std::string>();
  job.dataset.episodes = row[8].as<int64_t>();
  job.n_demos = row[9].as<int64_t>();
  job.seed = row[10].as<int64_t>();
  job.steps = row[11].as<int64_t>();
  job.depends_on_job_id = row[12].as<int64_t>();
  job.attempts = row[13].as<int>();
  job.max_attempts = row[14].as<int>();
  job.priority = row[15].as<int>();
  job.lease_worker_id = row[16].as<int64_t>();
  job.fencing_token = row[17].as<int64_t>();
  job.lease_expires_at = OptionalTime(row[18]);
  job.cancel_requested = row[19].as<bool>();
  job.output_uri = row[20].as<std::string>();
  job.checkpoint_uri = row[21].as<std::string>();
  job.failure_message = row[22].as<std::string>();
  job.gpu_seconds = row[23].as<double>();
  job.created_at = MicrosToTime(row[24]);
  job.started_at = OptionalTime(row[25]);
  job.finished_at = OptionalTime(row[26]);
  job.failure_kind = row[27].as<std::string>();
  job.failure_exit_code = row[28].as<int>();
  job.failure_signal = row[29].as<int>();
  job.not_before = OptionalTime(row[30]);
  job.progress_json = row[31].as<std::string>();
  job.provenance_json = row[32].as<std::string>();
  return job;
}

scheduler::SweepCounts CountSweep(pqxx::work& tx, int64_t sweep_id,
                                  const std::vector<RunRecord>& runs) {
  scheduler::SweepCounts counts;
  counts.runs_total = static_cast<int>(runs.size());
  for (const RunRecord& run : runs) ++counts.runs_by_state[run.state];
  for (const auto& row : tx.exec_params(sql::kCountJobs, sweep_id)) {
    const int n = row[2].as<int>();
    counts.jobs_total += n;
    counts.jobs_by_state[JobStateOf(row[0])] += n;
    if (auto kind = scheduler::ParseJobKind(row[1].as<std::string>())) {
      counts.jobs_by_kind[*kind] += n;
    }
  }
  return counts;
}


}  // namespace

absl::StatusOr<scheduler::CreateSweepResult> PgSweepStore::CreateSweep(
    const scheduler::NewSweep& sweep, const WriteContext& ctx) {
  using Result = scheduler::CreateSweepResult;
  const spec::SweepSpec& spec = *sweep.spec;
  const plan::SweepPlan& plan = *sweep.plan;
  return RetryOnIdempotencyRace(ctx, [&] {
    return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
      auto replay = FindReplay(tx, ctx, kSubmitMethod, sweep.spec_yaml);
      if (!replay.ok()) return replay.status();
      if (replay->has_value()) {
        return Result{.sweep_id = (**replay)["sweep_id"].get<int64_t>(), .replayed = true};
      }
      // libpqxx 6 binds a null `const char*` as SQL NULL.
      const std::string baseline_text =
          spec.baseline_from_sweep ? std::to_string(*spec.baseline_from_sweep) : "";
      const char* baseline = spec.baseline_from_sweep ? baseline_text.c_str() : nullptr;
      const int64_t sweep_id =
          tx.exec_params1(sql::kInsertSweep, spec.name, ctx.principal, spec.task.name,
                          spec.policy, spec.code_version, spec.protocol.total_steps,
                          spec.protocol.pretrain_steps, spec.protocol.finetune_steps,
                          spec.priority, spec.max_attempts, baseline,
                          spec::DesignName(spec.design),
                          spec::AggregationName(spec.evaluation.aggregation))[0]
              .as<int64_t>();
      tx.exec_params(sql::kInsertRevision, sweep_id, 1, sweep.spec_yaml, ctx.principal);
      InsertPlan(tx, sweep_id, /*revision=*/1, spec, plan);
      const json detail = {{"runs", plan.runs.size()}, {"jobs", plan.jobs.size()}};
      tx.exec_params(sql::kInsertSweepEvent, "sweep.submitted", sweep_id, ctx.principal,
                     detail.dump());
      RememberResult(tx, ctx, kSubmitMethod, sweep.spec_yaml, {{"sweep_id", sweep_id}});
      return Result{.sweep_id = sweep_id, .replayed = false};
    });
  });
}

absl::StatusOr<scheduler::SweepRevision> PgSweepStore::GetRevision(int64_t sweep_id) {
  using Result = scheduler::SweepRevision;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    const pqxx::result rows = tx.exec_params(sql::kSelectSweepRevision, sweep_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
    return Result{.revision = rows[0][0].as<int>(),
                  .state = scheduler::ParseSweepState(rows[0][1].as<std::string>())
                               .value_or(SweepState::kActive),
                  .spec_yaml = rows[0][2].as<std::string>()};
  });
}

absl::StatusOr<scheduler::ExtendSweepResult> PgSweepStore::ExtendSweep(
    int64_t sweep_id, int expected_revision, const scheduler::NewSweep& updated,
    const WriteContext& ctx) {
  using Result = scheduler::ExtendSweepResult;
  const plan::SweepPlan& added = *updated.plan;
  const std::string request = absl::StrCat(sweep_id, "\n", updated.spec_yaml);
  return RetryOnIdempotencyRace(ctx, [&] {
    return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
      auto replay = FindReplay(tx, ctx, kExtendMethod, request);
      if (!replay.ok()) return replay.status();
      if (replay->has_value()) {
        return Result{.runs_added = (**replay)["runs_added"].get<int>(),
                      .jobs_added = (**replay)["jobs_added"].get<int>(),
                      .replayed = true};
      }
      const pqxx::result rows = tx.exec_params(sql::kLockSweepRevision, sweep_id);
      if (rows.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
      const int revision = rows[0][0].as<int>();
      if (revision != expected_revision) {
        return absl::AbortedError(absl::StrCat(
            "sweep ", sweep_id, " moved to revision ", revision, " meanwhile"));
      }
      if (rows[0][1].as<std::string>() == "cancelled") {
        return absl::FailedPreconditionError(absl::StrCat("sweep ", sweep_id, " is cancelled"));
      }
      const int next = revision + 1;
      tx.exec_params(sql::kInsertRevision, sweep_id, next, updated.spec_yaml, ctx.principal);
      tx.exec_params(sql::kBumpSweepRevision, sweep_id, next);
      InsertPlan(tx, sweep_id, next, *updated.spec, added);
      const Result result{.runs_added = static_cast<int>(added.runs.size()),
                          .jobs_added = static_cast<int>(added.jobs.size())};
      const json detail = {{"revision", next},
                           {"runs_added", result.runs_added},
                           {"jobs_added", result.jobs_added}};
      tx.exec_params(sql::kInsertSweepEvent, "sweep.extended", sweep_id, ctx.principal,
                     detail.dump());
      RememberResult(tx, ctx, kExtendMethod, request, detail);
      return result;
    });
  });
}

absl::StatusOr<std::optional<scheduler::ExtendSweepResult>> PgSweepStore::FindExtension(
    int64_t sweep_id, const std::string& spec_yaml, const WriteContext& ctx) {
  using Result = std::optional<scheduler::ExtendSweepResult>;
  const std::string request = absl::StrCat(sweep_id, "\n", spec_yaml);
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    auto replay = FindReplay(tx, ctx, kExtendMethod, request);
    if (!replay.ok()) return replay.status();
    if (!replay->has_value()) return Result{};
    return Result{scheduler::ExtendSweepResult{
        .runs_added = (**replay)["runs_added"].get<int>(),
        .jobs_added = (**replay)["jobs_added"].get<int>(),
        .replayed = true}};
  });
}

absl::StatusOr<scheduler::CancelSweepResult> PgSweepStore::CancelSweep(
    int64_t sweep_id, const std::string& reason, const WriteContext& ctx) {
  using Result = scheduler::CancelSweepResult;
  const std::string request = absl::StrCat(sweep_id, "\n", reason);
  return RetryOnIdempotencyRace(ctx, [&] {
    return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
      auto replay = FindReplay(tx, ctx, kCancelMethod, request);
      if (!replay.ok()) return replay.status();
      if (replay->has_value()) {
        return Result{.jobs_cancelled = (**replay)["jobs_cancelled"].get<int>(),
                      .jobs_stopping = (**replay)["jobs_stopping"].get<int>(),
                      .replayed = true};
      }
      const pqxx::result rows = tx.exec_params(sql::kLockSweep, sweep_id);
      if (rows.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
      const std::string state = rows[0][0].as<std::string>();
      if (state == "completed") {
        return absl::FailedPreconditionError(
            absl::StrCat("sweep ", sweep_id, " has completed; there is nothing to cancel"));
      }
      Result result;
      // Cancelling a cancelled sweep is a no-op, so a blind retry is harmless.
      if (state == "active") {
        result.jobs_cancelled =
            static_cast<int>(tx.exec_params(sql::kCancelWaitingJobs, sweep_id).affected_rows());
        result.jobs_stopping = static_cast<int>(
            tx.exec_params(sql::kRequestStopOfRunningJobs, sweep_id).affected_rows());
        tx.exec_params(sql::kMarkSweepCancelled, sweep_id, reason);
        tx.exec_params(sql::kCancelOpenEvaluations, sweep_id);
        const json detail = {{"reason", reason},
                             {"jobs_cancelled", result.jobs_cancelled},
                             {"jobs_stopping", result.jobs_stopping}};
        tx.exec_params(sql::kInsertSweepEvent, "sweep.cancelled", sweep_id, ctx.principal,
                       detail.dump());
      }
      RememberResult(tx, ctx, kCancelMethod, request,
                     {{"jobs_cancelled", result.jobs_cancelled},
                      {"jobs_stopping", result.jobs_stopping}});
      return result;
    });
  });
}

absl::StatusOr<SweepRecord> PgSweepStore::GetSweep(int64_t sweep_id) {
  return Transact<SweepRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<SweepRecord> {
    const pqxx::result rows = tx.exec_params(sql::kSelectSweep, sweep_id);
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no sweep ", sweep_id));
    SweepRecord sweep = ReadSweep(rows[0]);
    sweep.counts = CountSweep(tx, sweep_id, ReadRuns(tx, sweep_id));
    sweep.generations = ReadGenerations(tx, sweep_id);
    return sweep;
  });
}

absl::StatusOr<std::vector<scheduler::GenerationRecord>> PgSweepStore::ListGenerations(
    int64_t sweep_id) {
  using Result = std::vector<scheduler::GenerationRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    return ReadGenerations(tx, sweep_id);
  });
}

absl::StatusOr<scheduler::SweepPage> PgSweepStore::ListSweeps(
    const scheduler::SweepFilter& filter) {
  using Result = scheduler::SweepPage;
  std::vector<std::string> states;
  for (SweepState s : filter.states) states.push_back(scheduler::SweepStateName(s));
  // A text[] literal of fixed state names (no quoting needed), bound as one parameter.
  const std::string states_literal = absl::StrCat("{", absl::StrJoin(states, ","), "}");
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result page;
    const pqxx::result rows = tx.exec_params(sql::kListSweeps, filter.owner, filter.task,
                                             states_literal, filter.before_id,
                                             filter.page_size + 1);
    for (const auto& row : rows) {
      if (static_cast<int>(page.sweeps.size()) == filter.page_size) {
        page.next_before_id = page.sweeps.back().id;
        break;
      }
      SweepRecord sweep = ReadSweep(row);
      sweep.counts = CountSweep(tx, sweep.id, ReadRuns(tx, sweep.id));
      page.sweeps.push_back(std::move(sweep));
    }
    return page;
  });
}

absl::StatusOr<std::vector<RunRecord>> PgSweepStore::ListRuns(int64_t sweep_id) {
  using Result = std::vector<RunRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    return ReadRuns(tx, sweep_id);
  });
}

absl::StatusOr<std::vector<JobRecord>> PgSweepStore::ListJobs(int64_t sweep_id) {
  using Result = std::vector<JobRecord>;
  return Transact<Result>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    Result jobs;
    std::map<int64_t, size_t> index_of;
    for (const auto& row : tx.exec_params(sql::kSelectJobs, sweep_id)) {
      index_of[row[0].as<int64_t>()] = jobs.size();
      jobs.push_back(ReadJob(row));
    }
    for (const auto& row : tx.exec_params(sql::kSelectRunIdsOfJobs, sweep_id)) {
      if (auto it = index_of.find(row[0].as<int64_t>()); it != index_of.end()) {
        jobs[it->second].run_ids.push_back(row[1].as<int64_t>());
      }
    }
    return jobs;
  });
}

absl::StatusOr<JobRecord> LoadJob(pqxx::work& tx, int64_t job_id) {
  // Prepared: every lease reads its job through here.
  const pqxx::result rows = ExecPrepared(tx, sql::kSelectJob, job_id);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
  JobRecord job = ReadJob(rows[0]);
  job.subset_episodes = ParseIdList(rows[0][kJobColumns].as<std::string>());
  for (const auto& row : ExecPrepared(tx, sql::kSelectRunIdsOfJob, job_id)) {
    job.run_ids.push_back(row[0].as<int64_t>());
  }
  return job;
}

absl::StatusOr<JobRecord> PgSweepStore::GetJob(int64_t job_id) {
  return Transact<JobRecord>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<JobRecord> {
    return LoadJob(tx, job_id);
  });
}

absl::StatusOr<int64_t> PgSweepStore::LatestEventId(int64_t sweep_id) {
  return Transact<int64_t>(pool_, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    return tx.exec_params1(sql::kLatestSweepEventId, sweep_id)[0].as<int64_t>();
  });
}

}  // namespace mixsweep::db
