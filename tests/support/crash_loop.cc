#include "tests/support/crash_loop.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"
#include "scheduler/evaluation/recomputer.h"
#include "services/api/evaluation_convert.h"
#include "services/channel/channel.h"
#include "tests/support/process.h"
#include "tests/support/results_inputs.h"

namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kApplicationName = "mixsweepd-crash-loop";

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }


std::string Describe(int wait_status) {
  if (wait_status == -1) return "still running";
  if (WIFEXITED(wait_status)) return absl::StrCat("exit code ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return absl::StrCat("signal ", WTERMSIG(wait_status));
  return absl::StrCat("wait status ", wait_status);
}

// The database, on a fresh connection per call (the daemon under test is
// killed; this side never is).
class Db {
 public:
  explicit Db(std::string dsn) : dsn_(std::move(dsn)) {}
  int64_t Int(const std::string& sql) const {
    pqxx::connection conn(dsn_);
    pqxx::nontransaction tx(conn);
    const pqxx::row row = tx.exec1(sql);
    return row[0].is_null() ? 0 : row[0].as<int64_t>();
  }
  pqxx::result Rows(const std::string& sql) const {
    pqxx::connection conn(dsn_);
    pqxx::nontransaction tx(conn);
    return tx.exec(sql);
  }

 private:
  std::string dsn_;
};

// mixsweepd always on one port, so that clients that know one address find
// it again after a restart.
class PinnedDaemon {
 public:
  PinnedDaemon(const CrashLoopOptions& o, std::string dsn)
      : binary_(o.binaries.mixsweepd), dsn_(std::move(dsn)), dir_(o.work_dir),
        port_(FreePort()), args_(o.daemon_args) {
    log_path_ = dir_ + "/mixsweepd.log";
  }

  absl::Status Launch() {
    const std::string port_file = dir_ + "/mixsweepd.port." + std::to_string(++launches_);
    std::vector<std::string> argv = {binary_, "--listen", address(), "--port-file", port_file,
                                     "--database", dsn_};
    argv.insert(argv.end(), args_.begin(), args_.end());
    process_ = Process::Start(argv, log_path_);
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
      int port = 0;
      std::ifstream in(port_file);
      if (in >> port && port == port_) return absl::OkStatus();
      if (!process_.running()) break;
      std::this_thread::sleep_for(20ms);
    }
    return absl::UnavailableError(absl::StrCat("mixsweepd did not come up on ", address(),
                                               "; log tail:\n", FileTail(log_path_)));
  }
  void Kill(int signal) { process_.Kill(signal); }
  int Wait() { return process_.Wait(60s); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_path_; }
  int launches() const { return launches_; }

 private:
  std::string binary_, dsn_, dir_;
  int port_;
  std::vector<std::string> args_;
  std::string log_path_;
  Process process_;
  int launches_ = 0;
};

std::string List(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

std::string SpecYaml(const CrashLoopOptions& o) {
  std::vector<int64_t> n_tele, seeds;
  for (int i = 1; i <= o.n_tele_values; ++i) n_tele.push_back(10 * i);
  for (int i = 0; i < o.seeds; ++i) seeds.push_back(i);
  const int64_t pretrain = o.total_steps * 6 / 10;
  auto stage = [](const std::string& name, bool init) {
    return absl::StrCat("  ", name, ":\n    argv: [python, train.py, \"{dataset}\", ",
                        "\"{subset_manifest}\", \"{steps}\", \"{seed}\", \"{output_dir}\"",
                        init ? ", \"{init_checkpoint}\"" : "", "]\n",
                        "    checkpoint: \"{output_dir}/checkpoints/latest.ckpt\"\n");
  };
  return absl::StrCat(
      "version: 1\n"
      "name: crash-loop\n"
      "task:\n  name: pick_dual_bottles\n  rubric:\n    milestones:\n"
      "      - {name: first_bottle_grasped, score: 0.5}\n"
      "      - {name: both_bottles_lifted, score: 1.0}\n"
      "policy: diffusion_policy\n"
      "code_version: crash-loop\n"
      "teleop:\n  dataset:\n    uri: file:///data/crash/teleop\n    episodes: ",
      std::max<int64_t>(200, n_tele.back()),
      "\n  cost_per_demo_hours: 0.02\n  n_tele: ", List(n_tele),
      "\nsources:\n  - name: sim\n    kind: simulation\n"
      "    dataset:\n      uri: file:///data/crash/sim\n      episodes: 1000\n"
      "    cost_per_demo_hours: 0.000625\n    n_nt: [0, 100]\n"
      "seeds: ", List(seeds),
      "\nprotocol:\n  total_steps: ", o.total_steps, "\n  pretrain_steps: ", pretrain,
      "\n  finetune_steps: ", o.total_steps - pretrain,
      "\nevaluation:\n  trials_per_scenario: ", o.trials_per_scenario,
      "\n  scenarios: [", absl::StrJoin(o.scenarios, ", "), "]\n",
      "templates:\n", stage("train", false), stage("pretrain", false), stage("finetune", true),
      "resources:\n  gpus: 1\n"
      "costs:\n  gpu_hour_price: 2.5\n  collection_hour_price: 40\n  currency: USD\n"
      "max_attempts: 5\n");
}

void Decorate(grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + 120s);
}


