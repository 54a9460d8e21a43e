// Crash safety of the whole loop (issue 5, item 5), end to end, with the
// counts a Jepsen-style checker reports: lost, duplicated, recovered. Each
// test prints its figures on lines starting with "FIGURE:";
// docs/RELIABILITY.md collects them.
//
//  1. mixsweepd SIGKILLed at random moments of a sweep that trains (synthetic
//     workers) and evaluates (the synthetic lab) at once, restarted on the
//     same database each time (tests/support/crash_loop.h; bench/crash_bench
//     runs the same at 10,000 jobs and 20 kills).
//  2. PostgreSQL stopped with `pg_ctl -m immediate` mid-sweep and started
//     again, mixsweepd left running: calls fail with UNAVAILABLE meanwhile,
//     every write a client saw acknowledged is there afterwards, and the
//     service recovers by itself.
//  3. A connection dropped right after PostgreSQL committed and before
//     mixsweepd heard of it (tests/support/pg_fault_proxy.h): the client's
//     retry with the same idempotency key (or fencing token) duplicates
//     nothing, for SubmitSweep, a worker's CompleteJob and RecordTrials.
//
// Nothing asserts how long anything took; times are printed.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "db/local_cluster.h"
#include "mixsweep/v1/evaluation.grpc.pb.h"
#include "mixsweep/v1/sweep.grpc.pb.h"
#include "mixsweep/v1/worker.grpc.pb.h"
#include "tests/support/crash_loop.h"
#include "tests/support/daemon.h"
#include "tests/support/pg_fault_proxy.h"
#include "tests/support/pg_harness.h"
#include "tests/support/spec_files.h"
#include "tests/support/worker_process.h"

#ifndef MIXSWEEP_LAB_BIN
#error "MIXSWEEP_LAB_BIN must name the mixsweep-lab binary"
#endif

