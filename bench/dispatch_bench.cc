// Dispatch load driver: many synthetic workers against a real mixsweepd over
// real gRPC on 127.0.0.1, each one thread of this process doing what
// mixsweep-worker does with a zero-length job:
//
//   RegisterWorker, then loop { LeaseJob (long poll) -> CompleteJob at once }
//
// For each worker count W (and each repeat) the driver starts a fresh
// mixsweepd (its own local PostgreSQL in a temp dir, PostgreSQL's default
// settings: fsync and synchronous_commit on), registers W workers, lets them
// long-poll, submits one sweep of about --jobs jobs and measures:
//   - jobs/s end to end: from the SubmitSweep call to the last CompleteJob answer;
//   - LeaseJob latency (calls that returned a job and were sent after the
//     submission was acknowledged: the first calls also wait for the sweep);
//   - CompleteJob latency;
//   - mixsweepd's peak RSS (VmHWM) and the CPU seconds spent by mixsweepd,
//     PostgreSQL (postmaster and backends) and this driver during the run;
//   - what PostgreSQL's client backends were doing: pg_stat_activity sampled
//     every --sample-ms (waiting on a lock, on the WAL flush, on mixsweepd...).
// Then it stops mixsweepd with SIGTERM and removes the temp dir.
//
// Issue 8's comparisons (bench/run_comparisons.sh runs them all):
//   --pgbench         after each gRPC run, the pgbench reference
//                     (bench/pgbench/job.sql: one SKIP LOCKED lease and one
//                     completion per job, each committed on its own) with as
//                     many clients as workers, on the very cluster that run
//                     used, and the ratio of the two rates;
//   --after-run CMD   a shell command run after each run against that cluster
//                     (PGHOST, PGPORT, PGUSER, PGDATABASE, MIXSWEEP_BENCH_DSN,
//                     MIXSWEEP_BENCH_WORKERS set): bench/optuna_bench.py;
//   --window N        time per job over each N completions in order (does the
//                     cost per job grow as the sweep does?);
//   --job-seconds S   each job "runs" S seconds between lease and completion;
//                     the run then reports (wall - ideal) / ideal;
//   --prequeue --sweeps K --sample-leases N
//                     K sweeps queued before any worker connects; all W
//                     workers register, then ask at once; the run stops after
//                     N leases past each worker's first one.
//
//   build-bench/bench/dispatch_bench --workers 1,8,32 --jobs 1000 --repeats 3
//   build-bench/bench/dispatch_bench --mix             # train + pretrain + finetune
//   build-bench/bench/dispatch_bench --database "host=/run/pg dbname=ms"  # existing database
//   build-bench/bench/dispatch_bench --workers 8,32 --jobs 10000 --pgbench
//   build-bench/bench/dispatch_bench --workers 200 --jobs 10000 --job-seconds 1
//   build-bench/bench/dispatch_bench --workers 1000 --prequeue --sweeps 10 --jobs 10000
//       --job-seconds 10 --job-jitter 0.5 --sample-leases 10000
//
// The sweep is baseline-only by default (one source with n_nt [0]: train jobs
// only, all ready at once); --mix adds n_nt 100, so half the runs are a
// shared pretrain plus finetunes that wait for it (exercises unblocking and
// the wake-up of waiting LeaseJob calls). Every run is bounded by
// --time-limit-seconds; the driver exits non-zero if a run did not finish.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <pqxx/pqxx>

#include <CLI/CLI.hpp>

#include "services/channel/channel.h"
#include "bench/bench_daemon.h"
#include "bench/bench_stats.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"

#ifndef MIXSWEEPD_BIN
#define MIXSWEEPD_BIN "mixsweepd"
#endif
#ifndef MIXSWEEP_SOURCE_DIR
#define MIXSWEEP_SOURCE_DIR "."
#endif

namespace {

namespace v1 = mixsweep::v1;
using mixsweep::bench::Percentile;
using mixsweep::bench::ProcessCpuSeconds;
using mixsweep::bench::StatusKib;
using Clock = std::chrono::steady_clock;

// ---- Flags --------------------------------------------------------------------

struct Flags {
  std::vector<int> workers = {1, 8, 32};
  int jobs = 1000;
  int repeats = 1;
  bool mix = false;
  std::string database;  // empty: mixsweepd's own local cluster
  std::string mixsweepd = MIXSWEEPD_BIN;
  int db_pool_size = 0;  // 0: mixsweepd's default
  std::string log_level = "info";
  double lease_wait_seconds = 1;
  double time_limit_seconds = 120;
  int sample_ms = 20;  // 0: no pg_stat_activity sampling
  bool keep = false;
  std::vector<std::string> daemon_args;
  std::string spec_file;  // submit this spec instead of the generated one
  // Issue 8's comparisons.
  double rate_limit_per_second = 0;  // mixsweepd's per-token limit; 0: off (all workers share one token)
  long long max_runs_per_sweep = 0;  // 0: mixsweepd's default
  int window = 0;                    // 0: no per-window report
  double job_seconds = 0;            // time between lease and completion
  double job_jitter = 0;             // each job lasts job_seconds * U(1 - j, 1 + j)
  int sweeps = 1;                    // sweeps of --jobs jobs each
  bool prequeue = false;             // submit before the workers connect
  int64_t sample_leases = 0;         // stop after this many leases past each worker's first
  bool pgbench = false;
  int64_t pgbench_jobs = 0;  // 0: --jobs
  std::string pgbench_bin = "/usr/bin/pgbench";
  std::string pgbench_dir = MIXSWEEP_SOURCE_DIR "/bench/pgbench";
  std::string after_run;
};

// Flags by CLI11 (`--name value` or `--name=value`); nullopt after --help
// (printed) or a bad flag (explained). `exit_code` says which.
std::optional<Flags> ParseFlags(int argc, char** argv, int* exit_code) {
  Flags f;
  CLI::App app{"dispatch_bench: synthetic workers lease and complete jobs against a real mixsweepd"};
  app.add_option("--workers", f.workers, "worker counts to run, e.g. 1,8,32")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--jobs", f.jobs, "jobs per run")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--repeats", f.repeats, "runs per worker count")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--mix", f.mix, "pretrain/finetune pairs as well as train jobs");
  app.add_option("--database", f.database, "an existing database (default: mixsweepd's own)");
  app.add_option("--mixsweepd", f.mixsweepd, "the mixsweepd binary")->capture_default_str();
  app.add_option("--db-pool-size", f.db_pool_size, "mixsweepd's pool (0: its default)");
  app.add_option("--log-level", f.log_level, "mixsweepd's log level")->capture_default_str();
  app.add_option("--lease-wait-seconds", f.lease_wait_seconds, "long-poll wait of LeaseJob")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--time-limit-seconds", f.time_limit_seconds, "limit of one run")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--sample-ms", f.sample_ms, "pg_stat_activity sampling period (0: off)")
      ->capture_default_str();
  app.add_option("--daemon-arg", f.daemon_args, "an extra mixsweepd argument (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--spec-file", f.spec_file, "submit this spec instead of the generated sweep");
  app.add_flag("--keep", f.keep, "leave the temp dir");
  app.add_option("--rate-limit-per-second", f.rate_limit_per_second,
                 "mixsweepd's per-token request limit (0: off; every synthetic worker uses the "
                 "same admin token)")
      ->capture_default_str();
  app.add_option("--max-runs-per-sweep", f.max_runs_per_sweep,
                 "mixsweepd's largest sweep in runs (0: its default, 10,000)");
  app.add_option("--window", f.window, "report time per job over each N completions (0: off)");
  app.add_option("--job-seconds", f.job_seconds, "seconds each job runs (0: completed at once)")
      ->capture_default_str();
  app.add_option("--job-jitter", f.job_jitter,
                 "jobs last job-seconds * U(1-j, 1+j), j in [0, 1)")
      ->check(CLI::Range(0.0, 0.99));
  app.add_option("--sweeps", f.sweeps, "sweeps of --jobs jobs each")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--prequeue", f.prequeue,
               "submit the sweeps first, then register the workers and let them ask at once");
  app.add_option("--sample-leases", f.sample_leases,
                 "stop after this many leases past each worker's first (0: run every job)");
  app.add_flag("--pgbench", f.pgbench,
               "after each run, the pgbench reference on the same cluster with -c W");
  app.add_option("--pgbench-jobs", f.pgbench_jobs, "jobs of the pgbench reference (0: --jobs)");
  app.add_option("--pgbench-bin", f.pgbench_bin, "pgbench")->capture_default_str();
  app.add_option("--pgbench-dir", f.pgbench_dir, "setup.sql and job.sql")->capture_default_str();
  app.add_option("--after-run", f.after_run,
                 "shell command run after each run, with PGHOST/PGPORT/PGUSER/PGDATABASE, "
                 "MIXSWEEP_BENCH_DSN and MIXSWEEP_BENCH_WORKERS set to that run's cluster");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  return f;
}

