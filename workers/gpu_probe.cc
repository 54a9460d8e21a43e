// GPU probing: parsing nvidia-smi's CSV, and running nvidia-smi with a
// deadline (a wedged driver can make it hang for minutes).
#include "workers/gpu_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace mixsweep::workers {
namespace {

constexpr const char* kColumns[] = {"index",           "name", "memory.total", "memory.used",
                                    "utilization.gpu", "uuid"};
constexpr size_t kColumnCount = std::size(kColumns);

// What nvidia-smi prints for a value it cannot report.
bool IsNotAvailable(std::string_view value) {
  return value == "[N/A]" || value == "N/A" || value == "[Not Supported]";
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(separator, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? at : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

std::optional<int64_t> ParseNonNegative(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

// Shown in messages: a foreign program's output, so control bytes are
// escaped (\xNN; a newline as \n) and long text is cut.
std::string Shown(std::string_view text, size_t limit = 80) {
  std::string shown;
  for (char c : text.substr(0, limit)) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '\n') {
      shown += "\\n";
    } else if (byte < 0x20 || byte == 0x7f) {
      shown += absl::StrCat("\\x", absl::Hex(byte, absl::kZeroPad2));
    } else {
      shown += c;
    }
  }
  if (text.size() > limit) shown += "...";
  return shown;
}

absl::Status ColumnError(int line_number, size_t column, std::string_view value,
                         std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "nvidia-smi output line ", line_number, ", column ", column + 1, " (", kColumns[column],
      "): \"", Shown(value), "\" ", std::string(why)));
}

absl::StatusOr<GpuInfo> ParseGpuLine(std::string_view line, int line_number) {
  std::vector<std::string_view> fields = Split(line, ',');
  if (fields.size() != kColumnCount) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nvidia-smi output line ", line_number, ": expected ", kColumnCount,
        " comma-separated columns (index, name, memory.total, memory.used, "
        "utilization.gpu, uuid), got ", fields.size(), ": \"", Shown(line), "\""));
  }
  for (std::string_view& field : fields) field = TrimSpaces(field);
  GpuInfo gpu;
  std::optional<int64_t> numbers[kColumnCount];
  for (size_t column : {0, 2, 3, 4}) {
    if (column == 4 && IsNotAvailable(fields[column])) {
      numbers[column] = 0;
      continue;
    }
    numbers[column] = ParseNonNegative(fields[column]);
    if (!numbers[column]) {
      return ColumnError(line_number, column, fields[column], "is not a non-negative integer");
    }
  }
  if (*numbers[0] > std::numeric_limits<int>::max()) {
    return ColumnError(line_number, 0, fields[0], "is out of range");
  }
  if (*numbers[4] > 100) return ColumnError(line_number, 4, fields[4], "is not a percentage");
  for (size_t column : {1, 5}) {
    if (fields[column].empty()) return ColumnError(line_number, column, "", "is empty");
  }
  gpu.index = static_cast<int>(*numbers[0]);
  gpu.name = std::string(fields[1]);
  gpu.memory_total_mib = *numbers[2];
  gpu.memory_used_mib = *numbers[3];
  gpu.utilization_percent = static_cast<int>(*numbers[4]);
  gpu.uuid = std::string(fields[5]);
  return gpu;
}

// ---------------------------------------------------------------------------
// Running a program and capturing its output.

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct PipeEnds {
  UniqueFd read;
  UniqueFd write;
};

absl::StatusOr<PipeEnds> MakePipe() {
  int fds[2];
  // Close-on-exec, so a program started concurrently does not inherit it
  // and keep it open after ours exits.
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  return PipeEnds{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Each stream keeps at most this much; nvidia-smi prints about 100 bytes per GPU.
constexpr size_t kMaxCapturedBytes = 1 << 20;

struct Captured {
  std::string out;
  std::string err;
  int wait_status = 0;
  bool timed_out = false;
};

// Frees posix_spawn's attribute and file-action objects on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

// Starts `argv` with stdin from /dev/null, stdout and stderr into the pipes,
// in a process group of its own (so a timeout kills what it started too),
// with default signal dispositions and an empty signal mask whatever the
// agent's threads use. Returns the pid, or the errno of the failure.
std::pair<pid_t, int> Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, err_fd, STDERR_FILENO);
  sigset_t empty;
  sigset_t defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&setup.attr, &empty);
  posix_spawnattr_setsigdefault(&setup.attr, &defaults);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, args[0], &setup.actions, &setup.attr, args.data(), environ);
  return {pid, error};
}

