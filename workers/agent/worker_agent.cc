#include "workers/agent/worker_agent.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "workers/agent/process_runner.h"
#include "workers/agent/synthetic_runner.h"

namespace mixsweep::workers {

namespace asio = boost::asio;
namespace v1 = mixsweep::v1;
using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;
using namespace std::chrono_literals;

namespace {

// How often queued reports are looked at; each kind still goes out at most
// once a second per job.
constexpr auto kPumpTick = 250ms;
constexpr auto kReportInterval = 1s;
// After an unexpected LeaseJob error (not UNAVAILABLE, which the client retries).
constexpr auto kLeaseErrorPause = 5s;

template <typename Response>
struct Answer {
  grpc::Status status;
  Response response;
};

int ThreadsFor(const AgentOptions& options) {
  // The long poll, the heartbeat, and one report at a time per running job.
  const int slots = static_cast<int>(options.gpus.size()) + std::max(options.cpu_slots, 0);
  return std::clamp(2 + slots, 3, 16);
}

std::vector<int> IndicesOf(const std::vector<GpuInfo>& gpus) {
  std::vector<int> indices;
  for (const GpuInfo& gpu : gpus) indices.push_back(gpu.index);
  return indices;
}

v1::Gpu ToProto(const GpuInfo& gpu) {
  v1::Gpu out;
  out.set_index(gpu.index);
  out.set_name(gpu.name);
  out.set_memory_total_mib(gpu.memory_total_mib);
  out.set_memory_used_mib(gpu.memory_used_mib);
  out.set_utilization_percent(gpu.utilization_percent);
  out.set_uuid(gpu.uuid);
  return out;
}

// "train" for JOB_KIND_TRAIN: the label the metrics use.
std::string JobKindLabel(v1::JobKind kind) {
  std::string name = absl::AsciiStrToLower(v1::JobKind_Name(kind));
  return absl::StartsWith(name, "job_kind_") ? name.substr(9) : name;
}

const char* KindName(TerminalAction::Kind kind) {
  switch (kind) {
    case TerminalAction::Kind::kComplete: return "complete";
    case TerminalAction::Kind::kFail: return "fail";
    case TerminalAction::Kind::kHandBack: return "hand back";
    case TerminalAction::Kind::kNothing: return "nothing";
  }
  return "?";
}

}  // namespace

// --------------------------------------------------------------- JobSession

// One leased job: its runner and the reports still to send. Lives on the
// io_context thread; removed once its terminal call is answered (or, for a
// lost lease, once the process is gone).
class JobSession : public JobEvents {
 public:
  JobSession(WorkerAgent& agent, v1::LeaseRef lease, v1::JobSpec spec, SlotAssignment slots)
      : agent_(agent), lease(std::move(lease)), spec(std::move(spec)), slots(std::move(slots)) {
    progress.set_total_steps(TotalStepsOf(this->spec));
  }

  void OnStarted(const v1::Provenance& provenance_in) override {
    provenance = provenance_in;
    started = true;
    started_at = Clock::now();
    agent_.Pump(*this);
  }

  void OnOutput(std::string_view bytes) override {
    log.Append(bytes);
    if (log.full_chunk_ready()) agent_.Pump(*this);
  }

  void OnProgress(const ProgressSample& sample) override {
    const auto now = Clock::now();
    if (!first_sample) first_sample = std::make_pair(now, sample.step);
    const double seconds = std::chrono::duration<double>(now - first_sample->first).count();
    progress.set_step(sample.step);
    for (const auto& [name, value] : sample.metrics) (*progress.mutable_metrics())[name] = value;
    if (seconds > 0) {
      progress.set_steps_per_second(static_cast<double>(sample.step - first_sample->second) /
                                    seconds);
    }
    ++progress_version;
  }

  void OnExit(const RunResult& result_in) override {
    result = result_in;
    exited = true;
    agent_.OnSessionExit(*this);
  }

  int64_t job_id() const { return lease.job_id(); }
  int64_t token() const { return lease.fencing_token(); }
  double gpu_seconds() const {
    return result.wall_seconds * static_cast<double>(slots.gpu_indices.size());
  }

  WorkerAgent& agent_;
  const v1::LeaseRef lease;
  const v1::JobSpec spec;
  const SlotAssignment slots;
  std::shared_ptr<JobRunner> runner;