// What a kill left in flight.
struct InFlight {
  std::map<int64_t, int64_t> jobs;  // job -> fencing token held
  std::set<int64_t> requests;       // batched to a robot, not complete
};

}  // namespace

absl::Status BootstrapAdminToken(const std::string& mixsweepd, const std::string& dsn,
                                 const std::string& token_file) {
  CommandResult r = RunCommand({mixsweepd, "--database", dsn, "--log-level", "warn", "token",
                                "bootstrap", "--token-file", token_file});
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("mixsweepd token bootstrap: exit ", r.exit_code, ": ", r.out, r.err));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> TokenChannel(const std::string& address,
                                                            const std::string& token_file) {
  client::ConnectionFlags flags;
  flags.server = address;
  flags.token_file = token_file;
  absl::StatusOr<std::string> token = client::LoadToken(token_file);
  if (!token.ok()) return token.status();
  // ListResults of a 10,000-run sweep with its trials is one message of
  // about 22 MB (the server does not page it): no limit on this side.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return client::MakeChannel(flags, *token, args);
}

std::string CompareEstimatesWithScratch(const std::shared_ptr<grpc::Channel>& channel,
                                        int64_t sweep_id, int* compared) {
  *compared = 0;
  auto evaluation = v1::EvaluationService::NewStub(channel);
  auto utilization = v1::UtilizationService::NewStub(channel);
  v1::ListResultsResponse results;
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::ListResultsRequest request;
    request.set_sweep_id(sweep_id);
    request.set_include_trials(true);
    grpc::Status status = evaluation->ListResults(&context, request, &results);
    if (!status.ok()) return "ListResults: " + status.error_message();
  }
  v1::GetEstimatesResponse served;
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::GetEstimatesRequest request;
    request.set_sweep_id(sweep_id);
    grpc::Status status = utilization->GetEstimates(&context, request, &served);
    if (!status.ok()) return "GetEstimates: " + status.error_message();
  }
  if (served.estimates_size() == 0) return "no estimate served";
  std::string out;
  for (const v1::Estimate& estimate : served.estimates()) {
    const utilization::EstimateParams params{.n_t_star = 0,
                                             .resamples = estimate.parameters().resamples(),
                                             .level = estimate.parameters().level()};
    std::vector<evaluation::StoredEstimate> scratch = evaluation::ComputeScenarioEstimates(
        InputsFromResults(results, sweep_id, estimate.scenario()), params);
    const evaluation::StoredEstimate* match = nullptr;
    for (const auto& s : scratch) {
      if (s.estimate.key.source == estimate.source()) match = &s;
    }
    if (match == nullptr) {
      absl::StrAppend(&out, estimate.scenario(), "/", estimate.source(),
                      ": no estimate from scratch\n");
      continue;
    }
    v1::Estimate expected;
    api::ToProto(match->estimate, &expected);
    expected.set_trials_digest(match->trials_digest);
    // Costs come from the jobs when read, not from trials; storage adds its
    // own metadata. Everything computed must be equal to the last bit.
    v1::Estimate actual = estimate;
    actual.clear_source_kind();
    for (auto* curve : {actual.mutable_teleop_curve(), actual.mutable_mixed_curve()}) {
      for (v1::CurvePoint& p : *curve) {
        p.clear_cost_collection_hours(), p.clear_cost_gpu_hours(), p.clear_cost_money();
      }
    }
    for (v1::Estimate* e : {&actual, &expected}) {
      e->clear_computed_at();
      e->clear_version();
      e->clear_task();
      e->clear_parameters();
    }
    std::string differences;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    if (!differ.Compare(expected, actual)) {
      absl::StrAppend(&out, estimate.scenario(), "/", estimate.source(), ":\n", differences);
    }
    ++*compared;
  }
  return out;
}

