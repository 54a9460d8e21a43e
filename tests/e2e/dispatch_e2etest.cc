// End to end: sweeps run to completion by real mixsweep-worker agents, each a
// separate process, leasing over real gRPC from a real mixsweepd on a real
// PostgreSQL: the synthetic executor on the seed-000 sweep, and a real
// command template (tests/e2e/data/fake_train.sh) on a CPU-only worker.
#include <filesystem>
#include <map>
#include <set>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/str_replace.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/example_specs.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
namespace v1 = mixsweep::v1;
using namespace std::chrono_literals;

// A file:// URI or a plain path -> the path.
std::string PathOf(const std::string& uri) {
  return uri.starts_with("file://") ? uri.substr(7) : uri;
}

// proto3 JSON writes int64 as a string.
int64_t AsInt(const json& value) {
  if (value.is_string()) return std::stoll(value.get<std::string>());
  if (value.is_number()) return value.get<int64_t>();
  return 0;
}

// mixsweepd on the test's own database, with job outputs in a temp dir.
struct TestServer {
  std::string dsn;
  std::string artifacts;
  Daemon daemon;
};

TestServer StartDaemon(std::vector<std::string> extra_args = {}) {
  TestServer s;
  s.dsn = CreateTestDatabase();
  s.artifacts = MakeTempDir("artifacts");
  extra_args.insert(extra_args.end(), {"--artifact-root", "file://" + s.artifacts});
  s.daemon = Daemon::Start({.database = s.dsn, .extra_args = extra_args});
  return s;
}

int64_t Count(const std::string& dsn, const std::string& where_sql) {
  return QueryInt(dsn, "SELECT count(*) FROM jobs WHERE " + where_sql);
}

// Waits until no job is left to run (or the bounded wait ends).
bool WaitForAllJobsToEnd(const std::string& dsn, std::chrono::milliseconds timeout = 120s) {
  return WaitUntil(
      [&] {
        return Count(dsn, "state NOT IN ('succeeded', 'failed', 'cancelled')") == 0 &&
               Count(dsn, "true") > 0;
      },
      timeout);
}

std::string JobStates(const std::string& dsn) {
  std::ostringstream out;
  for (const auto& row : Query(dsn,
                               "SELECT id, kind, state, attempts, coalesce(failure::text, '') "
                               "FROM jobs ORDER BY id")) {
    out << "job " << row[0].as<int64_t>() << " " << row[1].as<std::string>() << " "
        << row[2].as<std::string>() << " attempts " << row[3].as<int>() << " "
        << row[4].as<std::string>() << "\n";
  }
  return out.str();
}

// Every job has exactly one job.succeeded event: none lost, none twice.
void ExpectEachJobSucceededExactlyOnce(const std::string& dsn, int64_t jobs) {
  EXPECT_EQ(QueryInt(dsn, "SELECT count(*) FROM events WHERE kind = 'job.succeeded'"), jobs);
  EXPECT_EQ(QueryInt(dsn, "SELECT count(DISTINCT job_id) FROM events WHERE kind = 'job.succeeded'"),
            jobs);
  EXPECT_EQ(QueryInt(dsn,
                     "SELECT count(*) FROM (SELECT job_id FROM events "
                     "WHERE kind = 'job.succeeded' GROUP BY job_id HAVING count(*) > 1) d"),
            0);
}

// The whole log of a job: `mixsweep job logs ID` when the CLI has it, else
// the ReadJobLog stream.
std::string ReadLogOverGrpc(const Daemon& daemon, int64_t job_id) {
  auto stub = v1::SweepService::NewStub(
      daemon.Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 30s);
  v1::ReadJobLogRequest request;
  request.set_job_id(job_id);
  auto reader = stub->ReadJobLog(&context, request);
  std::string log;
  v1::LogChunk chunk;
  while (reader->Read(&chunk)) {
    EXPECT_EQ(chunk.offset(), static_cast<int64_t>(log.size())) << "a gap or overlap in the log";
    log += chunk.data();
  }
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return log;
}

