// WorkerAgent: the heart of mixsweep-worker.
//
//   RegisterWorker -> loop { LeaseJob (long poll, one at a time, while a GPU
//   or CPU slot is free) -> a JobSession per lease: JobRunner (process or
//   synthetic) -> ReportProgress / AppendLog -> CompleteJob | FailJob |
//   HandBackJob }, Heartbeat every heartbeat_interval.
//
// Threads: everything the agent decides runs on the io_context thread (one
// thread runs io.run()); every gRPC call blocks, so it runs on the agent's
// thread pool and its answer is posted back to the io_context. No state is
// shared between the two but the (thread-safe) WorkerClient.
//
// Every job kind goes through the same machinery: generate jobs report the
// demos made so far as their step (MimicGen's progress line) out of the demos
// wanted, evaluate jobs out of their episodes (TotalStepsOf); a generate or
// evaluate job completes only when its result file says so
// (DecideJobTerminal), and its CompleteJob carries `generation` or
// `episodes`; a training job's CompleteJob carries its `step_checkpoints`.
//
// Per job, reports go out one at a time in order (the started report first,
// then log chunks and progress at most once a second each, a final progress,
// the whole log, then the terminal call), so log offsets stay contiguous and
// the terminal call is the last word. A lost lease (heartbeat valid=false, or
// FAILED_PRECONDITION on any report) kills the process group at once and
// reports nothing more.
//
// Shutdown (SIGTERM/SIGINT, via Shutdown()): stop leasing (the long poll is
// cancelled, heartbeats say draining), stop every job (SIGTERM, SIGKILL after
// --stop-grace-seconds), hand each back with REASON_SHUTDOWN, then
// `on_exit(0)`. A second Shutdown() kills what is left at once.
//
// Example:
//   boost::asio::io_context io;
//   WorkerAgent agent(io, options, [&](int code) { exit_code = code; signals.cancel(); });
//   agent.Start();
//   io.run();
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "workers/agent/agent_logic.h"
#include "workers/agent/job_runner.h"
#include "workers/agent/worker_client.h"
#include "workers/agent/worker_stats.h"
#include "workers/gpu_probe.h"

namespace mixsweep::workers {

inline constexpr const char* kWorkerVersion = "0.1.0";

struct AgentOptions {
  std::string server = "127.0.0.1:50051";  // for logs
  // To mixsweepd, carrying the worker's token (client::MakeChannel).
  std::shared_ptr<grpc::Channel> channel;
  std::string name;  // default: the host name
  std::string host;
  std::map<std::string, std::string> labels;
  std::vector<GpuInfo> gpus;  // the GPUs this worker offers
  // Re-read memory and utilisation for heartbeats (real GPUs only).
  bool reprobe_gpus = false;
  int cpu_slots = 1;  // 0-GPU jobs at once (see SlotPool)
  std::chrono::seconds lease_wait = std::chrono::seconds(20);
  std::chrono::milliseconds stop_grace = std::chrono::seconds(30);
  // A shutdown signal means the cluster manager preempts the node (under
  // SLURM, slurm_env.h): running jobs are handed back as PREEMPTED.
  bool shutdown_is_preemption = false;
  // How long shutdown keeps retrying its last calls when the server is away.
  std::chrono::milliseconds shutdown_rpc_budget = std::chrono::seconds(30);

  // Where the agent publishes what it did and holds (its /metrics); may be
  // null.
  WorkerStats* stats = nullptr;

  bool synthetic = false;
  double synthetic_steps_per_second = 20000;
  int64_t synthetic_fail_every = 0;  // 0: never
  int synthetic_exit_code = 1;
};

class JobSession;

class WorkerAgent {
 public:
  // `on_exit(code)` is called once, on the io_context thread, when the agent
  // is done (0 after a clean shutdown, 1 when registration was refused).
  WorkerAgent(boost::asio::io_context& io, AgentOptions options,
              std::function<void(int)> on_exit);
  ~WorkerAgent();  // joins the RPC threads

  void Start();
  // Call on the io_context thread.
  void Shutdown();

 private:
  friend class JobSession;

  // Runs `call()` on the pool and `done(result)` back on the io_context.
  template <typename Call, typename Done>
  void Rpc(Call call, Done done);

  void Register();
  void OnRegistered(const mixsweep::v1::RegisterWorkerResponse& response);
  void MaybeLease();
  void RestartLeaseIfStale();
  void OnLeased(const grpc::Status& status, const mixsweep::v1::LeaseJobResponse& response);
  void StartJob(const mixsweep::v1::LeaseJobResponse& response);
  void HandBackUnstarted(const mixsweep::v1::LeaseRef& lease,
                         mixsweep::v1::HandBackJobRequest::Reason reason);
  void ScheduleHeartbeat();
  void SendHeartbeat();
  void OnHeartbeat(const mixsweep::v1::HeartbeatResponse& response);
  void ScheduleTick();

  // Session hooks.
  void Pump(JobSession& session);
  void OnSessionExit(JobSession& session);
  void LoseLease(JobSession& session, const std::string& why);
  void StopJob(JobSession& session, StopReason reason, std::chrono::milliseconds grace);
  void SendTerminal(JobSession& session);
  void RemoveSession(int64_t fencing_token);
  void HandleReportError(int64_t fencing_token, const grpc::Status& status, const char* what);
  JobSession* Find(int64_t fencing_token);

  void MaybeExit();
  // Tells options_.stats how many jobs run and GPUs are busy now.
  void PublishLoad();
  // Tells options_.stats that a session's job ended with `outcome`.
  void CountJobEnd(const JobSession& session, const char* outcome);

  boost::asio::io_context& io_;
  AgentOptions options_;
  std::function<void(int)> on_exit_;
  WorkerClient client_;
  boost::asio::thread_pool pool_;

  // io_context thread only below.
  SlotPool slots_;
  int64_t worker_id_ = 0;
  bool registered_ = false;
  std::string artifact_root_;  // local path
  std::chrono::milliseconds heartbeat_interval_{10000};
  std::map<int64_t, std::unique_ptr<JobSession>> sessions_;  // by fencing token
  bool lease_in_flight_ = false;
  std::shared_ptr<CallCanceller> lease_canceller_;
  int lease_free_gpus_ = 0;     // free GPUs the outstanding long poll asked with
  std::string lease_key_;       // idempotency key of LeaseJob until it is answered
  bool lease_restart_ = false;  // we cancelled it to ask again with more
  std::shared_ptr<CallCanceller> register_canceller_;
  bool heartbeat_in_flight_ = false;
  int rpcs_in_flight_ = 0;
  int64_t synthetic_jobs_ = 0;
  int shutdown_signals_ = 0;
  bool exited_ = false;
  boost::asio::steady_timer heartbeat_timer_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer lease_retry_timer_;
};

}  // namespace mixsweep::workers