// ---- The sweep --------------------------------------------------------------

std::string Range(int64_t first, int64_t count) {
  std::string out = "[";
  for (int64_t i = 0; i < count; ++i) out += (i ? ", " : "") + std::to_string(first + i);
  return out + "]";
}

// A spec of about `jobs` jobs. Baseline-only: |n_tele| x |seeds| train jobs.
// Mixed (n_nt [0, 100]): per seed, |n_tele| train + 1 shared pretrain +
// |n_tele| finetunes.
std::string SpecYaml(int jobs, bool mix, int64_t* expected_jobs) {
  const int64_t n_tele = std::min<int64_t>(50, mix ? std::max(1, jobs / 2) : jobs);
  const int64_t per_seed = mix ? 2 * n_tele + 1 : n_tele;
  const int64_t seeds = std::max<int64_t>(1, (jobs + per_seed - 1) / per_seed);
  *expected_jobs = per_seed * seeds;
  auto stage = [](const std::string& name, bool init) {
    std::string s = "  " + name +
                    ":\n    argv: [\"true\", \"{dataset}\", \"{subset_manifest}\", \"{steps}\", "
                    "\"{seed}\", \"{output_dir}\"" +
                    (init ? std::string(", \"{init_checkpoint}\"") : "") +
                    "]\n    checkpoint: \"{output_dir}/checkpoints/last.ckpt\"\n";
    return s;
  };
  std::string yaml =
      "version: 1\n"
      "name: dispatch-bench\n"
      "task:\n  name: bench_task\n  rubric:\n    milestones:\n"
      "      - {name: done, score: 1.0}\n"
      "policy: bench_policy\n"
      "code_version: bench\n"
      "teleop:\n  dataset:\n    uri: file:///data/bench/teleop\n    episodes: 1000\n"
      "  n_tele: " + Range(1, n_tele) + "\n"
      "sources:\n  - name: sim\n    kind: simulation\n"
      "    dataset:\n      uri: file:///data/bench/sim\n      episodes: 1000\n"
      "    n_nt: " + std::string(mix ? "[0, 100]" : "[0]") + "\n"
      "seeds: " + Range(0, seeds) + "\n"
      "protocol:\n  total_steps: 1000\n" +
      std::string(mix ? "  pretrain_steps: 800\n  finetune_steps: 200\n" : "") +
      "evaluation:\n  scenarios: [in_domain]\n"
      "templates:\n" + stage("train", false) +
      (mix ? stage("pretrain", false) + stage("finetune", true) : std::string()) +
      "resources:\n  gpus: 1\n";
  return yaml;
}

// ---- /proc ------------------------------------------------------------------

// utime + stime of a process, in seconds; -1 if it is gone.

pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(line.substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  fields >> state >> ppid;
  return ppid;
}

// CPU seconds of `root` and every live process below it, by pid (so a
// process that exits between two snapshots is simply left out).
std::map<pid_t, double> TreeCpu(pid_t root) {
  std::map<pid_t, pid_t> parent;
  if (DIR* dir = opendir("/proc")) {
    while (dirent* e = readdir(dir)) {
      char* end = nullptr;
      const long pid = std::strtol(e->d_name, &end, 10);
      if (end == e->d_name || *end != '\0') continue;
      parent[static_cast<pid_t>(pid)] = ParentOf(static_cast<pid_t>(pid));
    }
    closedir(dir);
  }
  std::map<pid_t, double> cpu;
  for (const auto& [pid, ppid] : parent) {
    pid_t p = pid;
    for (int depth = 0; depth < 4 && p > 1; ++depth, p = parent.count(p) ? parent[p] : -1) {
      if (p == root) {
        if (double c = ProcessCpuSeconds(pid); c >= 0) cpu[pid] = c;
        break;
      }
    }
  }
  return cpu;
}

double TreeCpuDelta(const std::map<pid_t, double>& before, const std::map<pid_t, double>& after) {
  double sum = 0;
  for (const auto& [pid, c] : after) {
    auto it = before.find(pid);
    sum += c - (it == before.end() ? 0 : it->second);
  }
  return sum;
}

// CPU of a process tree between two points, backends that ended in between
// included: live processes by pid, plus what the root reaped meanwhile
// (its children's time), less what the reaped ones had used before.
struct TreeSnapshot {
  std::map<pid_t, double> live;
  double reaped = 0;
};
TreeSnapshot SnapshotTree(pid_t root) {
  return {TreeCpu(root), std::max(0.0, mixsweep::bench::ChildrenCpuSeconds(root))};
}
double TreeSnapshotDelta(const TreeSnapshot& before, const TreeSnapshot& after) {
  double sum = TreeCpuDelta(before.live, after.live) + (after.reaped - before.reaped);
  for (const auto& [pid, c] : before.live) {
    if (!after.live.count(pid)) sum -= c;
  }
  return sum;
}


double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// ---- mixsweepd ----------------------------------------------------------------

using mixsweep::bench::Daemon;

