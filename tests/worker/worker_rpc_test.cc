// The real mixsweep-worker binary against a fake WorkerService on a real
// gRPC server (127.0.0.1, a free port): lease, progress, logs, completion,
// failure, cancellation, lost leases, UNAVAILABLE retries and shutdown;
// generate and evaluate jobs (synthetic and real) judged by their result
// files, with CompleteJob's generation, episodes and step_checkpoints.
//
// The fake grants the jobs queued in it, one per LeaseJob, then answers
// empty after the worker's wait; it records every call. Like the real
// scheduler, a LeaseJob retried under the key of a grant (the worker
// cancelled the call to ask again with more GPUs, after the grant) gets
// that same grant back.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "mixsweep/v1/worker.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace mixsweep::workers {
namespace {

namespace fs = std::filesystem;
namespace v1 = mixsweep::v1;
using namespace std::chrono_literals;

// ------------------------------------------------------------- the fake

class FakeWorkerService final : public v1::WorkerService::Service {
 public:
  explicit FakeWorkerService(std::string artifact_root) : artifact_root_(std::move(artifact_root)) {}

  // Queues a job; the next LeaseJob gets it.
  void Queue(v1::JobSpec spec) {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(spec));
    cv_.notify_all();
  }
  void CancelJob(int64_t job_id) {
    std::lock_guard lock(mu_);
    cancelled_.insert(job_id);
  }
  void InvalidateJob(int64_t job_id) {
    std::lock_guard lock(mu_);
    invalid_.insert(job_id);
  }
  // The next `n` CompleteJob calls answer UNAVAILABLE.
  void FailCompletesWithUnavailable(int n) {
    std::lock_guard lock(mu_);
    unavailable_completes_ = n;
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  // Waits until `predicate` (called under the lock) holds; false on timeout.
  bool WaitFor(const std::function<bool()>& predicate, std::chrono::seconds timeout = 30s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, predicate);
  }
  // Runs `inspect` under the lock.
  void Inspect(const std::function<void()>& inspect) {
    std::lock_guard lock(mu_);
    inspect();
  }

  // Recorded calls (read under the lock, e.g. in WaitFor or Locked).
  std::vector<std::string> principals;
  std::vector<v1::RegisterWorkerRequest> registers;
  std::vector<v1::HeartbeatRequest> heartbeats;
  std::vector<v1::ReportProgressRequest> progress;
  std::map<int64_t, std::string> logs;  // job id -> the log rebuilt from chunks
  std::vector<std::string> log_errors;
  std::vector<v1::CompleteJobRequest> completes;
  std::vector<v1::FailJobRequest> fails;
  std::vector<v1::HandBackJobRequest> hand_backs;
  int invalid_answers = 0;  // heartbeat statuses answered valid=false

