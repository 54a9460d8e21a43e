// Crash driver: the whole loop under repeated SIGKILL of mixsweepd, at full
// size (issue 5, item 5): a sweep of about --jobs jobs (10,000 by default)
// trained by synthetic workers (`mixsweep-worker --synthetic`) and evaluated
// at once by the synthetic lab (`mixsweep-lab`), while mixsweepd is killed
// --kills times (20) at random moments of the sweep's progress and
// restarted at once on the same database. When the sweep has completed it
// prints, counted from PostgreSQL: jobs, evaluation requests and trials
// lost; completions, requests and trials duplicated; jobs and requests in
// flight at a kill that recovered; and whether every served estimate equals
// a computation from scratch. The loop is tests/support/crash_loop.h, which
// tests/e2e/crash_e2etest runs at a CI size.
//
// The database: its own PostgreSQL 15 (db::LocalCluster in a temp dir,
// PostgreSQL's default settings: fsync and synchronous_commit on), or an
// existing one with --database.
//
//   build/bench/crash_bench                                  # 10,000 jobs, 20 kills
//   build/bench/crash_bench --jobs 2000 --kills 8 --seed 7
//   build/bench/crash_bench --database "host=/run/pg dbname=crash"  # an empty database
//
// Exits 1 when anything was lost or duplicated, an estimate differs, a
// worker or the lab gave up, or the sweep did not complete in
// --timeout-seconds; 2 on a bad command line.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ftw.h>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/local_cluster.h"
#include "tests/support/crash_loop.h"

#ifndef MIXSWEEPD_BIN
#define MIXSWEEPD_BIN "mixsweepd"
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  int jobs = 10000;
  int n_tele_values = 10;
  int kills = 20;
  uint64_t seed = 1;
  int workers = 4;
  int gpus_per_worker = 4;
  int steps_per_second = 4000;
  int64_t total_steps = 1000;
  int labs = 1;
  std::vector<std::string> scenarios = {"in_domain"};
  int trials = 10;
  int resamples = 100;
  double timeout_seconds = 3600;
  std::string database;
  std::vector<std::string> pg_settings;
  std::string mixsweepd = MIXSWEEPD_BIN;
  std::string worker = MIXSWEEP_WORKER_BIN;
  std::string lab = MIXSWEEP_LAB_BIN;
  std::string truth = std::string(MIXSWEEP_SOURCE_DIR) + "/docs/examples/pick_dual_bottles.truth.yaml";
  bool keep = false;
  bool quiet = false;
};

