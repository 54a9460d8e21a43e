// mixsweep-worker under a real SLURM (issue 8): a single-node cluster of
// Debian's slurm-wlm and munge (scripts/slurm-local-cluster.sh), the worker
// submitted with deploy/slurm/mixsweep-worker.sbatch, leasing synthetic jobs
// from a real mixsweepd on a real PostgreSQL over real gRPC. SLURM then
// takes the worker back the two ways a shared cluster does:
//
//   1. `scancel --signal=TERM --batch`: the SIGTERM preemption sends the
//      batch step (the worker, which the script `exec`s);
//   2. the job's time limit: SLURM's own SIGTERM at the limit, then SIGKILL
//      KillWait (5 s on this cluster) later.
//
// Each time the running job must be handed back as PREEMPTED before any
// SIGKILL (the worker logs its clean exit), and a plain worker outside SLURM
// must then finish the sweep with no attempt lost:
//
//   - every job succeeded exactly once, with `attempts` = 1: a hand-back
//     gives back the attempt its lease took, so an interrupted job counts
//     as one never interrupted;
//   - every lease of a job but its last ended in a hand-back (none expired,
//     failed or was retried), and no job ever held two leases at once (in
//     the order of its events, each lease ends before the next begins).
//
// Nothing asserts how long anything took: waits are polls with deadlines
// that only keep a broken build from hanging. If SLURM cannot start, every
// test fails with the daemons' logs.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/slurm_cluster.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

#ifndef MIXSWEEP_SOURCE_DIR
#error "MIXSWEEP_SOURCE_DIR must name the source tree"
#endif

namespace mixsweep::testing {
namespace {

using namespace std::chrono_literals;

const std::string kSourceDir = MIXSWEEP_SOURCE_DIR;

// One cluster for the binary (started once, like the PostgreSQL harness);
// a failed start is kept and reported by every test rather than skipping.
class SlurmEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    cluster_ = SlurmCluster::Start(kSourceDir + "/scripts/slurm-local-cluster.sh", 2);
  }
  void TearDown() override { cluster_ = absl::UnavailableError("torn down"); }
  static const absl::StatusOr<std::unique_ptr<SlurmCluster>>& cluster() { return cluster_; }

 private:
  static inline absl::StatusOr<std::unique_ptr<SlurmCluster>> cluster_ =
      absl::UnavailableError("not started");
};

// 4 teleop-only train jobs of 13,000 steps, one GPU each: under SLURM (10
// synthetic steps a second) a job is still running when SLURM's signal
// comes; the plain worker (20,000 a second) finishes each in under a second.
std::string FourTrainJobs() {
  std::string yaml = Replace(PickDualBottles(), "n_tele: [50, 100, 200]", "n_tele: [50, 100]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0]");
  return Replace(yaml, "seeds: [0, 1, 2]", "seeds: [0, 1]");
}
constexpr int64_t kJobs = 4;

