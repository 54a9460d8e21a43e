// End to end: the real mixsweepd, driven by the real mixsweep CLI and by
// gRPC clients, over loopback, on a real PostgreSQL.
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/str_replace.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

namespace mixsweep::testing {
namespace {

using nlohmann::json;
namespace v1 = mixsweep::v1;

json ShowJson(const Daemon& daemon, int64_t id) {
  CommandResult r = daemon.Cli({"--json", "sweep", "show", std::to_string(id)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

std::map<std::string, int> CountBy(const json& items, const std::string& field) {
  std::map<std::string, int> counts;
  for (const auto& item : items) ++counts[item.value(field, std::string("?"))];
  return counts;
}

// Row counts of every table a submission writes.
std::map<std::string, int64_t> TableCounts(const std::string& dsn) {
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  std::map<std::string, int64_t> counts;
  for (const char* table : {"sweeps", "sweep_revisions", "jobs", "runs", "events",
                            "idempotency_keys"}) {
    counts[table] = tx.exec1(std::string("SELECT count(*) FROM ") + table)[0].as<int64_t>();
  }
  return counts;
}

TEST(SweepE2E, SeedZeroSweepExpandsTo18RunsAnd21JobsWithSharedPretrains) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  CommandResult submit = daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err << daemon.LogTail();
  EXPECT_NE(submit.out.find("submitted sweep 1: 18 runs, 21 jobs"), std::string::npos)
      << submit.out;

  const json sweep = ShowJson(daemon, 1);
  ASSERT_EQ(sweep["runs"].size(), 18u);
  ASSERT_EQ(sweep["jobs"].size(), 21u);
  // The owner is the principal of the token that submitted (the bootstrapped admin).
  EXPECT_EQ(sweep["sweep"]["owner"], "admin");
  const auto kinds = CountBy(sweep["jobs"], "kind");
  EXPECT_EQ(kinds.at("JOB_KIND_TRAIN"), 9);
  EXPECT_EQ(kinds.at("JOB_KIND_PRETRAIN"), 3);
  EXPECT_EQ(kinds.at("JOB_KIND_FINETUNE"), 9);

  // Every pretrain serves the three N_tele of its seed; every finetune
  // waits for one.
  std::map<int64_t, json> jobs_by_id;
  for (const auto& job : sweep["jobs"]) jobs_by_id[std::stoll(job["id"].get<std::string>())] = job;
  for (const auto& [id, job] : jobs_by_id) {
    if (job["kind"] == "JOB_KIND_PRETRAIN") {
      EXPECT_EQ(job["run_ids"].size(), 3u) << job.dump();
      EXPECT_EQ(job["state"], "JOB_STATE_QUEUED");
    }
    if (job["kind"] == "JOB_KIND_FINETUNE") {
      const int64_t pretrain = std::stoll(job["depends_on_job_id"].get<std::string>());
      ASSERT_TRUE(jobs_by_id.count(pretrain));
      EXPECT_EQ(jobs_by_id[pretrain]["kind"], "JOB_KIND_PRETRAIN");
      // proto3 JSON leaves out zeros (seed 0).
      EXPECT_EQ(jobs_by_id[pretrain].value("seed", "0"), job.value("seed", "0"));
      EXPECT_EQ(job["state"], "JOB_STATE_BLOCKED");
    }
  }

  // The human-readable view shows the same.
  CommandResult show = daemon.Cli({"sweep", "show", "1", "--jobs"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("runs 18 (pending 18)"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("train 9, pretrain 3, finetune 9"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("t200/sim/n1000/s2"), std::string::npos) << show.out;
}

TEST(SweepE2E, ExtendingWithAFourthSeedAddsExactlyItsRunsAndJobs) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  ASSERT_EQ(daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())}).exit_code, 0);
  const json before = ShowJson(daemon, 1);

  const std::string extended = Replace(PickDualBottles(), "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]");
  CommandResult r = daemon.Cli({"sweep", "extend", "1", WriteSpec(extended)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("+6 runs, +7 jobs"), std::string::npos) << r.out;

  const json after = ShowJson(daemon, 1);
  EXPECT_EQ(after["runs"].size(), 24u);
  EXPECT_EQ(after["jobs"].size(), 28u);
  EXPECT_EQ(after["sweep"]["revision"], 2);
  const auto kinds = CountBy(after["jobs"], "kind");
  EXPECT_EQ(kinds.at("JOB_KIND_TRAIN"), 12);
  EXPECT_EQ(kinds.at("JOB_KIND_PRETRAIN"), 4);
  EXPECT_EQ(kinds.at("JOB_KIND_FINETUNE"), 12);
  // Every run the sweep had is still there, unchanged.
  for (size_t i = 0; i < before["runs"].size(); ++i) {
    EXPECT_EQ(after["runs"][i]["id"], before["runs"][i]["id"]);
    EXPECT_EQ(after["runs"][i]["key"], before["runs"][i]["key"]);
  }
  // Extending with the same spec again adds nothing and is refused.
  CommandResult again = daemon.Cli({"sweep", "extend", "1", WriteSpec(extended)});
  EXPECT_EQ(again.exit_code, 3) << again.out << again.err;
  // Removing a value is not an extension.
  const std::string shrunk = Replace(PickDualBottles(), "n_tele: [50, 100, 200]", "n_tele: [50, 100]");
  CommandResult removed = daemon.Cli({"sweep", "extend", "1", WriteSpec(shrunk)});
  EXPECT_EQ(removed.exit_code, 3);
  EXPECT_NE(removed.err.find("n_tele"), std::string::npos) << removed.err;
  EXPECT_EQ(ShowJson(daemon, 1)["runs"].size(), 24u);
}

struct BadSpec {
  std::string name;
  std::string from;
  std::string to;
  std::string field;  // the error must name it
};

TEST(SweepE2E, EveryBadSpecIsRefusedWithItsFieldAndLineAndStoresNothing) {
  const std::string dsn = CreateTestDatabase();
  Daemon daemon = Daemon::Start({.database = dsn, .extra_args = {"--max-runs-per-sweep", "20"}});
  const std::vector<BadSpec> bad = {
      {"unknown key", "policy: diffusion_policy", "policy: diffusion_policy\ncolour: blue", "colour"},
      {"missing field", "policy: diffusion_policy\n", "", "policy"},
      {"wrong version", "version: 1", "version: 2", "version"},
      {"T_pre + T_ft != T_total", "finetune_steps: 3000", "finetune_steps: 2000", "protocol"},
      {"negative N", "n_tele: [50, 100, 200]", "n_tele: [50, -100, 200]", "n_tele"},
      {"duplicate N", "n_tele: [50, 100, 200]", "n_tele: [50, 100, 100]", "n_tele"},
      {"rubric not reaching 1", "score: 1.0}", "score: 0.9}", "rubric"},
      {"no teleop-only baseline", "n_nt: [0, 1000]", "n_nt: [1000]", "baseline"},
      {"unknown placeholder", "\"training.seed={seed}\", \"hydra.run.dir={output_dir}\", \"logging.name={job_id}\"",
       "\"training.seed={sed}\", \"hydra.run.dir={output_dir}\", \"logging.name={job_id}\"", "sed"},
      {"a baseline sweep that does not exist", "n_nt: [0, 1000]",
       "n_nt: [1000]\nbaseline_from_sweep: 999", "baseline_from_sweep"},
  };
  const auto empty = TableCounts(dsn);
  for (const BadSpec& spec : bad) {
    SCOPED_TRACE(spec.name);
    CommandResult r = daemon.Cli({"sweep", "submit", WriteSpec(Replace(PickDualBottles(), spec.from, spec.to))});
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(spec.field), std::string::npos) << r.err;
    if (spec.name != "a baseline sweep that does not exist") {
      EXPECT_NE(r.err.find("line "), std::string::npos) << r.err;
    }
    EXPECT_EQ(TableCounts(dsn), empty) << "a refused spec left rows behind";
  }
  // More runs than the server's limit is a quota (issue 5): RESOURCE_EXHAUSTED
  // with the count and the limit, and nothing stored either.
  for (bool validate_only : {false, true}) {
    std::vector<std::string> args = {"sweep", "submit"};
    if (validate_only) args.push_back("--validate-only");
    args.push_back(WriteSpec(Replace(PickDualBottles(), "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]")));
    CommandResult r = daemon.Cli(args);
    EXPECT_NE(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("RESOURCE_EXHAUSTED"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("line 1: (root): the sweep expands to 24 runs"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("more than the limit of 20 runs per sweep"), std::string::npos) << r.err;
    EXPECT_EQ(TableCounts(dsn), empty) << "a refused spec left rows behind";
  }
  // --validate-only checks and counts but stores nothing either.
  CommandResult check = daemon.Cli({"sweep", "submit", "--validate-only", WriteSpec(PickDualBottles())});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("18 runs, 21 jobs"), std::string::npos) << check.out;
  EXPECT_EQ(TableCounts(dsn), empty);
}

TEST(SweepE2E, CliExitCodesAreStable) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  EXPECT_EQ(daemon.Cli({"sweep", "show", "42"}).exit_code, 4);     // not found
  EXPECT_EQ(daemon.Cli({"sweep", "bogus"}).exit_code, 2);          // usage
  EXPECT_EQ(daemon.Cli({"sweep", "submit", "/nonexistent.yaml"}).exit_code, 2);
  ASSERT_EQ(daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())}).exit_code, 0);