mixsweep::bench::DaemonOptions DaemonOptionsOf(const Flags& flags) {
  std::vector<std::string> args = {"--rate-limit-per-second=" +
                                   std::to_string(flags.rate_limit_per_second)};
  if (flags.max_runs_per_sweep > 0) {
    args.push_back("--max-runs-per-sweep=" + std::to_string(flags.max_runs_per_sweep));
  }
  args.insert(args.end(), flags.daemon_args.begin(), flags.daemon_args.end());
  return {.mixsweepd = flags.mixsweepd,
          .database = flags.database,
          .db_pool_size = flags.db_pool_size,
          .log_level = flags.log_level,
          .keep = flags.keep,
          .daemon_args = args,
          .temp_prefix = "dispatch_bench"};
}

// ---- pg_stat_activity sampler -----------------------------------------------

// Counts what the database's client backends are doing, every `period`.
class WaitSampler {
 public:
  WaitSampler(std::string dsn, std::chrono::milliseconds period)
      : thread_([this, dsn = std::move(dsn), period] { Run(dsn, period); }) {}
  ~WaitSampler() { Finish(); }

  void Finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::map<std::string, int64_t>& counts() const { return counts_; }
  int64_t samples() const { return samples_; }
  const std::string& error() const { return error_; }

 private:
  void Run(const std::string& dsn, std::chrono::milliseconds period) {
    try {
      pqxx::connection conn(dsn);
      while (!stop_) {
        pqxx::nontransaction tx(conn);
        const pqxx::result rows = tx.exec(
            "SELECT CASE WHEN state = 'active' THEN 'active: ' || "
            "  coalesce(wait_event_type || ':' || wait_event, 'on CPU') "
            "  ELSE state || coalesce(' (' || wait_event || ')', '') END, count(*) "
            "FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "  AND datname = current_database() AND state <> 'idle' GROUP BY 1");
        for (const auto& row : rows) counts_[row[0].as<std::string>()] += row[1].as<int64_t>();
        ++samples_;
        std::this_thread::sleep_for(period);
      }
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }

  std::atomic<bool> stop_{false};
  std::map<std::string, int64_t> counts_;
  int64_t samples_ = 0;
  std::string error_;
  std::thread thread_;  // last: starts after the members it uses
};

// WAL position and transaction counters of the database, to turn into
// per-job figures. pg_stat_database lags by up to a second (backends flush
// their counters when idle), so the after-snapshot waits for that.
struct DbCounters {
  bool ok = false;
  std::string lsn;
  int64_t commits = 0, rollbacks = 0;
  double wal_bytes_since = 0;
};

DbCounters ReadDbCounters(const std::string& dsn, const std::string& since_lsn = "") {
  DbCounters c;
  try {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    const pqxx::row r = tx.exec1(
        "SELECT pg_current_wal_lsn()::text, xact_commit, xact_rollback FROM pg_stat_database "
        "WHERE datname = current_database()");
    c.lsn = r[0].as<std::string>();
    c.commits = r[1].as<int64_t>();
    c.rollbacks = r[2].as<int64_t>();
    if (!since_lsn.empty()) {
      c.wal_bytes_since =
          tx.exec_params1("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)", c.lsn, since_lsn)[0]
              .as<double>();
    }
    c.ok = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "database counters: %s\n", e.what());
  }
  return c;
}

// ---- Workers -----------------------------------------------------------------

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct WorkerStats {
  std::vector<double> lease_ms;     // LeaseJob calls that returned a job, sent after submit
  std::vector<Clock::time_point> lease_at;  // ... when each was answered
  std::vector<double> first_lease_ms;  // --prequeue: each worker's first granted lease
  int64_t early_leases = 0;         // ... sent before the submission was acknowledged
  std::vector<double> complete_ms;  // CompleteJob calls
  int64_t empty_leases = 0;         // LeaseJob calls that came back without a job
  int64_t errors = 0;
  std::string first_error;
};

// Completions are counted per sweep: a fast worker can complete jobs of the
// new sweep before the SubmitSweep answer (and so the sweep's id) reaches
// the driver, and with --database older, unfinished sweeps may be served too.
class Shared {
 public:
  std::atomic<bool> stop{false};
  std::atomic<int64_t> submitted_ns{0};  // steady clock of the submit acknowledgement; 0 before
  std::atomic<bool> go{false};           // --prequeue: released once every worker registered
  std::atomic<int> registered{0};
  std::atomic<int64_t> sampled_leases{0};