TEST(DispatchE2E, SeedZeroSweepRunsToCompletionOnTwoSyntheticWorkers) {
  // A 10 s lease TTL: a lease lost for any reason is retried soon.
  TestServer s = StartDaemon({"--lease-ttl-seconds", "10", "--heartbeat-seconds", "2"});
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << s.daemon.LogTail();

  std::vector<WorkerProcess> workers;
  for (const char* name : {"synth-a", "synth-b"}) {
    workers.push_back(
        WorkerProcess::Start(s.daemon, name, {"--synthetic", "--synthetic-gpus", "2"}));
  }
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn))
      << JobStates(s.dsn) << s.daemon.LogTail() << workers[0].LogTail() << workers[1].LogTail();
  ASSERT_EQ(Count(s.dsn, "state = 'succeeded'"), 21) << JobStates(s.dsn);

  // Both workers took part (two workers, 21 jobs, 4 GPUs).
  EXPECT_EQ(QueryInt(s.dsn, "SELECT count(DISTINCT lease_worker_id) FROM jobs"), 2);
  ExpectEachJobSucceededExactlyOnce(s.dsn, 21);

  // Each shared pretrain ran exactly once (started once, one attempt), and
  // its three finetunes all continued from it.
  const pqxx::result pretrains =
      Query(s.dsn,
            "SELECT j.id, j.attempts, j.checkpoint_uri, "
            "(SELECT count(*) FROM events e WHERE e.job_id = j.id AND e.kind = 'job.running'), "
            "(SELECT count(*) FROM jobs f WHERE f.depends_on_job_id = j.id) "
            "FROM jobs j WHERE j.kind = 'pretrain' ORDER BY j.id");
  ASSERT_EQ(pretrains.size(), 3u);
  for (const auto& row : pretrains) {
    SCOPED_TRACE("pretrain job " + row[0].as<std::string>());
    EXPECT_EQ(row[1].as<int>(), 1) << "attempts";
    EXPECT_EQ(row[3].as<int>(), 1) << "times started (job.running events)";
    EXPECT_EQ(row[4].as<int>(), 3);
  }

  // Each finetune was leased only after its pretrain succeeded (in the
  // order of the events: the times are each RPC's own, read before its
  // transaction), and its checkpoint says it was initialised from the
  // pretrain's checkpoint.
  const pqxx::result finetunes =
      Query(s.dsn,
            "SELECT f.id, "
            "(SELECT min(e.id) FROM events e WHERE e.job_id = f.id AND e.kind = 'job.leased') > "
            "(SELECT min(e.id) FROM events e WHERE e.job_id = p.id AND e.kind = 'job.succeeded'), "
            "f.checkpoint_uri, p.checkpoint_uri, "
            "f.provenance::text "
            "FROM jobs f JOIN jobs p ON p.id = f.depends_on_job_id "
            "WHERE f.kind = 'finetune' ORDER BY f.id");
  ASSERT_EQ(finetunes.size(), 9u);
  for (const auto& row : finetunes) {
    SCOPED_TRACE("finetune job " + row[0].as<std::string>());
    EXPECT_TRUE(row[1].as<bool>()) << "leased before its pretrain succeeded";
    const json checkpoint = json::parse(ReadFile(PathOf(row[2].as<std::string>())));
    EXPECT_EQ(checkpoint.value("init_checkpoint", ""), row[3].as<std::string>());
    EXPECT_TRUE(json::parse(row[4].as<std::string>()).value("synthetic", false));
  }

  // Every job's checkpoint is on disk under the artifact root.
  for (const auto& row : Query(s.dsn, "SELECT id, checkpoint_uri FROM jobs ORDER BY id")) {
    SCOPED_TRACE("job " + row[0].as<std::string>());
    ASSERT_FALSE(row[1].is_null());
    const std::string path = PathOf(row[1].as<std::string>());
    EXPECT_TRUE(path.starts_with(s.artifacts + "/")) << path;
    EXPECT_TRUE(fs::is_regular_file(path)) << path;
  }

  // Every run trained, with its final checkpoint (the train's or the finetune's).
  CommandResult show = s.daemon.Cli({"--json", "sweep", "show", "1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const json sweep = json::parse(show.out);
  ASSERT_EQ(sweep["runs"].size(), 18u);
  for (const auto& run : sweep["runs"]) EXPECT_EQ(run["state"], "RUN_STATE_TRAINED") << run.dump();
  EXPECT_EQ(QueryInt(s.dsn,
                     "SELECT count(*) FROM runs r JOIN jobs j "
                     "ON j.id = coalesce(r.train_job_id, r.finetune_job_id) "
                     "WHERE r.checkpoint_uri = j.checkpoint_uri"),
            18);

  for (WorkerProcess& w : workers) w.Kill(SIGKILL);
}

// Short jobs on workers with several GPUs: a worker whose GPUs free up
// while its long poll is out cancels it and asks again with more GPUs. A
// lease granted to the cancelled call must not be lost (it would sit until
// its TTL and then cost the job an attempt).
TEST(DispatchE2E, ManyShortJobsOnMultiGpuWorkersLoseNoLease) {
  TestServer s = StartDaemon({"--lease-ttl-seconds", "3", "--heartbeat-seconds", "1",
                              "--expiry-interval-seconds", "0.5", "--retry-base-seconds", "0"});
  std::string yaml = Replace(PickDualBottles(), "n_tele: [50, 100, 200]",
                             "n_tele: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0, 100]");
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
  yaml = Replace(yaml, "total_steps: 13000\n  pretrain_steps: 10000\n  finetune_steps: 3000",
                 "total_steps: 1000\n  pretrain_steps: 600\n  finetune_steps: 400");
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(yaml)});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << s.daemon.LogTail();
  ASSERT_NE(submit.out.find("200 runs, 210 jobs"), std::string::npos) << submit.out;

  std::vector<WorkerProcess> workers;
  for (const char* name : {"multi-a", "multi-b", "multi-c"}) {
    workers.push_back(
        WorkerProcess::Start(s.daemon, name, {"--synthetic", "--synthetic-gpus", "4"}));
  }
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn)) << JobStates(s.dsn) << s.daemon.LogTail();
  EXPECT_EQ(Count(s.dsn, "state = 'succeeded'"), 210);
  ExpectEachJobSucceededExactlyOnce(s.dsn, 210);

  // Nobody died: no lease may have expired, and every job ran once.
  const int64_t expired =
      QueryInt(s.dsn, "SELECT count(*) FROM events WHERE kind = 'job.lease_expired'");
  std::ostringstream lost;
  for (const auto& row :
       Query(s.dsn,
             "SELECT e.job_id, e.detail->>'worker_id', e.at::text FROM events e "
             "WHERE e.kind = 'job.leased' AND e.job_id IN "
             "(SELECT job_id FROM events WHERE kind = 'job.lease_expired') ORDER BY e.id "
             "LIMIT 20")) {
    lost << "job " << row[0].as<std::string>() << " leased to worker " << row[1].as<std::string>()
         << " at " << row[2].as<std::string>() << "\n";
  }
  // Which of the expired leases did their worker ever see?
  const ExpiredLeases leases = CountExpiredLeases(s.dsn, workers);
  lost << "of the " << leases.recorded << " jobs whose failure record is still the expiry, "
       << leases.never_received
       << " had a lease that never reached its worker (no 'leased job ... (token T' line)\n";
  EXPECT_EQ(expired, 0) << "leases granted to workers that never heard of them:\n" << lost.str();
  EXPECT_EQ(Count(s.dsn, "attempts <> 1"), 0);
  std::cout << "FIGURE: 210 short jobs on 3 workers x 4 GPUs, no fault: " << expired
            << " leases lost (expired after the TTL), " << Count(s.dsn, "attempts > 1")
            << " jobs charged a second attempt" << std::endl;
  for (WorkerProcess& w : workers) w.Kill(SIGKILL);
}