  CommandResult cancel = daemon.Cli({"sweep", "cancel", "1", "--reason", "wrong dataset"});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_NE(cancel.out.find("21 queued jobs stopped"), std::string::npos) << cancel.out;
  // Cancelling again is harmless; extending a cancelled sweep is refused.
  EXPECT_EQ(daemon.Cli({"sweep", "cancel", "1"}).exit_code, 0);
  const std::string extended = Replace(PickDualBottles(), "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]");
  EXPECT_EQ(daemon.Cli({"sweep", "extend", "1", WriteSpec(extended)}).exit_code, 5);
  const json sweep = ShowJson(daemon, 1);
  EXPECT_EQ(sweep["sweep"]["state"], "SWEEP_STATE_CANCELLED");
  EXPECT_EQ(sweep["sweep"]["cancel_reason"], "wrong dataset");
  EXPECT_EQ(CountBy(sweep["jobs"], "state").at("JOB_STATE_CANCELLED"), 21);

  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0);
  CommandResult unreachable = daemon.Cli({"--timeout", "2", "sweep", "list"});
  EXPECT_EQ(unreachable.exit_code, 6) << unreachable.err;
}

TEST(SweepE2E, SubmitIsIdempotentPerKeyOverGrpc) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  auto stub = v1::SweepService::NewStub(
      daemon.Channel());
  auto submit = [&](const std::string& yaml, const std::string& key, v1::SubmitSweepResponse* out) {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_spec_yaml(yaml);
    request.set_idempotency_key(key);
    return stub->SubmitSweep(&context, request, out);
  };
  v1::SubmitSweepResponse first, second, other;
  ASSERT_TRUE(submit(PickDualBottles(), "k-1", &first).ok());
  ASSERT_TRUE(submit(PickDualBottles(), "k-1", &second).ok());
  EXPECT_EQ(first.sweep().id(), second.sweep().id());
  EXPECT_FALSE(first.replayed());
  EXPECT_TRUE(second.replayed());
  // The same key with another request is a client bug, said clearly.
  const std::string changed = Replace(PickDualBottles(), "priority: 0", "priority: 5");
  grpc::Status reused = submit(changed, "k-1", &other);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(reused.error_message().find("idempotency_key"), std::string::npos);
  // A new key is a new sweep.
  ASSERT_TRUE(submit(PickDualBottles(), "k-2", &other).ok());
  EXPECT_NE(other.sweep().id(), first.sweep().id());

  // Bad request fields name the field.
  grpc::ClientContext context;
  v1::GetSweepRequest get;
  get.set_sweep_id(-3);
  v1::GetSweepResponse response;
  grpc::Status bad_id = stub->GetSweep(&context, get, &response);
  EXPECT_EQ(bad_id.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad_id.error_message().find("sweep_id"), std::string::npos);
}

