// The whole loop under repeated SIGKILL of mixsweepd, with the counts a
// Jepsen-style checker reports: shared by tests/e2e/crash_e2etest.cc (a
// small sweep, a few kills) and bench/crash_bench.cc (10,000 jobs, 20
// kills).
//
// RunCrashLoop starts mixsweepd on a database it is given, always on the
// same port (so that the workers and the lab, which know one address, find
// it again after each restart), synthetic workers (`mixsweep-worker
// --synthetic`) and the synthetic lab (`mixsweep-lab`, one robot each),
// submits one sweep with evaluation, and SIGKILLs mixsweepd at random
// moments of the sweep's progress (seeded: the same --seed kills at the same
// progress fractions), restarting it at once on the same database. At each
// kill, once PostgreSQL has let go of the dead process's sessions, it notes
// which jobs were leased and which evaluation requests were batched to a
// robot. When the sweep has completed, it counts, from PostgreSQL alone:
//
//   lost:        jobs not succeeded; evaluation requests not complete;
//                trials wanted but absent;
//   duplicated:  jobs with more than one job.succeeded event; (run, scenario)
//                pairs with a number of evaluation requests other than 1;
//                current trials sharing a (request, trial index); trials
//                beyond a request's trials_wanted;
//   recovered:   jobs leased at a kill that later succeeded (and how many of
//                them under the very lease they held, i.e. the worker went
//                on across the restart); batched requests that completed;
//
// and compares every served estimate with a computation from scratch on the
// stored trials (bit for bit, as tests/e2e/evaluation_e2etest.cc does).
//
// Nothing here asserts: the caller decides (the test EXPECTs zeros, the
// bench prints).
//
// Example:
//   CrashLoopOptions o{.binaries = {...}, .dsn = dsn, .work_dir = dir};
//   o.n_tele_values = 10; o.seeds = 12; o.kills = 6;
//   absl::StatusOr<CrashLoopFigures> f = RunCrashLoop(o);
//   std::cout << f->Summary();
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"

namespace mixsweep::testing {

struct CrashLoopBinaries {
  std::string mixsweepd;
  std::string worker;  // mixsweep-worker
  std::string lab;     // mixsweep-lab
};

struct CrashLoopOptions {
  CrashLoopBinaries binaries;
  // The database mixsweepd uses across every restart (libpq DSN). An
  // application_name is appended to tell its sessions apart.
  std::string dsn;
  // Logs, artifacts, spec; must exist.
  std::string work_dir;
  // Ground truth for the lab (docs/examples/pick_dual_bottles.truth.yaml).
  std::string truth_file;

  // The sweep: Pick Dual Bottles' rubric, N_tele 10, 20, ... (n_tele_values
  // of them) x (the teleop baseline + sim N_nt 100) x `seeds`: per seed
  // n_tele_values train jobs, one shared pretrain, n_tele_values finetunes.
  int n_tele_values = 10;
  int seeds = 12;
  std::vector<std::string> scenarios = {"in_domain", "unseen_position"};
  int trials_per_scenario = 5;
  int64_t total_steps = 1000;  // pretrain 60 %, finetune 40 %

  int kills = 6;
  uint64_t seed = 1;  // of the kill moments
  // Kill moments are drawn uniformly in this range of the sweep's progress
  // ((succeeded jobs + complete requests) / (jobs + requests)).
  double first_kill_at = 0.03;
  double last_kill_at = 0.95;
  // After a restart, the next kill waits at least this long.
  double min_uptime_seconds = 0.3;

  int workers = 3;
  int gpus_per_worker = 4;
  int steps_per_second = 2000;
  int labs = 1;
  int estimate_resamples = 100;
  // Extra arguments for mixsweepd, each worker and each lab.
  std::vector<std::string> daemon_args;
  std::vector<std::string> worker_args;
  std::vector<std::string> lab_args;
  // The admin token every client uses (workers, lab, this driver); empty:
  // made with `mixsweepd token bootstrap` in work_dir (the database must have
  // no admin token yet).
  std::string token_file;

