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
// Example:
//   auto runner = MakeSyntheticRunner(io, launch, events,
//                                     {.steps_per_second = 20000, .fail = false});
//   runner->Start();
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "workers/agent/job_runner.h"

namespace mixsweep::workers {

struct SyntheticRunnerOptions {
  double steps_per_second = 20000;
  // Exit with `exit_code` instead of writing a checkpoint (--synthetic-fail-every).
  bool fail = false;
  int exit_code = 1;
  std::chrono::milliseconds tick = std::chrono::milliseconds(50);
};

std::shared_ptr<JobRunner> MakeSyntheticRunner(boost::asio::io_context& io, JobLaunch launch,
                                               JobEvents& events, SyntheticRunnerOptions options);

}  // namespace mixsweep::workers