std::string SweepCounts::Summary() const {
  std::ostringstream s;
  s << "lost: " << jobs_lost << " jobs, " << requests_incomplete << " evaluation requests, "
    << trials_missing << " trials\n"
    << "duplicated: " << jobs_completed_twice << " jobs completed twice (" << extra_success_events
    << " extra job.succeeded events), " << request_count_wrong
    << " (run, scenario) pairs without exactly 1 evaluation request, " << duplicate_trials
    << " current trials sharing a (request, trial index), " << trials_beyond_wanted
    << " trials beyond trials_wanted\n";
  return s.str();
}

std::string CrashLoopFigures::Summary() const {
  std::ostringstream s;
  s << "sizes: " << counts.jobs << " jobs, " << counts.runs << " runs, " << counts.requests
    << " evaluation requests, " << counts.trials << " trials; " << kills
    << " SIGKILLs of mixsweepd at progress";
  for (double p : kill_progress) s << " " << static_cast<int>(p * 1000) / 10.0 << "%";
  s << "\n"
    << counts.Summary() << "recovered: " << recovered_jobs << " of " << jobs_leased_at_a_kill
    << " jobs leased at a kill succeeded (" << recovered_same_lease
    << " under the lease they held, the rest re-leased; " << leased_at_kills
    << " leases in flight summed over kills), " << recovered_requests << " of "
    << batched_at_kills << " requests batched at a kill completed; " << counts.leases_expired
    << " leases expired, " << counts.jobs_retried << " jobs took a second attempt; "
    << completions_retried << " CompleteJob calls retried by workers, " << records_replayed
    << " RecordTrials retries answered as replays (committed, answer lost)\n"
    << "estimates: " << estimates_compared << " served estimates "
    << (estimate_differences.empty() ? "equal to" : "DIFFER from")
    << " a computation from scratch\n"
    << "processes: " << workers_exited << " workers and " << labs_exited
    << " labs exited before the end; sweep " << (sweep_completed ? "completed" : "NOT completed")
    << "\ntimes: " << wall_seconds << " s wall, longest restart " << max_restart_seconds
    << " s (SIGKILL -> serving)\n";
  auto list = [&](const std::vector<double>& v) {
    for (double t : v) {
      if (t < 0) {
        s << " -";
      } else {
        s << " " << static_cast<int>(t * 100) / 100.0;
      }
    }
    s << " s";
  };
  s << "  after each restart, serving -> first write by any client:";
  list(first_write_after_restart_seconds);
  s << "\n  serving -> every worker leased again:";
  list(every_worker_back_seconds);
  s << " (-: not before the next kill or the end of training)\n";
  return s.str();
}

