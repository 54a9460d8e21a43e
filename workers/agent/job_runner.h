// Running one leased job: the interface the agent drives, the events a
// runner reports back, and the preparation both runners share.
//
// A runner never talks to the server: it reports to a JobEvents sink (the
// agent's session, or a test's recorder), always on the io_context thread and
// never from inside Start() or Stop(). OnExit is the last event.
//
//   launch (JobSpec + GPUs) -> PrepareJob (render the template, the result
//   file and the step checkpoints, create the output dir, write the subset
//   manifest) -> ProcessRunner | SyntheticRunner -> OnStarted, OnOutput*,
//   OnProgress*, InspectOutputs (after an exit 0), OnExit
//
// Example:
//   auto runner = MakeProcessRunner(io, launch, events, {.stop_grace = 30s});
//   runner->Start();
//   ...
//   runner->Stop(std::chrono::seconds(30));  // SIGTERM, SIGKILL after 30 s
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "mixsweep/v1/sweep.pb.h"
#include "mixsweep/v1/worker.pb.h"
#include "workers/agent/agent_logic.h"
#include "workers/command_render.h"
#include "workers/progress_parser.h"

namespace mixsweep::workers {

// What a runner tells about its job, on the io_context thread.
class JobEvents {
 public:
  virtual ~JobEvents() = default;
  // The process runs (exec succeeded) or the synthetic job began.
  virtual void OnStarted(const mixsweep::v1::Provenance& provenance) = 0;
  // Raw output (stdout and stderr interleaved), in order.
  virtual void OnOutput(std::string_view bytes) = 0;
  virtual void OnProgress(const ProgressSample& sample) = 0;
  // The last event.
  virtual void OnExit(const RunResult& result) = 0;
};

// Everything a runner needs to know about a lease.
struct JobLaunch {
  mixsweep::v1::JobSpec spec;
  std::vector<int> gpu_indices;        // the GPUs it sees; empty for CPU jobs
  std::vector<std::string> gpu_uuids;  // for provenance, same order
  std::string artifact_root;           // a local path
  std::string worker_host;             // for provenance
  bool synthetic = false;
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // Begins the job; events follow (a start failure arrives as OnExit).
  virtual void Start() = 0;
  // Stops it: SIGTERM to the process group, SIGKILL after `grace` (zero: at
  // once). A later call with a shorter grace shortens it. No-op once exited.
  virtual void Stop(std::chrono::milliseconds grace) = 0;
};

// The job made ready to run: the command rendered, its output directory
// created and its subset manifest written.
struct PreparedJob {
  RenderedCommand command;    // argv ready for exec (a shell command is /bin/sh -c ...)
  std::string output_dir;     // local path
  std::string subset_manifest_path;  // "" when the spec has no manifest
  // Environment the child gets on top of the worker's own: the template's
  // env, CUDA_VISIBLE_DEVICES and MIXSWEEP_* variables.
  std::map<std::string, std::string> child_env;
  mixsweep::v1::Provenance provenance;
  // Generate and evaluate jobs: the rendered result_file_template (a local
  // path under output_dir; defaults in PrepareJob's comment); "" otherwise.
  std::string result_file;
  // JobSpec.checkpoint_steps with checkpoint_at_step_template rendered.
  std::vector<std::pair<int64_t, std::string>> step_checkpoints;
};

// INVALID_ARGUMENT for a template the renderer refuses (retrying will not
// help); other codes for file-system trouble (another worker may do better).
// Seed 001's jobs, refused before anything runs (INVALID_ARGUMENT):
//   generate: result_format other than "mimicgen" (empty: "mimicgen");
//     result_file_template empty: "{output_dir}/important_stats.json"
//   evaluate: result_format not lerobot / diffusion_policy / mixsweep
//     (empty: "mixsweep"); result_file_template empty: by format
//     "{output_dir}/eval_info.json", "{output_dir}/eval_log.json",
//     "{output_dir}/mixsweep_eval.json" (as the spec defaults them);
//     evaluation.n_episodes < 1
//   either: a result file that is not a local path under the output dir
//   checkpoint_steps without checkpoint_at_step_template, or two steps
//     rendering the same path, or one outside the output dir
absl::StatusOr<PreparedJob> PrepareJob(const JobLaunch& launch);

// After an exit 0 (else a no-op): reads the result file (at most
// kMaxResultFileBytes, never through a symbolic link or out of the output
// directory) into result.result_file, and looks for every step checkpoint
// (result.step_checkpoints).
void InspectOutputs(const PreparedJob& job, RunResult& result);
inline constexpr size_t kMaxResultFileBytes = 16 * 1024 * 1024;

// Whether the checkpoint exists: checked for absolute paths and file:// URIs;
// other URIs (s3://...) cannot be checked here and count as existing.
bool CheckpointExists(const std::string& checkpoint);

// Follows a file that another process appends to (diffusion_policy's
// logs.json.txt): each call returns the lines completed since the last one.
// A missing file is simply not there yet.
struct FileTailer {
  std::string path;
  uint64_t offset = 0;
  std::string partial;  // an incomplete last line
  // The complete lines appended since the last call.
  std::vector<std::string> ReadNewLines();
};

}  // namespace mixsweep::workers