  grpc::Status RegisterWorker(grpc::ServerContext* context, const v1::RegisterWorkerRequest* request,
                              v1::RegisterWorkerResponse* response) override {
    std::lock_guard lock(mu_);
    Record(context);
    registers.push_back(*request);
    response->set_worker_id(1);
    response->mutable_heartbeat_interval()->set_nanos(200'000'000);
    response->mutable_lease_ttl()->set_seconds(30);
    response->set_artifact_root("file://" + artifact_root_);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::lock_guard lock(mu_);
    Record(context);
    heartbeats.push_back(*request);
    for (const v1::LeaseRef& lease : request->leases()) {
      v1::LeaseStatus* status = response->add_leases();
      *status->mutable_lease() = lease;
      status->set_valid(!invalid_.contains(lease.job_id()));
      if (!status->valid()) ++invalid_answers;
      status->set_cancel_requested(cancelled_.contains(lease.job_id()));
    }
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status LeaseJob(grpc::ServerContext* context, const v1::LeaseJobRequest* request,
                        v1::LeaseJobResponse* response) override {
    std::unique_lock lock(mu_);
    Record(context);
    if (auto granted = granted_by_key_.find(request->idempotency_key());
        !request->idempotency_key().empty() && granted != granted_by_key_.end()) {
      *response = granted->second;
      return grpc::Status::OK;
    }
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::seconds(std::min<int64_t>(request->wait().seconds(), 5));
    // Like the real scheduler: only a job whose GPUs fit the free ones sent.
    auto fits = [&] {
      return std::find_if(queue_.begin(), queue_.end(), [&](const v1::JobSpec& spec) {
        return spec.gpus() <= request->free_gpu_indices_size();
      });
    };
    while (fits() == queue_.end() && !stopping_ && !context->IsCancelled() &&
           std::chrono::steady_clock::now() < until) {
      cv_.wait_for(lock, 20ms);
    }
    auto it = fits();
    if (it == queue_.end() || stopping_ || context->IsCancelled()) return grpc::Status::OK;
    v1::JobSpec spec = std::move(*it);
    queue_.erase(it);
    response->mutable_lease()->set_job_id(spec.job().id());
    response->mutable_lease()->set_fencing_token(++next_token_);
    *response->mutable_spec() = std::move(spec);
    if (!request->idempotency_key().empty()) granted_by_key_[request->idempotency_key()] = *response;
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status ReportProgress(grpc::ServerContext* context,
                              const v1::ReportProgressRequest* request,
                              v1::ReportProgressResponse* response) override {
    std::lock_guard lock(mu_);
    Record(context);
    progress.push_back(*request);
    response->set_cancel_requested(cancelled_.contains(request->lease().job_id()));
    cv_.notify_all();
    if (invalid_.contains(request->lease().job_id())) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale fencing token");
    }
    return grpc::Status::OK;
  }

  grpc::Status AppendLog(grpc::ServerContext* context, const v1::AppendLogRequest* request,
                         v1::AppendLogResponse* response) override {
    std::lock_guard lock(mu_);
    Record(context);
    std::string& log = logs[request->lease().job_id()];
    if (request->offset() == static_cast<int64_t>(log.size())) {
      log += request->data();
    } else if (request->offset() + static_cast<int64_t>(request->data().size()) >
               static_cast<int64_t>(log.size())) {
      log_errors.push_back("gap or overlap at offset " + std::to_string(request->offset()));
    }
    if (request->data().size() > 64 * 1024) log_errors.push_back("chunk over 64 KiB");
    response->set_stored_through(static_cast<int64_t>(log.size()));
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status CompleteJob(grpc::ServerContext* context, const v1::CompleteJobRequest* request,
                           v1::CompleteJobResponse*) override {
    std::lock_guard lock(mu_);
    Record(context);
    if (unavailable_completes_ > 0) {
      --unavailable_completes_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scheduler restarting");
    }
    completes.push_back(*request);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status FailJob(grpc::ServerContext* context, const v1::FailJobRequest* request,
                       v1::FailJobResponse* response) override {
    std::lock_guard lock(mu_);
    Record(context);
    fails.push_back(*request);
    response->set_will_retry(request->failure().retryable());
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status HandBackJob(grpc::ServerContext* context, const v1::HandBackJobRequest* request,
                           v1::HandBackJobResponse*) override {
    std::lock_guard lock(mu_);
    Record(context);
    hand_backs.push_back(*request);
    cv_.notify_all();
    return grpc::Status::OK;
  }

 private:
  void Record(grpc::ServerContext* context) {
    auto it = context->client_metadata().find("authorization");
    principals.push_back(it == context->client_metadata().end()
                             ? ""
                             : std::string(it->second.data(), it->second.size()));
  }

  std::string artifact_root_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::JobSpec> queue_;
  std::map<std::string, v1::LeaseJobResponse> granted_by_key_;
  std::set<int64_t> cancelled_, invalid_;
  int unavailable_completes_ = 0;
  int64_t next_token_ = 100;
  bool stopping_ = false;
};

// ---------------------------------------------------------- the worker

// The mixsweep-worker binary as a child process, output to a log file.
class WorkerProcess {
 public:
  // `env`: variables set in the child on top of this process's own.
  WorkerProcess(std::vector<std::string> args, const std::string& log_path,
                const std::map<std::string, std::string>& env = {})
      : log_path_(log_path) {
    args.insert(args.begin(), MIXSWEEP_WORKER_BIN);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      // Run inside a SLURM job, the tests still start a worker outside one.
      ::unsetenv("SLURM_JOB_ID");
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~WorkerProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  void Signal(int signal) { ::kill(pid_, signal); }

  // The exit status, or nullopt if still running after `timeout`.
  std::optional<int> Wait(std::chrono::seconds timeout = 60s) {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < give_up) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return status;
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A token of the right shape; the fake server only records it.
constexpr const char* kWorkerToken = "msw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

class WorkerRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mixsweep-worker-rpc-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
    service_ = std::make_unique<FakeWorkerService>(root_ + "/artifacts");
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    worker_.reset();
    service_->Stop();
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
    if ((HasFailure() || getenv("SHOW_WORKER_LOG")) && !worker_log_.empty()) {
      std::ifstream in(worker_log_);
      std::stringstream s;
      s << in.rdbuf();
      std::cerr << "---- worker log ----\n" << s.str() << "--------------------\n";
    }
    fs::remove_all(root_);
  }

  void StartWorker(std::vector<std::string> extra,
                   const std::map<std::string, std::string>& env = {}) {
    const std::string token_file = root_ + "/worker.token";
    std::ofstream(token_file) << kWorkerToken << "\n";
    std::vector<std::string> args = {"--server", "127.0.0.1:" + std::to_string(port_),
                                     "--token-file", token_file,
                                     "--name", "test-worker", "--label", "lab=a",
                                     "--lease-wait-seconds", "1", "--stop-grace-seconds", "5",
                                     "--log-level", "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    worker_log_ = root_ + "/worker.log";
    worker_ = std::make_unique<WorkerProcess>(args, worker_log_, env);
  }

  void StartSyntheticWorker(std::vector<std::string> extra = {},
                            const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> args = {"--synthetic", "--synthetic-gpus", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartWorker(args, env);
  }

  v1::JobSpec Job(int64_t id, int64_t steps, int gpus = 1) {
    v1::JobSpec spec;
    spec.mutable_job()->set_id(id);
    spec.mutable_job()->set_sweep_id(1);
    spec.mutable_job()->set_steps(steps);
    spec.mutable_job()->mutable_dataset()->set_uri("file:///data/pick_dual_bottles");
    spec.add_argv("python");
    spec.add_argv("train.py");
    spec.add_argv("--out={output_dir}");
    spec.add_argv("--steps={steps}");
    spec.set_checkpoint_template("{output_dir}/checkpoints/last.ckpt");
    spec.set_output_uri("file://" + root_ + "/artifacts/jobs/" + std::to_string(id));
    spec.set_subset_manifest_json(R"({"episodes": [0, 2]})");
    spec.set_gpus(gpus);
    return spec;
  }

  // SIGTERM, then the exit status must be a clean 0.
  void ShutDownWorker() {
    worker_->Signal(SIGTERM);
    std::optional<int> status = worker_->Wait();
    ASSERT_TRUE(status.has_value()) << "the worker did not exit after SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status)) << "status " << *status;
    EXPECT_EQ(WEXITSTATUS(*status), 0);
  }

  bool StartedReported(int64_t job_id) {
    for (const auto& p : service_->progress) {
      if (p.lease().job_id() == job_id && p.started()) return true;
    }
    return false;
  }

  std::string root_;
  int port_ = 0;
  std::unique_ptr<FakeWorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<WorkerProcess> worker_;
  std::string worker_log_;
};

TEST_F(WorkerRpcTest, SyntheticJobCompletesWithItsCheckpoint) {
  StartSyntheticWorker();
  service_->Queue(Job(11, 2000));
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->completes.empty(); }));
  // Let the worker go idle before reading everything.
  ShutDownWorker();

  service_->Inspect([&] {
    const v1::RegisterWorkerRequest& reg = service_->registers.at(0);
    EXPECT_EQ(reg.name(), "test-worker");
    EXPECT_TRUE(reg.synthetic());
    ASSERT_EQ(reg.gpus_size(), 1);
    EXPECT_EQ(reg.gpus(0).name(), "synthetic");
    EXPECT_EQ(reg.gpus(0).memory_total_mib(), 81559);
    EXPECT_EQ(reg.labels().at("lab"), "a");
    // Every call carries the token from --token-file.
    EXPECT_FALSE(service_->principals.empty());
    for (const std::string& authorization : service_->principals) {
      EXPECT_EQ(authorization, std::string("Bearer ") + kWorkerToken);
    }

    const v1::CompleteJobRequest& done = service_->completes.at(0);
    EXPECT_EQ(done.lease().job_id(), 11);
    const std::string checkpoint = root_ + "/artifacts/jobs/11/checkpoints/last.ckpt";
    EXPECT_EQ(done.checkpoint_uri(), checkpoint);
    EXPECT_TRUE(fs::exists(checkpoint));
    std::ifstream in(checkpoint);
    auto json = nlohmann::json::parse(in);
    EXPECT_EQ(json["synthetic"], true);
    EXPECT_EQ(json["steps"], 2000);
    EXPECT_TRUE(done.provenance().synthetic());
    EXPECT_GT(done.gpu_seconds(), 0);
    EXPECT_TRUE(fs::exists(root_ + "/artifacts/jobs/11/subset_manifest.json"));

    // The started report came first, with provenance; progress reached the end.
    const v1::ReportProgressRequest& first = service_->progress.at(0);
    EXPECT_TRUE(first.started());
    EXPECT_TRUE(first.provenance().synthetic());
    EXPECT_EQ(first.provenance().argv(2), "--out=" + root_ + "/artifacts/jobs/11");
    EXPECT_EQ(first.provenance().gpu_indices_size(), 1);
    EXPECT_EQ(service_->progress.back().progress().step(), 2000);
    EXPECT_EQ(service_->progress.back().progress().total_steps(), 2000);

    EXPECT_NE(service_->logs[11].find("[synthetic]"), std::string::npos);
    EXPECT_TRUE(service_->log_errors.empty());
    EXPECT_TRUE(service_->fails.empty());
    EXPECT_TRUE(service_->hand_backs.empty());
  });
}

TEST_F(WorkerRpcTest, SigtermHandsTheRunningJobBack) {
  StartSyntheticWorker({"--synthetic-steps-per-second", "10"});
  service_->Queue(Job(12, 1'000'000'000));
  ASSERT_TRUE(service_->WaitFor([&] { return StartedReported(12); }));
  ShutDownWorker();
  service_->Inspect([&] {
    ASSERT_EQ(service_->hand_backs.size(), 1u);
    EXPECT_EQ(service_->hand_backs[0].lease().job_id(), 12);
    EXPECT_EQ(service_->hand_backs[0].reason(), v1::HandBackJobRequest::REASON_SHUTDOWN);
    EXPECT_TRUE(service_->completes.empty());
    EXPECT_TRUE(service_->fails.empty());
    bool draining = false;
    for (const auto& beat : service_->heartbeats) draining = draining || beat.draining();
    EXPECT_TRUE(draining);
  });
}

// Inside a SLURM job (deploy/slurm/), SIGTERM is SLURM preempting the node
// or its time limit coming: the job is handed back as PREEMPTED (queued
// again without using an attempt), and the worker says which SLURM job it is.
TEST_F(WorkerRpcTest, UnderSlurmSigtermHandsTheJobBackAsPreempted) {
  StartSyntheticWorker({"--synthetic-steps-per-second", "10"},
                       {{"SLURM_JOB_ID", "77"}, {"SLURM_JOB_PARTITION", "debug"}});
  service_->Queue(Job(15, 1'000'000'000));
  ASSERT_TRUE(service_->WaitFor([&] { return StartedReported(15); }));
  ShutDownWorker();
  service_->Inspect([&] {
    ASSERT_EQ(service_->hand_backs.size(), 1u);
    EXPECT_EQ(service_->hand_backs[0].lease().job_id(), 15);
    EXPECT_EQ(service_->hand_backs[0].reason(), v1::HandBackJobRequest::REASON_PREEMPTED);
    ASSERT_FALSE(service_->registers.empty());
    const auto& labels = service_->registers.at(0).labels();
    EXPECT_EQ(labels.count("slurm-job") ? labels.at("slurm-job") : "", "77");
    EXPECT_EQ(labels.count("slurm-partition") ? labels.at("slurm-partition") : "", "debug");
    EXPECT_EQ(labels.count("lab") ? labels.at("lab") : "", "a");
  });
}

TEST_F(WorkerRpcTest, CancelledJobIsStoppedAndHandedBack) {
  StartSyntheticWorker({"--synthetic-steps-per-second", "10"});
  service_->Queue(Job(13, 1'000'000'000));
  ASSERT_TRUE(service_->WaitFor([&] { return StartedReported(13); }));
  service_->CancelJob(13);
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->hand_backs.empty(); }));
  ShutDownWorker();
  service_->Inspect([&] {
    ASSERT_EQ(service_->hand_backs.size(), 1u);
    EXPECT_EQ(service_->hand_backs[0].reason(), v1::HandBackJobRequest::REASON_CANCELLED);
  });
}

TEST_F(WorkerRpcTest, LostLeaseIsKilledAndNeverReported) {
  StartSyntheticWorker({"--synthetic-steps-per-second", "10"});
  service_->Queue(Job(14, 1'000'000'000));
  ASSERT_TRUE(service_->WaitFor([&] { return StartedReported(14); }));
  service_->InvalidateJob(14);
  ASSERT_TRUE(service_->WaitFor([&] { return service_->invalid_answers > 0; }));
  // A later job still runs: the lost one freed its GPU.
  service_->Queue(Job(15, 2));
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->completes.empty(); }));
  ShutDownWorker();
  service_->Inspect([&] {
    EXPECT_EQ(service_->completes.size(), 1u);
    EXPECT_EQ(service_->completes[0].lease().job_id(), 15);
    EXPECT_TRUE(service_->fails.empty());
    EXPECT_TRUE(service_->hand_backs.empty());  // nothing about job 14
  });
}

TEST_F(WorkerRpcTest, FailingSyntheticJobIsReportedRetryable) {
  StartSyntheticWorker({"--synthetic-fail-every", "1", "--synthetic-exit-code", "3"});
  v1::JobSpec spec = Job(16, 100);
  spec.add_no_retry_exit_codes(2);
  service_->Queue(spec);
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->fails.empty(); }));
  ShutDownWorker();
  service_->Inspect([&] {
    const v1::JobFailure& failure = service_->fails.at(0).failure();
    EXPECT_EQ(failure.kind(), v1::JobFailure::KIND_EXIT_CODE);
    EXPECT_EQ(failure.exit_code(), 3);
    EXPECT_TRUE(failure.retryable());
    EXPECT_NE(failure.message().find("[synthetic]"), std::string::npos);
  });
}

TEST_F(WorkerRpcTest, CompleteIsRetriedThroughUnavailable) {
  service_->FailCompletesWithUnavailable(2);
  StartSyntheticWorker();
  service_->Queue(Job(17, 100));
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->completes.empty(); }));
  ShutDownWorker();
  service_->Inspect([&] {
    EXPECT_EQ(service_->completes.size(), 1u);
  });
}

