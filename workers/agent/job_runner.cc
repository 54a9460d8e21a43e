#include "workers/agent/job_runner.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mixsweep::workers {
namespace {

namespace fs = std::filesystem;

CommandTemplate TemplateOf(const mixsweep::v1::JobSpec& spec) {
  CommandTemplate command;
  command.argv.assign(spec.argv().begin(), spec.argv().end());
  command.shell = spec.shell();
  command.env.insert(spec.env().begin(), spec.env().end());
  command.checkpoint = spec.checkpoint_template();
  return command;
}

// A checkpoint URI the training tool can open: file:// becomes a path, and
// anything else (s3://...) is passed as given.
std::string ToolPathOf(const std::string& uri) {
  if (uri.empty()) return "";
  std::string path = LocalPathOf(uri);
  return path.empty() ? uri : path;
}

JobValues ValuesOf(const JobLaunch& launch, const std::string& output_dir,
                   const std::string& manifest_path) {
  const mixsweep::v1::Job& job = launch.spec.job();
  JobValues values;
  values.dataset = job.dataset().uri();
  values.dataset_hash = job.dataset().content_hash();
  values.subset_manifest = manifest_path;
  values.n_demos = job.n_demos();
  values.steps = job.steps();
  values.seed = job.seed();
  values.output_dir = output_dir;
  values.gpu = JoinIndices(launch.gpu_indices);
  values.job_id = job.id();
  values.run_id = launch.spec.run_id() != 0 ? launch.spec.run_id()
                  : job.run_ids_size() > 0 ? job.run_ids(0)
                                           : 0;
  values.sweep_id = job.sweep_id();
  values.code_version = launch.spec.code_version();
  values.policy = launch.spec.policy();
  values.task = launch.spec.task();
  values.init_checkpoint = ToolPathOf(launch.spec.init_checkpoint_uri());
  values.resume_checkpoint = ToolPathOf(launch.spec.resume_checkpoint_uri());
  return values;
}

// The renderer may give a shell command as one string; exec wants sh -c.
void WrapShell(RenderedCommand& command) {
  if (!command.shell) return;
  if (command.argv.size() == 3 && command.argv[1] == "-c") return;
  const std::string script = absl::StrJoin(command.argv, " ");
  command.argv = {"/bin/sh", "-c", script};
}

}  // namespace

absl::StatusOr<PreparedJob> PrepareJob(const JobLaunch& launch) {
  const mixsweep::v1::JobSpec& spec = launch.spec;
  PreparedJob job;
  if (spec.output_uri().empty()) {
    job.output_dir = absl::StrCat(launch.artifact_root, "/jobs/", spec.job().id());
  } else {
    job.output_dir = LocalPathOf(spec.output_uri());
    if (job.output_dir.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "output_uri ", spec.output_uri(), " is not a local path; this worker writes only to "
          "file:// artifact roots"));
    }
  }
  if (!spec.subset_manifest_json().empty()) {
    job.subset_manifest_path = job.output_dir + "/subset_manifest.json";
  }

  // Render before touching the disk: a refused template leaves no trace.
  RenderOptions options{.allowed_roots = {launch.artifact_root}};
  absl::StatusOr<RenderedCommand> command =
      RenderCommand(TemplateOf(spec), ValuesOf(launch, job.output_dir, job.subset_manifest_path),
                    options);
  if (!command.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("command template: ", command.status().message()));
  }
  job.command = *std::move(command);
  if (job.command.argv.empty()) {
    return absl::InvalidArgumentError("command template: empty argv and no shell command");
  }
  WrapShell(job.command);

  std::error_code error;
  fs::create_directories(job.output_dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("creating output dir ", job.output_dir, ": ", error.message()));
  }
  if (!job.subset_manifest_path.empty()) {
    std::ofstream out(job.subset_manifest_path, std::ios::trunc);
    out << spec.subset_manifest_json();
    out.close();
    if (!out) {
      return absl::InternalError(absl::StrCat("writing ", job.subset_manifest_path));
    }
  }

  job.child_env = job.command.env;
  // An empty CUDA_VISIBLE_DEVICES hides every GPU from a CPU job.
  job.child_env["CUDA_VISIBLE_DEVICES"] = JoinIndices(launch.gpu_indices);
  job.child_env["MIXSWEEP_JOB_ID"] = absl::StrCat(spec.job().id());
  job.child_env["MIXSWEEP_OUTPUT_DIR"] = job.output_dir;

  mixsweep::v1::Provenance& provenance = job.provenance;
  for (const std::string& arg : job.command.argv) provenance.add_argv(arg);
  provenance.set_shell(job.command.shell);
  provenance.mutable_env()->insert(job.command.env.begin(), job.command.env.end());
  if (!job.subset_manifest_path.empty()) {
    provenance.set_subset_manifest_uri("file://" + job.subset_manifest_path);
  }
  provenance.set_worker_host(launch.worker_host);
  provenance.set_code_version(spec.code_version());
  for (int index : launch.gpu_indices) provenance.add_gpu_indices(index);
  for (const std::string& uuid : launch.gpu_uuids) provenance.add_gpu_uuids(uuid);
  provenance.set_synthetic(launch.synthetic);
  return job;
}

bool CheckpointExists(const std::string& checkpoint) {
  if (checkpoint.empty()) return false;
  std::string path = LocalPathOf(checkpoint);
  if (path.empty()) {
    if (checkpoint.find("://") != std::string::npos) return true;  // remote: cannot check
    path = checkpoint;                                             // relative path
  }
  struct stat info;
  return ::stat(path.c_str(), &info) == 0;
}

std::vector<std::string> FileTailer::ReadNewLines() {
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  if (size < offset) {  // truncated or replaced: start over
    offset = 0;
    partial.clear();
  }
  if (size == offset) return lines;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string data(size - offset, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  offset += data.size();
  for (char c : data) {
    if (c == '\n') {
      lines.push_back(std::move(partial));
      partial.clear();
    } else {
      partial.push_back(c);
    }
  }
  return lines;
}

}  // namespace mixsweep::workers