SweepCounts CountSweep(const std::string& dsn, int64_t sweep_id) {
  const Db db(dsn);
  SweepCounts c;
  const std::string sweep = std::to_string(sweep_id);
  c.jobs = db.Int("SELECT count(*) FROM jobs WHERE sweep_id = " + sweep);
  c.runs = db.Int("SELECT count(*) FROM runs WHERE sweep_id = " + sweep);
  c.requests = db.Int("SELECT count(*) FROM evaluation_requests WHERE sweep_id = " + sweep);
  const std::string current_trials =
      "SELECT t.* FROM trials t WHERE t.sweep_id = " + sweep +
      " AND NOT EXISTS (SELECT 1 FROM trials c WHERE c.supersedes_trial_id = t.id)";
  c.trials = db.Int("SELECT count(*) FROM (" + current_trials + ") t");
  c.jobs_lost =
      db.Int("SELECT count(*) FROM jobs WHERE state <> 'succeeded' AND sweep_id = " + sweep);
  c.requests_incomplete = db.Int(
      "SELECT count(*) FROM evaluation_requests WHERE state <> 'complete' AND sweep_id = " +
      sweep);
  // Per request: its current trials against trials_wanted.
  const std::string per_request =
      "SELECT q.trials_wanted AS wanted, (SELECT count(*) FROM (" + current_trials +
      ") t WHERE t.request_id = q.id) AS have FROM evaluation_requests q WHERE q.sweep_id = " +
      sweep;
  c.trials_missing = db.Int("SELECT coalesce(sum(greatest(wanted - have, 0)), 0) FROM (" +
                            per_request + ") x");
  c.trials_beyond_wanted = db.Int("SELECT coalesce(sum(greatest(have - wanted, 0)), 0) FROM (" +
                                  per_request + ") x");
  // Every (run, scenario) wants exactly one request: none is a loss, two a
  // duplicate.
  c.request_count_wrong = db.Int(
      "SELECT count(*) FROM runs r JOIN sweep_scenarios s ON s.sweep_id = r.sweep_id "
      "WHERE r.sweep_id = " + sweep +
      " AND (SELECT count(*) FROM evaluation_requests q WHERE q.run_id = r.id "
      "AND q.scenario = s.name) <> 1");
  c.duplicate_trials = db.Int(
      "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM (" + current_trials +
      ") t GROUP BY request_id, trial_index HAVING count(*) > 1) d");
  const std::string success_events =
      "FROM events e JOIN jobs j ON j.id = e.job_id WHERE e.kind = 'job.succeeded' "
      "AND j.sweep_id = " + sweep;
  c.jobs_completed_twice = db.Int("SELECT count(*) FROM (SELECT e.job_id " + success_events +
                                  " GROUP BY e.job_id HAVING count(*) > 1) d");
  c.extra_success_events = db.Int("SELECT count(*) " + success_events) -
                           db.Int("SELECT count(DISTINCT e.job_id) " + success_events);
  c.leases_expired = db.Int(
      "SELECT count(*) FROM events e JOIN jobs j ON j.id = e.job_id "
      "WHERE e.kind = 'job.lease_expired' AND j.sweep_id = " + sweep);
  c.jobs_retried = db.Int("SELECT count(*) FROM jobs WHERE attempts > 1 AND sweep_id = " + sweep);
  return c;
}