TEST_F(WorkerRpcTest, RealCommandRunsAndCompletes) {
  // A CPU-only worker (no nvidia-smi needed) running a real shell command.
  StartWorker({"--gpus", "none", "--cpu-slots", "1"});
  v1::JobSpec spec = Job(18, 2000, /*gpus=*/0);
  spec.clear_argv();
  spec.set_shell(
      "echo 'step:1K loss:0.5'; echo 'step:2K loss:0.25'; cat {subset_manifest}; "
      "echo \"cuda=[$CUDA_VISIBLE_DEVICES]\"; "
      "mkdir -p {output_dir}/checkpoints && touch {output_dir}/checkpoints/last.ckpt");
  service_->Queue(spec);
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->completes.empty(); }));
  ShutDownWorker();
  service_->Inspect([&] {
    const v1::CompleteJobRequest& done = service_->completes.at(0);
    EXPECT_EQ(done.checkpoint_uri(), root_ + "/artifacts/jobs/18/checkpoints/last.ckpt");
    EXPECT_FALSE(done.provenance().synthetic());
    EXPECT_TRUE(done.provenance().shell());
    EXPECT_DOUBLE_EQ(done.final_metrics().at("loss"), 0.25);
    EXPECT_EQ(done.gpu_seconds(), 0);  // no GPUs used
    EXPECT_EQ(service_->progress.back().progress().step(), 2000);
    const std::string& log = service_->logs[18];
    EXPECT_NE(log.find("step:2K loss:0.25"), std::string::npos);
    EXPECT_NE(log.find(R"({"episodes": [0, 2]})"), std::string::npos);
    EXPECT_NE(log.find("cuda=[]"), std::string::npos);
    EXPECT_TRUE(service_->log_errors.empty());
  });
}