TEST(SweepE2E, WatchSweepStreamsTheSnapshotThenEachChange) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  ASSERT_EQ(daemon.Cli({"sweep", "submit", WriteSpec(PickDualBottles())}).exit_code, 0);
  auto stub = v1::SweepService::NewStub(
      daemon.Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::WatchSweepRequest request;
  request.set_sweep_id(1);
  auto reader = stub->WatchSweep(&context, request);
  v1::SweepProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  EXPECT_EQ(progress.sweep().state(), v1::SWEEP_STATE_ACTIVE);
  EXPECT_EQ(progress.sweep().counts().jobs_total(), 21);
  // A change made by another client reaches the watcher, and the stream ends
  // with the sweep.
  ASSERT_EQ(daemon.Cli({"sweep", "cancel", "1"}).exit_code, 0);
  ASSERT_TRUE(reader->Read(&progress));
  EXPECT_EQ(progress.sweep().state(), v1::SWEEP_STATE_CANCELLED);
  EXPECT_DOUBLE_EQ(progress.fraction_done(), 1.0);
  EXPECT_FALSE(reader->Read(&progress));
  EXPECT_TRUE(reader->Finish().ok());
}

// Each of `services` answers a grpc.health.v1 check with SERVING.
void ExpectServing(const std::shared_ptr<grpc::Channel>& channel,
                   const std::vector<std::string>& services) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string& service : services) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