// The templates of the example with a real (small) training script.
std::string FakeTrainSpec() {
  const std::string script = std::string(MIXSWEEP_SOURCE_DIR) + "/tests/e2e/data/fake_train.sh";
  auto stage = [&](const std::string& name, bool init) {
    return "  " + name + ":\n    argv: [/bin/bash, \"" + script +
           "\", \"--dataset={dataset}\", \"--steps={steps}\", \"--out={output_dir}\", "
           "\"--manifest={subset_manifest}\"" +
           (init ? ", \"--init={init_checkpoint}\"" : "") +
           "]\n    env: {FAKE_TRAIN: \"1\"}\n"
           "    checkpoint: \"{output_dir}/checkpoints/last.ckpt\"\n"
           "    no_retry_exit_codes: [2]\n";
  };
  std::string yaml = PickDualBottles();
  const size_t templates = yaml.find("templates:\n");
  const size_t costs = yaml.find("costs:\n");
  EXPECT_NE(templates, std::string::npos);
  EXPECT_NE(costs, std::string::npos);
  yaml = yaml.substr(0, templates) + "templates:\n" + stage("train", false) +
         stage("pretrain", false) + stage("finetune", true) + "resources:\n  gpus: 0\n" +
         yaml.substr(costs);
  yaml = Replace(yaml, "n_tele: [50, 100, 200]", "n_tele: [5, 10]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0, 20]");
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [7]");
  yaml = Replace(yaml, "total_steps: 13000\n  pretrain_steps: 10000\n  finetune_steps: 3000",
                 "total_steps: 3000\n  pretrain_steps: 2000\n  finetune_steps: 1000");
  return yaml;
}