// ------------------------------------------------ seed 001's jobs over gRPC

class SeedJobsRpcTest : public WorkerRpcTest {
 protected:
  v1::JobSpec GenerateJob(int64_t id, int64_t n_demos) {
    v1::JobSpec spec = Job(id, 0, /*gpus=*/0);
    spec.mutable_job()->set_kind(v1::JOB_KIND_GENERATE);
    spec.mutable_job()->set_n_demos(n_demos);
    spec.set_checkpoint_template("");
    spec.set_result_format("mimicgen");
    spec.set_result_file_template("{output_dir}/important_stats.json");
    return spec;
  }
  v1::JobSpec EvaluateJob(int64_t id, int n_episodes, const std::string& format) {
    v1::JobSpec spec = Job(id, 0, /*gpus=*/0);
    spec.mutable_job()->set_kind(v1::JOB_KIND_EVALUATE);
    spec.mutable_job()->set_seed(7);
    spec.set_checkpoint_template("");
    spec.set_result_format(format);
    spec.set_result_file_template("{output_dir}/result.json");
    v1::EvaluationTask& task = *spec.mutable_evaluation();
    task.set_request_id(id);
    task.set_scenario("sim");
    task.set_checkpoint_uri("file://" + root_ + "/artifacts/jobs/1/checkpoints/last.ckpt");
    task.set_n_episodes(n_episodes);
    return spec;
  }
  std::string JobDir(int64_t id) { return root_ + "/artifacts/jobs/" + std::to_string(id); }

