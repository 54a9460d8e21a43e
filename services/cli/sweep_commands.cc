// mixsweep sweep ..., job ..., workers: sweeps, their jobs and logs, and the
// worker agents.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "services/cli/client.h"
#include "services/cli/render.h"
#include "services/cli/render_sweep.h"
#include "services/cli/terminal.h"

namespace mixsweep::cli {
namespace {
namespace v1 = mixsweep::v1;

int SubmitSweep(const Globals& globals, const std::string& file, bool validate_only) {
  v1::SubmitSweepRequest request;
  if (!ReadFile(file, request.mutable_spec_yaml())) {
    std::cerr << "error: cannot read " << file << "\n";
    return kUsage;
  }
  request.set_validate_only(validate_only);
  request.set_idempotency_key(IdempotencyKey(globals));
  return CallAndPrint(
      globals, &v1::SweepService::Stub::SubmitSweep, request,
      [&](const v1::SubmitSweepResponse& response) {
        return validate_only ? absl::StrCat(file, " is valid: ", response.runs(), " runs, ",
                                            response.jobs(), " jobs\n")
                             : absl::StrCat("submitted sweep ", response.sweep().id(), ": ",
                                            response.runs(), " runs, ", response.jobs(), " jobs\n");
      });
}

int ExtendSweep(const Globals& globals, int64_t id, const std::string& file, bool validate_only) {
  v1::ExtendSweepRequest request;
  request.set_sweep_id(id);
  if (!ReadFile(file, request.mutable_spec_yaml())) {
    std::cerr << "error: cannot read " << file << "\n";
    return kUsage;
  }
  request.set_validate_only(validate_only);
  request.set_idempotency_key(IdempotencyKey(globals));
  return CallAndPrint(globals, &v1::SweepService::Stub::ExtendSweep, request,
                      [&](const v1::ExtendSweepResponse& response) {
                        return absl::StrCat(validate_only ? "would extend" : "extended", " sweep ",
                                            id, ": +", response.runs_added(), " runs, +",
                                            response.jobs_added(), " jobs\n");
                      });
}

// Every result of a sweep (ListResults, without trials).
grpc::Status SweepResults(Client& client, int64_t sweep_id, std::vector<v1::ScenarioResult>* out) {
  v1::ListResultsRequest request;
  request.set_sweep_id(sweep_id);
  do {
    v1::ListResultsResponse page;
    grpc::Status status =
        client.Call(&v1::EvaluationService::Stub::ListResults, request, &page);
    if (!status.ok()) return status;
    for (auto& result : *page.mutable_results()) out->push_back(std::move(result));
    request.mutable_page()->set_page_token(page.next_page_token());
  } while (!request.page().page_token().empty());
  return grpc::Status::OK;
}

// Where the grid and the list wrap: the terminal's width, else 100 columns.
int OutputWidth() {
  const int columns = TerminalColumns();
  return columns > 0 ? columns : 100;
}

int ListSweeps(const Globals& globals, const std::string& owner) {
  Client client(globals);
  v1::ListSweepsRequest request;
  request.set_owner(owner);
  std::vector<v1::Sweep> all;
  v1::ListSweepsResponse merged;
  do {
    v1::ListSweepsResponse page;
    grpc::Status status = client.Call(&v1::SweepService::Stub::ListSweeps, request, &page);
    if (!status.ok()) return Fail(status);
    for (const auto& sweep : page.sweeps()) {
      all.push_back(sweep);
      *merged.add_sweeps() = sweep;
    }
    request.mutable_page()->set_page_token(page.next_page_token());
  } while (!request.page().page_token().empty());
  if (globals.json) {
    PrintJson(merged);
    return kOk;
  }
  // The evaluations of each sweep: a completed sweep has evaluated every run
  // that trained; the others are counted from their results, one call each.
  // Where that call fails, the sweep shows jobs only.
  std::vector<std::optional<EvaluationProgress>> evaluations;
  for (const v1::Sweep& sweep : all) {
    if (sweep.state() == v1::SWEEP_STATE_COMPLETED) {
      evaluations.push_back(CompletedEvaluations(sweep));
      continue;
    }
    std::vector<v1::ScenarioResult> results;
    if (SweepResults(client, sweep.id(), &results).ok()) {
      evaluations.push_back(CountEvaluations(sweep, results));
    } else {
      evaluations.push_back(std::nullopt);
    }
  }
  std::cout << RenderSweepList(all, evaluations);
  return kOk;
}

// The bars of `sweep show`: jobs, then evaluations.
constexpr int kBarWidth = 20;

int ShowSweep(const Globals& globals, int64_t id, bool runs, bool jobs) {
  Client client(globals);
  v1::GetSweepRequest request;
  request.set_sweep_id(id);
  request.set_include_runs(true);
  request.set_include_jobs(true);
  v1::GetSweepResponse response;
  if (grpc::Status status = client.Call(&v1::SweepService::Stub::GetSweep, request, &response);
      !status.ok()) {
    return Fail(status);
  }
  if (globals.json) {
    PrintJson(response);
    return kOk;
  }
  // The scores; without them (a server or role that refuses), the grid of
  // states alone.
  std::vector<v1::ScenarioResult> results;
  const grpc::Status listed = SweepResults(client, id, &results);
  std::string out = RenderSweepSummary(response, std::chrono::system_clock::now(), kBarWidth);
  if (listed.ok()) {
    absl::StrAppend(
        &out, RenderEvaluationLine(CountEvaluations(response.sweep(), results), kBarWidth), "\n");
  }
  absl::StrAppend(&out, "\n", RenderSweepDesign(response.sweep()), "\n",
                  RenderSweepGrid(response, results, {.color = ColorWanted(), .width = OutputWidth()}));
  if (!listed.ok()) {
    absl::StrAppend(&out, "(no scores: ListResults: ", listed.error_message(), ")\n");
  }
  if (runs || jobs) absl::StrAppend(&out, "\n", RenderRuns(response));
  if (jobs) absl::StrAppend(&out, "\n", RenderJobs(response));
  std::cout << out << std::flush;
  return kOk;
}

int CancelSweep(const Globals& globals, int64_t id, const std::string& reason) {
  v1::CancelSweepRequest request;
  request.set_sweep_id(id);
  request.set_reason(reason);
  request.set_idempotency_key(IdempotencyKey(globals));
  return CallAndPrint(globals, &v1::SweepService::Stub::CancelSweep, request,
                      [&](const v1::CancelSweepResponse& response) {
                        return absl::StrCat("sweep ", id, " cancelled: ", response.jobs_cancelled(),
                                            " queued jobs stopped, ", response.jobs_stopping(),
                                            " running jobs asked to stop\n");
                      });
}

int WatchSweep(const Globals& globals, int64_t id) {
  Client client(globals);
  v1::WatchSweepRequest request;
  request.set_sweep_id(id);
  grpc::ClientContext context;
  client.Prepare(&context, /*deadline=*/false);
  CancelOnInterrupt cancel_on_interrupt(&context);
  auto reader = client.stub().WatchSweep(&context, request);
  v1::SweepProgress progress;
  while (reader->Read(&progress)) {
    if (globals.json) {
      PrintJson(progress);
      std::cout << std::flush;
      continue;
    }
    // The update has counts only; the estimate needs the jobs' rates.
    v1::GetSweepRequest get;
    get.set_sweep_id(id);
    get.set_include_jobs(true);
    v1::GetSweepResponse sweep;
    std::optional<double> seconds_left;
    if (client.Call(&v1::SweepService::Stub::GetSweep, get, &sweep).ok()) {
      seconds_left = EstimateSecondsLeft(sweep, std::chrono::system_clock::now());
    } else if (progress.seconds_left_estimate() > 0) {
      seconds_left = progress.seconds_left_estimate();
    }
    std::cout << LocalClock() << "  " << RenderSweepProgressLine(progress.sweep(), seconds_left)
              << "\n"
              << std::flush;
  }
  grpc::Status status = reader->Finish();
  if (CancelOnInterrupt::Interrupted()) return kOk;
  return status.ok() ? kOk : Fail(status);
}

int ShowJob(const Globals& globals, int64_t id) {
  v1::GetJobRequest request;
  request.set_job_id(id);
  return CallAndPrint(globals, &v1::SweepService::Stub::GetJob, request, [](const v1::Job& job) {
    return RenderJob(job, std::chrono::system_clock::now());
  });
}

// Streams the job's log to stdout as raw bytes, flushing per chunk. A
// dropped connection (UNAVAILABLE) is resumed from the next byte, up to 4
// times in a row.
int JobLogs(const Globals& globals, int64_t id, bool follow, int64_t tail) {
  Client client(globals);
  // The log of a job that does not exist reads as empty: ask for the job
  // first, so a wrong id says NOT_FOUND (exit 4).
  v1::GetJobRequest get;
  get.set_job_id(id);
  v1::Job job;
  if (grpc::Status status = client.Call(&v1::SweepService::Stub::GetJob, get, &job); !status.ok()) {
    return Fail(status);
  }
  v1::ReadJobLogRequest request;
  request.set_job_id(id);
  request.set_offset(tail > 0 ? -tail : 0);
  request.set_follow(follow);
  int attempt = 0;
  int failures = 0;
  auto delay = std::chrono::milliseconds(200);
  while (true) {
    grpc::ClientContext context;
    client.Prepare(&context, /*deadline=*/!follow);
    CancelOnInterrupt cancel_on_interrupt(&context);
    auto reader = client.stub().ReadJobLog(&context, request);
    v1::LogChunk chunk;
    bool got_any = false;
    while (reader->Read(&chunk)) {
      got_any = true;
      if (attempt != 0 && chunk.attempt() != attempt) {
        std::cerr << "mixsweep: --- attempt " << chunk.attempt() << " ---\n";
      }
      attempt = chunk.attempt();
      std::fwrite(chunk.data().data(), 1, chunk.data().size(), stdout);
      std::fflush(stdout);
      request.set_offset(chunk.offset() + static_cast<int64_t>(chunk.data().size()));
    }
    grpc::Status status = reader->Finish();
    if (CancelOnInterrupt::Interrupted()) return kOk;
    if (status.ok()) return kOk;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return Fail(status);
    if (got_any) {
      failures = 0;
      delay = std::chrono::milliseconds(200);
    }
    if (++failures >= 4) return Fail(status);
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

int ListWorkers(const Globals& globals, bool all) {
  v1::ListWorkersRequest request;
  request.set_include_gone(all);
  return CallAndPrint(globals, &v1::WorkerService::Stub::ListWorkers, request,
                      [](const v1::ListWorkersResponse& response) {
                        return RenderWorkers(response, std::chrono::system_clock::now());
                      });
}

// The values the options of these commands parse into; they live as long
// as the process.
struct SweepOptions {
  std::string file;
  int64_t id = 0;
  bool validate_only = false;
  std::string owner;
  bool show_runs = false;
  bool show_jobs = false;
  std::string reason;
  bool follow = false;
  int64_t tail = 0;
  bool all_workers = false;
};

}  // namespace

void AddSweepCommands(CLI::App& app, Globals& globals, Action& action) {
  static SweepOptions o;
  CLI::App* sweep = app.add_subcommand("sweep", "submit, extend, list, show, watch, cancel sweeps");
  sweep->require_subcommand(1);

  CLI::App* submit = sweep->add_subcommand("submit", "submit a sweep spec (YAML)");
  submit->add_option("FILE", o.file, "the spec")->required();
  submit->add_flag("--validate-only", o.validate_only, "check and count, store nothing");
  OnRun(submit, globals, action,
        [](const Globals& g) { return SubmitSweep(g, o.file, o.validate_only); });

  CLI::App* extend = sweep->add_subcommand("extend", "add N values, sources or seeds to a sweep");
  extend->add_option("ID", o.id, "sweep id")->required();
  extend->add_option("FILE", o.file, "the extended spec")->required();
  extend->add_flag("--validate-only", o.validate_only, "check and count, store nothing");
  OnRun(extend, globals, action,
        [](const Globals& g) { return ExtendSweep(g, o.id, o.file, o.validate_only); });

  CLI::App* list = sweep->add_subcommand(
      "list",
      "list sweeps, newest first, each with a progress bar: (jobs ended + evaluations "
      "complete) / (jobs + evaluations)");
  list->add_option("--owner", o.owner, "only this owner's");
  OnRun(list, globals, action, [](const Globals& g) { return ListSweeps(g, o.owner); });

  CLI::App* show = sweep->add_subcommand(
      "show",
      "a sweep: its progress, its design (mixture or scaling) and checkpoint aggregation, each "
      "source (collected, or generated with its generate job's success rate, time and measured "
      "cost per demo) and scenario (robot or simulation), the grid of runs by state (rows N_tele, columns the baseline and "
      "each source's N_nt, a character per seed), and per scenario the grid of scores (per "
      "seed the tenths of S, then the seed mean); colours when stdout is a terminal and "
      "NO_COLOR is unset");
  show->add_option("ID", o.id, "sweep id")->required();
  show->add_flag("--runs", o.show_runs, "also the runs as a table (key, jobs)");
  show->add_flag("--jobs", o.show_jobs, "also the runs and the jobs as tables");
  OnRun(show, globals, action,
        [](const Globals& g) { return ShowSweep(g, o.id, o.show_runs, o.show_jobs); });

  CLI::App* watch = sweep->add_subcommand("watch", "follow a sweep's progress until it ends");
  watch->add_option("ID", o.id, "sweep id")->required();
  OnRun(watch, globals, action, [](const Globals& g) { return WatchSweep(g, o.id); });

  CLI::App* cancel = sweep->add_subcommand("cancel", "cancel a sweep");
  cancel->add_option("ID", o.id, "sweep id")->required();
  cancel->add_option("--reason", o.reason, "recorded with the sweep");
  OnRun(cancel, globals, action, [](const Globals& g) { return CancelSweep(g, o.id, o.reason); });

  CLI::App* job = app.add_subcommand("job", "inspect jobs and read their logs");
  job->require_subcommand(1);
  CLI::App* job_show = job->add_subcommand("show", "a job with its provenance");
  job_show->add_option("ID", o.id, "job id")->required();
  OnRun(job_show, globals, action, [](const Globals& g) { return ShowJob(g, o.id); });

  CLI::App* job_logs = job->add_subcommand("logs", "print a job's log (raw bytes)");
  job_logs->add_option("ID", o.id, "job id")->required();
  job_logs->add_flag("-f,--follow", o.follow, "keep printing new output until the job ends");
  job_logs->add_option("--tail", o.tail, "start this many bytes before the end")
      ->check(CLI::NonNegativeNumber);
  OnRun(job_logs, globals, action,
        [](const Globals& g) { return JobLogs(g, o.id, o.follow, o.tail); });

  CLI::App* workers = app.add_subcommand("workers", "list worker agents and their GPUs");
  workers->add_flag("--all", o.all_workers, "include workers that said goodbye");
  OnRun(workers, globals, action, [](const Globals& g) { return ListWorkers(g, o.all_workers); });
}

}  // namespace mixsweep::cli