  void Completed(int64_t sweep_id, Clock::time_point at) {
    std::lock_guard lock(mu_);
    Progress& p = by_sweep_[sweep_id];
    ++p.count;
    p.last = std::max(p.last, at);
    completions_.push_back({sweep_id, at});
    CheckDone();
  }
  // Once a submission is answered.
  void AddTarget(int64_t sweep_id, int64_t jobs) {
    std::lock_guard lock(mu_);
    targets_.push_back(sweep_id);
    total_ += jobs;
  }
  // Once every submission is answered.
  void TargetsComplete() {
    std::lock_guard lock(mu_);
    all_targets_ = true;
    CheckDone();
  }
  int64_t completed() {
    std::lock_guard lock(mu_);
    int64_t n = 0;
    for (int64_t id : targets_) n += by_sweep_[id].count;
    return n;
  }
  Clock::time_point last_completion() {
    std::lock_guard lock(mu_);
    Clock::time_point last{};
    for (int64_t id : targets_) last = std::max(last, by_sweep_[id].last);
    return last;
  }
  // Completion times of the target sweeps' jobs, in order.
  std::vector<Clock::time_point> completion_times() {
    std::lock_guard lock(mu_);
    std::vector<Clock::time_point> out;
    for (const auto& [id, at] : completions_) {
      if (std::find(targets_.begin(), targets_.end(), id) != targets_.end()) out.push_back(at);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct Progress {
    int64_t count = 0;
    Clock::time_point last{};
  };
  void CheckDone() {
    if (!all_targets_) return;
    int64_t n = 0;
    for (int64_t id : targets_) n += by_sweep_[id].count;
    if (n >= total_) stop = true;
  }
  std::mutex mu_;
  std::map<int64_t, Progress> by_sweep_;
  std::vector<std::pair<int64_t, Clock::time_point>> completions_;
  std::vector<int64_t> targets_;
  int64_t total_ = 0;
  bool all_targets_ = false;
};

std::unique_ptr<v1::WorkerService::Stub> NewWorkerStub(const Daemon& daemon) {
  grpc::ChannelArguments args;
  // One TCP connection per worker, as separate worker processes would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  mixsweep::client::ConnectionFlags flags;
  flags.server = daemon.address();
  auto token = mixsweep::client::LoadToken(daemon.token_file());
  auto channel = mixsweep::client::MakeChannel(flags, token.value_or(""), args);
  return v1::WorkerService::NewStub(*channel);
}

// RegisterWorker with one synthetic GPU (index 0): the bench's jobs need 1.
grpc::Status Register(v1::WorkerService::Stub* stub, int i, int64_t* worker_id) {
  v1::RegisterWorkerRequest request;
  request.set_name("bench-" + std::to_string(i));
  request.set_host("127.0.0.1");
  request.set_version("dispatch_bench");
  request.set_synthetic(true);
  request.set_idempotency_key("bench-register-" + std::to_string(i));
  v1::Gpu* gpu = request.add_gpus();
  gpu->set_index(0);
  gpu->set_name("synthetic");
  gpu->set_memory_total_mib(81559);
  gpu->set_uuid("GPU-bench-" + std::to_string(i));
  v1::RegisterWorkerResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  grpc::Status s = stub->RegisterWorker(&context, request, &response);
  *worker_id = response.worker_id();
  return s;
}

// Sleeps `seconds` unless the run stops first.
void RunJob(double seconds, const Shared& shared) {
  const auto until = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  while (!shared.stop) {
    const auto now = Clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, std::chrono::milliseconds(100)));
  }
}

void RunWorker(v1::WorkerService::Stub* stub, int index, int64_t worker_id, const Flags& flags,
               Shared* shared, Clock::time_point deadline, WorkerStats* stats) {
  if (flags.prequeue) {
    // Register here, all workers at once, then wait for the go.
    grpc::Status s = Register(stub, index, &worker_id);
    if (!s.ok()) {
      ++stats->errors;
      stats->first_error = "RegisterWorker: " + std::to_string(s.error_code()) + " " + s.error_message();
      ++shared->registered;
      return;
    }
    ++shared->registered;
    while (!shared->go && !shared->stop) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::mt19937_64 rng(static_cast<uint64_t>(worker_id) * 7919 + 1);
  std::uniform_real_distribution<double> jitter(1 - flags.job_jitter, 1 + flags.job_jitter);
  int64_t seq = 0;
  bool first = true;
  auto note_error = [&](const char* what, const grpc::Status& s) {
    ++stats->errors;
    if (stats->first_error.empty()) {
      stats->first_error = std::string(what) + ": " + std::to_string(s.error_code()) + " " +
                           s.error_message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  while (!shared->stop && Clock::now() < deadline) {
    v1::LeaseJobRequest request;
    request.set_worker_id(worker_id);
    request.add_free_gpu_indices(0);
    const double wait = flags.lease_wait_seconds;
    request.mutable_wait()->set_seconds(static_cast<int64_t>(wait));
    request.mutable_wait()->set_nanos(static_cast<int32_t>((wait - std::floor(wait)) * 1e9));
    request.set_idempotency_key("w" + std::to_string(worker_id) + "-" + std::to_string(++seq));
    v1::LeaseJobResponse response;
    grpc::ClientContext lease_context;
    lease_context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(static_cast<int64_t>(wait * 1000) + 30000));
    const auto sent = Clock::now();
    const bool after_submit = shared->submitted_ns.load() != 0;
    grpc::Status status = stub->LeaseJob(&lease_context, request, &response);
    const auto answered = Clock::now();
    if (!status.ok()) {
      note_error("LeaseJob", status);
      continue;
    }
    if (!response.has_lease() || response.lease().job_id() == 0) {
      ++stats->empty_leases;
      continue;
    }
    if (flags.prequeue && first) {
      stats->first_lease_ms.push_back(Ms(answered - sent));
    } else if (after_submit) {
      stats->lease_ms.push_back(Ms(answered - sent));
      stats->lease_at.push_back(answered);
      if (flags.sample_leases > 0 && ++shared->sampled_leases >= flags.sample_leases) {
        shared->stop = true;
      }
    } else {
      ++stats->early_leases;
    }
    first = false;

    if (flags.job_seconds > 0) {
      RunJob(flags.job_seconds * (flags.job_jitter > 0 ? jitter(rng) : 1.0), *shared);
      if (shared->stop) break;  // a sampled run stops with jobs still leased
    }

    v1::CompleteJobRequest complete;
    *complete.mutable_lease() = response.lease();
    complete.set_checkpoint_uri(response.spec().output_uri() + "/checkpoints/last.ckpt");
    complete.set_gpu_seconds(flags.job_seconds);
    v1::CompleteJobResponse done;
    grpc::ClientContext complete_context;
    complete_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const auto complete_sent = Clock::now();
    status = stub->CompleteJob(&complete_context, complete, &done);
    const auto complete_answered = Clock::now();
    if (!status.ok()) {
      // Left leased: the run will not finish, and says so.
      note_error("CompleteJob", status);
      continue;
    }
    stats->complete_ms.push_back(Ms(complete_answered - complete_sent));
    shared->Completed(response.spec().job().sweep_id(), complete_answered);
  }
}

// ---- mixsweepd's threads, memory and descriptors while a run goes ------------

int CountFds(pid_t pid) {
  int n = 0;
  if (DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
    closedir(dir);
  }
  return n;
}

class DaemonMonitor {
 public:
  explicit DaemonMonitor(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            max_threads_ = std::max(max_threads_.load(), StatusKib(pid, "Threads"));
            max_rss_kib_ = std::max(max_rss_kib_.load(), StatusKib(pid, "VmRSS"));
            max_fds_ = std::max(max_fds_.load(), CountFds(pid));
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
          }
        }) {}
  ~DaemonMonitor() { Finish(); }
  void Finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long max_threads() const { return max_threads_; }
  long max_rss_kib() const { return max_rss_kib_; }
  int max_fds() const { return max_fds_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> max_threads_{0}, max_rss_kib_{0};
  std::atomic<int> max_fds_{0};
  std::thread thread_;
};

// ---- The pgbench reference ------------------------------------------------------

struct PgbenchResult {
  bool ok = false;
  std::string error;
  int64_t jobs = 0;             // rows done
  double seconds = 0;           // pgbench's wall, connections included
  double jobs_per_s = 0;        // jobs / seconds
  double tps = 0;               // pgbench's "tps = ... (without initial connection time)"
  double latency_ms = NAN;      // pgbench's average latency of one job (lease + completion)
  double cpu_pg = -1, cpu_pgbench = -1;
  std::map<std::string, int64_t> waits;
  int64_t wait_samples = 0;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `args` with stdout and stderr into `out`; its exit status, and its
// CPU seconds (user + system, from wait4).
int RunCapture(std::vector<std::string> args, std::string* out, double* cpu_seconds) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  ::close(pipefd[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) out->append(buf, n);
  ::close(pipefd[0]);
  int status = 0;
  rusage usage{};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid) return -1;
  *cpu_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                 usage.ru_stime.tv_usec / 1e6;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double NumberAfter(const std::string& text, const std::string& key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return NAN;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

// The reference on the cluster of `dsn` (host=SOCKDIR port=P user=U dbname=D):
// setup.sql, `jobs` pending rows, VACUUM ANALYZE, then pgbench -c clients.
PgbenchResult RunPgbench(const Flags& flags, const std::string& dsn, pid_t postmaster,
                         int clients, int64_t jobs) {
  PgbenchResult r;
  const int64_t per_client = (jobs + clients - 1) / clients;
  const int64_t total = per_client * clients;
  std::map<std::string, std::string> conn;
  {
    std::istringstream words(dsn);
    for (std::string w; words >> w;) {
      const auto eq = w.find('=');
      if (eq != std::string::npos) conn[w.substr(0, eq)] = w.substr(eq + 1);
    }
  }
  try {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    tx.exec(ReadFile(flags.pgbench_dir + "/setup.sql"));
    tx.exec_params("INSERT INTO pgbench_jobs (state) SELECT 'pending' FROM generate_series(1, $1)",
                   total);
    tx.exec("VACUUM ANALYZE pgbench_jobs");
    tx.exec("CHECKPOINT");
  } catch (const std::exception& e) {
    r.error = std::string("pgbench setup: ") + e.what();
    return r;
  }
  std::unique_ptr<WaitSampler> sampler;
  if (flags.sample_ms > 0) {
    sampler = std::make_unique<WaitSampler>(dsn, std::chrono::milliseconds(flags.sample_ms));
  }
  const TreeSnapshot pg_cpu0 = SnapshotTree(postmaster);
  std::string out;
  const auto t0 = Clock::now();
  const int code = RunCapture({flags.pgbench_bin, "-n", "-h", conn["host"], "-p", conn["port"],
                               "-U", conn["user"], "-c", std::to_string(clients), "-j",
                               std::to_string(std::min(clients, 2)), "-t",
                               std::to_string(per_client), "-f", flags.pgbench_dir + "/job.sql",
                               conn["dbname"]},
                              &out, &r.cpu_pgbench);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.cpu_pg = TreeSnapshotDelta(pg_cpu0, SnapshotTree(postmaster));
  if (sampler) {
    sampler->Finish();
    r.waits = sampler->counts();
    r.wait_samples = sampler->samples();
  }
  if (code != 0) {
    r.error = "pgbench exited with " + std::to_string(code) + ":\n" + out;
    return r;
  }
  try {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    r.jobs = tx.exec1("SELECT count(*) FROM pgbench_jobs WHERE state = 'done'")[0].as<int64_t>();
    tx.exec("DROP TABLE pgbench_jobs");
  } catch (const std::exception& e) {
    r.error = std::string("pgbench check: ") + e.what();
    return r;
  }
  r.tps = NumberAfter(out, "tps = ");
  r.latency_ms = NumberAfter(out, "latency average = ");
  r.jobs_per_s = r.jobs / r.seconds;
  r.ok = r.jobs == total;
  if (!r.ok) r.error = "pgbench: " + std::to_string(r.jobs) + " of " + std::to_string(total) + " done\n" + out;
  return r;
}

// ---- One run -------------------------------------------------------------------

struct RunResult {
  int workers = 0;
  bool finished = false;
  int64_t jobs = 0;
  int64_t completed = 0;
  double submit_ms = 0;
  double seconds = 0;  // submit sent (--prequeue: workers released) -> last completion answered
  double seconds_after_submit = 0;  // submission acknowledged -> last completion answered
  double jobs_per_s = 0;
  double ideal_seconds = 0, overhead = NAN, overhead_after_submit = NAN;  // --job-seconds
  double lease_p50 = NAN, lease_p99 = NAN, lease_max = NAN;
  int64_t lease_count = 0;
  double first_p50 = NAN, first_p99 = NAN, first_max = NAN;  // --prequeue's first wave
  double complete_p50 = NAN, complete_p99 = NAN;
  int64_t empty_leases = 0, early_leases = 0, errors = 0;
  long rss_kib = -1;
  long rss_after_submit_kib = -1;  // --prequeue: VmHWM once the queue is full
  long max_threads = -1, max_rss_kib = -1;
  int max_fds = -1;
  double cpu_daemon = -1, cpu_pg = -1, cpu_driver = 0;
  double wal_bytes = -1;
  int64_t commits = -1, rollbacks = -1;
  std::map<std::string, int64_t> waits;
  int64_t wait_samples = 0;
  std::vector<double> window_ms;  // --window: ms per job of each window
  std::vector<std::string> lease_slices;  // --prequeue: lease p50/p99 per 10 s of the run
  std::optional<PgbenchResult> pgbench;
  std::string settings;  // the cluster's durability settings
  // Derived, for the summary.
  double vmhwm_mib = NAN, pg_jobs_per_s = NAN, pg_ratio = NAN;
  double window_first = NAN, window_last = NAN, window_growth = NAN, overhead_pct = NAN;
};

// Submits one sweep; false with `error` set.
bool Submit(v1::SweepService::Stub* stub, const std::string& yaml, int index,
            v1::SubmitSweepResponse* submitted, std::string* error) {
  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(yaml);
  submit.set_idempotency_key("dispatch-bench-" + std::to_string(index));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(600));
  grpc::Status s = stub->SubmitSweep(&context, submit, submitted);
  if (!s.ok()) *error = "SubmitSweep: " + s.error_message();
  return s.ok();
}

std::string SweepYaml(const Flags& flags, int index, int64_t* expected) {
  std::string yaml = SpecYaml(flags.jobs, flags.mix, expected);
  if (!flags.spec_file.empty()) yaml = ReadFile(flags.spec_file);
  // Distinct names, so that K sweeps are K sweeps.
  const auto at = yaml.find("name: dispatch-bench");
  if (at != std::string::npos && index > 0) {
    yaml.replace(at, 20, "name: dispatch-bench-" + std::to_string(index));
  }
  return yaml;
}

std::optional<RunResult> RunOnce(const Flags& flags, int workers, std::string* error) {
  auto daemon = Daemon::Start(DaemonOptionsOf(flags), error);
  if (!daemon) return std::nullopt;
  RunResult result;
  result.workers = workers;
  DaemonMonitor monitor(daemon->pid());

  pid_t postmaster = 0;
  std::string local_dsn;
  const bool local_pg = daemon->LocalPostgres(&postmaster, &local_dsn);
  const std::string sample_dsn = local_pg ? local_dsn : flags.database;
  if (!sample_dsn.empty()) {
    try {
      pqxx::connection c(sample_dsn);
      pqxx::nontransaction tx(c);
      for (const char* name : {"fsync", "synchronous_commit", "full_page_writes", "wal_level",
                               "shared_buffers", "max_connections"}) {
        result.settings += std::string(result.settings.empty() ? "" : " ") + name + "=" +
                           tx.exec1(std::string("SHOW ") + name)[0].as<std::string>();
      }
    } catch (const std::exception& e) {
      result.settings = std::string("(unread: ") + e.what() + ")";
    }
  }

  auto sweep_stub = v1::SweepService::NewStub(daemon->Channel());
  Shared shared;
  std::vector<v1::SubmitSweepResponse> responses(flags.sweeps);
  Clock::time_point t0{}, t_submitted{};

  if (flags.prequeue) {
    // The queue first: every sweep stored before any worker connects.
    t0 = Clock::now();
    for (int k = 0; k < flags.sweeps; ++k) {
      int64_t expected = 0;
      if (!Submit(sweep_stub.get(), SweepYaml(flags, k, &expected), k, &responses[k], error)) {
        return std::nullopt;
      }
      shared.AddTarget(responses[k].sweep().id(), responses[k].jobs());
      result.jobs += responses[k].jobs();
    }
    t_submitted = Clock::now();
    result.submit_ms = Ms(t_submitted - t0);
    shared.TargetsComplete();
    shared.submitted_ns = std::max<int64_t>(1, t_submitted.time_since_epoch().count());
    result.rss_after_submit_kib = StatusKib(daemon->pid(), "VmHWM");
    std::printf("      queued %lld jobs in %d sweep(s) in %.1f s; mixsweepd VmHWM %.1f MiB\n",
                static_cast<long long>(result.jobs), flags.sweeps, result.submit_ms / 1000,
                result.rss_after_submit_kib / 1024.0);
    std::fflush(stdout);
  }

  // Register the workers (not timed): here, one by one, or with --prequeue
  // in their own threads, all at once.
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  std::vector<int64_t> ids(workers, 0);
  for (int i = 0; i < workers; ++i) {
    stubs.push_back(NewWorkerStub(*daemon));
    if (flags.prequeue) continue;
    grpc::Status s = Register(stubs.back().get(), i, &ids[i]);
    if (!s.ok()) {
      *error = "RegisterWorker: " + s.error_message() + "\n" + daemon->LogTail();
      return std::nullopt;
    }
  }

  std::vector<WorkerStats> stats(workers);
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(flags.time_limit_seconds * 1000));
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back(RunWorker, stubs[i].get(), i, ids[i], std::cref(flags), &shared, deadline,
                         &stats[i]);
  }
  if (flags.prequeue) {
    while (shared.registered < workers && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::printf("      %d workers registered\n", shared.registered.load());
    std::fflush(stdout);
  } else {
    // Let every worker reach its long poll.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }

  std::unique_ptr<WaitSampler> sampler;
  if (flags.sample_ms > 0 && !sample_dsn.empty()) {
    sampler = std::make_unique<WaitSampler>(sample_dsn, std::chrono::milliseconds(flags.sample_ms));
  }
  const DbCounters db0 = sample_dsn.empty() ? DbCounters{} : ReadDbCounters(sample_dsn);
  const double daemon_cpu0 = ProcessCpuSeconds(daemon->pid());
  const TreeSnapshot pg_cpu0 = local_pg ? SnapshotTree(postmaster) : TreeSnapshot{};
  const double self_cpu0 = SelfCpuSeconds();

  if (flags.prequeue) {
    t0 = Clock::now();
    shared.go = true;
  } else {
    t0 = Clock::now();
    for (int k = 0; k < flags.sweeps; ++k) {
      int64_t expected = 0;
      if (!Submit(sweep_stub.get(), SweepYaml(flags, k, &expected), k, &responses[k], error)) {
        shared.stop = true;
        for (auto& t : threads) t.join();
        return std::nullopt;
      }
      if (k == 0) {
        shared.submitted_ns =
            std::max<int64_t>(1, Clock::now().time_since_epoch().count());
      }
      shared.AddTarget(responses[k].sweep().id(), responses[k].jobs());
      result.jobs += responses[k].jobs();
    }
    t_submitted = Clock::now();
    shared.TargetsComplete();
    result.submit_ms = Ms(t_submitted - t0);
  }

  for (auto& t : threads) t.join();
  if (sampler) sampler->Finish();

  result.cpu_driver = SelfCpuSeconds() - self_cpu0;
  result.cpu_daemon = ProcessCpuSeconds(daemon->pid()) - daemon_cpu0;
  if (local_pg) result.cpu_pg = TreeSnapshotDelta(pg_cpu0, SnapshotTree(postmaster));
  result.rss_kib = StatusKib(daemon->pid(), "VmHWM");
  monitor.Finish();
  result.max_threads = monitor.max_threads();
  result.max_rss_kib = monitor.max_rss_kib();
  result.max_fds = monitor.max_fds();
  if (db0.ok) {
    // Let the backends' statistics reach pg_stat_database (PGSTAT_IDLE_INTERVAL).
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const DbCounters db1 = ReadDbCounters(sample_dsn, db0.lsn);
    if (db1.ok) {
      result.wal_bytes = db1.wal_bytes_since;
      result.commits = db1.commits - db0.commits;
      result.rollbacks = db1.rollbacks - db0.rollbacks;
    }
  }

  // The references, on the same cluster, right after.
  if (flags.pgbench) {
    if (!local_pg) {
      *error = "--pgbench needs mixsweepd's own local cluster (no --database)";
      return std::nullopt;
    }
    result.pgbench = RunPgbench(flags, local_dsn, postmaster, workers,
                                flags.pgbench_jobs > 0 ? flags.pgbench_jobs : result.jobs);
    if (!result.pgbench->ok) std::fprintf(stderr, "%s\n", result.pgbench->error.c_str());
  }
  if (!flags.after_run.empty() && local_pg) {
    std::map<std::string, std::string> conn;
    std::istringstream words(local_dsn);
    for (std::string w; words >> w;) {
      const auto eq = w.find('=');
      if (eq != std::string::npos) conn[w.substr(0, eq)] = w.substr(eq + 1);
    }
    setenv("PGHOST", conn["host"].c_str(), 1);
    setenv("PGPORT", conn["port"].c_str(), 1);
    setenv("PGUSER", conn["user"].c_str(), 1);
    setenv("PGDATABASE", conn["dbname"].c_str(), 1);
    setenv("MIXSWEEP_BENCH_DSN", local_dsn.c_str(), 1);
    setenv("MIXSWEEP_BENCH_WORKERS", std::to_string(workers).c_str(), 1);
    std::fflush(stdout);
    const int code = std::system(flags.after_run.c_str());
    if (code != 0) std::fprintf(stderr, "--after-run exited with %d\n", code);
  }

  const int code = daemon->Stop();
  if (code != 0) std::fprintf(stderr, "note: mixsweepd exited with %d\n", code);

  std::vector<double> lease, first_lease, complete;
  for (const WorkerStats& w : stats) {
    lease.insert(lease.end(), w.lease_ms.begin(), w.lease_ms.end());
    first_lease.insert(first_lease.end(), w.first_lease_ms.begin(), w.first_lease_ms.end());
    complete.insert(complete.end(), w.complete_ms.begin(), w.complete_ms.end());
    result.empty_leases += w.empty_leases;
    result.early_leases += w.early_leases;
    result.errors += w.errors;
    if (!w.first_error.empty()) std::fprintf(stderr, "worker error: %s\n", w.first_error.c_str());
  }
  const Clock::time_point last = std::max(t0, shared.last_completion());
  result.completed = shared.completed();
  result.finished = result.completed >= result.jobs ||
                    (flags.sample_leases > 0 && shared.sampled_leases >= flags.sample_leases);
  result.seconds = std::chrono::duration<double>(last - t0).count();
  result.seconds_after_submit =
      flags.prequeue ? result.seconds : std::chrono::duration<double>(last - t_submitted).count();
  result.jobs_per_s = result.seconds > 0 ? result.completed / result.seconds : 0;
  if (flags.job_seconds > 0 && result.completed > 0 && flags.sample_leases == 0) {
    result.ideal_seconds = result.completed * flags.job_seconds / workers;
    result.overhead = (result.seconds - result.ideal_seconds) / result.ideal_seconds;
    result.overhead_after_submit =
        (result.seconds_after_submit - result.ideal_seconds) / result.ideal_seconds;
  }
  result.lease_count = static_cast<int64_t>(lease.size());
  result.lease_p50 = Percentile(lease, 0.50);
  result.lease_p99 = Percentile(lease, 0.99);
  result.lease_max = lease.empty() ? NAN : *std::max_element(lease.begin(), lease.end());
  result.first_p50 = Percentile(first_lease, 0.50);
  result.first_p99 = Percentile(first_lease, 0.99);
  result.first_max =
      first_lease.empty() ? NAN : *std::max_element(first_lease.begin(), first_lease.end());
  result.complete_p50 = Percentile(complete, 0.50);
  result.complete_p99 = Percentile(complete, 0.99);
  if (flags.prequeue) {
    // Is the tail spread over the run or bunched? p50/p99 per 10 s slice.
    std::map<int64_t, std::vector<double>> slices;
    for (const WorkerStats& w : stats) {
      for (size_t i = 0; i < w.lease_ms.size(); ++i) {
        slices[std::chrono::duration_cast<std::chrono::seconds>(w.lease_at[i] - t0).count() / 10]
            .push_back(w.lease_ms[i]);
      }
    }
    for (const auto& [slice, v] : slices) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%llds:n=%zu,p50=%.0f,p99=%.0f",
                    static_cast<long long>(slice * 10), v.size(), Percentile(v, 0.5),
                    Percentile(v, 0.99));
      result.lease_slices.push_back(buf);
    }
  }
  if (flags.window > 0) {
    // Window i: jobs i*N+1 .. (i+1)*N in completion order, timed from the
    // previous window's last completion (the first from the submission's
    // acknowledgement, when jobs became leasable).
    const auto times = shared.completion_times();
    Clock::time_point prev = flags.prequeue ? t0 : t_submitted;
    for (size_t end = flags.window; end <= times.size(); end += flags.window) {
      result.window_ms.push_back(Ms(times[end - 1] - prev) / flags.window);
      prev = times[end - 1];
    }
  }
  if (sampler) {
    if (!sampler->error().empty()) std::fprintf(stderr, "sampler: %s\n", sampler->error().c_str());
    result.waits = sampler->counts();
    result.wait_samples = sampler->samples();
  }
  result.vmhwm_mib = result.rss_kib / 1024.0;
  if (result.pgbench && result.pgbench->ok) {
    result.pg_jobs_per_s = result.pgbench->jobs_per_s;
    result.pg_ratio = result.jobs_per_s / result.pgbench->jobs_per_s;
  }
  if (!result.window_ms.empty()) {
    result.window_first = result.window_ms.front();
    result.window_last = result.window_ms.back();
    result.window_growth = result.window_last / result.window_first;
  }
  result.overhead_pct = 100 * result.overhead;
  return result;
}

void PrintWaits(const std::map<std::string, int64_t>& waits, int64_t samples) {
  if (samples <= 0) return;
  std::vector<std::pair<int64_t, std::string>> by_count;
  for (const auto& [k, v] : waits) by_count.push_back({v, k});
  std::sort(by_count.rbegin(), by_count.rend());
  std::printf("      backends not idle, mean per sample (%lld samples):",
              static_cast<long long>(samples));
  for (size_t i = 0; i < by_count.size() && i < 6; ++i) {
    std::printf(" [%s] %.2f", by_count[i].second.c_str(),
                static_cast<double>(by_count[i].first) / samples);
  }
  std::printf("\n");
}

void PrintRun(const RunResult& r, int repeat) {
  std::printf(
      "W=%-3d #%d %s jobs=%lld/%lld submit=%.0fms e2e=%.2fs jobs/s=%.0f | lease ms p50=%.2f "
      "p99=%.2f max=%.1f (n=%lld) | complete ms p50=%.2f p99=%.2f | empty=%lld early=%lld "
      "errors=%lld | mixsweepd VmHWM=%.1fMiB | CPU s: mixsweepd=%.2f postgres=%.2f driver=%.2f\n",
      r.workers, repeat, r.finished ? "ok" : "UNFINISHED", static_cast<long long>(r.completed),
      static_cast<long long>(r.jobs), r.submit_ms, r.seconds, r.jobs_per_s, r.lease_p50,
      r.lease_p99, r.lease_max, static_cast<long long>(r.lease_count), r.complete_p50,
      r.complete_p99, static_cast<long long>(r.empty_leases),
      static_cast<long long>(r.early_leases), static_cast<long long>(r.errors),
      r.rss_kib / 1024.0, r.cpu_daemon, r.cpu_pg, r.cpu_driver);
  std::printf("      cluster: %s\n", r.settings.c_str());
  std::printf("      mixsweepd at most: %ld threads, %.1f MiB VmRSS, %d open fds\n", r.max_threads,
              r.max_rss_kib / 1024.0, r.max_fds);
  if (!std::isnan(r.first_p50)) {
    std::printf("      first lease of each worker (all asking at once): p50=%.1f p99=%.1f "
                "max=%.1f ms; queue-full VmHWM=%.1fMiB\n",
                r.first_p50, r.first_p99, r.first_max, r.rss_after_submit_kib / 1024.0);
  }
  if (r.ideal_seconds > 0) {
    std::printf("      overhead: ideal %.2fs; wall from submit sent %.2fs (%+.2f%%), from submit "
                "acknowledged %.2fs (%+.2f%%)\n",
                r.ideal_seconds, r.seconds, 100 * r.overhead, r.seconds_after_submit,
                100 * r.overhead_after_submit);
  }
  if (r.wal_bytes >= 0 && r.completed > 0) {
    // The sampler's own queries are transactions too: left out.
    std::printf("      database per job: %.0f WAL bytes, %.2f commits (empty lease polls "
                "included), %.2f rollbacks\n",
                r.wal_bytes / r.completed,
                static_cast<double>(r.commits - r.wait_samples) / r.completed,
                static_cast<double>(r.rollbacks) / r.completed);
  }
  PrintWaits(r.waits, r.wait_samples);
  if (!r.lease_slices.empty()) {
    std::printf("      lease ms per 10 s slice of the run:");
    for (const auto& slice : r.lease_slices) std::printf(" %s", slice.c_str());
    std::printf("\n");
  }
  if (!r.window_ms.empty()) {
    const size_t n = r.window_ms.size();
    std::printf("      ms per job by window of completions:");
    for (size_t i = 0; i < n; ++i) std::printf(" %.2f", r.window_ms[i]);
    std::printf("\n      first window %.2f ms/job (%.0f jobs/s), last %.2f ms/job (%.0f jobs/s), "
                "last/first %.2f\n",
                r.window_ms.front(), 1000 / r.window_ms.front(), r.window_ms.back(),
                1000 / r.window_ms.back(), r.window_ms.back() / r.window_ms.front());
  }
  if (r.pgbench) {
    const PgbenchResult& p = *r.pgbench;
    std::printf("      pgbench -c %d on the same cluster: %s jobs=%lld in %.2fs: %.0f jobs/s "
                "(pgbench tps %.0f, latency %.2f ms) | CPU s: postgres=%.2f pgbench=%.2f | "
                "mixsweep/pgbench = %.3f\n",
                r.workers, p.ok ? "ok" : "FAILED", static_cast<long long>(p.jobs), p.seconds,
                p.jobs_per_s, p.tps, p.latency_ms, p.cpu_pg, p.cpu_pgbench,
                p.jobs_per_s > 0 ? r.jobs_per_s / p.jobs_per_s : NAN);
    PrintWaits(p.waits, p.wait_samples);
  }
  std::fflush(stdout);
}

struct Spread {
  double median, min, max;
};

Spread SpreadOf(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, v.front(), v.back()};
}