  v1::Provenance provenance;
  bool started = false;          // the runner said so
  bool start_reported = false;   // the server heard it (started=true)
  Clock::time_point started_at;
  LogBuffer log;
  v1::JobProgress progress;
  int64_t progress_version = 0;  // bumped per sample
  int64_t progress_reported = 0;
  std::optional<std::pair<Clock::time_point, int64_t>> first_sample;
  Clock::time_point last_log_sent, last_progress_sent;

  StopReason stop = StopReason::kNone;
  bool exited = false;
  RunResult result;
  bool slots_released = false;
  bool rpc_busy = false;       // one report in flight at a time, in order
  bool terminal_sent = false;
  bool terminal_done = false;
  bool lost = false;
  bool removing = false;
};

// -------------------------------------------------------------- WorkerAgent

WorkerAgent::WorkerAgent(asio::io_context& io, AgentOptions options,
                         std::function<void(int)> on_exit)
    : io_(io),
      options_(std::move(options)),
      on_exit_(std::move(on_exit)),
      client_(options_.channel),
      pool_(ThreadsFor(options_)),
      slots_(IndicesOf(options_.gpus), options_.cpu_slots),
      heartbeat_timer_(io),
      tick_timer_(io),
      lease_retry_timer_(io) {}

WorkerAgent::~WorkerAgent() {
  // Normally nothing is in flight by now (on_exit waits for it); if the
  // io_context stopped early, do not wait out a long poll.
  if (lease_canceller_) lease_canceller_->Cancel();
  if (register_canceller_) register_canceller_->Cancel();
  client_.SetRetryDeadline(Clock::now());
  pool_.join();
}

template <typename Call, typename Done>
void WorkerAgent::Rpc(Call call, Done done) {
  ++rpcs_in_flight_;
  asio::post(pool_, [this, call = std::move(call), done = std::move(done)]() mutable {
    auto answer = call();  // blocking: on a pool thread
    asio::post(io_, [this, answer = std::move(answer), done = std::move(done)]() mutable {
      --rpcs_in_flight_;
      done(answer);
      MaybeExit();
    });
  });
}

// ------------------------------------------------------------ registration

void WorkerAgent::Start() {
  spdlog::info("mixsweep-worker {} '{}' on {}: {} GPU(s), {} CPU slot(s){}, server {}",
               kWorkerVersion, options_.name, options_.host, options_.gpus.size(),
               options_.cpu_slots, options_.synthetic ? ", synthetic" : "", options_.server);
  Register();
}

void WorkerAgent::Register() {
  v1::RegisterWorkerRequest request;
  request.set_name(options_.name);
  request.set_host(options_.host);
  for (const GpuInfo& gpu : options_.gpus) *request.add_gpus() = ToProto(gpu);
  request.mutable_labels()->insert(options_.labels.begin(), options_.labels.end());
  request.set_version(kWorkerVersion);
  request.set_synthetic(options_.synthetic);
  request.set_idempotency_key(NewIdempotencyKey());
  register_canceller_ = std::make_shared<CallCanceller>();
  Rpc(
      [this, request, canceller = register_canceller_] {
        Answer<v1::RegisterWorkerResponse> a;
        a.status = client_.RegisterWorker(request, &a.response, canceller.get());
        return a;
      },
      [this](const Answer<v1::RegisterWorkerResponse>& a) {
        if (a.status.ok()) {
          OnRegistered(a.response);
          return;
        }
        if (shutdown_signals_ > 0) return;  // cancelled by Shutdown(): MaybeExit ends it
        spdlog::error("RegisterWorker failed: {} (code {})", a.status.error_message(),
                      static_cast<int>(a.status.error_code()));
        exited_ = true;
        on_exit_(1);
      });
}

void WorkerAgent::OnRegistered(const v1::RegisterWorkerResponse& response) {
  if (shutdown_signals_ > 0) return;
  worker_id_ = response.worker_id();
  const auto interval = std::chrono::milliseconds(
      TimeUtil::DurationToMilliseconds(response.heartbeat_interval()));
  if (interval > 0ms) heartbeat_interval_ = interval;
  artifact_root_ = LocalPathOf(response.artifact_root());
  if (artifact_root_.empty()) {
    spdlog::error("the server's artifact root '{}' is not a local path (file:// or absolute); "
                  "this worker cannot write job outputs there",
                  response.artifact_root());
    exited_ = true;
    on_exit_(1);
    return;
  }
  registered_ = true;
  spdlog::info("registered as worker {}: heartbeat every {} ms, lease TTL {} s, artifacts in {}",
               worker_id_, heartbeat_interval_.count(),
               TimeUtil::DurationToSeconds(response.lease_ttl()), artifact_root_);
  ScheduleHeartbeat();
  ScheduleTick();
  MaybeLease();
}

// ----------------------------------------------------------------- leasing

void WorkerAgent::MaybeLease() {
  if (!registered_ || exited_ || shutdown_signals_ > 0 || lease_in_flight_ || !slots_.CanLease()) {
    return;
  }
  v1::LeaseJobRequest request;
  request.set_worker_id(worker_id_);
  for (int index : slots_.FreeGpus()) request.add_free_gpu_indices(index);
  request.mutable_wait()->set_seconds(options_.lease_wait.count());
  // The key changes only after an answer: a call that ended without one
  // (we cancelled it to ask with more GPUs, or the scheduler died mid-call)
  // may have been granted, and asking again under the same key returns
  // that lease instead of leaving it to expire and cost an attempt.
  if (lease_key_.empty()) lease_key_ = NewIdempotencyKey();
  request.set_idempotency_key(lease_key_);
  lease_in_flight_ = true;
  lease_free_gpus_ = request.free_gpu_indices_size();
  lease_canceller_ = std::make_shared<CallCanceller>();
  Rpc(
      [this, request, canceller = lease_canceller_] {
        Answer<v1::LeaseJobResponse> a;
        a.status = client_.LeaseJob(request, &a.response, canceller.get());
        return a;
      },
      [this](const Answer<v1::LeaseJobResponse>& a) {
        lease_in_flight_ = false;
        OnLeased(a.status, a.response);
      });
}

void WorkerAgent::OnLeased(const grpc::Status& status, const v1::LeaseJobResponse& response) {
  const bool restarting = lease_restart_;
  lease_restart_ = false;
  if (status.ok()) lease_key_.clear();
  if (status.ok() && response.has_spec()) {
    if (shutdown_signals_ > 0) {
      // Granted just as we stopped leasing: give it straight back.
      HandBackUnstarted(response.lease(), options_.shutdown_is_preemption
                                              ? v1::HandBackJobRequest::REASON_PREEMPTED
                                              : v1::HandBackJobRequest::REASON_SHUTDOWN);
      return;
    }
    StartJob(response);
  } else if (!status.ok()) {
    if (shutdown_signals_ > 0) return;
    if (restarting) {  // we cancelled it ourselves, to ask again with more GPUs
      MaybeLease();
      return;
    }
    spdlog::warn("LeaseJob failed: {} (code {}); trying again in {} s", status.error_message(),
                 static_cast<int>(status.error_code()), kLeaseErrorPause.count());
    lease_retry_timer_.expires_after(kLeaseErrorPause);
    lease_retry_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) MaybeLease();
    });
    return;
  }
  MaybeLease();
}

