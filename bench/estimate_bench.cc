// Estimate freshness load driver: how long after a trial's commit is the
// updated estimate readable, on a sweep of 1,000 runs? (issue 4)
//
// The driver starts a real mixsweepd (bench::Daemon: 127.0.0.1, its own local
// PostgreSQL in a temp dir, PostgreSQL's default settings, fsync on) with
// --estimate-resamples R (2,000 by default, as in production) and:
//
//  1. submits a sweep of 1,000 runs over gRPC (SweepService.SubmitSweep):
//     Pick Dual Bottles' milestones rubric, N_tele 10 values x (the baseline +
//     one simulation source with 9 N_nt values) x 10 seeds, one scenario
//     (in_domain) of 10 trials;
//  2. makes every run's checkpoint ready WITHOUT TRAINING, on purpose: no
//     worker runs a job. It writes straight to the database (pqxx, the local
//     cluster's DSN) what CompleteJob would write for the run's last job:
//     db::sql::kSetRunCheckpoint and db::sql::kQueueEvaluations themselves,
//     with the run's train or finetune job id and a made-up checkpoint path,
//     so each run gets one evaluation request per scenario under a random
//     blind label, exactly as a real completion makes it. Jobs stay queued;
//     dispatch is dispatch_bench's business, not this one's;
//  3. records trials 0..8 of every request through EvaluationService.
//     RecordTrials (one call of 9 trials per request, with an idempotency
//     key), scores drawn from a power law in the effective data
//     (S = alpha * (N_tele + N_nt / eta)^beta, eta = 20), so the fit and the
//     etas are meaningful; then waits until stale_estimates is empty;
//  4. spaced mode: for K requests spread over the curve, records the 10th
//     trial alone and measures the time from the RecordTrials answer (the
//     commit is acknowledged) until a WatchEstimates stream (opened before,
//     skip_initial) delivers an EstimateUpdate that reflects it, then checks
//     with GetEstimates that the stored estimate's last_trial_id covers it.
//     One call at a time: the next is sent once the previous one's update
//     has arrived and the gap has passed;
//  5. burst mode: B single-trial calls back to back; how many
//     recomputations were stored (coalescing), and the time until the last
//     trial is reflected;
//  6. one recomputation, timed on its own: GetEstimates with parameters
//     (computed on request: load the scenario's trials + the bootstrap; not
//     stored), and mixsweepd's CPU per computation.
//
// An update "reflects" trial T when its estimate's last_trial_id >= T (the
// estimate was computed from a trial set that contains T). The driver also
// counts how many of those updates carry trigger_trial_id >= T: in spaced
// mode every one should; in a burst the mark that triggered a pass can be
// older than the trials that pass read (see docs/PERFORMANCE.md).
//
//   build-h5/bench/estimate_bench                       # defaults: R 2000, K 50, B 20
//   build-h5/bench/estimate_bench --estimate-resamples 200 --measured 20
//   build-h5/bench/estimate_bench --daemon-arg=--recompute-interval-seconds --daemon-arg=0.5
//
// Exits non-zero with a message on any RPC error, on an update that did not
// arrive within --update-timeout-seconds, or on a stale GetEstimates.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <pqxx/pqxx>

#include <CLI/CLI.hpp>

#include "bench/bench_daemon.h"
#include "bench/bench_stats.h"
#include "db/dispatch_sql.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/utilization.grpc.pb.h"

#ifndef MIXSWEEPD_BIN
#define MIXSWEEPD_BIN "mixsweepd"
#endif

