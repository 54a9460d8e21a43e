// ProcessRunner: runs a job's rendered command as a child process.
//
// - The child runs in its own process group (setpgid), so stopping the job
//   reaches everything it started: SIGTERM to the group, SIGKILL after the
//   grace period. When the leader exits, whatever it left behind in its
//   group is killed too (a stray data loader must not hold a GPU).
// - env = the worker's env + the template's env + CUDA_VISIBLE_DEVICES (+
//   MIXSWEEP_JOB_ID, MIXSWEEP_OUTPUT_DIR); stdin is /dev/null; stdout and
//   stderr share one pipe, read by Asio: written to {output_dir}/job.log,
//   passed to OnOutput, and parsed line by line (\n or \r) by ProgressParser.
// - {output_dir}/logs.json.txt (diffusion_policy) is tailed every second.
// - The child gets PR_SET_PDEATHSIG=SIGKILL: a worker killed outright does
//   not leave its job's leader running (call Start() from the thread that
//   lives as long as the job: the io_context thread).
// - The exit is noticed by a waitpid poll timer (no process-wide SIGCHLD
//   handler to share with the rest of the program).
// - spec.deadline, if set, stops the job and flags the result.
// - After an exit 0 the result file (generate and evaluate jobs) is read
//   and the step checkpoints are looked for (InspectOutputs), for the agent
//   to judge (DecideJobTerminal).
//
// Example:
//   auto runner = MakeProcessRunner(io, launch, events, ProcessRunnerOptions{});
//   runner->Start();
//   io.run();  // returns after events.OnExit(result)
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "workers/agent/job_runner.h"

namespace mixsweep::workers {

struct ProcessRunnerOptions {
  // Grace between SIGTERM and SIGKILL when the deadline stops the job.
  std::chrono::milliseconds deadline_grace = std::chrono::seconds(30);
  std::chrono::milliseconds exit_poll = std::chrono::milliseconds(50);
  std::chrono::milliseconds tail_poll = std::chrono::seconds(1);
  // After the group is gone, how long to wait for the output pipe to close
  // (a process that left the group may still hold it).
  std::chrono::milliseconds drain_timeout = std::chrono::seconds(2);
};

std::shared_ptr<JobRunner> MakeProcessRunner(boost::asio::io_context& io, JobLaunch launch,
                                             JobEvents& events, ProcessRunnerOptions options);

}  // namespace mixsweep::workers