void WorkerAgent::StartJob(const v1::LeaseJobResponse& response) {
  const v1::JobSpec& spec = response.spec();
  std::optional<SlotAssignment> slots = slots_.Take(spec.gpus());
  if (!slots) {
    // The server grants only what fits the free GPUs we sent; if it did not,
    // someone else should run it.
    spdlog::error("job {} needs {} GPU(s) but only {} are free; handing it back",
                  response.lease().job_id(), spec.gpus(), slots_.FreeGpus().size());
    HandBackUnstarted(response.lease(), v1::HandBackJobRequest::REASON_UNSPECIFIED);
    return;
  }
  JobLaunch launch;
  launch.spec = spec;
  launch.gpu_indices = slots->gpu_indices;
  for (int index : slots->gpu_indices) {
    for (const GpuInfo& gpu : options_.gpus) {
      if (gpu.index == index) launch.gpu_uuids.push_back(gpu.uuid);
    }
  }
  launch.artifact_root = artifact_root_;
  launch.worker_host = options_.host;
  launch.synthetic = options_.synthetic;

  auto session = std::make_unique<JobSession>(*this, response.lease(), spec, *slots);
  if (options_.synthetic) {
    ++synthetic_jobs_;
    session->runner = MakeSyntheticRunner(
        io_, std::move(launch), *session,
        SyntheticRunnerOptions{
            .steps_per_second = options_.synthetic_steps_per_second,
            .fail = SyntheticJobFails(synthetic_jobs_, options_.synthetic_fail_every),
            .exit_code = options_.synthetic_exit_code});
  } else {
    session->runner = MakeProcessRunner(io_, std::move(launch), *session,
                                        ProcessRunnerOptions{.deadline_grace = options_.stop_grace});
  }
  spdlog::info("leased job {} (token {}, {} GPU(s): [{}])", response.lease().job_id(),
               response.lease().fencing_token(), slots->gpu_indices.size(),
               JoinIndices(slots->gpu_indices));
  JobSession& ref = *session;
  sessions_[ref.token()] = std::move(session);
  PublishLoad();
  ref.runner->Start();
}

