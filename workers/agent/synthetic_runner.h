// SyntheticRunner: the synthetic executor (--synthetic). It runs no process:
// an Asio timer advances the step count at a fixed rate, and at the end it
// writes a small JSON checkpoint at the rendered checkpoint path
//   {"synthetic": true, "job_id": 7, "steps": 13000, "init_checkpoint": "...",
//    "kind": "JOB_KIND_FINETUNE", "source": "teleop", "n_demos": 200, "seed": 0}
// so the whole loop (leases, progress, dependencies, checkpoints handed to
// finetunes) runs at full speed without GPUs. The template is rendered and
// the output directory prepared exactly as for a real job, so a bad
// template fails the same way. Log lines start with "[synthetic]".
//
// Seed 001's jobs write what the real tools would, and are then judged by
// the same code as a real job's files (InspectOutputs, DecideJobTerminal):
//   generate  progress: step = demos made (at steps_per_second) out of
//             job.n_demos, metric "attempts"; at the end a JSON dataset at
//             the checkpoint (in it as synthetic_dataset.json when the
//             checkpoint is a directory, as "{output_dir}" is) and MimicGen's
//             important_stats.json at the result file with
//             num_success = n_demos, num_attempts = SyntheticGenerationAttempts
//             (an 80% success rate: 1000 demos take 1250 attempts)
//   evaluate  progress: step = episodes done out of evaluation.n_episodes; at
//             the end the result file in the job's result_format with the
//             episodes of SyntheticEvaluation
//   training  with checkpoint_steps: besides the last checkpoint, a JSON
//             checkpoint {"synthetic": true, "steps": <step>, ...} at each
//             rendered checkpoint_at_step path
//
// Example:
//   auto runner = MakeSyntheticRunner(io, launch, events,
//                                     {.steps_per_second = 20000, .fail = false});
//   runner->Start();
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "workers/agent/job_runner.h"
#include "workers/result_files.h"

namespace mixsweep::workers {

struct SyntheticRunnerOptions {
  double steps_per_second = 20000;
  // Exit with `exit_code` instead of writing a checkpoint (--synthetic-fail-every).
  bool fail = false;
  int exit_code = 1;
  std::chrono::milliseconds tick = std::chrono::milliseconds(50);
};

// ceil(n_demos / 0.8), at least 1: the attempts a synthetic generator
// takes for n_demos successes (1000 -> 1250, 1 -> 2).
int64_t SyntheticGenerationAttempts(int64_t n_demos);

// The synthetic evaluation of `checkpoint_uri`: n_episodes episodes, episode
// i succeeding when FNV-1a-64 of "<checkpoint_uri>#<i>" modulo 100 is below
// 60 (about 60% of them, the same for the same checkpoint every time);
// score, sum_reward and max_reward 1 on success else 0; seed = seed + i.
std::vector<EpisodeResult> SyntheticEvaluation(std::string_view checkpoint_uri,
                                               int64_t n_episodes, int64_t seed);

std::shared_ptr<JobRunner> MakeSyntheticRunner(boost::asio::io_context& io, JobLaunch launch,
                                               JobEvents& events, SyntheticRunnerOptions options);

}  // namespace mixsweep::workers
