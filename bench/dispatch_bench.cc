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
//   build-bench/bench/dispatch_bench --workers 1,8,32 --jobs 1000 --repeats 3
//   build-bench/bench/dispatch_bench --mix             # train + pretrain + finetune
//   build-bench/bench/dispatch_bench --database "host=/run/pg dbname=ms"  # existing database
//
// The sweep is baseline-only by default (one source with n_nt [0]: train jobs
// only, all ready at once); --mix adds n_nt 100, so half the runs are a
// shared pretrain plus finetunes that wait for it (exercises unblocking and
// the wake-up of waiting LeaseJob calls). Every run is bounded by
// --time-limit-seconds; the driver exits non-zero if a run did not finish.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
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
};

// Flags by CLI11 (`--name value` or `--name=value`); nullopt after --help
// (printed) or a bad flag (explained). `exit_code` says which.
std::optional<Flags> ParseFlags(int argc, char** argv, int* exit_code) {
  Flags f;
  CLI::App app{"dispatch_bench: synthetic workers lease and complete jobs against a real mixsweepd"};
  app.add_option("--workers", f.workers, "worker counts to run, e.g. 1,8,32")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024))
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


double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// ---- mixsweepd ----------------------------------------------------------------

using mixsweep::bench::Daemon;

mixsweep::bench::DaemonOptions DaemonOptionsOf(const Flags& flags) {
  return {.mixsweepd = flags.mixsweepd,
          .database = flags.database,
          .db_pool_size = flags.db_pool_size,
          .log_level = flags.log_level,
          .keep = flags.keep,
          .daemon_args = flags.daemon_args,
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

  void Completed(int64_t sweep_id, Clock::time_point at) {
    std::lock_guard lock(mu_);
    Progress& p = by_sweep_[sweep_id];
    ++p.count;
    p.last = std::max(p.last, at);
    CheckDone();
  }
  // Once the submission is answered.
  void SetTarget(int64_t sweep_id, int64_t total) {
    std::lock_guard lock(mu_);
    sweep_id_ = sweep_id;
    total_ = total;
    CheckDone();
  }
  int64_t completed() {
    std::lock_guard lock(mu_);
    return sweep_id_ == 0 ? 0 : by_sweep_[sweep_id_].count;
  }
  Clock::time_point last_completion() {
    std::lock_guard lock(mu_);
    return by_sweep_[sweep_id_].last;
  }

 private:
  struct Progress {
    int64_t count = 0;
    Clock::time_point last{};
  };
  void CheckDone() {
    if (sweep_id_ != 0 && by_sweep_[sweep_id_].count >= total_) stop = true;
  }
  std::mutex mu_;
  std::map<int64_t, Progress> by_sweep_;
  int64_t sweep_id_ = 0;
  int64_t total_ = 0;
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

void RunWorker(v1::WorkerService::Stub* stub, int64_t worker_id, const Flags& flags,
               Shared* shared, Clock::time_point deadline, WorkerStats* stats) {
  int64_t seq = 0;
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
    if (after_submit) {
      stats->lease_ms.push_back(Ms(answered - sent));
    } else {
      ++stats->early_leases;
    }

    v1::CompleteJobRequest complete;
    *complete.mutable_lease() = response.lease();
    complete.set_checkpoint_uri(response.spec().output_uri() + "/checkpoints/last.ckpt");
    complete.set_gpu_seconds(0);
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

// ---- One run -------------------------------------------------------------------


struct RunResult {
  int workers = 0;
  bool finished = false;
  int64_t jobs = 0;
  int64_t completed = 0;
  double submit_ms = 0;
  double seconds = 0;  // submit sent -> last completion answered
  double jobs_per_s = 0;
  double lease_p50 = NAN, lease_p99 = NAN, lease_max = NAN;
  double complete_p50 = NAN, complete_p99 = NAN;
  int64_t empty_leases = 0, early_leases = 0, errors = 0;
  long rss_kib = -1;
  double cpu_daemon = -1, cpu_pg = -1, cpu_driver = 0;
  double wal_bytes = -1;
  int64_t commits = -1, rollbacks = -1;
  std::map<std::string, int64_t> waits;
  int64_t wait_samples = 0;
};

std::optional<RunResult> RunOnce(const Flags& flags, int workers, std::string* error) {
  auto daemon = Daemon::Start(DaemonOptionsOf(flags), error);
  if (!daemon) return std::nullopt;
  RunResult result;
  result.workers = workers;

  // Register the workers (not timed).
  std::vector<std::unique_ptr<v1::WorkerService::Stub>> stubs;
  std::vector<int64_t> ids;
  for (int i = 0; i < workers; ++i) {
    stubs.push_back(NewWorkerStub(*daemon));
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
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = stubs.back()->RegisterWorker(&context, request, &response);
    if (!s.ok()) {
      *error = "RegisterWorker: " + s.error_message() + "\n" + daemon->LogTail();
      return std::nullopt;
    }
    ids.push_back(response.worker_id());
  }

  std::string yaml = SpecYaml(flags.jobs, flags.mix, &result.jobs);
  if (!flags.spec_file.empty()) {
    std::ifstream in(flags.spec_file);
    std::stringstream text;
    text << in.rdbuf();
    yaml = text.str();
  }
  Shared shared;
  std::vector<WorkerStats> stats(workers);
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(flags.time_limit_seconds * 1000));
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back(RunWorker, stubs[i].get(), ids[i], std::cref(flags), &shared, deadline,
                         &stats[i]);
  }
  // Let every worker reach its long poll.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  pid_t postmaster = 0;
  std::string local_dsn;
  const bool local_pg = daemon->LocalPostgres(&postmaster, &local_dsn);
  const std::string sample_dsn = local_pg ? local_dsn : flags.database;
  std::unique_ptr<WaitSampler> sampler;
  if (flags.sample_ms > 0 && !sample_dsn.empty()) {
    sampler = std::make_unique<WaitSampler>(sample_dsn, std::chrono::milliseconds(flags.sample_ms));
  }
  const DbCounters db0 = sample_dsn.empty() ? DbCounters{} : ReadDbCounters(sample_dsn);
  const double daemon_cpu0 = ProcessCpuSeconds(daemon->pid());
  const auto pg_cpu0 = local_pg ? TreeCpu(postmaster) : std::map<pid_t, double>{};
  const double self_cpu0 = SelfCpuSeconds();

  auto sweep_stub = v1::SweepService::NewStub(
      daemon->Channel());
  v1::SubmitSweepRequest submit;
  submit.set_spec_yaml(yaml);
  submit.set_idempotency_key("dispatch-bench");
  v1::SubmitSweepResponse submitted;
  grpc::ClientContext submit_context;
  submit_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  const auto t0 = Clock::now();
  grpc::Status s = sweep_stub->SubmitSweep(&submit_context, submit, &submitted);
  const auto t_submitted = Clock::now();
  if (!s.ok()) {
    shared.stop = true;
    for (auto& t : threads) t.join();
    *error = "SubmitSweep: " + s.error_message();
    return std::nullopt;
  }
  shared.submitted_ns = std::max<int64_t>(1, t_submitted.time_since_epoch().count());
  result.jobs = submitted.jobs();
  shared.SetTarget(submitted.sweep().id(), result.jobs);
  result.submit_ms = Ms(t_submitted - t0);

  for (auto& t : threads) t.join();
  if (sampler) sampler->Finish();

  result.cpu_driver = SelfCpuSeconds() - self_cpu0;
  result.cpu_daemon = ProcessCpuSeconds(daemon->pid()) - daemon_cpu0;
  if (local_pg) result.cpu_pg = TreeCpuDelta(pg_cpu0, TreeCpu(postmaster));
  result.rss_kib = StatusKib(daemon->pid(), "VmHWM");
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
  const int code = daemon->Stop();
  if (code != 0) std::fprintf(stderr, "note: mixsweepd exited with %d\n", code);

  std::vector<double> lease, complete;
  const Clock::time_point last = std::max(t0, shared.last_completion());
  for (const WorkerStats& w : stats) {
    lease.insert(lease.end(), w.lease_ms.begin(), w.lease_ms.end());
    complete.insert(complete.end(), w.complete_ms.begin(), w.complete_ms.end());
    result.empty_leases += w.empty_leases;
    result.early_leases += w.early_leases;
    result.errors += w.errors;
    if (!w.first_error.empty()) std::fprintf(stderr, "worker error: %s\n", w.first_error.c_str());
  }
  result.completed = shared.completed();
  result.finished = result.completed >= result.jobs;
  result.seconds = std::chrono::duration<double>(last - t0).count();
  result.jobs_per_s = result.seconds > 0 ? result.completed / result.seconds : 0;
  result.lease_p50 = Percentile(lease, 0.50);
  result.lease_p99 = Percentile(lease, 0.99);
  result.lease_max = lease.empty() ? NAN : *std::max_element(lease.begin(), lease.end());
  result.complete_p50 = Percentile(complete, 0.50);
  result.complete_p99 = Percentile(complete, 0.99);
  if (sampler) {
    if (!sampler->error().empty()) std::fprintf(stderr, "sampler: %s\n", sampler->error().c_str());
    result.waits = sampler->counts();
    result.wait_samples = sampler->samples();
  }
  return result;
}

void PrintRun(const RunResult& r, int repeat) {
  std::printf(
      "W=%-3d #%d %s jobs=%lld/%lld submit=%.0fms e2e=%.2fs jobs/s=%.0f | lease ms p50=%.2f "
      "p99=%.2f max=%.1f | complete ms p50=%.2f p99=%.2f | empty=%lld early=%lld errors=%lld | "
      "mixsweepd VmHWM=%.1fMiB | CPU s: mixsweepd=%.2f postgres=%.2f driver=%.2f\n",
      r.workers, repeat, r.finished ? "ok" : "UNFINISHED", static_cast<long long>(r.completed),
      static_cast<long long>(r.jobs), r.submit_ms, r.seconds, r.jobs_per_s, r.lease_p50,
      r.lease_p99, r.lease_max, r.complete_p50, r.complete_p99,
      static_cast<long long>(r.empty_leases), static_cast<long long>(r.early_leases),
      static_cast<long long>(r.errors), r.rss_kib / 1024.0, r.cpu_daemon, r.cpu_pg, r.cpu_driver);
  if (r.wal_bytes >= 0 && r.completed > 0) {
    // The sampler's own queries are transactions too: left out.
    std::printf("      database per job: %.0f WAL bytes, %.2f commits (empty lease polls "
                "included), %.2f rollbacks\n",
                r.wal_bytes / r.completed,
                static_cast<double>(r.commits - r.wait_samples) / r.completed,
                static_cast<double>(r.rollbacks) / r.completed);
  }
  if (r.wait_samples > 0) {
    std::vector<std::pair<int64_t, std::string>> by_count;
    for (const auto& [k, v] : r.waits) by_count.push_back({v, k});
    std::sort(by_count.rbegin(), by_count.rend());
    std::printf("      backends not idle, mean per sample (%lld samples):",
                static_cast<long long>(r.wait_samples));
    for (size_t i = 0; i < by_count.size() && i < 6; ++i) {
      std::printf(" [%s] %.2f", by_count[i].second.c_str(),
                  static_cast<double>(by_count[i].first) / r.wait_samples);
    }
    std::printf("\n");
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
  int64_t expected = 0;
  SpecYaml(flags->jobs, flags->mix, &expected);
  std::printf("dispatch_bench: %lld jobs per sweep (%s), workers %s, %d repeat(s), %s\n",
              static_cast<long long>(expected), flags->mix ? "train + pretrain + finetune" : "train only",
              [&] {
                std::string s;
                for (int w : flags->workers) s += (s.empty() ? "" : ",") + std::to_string(w);
                return s;
              }().c_str(),
              flags->repeats,
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
  return all_finished ? 0 : 1;
}