void WorkerAgent::HandBackUnstarted(const v1::LeaseRef& lease,
                                    v1::HandBackJobRequest::Reason reason) {
  v1::HandBackJobRequest request;
  *request.mutable_lease() = lease;
  request.set_reason(reason);
  Rpc(
      [this, request] {
        Answer<v1::HandBackJobResponse> a;
        a.status = client_.HandBackJob(request, &a.response);
        return a;
      },
      [job = lease.job_id()](const Answer<v1::HandBackJobResponse>& a) {
        if (!a.status.ok()) {
          spdlog::warn("HandBackJob for job {}: {}", job, a.status.error_message());
        }
      });
}

// --------------------------------------------------------------- heartbeat

void WorkerAgent::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(heartbeat_interval_);
  heartbeat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || exited_) return;
    SendHeartbeat();
    ScheduleHeartbeat();
  });
}

void WorkerAgent::SendHeartbeat() {
  if (heartbeat_in_flight_ || !registered_) return;
  v1::HeartbeatRequest request;
  request.set_worker_id(worker_id_);
  for (const auto& [token, session] : sessions_) {
    if (!session->lost && !session->removing) *request.add_leases() = session->lease;
  }
  request.set_draining(shutdown_signals_ > 0);
  heartbeat_in_flight_ = true;
  Rpc(
      [this, request, gpus = options_.gpus, reprobe = options_.reprobe_gpus]() mutable {
        if (reprobe) {
          // Current memory and utilisation of the GPUs we offer.
          if (auto probed = ProbeGpus(); probed.ok()) {
            for (GpuInfo& gpu : gpus) {
              for (const GpuInfo& now : *probed) {
                if (now.index == gpu.index) gpu = now;
              }
            }
          }
        }
        for (const GpuInfo& gpu : gpus) *request.add_gpus() = ToProto(gpu);
        Answer<v1::HeartbeatResponse> a;
        a.status = client_.Heartbeat(request, &a.response);
        return a;
      },
      [this](const Answer<v1::HeartbeatResponse>& a) {
        heartbeat_in_flight_ = false;
        if (!a.status.ok()) {
          spdlog::warn("Heartbeat failed: {} (code {})", a.status.error_message(),
                       static_cast<int>(a.status.error_code()));
          return;
        }
        OnHeartbeat(a.response);
      });
}

void WorkerAgent::OnHeartbeat(const v1::HeartbeatResponse& response) {
  for (const v1::LeaseStatus& status : response.leases()) {
    JobSession* session = Find(status.lease().fencing_token());
    if (session == nullptr || session->job_id() != status.lease().job_id()) continue;
    switch (VerdictOf(status)) {
      case LeaseVerdict::kLost:
        LoseLease(*session, "the heartbeat says the lease is no longer valid");
        break;
      case LeaseVerdict::kCancel:
        StopJob(*session, StopReason::kCancelled, options_.stop_grace);
        break;
      case LeaseVerdict::kKeep:
        break;
    }
  }
}

void WorkerAgent::ScheduleTick() {
  tick_timer_.expires_after(kPumpTick);
  tick_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || exited_) return;
    for (auto& [token, session] : sessions_) Pump(*session);
    ScheduleTick();
  });
}

