// The worker agent's decisions, free of I/O so that each one has unit tests:
//   - SlotPool: which GPUs (or CPU slots) a leased job runs on, and what the
//     agent may still lease;
//   - DecideTerminal: how a finished attempt is reported (complete, fail with
//     which kind and whether retryable, hand back, or nothing at all), and
//     DecideJobTerminal: the same given the JobSpec, where a generate or
//     evaluate job's result file and a training job's step checkpoints
//     decide whether an exit 0 completes;
//   - TotalStepsOf: what a job's progress counts up to;
//   - LeaseVerdict: what a heartbeat's or report's answer means for a job;
//   - LogBuffer: the AppendLog chunks (contiguous offsets, <= 64 KiB);
//   - Backoff: capped exponential retry delays;
//   - flag parsing helpers (--gpus, --label).
//
// Example:
//   SlotPool slots({0, 1}, /*cpu_slots=*/1);
//   slots.FreeGpus();                 // {0, 1}: sent with LeaseJob
//   auto a = slots.Take(/*gpus=*/1);  // a->gpu_indices == {0}
//   slots.Release(*a);
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mixsweep/v1/sweep.pb.h"
#include "mixsweep/v1/worker.pb.h"
#include "workers/gpu_probe.h"

namespace mixsweep::workers {

// ---------------------------------------------------------------------------
// GPU and CPU slots.
//
// A job asking for k > 0 GPUs takes the k lowest free GPU indices (the server
// grants only jobs that fit in the free indices the worker sent). A job asking
// for 0 GPUs takes a CPU slot (--cpu-slots, default 1), or, when every CPU
// slot is busy, borrows one free GPU that it does not see
// (CUDA_VISIBLE_DEVICES is empty): the worker leases whenever a GPU or a CPU
// slot is free, and the server may then answer with a 0-GPU job, so capacity
// is never exceeded: at most (#GPUs + cpu_slots) jobs run at once.
// ---------------------------------------------------------------------------
struct SlotAssignment {
  std::vector<int> gpu_indices;  // the GPUs the job sees (CUDA_VISIBLE_DEVICES)
  bool cpu_slot = false;         // took a CPU slot
  std::optional<int> borrowed_gpu;  // a 0-GPU job holding a GPU it does not use
};

class SlotPool {
 public:
  SlotPool(std::vector<int> gpu_indices, int cpu_slots);

  // GPU indices free now, ascending.
  std::vector<int> FreeGpus() const;
  // A job of any size could be leased: a GPU or a CPU slot is free.
  bool CanLease() const;
  // Slots for a job asking for `gpus`; nullopt when they are not free.
  std::optional<SlotAssignment> Take(int gpus);
  void Release(const SlotAssignment& assignment);