TEST(DispatchE2E, RealCommandTemplateRunsOnACpuWorker) {
  TestServer s = StartDaemon();
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(FakeTrainSpec())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << s.daemon.LogTail();
  EXPECT_NE(submit.out.find("4 runs, 5 jobs"), std::string::npos) << submit.out;

  WorkerProcess worker = WorkerProcess::Start(s.daemon, "cpu-worker",
                                              {"--gpus", "none", "--cpu-slots", "2"});
  ASSERT_TRUE(WaitForAllJobsToEnd(s.dsn))
      << JobStates(s.dsn) << s.daemon.LogTail() << worker.LogTail();
  ASSERT_EQ(Count(s.dsn, "state = 'succeeded'"), 5) << JobStates(s.dsn) << worker.LogTail();
  ExpectEachJobSucceededExactlyOnce(s.dsn, 5);

  const std::string script = std::string(MIXSWEEP_SOURCE_DIR) + "/tests/e2e/data/fake_train.sh";
  std::map<int64_t, json> jobs;
  for (const auto& row : Query(s.dsn, "SELECT id FROM jobs ORDER BY id")) {
    const int64_t id = row[0].as<int64_t>();
    CommandResult show = s.daemon.Cli({"--json", "job", "show", std::to_string(id)});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    jobs[id] = json::parse(show.out);
  }

  // `mixsweep job logs` is newer than this test may be: use it when there.
  const bool cli_has_logs = s.daemon.Cli({"job", "logs", "--help"}).exit_code == 0;
  if (!cli_has_logs)
    std::cout << "note: `mixsweep job logs` not available; reading logs over gRPC\n";

  for (const auto& [id, job] : jobs) {
    SCOPED_TRACE("job " + std::to_string(id) + " " + job.value("kind", ""));
    const int64_t steps = AsInt(job["steps"]);
    const int64_t n_demos = AsInt(job["n_demos"]);
    ASSERT_GT(steps, 0);

    // Progress parsed from the lerobot-style lines (the last one says
    // step:NK of N*1000 steps) and the command as run, as stored from the
    // worker's reports...
    const pqxx::row stored = Query(s.dsn,
                                   "SELECT coalesce(progress::text, '{}'), "
                                   "coalesce(provenance::text, '{}') FROM jobs WHERE id = " +
                                       std::to_string(id))[0];
    const json progress = json::parse(stored[0].as<std::string>());
    EXPECT_EQ(AsInt(progress.value("step", json())), steps) << progress.dump();
    EXPECT_EQ(AsInt(progress.value("total_steps", json())), steps) << progress.dump();
    EXPECT_TRUE(progress.contains("metrics") && progress["metrics"].contains("loss"))
        << progress.dump();
    const json provenance = json::parse(stored[1].as<std::string>());
    ASSERT_TRUE(provenance.contains("argv")) << provenance.dump();
    ASSERT_GE(provenance["argv"].size(), 2u);
    EXPECT_EQ(provenance["argv"][0], "/bin/bash");
    EXPECT_EQ(provenance["argv"][1], script);
    EXPECT_FALSE(provenance.value("synthetic", false));
    EXPECT_EQ(provenance.value("env", json::object()).value("FAKE_TRAIN", ""), "1");

    // ... and as `mixsweep job show` shows them ("one job with its provenance").
    EXPECT_TRUE(job.contains("progress")) << "GetJob leaves the job's progress out";
    if (job.contains("progress")) {
      EXPECT_EQ(AsInt(job["progress"]["step"]), steps) << job["progress"].dump();
      EXPECT_EQ(AsInt(job["progress"]["total_steps"]), steps) << job["progress"].dump();
    }
    EXPECT_TRUE(job.contains("provenance")) << "GetJob leaves the job's provenance out";
    if (job.contains("provenance")) {
      EXPECT_EQ(job["provenance"]["argv"], provenance["argv"]) << job["provenance"].dump();
    }

    // The log holds the script's own output.
    const std::string log = ReadLogOverGrpc(s.daemon, id);
    EXPECT_NE(log.find("step:1K"), std::string::npos) << log;
    EXPECT_NE(log.find("fake_train: wrote"), std::string::npos) << log;
    if (cli_has_logs) {
      CommandResult cli_log = s.daemon.Cli({"job", "logs", std::to_string(id)});
      EXPECT_EQ(cli_log.exit_code, 0) << cli_log.err;
      EXPECT_NE(cli_log.out.find("fake_train: wrote"), std::string::npos) << cli_log.out;
    }

    // The subset manifest the worker wrote for {subset_manifest}: n_demos
    // episodes, the job's own.
    const std::string output_dir = PathOf(job.value("output_uri", ""));
    ASSERT_TRUE(output_dir.starts_with(s.artifacts + "/")) << output_dir;
    const std::string manifest_path = output_dir + "/subset_manifest.json";
    ASSERT_TRUE(fs::is_regular_file(manifest_path)) << manifest_path;
    const json manifest = json::parse(ReadFile(manifest_path));
    ASSERT_EQ(manifest["episodes"].size(), static_cast<size_t>(n_demos)) << manifest.dump();
    EXPECT_EQ(manifest.value("n", -1), n_demos);
    std::vector<int64_t> subset;
    for (const auto& e : job["subset_episodes"]) subset.push_back(AsInt(e));
    EXPECT_EQ(manifest["episodes"].get<std::vector<int64_t>>(), subset);

    // The checkpoint the script wrote, where the template says.
    const std::string checkpoint_path = PathOf(job.value("checkpoint_uri", ""));
    EXPECT_EQ(checkpoint_path, output_dir + "/checkpoints/last.ckpt");
    const json checkpoint = json::parse(ReadFile(checkpoint_path));
    EXPECT_EQ(checkpoint.value("steps", -1), steps);
    EXPECT_EQ(checkpoint.value("manifest", ""), manifest_path);

    // A finetune names its pretrain's checkpoint as its init checkpoint.
    if (job.value("kind", "") == "JOB_KIND_FINETUNE") {
      const int64_t pretrain = AsInt(job["depends_on_job_id"]);
      ASSERT_TRUE(jobs.count(pretrain));
      EXPECT_EQ(checkpoint.value("init_checkpoint", "?"),
                PathOf(jobs[pretrain].value("checkpoint_uri", "")));
    } else {
      EXPECT_EQ(checkpoint.value("init_checkpoint", "?"), "");
    }
  }

  // The human-readable view of a job.
  CommandResult show = s.daemon.Cli({"job", "show", "1"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("checkpoint "), std::string::npos) << show.out;
  worker.Kill(SIGTERM);
  EXPECT_EQ(worker.Wait(), 0) << worker.LogTail();
}

}  // namespace
}  // namespace mixsweep::testing
