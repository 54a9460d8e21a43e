// A real single-node SLURM cluster for tests: scripts/slurm-local-cluster.sh
// started in a fresh temp dir (its own munged, slurmctld and slurmd, ports
// and munge socket), the client commands pointed at it through SLURM_CONF,
// and everything stopped and removed by the destructor. Needs root and
// Debian's slurm-wlm and munge.
//
// Example:
//   absl::StatusOr<std::unique_ptr<SlurmCluster>> slurm =
//       SlurmCluster::Start(source_dir + "/scripts/slurm-local-cluster.sh");
//   ASSERT_TRUE(slurm.ok()) << slurm.status();  // the message has the logs
//   absl::StatusOr<std::string> id = (*slurm)->Submit({"--time=1", "job.sbatch"});
//   (*slurm)->Run({"scancel", "--signal=TERM", "--batch", *id});
//   std::string state = (*slurm)->JobState(*id);  // "RUNNING", "TIMEOUT", ...
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/process.h"

namespace mixsweep::testing {

class SlurmCluster {
 public:
  // Starts a cluster of `cpus` CPUs with `script` (slurm-local-cluster.sh)
  // and waits until its node is idle. The error carries the script's output
  // with the daemons' log tails.
  static absl::StatusOr<std::unique_ptr<SlurmCluster>> Start(const std::string& script,
                                                             int cpus = 2);
  ~SlurmCluster();  // stops the daemons (cancelling jobs first), removes dir()
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // Runs a SLURM client command (sbatch, squeue, scancel, scontrol, sinfo;
  // looked up on PATH) against this cluster, with `env` added.
  CommandResult Run(std::vector<std::string> argv,
                    const std::map<std::string, std::string>& env = {}) const;

  // `sbatch --parsable ARGS`: the job id, or the error with sbatch's stderr.
  absl::StatusOr<std::string> Submit(const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& env = {}) const;

  // The job's state as squeue knows it, also after it ended (PENDING,
  // RUNNING, COMPLETING, COMPLETED, CANCELLED, TIMEOUT, ...); "" when the
  // controller no longer knows the job (MinJobAge passed) or cannot answer.
  std::string JobState(const std::string& job_id) const;

  // True when the job has ended (a state other than pending, running,
  // configuring, completing, suspended), or is forgotten.
  bool JobEnded(const std::string& job_id) const;

  // `scontrol show job ID` and the last lines of the daemons' logs, for
  // failure messages.
  std::string Describe(const std::string& job_id) const;
  std::string LogTails() const;

  const std::string& dir() const { return dir_; }
  std::string conf() const { return dir_ + "/slurm.conf"; }

 private:
  SlurmCluster(std::string script, std::string dir) : script_(std::move(script)), dir_(std::move(dir)) {}

  std::string script_;
  std::string dir_;
};

}  // namespace mixsweep::testing