  double timeout_seconds = 600;  // for the whole sweep; a guard, not a measure
  std::function<void(const std::string&)> log;  // progress lines; may be empty
};

// What a finished sweep's rows say, from PostgreSQL alone.
struct SweepCounts {
  int64_t jobs = 0;
  int64_t runs = 0;
  int64_t requests = 0;  // evaluation requests stored
  int64_t trials = 0;    // current trials stored (not superseded)
  // Lost.
  int64_t jobs_lost = 0;            // not succeeded
  int64_t requests_incomplete = 0;  // not complete
  int64_t trials_missing = 0;       // wanted by a request, not there
  // Duplicated.
  int64_t jobs_completed_twice = 0;  // more than one job.succeeded event
  int64_t extra_success_events = 0;  // job.succeeded events beyond one per job
  int64_t request_count_wrong = 0;   // (run, scenario) with != 1 request
  int64_t duplicate_trials = 0;      // current trials sharing (request, trial index)
  int64_t trials_beyond_wanted = 0;
  // How it went.
  int64_t leases_expired = 0;  // job.lease_expired events
  int64_t jobs_retried = 0;    // attempts > 1

  int64_t lost() const { return jobs_lost + requests_incomplete + trials_missing; }
  int64_t duplicated() const {
    return jobs_completed_twice + request_count_wrong + duplicate_trials + trials_beyond_wanted;
  }
  std::string Summary() const;  // two lines: lost, duplicated
};

SweepCounts CountSweep(const std::string& dsn, int64_t sweep_id);

struct CrashLoopFigures {
  SweepCounts counts;
  int kills = 0;
  std::vector<double> kill_progress;  // the sweep's progress at each kill
  bool sweep_completed = false;

  // Recovered.
  int64_t leased_at_kills = 0;        // jobs leased at a kill, summed over kills
  int64_t jobs_leased_at_a_kill = 0;  // distinct jobs
  int64_t recovered_jobs = 0;         // of those, succeeded in the end
  int64_t recovered_same_lease = 0;   //   under the lease held at the (last) kill
  int64_t batched_at_kills = 0;       // distinct requests batched at a kill
  int64_t recovered_requests = 0;     //   of those, complete in the end
  // Retries across a kill, from the clients' logs: CompleteJob calls a
  // worker had to retry, and RecordTrials retries the server answered as a
  // replay (their first attempt committed, the answer died with mixsweepd).
  int64_t completions_retried = 0;
  int64_t records_replayed = 0;

  // Estimates.
  int estimates_compared = 0;
  std::string estimate_differences;  // empty: all equal to the last bit

  // Processes.
  int workers_exited = 0;  // before the end (each must reconnect by itself)
  int labs_exited = 0;
  std::string process_notes;  // exit statuses and log tails of those that did

  // Times (notes, never asserted).
  double wall_seconds = 0;
  double max_restart_seconds = 0;  // SIGKILL -> serving again
  // Per kill: serving again -> the first write any client made (an event
  // stored), and -> the first lease taken by the slowest worker to come
  // back; -1 when none came before the next kill.
  std::vector<double> first_write_after_restart_seconds;
  std::vector<double> every_worker_back_seconds;

  std::string Summary() const;
};

absl::StatusOr<CrashLoopFigures> RunCrashLoop(const CrashLoopOptions& options);

// Every served estimate of `sweep_id` against the engine's computation from
// scratch on the trials ListResults serves, through `channel` (carrying a
// token that may read them); the differences ("" when all are equal to the
// last bit) and how many estimates were compared.
std::string CompareEstimatesWithScratch(const std::shared_ptr<grpc::Channel>& channel,
                                        int64_t sweep_id, int* compared);

// `mixsweepd --database DSN token bootstrap`: the database's first admin
// token, written to `token_file`.
absl::Status BootstrapAdminToken(const std::string& mixsweepd, const std::string& dsn,
                                 const std::string& token_file);

// A channel to `address` carrying the token in `token_file` (services/channel,
// as every mixsweep client builds it).
absl::StatusOr<std::shared_ptr<grpc::Channel>> TokenChannel(const std::string& address,
                                                            const std::string& token_file);

}  // namespace mixsweep::testing