namespace mixsweep::testing {
namespace {

namespace v1 = mixsweep::v1;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string TruthFile() {
  return std::string(MIXSWEEP_SOURCE_DIR) + "/docs/examples/pick_dual_bottles.truth.yaml";
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

void Decorate(grpc::ClientContext& context, std::chrono::milliseconds timeout = 30s) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}


// ============================================ 1. mixsweepd SIGKILL x N

TEST(CrashE2E, MixsweepdKilledAtRandomMomentsWhileTrainingAndEvaluatingLosesAndDuplicatesNothing) {
  CrashLoopOptions o;
  o.binaries = {.mixsweepd = MIXSWEEPD_BIN, .worker = MIXSWEEP_WORKER_BIN,
                .lab = MIXSWEEP_LAB_BIN};
  o.dsn = CreateTestDatabase();
  o.work_dir = MakeTempDir("crash-loop");
  o.truth_file = TruthFile();
  // 10 N_tele x (baseline + sim 100) x 12 seeds: 252 jobs, 240 runs, 480
  // evaluation requests of 5 trials.
  o.n_tele_values = 10;
  o.seeds = 12;
  o.scenarios = {"in_domain", "unseen_position"};
  o.trials_per_scenario = 5;
  o.kills = 6;
  o.seed = 20240605;
  o.log = [](const std::string& line) { std::cout << "note: " << line << std::endl; };
  absl::StatusOr<CrashLoopFigures> f = RunCrashLoop(o);
  ASSERT_TRUE(f.ok()) << f.status();

  EXPECT_TRUE(f->sweep_completed) << f->Summary();
  EXPECT_EQ(f->kills, o.kills);
  EXPECT_EQ(f->counts.jobs, 252);
  EXPECT_EQ(f->counts.requests, 480);
  EXPECT_EQ(f->counts.trials, 2400);
  // Lost.
  EXPECT_EQ(f->counts.jobs_lost, 0);
  EXPECT_EQ(f->counts.requests_incomplete, 0);
  EXPECT_EQ(f->counts.trials_missing, 0);
  // Duplicated.
  EXPECT_EQ(f->counts.jobs_completed_twice, 0);
  EXPECT_EQ(f->counts.extra_success_events, 0);
  EXPECT_EQ(f->counts.request_count_wrong, 0);
  EXPECT_EQ(f->counts.duplicate_trials, 0);
  EXPECT_EQ(f->counts.trials_beyond_wanted, 0);
  // Recovered: every job caught in flight by a kill ended succeeded, every
  // batched request completed.
  EXPECT_EQ(f->recovered_jobs, f->jobs_leased_at_a_kill);
  EXPECT_EQ(f->recovered_requests, f->batched_at_kills);
  // Served estimates equal the engine's computation from scratch.
  EXPECT_EQ(f->estimates_compared, 2);
  EXPECT_EQ(f->estimate_differences, "");
  // Workers and the lab reconnected by themselves every time.
  EXPECT_EQ(f->workers_exited, 0) << f->process_notes;
  EXPECT_EQ(f->labs_exited, 0) << f->process_notes;

  std::cout << "FIGURE: mixsweepd SIGKILL x" << f->kills << " during a " << f->counts.jobs
            << "-job sweep with evaluation (3 synthetic workers, 1 synthetic lab):\n"
            << f->Summary() << std::flush;
}

// ============================================ 2. PostgreSQL immediate stop

// Every call a client made, with its answer.
class CallLog {
 public:
  struct Entry {
    Clock::time_point end;
    std::string rpc;
    grpc::StatusCode code;
  };
  void Add(const std::string& rpc, const grpc::Status& status) {
    std::lock_guard lock(mu_);
    entries_.push_back({Clock::now(), rpc, status.error_code()});
  }
  std::vector<Entry> entries() {
    std::lock_guard lock(mu_);
    return entries_;
  }
  // The first OK answer of `rpc` ("" any) that ended after `t`.
  std::optional<Clock::time_point> FirstOkAfter(Clock::time_point t, const std::string& rpc) {
    std::lock_guard lock(mu_);
    for (const Entry& e : entries_) {
      if (e.end > t && e.code == grpc::StatusCode::OK && (rpc.empty() || e.rpc == rpc)) {
        return e.end;
      }
    }
    return std::nullopt;
  }
  // "RPC CODE xN" for the calls that ended in [from, to).
  std::map<std::string, int> CodesBetween(Clock::time_point from, Clock::time_point to) {
    std::lock_guard lock(mu_);
    std::map<std::string, int> out;
    for (const Entry& e : entries_) {
      if (e.end >= from && e.end < to) ++out[e.rpc + " " + CodeName(e.code)];
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<Entry> entries_;
};

bool Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// A worker in this process: leases a job, writes a synthetic checkpoint for
// it (what mixsweep-lab reads), completes it 200 ms later. Each call is retried
// with the same request while transient; every CompleteJob answered OK is
// remembered, to be found in the database later.
class ClientWorker {
 public:
  ClientWorker(const std::shared_ptr<grpc::Channel>& channel, CallLog& calls)
      : stub_(v1::WorkerService::NewStub(channel)), calls_(calls), thread_([this] { Run(); }) {}
  ~ClientWorker() {
    stop_ = true;
    thread_.join();
  }
  std::map<int64_t, int64_t> acked() {  // job -> fencing token
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  template <typename Request, typename Response>
  grpc::Status Call(const char* name,
                    grpc::Status (v1::WorkerService::Stub::*method)(grpc::ClientContext*,
                                                                   const Request&, Response*),
                    const Request& request, Response* response) {
    while (true) {
      grpc::ClientContext context;
      Decorate(context);
      grpc::Status s = (stub_.get()->*method)(&context, request, response);
      calls_.Add(name, s);
      if (!Transient(s) || stop_) return s;
      std::this_thread::sleep_for(50ms);
    }
  }

  void Run() {
    v1::RegisterWorkerRequest reg;
    reg.set_name("outage-client-worker");
    reg.set_host("localhost");
    reg.set_synthetic(true);
    reg.set_idempotency_key("outage-client-worker");
    v1::Gpu* gpu = reg.add_gpus();
    gpu->set_index(0);
    gpu->set_name("synthetic");
    gpu->set_memory_total_mib(81559);
    v1::RegisterWorkerResponse registered;
    if (!Call("RegisterWorker", &v1::WorkerService::Stub::RegisterWorker, reg, &registered).ok()) {
      return;
    }
    for (int n = 0; !stop_;) {
      v1::LeaseJobRequest lease;
      lease.set_worker_id(registered.worker_id());
      lease.add_free_gpu_indices(0);
      lease.mutable_wait()->set_seconds(1);
      lease.set_idempotency_key(absl::StrCat("outage-lease-", n));
      v1::LeaseJobResponse leased;
      grpc::Status s = Call("LeaseJob", &v1::WorkerService::Stub::LeaseJob, lease, &leased);
      if (!s.ok()) {
        Error("LeaseJob", s);
        std::this_thread::sleep_for(100ms);
        continue;
      }
      if (!leased.has_lease() || leased.lease().job_id() == 0) continue;
      ++n;
      const v1::Job& job = leased.spec().job();
      // Under the job's own output directory (in the artifact root, where a
      // worker accepts a finetune's init checkpoint from).
      std::string output = leased.spec().output_uri();
      if (output.starts_with("file://")) output = output.substr(7);
      std::filesystem::create_directories(output + "/checkpoints");
      const std::string path = output + "/checkpoints/client.ckpt";
      std::ofstream(path) << nlohmann::json{{"synthetic", true},
                                            {"job_id", job.id()},
                                            {"steps", job.steps()},
                                            {"init_checkpoint", leased.spec().init_checkpoint_uri()},
                                            {"kind", v1::JobKind_Name(job.kind())},
                                            {"source", job.source()},
                                            {"n_demos", job.n_demos()},
                                            {"seed", job.seed()}}
                                 .dump();
      std::this_thread::sleep_for(200ms);  // "training", so that the real worker gets jobs too
      v1::CompleteJobRequest complete;
      *complete.mutable_lease() = leased.lease();
      complete.set_checkpoint_uri("file://" + path);
      complete.set_gpu_seconds(1);
      v1::CompleteJobResponse completed;
      s = Call("CompleteJob", &v1::WorkerService::Stub::CompleteJob, complete, &completed);
      if (s.ok()) {
        std::lock_guard lock(mu_);
        acked_[job.id()] = leased.lease().fencing_token();
      } else {
        Error("CompleteJob", s);
      }
    }
  }

  void Error(const char* what, const grpc::Status& s) {
    if (stop_) return;
    std::lock_guard lock(mu_);
    errors_.push_back(absl::StrCat(what, ": ", CodeName(s.error_code()), ": ", s.error_message()));
  }

  std::unique_ptr<v1::WorkerService::Stub> stub_;
  CallLog& calls_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int64_t, int64_t> acked_;
  std::vector<std::string> errors_;
  std::thread thread_;  // last: starts after the members it uses
};

// An operator in this process, with its own robot: records every policy of
// its batches (trials with no stage reached... and some with both), one
// RecordTrials per policy under an idempotency key, retried while
// transient. Every call answered OK is remembered.
class ClientOperator {
 public:
  ClientOperator(const std::shared_ptr<grpc::Channel>& channel, CallLog& calls)
      : stub_(v1::EvaluationService::NewStub(channel)),
        calls_(calls), thread_([this] { Run(); }) {}
  ~ClientOperator() {
    stop_ = true;
    thread_.join();
  }
  std::map<int64_t, std::vector<int64_t>> acked() {  // request -> trial ids
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }

 private:
  template <typename Request, typename Response>
  grpc::Status Call(const char* name,
                    grpc::Status (v1::EvaluationService::Stub::*method)(grpc::ClientContext*,
                                                                       const Request&, Response*),
                    const Request& request, Response* response) {
    while (true) {
      grpc::ClientContext context;
      Decorate(context);
      grpc::Status s = (stub_.get()->*method)(&context, request, response);
      calls_.Add(name, s);
      if (!Transient(s) || stop_) return s;
      std::this_thread::sleep_for(50ms);
    }
  }

  void Run() {
    v1::RegisterRobotRequest robot;
    robot.mutable_robot()->set_id("outage-robot");
    robot.mutable_robot()->set_platform("synthetic");
    robot.set_idempotency_key("outage-robot");
    v1::Robot registered;
    if (!Call("RegisterRobot", &v1::EvaluationService::Stub::RegisterRobot, robot, &registered)
             .ok()) {
      return;
    }
    while (!stop_) {
      v1::NextEvaluationBatchRequest next;
      next.set_robot_id("outage-robot");
      next.set_operator_("crash-e2e");
      v1::EvaluationBatch batch;
      grpc::Status s =
          Call("NextEvaluationBatch", &v1::EvaluationService::Stub::NextEvaluationBatch, next,
               &batch);
      if (!s.ok() || batch.batch_id().empty()) {
        if (!s.ok()) Error("NextEvaluationBatch", s);
        std::this_thread::sleep_for(100ms);
        continue;
      }
      for (const v1::BlindPolicy& policy : batch.policies()) {
        if (stop_) break;
        if (policy.trials_recorded() >= policy.trials_wanted()) continue;
        v1::RecordTrialsRequest record;
        record.set_request_id(policy.request_id());
        record.set_idempotency_key(
            absl::StrCat("outage-op-", policy.request_id(), "-", policy.trials_recorded()));
        for (int i = policy.trials_recorded(); i < policy.trials_wanted(); ++i) {
          v1::TrialInput* t = record.add_trials();
          t->set_trial_index(i);
          if (i % 2 == 1) t->add_achieved("first_bottle_grasped");
          t->set_operator_("crash-e2e");
          t->set_robot_id("outage-robot");
        }
        v1::RecordTrialsResponse recorded;
        s = Call("RecordTrials", &v1::EvaluationService::Stub::RecordTrials, record, &recorded);
        if (!s.ok()) {
          Error("RecordTrials", s);
          continue;
        }
        std::lock_guard lock(mu_);
        for (const v1::Trial& t : recorded.trials()) acked_[policy.request_id()].push_back(t.id());
      }
    }
  }

  void Error(const char* what, const grpc::Status& s) {
    if (stop_) return;
    std::lock_guard lock(mu_);
    errors_.push_back(absl::StrCat(what, ": ", CodeName(s.error_code()), ": ", s.error_message()));
  }

  std::unique_ptr<v1::EvaluationService::Stub> stub_;
  CallLog& calls_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int64_t, std::vector<int64_t>> acked_;
  std::vector<std::string> errors_;
  std::thread thread_;  // last
};

// GetSweep every 20 ms: when the service answers again.
class Prober {
 public:
  Prober(const std::shared_ptr<grpc::Channel>& channel, int64_t sweep_id, CallLog& calls)
      : stub_(v1::SweepService::NewStub(channel)),
        sweep_id_(sweep_id), calls_(calls), thread_([this] { Run(); }) {}
  ~Prober() {
    stop_ = true;
    thread_.join();
  }

 private:
  void Run() {
    while (!stop_) {
      grpc::ClientContext context;
      Decorate(context, 5s);
      v1::GetSweepRequest request;
      request.set_sweep_id(sweep_id_);
      v1::GetSweepResponse response;
      calls_.Add("GetSweep", stub_->GetSweep(&context, request, &response));
      std::this_thread::sleep_for(20ms);
    }
  }
  std::unique_ptr<v1::SweepService::Stub> stub_;
  int64_t sweep_id_;
  CallLog& calls_;
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last
};

// Jobs that did not succeed, with their failure, for failure messages.
std::string UnfinishedJobs(const std::string& dsn) {
  std::ostringstream out;
  for (const auto& row : Query(dsn,
                               "SELECT id, kind, state, attempts, coalesce(failure::text, '') "
                               "FROM jobs WHERE state <> 'succeeded' ORDER BY id LIMIT 20")) {
    out << "job " << row[0].as<std::string>() << " " << row[1].as<std::string>() << " "
        << row[2].as<std::string>() << " attempts " << row[3].as<std::string>() << " "
        << row[4].as<std::string>() << "\n";
  }
  return out.str();
}

// 10 N_tele x (baseline + sim 100) x `seeds`, one scenario of 5 trials,
// short jobs.
std::string OutageSpec(int seeds) {
  std::string yaml = Replace(PickDualBottles(), "n_tele: [50, 100, 200]",
                             "n_tele: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0, 100]");
  std::vector<int> s;
  for (int i = 0; i < seeds; ++i) s.push_back(i);
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [" + absl::StrJoin(s, ", ") + "]");
  yaml = Replace(yaml, "trials_per_scenario: 10", "trials_per_scenario: 5");
  yaml = Replace(yaml, "scenarios: [in_domain, unseen_background, unseen_position]",
                 "scenarios: [unseen_position]");
  return Replace(yaml, "total_steps: 13000\n  pretrain_steps: 10000\n  finetune_steps: 3000",
                 "total_steps: 2000\n  pretrain_steps: 1200\n  finetune_steps: 800");
}

TEST(CrashE2E, PostgresStoppedImmediatelyMidSweepFailsCallsWithUnavailableLosesNoAckedWriteAndRecovers) {
  // A cluster of this test's own, durable (PostgreSQL's defaults:
  // synchronous_commit and fsync on), so that stopping it disturbs no other
  // test and an acknowledged commit must survive the crash.
  const std::string dir = MakeTempDir("pg-outage");
  db::LocalClusterOptions cluster_options;
  cluster_options.directory = dir + "/cluster";
  cluster_options.run_as_user = TestCluster().options().run_as_user;
  auto started = db::LocalCluster::Start(cluster_options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<db::LocalCluster> cluster = std::move(*started);
  ASSERT_TRUE(cluster->EnsureDatabase("mixsweep").ok());
  const std::string dsn = cluster->Dsn("mixsweep");
  const std::string pgdata = cluster->options().directory + "/pgdata";

  const std::string artifacts = MakeTempDir("outage-artifacts");
  Daemon daemon = Daemon::Start(
      {.database = dsn,
       .extra_args = {"--artifact-root", "file://" + artifacts, "--lease-ttl-seconds", "10",
                      "--heartbeat-seconds", "2", "--expiry-interval-seconds", "1",
                      "--retry-base-seconds", "0", "--estimate-resamples", "100",
                      "--recompute-interval-seconds", "0.5"}});
  CommandResult submitted =
      daemon.Cli({"sweep", "submit", WriteSpec(OutageSpec(4))});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err << daemon.LogTail();
  ASSERT_NE(submitted.out.find("80 runs, 84 jobs"), std::string::npos) << submitted.out;
  const int64_t sweep_id = 1;
  const int64_t kJobs = 84, kRequests = 80;

  // Load from the real binaries (which must recover by themselves) and from
  // clients in this process (whose acknowledged writes are checked).
  WorkerProcess worker = WorkerProcess::Start(
      daemon, "outage-w",
      {"--synthetic", "--synthetic-gpus", "2", "--synthetic-steps-per-second", "1000"});
  const std::string lab_log = MakeTempDir("outage-lab") + "/lab.log";
  Process lab = Process::Start({MIXSWEEP_LAB_BIN, "--server", daemon.address(), "--robot",
                                "outage-lab-robot", "--truth", TruthFile(), "--seed", "3",
                                "--poll-ms", "100", "--token-file", daemon.token_file()},
                               lab_log);
  CallLog calls;
  const std::shared_ptr<grpc::Channel> channel = daemon.Channel();
  auto client_worker = std::make_unique<ClientWorker>(channel, calls);
  auto client_operator = std::make_unique<ClientOperator>(channel, calls);
  auto prober = std::make_unique<Prober>(channel, sweep_id, calls);

  auto progress = [&] {
    return QueryInt(dsn, "SELECT (SELECT count(*) FROM jobs WHERE state = 'succeeded') + "
                         "(SELECT count(*) FROM evaluation_requests WHERE state = 'complete')");
  };
  // Mid-sweep, with writes of both kinds acknowledged already.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return progress() >= (kJobs + kRequests) / 3 && !client_worker->acked().empty() &&
               !client_operator->acked().empty();
      },
      180s))
      << "progress " << progress() << "\n" << daemon.LogTail() << worker.LogTail();
  const size_t completions_before = client_worker->acked().size();
  const size_t records_before = client_operator->acked().size();
  // A request and a worker id for the probes below.
  const int64_t open_request = QueryInt(dsn, "SELECT max(id) FROM evaluation_requests");
  const int64_t probe_worker = QueryInt(dsn, "SELECT min(id) FROM workers");

  // ---- The outage: pg_ctl -m immediate (SIGQUIT to the postmaster: no
  // checkpoint, every backend gone at once; the next start replays WAL).
  const auto down = Clock::now();
  const std::string pg_ctl = cluster->options().bin_dir + "/pg_ctl";
  std::vector<std::string> stop = {pg_ctl, "-D", pgdata, "-m", "immediate", "-w", "stop"};
  if (::geteuid() == 0) {
    stop.insert(stop.begin(), {"/usr/sbin/runuser", "-u", cluster->options().run_as_user, "--"});
  }
  CommandResult stopped = RunCommand(stop);
  ASSERT_EQ(stopped.exit_code, 0) << stopped.out << stopped.err;
  ASSERT_TRUE(cluster->StopImmediately().ok());  // reaps our child (already gone)
  const auto stopped_at = Clock::now();

  // What a client sees meanwhile: UNAVAILABLE (retry), for reads and writes.
  std::map<std::string, grpc::StatusCode> probes;
  {
    auto sweeps = v1::SweepService::NewStub(channel);
    auto evaluation = v1::EvaluationService::NewStub(channel);
    auto workers = v1::WorkerService::NewStub(channel);
    {
      grpc::ClientContext context;
      Decorate(context);
      v1::GetSweepRequest request;
      request.set_sweep_id(sweep_id);
      v1::GetSweepResponse response;
      probes["GetSweep"] = sweeps->GetSweep(&context, request, &response).error_code();
    }
    {
      grpc::ClientContext context;
      Decorate(context);
      v1::SubmitSweepRequest request;
      request.set_spec_yaml(OutageSpec(1));
      request.set_idempotency_key("outage-probe-submit");
      v1::SubmitSweepResponse response;
      probes["SubmitSweep"] = sweeps->SubmitSweep(&context, request, &response).error_code();
    }
    {
      grpc::ClientContext context;
      Decorate(context);
      v1::RecordTrialsRequest request;
      request.set_request_id(open_request);
      request.set_idempotency_key("outage-probe-record");
      request.add_trials()->set_trial_index(0);
      v1::RecordTrialsResponse response;
      probes["RecordTrials"] = evaluation->RecordTrials(&context, request, &response).error_code();
    }
    {
      grpc::ClientContext context;
      Decorate(context);
      v1::LeaseJobRequest request;
      request.set_worker_id(probe_worker);
      request.add_free_gpu_indices(0);
      v1::LeaseJobResponse response;
      probes["LeaseJob"] = workers->LeaseJob(&context, request, &response).error_code();
    }
    {
      grpc::ClientContext context;
      Decorate(context);
      v1::CompleteJobRequest request;
      request.mutable_lease()->set_job_id(1);
      request.mutable_lease()->set_fencing_token(999999);
      request.set_checkpoint_uri("file:///nowhere/probe.ckpt");
      v1::CompleteJobResponse response;
      probes["CompleteJob"] = workers->CompleteJob(&context, request, &response).error_code();
    }
  }
  for (const auto& [rpc, code] : probes) {
    EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE) << rpc << " during the outage: "
                                                    << CodeName(code);
  }
  // Three seconds down: the clients keep calling meanwhile.
  std::this_thread::sleep_until(down + 3s);