namespace {

namespace v1 = mixsweep::v1;
using mixsweep::bench::Percentile;
using mixsweep::bench::ProcessCpuSeconds;
using mixsweep::bench::StatusKib;
using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- Flags --------------------------------------------------------------------

struct Flags {
  int resamples = 2000;
  int measured = 50;  // K: spaced single-trial calls
  int burst = 20;     // B: back-to-back single-trial calls
  int seeds = 10;     // 100 runs per seed
  int gap_ms = 200;   // pause after each spaced measurement
  int on_demand = 5;  // timed GetEstimates computed on request
  double update_timeout_seconds = 60;
  double drain_timeout_seconds = 900;
  uint64_t rng_seed = 42;
  std::string mixsweepd = MIXSWEEPD_BIN;
  std::string log_level = "info";
  int db_pool_size = 0;
  bool keep = false;
  bool verbose = false;
  std::vector<std::string> daemon_args;
};

// Flags by CLI11 (`--name value` or `--name=value`); nullopt after --help
// (printed) or a bad flag (explained). `exit_code` says which.
std::optional<Flags> ParseFlags(int argc, char** argv, int* exit_code) {
  Flags f;
  CLI::App app{"estimate_bench: time from a trial's commit to the updated estimate"};
  app.add_option("--estimate-resamples", f.resamples, "bootstrap resamples of mixsweepd")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--measured", f.measured, "K: spaced single-trial calls")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--burst", f.burst, "B: back-to-back single-trial calls")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seeds", f.seeds, "seeds (100 runs each)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--gap-ms", f.gap_ms, "pause after each spaced measurement")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--on-demand", f.on_demand, "timed GetEstimates computed on request")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--rng-seed", f.rng_seed, "seed of the trial draws")->capture_default_str();
  app.add_option("--update-timeout-seconds", f.update_timeout_seconds, "wait for one update")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--drain-timeout-seconds", f.drain_timeout_seconds,
                 "wait for the prefill's estimates")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--mixsweepd", f.mixsweepd, "the mixsweepd binary")->capture_default_str();
  app.add_option("--db-pool-size", f.db_pool_size, "mixsweepd's pool (0: its default)");
  app.add_option("--log-level", f.log_level, "mixsweepd's log level")->capture_default_str();
  app.add_option("--daemon-arg", f.daemon_args, "an extra mixsweepd argument (repeatable)")
      ->allow_extra_args(false);
  app.add_flag("--keep", f.keep, "leave the temp dir");
  app.add_flag("--verbose", f.verbose, "one line per measured call");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  if (f.measured + f.burst > 100 * f.seeds) {
    std::fprintf(stderr, "--measured + --burst must not exceed the %d requests\n", 100 * f.seeds);
    *exit_code = 2;
    return std::nullopt;
  }
  return f;
}

// ---- The sweep and the model ---------------------------------------------------

const std::vector<int64_t> kNTele = {10, 20, 30, 50, 80, 100, 150, 200, 300, 500};
const std::vector<int64_t> kNNt = {0, 100, 200, 300, 500, 1000, 1500, 2000, 3000, 5000};
constexpr char kScenario[] = "in_domain";
constexpr int kTrials = 10;

// The true curve: S = alpha * (N_tele + N_nt / eta)^beta, capped at 0.95;
// S(10) = 0.10, S(500) = 0.80 on teleop data alone.
constexpr double kBeta = 0.5316;
constexpr double kAlpha = 0.0294;
constexpr double kEta = 20;

double TrueS(int64_t n_tele, int64_t n_nt) {
  return std::min(0.95, kAlpha * std::pow(static_cast<double>(n_tele) + n_nt / kEta, kBeta));
}

std::string List(const std::vector<int64_t>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

std::string SpecYaml(int seeds) {
  std::vector<int64_t> seed_list;
  for (int i = 0; i < seeds; ++i) seed_list.push_back(i);
  auto stage = [](const std::string& name) {
    std::string argv = "[\"true\", \"--stage=" + name +
                       "\", \"{dataset}\", \"{subset_manifest}\", \"{steps}\", \"{seed}\", "
                       "\"{output_dir}\"";
    if (name == "finetune") argv += ", \"{init_checkpoint}\"";
    return "  " + name + ":\n    argv: " + argv +
           "]\n    checkpoint: \"{output_dir}/checkpoints/last.ckpt\"\n";
  };
  return "version: 1\n"
         "name: estimate-bench\n"
         "task:\n  name: pick_dual_bottles\n  rubric:\n    milestones:\n"
         "      - {name: first_bottle_grasped, score: 0.5}\n"
         "      - {name: both_bottles_lifted, score: 1.0}\n"
         "policy: diffusion_policy\n"
         "code_version: estimate-bench\n"
         "teleop:\n  dataset:\n    uri: file:///data/bench/teleop\n    episodes: 500\n"
         "  cost_per_demo_hours: 0.02\n"
         "  n_tele: " + List(kNTele) + "\n"
         "sources:\n  - name: sim\n    kind: simulation\n"
         "    dataset:\n      uri: file:///data/bench/sim\n      episodes: 5000\n"
         "    cost_per_demo_hours: 0.000625\n"
         "    n_nt: " + List(kNNt) + "\n"
         "seeds: " + List(seed_list) + "\n"
         "protocol:\n  total_steps: 13000\n  pretrain_steps: 10000\n  finetune_steps: 3000\n"
         "evaluation:\n  trials_per_scenario: " + std::to_string(kTrials) + "\n"
         "  scenarios: [" + kScenario + "]\n"
         "templates:\n" + stage("train") + stage("pretrain") + stage("finetune") +
         "resources:\n  gpus: 1\n";
}

// One trial of a policy whose success rate is p: two independent stages of
// probability p each, score (a + b) / 2 in {0, 0.5, 1}, mean p. Milestones
// name the last stage reached.
v1::TrialInput DrawTrial(int index, double p, std::mt19937_64& rng) {
  std::bernoulli_distribution stage(std::clamp(p, 0.0, 1.0));
  const int reached = static_cast<int>(stage(rng)) + static_cast<int>(stage(rng));
  v1::TrialInput t;
  t.set_trial_index(index);
  if (reached == 1) t.add_achieved("first_bottle_grasped");
  if (reached == 2) t.add_achieved("both_bottles_lifted");
  t.set_success(reached == 2);
  t.mutable_duration()->set_seconds(40);
  t.set_operator_("estimate-bench");
  return t;
}

// ---- /proc and statistics --------------------------------------------------------


// CPU seconds of the postmaster and its children (the backends, the
// checkpointer, autovacuum...); a child that exited in between is left out.
double PostgresCpuSeconds(pid_t postmaster) {
  double sum = std::max(0.0, ProcessCpuSeconds(postmaster));
  std::ifstream children("/proc/" + std::to_string(postmaster) + "/task/" +
                         std::to_string(postmaster) + "/children");
  for (pid_t child; children >> child;) sum += std::max(0.0, ProcessCpuSeconds(child));
  return sum;
}


std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "unknown";
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }


