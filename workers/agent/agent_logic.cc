#include "workers/agent/agent_logic.h"

#include <algorithm>
#include <random>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "workers/result_files.h"

namespace mixsweep::workers {

using mixsweep::v1::HandBackJobRequest;
using mixsweep::v1::JobFailure;

// ----------------------------------------------------------------- SlotPool

SlotPool::SlotPool(std::vector<int> gpu_indices, int cpu_slots)
    : cpu_slots_free_(std::max(cpu_slots, 0)) {
  for (int index : gpu_indices) gpu_busy_[index] = false;
}

std::vector<int> SlotPool::FreeGpus() const {
  std::vector<int> free;
  for (const auto& [index, busy] : gpu_busy_) {
    if (!busy) free.push_back(index);
  }
  return free;  // std::map: ascending
}

bool SlotPool::CanLease() const { return cpu_slots_free_ > 0 || !FreeGpus().empty(); }

std::optional<SlotAssignment> SlotPool::Take(int gpus) {
  std::vector<int> free = FreeGpus();
  SlotAssignment assignment;
  if (gpus > 0) {
    if (static_cast<size_t>(gpus) > free.size()) return std::nullopt;
    assignment.gpu_indices.assign(free.begin(), free.begin() + gpus);
    for (int index : assignment.gpu_indices) gpu_busy_[index] = true;
    return assignment;
  }
  if (cpu_slots_free_ > 0) {
    --cpu_slots_free_;
    assignment.cpu_slot = true;
    return assignment;
  }
  if (free.empty()) return std::nullopt;
  // Every CPU slot is busy but the server granted a 0-GPU job against the
  // free GPUs we sent: it holds one of them so we never lease past capacity.
  assignment.borrowed_gpu = free.front();
  gpu_busy_[free.front()] = true;
  return assignment;
}

void SlotPool::Release(const SlotAssignment& assignment) {
  for (int index : assignment.gpu_indices) gpu_busy_[index] = false;
  if (assignment.borrowed_gpu) gpu_busy_[*assignment.borrowed_gpu] = false;
  if (assignment.cpu_slot) ++cpu_slots_free_;
}

std::string JoinIndices(const std::vector<int>& indices) { return absl::StrJoin(indices, ","); }

std::string CudaVisibleDevices(const std::vector<int>& indices,
                               const std::vector<std::string>& uuids) {
  const bool all_uuids =
      uuids.size() == indices.size() &&
      std::all_of(uuids.begin(), uuids.end(),
                  [](const std::string& uuid) { return absl::StartsWith(uuid, "GPU-"); });
  return all_uuids ? absl::StrJoin(uuids, ",") : JoinIndices(indices);
}

// ----------------------------------------------------------- DecideTerminal

namespace {

std::string FailureMessage(std::string_view headline, const RunResult& result) {
  if (result.log_tail.empty()) return std::string(headline);
  return absl::StrCat(std::string(headline), "; last lines of the log:\n", result.log_tail);
}

TerminalAction Fail(JobFailure::Kind kind, bool retryable, std::string message) {
  TerminalAction action;
  action.kind = TerminalAction::Kind::kFail;
  action.failure.set_kind(kind);
  action.failure.set_retryable(retryable);
  action.failure.set_message(std::move(message));
  return action;
}

}  // namespace

TerminalAction DecideTerminal(StopReason stop, const RunResult& result,
                              const std::vector<int>& no_retry_exit_codes) {
  TerminalAction action;
  switch (stop) {
    case StopReason::kLeaseLost:
      return action;  // kNothing: reports would be refused anyway
    case StopReason::kCancelled:
    case StopReason::kShutdown:
    case StopReason::kPreempted:
      action.kind = TerminalAction::Kind::kHandBack;
      action.reason = stop == StopReason::kCancelled   ? HandBackJobRequest::REASON_CANCELLED
                      : stop == StopReason::kPreempted ? HandBackJobRequest::REASON_PREEMPTED
                                                       : HandBackJobRequest::REASON_SHUTDOWN;
      // Whatever the attempt wrote last is the place to resume from.
      if (result.checkpoint_exists) action.checkpoint_uri = result.checkpoint;
      return action;
    case StopReason::kNone:
      break;
  }
  if (result.deadline_exceeded) {
    return Fail(JobFailure::KIND_DEADLINE_EXCEEDED, /*retryable=*/false,
                FailureMessage("the job ran past its deadline and was stopped", result));
  }
  switch (result.exit) {
    case RunResult::Exit::kStartFailed:
      return Fail(JobFailure::KIND_START_FAILED, result.start_failure_retryable,
                  absl::StrCat("could not start the job: ", result.error));
    case RunResult::Exit::kSignaled: {
      TerminalAction fail = Fail(JobFailure::KIND_SIGNAL, /*retryable=*/true,
                                 FailureMessage(absl::StrCat("killed by signal ", result.signal),
                                                result));
      fail.failure.set_signal(result.signal);
      return fail;
    }
    case RunResult::Exit::kExited:
      break;
  }
  if (result.exit_code == 0) {
    if (result.checkpoint_exists) {
      action.kind = TerminalAction::Kind::kComplete;
      action.checkpoint_uri = result.checkpoint;
      return action;
    }
    return Fail(JobFailure::KIND_CHECKPOINT_MISSING, /*retryable=*/true,
                FailureMessage(absl::StrCat("exit code 0 but the checkpoint ", result.checkpoint,
                                            " does not exist"),
                               result));
  }
  const bool no_retry = std::find(no_retry_exit_codes.begin(), no_retry_exit_codes.end(),
                                  result.exit_code) != no_retry_exit_codes.end();
  TerminalAction fail =
      Fail(JobFailure::KIND_EXIT_CODE, !no_retry,
           FailureMessage(absl::StrCat("exit code ", result.exit_code), result));
  fail.failure.set_exit_code(result.exit_code);
  return fail;
}

// ------------------------------------------------------- DecideJobTerminal

namespace {

using mixsweep::v1::JobSpec;

TerminalAction BadResult(bool retryable, std::string message) {
  return Fail(JobFailure::KIND_BAD_RESULT, retryable, std::move(message));
}

// The result file's text, or the failure that ends the job without it.
std::variant<std::string, TerminalAction> ResultText(const RunResult& result) {
  const ResultFileRead& file = result.result_file;
  switch (file.state) {
    case ResultFileRead::State::kRead:
      return file.text;
    case ResultFileRead::State::kMissing:
      return BadResult(true, FailureMessage(absl::StrCat("exit code 0 but the result file ",
                                                         file.path, " does not exist"),
                                            result));
    case ResultFileRead::State::kUnreadable:
      return BadResult(file.retryable,
                       absl::StrCat("the result file ", file.path, " is unreadable: ", file.error));
    case ResultFileRead::State::kNotRead:
      break;
  }
  return BadResult(true, absl::StrCat("the result file ", file.path,
                                      " was not read (internal error)"));
}

mixsweep::v1::SimulatedEpisode ToProto(const EpisodeResult& e) {
  mixsweep::v1::SimulatedEpisode out;
  out.set_index(e.index);
  out.set_success(e.success);
  out.set_score(e.score);
  if (e.seed) out.set_seed(*e.seed);
  if (e.sum_reward) out.set_sum_reward(*e.sum_reward);
  if (e.max_reward) out.set_max_reward(*e.max_reward);
  // diffusion_policy gives the max reward only: no pair of rewards.
  out.set_has_rewards(e.sum_reward.has_value() && e.max_reward.has_value());
  return out;
}

void JudgeGenerate(const JobSpec& spec, const RunResult& result, TerminalAction& action) {
  auto text = ResultText(result);
  if (auto* failed = std::get_if<TerminalAction>(&text)) {
    action = std::move(*failed);
    return;
  }
  absl::StatusOr<GenerationCounts> counts =
      ParseGenerationSummary(std::get<std::string>(text), result.result_file.path);
  if (!counts.ok()) {
    action = BadResult(false, std::string(counts.status().message()));
    return;
  }
  if (counts->num_success < spec.job().n_demos()) {
    action = BadResult(false, absl::StrCat("generated ", counts->num_success, " of the ",
                                           spec.job().n_demos(), " demos wanted (",
                                           counts->num_attempts, " attempts; ",
                                           result.result_file.path, ")"));
    return;
  }
  mixsweep::v1::GenerationSummary& generation = action.generation.emplace();
  generation.set_num_success(counts->num_success);
  generation.set_num_attempts(counts->num_attempts);
  generation.set_success_rate(counts->success_rate);
  generation.set_seconds(result.wall_seconds);
}

void JudgeEvaluate(const JobSpec& spec, const RunResult& result, TerminalAction& action) {
  auto text = ResultText(result);
  if (auto* failed = std::get_if<TerminalAction>(&text)) {
    action = std::move(*failed);
    return;
  }
  absl::StatusOr<std::vector<EpisodeResult>> episodes =
      ParseEvaluationResult(ResultFormatOf(spec), std::get<std::string>(text),
                            spec.evaluation().n_episodes(), result.result_file.path);
  if (!episodes.ok()) {
    action = BadResult(false, std::string(episodes.status().message()));
    return;
  }
  // The server needs a non-empty checkpoint: the file the trials came from.
  action.checkpoint_uri = result.result_file.path;
  for (const EpisodeResult& episode : *episodes) action.episodes.push_back(ToProto(episode));
}

// Every listed step checkpoint exists; else CHECKPOINT_MISSING naming it.
bool JudgeStepCheckpoints(const JobSpec& spec, const RunResult& result, TerminalAction& action) {
  if (spec.checkpoint_steps().empty()) return true;
  for (int64_t step : spec.checkpoint_steps()) {
    auto found = std::find_if(result.step_checkpoints.begin(), result.step_checkpoints.end(),
                              [&](const StepCheckpointFound& c) { return c.step == step; });
    if (found == result.step_checkpoints.end() || !found->exists) {
      const std::string where = found == result.step_checkpoints.end()
                                    ? std::string("(not rendered)")
                                    : found->uri;
      action = Fail(JobFailure::KIND_CHECKPOINT_MISSING, /*retryable=*/true,
                    FailureMessage(absl::StrCat("exit code 0 but the checkpoint of step ", step,
                                                " ", where, " does not exist"),
                                   result));
      return false;
    }
    mixsweep::v1::StepCheckpoint& checkpoint = action.step_checkpoints.emplace_back();
    checkpoint.set_step(step);
    checkpoint.set_uri(found->uri);
  }
  return true;
}

}  // namespace

TerminalAction DecideJobTerminal(StopReason stop, const RunResult& result,
                                 const JobSpec& spec) {
  const std::vector<int> no_retry(spec.no_retry_exit_codes().begin(),
                                  spec.no_retry_exit_codes().end());
  TerminalAction action = DecideTerminal(stop, result, no_retry);
  const mixsweep::v1::JobKind kind = spec.job().kind();
  const bool judged_by_file =
      kind == mixsweep::v1::JOB_KIND_GENERATE || kind == mixsweep::v1::JOB_KIND_EVALUATE;
  if (action.kind == TerminalAction::Kind::kHandBack && judged_by_file) {
    action.checkpoint_uri.clear();  // nothing to resume a generator or an evaluation from
  }
  if (action.kind != TerminalAction::Kind::kComplete) return action;
  if (!JudgeStepCheckpoints(spec, result, action)) return action;
  if (kind == mixsweep::v1::JOB_KIND_GENERATE) JudgeGenerate(spec, result, action);
  if (kind == mixsweep::v1::JOB_KIND_EVALUATE) JudgeEvaluate(spec, result, action);
  return action;
}

std::string ResultFormatOf(const mixsweep::v1::JobSpec& spec) {
  const mixsweep::v1::JobKind kind = spec.job().kind();
  if (kind != mixsweep::v1::JOB_KIND_GENERATE && kind != mixsweep::v1::JOB_KIND_EVALUATE) {
    return "";
  }
  if (!spec.result_format().empty()) return spec.result_format();
  return kind == mixsweep::v1::JOB_KIND_GENERATE ? std::string(kMimicgenFormat)
                                                 : std::string("mixsweep");
}

int64_t TotalStepsOf(const mixsweep::v1::JobSpec& spec) {
  switch (spec.job().kind()) {
    case mixsweep::v1::JOB_KIND_GENERATE: return spec.job().n_demos();
    case mixsweep::v1::JOB_KIND_EVALUATE: return spec.evaluation().n_episodes();
    default: return spec.job().steps();
  }
}

// ------------------------------------------------------------ LeaseVerdict

LeaseVerdict VerdictOf(const mixsweep::v1::LeaseStatus& status) {
  if (!status.valid()) return LeaseVerdict::kLost;
  if (status.cancel_requested()) return LeaseVerdict::kCancel;
  return LeaseVerdict::kKeep;
}

LeaseVerdict VerdictOfReportError(int grpc_status_code) {
  // grpc::StatusCode values, spelled out to keep gRPC headers out of here.
  constexpr int kNotFound = 5;
  constexpr int kFailedPrecondition = 9;
  if (grpc_status_code == kFailedPrecondition || grpc_status_code == kNotFound) {
    return LeaseVerdict::kLost;
  }
  return LeaseVerdict::kKeep;
}

// --------------------------------------------------------------- LogBuffer

void LogBuffer::Append(std::string_view data) {
  if (data_.size() >= max_pending_) {
    dropped_ += data.size();
    return;
  }
  const size_t room = max_pending_ - data_.size();
  if (data.size() > room) {
    dropped_ += data.size() - room;
    data = data.substr(0, room);
  }
  data_.append(data);
}

std::optional<LogBuffer::Chunk> LogBuffer::Next() const {
  if (data_.empty()) return std::nullopt;
  return Chunk{.offset = acked_, .data = data_.substr(0, std::min(data_.size(), kMaxChunk))};
}

void LogBuffer::Acknowledge(int64_t offset, size_t size) {
  if (offset != acked_) return;  // not the chunk Next() gave: nothing to drop
  size = std::min(size, data_.size());
  data_.erase(0, size);
  acked_ += static_cast<int64_t>(size);
}

// ----------------------------------------------------------------- LogTail

void LogTail::Append(std::string_view data) {
  for (char c : data) {
    if (c == '\n' || c == '\r') {
      if (!partial_.empty()) {
        lines_.push_back(std::move(partial_));
        partial_.clear();
        if (lines_.size() > max_lines_) lines_.erase(lines_.begin());
      }
    } else if (partial_.size() < max_line_bytes_) {
      partial_.push_back(c);
    }
  }
}

std::string LogTail::Text() const {
  std::string text = absl::StrJoin(lines_, "\n");
  if (!partial_.empty()) absl::StrAppend(&text, text.empty() ? "" : "\n", partial_);
  return text;
}

// ----------------------------------------------------------------- Backoff

std::chrono::milliseconds Backoff::Next() {
  const auto delay = next_;
  next_ = std::min(next_ * 2, max_);
  return delay;
}

// ------------------------------------------------------------------- Flags

absl::StatusOr<std::vector<GpuInfo>> SelectGpus(std::string_view flag,
                                                const std::vector<GpuInfo>& probed) {
  if (flag == "auto") return probed;
  if (flag == "none" || flag.empty()) return std::vector<GpuInfo>{};
  std::vector<GpuInfo> selected;
  // Debian's absl has its own string_view: convert at the boundary.
  for (absl::string_view part : absl::StrSplit(absl::string_view(flag.data(), flag.size()), ',')) {
    int index = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--gpus: '", part, "' is not a GPU index (use auto, none or 0,1,...)"));
    }
    auto it = std::find_if(probed.begin(), probed.end(),
                           [&](const GpuInfo& gpu) { return gpu.index == index; });
    if (it == probed.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--gpus: GPU ", index, " is not on this machine (nvidia-smi lists ",
                       probed.size(), " GPU(s))"));
    }
    if (std::none_of(selected.begin(), selected.end(),
                     [&](const GpuInfo& gpu) { return gpu.index == index; })) {
      selected.push_back(*it);
    }
  }
  std::sort(selected.begin(), selected.end(),
            [](const GpuInfo& a, const GpuInfo& b) { return a.index < b.index; });
  return selected;
}