// ----------------------------------------------------------------- reports

JobSession* WorkerAgent::Find(int64_t fencing_token) {
  auto it = sessions_.find(fencing_token);
  return it == sessions_.end() || it->second->removing ? nullptr : it->second.get();
}

void WorkerAgent::Pump(JobSession& s) {
  if (s.removing || s.rpc_busy) return;
  if (s.lost) {
    if (s.exited) RemoveSession(s.token());  // nothing more to say about it
    return;
  }
  if (s.terminal_sent) return;
  const auto now = Clock::now();
  const int64_t token = s.token();

  // 1. The started report, first of all (LEASED -> RUNNING).
  // 2. Log chunks: a full 64 KiB at once, else at most once a second.
  // 3. Progress, at most once a second.
  // 4. After the exit: everything left, then the terminal call.
  const bool send_start = s.started && !s.start_reported;
  if (!send_start && !s.start_reported && !s.exited) return;
  const bool final = s.exited;
  const bool progress_due = s.progress_version != s.progress_reported &&
                            (final || now - s.last_progress_sent >= kReportInterval);

  if (send_start || (s.start_reported && progress_due)) {
    v1::ReportProgressRequest request;
    *request.mutable_lease() = s.lease;
    *request.mutable_progress() = s.progress;
    *request.mutable_progress()->mutable_updated_at() = TimeUtil::GetCurrentTime();
    if (send_start) {
      request.set_started(true);
      *request.mutable_provenance() = s.provenance;
    }
    const int64_t version = s.progress_version;
    s.rpc_busy = true;
    s.last_progress_sent = now;
    Rpc(
        [this, request] {
          Answer<v1::ReportProgressResponse> a;
          a.status = client_.ReportProgress(request, &a.response);
          return a;
        },
        [this, token, version, send_start](const Answer<v1::ReportProgressResponse>& a) {
          JobSession* s = Find(token);
          if (s == nullptr) return;
          s->rpc_busy = false;
          // Even when refused for another reason, do not send it forever.
          if (send_start) s->start_reported = true;
          s->progress_reported = version;
          if (!a.status.ok()) {
            HandleReportError(token, a.status, "ReportProgress");
          } else if (a.response.cancel_requested()) {
            StopJob(*s, StopReason::kCancelled, options_.stop_grace);
          }
          if (JobSession* again = Find(token)) Pump(*again);
        });
    return;
  }

  if (auto chunk = s.log.Next();
      chunk && (final || s.log.full_chunk_ready() || now - s.last_log_sent >= kReportInterval)) {
    v1::AppendLogRequest request;
    *request.mutable_lease() = s.lease;
    request.set_offset(chunk->offset);
    request.set_data(chunk->data);
    const size_t size = chunk->data.size();
    s.rpc_busy = true;
    s.last_log_sent = now;
    Rpc(
        [this, request] {
          Answer<v1::AppendLogResponse> a;
          a.status = client_.AppendLog(request, &a.response);
          return a;
        },
        [this, token, offset = chunk->offset, size](const Answer<v1::AppendLogResponse>& a) {
          JobSession* s = Find(token);
          if (s == nullptr) return;
          s->rpc_busy = false;
          // A chunk refused for another reason is dropped, not re-sent forever.
          s->log.Acknowledge(offset, size);
          if (!a.status.ok()) HandleReportError(token, a.status, "AppendLog");
          if (JobSession* again = Find(token)) Pump(*again);
        });
    return;
  }

  if (final && !s.log.Next() && (!s.start_reported || s.progress_version == s.progress_reported)) {
    SendTerminal(s);
  }
}

void WorkerAgent::HandleReportError(int64_t token, const grpc::Status& status, const char* what) {
  JobSession* s = Find(token);
  if (s == nullptr) return;
  if (VerdictOfReportError(status.error_code()) == LeaseVerdict::kLost) {
    LoseLease(*s, absl::StrCat(what, " refused: ", status.error_message()));
    return;
  }
  spdlog::warn("job {}: {} failed: {} (code {}); dropped", s->job_id(), what,
               status.error_message(), static_cast<int>(status.error_code()));
}