std::string Dist(const std::vector<double>& v) {
  if (v.empty()) return "(none)";
  char buf[200];
  std::snprintf(buf, sizeof buf, "p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  min %.1f ms (n=%zu)",
                Percentile(v, 0.5), Percentile(v, 0.9), Percentile(v, 0.99),
                *std::max_element(v.begin(), v.end()), *std::min_element(v.begin(), v.end()),
                v.size());
  return buf;
}

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(SysClock::now().time_since_epoch())
      .count();
}

// ---- gRPC -----------------------------------------------------------------------

std::unique_ptr<grpc::ClientContext> Context(double seconds = 120) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(SysClock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  return c;
}

void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) {
    throw BenchError(what + ": RPC failed with code " + std::to_string(s.error_code()) + ": " +
                     s.error_message());
  }
}

// One update as the driver saw it.
struct Update {
  Clock::time_point at;  // when Read returned
  int64_t at_us = 0;     // the same, system clock
  int64_t trigger = 0;
  int64_t last_trial_id = 0;
  int64_t version = 0;
  int32_t trial_count = 0;
  int64_t computed_at_us = 0;
  size_t bytes = 0;  // the update's serialized size
};

// A WatchEstimates stream read on its own thread.
class Watcher {
 public:
  Watcher(v1::UtilizationService::Stub* stub, int64_t sweep_id) {
    v1::WatchEstimatesRequest request;
    request.set_sweep_id(sweep_id);
    request.set_skip_initial(true);
    reader_ = stub->WatchEstimates(&context_, request);
    thread_ = std::thread([this] { Run(); });
  }
  ~Watcher() { Stop(); }

  // The first update at index >= *from that satisfies `pred`, waiting until
  // `deadline`; *from is set past it.
  std::optional<Update> WaitFor(const std::function<bool(const Update&)>& pred, size_t* from,
                                Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    while (true) {
      for (size_t i = *from; i < updates_.size(); ++i) {
        if (pred(updates_[i])) {
          *from = i + 1;
          return updates_[i];
        }
      }
      if (ended_) {
        throw BenchError("WatchEstimates: the stream ended early: code " +
                         std::to_string(status_.error_code()) + ": " + status_.error_message());
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        for (size_t i = *from; i < updates_.size(); ++i) {
          if (pred(updates_[i])) {
            *from = i + 1;
            return updates_[i];
          }
        }
        return std::nullopt;
      }
    }
  }

  size_t size() {
    std::lock_guard lock(mu_);
    return updates_.size();
  }
  std::vector<Update> Since(size_t from) {
    std::lock_guard lock(mu_);
    return {updates_.begin() + static_cast<long>(std::min(from, updates_.size())),
            updates_.end()};
  }

  void Stop() {
    if (!thread_.joinable()) return;
    context_.TryCancel();
    thread_.join();
  }

 private:
  void Run() {
    v1::EstimateUpdate update;
    while (reader_->Read(&update)) {
      Update u{.at = Clock::now(),
               .at_us = NowMicros(),
               .trigger = update.trigger_trial_id(),
               .last_trial_id = update.estimate().last_trial_id(),
               .version = update.estimate().version(),
               .trial_count = update.estimate().trial_count(),
               .computed_at_us = Micros(update.estimate().computed_at()),
               .bytes = update.ByteSizeLong()};
      std::lock_guard lock(mu_);
      updates_.push_back(u);
      cv_.notify_all();
    }
    grpc::Status status = reader_->Finish();
    std::lock_guard lock(mu_);
    ended_ = true;
    status_ = status;
    cv_.notify_all();
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::EstimateUpdate>> reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Update> updates_;
  bool ended_ = false;
  grpc::Status status_;
  std::thread thread_;
};

// ---- The run --------------------------------------------------------------------

struct Request {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t n_tele = 0;
  int64_t n_nt = 0;
  int64_t seed = 0;
  double p = 0;  // this run's success rate
};

struct Bench {
  Flags flags;
  std::unique_ptr<mixsweep::bench::Daemon> daemon;
  std::string dsn;
  std::unique_ptr<v1::SweepService::Stub> sweeps;
  std::unique_ptr<v1::EvaluationService::Stub> evaluation;
  std::unique_ptr<v1::UtilizationService::Stub> utilization;
  int64_t sweep_id = 0;
  pid_t postmaster = 0;