class SlurmE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& cluster = SlurmEnvironment::cluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status().message();
    slurm_ = cluster->get();
    dsn_ = CreateTestDatabase();
    // A short lease TTL: a hand-back that never arrived would show up
    // within the test as an expired lease (a lost attempt), not as a hang.
    daemon_ = Daemon::Start({.database = dsn_,
                             .extra_args = {"--artifact-root", "file://" + MakeTempDir("artifacts"),
                                            "--lease-ttl-seconds", "10", "--heartbeat-seconds",
                                            "2"}});
    worker_token_ = daemon_.CreateToken("slurm-worker", "worker");
    const CommandResult submit = daemon_.Cli({"sweep", "submit", WriteSpec(FourTrainJobs())});
    ASSERT_EQ(submit.exit_code, 0) << submit.err << daemon_.LogTail();
    ASSERT_EQ(Jobs("true"), kJobs) << submit.out;
    job_dir_ = MakeTempDir("slurm-jobs");
  }

  void TearDown() override {
    // A failed test must not leave its worker in the cluster for the next.
    for (const std::string& id : slurm_jobs_) slurm_->Run({"scancel", "--full", id});
  }

  // sbatch deploy/slurm/mixsweep-worker.sbatch on this node (no GPU gres,
  // one CPU) with `extra` options; the worker runs synthetic jobs slowly.
  // SLURM allocates no GPU here (the worker's --gpus becomes "none");
  // --synthetic-gpus 1 takes precedence, as it does outside SLURM.
  std::string SubmitWorker(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--gres=none", "--cpus-per-task=1",
                                     "--output=" + job_dir_ + "/worker-%j.log",
                                     "--chdir=" + job_dir_, "--export=ALL"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(kSourceDir + "/deploy/slurm/mixsweep-worker.sbatch");
    absl::StatusOr<std::string> id = slurm_->Submit(
        args, {{"MIXSWEEP_SERVER", daemon_.address()},
               {"MIXSWEEP_TOKEN_FILE", worker_token_},
               {"MIXSWEEP_WORKER_BIN", MIXSWEEP_WORKER_BIN},
               // Well inside KillWait (5 s): the hand-back beats SIGKILL.
               {"MIXSWEEP_STOP_GRACE_SECONDS", "2"},
               {"MIXSWEEP_WORKER_ARGS",
                "--synthetic --synthetic-gpus 1 --synthetic-steps-per-second 10 "
                "--lease-wait-seconds 2"}});
    EXPECT_TRUE(id.ok()) << id.status().message();
    if (!id.ok()) return "";
    slurm_jobs_.push_back(*id);
    return *id;
  }

  std::string WorkerLog(const std::string& slurm_job) const {
    return ReadFile(job_dir_ + "/worker-" + slurm_job + ".log");
  }

  // Everything a failure message needs about one SLURM job.
  std::string Context(const std::string& slurm_job) const {
    return absl::StrCat("\nworker log:\n", WorkerLog(slurm_job), "\n",
                        slurm_->Describe(slurm_job), "\njobs:\n", JobTable(),
                        "\ndaemon log:\n", daemon_.LogTail());
  }

  // The worker of `slurm_job` registers with its SLURM labels and starts a
  // job; returns that job's id (0 on failure).
  int64_t WaitForRunningJob(const std::string& slurm_job) {
    const std::string by_label = "labels->>'slurm-job' = '" + slurm_job + "'";
    if (!WaitUntil([&] { return QueryInt(dsn_, "SELECT count(*) FROM workers WHERE " +
                                                   by_label) == 1; },
                   60s)) {
      ADD_FAILURE() << "no worker labelled slurm-job=" << slurm_job << Context(slurm_job);
      return 0;
    }
    EXPECT_EQ(QueryInt(dsn_, "SELECT count(*) FROM workers WHERE " + by_label +
                                 " AND labels->>'slurm-partition' = 'local'"),
              1)
        << "the worker is not labelled slurm-partition=local" << Context(slurm_job);
    const std::string running = "SELECT coalesce(max(j.id), 0) FROM jobs j JOIN workers w "
                                "ON w.id = j.lease_worker_id WHERE j.state = 'running' AND w." +
                                by_label;
    if (!WaitUntil([&] { return QueryInt(dsn_, running) > 0; }, 60s)) {
      ADD_FAILURE() << "the SLURM worker started no job" << Context(slurm_job);
      return 0;
    }
    return QueryInt(dsn_, running);
  }

  // After SLURM's signal: the SLURM job ended in `state`, the worker exited
  // by itself (not SIGKILLed), and `job` is queued again as preempted with
  // its attempt given back.
  void ExpectHandedBackAsPreempted(const std::string& slurm_job, int64_t job,
                                   const std::string& state) {
    ASSERT_TRUE(WaitUntil([&] { return slurm_->JobEnded(slurm_job); }, 180s))
        << "the SLURM job did not end" << Context(slurm_job);
    EXPECT_EQ(slurm_->JobState(slurm_job), state) << Context(slurm_job);
    EXPECT_NE(WorkerLog(slurm_job).find("every job handed back or finished; exiting"),
              std::string::npos)
        << "the worker did not exit by itself before SIGKILL" << Context(slurm_job);
    const std::string id = std::to_string(job);
    EXPECT_EQ(QueryInt(dsn_, "SELECT count(*) FROM events WHERE job_id = " + id +
                                 " AND kind = 'job.handed_back' "
                                 "AND detail->>'reason' = 'preempted'"),
              1)
        << Context(slurm_job);
    EXPECT_EQ(QueryInt(dsn_, "SELECT count(*) FROM jobs WHERE id = " + id +
                                 " AND state = 'queued' AND attempts = 0"),
              1)
        << "not queued again with its attempt given back" << Context(slurm_job);
  }

  // A plain worker outside SLURM runs what is left; then every job has
  // succeeded with no attempt lost and no overlapping leases.
  void FinishElsewhereWithNoAttemptLost() {
    WorkerProcess finisher = WorkerProcess::Start(
        daemon_, "finisher", {"--synthetic", "--synthetic-gpus", "2"}, worker_token_);
    ASSERT_TRUE(WaitUntil([&] { return Jobs("state = 'succeeded'") == kJobs; }, 120s))
        << JobTable() << "\nfinisher log:\n" << finisher.LogTail() << daemon_.LogTail();
    finisher.Kill(SIGTERM);
    EXPECT_EQ(Jobs("attempts = 1"), kJobs) << JobTable();
    EXPECT_EQ(QueryInt(dsn_, "SELECT count(*) FROM events WHERE kind IN ('job.lease_expired', "
                             "'job.retrying', 'job.failed')"),
              0)
        << JobTable();
    ExpectLeasesNeverOverlap();
  }

  // Walks each job's events in order: a lease begins with job.leased and
  // ends with a hand-back or an end of the attempt; a second job.leased
  // while one is live would be two workers on one job. Every lease but the
  // last must end in a hand-back, and the last in job.succeeded.
  void ExpectLeasesNeverOverlap() {
    std::map<int64_t, std::vector<std::string>> events;
    for (const auto& row : Query(dsn_, "SELECT job_id, kind FROM events WHERE job_id IS NOT "
                                       "NULL AND kind LIKE 'job.%' ORDER BY id")) {
      events[row[0].as<int64_t>()].push_back(row[1].as<std::string>());
    }
    ASSERT_EQ(static_cast<int64_t>(events.size()), kJobs);
    const std::set<std::string> lease_ends = {"job.handed_back", "job.succeeded", "job.failed",
                                              "job.retrying",    "job.lease_expired",
                                              "job.cancelled"};
    for (const auto& [job, kinds] : events) {
      SCOPED_TRACE("job " + std::to_string(job) + ": " + absl::StrJoin(kinds, " "));
      bool live = false;
      std::vector<std::string> ends;
      for (const std::string& kind : kinds) {
        if (kind == "job.leased") {
          EXPECT_FALSE(live) << "leased again while a lease was live";
          live = true;
        } else if (lease_ends.count(kind) > 0) {
          EXPECT_TRUE(live) << kind << " without a live lease";
          live = false;
          ends.push_back(kind);
        }
      }
      ASSERT_FALSE(ends.empty());
      EXPECT_EQ(ends.back(), "job.succeeded");
      for (size_t i = 0; i + 1 < ends.size(); ++i) EXPECT_EQ(ends[i], "job.handed_back");
    }
  }

  int64_t Jobs(const std::string& where) const {
    return QueryInt(dsn_, "SELECT count(*) FROM jobs WHERE " + where);
  }

  std::string JobTable() const {
    std::ostringstream out;
    for (const auto& row : Query(dsn_, "SELECT j.id, j.state, j.attempts, coalesce(w.name, ''), "
                                       "coalesce(j.failure::text, '') FROM jobs j LEFT JOIN "
                                       "workers w ON w.id = j.lease_worker_id ORDER BY j.id")) {
      out << "job " << row[0].c_str() << " " << row[1].c_str() << " attempts " << row[2].c_str()
          << " worker '" << row[3].c_str() << "' " << row[4].c_str() << "\n";
    }
    return out.str();
  }

  const SlurmCluster* slurm_ = nullptr;
  std::string dsn_;
  Daemon daemon_;
  std::string worker_token_;
  std::string job_dir_;
  std::vector<std::string> slurm_jobs_;
};