 private:
  std::map<int, bool> gpu_busy_;  // index -> busy
  int cpu_slots_free_;
};

// Joins GPU indices for {gpu}: {2, 3} -> "2,3".
std::string JoinIndices(const std::vector<int>& indices);

// A job's CUDA_VISIBLE_DEVICES: the GPUs' UUIDs ("GPU-4ff0...,GPU-9a1c...")
// when nvidia-smi gave every one, else their indices. By UUID, because
// indices are not stable across views: CUDA numbers devices fastest first
// unless CUDA_DEVICE_ORDER=PCI_BUS_ID, while nvidia-smi numbers them by PCI
// bus; and a job confined by cgroups (SLURM, Kubernetes) sees its devices
// renumbered from 0. Empty (no GPU visible) for a CPU job.
std::string CudaVisibleDevices(const std::vector<int>& indices,
                               const std::vector<std::string>& uuids);

// ---------------------------------------------------------------------------
// What an attempt came to.
// ---------------------------------------------------------------------------

// A generate or evaluate job's result file, as the runner found it after the
// process exited 0 (reading it is I/O; judging it is DecideJobTerminal's).
struct ResultFileRead {
  enum class State {
    kNotRead,     // the job has no result file, or did not exit 0
    kMissing,     // no such file: the attempt may have crashed before writing it
    kUnreadable,  // there but not readable: `error` says why
    kRead,        // `text` holds it
  };
  State state = State::kNotRead;
  std::string path;   // the rendered result_file_template
  std::string text;   // kRead: the whole file
  std::string error;  // kUnreadable
  // kUnreadable: an I/O error another attempt may not meet (true), or
  // something the same program will do again (a link out, too large).
  bool retryable = false;
};

// An intermediate checkpoint of JobSpec.checkpoint_steps, looked for after
// the process exited 0.
struct StepCheckpointFound {
  int64_t step = 0;
  std::string uri;      // checkpoint_at_step_template rendered with {step}
  bool exists = false;  // as CheckpointExists: remote URIs count as existing
};

struct RunResult {
  enum class Exit { kExited, kSignaled, kStartFailed };
  Exit exit = Exit::kExited;
  int exit_code = 0;   // kExited
  int signal = 0;      // kSignaled
  std::string error;   // kStartFailed: why
  bool start_failure_retryable = false;  // e.g. fork failed: yes; a refused placeholder: no
  bool deadline_exceeded = false;        // the runner stopped it at spec.deadline
  std::string checkpoint;         // the rendered checkpoint path or URI
  bool checkpoint_exists = false;  // checked for paths and file:// URIs; other URIs: assumed
  double wall_seconds = 0;
  std::string log_tail;  // the last lines of the log, for failure messages
  std::optional<int64_t> last_step;
  std::map<std::string, double> last_metrics;
  ResultFileRead result_file;                        // generate and evaluate jobs
  std::vector<StepCheckpointFound> step_checkpoints;  // JobSpec.checkpoint_steps
};

// Why the agent stopped a job before it ended by itself (kNone: it did not).
enum class StopReason {
  kNone,       // it ended by itself
  kCancelled,  // its sweep was cancelled
  kShutdown,   // the worker is shutting down (SIGTERM, SIGINT)
  kPreempted,  // the cluster manager is taking the node back (SIGTERM under SLURM)
  kLeaseLost,  // the lease is another worker's now
};

struct TerminalAction {
  enum class Kind { kComplete, kFail, kHandBack, kNothing };
  Kind kind = Kind::kNothing;
  mixsweep::v1::JobFailure failure;                          // kFail
  mixsweep::v1::HandBackJobRequest::Reason reason =          // kHandBack
      mixsweep::v1::HandBackJobRequest::REASON_UNSPECIFIED;
  std::string checkpoint_uri;  // kComplete: the checkpoint; kHandBack: one to resume from
  // kComplete, by job kind (the CompleteJobRequest fields of the same names):
  std::vector<mixsweep::v1::SimulatedEpisode> episodes;    // evaluate
  std::optional<mixsweep::v1::GenerationSummary> generation;  // generate
  std::vector<mixsweep::v1::StepCheckpoint> step_checkpoints;  // checkpoint_steps
};

// The report that ends an attempt:
//   lease lost                 -> nothing (the job is someone else's now)
//   cancelled / shutdown / preempted -> hand back (CANCELLED / SHUTDOWN / PREEMPTED),
//                                 with the attempt's checkpoint to resume from
//   deadline                   -> fail DEADLINE_EXCEEDED, not retryable
//   start failed               -> fail START_FAILED
//   exit 0 + checkpoint        -> complete
//   exit 0, no checkpoint      -> fail CHECKPOINT_MISSING
//   exit code c                -> fail EXIT_CODE, retryable unless c is a no-retry code
//   killed by a signal         -> fail SIGNAL, retryable (OOM killer, node trouble)
TerminalAction DecideTerminal(StopReason stop, const RunResult& result,
                              const std::vector<int>& no_retry_exit_codes);

// The report that ends an attempt of `spec`: as above (with the spec's
// no-retry exit codes), then a completion must also pass what the job's kind
// asks of its outputs (docs/result-files.md):
//   a listed step checkpoint missing         -> fail CHECKPOINT_MISSING, retryable
//   generate/evaluate, result file missing   -> fail BAD_RESULT, retryable (the
//                                               attempt may have crashed)
//   unreadable (I/O error)                   -> fail BAD_RESULT, retryable
//   unreadable otherwise, malformed, inconsistent, too many or too few
//   episodes, fewer demos than job.n_demos   -> fail BAD_RESULT, not retryable
//                                               (the same program will write
//                                               the same file)
//   generate -> complete: checkpoint = the generated dataset, `generation`
//               (success_rate a fraction, seconds = the process's wall time)
//   evaluate -> complete: checkpoint = the result file's path, `episodes`
//               (exactly evaluation.n_episodes)
//   step checkpoints -> complete with `step_checkpoints`
// A hand-back of a generate or evaluate job names no resume checkpoint.
TerminalAction DecideJobTerminal(StopReason stop, const RunResult& result,
                                 const mixsweep::v1::JobSpec& spec);

// The format of a generate or evaluate job's result file: JobSpec.result_format,
// or by default "mimicgen" (generate) and "mixsweep" (evaluate); "" for
// other kinds.
std::string ResultFormatOf(const mixsweep::v1::JobSpec& spec);

// What a job's progress counts up to (JobProgress.total_steps): the demos
// wanted (job.n_demos) for generate jobs, the episodes (evaluation.n_episodes)
// for evaluate jobs, the training steps (job.steps) for the others.
int64_t TotalStepsOf(const mixsweep::v1::JobSpec& spec);

// ---------------------------------------------------------------------------
// A server's answer about a lease.
// ---------------------------------------------------------------------------
enum class LeaseVerdict { kKeep, kCancel, kLost };

// From a heartbeat's LeaseStatus: valid=false -> kLost; cancel -> kCancel.
LeaseVerdict VerdictOf(const mixsweep::v1::LeaseStatus& status);
// From the gRPC status code of a report (progress, log, terminal call):
// FAILED_PRECONDITION (stale fencing token) or NOT_FOUND -> kLost.
LeaseVerdict VerdictOfReportError(int grpc_status_code);

// ---------------------------------------------------------------------------
// The attempt's log, as AppendLog chunks.
// ---------------------------------------------------------------------------
class LogBuffer {
 public:
  static constexpr size_t kMaxChunk = 64 * 1024;