  int64_t StaleCount(pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT count(*) FROM stale_estimates")[0].as<int64_t>();
  }

  // Until no estimate is stale (and stays so for `quiet`); seconds waited.
  double WaitDrained(pqxx::connection& conn, std::chrono::milliseconds quiet) {
    const auto t0 = Clock::now();
    const auto deadline =
        t0 + std::chrono::milliseconds(static_cast<int64_t>(flags.drain_timeout_seconds * 1000));
    bool empty = false;
    Clock::time_point empty_since = t0;
    while (true) {
      const auto now = Clock::now();
      if (StaleCount(conn) == 0) {
        if (!empty) empty_since = now;
        empty = true;
        if (now - empty_since >= quiet) {
          return std::chrono::duration<double>(empty_since - t0).count();
        }
      } else {
        empty = false;
      }
      if (now > deadline) {
        throw BenchError("stale_estimates still not empty after " +
                         std::to_string(flags.drain_timeout_seconds) + " s");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  v1::RecordTrialsResponse Record(const Request& r, const std::vector<v1::TrialInput>& trials,
                                  const std::string& key) {
    v1::RecordTrialsRequest request;
    request.set_request_id(r.id);
    for (const auto& t : trials) *request.add_trials() = t;
    request.set_idempotency_key(key);
    v1::RecordTrialsResponse response;
    auto c = Context(60);
    Check(evaluation->RecordTrials(c.get(), request, &response),
          "RecordTrials(request " + std::to_string(r.id) + ")");
    if (response.replayed()) {
      throw BenchError("RecordTrials(request " + std::to_string(r.id) +
                       "): answered as a replay; the database is not fresh");
    }
    if (response.trials_size() != static_cast<int>(trials.size())) {
      throw BenchError("RecordTrials(request " + std::to_string(r.id) + "): " +
                       std::to_string(response.trials_size()) + " trials stored of " +
                       std::to_string(trials.size()));
    }
    return response;
  }

  v1::GetEstimatesResponse Get(const v1::EstimateParameters* params = nullptr) {
    v1::GetEstimatesRequest request;
    request.set_sweep_id(sweep_id);
    request.set_scenario(kScenario);
    if (params) *request.mutable_parameters() = *params;
    v1::GetEstimatesResponse response;
    auto c = Context(300);
    Check(utilization->GetEstimates(c.get(), request, &response), "GetEstimates");
    return response;
  }

  int Run();
};

int Bench::Run() {
  std::printf("estimate_bench: %d runs (N_tele %zu values x (baseline + sim with %zu N_nt) x %d "
              "seeds), 1 scenario of %d trials, --estimate-resamples %d, K=%d spaced, B=%d burst\n",
              100 * flags.seeds, kNTele.size(), kNNt.size() - 1, flags.seeds, kTrials,
              flags.resamples, flags.measured, flags.burst);
  std::printf("machine: %ld CPUs online, %s\n", sysconf(_SC_NPROCESSORS_ONLN), CpuModel().c_str());
  std::fflush(stdout);

  // ---- mixsweepd --------------------------------------------------------------
  mixsweep::bench::DaemonOptions options{.mixsweepd = flags.mixsweepd,
                                         .db_pool_size = flags.db_pool_size,
                                         .log_level = flags.log_level,
                                         .keep = flags.keep,
                                         .daemon_args = {"--estimate-resamples",
                                                         std::to_string(flags.resamples)},
                                         .temp_prefix = "estimate_bench"};
  options.daemon_args.insert(options.daemon_args.end(), flags.daemon_args.begin(),
                             flags.daemon_args.end());
  std::string error;
  daemon = mixsweep::bench::Daemon::Start(options, &error);
  if (!daemon) throw BenchError(error);
  if (!daemon->LocalPostgres(&postmaster, &dsn)) {
    throw BenchError("cannot read the local cluster's postmaster.pid under " + daemon->dir());
  }
  auto channel = daemon->Channel();
  sweeps = v1::SweepService::NewStub(channel);
  evaluation = v1::EvaluationService::NewStub(channel);
  utilization = v1::UtilizationService::NewStub(channel);
  pqxx::connection conn(dsn);

  // ---- 1. The sweep ---------------------------------------------------------------
  {
    v1::SubmitSweepRequest submit;
    submit.set_spec_yaml(SpecYaml(flags.seeds));
    submit.set_idempotency_key("estimate-bench");
    v1::SubmitSweepResponse submitted;
    auto c = Context(300);
    const auto t0 = Clock::now();
    Check(sweeps->SubmitSweep(c.get(), submit, &submitted), "SubmitSweep");
    sweep_id = submitted.sweep().id();
    std::printf("[1] SubmitSweep: sweep %lld, %lld runs, %lld jobs in %.0f ms\n",
                static_cast<long long>(sweep_id), static_cast<long long>(submitted.runs()),
                static_cast<long long>(submitted.jobs()), Ms(Clock::now() - t0));
    if (submitted.runs() != 100 * flags.seeds) {
      throw BenchError("SubmitSweep: expected " + std::to_string(100 * flags.seeds) + " runs, got " +
                       std::to_string(submitted.runs()));
    }
  }

  // ---- 2. Checkpoints ready, without training ----------------------------------------
  // What PgJobStore::Complete writes for a run's last job (train, or the
  // finetune of a mixed run), with the same SQL: the run's checkpoint, then
  // one evaluation request per scenario under a random blind label.
  std::vector<Request> requests;
  {
    const auto t0 = Clock::now();
    pqxx::work tx(conn);
    const pqxx::result jobs = tx.exec_params(
        "SELECT id, coalesce(train_job_id, finetune_job_id) FROM runs WHERE sweep_id = $1 "
        "ORDER BY id",
        sweep_id);
    int64_t queued = 0;
    for (const auto& row : jobs) {
      const int64_t run_id = row[0].as<int64_t>();
      const int64_t job_id = row[1].as<int64_t>();
      const std::string checkpoint =
          "file:///tmp/estimate-bench/runs/" + std::to_string(run_id) + "/checkpoints/last.ckpt";
      tx.exec_params(mixsweep::db::sql::kSetRunCheckpoint, job_id, checkpoint);
      queued += static_cast<int64_t>(
          tx.exec_params(mixsweep::db::sql::kQueueEvaluations, job_id, checkpoint).size());
    }
    const pqxx::result rows = tx.exec_params(
        "SELECT e.id, r.id, r.n_tele, r.n_nt, r.seed FROM evaluation_requests e "
        "JOIN runs r ON r.id = e.run_id WHERE e.sweep_id = $1 AND e.scenario = $2 "
        "ORDER BY r.n_tele, r.n_nt, r.seed",
        sweep_id, std::string(kScenario));
    tx.commit();
    for (const auto& row : rows) {
      requests.push_back({.id = row[0].as<int64_t>(),
                          .run_id = row[1].as<int64_t>(),
                          .n_tele = row[2].as<int64_t>(),
                          .n_nt = row[3].as<int64_t>(),
                          .seed = row[4].as<int64_t>()});
    }
    std::printf("[2] checkpoints of %zu runs made ready in SQL (no training): %lld evaluation "
                "requests queued in %.0f ms\n",
                jobs.size(), static_cast<long long>(queued), Ms(Clock::now() - t0));
    if (static_cast<int64_t>(requests.size()) != 100 * flags.seeds) {
      throw BenchError("expected " + std::to_string(100 * flags.seeds) +
                       " evaluation requests, found " + std::to_string(requests.size()));
    }
  }

  // ---- 3. Nine trials of every request -----------------------------------------------
  std::mt19937_64 rng(flags.rng_seed);
  std::normal_distribution<double> seed_noise(0.0, 0.05);
  {
    // Each run (seed) gets its own success rate around the curve.
    std::vector<Request*> by_id;
    for (Request& r : requests) by_id.push_back(&r);
    std::sort(by_id.begin(), by_id.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (Request* r : by_id) r->p = std::clamp(TrueS(r->n_tele, r->n_nt) + seed_noise(rng), 0.0, 1.0);

    std::vector<double> record_ms;
    const double cpu0 = ProcessCpuSeconds(daemon->pid());
    const double pg_cpu0 = PostgresCpuSeconds(postmaster);
    const auto t0 = Clock::now();
    for (Request* r : by_id) {
      std::vector<v1::TrialInput> trials;
      for (int i = 0; i < kTrials - 1; ++i) trials.push_back(DrawTrial(i, r->p, rng));
      const auto sent = Clock::now();
      Record(*r, trials, "fill-" + std::to_string(r->id));
      record_ms.push_back(Ms(Clock::now() - sent));
    }
    const double fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const double drain_s = WaitDrained(conn, std::chrono::milliseconds(500));
    std::printf("[3] %zu RecordTrials calls of %d trials in %.1f s (%.0f calls/s; latency %s); "
                "estimates caught up %.1f s after the last call; CPU: mixsweepd %.1f s, "
                "PostgreSQL %.1f s\n",
                by_id.size(), kTrials - 1, fill_s, by_id.size() / fill_s, Dist(record_ms).c_str(),
                drain_s, ProcessCpuSeconds(daemon->pid()) - cpu0,
                PostgresCpuSeconds(postmaster) - pg_cpu0);

    const v1::GetEstimatesResponse current = Get();
    if (current.estimates_size() != 1) {
      throw BenchError("GetEstimates: expected 1 estimate (in_domain, sim), got " +
                       std::to_string(current.estimates_size()));
    }
    const v1::Estimate& e = current.estimates(0);
    std::vector<double> etas;
    int defined = 0;
    for (const auto& g : e.global()) {
      if (g.eta().status() == v1::Eta::STATUS_DEFINED) {
        etas.push_back(g.eta().value());
        ++defined;
      }
    }
    std::printf("    estimate v%lld: %d trials, fit alpha %.4f beta %.3f R^2 %.3f (true %.4f, "
                "%.3f); global eta median %.1f over %d defined points (true %.0f below the cap)\n",
                static_cast<long long>(e.version()), e.trial_count(), e.fit().alpha(),
                e.fit().beta(), e.fit().r_squared(), kAlpha, kBeta, Percentile(etas, 0.5),
                defined, kEta);
    std::fflush(stdout);
  }

  // Which requests get their 10th trial: spread over the grid of requests,
  // ordered by (N_tele, N_nt, seed). Pick k takes N_tele index k % 10 and
  // N_nt index (7k + k / 10) % 10, so the first 100 picks are 100 distinct
  // points of the curve, and seed 3k % seeds.
  std::vector<size_t> measured_idx, burst_idx;
  {
    std::set<size_t> used;
    const size_t n = requests.size();
    const size_t seeds = static_cast<size_t>(flags.seeds);
    auto pick = [&](size_t k) {
      size_t i = (k % kNTele.size()) * kNNt.size() * seeds +
                 ((7 * k + k / 10) % kNNt.size()) * seeds + (3 * k) % seeds;
      while (used.count(i % n)) ++i;
      used.insert(i % n);
      return i % n;
    };
    size_t k = 0;
    for (int i = 0; i < flags.measured; ++i) measured_idx.push_back(pick(k++));
    for (int i = 0; i < flags.burst; ++i) burst_idx.push_back(pick(k++));
  }

  // ---- 6 (first). One recomputation on its own ---------------------------------
  std::vector<double> on_demand_ms;
  double cpu_per_computation = NAN;
  if (flags.on_demand > 0) {
    v1::EstimateParameters params;
    params.set_resamples(flags.resamples);
    const double cpu0 = ProcessCpuSeconds(daemon->pid());
    const double pg_cpu0 = PostgresCpuSeconds(postmaster);
    for (int i = 0; i < flags.on_demand; ++i) {
      const auto t0 = Clock::now();
      const auto r = Get(&params);
      on_demand_ms.push_back(Ms(Clock::now() - t0));
      if (r.estimates_size() != 1) throw BenchError("GetEstimates(parameters): no estimate");
    }
    cpu_per_computation = (ProcessCpuSeconds(daemon->pid()) - cpu0) / flags.on_demand;
    std::printf("[6] one computation (GetEstimates with parameters: load + %d-resample "
                "bootstrap, not stored): %s; CPU each: mixsweepd %.0f ms, PostgreSQL %.0f ms\n",
                flags.resamples, Dist(on_demand_ms).c_str(), cpu_per_computation * 1000,
                (PostgresCpuSeconds(postmaster) - pg_cpu0) * 1000 / flags.on_demand);
  }

  // ---- 4. Spaced: one trial at a time ------------------------------------------------
  auto watcher = std::make_unique<Watcher>(utilization.get(), sweep_id);
  // Let the stream subscribe (the server reads the current estimates first).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  if (watcher->size() != 0) {
    throw BenchError("WatchEstimates(skip_initial): an update arrived with nothing to report");
  }
  size_t cursor = 0;
  std::vector<double> latency_ms, record_ms, server_compute_ms, delivery_ms, send_to_update_ms;
  int missed = 0, stale_reads = 0, trigger_matched = 0, extra_updates = 0;
  size_t update_bytes = 0;
  const double spaced_cpu0 = ProcessCpuSeconds(daemon->pid());
  const double spaced_pg_cpu0 = PostgresCpuSeconds(postmaster);
  for (size_t k = 0; k < measured_idx.size(); ++k) {
    const Request& r = requests[measured_idx[k]];
    const auto sent = Clock::now();
    const auto response = Record(r, {DrawTrial(kTrials - 1, r.p, rng)},
                                 "measure-" + std::to_string(r.id));
    const auto acked = Clock::now();
    const int64_t trial_id = response.trials(0).id();
    const int64_t recorded_us = Micros(response.trials(0).recorded_at());
    if (!response.request_complete()) {
      throw BenchError("RecordTrials(request " + std::to_string(r.id) +
                       "): the 10th trial did not complete the request");
    }
    record_ms.push_back(Ms(acked - sent));
    const size_t before = cursor;
    auto u = watcher->WaitFor([&](const Update& x) { return x.last_trial_id >= trial_id; },
                              &cursor,
                              acked + std::chrono::milliseconds(static_cast<int64_t>(
                                          flags.update_timeout_seconds * 1000)));
    if (!u) {
      ++missed;
      std::printf("    MISSED: no update reflecting trial %lld (request %lld) within %.0f s\n",
                  static_cast<long long>(trial_id), static_cast<long long>(r.id),
                  flags.update_timeout_seconds);
      cursor = watcher->size();
    } else {
      extra_updates += static_cast<int>(cursor - before - 1);
      latency_ms.push_back(Ms(u->at - acked));
      send_to_update_ms.push_back(Ms(u->at - sent));
      server_compute_ms.push_back((u->computed_at_us - recorded_us) / 1000.0);
      delivery_ms.push_back((u->at_us - u->computed_at_us) / 1000.0);
      if (u->trigger >= trial_id) ++trigger_matched;
      update_bytes = std::max(update_bytes, u->bytes);
      if (flags.verbose) {
        std::printf("    trial %lld (N_tele %lld, N_nt %lld, seed %lld): record %.1f ms, "
                    "update %.1f ms after the answer (server: trial tx -> save tx %.1f ms, "
                    "save tx -> read %.1f ms; v%lld, trigger %lld, last %lld)\n",
                    static_cast<long long>(trial_id), static_cast<long long>(r.n_tele),
                    static_cast<long long>(r.n_nt), static_cast<long long>(r.seed),
                    Ms(acked - sent), Ms(u->at - acked), server_compute_ms.back(),
                    delivery_ms.back(), static_cast<long long>(u->version),
                    static_cast<long long>(u->trigger), static_cast<long long>(u->last_trial_id));
      }
    }
    const auto stored = Get();
    if (stored.estimates_size() != 1 || stored.estimates(0).last_trial_id() < trial_id) {
      ++stale_reads;
      std::printf("    STALE: GetEstimates after the update has last_trial_id %lld < %lld\n",
                  static_cast<long long>(stored.estimates_size() ? stored.estimates(0).last_trial_id()
                                                                 : 0),
                  static_cast<long long>(trial_id));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.gap_ms));
  }
  const double spaced_cpu = ProcessCpuSeconds(daemon->pid()) - spaced_cpu0;
  const double spaced_pg_cpu = PostgresCpuSeconds(postmaster) - spaced_pg_cpu0;
  std::printf("[4] spaced, %zu single-trial RecordTrials calls, one at a time:\n"
              "    commit acknowledged -> update on the stream: %s\n"
              "    RecordTrials latency:                          %s\n"
              "    request sent -> update on the stream:          %s\n"
              "    server: trial tx start -> estimate save tx start (recorded_at -> computed_at): "
              "%s\n"
              "    server save tx start -> update read by the driver: %s\n"
              "    %d/%zu updates carried trigger_trial_id >= the trial; %d extra updates; %d "
              "missed; %d stale GetEstimates\n"
              "    CPU per call: mixsweepd %.0f ms, PostgreSQL %.0f ms; largest update %.1f kB\n",
              measured_idx.size(), Dist(latency_ms).c_str(), Dist(record_ms).c_str(),
              Dist(send_to_update_ms).c_str(), Dist(server_compute_ms).c_str(),
              Dist(delivery_ms).c_str(), trigger_matched, latency_ms.size(), extra_updates, missed,
              stale_reads, spaced_cpu * 1000 / measured_idx.size(),
              spaced_pg_cpu * 1000 / measured_idx.size(), update_bytes / 1000.0);
  std::fflush(stdout);

  // ---- 5. Burst ----------------------------------------------------------------------
  double burst_reflect_ms = NAN, burst_from_first_ms = NAN, burst_cpu = NAN;
  std::vector<double> burst_record_ms;
  int burst_stored = 0, burst_trigger_last = 0;
  int64_t burst_hidden_hint = 0;
  if (!burst_idx.empty()) {
    WaitDrained(conn, std::chrono::milliseconds(500));
    const size_t start = watcher->size();
    cursor = start;
    const int64_t version0 = Get().estimates(0).version();
    const double cpu0 = ProcessCpuSeconds(daemon->pid());
    const double pg_cpu0 = PostgresCpuSeconds(postmaster);
    const auto first_sent = Clock::now();
    int64_t last_trial = 0;
    Clock::time_point last_acked;
    for (size_t k = 0; k < burst_idx.size(); ++k) {
      const Request& r = requests[burst_idx[k]];
      const auto sent = Clock::now();
      const auto response =
          Record(r, {DrawTrial(kTrials - 1, r.p, rng)}, "burst-" + std::to_string(r.id));
      last_acked = Clock::now();
      burst_record_ms.push_back(Ms(last_acked - sent));
      last_trial = std::max(last_trial, response.trials(0).id());
    }
    auto u = watcher->WaitFor([&](const Update& x) { return x.last_trial_id >= last_trial; },
                              &cursor,
                              last_acked + std::chrono::milliseconds(static_cast<int64_t>(
                                               flags.update_timeout_seconds * 1000)));
    if (!u) {
      ++missed;
      std::printf("    MISSED: no update reflecting the burst's last trial %lld within %.0f s\n",
                  static_cast<long long>(last_trial), flags.update_timeout_seconds);
    } else {
      burst_reflect_ms = Ms(u->at - last_acked);
      burst_from_first_ms = Ms(u->at - first_sent);
    }
    WaitDrained(conn, std::chrono::milliseconds(1000));
    burst_cpu = ProcessCpuSeconds(daemon->pid()) - cpu0;
    const double burst_pg_cpu = PostgresCpuSeconds(postmaster) - pg_cpu0;
    const auto stored = Get();
    if (stored.estimates(0).last_trial_id() < last_trial) ++stale_reads;
    burst_stored = static_cast<int>(stored.estimates(0).version() - version0);
    for (const Update& x : watcher->Since(start)) {
      if (x.trigger >= last_trial) ++burst_trigger_last;
      if (x.trigger < x.last_trial_id) ++burst_hidden_hint;
    }
    std::printf(
        "[5] burst of %zu single-trial calls back to back (%.0f ms from the first send to the "
        "last answer; RecordTrials %s):\n"
        "    last answer -> update reflecting the last trial: %.1f ms (%.1f ms from the first "
        "send)\n"
        "    recomputations stored: %d (versions; %zu updates on the stream) for %zu trials; "
        "%lld of them were computed from trials newer than their trigger; %d carried the last "
        "trial as trigger\n"
        "    CPU: mixsweepd %.0f ms (at most %.1f computations at %.0f ms each, RecordTrials "
        "included), PostgreSQL %.0f ms\n",
        burst_idx.size(), Ms(last_acked - first_sent), Dist(burst_record_ms).c_str(),
        burst_reflect_ms, burst_from_first_ms, burst_stored, watcher->Since(start).size(),
        burst_idx.size(), static_cast<long long>(burst_hidden_hint), burst_trigger_last,
        burst_cpu * 1000, burst_cpu / cpu_per_computation, cpu_per_computation * 1000,
        burst_pg_cpu * 1000);
  }
  watcher->Stop();

  // ---- Summary ---------------------------------------------------------------------
  const long hwm = StatusKib(daemon->pid(), "VmHWM");
  const long rss = StatusKib(daemon->pid(), "VmRSS");
  std::printf("\nmixsweepd peak RSS (VmHWM) %.1f MiB (RSS now %.1f MiB)\n", hwm / 1024.0,
              rss / 1024.0);
  std::printf(
      "\n| K | resamples | commit -> update p50 | p90 | p99 | max | RecordTrials p50 | p99 | one "
      "computation p50 | burst of %d: stored recomputations | burst: last answer -> reflected | "
      "mixsweepd VmHWM |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      flags.burst);
  std::printf("| %zu | %d | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.1f ms | %.1f ms | %.0f ms | "
              "%d | %.0f ms | %.1f MiB |\n",
              latency_ms.size(), flags.resamples, Percentile(latency_ms, 0.5),
              Percentile(latency_ms, 0.9), Percentile(latency_ms, 0.99),
              latency_ms.empty() ? NAN : *std::max_element(latency_ms.begin(), latency_ms.end()),
              Percentile(record_ms, 0.5), Percentile(record_ms, 0.99),
              Percentile(on_demand_ms, 0.5), burst_stored, burst_reflect_ms, hwm / 1024.0);
  std::fflush(stdout);

  const int code = daemon->Stop();
  if (code != 0) std::fprintf(stderr, "note: mixsweepd exited with %d\n", code);
  if (missed > 0 || stale_reads > 0) {
    std::fprintf(stderr, "estimate_bench: %d update(s) missed, %d stale read(s)\n", missed,
                 stale_reads);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Flags> flags = ParseFlags(argc, argv, &exit_code);
  if (!flags) return exit_code;
  if (access(flags->mixsweepd.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "mixsweepd not executable at %s (--mixsweepd PATH)\n",
                 flags->mixsweepd.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  Bench bench{.flags = *flags};
  try {
    return bench.Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "estimate_bench: %s\n", e.what());
    if (bench.daemon) {
      std::fprintf(stderr, "mixsweepd log (%s), last lines:\n%s", bench.daemon->log_path().c_str(),
                   bench.daemon->LogTail().c_str());
    }
    return 1;
  }
}