// Preemption as scancel delivers it: SIGTERM to the batch step only (the
// job is not cancelled; it ends when the worker exits, COMPLETED).
TEST_F(SlurmE2E, ScancelSignalTermHandsTheRunningJobBackAsPreempted) {
  const std::string slurm_job = SubmitWorker({"--time=10"});
  ASSERT_FALSE(slurm_job.empty());
  const int64_t job = WaitForRunningJob(slurm_job);
  ASSERT_GT(job, 0);

  const CommandResult signal = slurm_->Run({"scancel", "--signal=TERM", "--batch", slurm_job});
  ASSERT_EQ(signal.exit_code, 0) << signal.err;
  ExpectHandedBackAsPreempted(slurm_job, job, "COMPLETED");
  FinishElsewhereWithNoAttemptLost();
}

// The time limit with no early warning: SLURM's SIGTERM at the limit (the
// one-minute minimum; its timer checks every 30 s), SIGKILL KillWait later.
// `--signal=B:TERM@0` replaces the script's `@180` lead by none, so the
// hand-back races the real kill.
TEST_F(SlurmE2E, TimeLimitKillHandsTheRunningJobBackBeforeSigkill) {
  const std::string slurm_job = SubmitWorker({"--time=1", "--signal=B:TERM@0"});
  ASSERT_FALSE(slurm_job.empty());
  const int64_t job = WaitForRunningJob(slurm_job);
  ASSERT_GT(job, 0);

  ExpectHandedBackAsPreempted(slurm_job, job, "TIMEOUT");
  FinishElsewhereWithNoAttemptLost();
}

}  // namespace
}  // namespace mixsweep::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Registration order: PostgreSQL is set up first and torn down last.
  ::testing::AddGlobalTestEnvironment(new mixsweep::testing::PgEnvironment);
  ::testing::AddGlobalTestEnvironment(new mixsweep::testing::SlurmEnvironment);
  return RUN_ALL_TESTS();
}