  // Under the lock: the terminal report of `job`.
  const v1::CompleteJobRequest* Completed(int64_t job) {
    for (const auto& c : service_->completes) {
      if (c.lease().job_id() == job) return &c;
    }
    return nullptr;
  }
  const v1::FailJobRequest* Failed(int64_t job) {
    for (const auto& f : service_->fails) {
      if (f.lease().job_id() == job) return &f;
    }
    return nullptr;
  }
  const v1::ReportProgressRequest* LastProgress(int64_t job) {
    const v1::ReportProgressRequest* last = nullptr;
    for (const auto& p : service_->progress) {
      if (p.lease().job_id() == job) last = &p;
    }
    return last;
  }
};

TEST_F(SeedJobsRpcTest, SyntheticGenerateEvaluateAndStepCheckpoints) {
  StartSyntheticWorker({"--cpu-slots", "1"});
  service_->Queue(GenerateJob(31, 40));
  service_->Queue(EvaluateJob(32, 10, "lerobot"));
  v1::JobSpec train = Job(33, 1000, /*gpus=*/0);
  train.add_checkpoint_steps(500);
  train.set_checkpoint_at_step_template("{output_dir}/checkpoints/{step}.ckpt");
  service_->Queue(train);
  ASSERT_TRUE(service_->WaitFor([&] { return service_->completes.size() == 3; }));
  ShutDownWorker();
  service_->Inspect([&] {
    EXPECT_TRUE(service_->fails.empty());
    const v1::CompleteJobRequest* generate = Completed(31);
    ASSERT_NE(generate, nullptr);
    EXPECT_EQ(generate->checkpoint_uri(), JobDir(31));  // the generated dataset
    ASSERT_TRUE(generate->has_generation());
    EXPECT_EQ(generate->generation().num_success(), 40);
    EXPECT_EQ(generate->generation().num_attempts(), 50);
    EXPECT_DOUBLE_EQ(generate->generation().success_rate(), 0.8);
    EXPECT_GT(generate->generation().seconds(), 0);
    EXPECT_TRUE(generate->episodes().empty());
    // Progress: demos made out of the demos wanted.
    ASSERT_NE(LastProgress(31), nullptr);
    EXPECT_EQ(LastProgress(31)->progress().total_steps(), 40);
    EXPECT_EQ(LastProgress(31)->progress().step(), 40);
    EXPECT_EQ(LastProgress(31)->progress().metrics().at("attempts"), 50);

    const v1::CompleteJobRequest* evaluate = Completed(32);
    ASSERT_NE(evaluate, nullptr);
    EXPECT_EQ(evaluate->checkpoint_uri(), JobDir(32) + "/result.json");
    ASSERT_EQ(evaluate->episodes_size(), 10);
    for (int i = 0; i < 10; ++i) {
      EXPECT_EQ(evaluate->episodes(i).index(), i);
      EXPECT_EQ(evaluate->episodes(i).seed(), 7 + i);
    }
    EXPECT_FALSE(evaluate->has_generation());
    EXPECT_EQ(LastProgress(32)->progress().total_steps(), 10);

    const v1::CompleteJobRequest* trained = Completed(33);
    ASSERT_NE(trained, nullptr);
    ASSERT_EQ(trained->step_checkpoints_size(), 1);
    EXPECT_EQ(trained->step_checkpoints(0).step(), 500);
    EXPECT_EQ(trained->step_checkpoints(0).uri(), JobDir(33) + "/checkpoints/500.ckpt");
    EXPECT_TRUE(fs::exists(JobDir(33) + "/checkpoints/500.ckpt"));
  });
}