absl::StatusOr<CrashLoopFigures> RunCrashLoop(const CrashLoopOptions& o) {
  const auto started = Clock::now();
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  CrashLoopFigures f;
  const Db db(o.dsn);
  const std::string dsn = o.dsn + " application_name=" + kApplicationName;
  const std::string artifacts = o.work_dir + "/artifacts";
  ::mkdir(artifacts.c_str(), 0755);

  CrashLoopOptions daemon_options = o;
  daemon_options.daemon_args.insert(
      daemon_options.daemon_args.begin(),
      {"--artifact-root", "file://" + artifacts, "--lease-ttl-seconds", "10",
       "--heartbeat-seconds", "2", "--expiry-interval-seconds", "1", "--retry-base-seconds", "0",
       "--estimate-resamples", std::to_string(o.estimate_resamples),
       "--recompute-interval-seconds", "0.5", "--log-level", "info",
       // ListResults answers in one message (22 MB for 10,000 runs with
       // their trials, over the default 16 MiB): see TokenChannel.
       "--max-message-bytes", "268435456"});
  PinnedDaemon daemon(daemon_options, dsn);
  std::string token_file = o.token_file;
  if (token_file.empty()) {
    token_file = o.work_dir + "/admin.token";
    if (absl::Status s = BootstrapAdminToken(o.binaries.mixsweepd, o.dsn, token_file); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = daemon.Launch(); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      TokenChannel(daemon.address(), token_file);
  if (!channel.ok()) return channel.status();

  // The sweep.
  int64_t sweep_id = 0, jobs = 0, runs = 0;
  {
    auto stub = v1::SweepService::NewStub(*channel);
    grpc::ClientContext context;
    Decorate(context);
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(SpecYaml(o));
    request.set_idempotency_key("crash-loop-submit");
    v1::SubmitSweepResponse response;
    grpc::Status status = stub->SubmitSweep(&context, request, &response);
    if (!status.ok()) {
      return absl::InternalError(absl::StrCat("SubmitSweep: ", status.error_message(), "\n",
                                              FileTail(daemon.log_path())));
    }
    sweep_id = response.sweep().id();
    jobs = response.jobs();
    runs = response.runs();
    log(absl::StrCat("submitted sweep ", sweep_id, ": ", runs, " runs, ", jobs, " jobs"));
  }
  const int64_t expected_requests = runs * static_cast<int64_t>(o.scenarios.size());
  const double total_work = static_cast<double>(jobs + expected_requests);

  std::vector<Process> workers;
  std::vector<std::string> worker_logs;
  for (int i = 0; i < o.workers; ++i) {
    const std::string name = "crash-w" + std::to_string(i);
    worker_logs.push_back(o.work_dir + "/" + name + ".log");
    std::vector<std::string> argv = {o.binaries.worker, "--server", daemon.address(), "--name",
                                     name, "--synthetic", "--synthetic-gpus",
                                     std::to_string(o.gpus_per_worker),
                                     "--synthetic-steps-per-second",
                                     std::to_string(o.steps_per_second), "--lease-wait-seconds",
                                     "2", "--token-file", token_file};
    argv.insert(argv.end(), o.worker_args.begin(), o.worker_args.end());
    workers.push_back(Process::Start(argv, worker_logs.back()));
  }
  std::vector<Process> labs;
  std::vector<std::string> lab_logs;
  for (int i = 0; i < o.labs; ++i) {
    lab_logs.push_back(o.work_dir + "/lab" + std::to_string(i) + ".log");
    std::vector<std::string> argv = {o.binaries.lab, "--server", daemon.address(), "--robot",
                                     "crash-robot-" + std::to_string(i), "--truth", o.truth_file,
                                     "--seed", std::to_string(7 + i), "--poll-ms", "100",
                                     "--token-file", token_file};
    argv.insert(argv.end(), o.lab_args.begin(), o.lab_args.end());
    labs.push_back(Process::Start(argv, lab_logs.back()));
  }

  auto progress = [&]() -> double {
    const int64_t done = db.Int(absl::StrCat(
        "SELECT (SELECT count(*) FROM jobs WHERE sweep_id = ", sweep_id,
        " AND state = 'succeeded') + (SELECT count(*) FROM evaluation_requests WHERE sweep_id = ",
        sweep_id, " AND state = 'complete')"));
    return static_cast<double>(done) / total_work;
  };

  // The kill moments, as fractions of the sweep's progress.
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> at(o.first_kill_at, o.last_kill_at);
  std::vector<double> thresholds;
  for (int i = 0; i < o.kills; ++i) thresholds.push_back(at(rng));
  std::sort(thresholds.begin(), thresholds.end());
  std::uniform_int_distribution<int> jitter_ms(0, 250);

  const auto deadline = started + std::chrono::milliseconds(
                                      static_cast<int64_t>(o.timeout_seconds * 1000));
  std::vector<InFlight> at_kills;
  std::vector<std::chrono::system_clock::time_point> kill_times, serving_times;
  auto last_start = Clock::now();
  for (double threshold : thresholds) {
    double p = 0;
    while ((p = progress()) < threshold) {
      if (Clock::now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "progress ", p, " never reached ", threshold, "; daemon log tail:\n",
            FileTail(daemon.log_path()), "worker 0 log tail:\n", FileTail(worker_logs[0]),
            "lab 0 log tail:\n", lab_logs.empty() ? "" : FileTail(lab_logs[0])));
      }
      std::this_thread::sleep_for(50ms);
    }
    const auto min_uptime =
        std::chrono::milliseconds(static_cast<int64_t>(o.min_uptime_seconds * 1000));
    std::this_thread::sleep_until(std::max(Clock::now(), last_start + min_uptime) +
                                  std::chrono::milliseconds(jitter_ms(rng)));
    p = progress();
    const auto down = Clock::now();
    kill_times.push_back(std::chrono::system_clock::now());
    daemon.Kill(SIGKILL);
    daemon.Wait();
    // The dead process's sessions: a COMMIT it sent may still land; wait
    // until PostgreSQL has ended them all, then the database is exactly
    // what the kill left.
    while (db.Int(absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE application_name = '",
                               kApplicationName, "'")) > 0) {
      if (Clock::now() >= deadline) return absl::DeadlineExceededError("sessions linger");
      std::this_thread::sleep_for(10ms);
    }
    InFlight in;
    for (const auto& row : db.Rows(absl::StrCat(
             "SELECT id, fencing_token FROM jobs WHERE state IN ('leased', 'running') "
             "AND sweep_id = ", sweep_id))) {
      in.jobs[row[0].as<int64_t>()] = row[1].as<int64_t>();
    }
    for (const auto& row : db.Rows(absl::StrCat(
             "SELECT id FROM evaluation_requests WHERE state = 'open' AND batch_id IS NOT NULL "
             "AND sweep_id = ", sweep_id))) {
      in.requests.insert(row[0].as<int64_t>());
    }
    f.leased_at_kills += static_cast<int64_t>(in.jobs.size());
    at_kills.push_back(std::move(in));
    f.kill_progress.push_back(p);
    ++f.kills;
    if (absl::Status s = daemon.Launch(); !s.ok()) return s;
    serving_times.push_back(std::chrono::system_clock::now());
    last_start = Clock::now();
    const double restart = Seconds(last_start - down);
    f.max_restart_seconds = std::max(f.max_restart_seconds, restart);
    log(absl::StrCat("kill ", f.kills, " at progress ", p, ": ", at_kills.back().jobs.size(),
                     " jobs leased, ", at_kills.back().requests.size(),
                     " requests batched; serving again after ", restart, " s"));
  }

  // The end: every job ended, every request complete, estimates caught up.
  while (db.Int(absl::StrCat("SELECT count(*) FROM sweeps WHERE id = ", sweep_id,
                             " AND state = 'completed'")) == 0) {
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(100ms);
  }
  f.sweep_completed = db.Int(absl::StrCat("SELECT count(*) FROM sweeps WHERE id = ", sweep_id,
                                          " AND state = 'completed'")) == 1;
  while (f.sweep_completed &&
         db.Int(absl::StrCat("SELECT count(*) FROM stale_estimates WHERE sweep_id = ",
                             sweep_id)) > 0 &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  log(absl::StrCat("sweep ", f.sweep_completed ? "completed" : "NOT completed", " after ",
                   Seconds(Clock::now() - started), " s"));

  // Processes: every one must still be there (each reconnected by itself).
  for (size_t i = 0; i < workers.size(); ++i) {
    if (!workers[i].running()) {
      ++f.workers_exited;
      absl::StrAppend(&f.process_notes, "worker ", i, " exited (", Describe(workers[i].Wait(0ms)),
                      "); log tail:\n", FileTail(worker_logs[i]));
    }
  }
  for (size_t i = 0; i < labs.size(); ++i) {
    if (!labs[i].running()) {
      ++f.labs_exited;
      absl::StrAppend(&f.process_notes, "lab ", i, " exited (", Describe(labs[i].Wait(0ms)),
                      "); log tail:\n", FileTail(lab_logs[i]));
    }
  }
  auto count_lines = [](const std::string& path, const std::string& text) {
    std::ifstream in(path);
    int64_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
    return n;
  };
  for (const std::string& path : worker_logs) {
    f.completions_retried += count_lines(path, "CompleteJob: ");
  }
  for (const std::string& path : lab_logs) {
    f.records_replayed += count_lines(path, "(replayed: stored before)");
  }
  for (Process& w : workers) w.Kill(SIGTERM);
  for (Process& l : labs) l.Kill(SIGTERM);
  for (Process& w : workers) w.Wait(30s);
  for (Process& l : labs) l.Wait(30s);

  // Counts, from PostgreSQL alone.
  f.counts = CountSweep(o.dsn, sweep_id);
  const std::string sweep = std::to_string(sweep_id);
  // How soon the clients came back: the first event after each restart.
  auto micros = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  };
  for (size_t i = 0; i < serving_times.size(); ++i) {
    std::string until = i + 1 < kill_times.size()
                            ? absl::StrCat(" AND at < to_timestamp(", micros(kill_times[i + 1]),
                                           " / 1e6)")
                            : "";
    const int64_t first = db.Int(absl::StrCat(
        "SELECT coalesce((extract(epoch FROM min(at)) * 1e6)::bigint, 0) FROM events "
        "WHERE sweep_id = ", sweep, " AND at > to_timestamp(", micros(serving_times[i]),
        " / 1e6)", until));
    f.first_write_after_restart_seconds.push_back(
        first == 0 ? -1 : (first - micros(serving_times[i])) / 1e6);
    // The slowest worker: its first lease after the restart.
    const pqxx::result back = db.Rows(absl::StrCat(
        "SELECT count(*), coalesce((extract(epoch FROM max(first)) * 1e6)::bigint, 0) FROM ("
        "SELECT (detail->>'worker_id')::bigint AS w, min(at) AS first FROM events "
        "WHERE kind = 'job.leased' AND sweep_id = ", sweep, " AND at > to_timestamp(",
        micros(serving_times[i]), " / 1e6)", until, " GROUP BY 1) x"));
    const bool all = back[0][0].as<int64_t>() == o.workers;
    f.every_worker_back_seconds.push_back(
        all ? (back[0][1].as<int64_t>() - micros(serving_times[i])) / 1e6 : -1);
  }

  std::map<int64_t, std::string> job_state;
  std::map<int64_t, int64_t> job_token;
  for (const auto& row : db.Rows("SELECT id, state, coalesce(fencing_token, 0) FROM jobs "
                                 "WHERE sweep_id = " + sweep)) {
    job_state[row[0].as<int64_t>()] = row[1].as<std::string>();
    job_token[row[0].as<int64_t>()] = row[2].as<int64_t>();
  }
  std::map<int64_t, std::string> request_state;
  for (const auto& row :
       db.Rows("SELECT id, state FROM evaluation_requests WHERE sweep_id = " + sweep)) {
    request_state[row[0].as<int64_t>()] = row[1].as<std::string>();
  }
  std::map<int64_t, int64_t> last_token_at_kill;  // job -> token at its last kill
  std::set<int64_t> batched;
  for (const InFlight& in : at_kills) {
    for (const auto& [job, token] : in.jobs) last_token_at_kill[job] = token;
    batched.insert(in.requests.begin(), in.requests.end());
  }
  f.jobs_leased_at_a_kill = static_cast<int64_t>(last_token_at_kill.size());
  for (const auto& [job, token] : last_token_at_kill) {
    if (job_state[job] != "succeeded") continue;
    ++f.recovered_jobs;
    if (job_token[job] == token) ++f.recovered_same_lease;
  }
  f.batched_at_kills = static_cast<int64_t>(batched.size());
  for (int64_t r : batched) {
    if (request_state[r] == "complete") ++f.recovered_requests;
  }

  if (f.sweep_completed) {
    f.estimate_differences =
        CompareEstimatesWithScratch(*channel, sweep_id, &f.estimates_compared);
  } else {
    f.estimate_differences = "(not compared: the sweep did not complete)";
  }
  daemon.Kill(SIGTERM);
  daemon.Wait();
  f.wall_seconds = Seconds(Clock::now() - started);
  return f;
}

}  // namespace mixsweep::testing
