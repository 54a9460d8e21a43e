#include "tests/support/slurm_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mixsweep::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Process::Start and RunCommand exec a path: find a command on PATH.
std::string Which(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "/usr/bin/" + name;  // exec fails with a clear ENOENT
}

std::string NewDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                  "/mixsweep-slurm-XXXXXX");
  return ::mkdtemp(tmpl.data()) != nullptr ? tmpl : std::string();
}


}  // namespace

absl::StatusOr<std::unique_ptr<SlurmCluster>> SlurmCluster::Start(const std::string& script,
                                                                  int cpus) {
  const std::string dir = NewDir();
  if (dir.empty()) return absl::InternalError("SLURM cluster: cannot make a temp dir");
  std::unique_ptr<SlurmCluster> cluster(new SlurmCluster(script, dir));
  // The script waits for the node itself (60 s at most); the outer timeout
  // only guards against a hung daemon start.
  const CommandResult started =
      RunCommand({"/bin/bash", script, "start", dir, std::to_string(cpus)}, "", 120s);
  if (started.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat(
        "SLURM cluster did not start (", script, " start ", dir, " exited ", started.exit_code,
        "):\n", started.out, started.err, cluster->LogTails()));
  }
  return cluster;
}

SlurmCluster::~SlurmCluster() {
  RunCommand({"/bin/bash", script_, "stop", dir_}, "", 60s);
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

CommandResult SlurmCluster::Run(std::vector<std::string> argv,
                                const std::map<std::string, std::string>& env) const {
  if (!argv.empty()) argv[0] = Which(argv[0]);
  std::map<std::string, std::string> full = env;
  full["SLURM_CONF"] = conf();
  return RunCommand(argv, "", 30s, full);
}

absl::StatusOr<std::string> SlurmCluster::Submit(
    const std::vector<std::string>& args, const std::map<std::string, std::string>& env) const {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = Run(argv, env);
  // --parsable prints "<id>" or "<id>;<cluster>".
  std::string id(absl::StripAsciiWhitespace(r.out.substr(0, r.out.find(';'))));
  if (r.exit_code != 0 || id.empty()) {
    return absl::InternalError(absl::StrCat("sbatch exited ", r.exit_code, ": ", r.err, r.out));
  }
  return id;
}

std::string SlurmCluster::JobState(const std::string& job_id) const {
  const CommandResult r = Run({"squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"});
  return r.exit_code == 0 ? std::string(absl::StripAsciiWhitespace(r.out)) : std::string();
}

bool SlurmCluster::JobEnded(const std::string& job_id) const {
  const std::string state = JobState(job_id);
  return state != "PENDING" && state != "RUNNING" && state != "CONFIGURING" &&
         state != "COMPLETING" && state != "SUSPENDED";
}

std::string SlurmCluster::Describe(const std::string& job_id) const {
  const CommandResult r = Run({"scontrol", "show", "job", job_id});
  return absl::StrCat("scontrol show job ", job_id, ":\n", r.out, r.err, LogTails());
}

std::string SlurmCluster::LogTails() const {
  std::string out;
  for (const char* log : {"log/slurmctld.log", "log/slurmd.log", "munge/munged.log"}) {
    absl::StrAppend(&out, "---- ", dir_, "/", log, " ----\n", FileTail(dir_ + "/" + log, 30));
  }
  return out;
}

}  // namespace mixsweep::testing