TEST(SweepE2E, HealthAndReflectionAreServed) {
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase()});
  auto channel = daemon.Channel();

  ExpectServing(channel, {"", "mixsweep.v1.SweepService"});

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("*");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.insert(s.name());
  EXPECT_TRUE(services.count("mixsweep.v1.SweepService")) << response.DebugString();
  EXPECT_TRUE(services.count("grpc.health.v1.Health")) << response.DebugString();
  EXPECT_TRUE(stream->Finish().ok());
}

// --health-listen: health checks in plaintext for probes that cannot speak
// TLS (Kubernetes' grpc probes), and nothing of the API on that port.
TEST(SweepE2E, PlaintextHealthPortAnswersHealthChecksOnly) {
  const std::string port_file = MakeTempDir("health") + "/health.port";
  Daemon daemon = Daemon::Start({.database = CreateTestDatabase(),
                                 .extra_args = {"--health-listen", "127.0.0.1:0",
                                                "--health-port-file", port_file}});
  int port = 0;
  ASSERT_TRUE(WaitUntil([&] {
    std::ifstream in(port_file);
    return static_cast<bool>(in >> port) && port > 0;
  }));
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  ExpectServing(channel, {"", "mixsweep.v1.WorkerService"});
  auto sweeps = v1::SweepService::NewStub(channel);
  grpc::ClientContext context;
  v1::ListSweepsRequest request;
  v1::ListSweepsResponse response;
  EXPECT_EQ(sweeps->ListSweeps(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

// The connection string may come from the environment (a Secret), not argv.
TEST(SweepE2E, DatabaseComesFromMixsweepDatabaseWhenNotGiven) {
  const std::string dsn = CreateTestDatabase();
  const std::string dir = MakeTempDir("envdsn");
  Process migrate = Process::Start({MIXSWEEPD_BIN, "migrate"}, dir + "/migrate.log",
                                   {{"MIXSWEEP_DATABASE", dsn}});
  const int status = migrate.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(dir + "/migrate.log");
  EXPECT_GE(QueryInt(dsn, "SELECT count(*) FROM schema_migrations"), 7);
}

TEST(SweepE2E, TwoDaemonsMigratingOneDatabaseAtOnceBothSucceed) {
  const std::string dsn = CreateTestDatabase();
  const std::string dir = MakeTempDir("migrate");
  std::vector<Process> daemons;
  for (int i = 0; i < 3; ++i) {
    daemons.push_back(Process::Start({MIXSWEEPD_BIN, "--database", dsn, "migrate"},
                                     dir + "/migrate" + std::to_string(i) + ".log"));
  }
  for (Process& p : daemons) {
    const int status = p.Wait(std::chrono::seconds(60));
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(),
            tx.exec1("SELECT max(version) FROM schema_migrations")[0].as<int>());
  EXPECT_GE(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), 1);
}

TEST(SweepE2E, KilledWithSigkillRightAfterAnAcknowledgedSubmitLosesNothing) {
  // mixsweepd runs its own PostgreSQL here, as it does for a newcomer.
  Daemon daemon = Daemon::Start({});
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE(round);
    const std::string spec = Replace(PickDualBottles(), "name: pick-dual-bottles-sim",
                                     "name: round-" + std::to_string(round));
    CommandResult r = daemon.Cli({"sweep", "submit", WriteSpec(spec)});
    ASSERT_EQ(r.exit_code, 0) << r.err << daemon.LogTail();
    daemon.Kill(SIGKILL);  // the very moment after the acknowledgement
    daemon.Restart();
    CommandResult list = daemon.Cli({"--json", "sweep", "list"});
    ASSERT_EQ(list.exit_code, 0) << list.err << daemon.LogTail();
    EXPECT_EQ(json::parse(list.out)["sweeps"].size(), static_cast<size_t>(round));
    const json sweep = ShowJson(daemon, round);
    EXPECT_EQ(sweep["sweep"]["name"], "round-" + std::to_string(round));
    EXPECT_EQ(sweep["runs"].size(), 18u);
    EXPECT_EQ(sweep["jobs"].size(), 21u);
  }
  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0);
}

}  // namespace
}  // namespace mixsweep::testing