  explicit LogBuffer(size_t max_pending = 32 * 1024 * 1024) : max_pending_(max_pending) {}

  // Adds output. Beyond `max_pending` unacknowledged bytes (the server has
  // been away for long) new output is dropped; job.log on disk keeps it.
  void Append(std::string_view data);
  // Bytes not yet acknowledged.
  size_t pending() const { return data_.size(); }
  bool full_chunk_ready() const { return data_.size() >= kMaxChunk; }
  // The next chunk to send: the oldest unacknowledged bytes, at most kMaxChunk.
  // Sending it again until acknowledged keeps offsets contiguous.
  struct Chunk {
    int64_t offset = 0;
    std::string data;
  };
  std::optional<Chunk> Next() const;
  // The server stored `size` bytes at `offset` (== the chunk from Next()).
  void Acknowledge(int64_t offset, size_t size);
  int64_t acknowledged_through() const { return acked_; }
  uint64_t dropped_bytes() const { return dropped_; }

 private:
  size_t max_pending_;
  int64_t acked_ = 0;  // offset of data_[0]
  std::string data_;
  uint64_t dropped_ = 0;
};

// The last `max_lines` lines of output (for failure messages).
class LogTail {
 public:
  explicit LogTail(size_t max_lines = 20, size_t max_line_bytes = 512)
      : max_lines_(max_lines), max_line_bytes_(max_line_bytes) {}
  void Append(std::string_view data);
  std::string Text() const;

 private:
  size_t max_lines_;
  size_t max_line_bytes_;
  std::vector<std::string> lines_;  // complete lines, oldest first
  std::string partial_;
};

// ---------------------------------------------------------------------------
// Retries.
// ---------------------------------------------------------------------------
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial = std::chrono::milliseconds(100),
          std::chrono::milliseconds max = std::chrono::seconds(5))
      : initial_(initial), max_(max), next_(initial) {}
  // The delay before the next try: initial, 2x, 4x, ... capped at max.
  std::chrono::milliseconds Next();
  void Reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, next_;
};

// ---------------------------------------------------------------------------
// Flags.
// ---------------------------------------------------------------------------
// --gpus: "auto" (every probed GPU), "none", or indices "0,2" that must be
// probed ones. INVALID_ARGUMENT names a bad or missing index.
absl::StatusOr<std::vector<GpuInfo>> SelectGpus(std::string_view flag,
                                                const std::vector<GpuInfo>& probed);
// --synthetic-gpus N: N GPUs named "synthetic" with `memory_mib` each.
std::vector<GpuInfo> SyntheticGpus(int count, int64_t memory_mib);
// --label k=v, repeatable. INVALID_ARGUMENT for a missing '=' or empty key.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& flags);

// The synthetic executor's --synthetic-fail-every N: the k-th synthetic job
// (1-based) fails when N > 0 and k is a multiple of N.
bool SyntheticJobFails(int64_t job_number, int64_t fail_every);

// A file:// URI or an absolute path -> the local path; "" for anything else
// (s3://, relative paths).
std::string LocalPathOf(std::string_view uri_or_path);

// A fresh idempotency key (128 random bits, hex).
std::string NewIdempotencyKey();

}  // namespace mixsweep::workers
