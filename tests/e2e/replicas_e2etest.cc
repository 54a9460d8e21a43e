// Two mixsweepd replicas on one database, end to end: real daemons, workers
// and lab as separate processes. Workers and the lab are given both
// addresses (gRPC's pick_first: the first that answers); one replica is
// killed with SIGKILL mid-sweep, together with a worker holding a lease.
//
// What must hold: the surviving replica takes over the loops that run once
// (lease expiry, recomputation) and reports how long that took; every job
// succeeds exactly once and only the killed worker's job needed a second
// attempt; a job never had two live leases; every evaluation is recorded and
// every estimate computed; a WatchEstimates stream on the survivor saw the
// versions computed by the other replica before it died, and its own after.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/daemon.h"
#include "tests/support/estimate_watch.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/synthetic_lab.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {

using namespace std::chrono_literals;

// Both replicas for a client: gRPC tries the addresses in order.
struct ReplicaSet {
  const Daemon& first;
  const Daemon& second;
  std::string address() const {
    return "ipv4:" + first.address() + "," + second.address();
  }
  const std::string& token_file() const { return first.token_file(); }
};

constexpr char kExpiryTaken[] = "now running lease expiry";
constexpr char kRecomputeTaken[] = "now running estimate recomputation";

bool LogHas(const Daemon& daemon, const std::string& text) {
  return ReadFile(daemon.log_path()).find(text) != std::string::npos;
}

int64_t Jobs(const std::string& dsn, const std::string& where_sql) {
  return QueryInt(dsn, "SELECT count(*) FROM jobs WHERE " + where_sql);
}

// Leases granted while the job's previous lease had not ended: for each
// job.leased event after the first, no ending event between it and the one
// before.
constexpr char kOverlappingLeases[] = R"sql(
WITH leased AS (
  SELECT job_id, id, lag(id) OVER (PARTITION BY job_id ORDER BY id) AS previous
  FROM events WHERE kind = 'job.leased')
SELECT count(*) FROM leased l
WHERE l.previous IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM events e
  WHERE e.job_id = l.job_id AND e.id > l.previous AND e.id < l.id
    AND e.kind IN ('job.lease_expired', 'job.handed_back', 'job.retrying', 'job.failed',
                   'job.cancelled')))sql";