std::string Cell(const std::vector<RunResult>& runs, double RunResult::*field, const char* fmt) {
  std::vector<double> v;
  for (const auto& r : runs) v.push_back(r.*field);
  const Spread s = SpreadOf(v);
  char buf[128];
  if (runs.size() == 1) {
    std::snprintf(buf, sizeof buf, fmt, s.median);
    return buf;
  }
  char med[32], lo[32], hi[32];
  std::snprintf(med, sizeof med, fmt, s.median);
  std::snprintf(lo, sizeof lo, fmt, s.min);
  std::snprintf(hi, sizeof hi, fmt, s.max);
  std::snprintf(buf, sizeof buf, "%s (%s-%s)", med, lo, hi);
  return buf;
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
  // A worker thread writing to a gRPC stream the daemon closed must not kill us.
  signal(SIGPIPE, SIG_IGN);
  // One connection per worker, here and in mixsweepd (which inherits this).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      static_cast<rlim_t>(*std::max_element(flags->workers.begin(), flags->workers.end())) * 2 +
              256 > files.rlim_cur) {
    std::fprintf(stderr, "warning: open files limit %llu is low for %d workers (ulimit -n)\n",
                 static_cast<unsigned long long>(files.rlim_cur),
                 *std::max_element(flags->workers.begin(), flags->workers.end()));
  }
  int64_t expected = 0;
  SpecYaml(flags->jobs, flags->mix, &expected);
  std::printf("dispatch_bench: %d sweep(s) of %lld jobs (%s)%s, job %.3g s, workers %s, %d "
              "repeat(s), mixsweepd rate limit %s, %s\n",
              flags->sweeps, static_cast<long long>(expected),
              flags->mix ? "train + pretrain + finetune" : "train only",
              flags->prequeue ? ", queued before the workers" : "", flags->job_seconds,
              [&] {
                std::string s;
                for (int w : flags->workers) s += (s.empty() ? "" : ",") + std::to_string(w);
                return s;
              }().c_str(),
              flags->repeats,
              flags->rate_limit_per_second > 0 ? std::to_string(flags->rate_limit_per_second).c_str()
                                               : "off",
              flags->database.empty() ? "mixsweepd's own local PostgreSQL per run"
                                      : "the --database given");
  std::fflush(stdout);

  std::map<int, std::vector<RunResult>> results;
  bool all_finished = true;
  // Repeats are interleaved (1, 8, 32, 1, 8, 32...) so a slow phase of a
  // shared machine does not land on one configuration only.
  for (int repeat = 1; repeat <= flags->repeats; ++repeat) {
    for (int w : flags->workers) {
      std::string error;
      auto r = RunOnce(*flags, w, &error);
      if (!r) {
        std::fprintf(stderr, "W=%d run %d failed: %s\n", w, repeat, error.c_str());
        return 1;
      }
      PrintRun(*r, repeat);
      all_finished = all_finished && r->finished;
      results[w].push_back(*r);
    }
  }

  std::printf("\nSummary: median (min-max) over %d run(s)\n\n", flags->repeats);
  std::printf(
      "| W | jobs/s | lease p50 ms | lease p99 ms | lease max ms | complete p50 ms | complete p99 "
      "ms | mixsweepd VmHWM MiB | CPU s mixsweepd / postgres / driver |\n"
      "|---|---|---|---|---|---|---|---|---|\n");
  for (auto& [w, runs] : results) {
    std::vector<double> rss;
    for (const auto& r : runs) rss.push_back(r.rss_kib / 1024.0);
    const Spread rs = SpreadOf(rss);
    std::printf("| %d | %s | %s | %s | %s | %s | %s | %.1f (%.1f-%.1f) | %s / %s / %s |\n", w,
                Cell(runs, &RunResult::jobs_per_s, "%.0f").c_str(),
                Cell(runs, &RunResult::lease_p50, "%.2f").c_str(),
                Cell(runs, &RunResult::lease_p99, "%.2f").c_str(),
                Cell(runs, &RunResult::lease_max, "%.1f").c_str(),
                Cell(runs, &RunResult::complete_p50, "%.2f").c_str(),
                Cell(runs, &RunResult::complete_p99, "%.2f").c_str(), rs.median, rs.min, rs.max,
                Cell(runs, &RunResult::cpu_daemon, "%.2f").c_str(),
                Cell(runs, &RunResult::cpu_pg, "%.2f").c_str(),
                Cell(runs, &RunResult::cpu_driver, "%.2f").c_str());
  }
  // One line per W for scripts (bench/run_comparisons.sh): median (min-max).
  std::printf("\n");
  for (auto& [w, runs] : results) {
    std::printf("summary W=%d runs=%zu", w, runs.size());
    auto field = [&](const char* name, double RunResult::*f, const char* fmt) {
      std::vector<double> v;
      for (const auto& r : runs) {
        if (!std::isnan(r.*f)) v.push_back(r.*f);
      }
      if (v.empty()) return;
      const Spread sp = SpreadOf(v);
      std::printf(" %s=", name);
      std::printf(fmt, sp.median);
      std::printf("[");
      std::printf(fmt, sp.min);
      std::printf(",");
      std::printf(fmt, sp.max);
      std::printf("]");
    };
    field("jobs_per_s", &RunResult::jobs_per_s, "%.1f");
    field("pgbench_jobs_per_s", &RunResult::pg_jobs_per_s, "%.1f");
    field("ratio_pgbench", &RunResult::pg_ratio, "%.3f");
    field("lease_p50_ms", &RunResult::lease_p50, "%.2f");
    field("lease_p99_ms", &RunResult::lease_p99, "%.2f");
    field("first_lease_p50_ms", &RunResult::first_p50, "%.1f");
    field("first_lease_p99_ms", &RunResult::first_p99, "%.1f");
    field("overhead_pct", &RunResult::overhead_pct, "%.2f");
    field("window_first_ms", &RunResult::window_first, "%.3f");
    field("window_last_ms", &RunResult::window_last, "%.3f");
    field("window_growth", &RunResult::window_growth, "%.3f");
    field("vmhwm_mib", &RunResult::vmhwm_mib, "%.1f");
    std::printf("\n");
  }
  return all_finished ? 0 : 1;
}