  // ---- PostgreSQL back (WAL replay), mixsweepd untouched.
  const auto restart_begun = Clock::now();
  started = db::LocalCluster::Start(cluster_options);
  ASSERT_TRUE(started.ok()) << started.status();
  cluster = std::move(*started);
  const auto back = Clock::now();
  ASSERT_TRUE(WaitUntil([&] { return calls.FirstOkAfter(back, "GetSweep").has_value(); }, 60s))
      << daemon.LogTail();
  const double recovery = Seconds(*calls.FirstOkAfter(back, "GetSweep") - back);

  // The sweep finishes by itself.
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt(dsn, "SELECT count(*) FROM sweeps WHERE state = 'completed'") == 1; },
      240s))
      << "progress " << progress() << "\n" << daemon.LogTail() << worker.LogTail()
      << FileTail(lab_log);
  ASSERT_TRUE(WaitUntil([&] { return QueryInt(dsn, "SELECT count(*) FROM stale_estimates") == 0; },
                        60s));
  prober.reset();
  const std::map<int64_t, int64_t> completions = client_worker->acked();
  const std::map<int64_t, std::vector<int64_t>> records = client_operator->acked();
  const std::vector<std::string> worker_errors = client_worker->errors();
  const std::vector<std::string> operator_errors = client_operator->errors();
  client_worker.reset();
  client_operator.reset();

  // Every acknowledged write is there.
  int64_t completions_missing = 0, records_missing = 0, trials_acked = 0;
  for (const auto& [job, token] : completions) {
    if (QueryInt(dsn, absl::StrCat("SELECT count(*) FROM jobs WHERE id = ", job,
                                   " AND state = 'succeeded' AND fencing_token = ", token)) != 1) {
      ++completions_missing;
    }
  }
  for (const auto& [request, trial_ids] : records) {
    trials_acked += static_cast<int64_t>(trial_ids.size());
    if (QueryInt(dsn, absl::StrCat("SELECT count(*) FROM trials WHERE request_id = ", request,
                                   " AND id IN (", absl::StrJoin(trial_ids, ","), ")")) !=
        static_cast<int64_t>(trial_ids.size())) {
      ++records_missing;
    }
  }
  EXPECT_EQ(completions_missing, 0);
  EXPECT_EQ(records_missing, 0);
  EXPECT_GT(completions.size(), completions_before) << "the client worker went on after the outage";
  EXPECT_GT(records.size(), records_before) << "the client operator went on after the outage";
  EXPECT_TRUE(worker_errors.empty()) << absl::StrJoin(worker_errors, "\n");
  EXPECT_TRUE(operator_errors.empty()) << absl::StrJoin(operator_errors, "\n");

  // Nothing lost or doubled in the whole sweep; estimates as from scratch.
  const SweepCounts counts = CountSweep(dsn, sweep_id);
  EXPECT_EQ(counts.jobs, kJobs);
  EXPECT_EQ(counts.requests, kRequests);
  EXPECT_EQ(counts.lost(), 0) << counts.Summary() << UnfinishedJobs(dsn);
  EXPECT_EQ(counts.duplicated(), 0) << counts.Summary();
  EXPECT_EQ(counts.extra_success_events, 0);
  int compared = 0;
  EXPECT_EQ(CompareEstimatesWithScratch(channel, sweep_id, &compared), "");
  EXPECT_EQ(compared, 1);

  // The calls that ended while PostgreSQL was down all said UNAVAILABLE.
  const std::map<std::string, int> during = calls.CodesBetween(stopped_at, restart_begun);
  int unexpected = 0, unavailable = 0;
  for (const auto& [what, n] : during) {
    if (what.ends_with(" UNAVAILABLE")) {
      unavailable += n;
    } else if (!what.ends_with(" OK")) {
      unexpected += n;
    }
  }
  EXPECT_EQ(unexpected, 0) << "calls during the outage: " << ::testing::PrintToString(during);
  EXPECT_GT(unavailable, 0);
  const std::map<std::string, int> after = calls.CodesBetween(back, Clock::now());
  std::vector<std::string> failed_after;
  for (const auto& [what, n] : after) {
    if (!what.ends_with(" OK")) failed_after.push_back(absl::StrCat(what, " x", n));
  }

  // mixsweepd was never restarted, and the real worker and lab carried on.
  EXPECT_TRUE(worker.running()) << worker.LogTail();
  EXPECT_TRUE(lab.running()) << FileTail(lab_log);
  lab.Kill(SIGTERM);
  EXPECT_EQ(lab.Wait(), 0) << FileTail(lab_log);
  daemon.Kill(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0) << daemon.LogTail();

  auto first_ok = [&](const std::string& rpc) {
    auto t = calls.FirstOkAfter(back, rpc);
    return t ? absl::StrCat(Seconds(*t - back), " s") : std::string("none");
  };
  std::cout << "FIGURE: PostgreSQL stopped with pg_ctl -m immediate for "
            << Seconds(restart_begun - down) << " s mid-sweep (" << counts.jobs << " jobs, "
            << counts.requests << " evaluation requests), mixsweepd not restarted: probes during "
            << "the outage answered";
  for (const auto& [rpc, code] : probes) std::cout << " " << rpc << "=" << CodeName(code);
  std::cout << "; background calls ended during the outage: " << unavailable
            << " UNAVAILABLE, " << unexpected << " other errors; PostgreSQL start (WAL replay) "
            << Seconds(back - restart_begun) << " s; time to recover (PostgreSQL accepting -> "
            << "first successful RPC): GetSweep " << recovery << " s, LeaseJob "
            << first_ok("LeaseJob") << ", CompleteJob " << first_ok("CompleteJob")
            << ", RecordTrials " << first_ok("RecordTrials") << "; failed calls after it was back: "
            << (failed_after.empty() ? "none" : absl::StrJoin(failed_after, ", "))
            << "; acknowledged writes: " << completions.size() << " CompleteJob, "
            << records.size() << " RecordTrials (" << trials_acked << " trials), "
            << completions_missing + records_missing << " missing after the restart\n"
            << counts.Summary() << std::flush;
}