std::optional<Flags> ParseFlags(int argc, char** argv, int* exit_code) {
  Flags f;
  CLI::App app{"crash_bench: the whole loop under repeated SIGKILL of mixsweepd; counts lost, "
               "duplicated and recovered"};
  app.add_option("--jobs", f.jobs, "about this many jobs (whole seeds of 2 x n-tele-values + 1)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--n-tele-values", f.n_tele_values, "N_tele 10, 20, ... (this many)")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app.add_option("--kills", f.kills, "SIGKILLs of mixsweepd")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", f.seed, "seed of the kill moments")->capture_default_str();
  app.add_option("--workers", f.workers, "synthetic worker processes")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--gpus-per-worker", f.gpus_per_worker, "synthetic GPUs of each")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--steps-per-second", f.steps_per_second, "synthetic training speed")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--total-steps", f.total_steps, "steps of a run (pretrain 60 %, finetune 40 %)")
      ->check(CLI::Range(10, 100000000))
      ->capture_default_str();
  app.add_option("--labs", f.labs, "synthetic labs (one robot each)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--scenarios", f.scenarios, "evaluation scenarios (of the truth file)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--trials", f.trials, "trials per scenario")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--estimate-resamples", f.resamples, "mixsweepd's bootstrap resamples")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--timeout-seconds", f.timeout_seconds, "give up on the sweep after this long")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--database", f.database, "an existing empty database (default: our own cluster)");
  app.add_option("--pg-setting", f.pg_settings, "name=value for our own cluster (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--mixsweepd", f.mixsweepd, "the mixsweepd binary")->capture_default_str();
  app.add_option("--worker", f.worker, "the mixsweep-worker binary")->capture_default_str();
  app.add_option("--lab", f.lab, "the mixsweep-lab binary")->capture_default_str();
  app.add_option("--truth", f.truth, "the lab's ground truth")->capture_default_str();
  app.add_flag("--keep", f.keep, "leave the temp dir (logs, cluster)");
  app.add_flag("--quiet", f.quiet, "no progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    if (*exit_code != 0) *exit_code = 2;
    return std::nullopt;
  }
  return f;
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  std::optional<Flags> flags = ParseFlags(argc, argv, &exit_code);
  if (!flags) return exit_code;
  signal(SIGPIPE, SIG_IGN);
  const auto started = Clock::now();

  char tmpl[] = "/tmp/crash_bench.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  ::chmod(dir.c_str(), 0755);  // the cluster's user (when we are root) goes through it

  std::unique_ptr<mixsweep::db::LocalCluster> cluster;
  std::string dsn = flags->database;
  if (dsn.empty()) {
    mixsweep::db::LocalClusterOptions options;
    options.directory = dir + "/pg";
    options.settings = flags->pg_settings;
    auto c = mixsweep::db::LocalCluster::Start(options);
    if (!c.ok()) {
      std::fprintf(stderr, "crash_bench: PostgreSQL: %s\n", c.status().ToString().c_str());
      return 1;
    }
    cluster = std::move(*c);
    if (auto s = cluster->EnsureDatabase("crash"); !s.ok()) {
      std::fprintf(stderr, "crash_bench: %s\n", s.ToString().c_str());
      return 1;
    }
    dsn = cluster->Dsn("crash");
  }

  mixsweep::testing::CrashLoopOptions o;
  o.binaries = {.mixsweepd = flags->mixsweepd, .worker = flags->worker, .lab = flags->lab};
  o.dsn = dsn;
  o.work_dir = dir;
  o.truth_file = flags->truth;
  o.n_tele_values = flags->n_tele_values;
  const int per_seed = 2 * flags->n_tele_values + 1;
  o.seeds = std::max(1, (flags->jobs + per_seed / 2) / per_seed);
  o.scenarios = flags->scenarios;
  o.trials_per_scenario = flags->trials;
  o.total_steps = flags->total_steps;
  o.kills = flags->kills;
  o.seed = flags->seed;
  o.workers = flags->workers;
  o.gpus_per_worker = flags->gpus_per_worker;
  o.steps_per_second = flags->steps_per_second;
  o.labs = flags->labs;
  o.estimate_resamples = flags->resamples;
  o.timeout_seconds = flags->timeout_seconds;
  if (!flags->quiet) {
    o.log = [&](const std::string& line) {
      std::printf("[%7.1f s] %s\n", Since(started), line.c_str());
      std::fflush(stdout);
    };
  }
  std::printf("crash_bench: %d seeds x %d jobs = %d jobs, %zu scenario(s) x %d trials, %d kills "
              "(seed %llu), %d workers x %d synthetic GPUs at %d steps/s, %d lab(s), %d "
              "resamples; database %s; logs in %s\n",
              o.seeds, per_seed, o.seeds * per_seed, o.scenarios.size(), o.trials_per_scenario,
              o.kills, static_cast<unsigned long long>(o.seed), o.workers, o.gpus_per_worker,
              o.steps_per_second, o.labs, o.estimate_resamples,
              flags->database.empty() ? "own cluster (default settings)" : "given", dir.c_str());
  std::fflush(stdout);

  absl::StatusOr<mixsweep::testing::CrashLoopFigures> f = mixsweep::testing::RunCrashLoop(o);
  bool keep = flags->keep;
  int code = 0;
  if (!f.ok()) {
    std::fprintf(stderr, "crash_bench: %s\n", f.status().ToString().c_str());
    code = 1;
    keep = true;
  } else {
    std::printf("\n%s", f->Summary().c_str());
    if (!f->estimate_differences.empty()) {
      std::printf("estimate differences:\n%s\n", f->estimate_differences.c_str());
    }
    if (!f->process_notes.empty()) std::printf("%s\n", f->process_notes.c_str());
    const bool clean = f->sweep_completed && f->counts.lost() == 0 &&
                       f->counts.duplicated() == 0 && f->counts.extra_success_events == 0 &&
                       f->estimate_differences.empty() && f->workers_exited == 0 &&
                       f->labs_exited == 0 && f->recovered_jobs == f->jobs_leased_at_a_kill &&
                       f->recovered_requests == f->batched_at_kills;
    std::printf("\n| jobs | requests | trials | kills | lost | duplicated | recovered jobs | "
                "recovered requests | estimates equal | wall |\n"
                "|---|---|---|---|---|---|---|---|---|---|\n"
                "| %lld | %lld | %lld | %d | %lld | %lld | %lld/%lld | %lld/%lld | %d/%d | %.0f s |\n",
                static_cast<long long>(f->counts.jobs), static_cast<long long>(f->counts.requests),
                static_cast<long long>(f->counts.trials), f->kills,
                static_cast<long long>(f->counts.lost()),
                static_cast<long long>(f->counts.duplicated()),
                static_cast<long long>(f->recovered_jobs),
                static_cast<long long>(f->jobs_leased_at_a_kill),
                static_cast<long long>(f->recovered_requests),
                static_cast<long long>(f->batched_at_kills),
                f->estimate_differences.empty() ? f->estimates_compared : 0,
                f->estimates_compared, f->wall_seconds);
    std::printf("%s\n", clean ? "OK: nothing lost, nothing duplicated"
                              : "FAILED: see the figures above");
    if (!clean) {
      code = 1;
      keep = true;
    }
  }
  if (cluster) (void)cluster->Stop();
  if (keep) {
    std::printf("kept %s\n", dir.c_str());
  } else {
    ::nftw(dir.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
  }
  return code;
}
