#include "workers/agent/job_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

// ---------------------------------------------------------------------------
// Path confinement. Whatever the server sends, this worker writes only under
// the job's own output directory, which lies strictly under the artifact
// root, and reads checkpoints only from under the artifact root: a
// compromised or buggy scheduler must not make it write /etc/cron.d/x or
// hand /etc/shadow to a training tool. The renderer checks the values a
// template uses; these checks hold whether the template uses them or not,
// and resolve symbolic links once the directories exist.

// Whether `path` is `dir` or lies below it, comparing text at '/' boundaries.
bool IsWithin(std::string_view path, std::string_view dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/' || dir == "/";
}

bool HasParentSegment(std::string_view path) {
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

// The artifact root must confine something: an absolute path, not "/".
absl::Status CheckArtifactRoot(const std::string& root) {
  std::string_view trimmed = root;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.remove_suffix(1);
  if (trimmed.empty() || trimmed.front() != '/' || trimmed == "/" || HasParentSegment(trimmed)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact root '", root, "' confines nothing; it must be an absolute directory other "
        "than / and without '..'"));
  }
  return absl::OkStatus();
}

// Checks, before anything is written: the output directory, the manifest
// and the checkpoints the job reads, as the renderer checks a value a
// template uses; the output directory strictly under the root; the
// checkpoint the job writes under the output directory.
absl::Status CheckJobPaths(const JobLaunch& launch, const PreparedJob& job,
                           const JobValues& values) {
  const RenderOptions roots{.allowed_roots = {launch.artifact_root}};
  for (std::string_view name : {"output_dir", "subset_manifest", "init_checkpoint",
                                "resume_checkpoint"}) {
    const bool set = name == "output_dir"        ? !values.output_dir.empty()
                     : name == "subset_manifest" ? !values.subset_manifest.empty()
                     : name == "init_checkpoint" ? !values.init_checkpoint.empty()
                                                 : !values.resume_checkpoint.empty();
    if (!set && name != "output_dir") continue;
    if (absl::Status s = CheckPlaceholderValue(name, values, roots); !s.ok()) return s;
  }
  std::string_view root = launch.artifact_root;
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  std::string_view output = job.output_dir;
  while (output.size() > 1 && output.back() == '/') output.remove_suffix(1);
  if (output == root) {
    return absl::InvalidArgumentError(absl::StrCat(
        "{output_dir}: ", job.output_dir, " is the artifact root itself; a job writes only "
        "in its own directory under it"));
  }
  // What the job writes: its checkpoint. A remote URI (s3://...) is the
  // tool's business: this worker never opens it.
  const std::string& checkpoint = job.command.checkpoint;
  const bool remote = checkpoint.find("://") != std::string::npos &&
                      checkpoint.substr(0, 7) != "file://";
  if (!remote) {
    const std::string local = LocalPathOf(checkpoint);
    if (local.empty() || HasParentSegment(local) || !IsWithin(local, output)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint: ", checkpoint, " is not under the job's output directory ",
          job.output_dir));
    }
  }
  return absl::OkStatus();
}

// Resolved through symbolic links (as far as they exist), the output
// directory and every local checkpoint the job reads still lie under the
// resolved root, and nothing the worker writes into the output directory is
// a symbolic link.
absl::Status CheckResolvedPaths(const JobLaunch& launch, const PreparedJob& job,
                                const JobValues& values) {
  std::error_code error;
  const fs::path root = fs::canonical(launch.artifact_root, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("resolving the artifact root ", launch.artifact_root, ": ", error.message()));
  }
  const auto resolved_within = [&](std::string_view name, const std::string& path,
                                   const fs::path& dir) -> absl::Status {
    std::error_code ec;
    const fs::path resolved = fs::weakly_canonical(path, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("resolving ", path, ": ", ec.message()));
    }
    if (!IsWithin(resolved.string(), dir.string())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "{", std::string(name), "}: ", path, " resolves to ", resolved.string(),
          " through a symbolic link, outside ", dir.string()));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = resolved_within("output_dir", job.output_dir, root); !s.ok()) return s;
  for (auto [name, value] : {std::pair{"init_checkpoint", &values.init_checkpoint},
                             std::pair{"resume_checkpoint", &values.resume_checkpoint}}) {
    const std::string local = LocalPathOf(*value);
    if (local.empty()) continue;
    if (absl::Status s = resolved_within(name, local, root); !s.ok()) return s;
  }
  for (const char* file : {"job.log", "subset_manifest.json"}) {
    const std::string path = job.output_dir + "/" + file;
    if (fs::is_symlink(fs::symlink_status(path, error))) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is a symbolic link; the worker does not write through one"));
    }
  }
  return absl::OkStatus();
}

// Writes `text` to `path`, which must not be a symbolic link.
absl::Status WriteNoFollow(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(errno)));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return absl::InternalError(absl::StrCat("writing ", path, ": ", why));
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
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
  if (absl::Status s = CheckArtifactRoot(launch.artifact_root); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("job paths: ", s.message()));
  }
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
  const JobValues values = ValuesOf(launch, job.output_dir, job.subset_manifest_path);
  absl::StatusOr<RenderedCommand> command = RenderCommand(TemplateOf(spec), values, options);
  if (!command.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("command template: ", command.status().message()));
  }
  job.command = *std::move(command);
  if (job.command.argv.empty()) {
    return absl::InvalidArgumentError("command template: empty argv and no shell command");
  }
  WrapShell(job.command);
  if (absl::Status s = CheckJobPaths(launch, job, values); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("job paths: ", s.message()));
  }

  // Resolved through symbolic links before anything is created under the
  // root, so that a link cannot make the worker create directories outside.
  std::error_code error;
  fs::create_directories(launch.artifact_root, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("creating the artifact root ", launch.artifact_root, ": ", error.message()));
  }
  if (absl::Status s = CheckResolvedPaths(launch, job, values); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("job paths: ", s.message()));
  }
  fs::create_directories(job.output_dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("creating output dir ", job.output_dir, ": ", error.message()));
  }
  if (!job.subset_manifest_path.empty()) {
    if (absl::Status s = WriteNoFollow(job.subset_manifest_path, spec.subset_manifest_json());
        !s.ok()) {
      return s;
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