// ============================================ 3. Commit answer lost

// mixsweepd on the test's database through a PgFaultProxy.
struct ProxiedServer {
  std::string dsn;  // straight to PostgreSQL, for the test's own queries
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<PgFaultProxy> proxy;
  Daemon daemon;
};

ProxiedServer StartProxied() {
  ProxiedServer s;
  s.dsn = CreateTestDatabase();
  const std::string marker = "dbname=";
  const std::string dbname = s.dsn.substr(s.dsn.find(marker) + marker.size());
  std::string error;
  s.proxy = PgFaultProxy::Start(TestCluster().options().directory + "/run/.s.PGSQL.5432", &error);
  EXPECT_NE(s.proxy, nullptr) << error;
  if (s.proxy == nullptr) return s;
  const std::string proxied = absl::StrCat("host=127.0.0.1 port=", s.proxy->port(), " user=",
                                           TestCluster().options().superuser, " dbname=", dbname);
  s.daemon = Daemon::Start(
      {.database = proxied,
       .extra_args = {"--artifact-root", "file://" + MakeTempDir("proxied-artifacts"),
                      "--lease-ttl-seconds", "10", "--heartbeat-seconds", "1",
                      "--retry-base-seconds", "0", "--estimate-resamples", "50"}});
  s.channel = s.daemon.Channel();
  return s;
}