// Reads both pipes until they close or the deadline passes.
bool DrainUntil(int out_fd, int err_fd, std::chrono::steady_clock::time_point deadline,
                Captured& captured) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&captured.out, &captured.err};
  int open_count = 2;
  char buffer[4096];
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    const int ready = poll(fds, 2, static_cast<int>(left.count()));
    if (ready == 0) return false;  // the deadline passed
    if (ready < 0) {
      if (errno == EINTR) continue;
      return true;  // cannot read further: keep what came, and reap
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_count;
        continue;
      }
      const size_t room = kMaxCapturedBytes - std::min(kMaxCapturedBytes, sinks[i]->size());
      sinks[i]->append(buffer, std::min(room, static_cast<size_t>(n)));
    }
  }
  return true;
}

// Waits for `pid` to exit until the deadline (its output may close before it
// exits). False if it is still running then.
bool ReapUntil(pid_t pid, std::chrono::steady_clock::time_point deadline, int& wait_status) {
  while (true) {
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid) return true;
    // ECHILD: SIGCHLD is ignored, so the kernel reaped it; the status is
    // lost and the output decides.
    if (done < 0 && errno != EINTR) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Runs `argv` to completion, capturing its output, killing its process group
// at the deadline. ENOENT from spawning comes back as NOT_FOUND.
absl::StatusOr<Captured> RunCapturing(const std::vector<std::string>& argv,
                                      std::chrono::milliseconds timeout) {
  absl::StatusOr<PipeEnds> out = MakePipe();
  if (!out.ok()) return out.status();
  absl::StatusOr<PipeEnds> err = MakePipe();
  if (!err.ok()) return err.status();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto [pid, error] = Spawn(argv, out->write.get(), err->write.get());
  // Our copies of the write ends must go, or the pipes never report EOF.
  out->write.Reset();
  err->write.Reset();
  if (error == ENOENT) return absl::NotFoundError(absl::StrCat(argv[0], " not found"));
  if (error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot run ", argv[0], ": ", std::strerror(error)));
  }
  Captured captured;
  const bool drained = DrainUntil(out->read.get(), err->read.get(), deadline, captured);
  if (!drained || !ReapUntil(pid, deadline, captured.wait_status)) {
    kill(-pid, SIGKILL);
    while (waitpid(pid, &captured.wait_status, 0) < 0 && errno == EINTR) {
    }
    captured.timed_out = true;
  }
  return captured;
}

std::string OutputOf(const Captured& captured) {
  std::string output = captured.out;
  if (!output.empty() && !captured.err.empty()) output += '\n';
  output += captured.err;
  return Shown(TrimSpaces(output), 2000);
}

}  // namespace

absl::StatusOr<std::vector<GpuInfo>> ParseNvidiaSmiCsv(std::string_view csv) {
  std::vector<GpuInfo> gpus;
  int line_number = 0;
  for (std::string_view line : Split(csv, '\n')) {
    ++line_number;
    if (TrimSpaces(line).empty()) continue;
    absl::StatusOr<GpuInfo> gpu = ParseGpuLine(line, line_number);
    if (!gpu.ok()) return gpu.status();
    gpus.push_back(*std::move(gpu));
  }
  return gpus;
}

absl::StatusOr<std::vector<GpuInfo>> ProbeGpus(const std::string& nvidia_smi) {
  return ProbeGpus(nvidia_smi, kNvidiaSmiTimeout);
}

absl::StatusOr<std::vector<GpuInfo>> ProbeGpus(const std::string& nvidia_smi,
                                               std::chrono::milliseconds timeout) {
  if (nvidia_smi.empty()) return absl::InvalidArgumentError("nvidia-smi: empty program name");
  absl::StatusOr<Captured> run =
      RunCapturing({nvidia_smi, kNvidiaSmiQuery, "--format=csv,noheader,nounits"}, timeout);
  if (absl::IsNotFound(run.status())) return std::vector<GpuInfo>{};
  if (!run.ok()) return run.status();
  if (run->timed_out) {
    return absl::UnavailableError(absl::StrCat(nvidia_smi, " did not finish within ",
                                               timeout.count(), " ms and was killed; output: ",
                                               OutputOf(*run)));
  }
  const int status = run->wait_status;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return std::vector<GpuInfo>{};
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = WIFEXITED(status)
                                ? absl::StrCat("exited with status ", WEXITSTATUS(status))
                                : absl::StrCat("was killed by signal ", WTERMSIG(status));
    return absl::UnavailableError(
        absl::StrCat(nvidia_smi, " ", how, ": ", OutputOf(*run)));
  }
  absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(run->out);
  if (!gpus.ok()) {
    // Output we cannot read is a broken installation, not a bad request.
    return absl::UnavailableError(gpus.status().message());
  }
  return gpus;
}

}  // namespace mixsweep::workers