void WorkerAgent::SendTerminal(JobSession& s) {
  const TerminalAction action = DecideJobTerminal(s.stop, s.result, s.spec);
  spdlog::info("job {}: {} ({:.1f} GPU-seconds){}", s.job_id(), KindName(action.kind),
               s.gpu_seconds(),
               action.kind == TerminalAction::Kind::kFail
                   ? absl::StrCat(": ", v1::JobFailure::Kind_Name(action.failure.kind()),
                                  action.failure.retryable() ? ", retryable" : ", not retryable")
                   : "");
  s.terminal_sent = true;
  const int64_t token = s.token();
  auto finished = [this, token, job = s.job_id()](const grpc::Status& status, const char* what) {
    JobSession* s = Find(token);
    if (s == nullptr) return;
    s->rpc_busy = false;
    s->terminal_done = true;
    if (!status.ok()) {
      spdlog::warn("job {}: {} failed: {} (code {})", job, what, status.error_message(),
                   static_cast<int>(status.error_code()));
    }
    RemoveSession(token);
  };
  switch (action.kind) {
    case TerminalAction::Kind::kComplete: CountJobEnd(s, "succeeded"); break;
    case TerminalAction::Kind::kFail: CountJobEnd(s, "failed"); break;
    case TerminalAction::Kind::kHandBack:
      CountJobEnd(s, action.reason == v1::HandBackJobRequest::REASON_CANCELLED ? "cancelled"
                                                                               : "handed_back");
      break;
    case TerminalAction::Kind::kNothing: CountJobEnd(s, "cancelled"); break;
  }
  switch (action.kind) {
    case TerminalAction::Kind::kNothing:
      s.terminal_done = true;
      RemoveSession(token);
      return;
    case TerminalAction::Kind::kComplete: {
      v1::CompleteJobRequest request;
      *request.mutable_lease() = s.lease;
      request.set_checkpoint_uri(action.checkpoint_uri);
      request.set_gpu_seconds(s.gpu_seconds());
      for (const auto& [name, value] : s.result.last_metrics) {
        (*request.mutable_final_metrics())[name] = value;
      }
      *request.mutable_provenance() = s.provenance;
      for (const v1::SimulatedEpisode& episode : action.episodes) {
        *request.add_episodes() = episode;
      }
      if (action.generation) *request.mutable_generation() = *action.generation;
      for (const v1::StepCheckpoint& checkpoint : action.step_checkpoints) {
        *request.add_step_checkpoints() = checkpoint;
      }
      s.rpc_busy = true;
      Rpc(
          [this, request] {
            Answer<v1::CompleteJobResponse> a;
            a.status = client_.CompleteJob(request, &a.response);
            return a;
          },
          [finished](const Answer<v1::CompleteJobResponse>& a) {
            finished(a.status, "CompleteJob");
          });
      return;
    }
    case TerminalAction::Kind::kFail: {
      v1::FailJobRequest request;
      *request.mutable_lease() = s.lease;
      *request.mutable_failure() = action.failure;
      request.set_gpu_seconds(s.gpu_seconds());
      s.rpc_busy = true;
      Rpc(
          [this, request] {
            Answer<v1::FailJobResponse> a;
            a.status = client_.FailJob(request, &a.response);
            return a;
          },
          [finished](const Answer<v1::FailJobResponse>& a) { finished(a.status, "FailJob"); });
      return;
    }
    case TerminalAction::Kind::kHandBack: {
      v1::HandBackJobRequest request;
      *request.mutable_lease() = s.lease;
      request.set_reason(action.reason);
      request.set_resume_checkpoint_uri(action.checkpoint_uri);
      request.set_gpu_seconds(s.gpu_seconds());
      s.rpc_busy = true;
      Rpc(
          [this, request] {
            Answer<v1::HandBackJobResponse> a;
            a.status = client_.HandBackJob(request, &a.response);
            return a;
          },
          [finished](const Answer<v1::HandBackJobResponse>& a) {
            finished(a.status, "HandBackJob");
          });
      return;
    }
  }
}

// -------------------------------------------------------- job lifecycle

void WorkerAgent::OnSessionExit(JobSession& s) {
  if (!s.slots_released) {
    s.slots_released = true;
    slots_.Release(s.slots);
    PublishLoad();
    RestartLeaseIfStale();
  }
  if (s.lost) {
    if (!s.rpc_busy) RemoveSession(s.token());
  } else {
    Pump(s);
  }
  MaybeLease();
}

