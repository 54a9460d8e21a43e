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
#include "workers/result_files.h"

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
  values.checkpoint = ToolPathOf(launch.spec.evaluation().checkpoint_uri());
  values.n_episodes = launch.spec.evaluation().n_episodes();
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

absl::Status CheckWrittenUnder(std::string_view where, const std::string& location,
                               std::string_view output_dir, bool remote_allowed);

// Checks, before anything is written: the output directory, the manifest
// and the checkpoints the job reads, as the renderer checks a value a
// template uses; the output directory strictly under the root; the
// checkpoint the job writes under the output directory.
absl::Status CheckJobPaths(const JobLaunch& launch, const PreparedJob& job,
                           const JobValues& values) {
  const RenderOptions roots{.allowed_roots = {launch.artifact_root}};
  for (auto [name, value] : {std::pair{"output_dir", &values.output_dir},
                             std::pair{"subset_manifest", &values.subset_manifest},
                             std::pair{"init_checkpoint", &values.init_checkpoint},
                             std::pair{"resume_checkpoint", &values.resume_checkpoint},
                             std::pair{"checkpoint", &values.checkpoint}}) {
    if (value->empty() && std::string_view(name) != "output_dir") continue;
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
  // What the job writes: its checkpoint.
  return CheckWrittenUnder("checkpoint", job.command.checkpoint, job.output_dir,
                           /*remote_allowed=*/true);
}

// What the job writes (a checkpoint, a result file) lies under its output
// directory. A remote URI (s3://...) is the tool's business where allowed:
// this worker never opens it.
absl::Status CheckWrittenUnder(std::string_view where, const std::string& location,
                               std::string_view output_dir, bool remote_allowed) {
  while (output_dir.size() > 1 && output_dir.back() == '/') output_dir.remove_suffix(1);
  const bool remote = location.find("://") != std::string::npos &&
                      location.substr(0, 7) != "file://";
  if (remote && remote_allowed) return absl::OkStatus();
  const std::string local = LocalPathOf(location);
  if (local.empty() || HasParentSegment(local) || !IsWithin(local, output_dir)) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(where), ": ", location, " is not ",
        remote ? "a local path (the worker reads it) " : "", "under the job's output directory ",
        std::string(output_dir)));
  }
  return absl::OkStatus();
}

// The result file of a generate or evaluate job (PrepareJob's defaults).
absl::Status PrepareResultFile(const JobLaunch& launch, const JobValues& values,
                               const RenderOptions& options, PreparedJob& job) {
  const mixsweep::v1::JobSpec& spec = launch.spec;
  const mixsweep::v1::JobKind kind = spec.job().kind();
  const std::string format = ResultFormatOf(spec);
  std::string location = spec.result_file_template();
  if (kind == mixsweep::v1::JOB_KIND_GENERATE) {
    if (format != kMimicgenFormat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "result_format \"", format, "\" is not a generation summary format (known: mimicgen)"));
    }
    if (location.empty()) location = "{output_dir}/important_stats.json";
  } else if (kind == mixsweep::v1::JOB_KIND_EVALUATE) {
    absl::StatusOr<EvaluationFormat> known = ParseEvaluationFormat(format);
    if (!known.ok()) return known.status();
    if (location.empty()) {
      location = *known == EvaluationFormat::kLerobot           ? "{output_dir}/eval_info.json"
                 : *known == EvaluationFormat::kDiffusionPolicy ? "{output_dir}/eval_log.json"
                                                                : "{output_dir}/mixsweep_eval.json";
    }
    if (spec.evaluation().n_episodes() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "evaluation.n_episodes is ", spec.evaluation().n_episodes(),
          "; an evaluate job needs at least one episode"));
    }
  } else {
    return absl::OkStatus();  // judged by its exit code and checkpoint
  }
  absl::StatusOr<std::string> rendered = RenderLocation(location, "result_file", values, options);
  if (!rendered.ok()) return rendered.status();
  if (absl::Status s = CheckWrittenUnder("result_file", *rendered, job.output_dir,
                                         /*remote_allowed=*/false);
      !s.ok()) {
    return s;
  }
  job.result_file = LocalPathOf(*rendered);
  return absl::OkStatus();
}