std::vector<GpuInfo> SyntheticGpus(int count, int64_t memory_mib) {
  std::vector<GpuInfo> gpus;
  for (int i = 0; i < count; ++i) {
    gpus.push_back(GpuInfo{.index = i,
                           .name = "synthetic",
                           .memory_total_mib = memory_mib,
                           .uuid = absl::StrCat("GPU-synthetic-", i)});
  }
  return gpus;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& flags) {
  std::map<std::string, std::string> labels;
  for (const std::string& flag : flags) {
    const size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--label '", flag, "': expected key=value with a non-empty key"));
    }
    labels[flag.substr(0, eq)] = flag.substr(eq + 1);
  }
  return labels;
}

bool SyntheticJobFails(int64_t job_number, int64_t fail_every) {
  return fail_every > 0 && job_number > 0 && job_number % fail_every == 0;
}

std::string LocalPathOf(std::string_view uri_or_path) {
  if (uri_or_path.starts_with("file://")) {
    uri_or_path.remove_prefix(7);
    // file:///abs/path (empty authority) or file://localhost/abs/path.
    if (uri_or_path.starts_with("localhost")) uri_or_path.remove_prefix(9);
  }
  if (uri_or_path.empty() || uri_or_path.front() != '/') return "";
  return std::string(uri_or_path);
}

std::string NewIdempotencyKey() {
  thread_local std::mt19937_64 random(std::random_device{}());
  return absl::StrCat(absl::Hex(random(), absl::kZeroPad16), absl::Hex(random(), absl::kZeroPad16));
}

}  // namespace mixsweep::workers