// A long poll sent while GPUs were busy asks only for what was free then: it
// would wait out its whole period for a job that fits, while the GPUs freed
// since sit idle. Cancel it and ask again with the current free set.
void WorkerAgent::RestartLeaseIfStale() {
  if (!lease_in_flight_ || lease_restart_ || lease_canceller_ == nullptr) return;
  if (static_cast<int>(slots_.FreeGpus().size()) <= lease_free_gpus_) return;
  lease_restart_ = true;
  lease_canceller_->Cancel();
}

void WorkerAgent::LoseLease(JobSession& s, const std::string& why) {
  if (s.lost) return;
  spdlog::warn("job {}: lease lost ({}); killing it and reporting nothing more", s.job_id(), why);
  s.lost = true;
  s.stop = StopReason::kLeaseLost;
  CountJobEnd(s, "lease_lost");
  if (!s.exited) {
    s.runner->Stop(0ms);  // SIGKILL to the group at once
  } else if (!s.rpc_busy) {
    RemoveSession(s.token());
  }
}

void WorkerAgent::StopJob(JobSession& s, StopReason reason, std::chrono::milliseconds grace) {
  if (s.lost || s.exited) return;
  if (s.stop == StopReason::kNone) {
    s.stop = reason;
    spdlog::info("job {}: stopping ({}), grace {} ms", s.job_id(),
                 reason == StopReason::kCancelled   ? "cancelled"
                 : reason == StopReason::kPreempted ? "preempted"
                                                    : "worker shutting down",
                 grace.count());
  }
  s.runner->Stop(grace);
}

void WorkerAgent::RemoveSession(int64_t token) {
  auto it = sessions_.find(token);
  if (it == sessions_.end() || it->second->removing) return;
  it->second->removing = true;
  // Not now: we may be inside one of the session's own callbacks.
  asio::post(io_, [this, token] {
    sessions_.erase(token);
    PublishLoad();
    MaybeLease();
    MaybeExit();
  });
}

// ---------------------------------------------------------------- metrics

void WorkerAgent::PublishLoad() {
  if (options_.stats == nullptr) return;
  const int total = static_cast<int>(options_.gpus.size());
  options_.stats->SetLoad({.jobs_running = static_cast<int>(sessions_.size()),
                           .gpus_busy = total - static_cast<int>(slots_.FreeGpus().size()),
                           .gpus_total = total});
}

void WorkerAgent::CountJobEnd(const JobSession& s, const char* outcome) {
  if (options_.stats == nullptr) return;
  options_.stats->JobEnded(JobKindLabel(s.spec.job().kind()), outcome);
}

// ---------------------------------------------------------------- shutdown

void WorkerAgent::Shutdown() {
  if (exited_) return;
  ++shutdown_signals_;
  const StopReason stop =
      options_.shutdown_is_preemption ? StopReason::kPreempted : StopReason::kShutdown;
  if (shutdown_signals_ == 1) {
    spdlog::info("shutting down: no more leases; stopping {} job(s) with {} ms grace",
                 sessions_.size(), options_.stop_grace.count());
    client_.SetRetryDeadline(Clock::now() + options_.stop_grace + options_.shutdown_rpc_budget);
    if (lease_canceller_) lease_canceller_->Cancel();
    if (register_canceller_) register_canceller_->Cancel();
    lease_retry_timer_.cancel();
    for (auto& [token, session] : sessions_) {
      StopJob(*session, stop, options_.stop_grace);
    }
    SendHeartbeat();  // draining=true, now rather than at the next beat
  } else {
    spdlog::info("second signal: killing the remaining job(s) now");
    for (auto& [token, session] : sessions_) StopJob(*session, stop, 0ms);
  }
  MaybeExit();
}

void WorkerAgent::MaybeExit() {
  if (exited_ || shutdown_signals_ == 0 || !sessions_.empty() || rpcs_in_flight_ > 0) return;
  exited_ = true;
  heartbeat_timer_.cancel();
  tick_timer_.cancel();
  lease_retry_timer_.cancel();
  spdlog::info("every job handed back or finished; exiting");
  on_exit_(0);
}

}  // namespace mixsweep::workers