// JobSpec.checkpoint_steps, each rendered with {step}: distinct paths, each
// where the job may write.
absl::Status PrepareStepCheckpoints(const JobLaunch& launch, const JobValues& values,
                                    const RenderOptions& options, PreparedJob& job) {
  const mixsweep::v1::JobSpec& spec = launch.spec;
  if (spec.checkpoint_steps().empty()) return absl::OkStatus();
  if (spec.checkpoint_at_step_template().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint_at_step: the job lists ", spec.checkpoint_steps_size(),
        " checkpoint steps but no checkpoint_at_step_template"));
  }
  std::map<std::string, int64_t> seen;
  for (int64_t step : spec.checkpoint_steps()) {
    JobValues at_step = values;
    at_step.step = step;
    absl::StatusOr<std::string> rendered =
        RenderLocation(spec.checkpoint_at_step_template(), "checkpoint_at_step", at_step, options);
    if (!rendered.ok()) return rendered.status();
    if (absl::Status s = CheckWrittenUnder("checkpoint_at_step", *rendered, job.output_dir,
                                           /*remote_allowed=*/true);
        !s.ok()) {
      return s;
    }
    auto [it, fresh] = seen.emplace(*rendered, step);
    if (!fresh) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint_at_step: steps ", it->second, " and ", step, " both render to ", *rendered,
          " (the template must use {step})"));
    }
    job.step_checkpoints.emplace_back(step, *rendered);
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
                             std::pair{"resume_checkpoint", &values.resume_checkpoint},
                             std::pair{"checkpoint", &values.checkpoint}}) {
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
  if (absl::Status s = PrepareResultFile(launch, values, options, job); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("result file: ", s.message()));
  }
  if (absl::Status s = PrepareStepCheckpoints(launch, values, options, job); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("step checkpoints: ", s.message()));
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
  job.child_env["CUDA_VISIBLE_DEVICES"] = CudaVisibleDevices(launch.gpu_indices, launch.gpu_uuids);
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

namespace {

ResultFileRead ReadResultFile(const std::string& path, const std::string& output_dir) {
  ResultFileRead read;
  read.path = path;
  auto unreadable = [&](std::string why, bool retryable) {
    read.state = ResultFileRead::State::kUnreadable;
    read.error = std::move(why);
    read.retryable = retryable;
    return read;
  };
  std::error_code error;
  const fs::path dir = fs::canonical(output_dir, error);
  if (error) return unreadable("resolving the output directory: " + error.message(), true);
  const fs::path resolved = fs::weakly_canonical(path, error);
  if (error) return unreadable("resolving it: " + error.message(), true);
  if (!IsWithin(resolved.string(), dir.string())) {
    return unreadable(absl::StrCat("it resolves to ", resolved.string(),
                                   " through a symbolic link, outside the job's output directory"),
                      false);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      read.state = ResultFileRead::State::kMissing;
      return read;
    }
    if (errno == ELOOP) return unreadable("it is a symbolic link", false);
    return unreadable(std::strerror(errno), true);
  }
  struct stat info;
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<uint64_t>(info.st_size) > kMaxResultFileBytes) {
    const bool regular = S_ISREG(info.st_mode);
    ::close(fd);
    return unreadable(regular ? absl::StrCat("it is larger than ", kMaxResultFileBytes, " bytes")
                              : std::string("it is not a regular file"),
                      false);
  }
  std::string text(static_cast<size_t>(info.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return unreadable(why, true);
    }
    if (n == 0) break;  // shrank meanwhile: what is there
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  read.state = ResultFileRead::State::kRead;
  read.text = std::move(text);
  return read;
}

}  // namespace

void InspectOutputs(const PreparedJob& job, RunResult& result) {
  if (result.exit != RunResult::Exit::kExited || result.exit_code != 0 ||
      result.deadline_exceeded) {
    return;  // judged by how it ended; nothing to read
  }
  for (const auto& [step, uri] : job.step_checkpoints) {
    result.step_checkpoints.push_back(
        StepCheckpointFound{.step = step, .uri = uri, .exists = CheckpointExists(uri)});
  }
  if (!job.result_file.empty()) result.result_file = ReadResultFile(job.result_file, job.output_dir);
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