TEST_F(SeedJobsRpcTest, RealGenerateAndEvaluateJobsAreJudgedByTheirResultFiles) {
  StartWorker({"--gpus", "none", "--cpu-slots", "1"});
  // A generator that exits 0 after an exception, with no summary.
  v1::JobSpec crashed = GenerateJob(41, 10);
  crashed.clear_argv();
  crashed.set_shell("echo 'RuntimeError: mujoco' >&2; exit 0");
  service_->Queue(crashed);
  // A generator that made what was wanted.
  v1::JobSpec generated = GenerateJob(42, 8);
  generated.clear_argv();
  // (A shell template: literal braces are doubled.)
  generated.set_shell(
      R"(echo 'have 8 successes out of 10 trials so far'; )"
      R"(echo '{{"num_success": 8, "num_failures": 2, "num_attempts": 10, )"
      R"("success_rate": 80.0}}' > {output_dir}/important_stats.json)");
  service_->Queue(generated);
  // An evaluation that ran more episodes than asked for.
  const std::string two_episodes =
      R"(echo '{{"format": "mixsweep.eval.v1", "episodes": [{{"index": 0, "success": )"
      R"(true}}, {{"index": 1, "success": false, "score": 0.5}}]}}' > {output_dir}/result.json)";
  v1::JobSpec too_many = EvaluateJob(43, 1, "mixsweep");
  too_many.clear_argv();
  too_many.set_shell(two_episodes);
  service_->Queue(too_many);
  // And one that ran exactly those.
  v1::JobSpec evaluated = EvaluateJob(44, 2, "mixsweep");
  evaluated.clear_argv();
  evaluated.set_shell("test -n {checkpoint} && test {n_episodes} = 2 && " + two_episodes);
  service_->Queue(evaluated);
  ASSERT_TRUE(service_->WaitFor(
      [&] { return service_->completes.size() + service_->fails.size() == 4; }, 60s));
  ShutDownWorker();
  service_->Inspect([&] {
    const v1::FailJobRequest* no_summary = Failed(41);
    ASSERT_NE(no_summary, nullptr);
    EXPECT_EQ(no_summary->failure().kind(), v1::JobFailure::KIND_BAD_RESULT);
    EXPECT_TRUE(no_summary->failure().retryable());
    EXPECT_NE(no_summary->failure().message().find(JobDir(41) + "/important_stats.json does not exist"),
              std::string::npos)
        << no_summary->failure().message();
    EXPECT_NE(no_summary->failure().message().find("RuntimeError: mujoco"), std::string::npos);

    const v1::CompleteJobRequest* generate = Completed(42);
    ASSERT_NE(generate, nullptr);
    EXPECT_EQ(generate->generation().num_success(), 8);
    EXPECT_EQ(generate->generation().num_attempts(), 10);
    EXPECT_DOUBLE_EQ(generate->generation().success_rate(), 0.8);
    EXPECT_EQ(LastProgress(42)->progress().step(), 8);
    EXPECT_EQ(LastProgress(42)->progress().total_steps(), 8);

    const v1::FailJobRequest* beyond = Failed(43);
    ASSERT_NE(beyond, nullptr);
    EXPECT_EQ(beyond->failure().kind(), v1::JobFailure::KIND_BAD_RESULT);
    EXPECT_FALSE(beyond->failure().retryable());
    EXPECT_NE(beyond->failure().message().find("episodes beyond the requested count (1)"),
              std::string::npos)
        << beyond->failure().message();
    EXPECT_EQ(Completed(43), nullptr);

    const v1::CompleteJobRequest* evaluate = Completed(44);
    ASSERT_NE(evaluate, nullptr) << (Failed(44) ? Failed(44)->failure().message() : "");
    EXPECT_EQ(evaluate->checkpoint_uri(), JobDir(44) + "/result.json");
    ASSERT_EQ(evaluate->episodes_size(), 2);
    EXPECT_TRUE(evaluate->episodes(0).success());
    EXPECT_EQ(evaluate->episodes(0).score(), 1.0);
    EXPECT_FALSE(evaluate->episodes(1).success());
    EXPECT_EQ(evaluate->episodes(1).score(), 0.5);
  });
}

TEST_F(WorkerRpcTest, ExitsCleanlyOnSigtermWhileIdle) {
  StartSyntheticWorker();
  ASSERT_TRUE(service_->WaitFor([&] { return !service_->registers.empty(); }));
  ShutDownWorker();
}

}  // namespace
}  // namespace mixsweep::workers