// One train job (N_tele 50, seed 0), one scenario of 10 trials.
std::string OneJobSpec() {
  std::string yaml = Replace(PickDualBottles(), "n_tele: [50, 100, 200]", "n_tele: [50]");
  yaml = Replace(yaml, "n_nt: [0, 1000]", "n_nt: [0]");
  yaml = Replace(yaml, "seeds: [0, 1, 2]", "seeds: [0]");
  return Replace(yaml, "scenarios: [in_domain, unseen_background, unseen_position]",
                 "scenarios: [in_domain]");
}

TEST(CrashE2E, SubmitSweepWhoseCommitAnswerIsLostIsStoredOnceWhenRetriedWithItsKey) {
  ProxiedServer s = StartProxied();
  ASSERT_NE(s.proxy, nullptr);
  auto stub = v1::SweepService::NewStub(s.channel);
  v1::SubmitSweepRequest request;
  request.set_spec_yaml(PickDualBottles());
  request.set_idempotency_key("crash-submit-1");

  // A plain gRPC client: it hears of the in-doubt commit as UNAVAILABLE,
  // though the sweep was stored.
  s.proxy->ArmCommitDrop("INSERT INTO sweeps");
  grpc::Status first;
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::SubmitSweepResponse response;
    first = stub->SubmitSweep(&context, request, &response);
  }
  ASSERT_EQ(s.proxy->commits_dropped(), 1) << s.daemon.LogTail();
  EXPECT_EQ(first.error_code(), grpc::StatusCode::UNAVAILABLE) << first.error_message();
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM sweeps"), 1) << "the commit did land";
  // Its retry with the same key: the first submission's answer.
  v1::SubmitSweepResponse retried;
  grpc::Status retry;
  {
    grpc::ClientContext context;
    Decorate(context);
    retry = stub->SubmitSweep(&context, request, &retried);
  }
  ASSERT_TRUE(retry.ok()) << retry.error_message() << s.daemon.LogTail();
  EXPECT_TRUE(retried.replayed());
  EXPECT_EQ(retried.sweep().id(), 1);
  EXPECT_EQ(retried.jobs(), 21);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM sweeps"), 1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM sweep_revisions"), 1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM jobs"), 21);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM runs"), 18);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'sweep.submitted'"), 1);

  // The CLI retries UNAVAILABLE by itself with its key: one command, one
  // sweep, though its first call's commit answer was lost.
  const std::string spec = WriteSpec(Replace(PickDualBottles(), "seeds: [0, 1, 2]", "seeds: [7]"));
  s.proxy->ArmCommitDrop("INSERT INTO sweeps");
  CommandResult cli =
      s.daemon.Cli({"sweep", "submit", "--idempotency-key", "crash-submit-2", spec});
  EXPECT_EQ(s.proxy->commits_dropped(), 2);
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err << s.daemon.LogTail();
  EXPECT_NE(cli.out.find("submitted sweep 2: 6 runs, 7 jobs"), std::string::npos) << cli.out;
  // And the same command run again by hand: still one sweep.
  CommandResult again =
      s.daemon.Cli({"sweep", "submit", "--idempotency-key", "crash-submit-2", spec});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("sweep 2"), std::string::npos) << again.out;
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM sweeps"), 2);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM jobs"), 28);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'sweep.submitted'"), 2);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM idempotency_keys"), 2);
  // The pool let go of the broken connections: the service goes on.
  CommandResult list = s.daemon.Cli({"sweep", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;

  std::cout << "FIGURE: SubmitSweep commit answer lost (proxy dropped " << s.proxy->commits_dropped()
            << " COMMITs): gRPC client saw " << CodeName(first.error_code())
            << ", its retry with the same key OK (replayed " << retried.replayed()
            << "); the CLI (which retries UNAVAILABLE itself) exit " << cli.exit_code
            << ", rerun by hand exit " << again.exit_code << "; sweeps "
            << SqlCount(s.dsn, "SELECT count(*) FROM sweeps") << " of 2 submitted, jobs "
            << SqlCount(s.dsn, "SELECT count(*) FROM jobs") << " of 21 + 7, sweep.submitted events "
            << SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'sweep.submitted'")
            << std::endl;
}

TEST(CrashE2E, WorkerCompleteJobWhoseCommitAnswerIsLostCompletesTheJobOnce) {
  ProxiedServer s = StartProxied();
  ASSERT_NE(s.proxy, nullptr);
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(OneJobSpec())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  s.proxy->ArmCommitDrop("UPDATE jobs SET state = 'succeeded'");
  WorkerProcess w = WorkerProcess::Start(
      s.daemon, "in-doubt",
      {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000"});
  ASSERT_TRUE(s.proxy->WaitForDrops(1, 60s)) << w.LogTail() << s.daemon.LogTail();
  ASSERT_TRUE(WaitUntil([&] { return w.Log().find("CompleteJob") != std::string::npos; }, 30s))
      << w.LogTail();
  // The worker's retry (same lease, same fencing token) is answered as the
  // completion it is; give it time to arrive and anything else to happen.
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt(s.dsn, "SELECT count(*) FROM jobs WHERE state = 'succeeded'") == 1; },
      30s))
      << w.LogTail() << s.daemon.LogTail();
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1"),
            1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'job.succeeded'"), 1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'job.leased'"), 1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM evaluation_requests"), 1)
      << "one request per scenario, not one per completion call";
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'job.lease_expired'"), 0);
  const std::string log = w.Log();
  EXPECT_NE(log.find("CompleteJob: "), std::string::npos) << "the worker saw the error and retried\n"
                                                          << w.LogTail();
  EXPECT_EQ(log.find("lease lost"), std::string::npos) << w.LogTail();
  EXPECT_TRUE(w.running()) << w.LogTail();

  std::cout << "FIGURE: worker CompleteJob commit answer lost (proxy dropped "
            << s.proxy->commits_dropped() << " COMMIT): the worker retried with its fencing token; "
            << SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'job.succeeded'")
            << " job.succeeded event, "
            << SqlCount(s.dsn, "SELECT count(*) FROM evaluation_requests")
            << " evaluation request (1 scenario), attempts "
            << SqlCount(s.dsn, "SELECT attempts FROM jobs") << std::endl;
}