TEST(ReplicasE2E, TheSurvivorOfTwoReplicasTakesOverTheLoopsAndNothingIsLostOrDoneTwice) {
  const std::string dsn = CreateTestDatabase();
  const std::string artifacts = MakeTempDir("artifacts");
  const std::vector<std::string> args = {
      "--artifact-root", "file://" + artifacts, "--lease-ttl-seconds", "3",
      "--heartbeat-seconds", "1", "--expiry-interval-seconds", "0.5",
      "--retry-base-seconds", "0", "--estimate-resamples", "200",
      "--recompute-interval-seconds", "0.5"};
  Daemon a = Daemon::Start({.database = dsn, .extra_args = args});
  ASSERT_TRUE(WaitUntil([&] { return LogHas(a, kExpiryTaken) && LogHas(a, kRecomputeTaken); },
                        30s))
      << a.LogTail();
  Daemon b = Daemon::Start({.database = dsn, .extra_args = args, .token_file = a.token_file()});
  const ReplicaSet both{a, b};

  // Submitted through B; the watch is on B; workers and the lab go to A first.
  CommandResult submitted = b.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err << b.LogTail();
  const int64_t total_jobs = Jobs(dsn, "true");
  ASSERT_GT(total_jobs, 10);
  EstimateWatch watch(b.Channel(), /*sweep_id=*/1);
  const std::vector<std::string> synthetic = {"--synthetic", "--synthetic-gpus", "1",
                                              "--synthetic-steps-per-second", "8000"};
  WorkerProcess w1 = WorkerProcess::Start(both, "w1", synthetic);
  WorkerProcess w2 = WorkerProcess::Start(both, "w2-doomed", synthetic);
  WorkerProcess w3 = WorkerProcess::Start(b, "w3", synthetic);
  const std::string lab_log = MakeTempDir("lab") + "/lab.log";
  Process lab = StartSyntheticLab(both, {.log = lab_log, .exit_when_idle_seconds = 8});

  // Mid-sweep: some estimates computed (by A, the only one recomputing), and
  // the doomed worker running a job.
  const std::string doomed_running =
      "state = 'running' AND lease_worker_id = (SELECT id FROM workers WHERE name = 'w2-doomed')";
  ASSERT_TRUE(WaitUntil(
      [&] { return !watch.updates().empty() && Jobs(dsn, doomed_running) == 1; }, 120s))
      << "updates " << watch.updates().size() << "\n"
      << a.LogTail() << w2.LogTail();
  ASSERT_FALSE(LogHas(b, kExpiryTaken)) << "B ran a loop that A held\n" << b.LogTail();
  ASSERT_FALSE(LogHas(b, kRecomputeTaken)) << b.LogTail();
  const int64_t doomed_job = QueryInt(dsn, "SELECT id FROM jobs WHERE " + doomed_running);
  const size_t updates_from_a = watch.updates().size();

  const auto killed_at = std::chrono::steady_clock::now();
  a.Kill(SIGKILL);
  w2.Kill(SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return LogHas(b, kExpiryTaken); }, 60s, 10ms)) << b.LogTail();
  const auto expiry_taken = std::chrono::steady_clock::now() - killed_at;
  ASSERT_TRUE(WaitUntil([&] { return LogHas(b, kRecomputeTaken); }, 60s, 10ms)) << b.LogTail();
  const auto recompute_taken = std::chrono::steady_clock::now() - killed_at;

  ASSERT_TRUE(WaitUntil([&] { return Jobs(dsn, "state <> 'succeeded'") == 0; }, 240s))
      << b.LogTail() << w1.LogTail() << w3.LogTail();
  const auto all_succeeded = std::chrono::steady_clock::now() - killed_at;
  const int64_t requests = QueryInt(dsn, "SELECT count(*) FROM evaluation_requests");
  ASSERT_TRUE(WaitForEvaluations(b, dsn, requests, lab_log));
  EXPECT_EQ(lab.Wait(), 0) << FileTail(lab_log);

  // Nothing lost, nothing done twice.
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM events WHERE kind = 'job.succeeded'"), total_jobs);
  EXPECT_EQ(QueryInt(dsn, "SELECT count(DISTINCT job_id) FROM events WHERE kind = 'job.succeeded'"),
            total_jobs);
  EXPECT_EQ(QueryInt(dsn, kOverlappingLeases), 0);
  // Only the killed worker's job was run twice; the replica's death cost no
  // attempt (its workers' calls went to B).
  EXPECT_EQ(Jobs(dsn, "attempts <> 1"), 1);
  EXPECT_EQ(Jobs(dsn, "id = " + std::to_string(doomed_job) + " AND attempts = 2"), 1);
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM events WHERE kind = 'job.lease_expired'"), 1);
  // Every estimate is fresh, and B's stream saw versions from both replicas.
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM stale_estimates"), 0);
  EXPECT_GT(watch.updates().size(), updates_from_a) << "no update computed by B reached its watch";
  EXPECT_TRUE(w1.running()) << w1.LogTail();

  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::cout << "FIGURE: replica SIGKILL: lease expiry taken over after "
            << duration_cast<milliseconds>(expiry_taken).count()
            << " ms, recomputation after " << duration_cast<milliseconds>(recompute_taken).count()
            << " ms (loop interval 500 ms); the killed worker's job requeued and all "
            << total_jobs << " jobs succeeded " << duration_cast<milliseconds>(all_succeeded).count()
            << " ms after the kill; " << updates_from_a << " estimate versions from A and "
            << watch.updates().size() - updates_from_a << " from B on B's stream" << std::endl;
}

}  // namespace
}  // namespace mixsweep::testing