TEST(CrashE2E, RecordTrialsWhoseCommitAnswerIsLostStoresTheTrialsOnceWhenRetriedWithItsKey) {
  ProxiedServer s = StartProxied();
  ASSERT_NE(s.proxy, nullptr);
  CommandResult submit = s.daemon.Cli({"sweep", "submit", WriteSpec(OneJobSpec())});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  WorkerProcess w = WorkerProcess::Start(
      s.daemon, "trainer",
      {"--synthetic", "--synthetic-gpus", "1", "--synthetic-steps-per-second", "50000"});
  ASSERT_TRUE(WaitUntil(
      [&] { return QueryInt(s.dsn, "SELECT count(*) FROM evaluation_requests") == 1; }, 60s))
      << w.LogTail();

  auto stub = v1::EvaluationService::NewStub(s.channel);
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::RegisterRobotRequest request;
    request.mutable_robot()->set_id("in-doubt-robot");
    request.mutable_robot()->set_platform("synthetic");
    v1::Robot robot;
    ASSERT_TRUE(stub->RegisterRobot(&context, request, &robot).ok());
  }
  v1::EvaluationBatch batch;
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::NextEvaluationBatchRequest request;
    request.set_robot_id("in-doubt-robot");
    ASSERT_TRUE(stub->NextEvaluationBatch(&context, request, &batch).ok());
  }
  ASSERT_EQ(batch.policies_size(), 1);
  v1::RecordTrialsRequest record;
  record.set_request_id(batch.policies(0).request_id());
  record.set_idempotency_key("crash-record-1");
  for (int i = 0; i < 10; ++i) {
    v1::TrialInput* t = record.add_trials();
    t->set_trial_index(i);
    if (i % 3 == 1) t->add_achieved("first_bottle_grasped");
    if (i % 3 == 2) t->add_achieved("both_bottles_lifted");
    t->set_operator_("crash-e2e");
  }

  s.proxy->ArmCommitDrop("INSERT INTO trials");
  grpc::Status first;
  {
    grpc::ClientContext context;
    Decorate(context);
    v1::RecordTrialsResponse response;
    first = stub->RecordTrials(&context, record, &response);
  }
  ASSERT_EQ(s.proxy->commits_dropped(), 1) << s.daemon.LogTail();
  EXPECT_EQ(first.error_code(), grpc::StatusCode::UNAVAILABLE) << first.error_message();
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM trials"), 10) << "the commit did land";

  v1::RecordTrialsResponse retried;
  grpc::Status retry;
  {
    grpc::ClientContext context;
    Decorate(context);
    retry = stub->RecordTrials(&context, record, &retried);
  }
  ASSERT_TRUE(retry.ok()) << retry.error_message() << s.daemon.LogTail();
  EXPECT_TRUE(retried.replayed());
  EXPECT_TRUE(retried.request_complete());
  ASSERT_EQ(retried.trials_size(), 10);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM trials"), 10);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(DISTINCT trial_index) FROM trials"), 10);
  EXPECT_EQ(SqlCount(s.dsn, absl::StrCat("SELECT count(*) FROM trials WHERE id BETWEEN ",
                                         retried.trials(0).id(), " AND ",
                                         retried.trials(9).id())),
            10);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'trials.recorded'"), 1);
  EXPECT_EQ(SqlCount(s.dsn, "SELECT count(*) FROM evaluation_requests WHERE state = 'complete'"),
            1);

  std::cout << "FIGURE: RecordTrials commit answer lost (proxy dropped "
            << s.proxy->commits_dropped() << " COMMIT): first call "
            << CodeName(first.error_code()) << ", retry with the same key OK (replayed "
            << retried.replayed() << "); trials stored "
            << SqlCount(s.dsn, "SELECT count(*) FROM trials") << " of 10 recorded, "
            << SqlCount(s.dsn, "SELECT count(*) FROM events WHERE kind = 'trials.recorded'")
            << " trials.recorded event" << std::endl;
}

}  // namespace
}  // namespace mixsweep::testing
