#include "workers/agent/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace mixsweep::workers {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Lines longer than this are cut (a progress bar without newlines must not
// grow the buffer forever).
constexpr size_t kMaxLine = 64 * 1024;

// The worker's environment with `extra` set on top, as "K=V" strings.
std::vector<std::string> ChildEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (!extra.contains(name)) env.emplace_back(entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

class ProcessRunner : public JobRunner, public std::enable_shared_from_this<ProcessRunner> {
 public:
  ProcessRunner(asio::io_context& io, JobLaunch launch, JobEvents& events,
                ProcessRunnerOptions options)
      : io_(io),
        launch_(std::move(launch)),
        events_(events),
        options_(options),
        output_(io),
        exec_status_(io),
        exit_fd_(io),
        exit_timer_(io),
        kill_timer_(io),
        tail_timer_(io),
        deadline_timer_(io),
        drain_timer_(io) {}

  void Start() override {
    started_at_ = Clock::now();
    absl::StatusOr<PreparedJob> prepared = PrepareJob(launch_);
    if (!prepared.ok()) {
      FailToStart(std::string(prepared.status().message()),
                  /*retryable=*/!absl::IsInvalidArgument(prepared.status()));
      return;
    }
    prepared_ = *std::move(prepared);
    absl::StatusOr<ProgressParser> parser = ProgressParser::Create(launch_.spec.progress_pattern());
    if (!parser.ok()) {
      FailToStart(absl::StrCat("progress_pattern: ", parser.status().message()), false);
      return;
    }
    parser_.emplace(*std::move(parser));
    log_file_.open(prepared_.output_dir + "/job.log", std::ios::binary | std::ios::trunc);
    tailer_.path = prepared_.output_dir + "/logs.json.txt";
    if (std::string error = Spawn(); !error.empty()) {
      FailToStart(error, /*retryable=*/true);
      return;
    }
    ReadOutput();
    WaitForExec();
    WatchExit();
    TailLoop();
    if (launch_.spec.has_deadline()) {
      const auto deadline = std::chrono::seconds(launch_.spec.deadline().seconds()) +
                            std::chrono::nanoseconds(launch_.spec.deadline().nanos());
      deadline_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(deadline));
      deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->exited_) return;
        spdlog::warn("job {}: deadline reached; stopping it", self->launch_.spec.job().id());
        self->deadline_exceeded_ = true;
        self->Stop(self->options_.deadline_grace);
      });
    }
  }

  void Stop(std::chrono::milliseconds grace) override {
    if (pid_ <= 0 || exited_) return;
    if (!term_sent_) {
      term_sent_ = true;
      ::kill(-pid_, SIGTERM);
    }
    const auto kill_at = Clock::now() + grace;
    if (kill_scheduled_ && kill_at >= kill_at_) return;  // an earlier SIGKILL is already due
    kill_scheduled_ = true;
    kill_at_ = kill_at;
    kill_timer_.expires_at(kill_at);
    kill_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->exited_) return;
      ::kill(-self->pid_, SIGKILL);
    });
  }

 private:
  // Forks and execs; "" on success, else why not.
  std::string Spawn() {
    // Everything the child needs is built before fork: after it, in a
    // multi-threaded parent, only async-signal-safe calls are allowed.
    std::vector<std::string> argv_strings = prepared_.command.argv;
    std::vector<std::string> env_strings = ChildEnvironment(prepared_.child_env);
    std::vector<char*> argv = CStrings(argv_strings);
    std::vector<char*> envp = CStrings(env_strings);

    int out[2], status[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return absl::StrCat("pipe: ", std::strerror(errno));
    if (::pipe2(status, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return absl::StrCat("pipe: ", std::strerror(errno));
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string error = absl::StrCat("fork: ", std::strerror(errno));
      for (int fd : {out[0], out[1], status[0], status[1], null_fd}) ::close(fd);
      return error;
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      // A worker that dies without stopping its job (SIGKILL, OOM) takes the
      // job's leader with it: the lease goes to another worker anyway. Tied
      // to the forking thread, which is the io_context thread.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The worker blocks or handles signals its own way; the job starts clean.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      struct sigaction dfl = {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(SIGPIPE, &dfl, nullptr);
      if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::execvpe(argv[0], argv.data(), envp.data());
      const int error = errno;
      (void)!::write(status[1], &error, sizeof(error));
      ::_exit(127);
    }
    // Also here, so that a Stop() right after Start() finds the group.
    ::setpgid(pid, pid);
    pid_ = pid;
    for (int fd : {out[1], status[1], null_fd}) ::close(fd);
    output_.assign(out[0]);
    exec_status_.assign(status[0]);
    spdlog::info("job {}: spawned pid {}: {}", launch_.spec.job().id(), pid,
                 fmt::join(prepared_.command.argv, " "));
    return "";
  }

  void FailToStart(std::string error, bool retryable) {
    spdlog::error("job {}: cannot start: {}", launch_.spec.job().id(), error);
    exited_ = true;
    RunResult result;
    result.exit = RunResult::Exit::kStartFailed;
    result.error = std::move(error);
    result.start_failure_retryable = retryable;
    // Events never come from inside Start().
    asio::post(io_, [self = shared_from_this(), result = std::move(result)] {
      self->events_.OnExit(result);
    });
  }

  // The status pipe closes on a successful exec, or carries exec's errno.
  void WaitForExec() {
    exec_status_.async_read_some(
        asio::buffer(exec_errno_bytes_.data() + exec_errno_size_,
                     exec_errno_bytes_.size() - exec_errno_size_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          self->exec_errno_size_ += n;
          if (!ec && self->exec_errno_size_ < self->exec_errno_bytes_.size()) {
            self->WaitForExec();
            return;
          }
          self->exec_known_ = true;
          self->exec_status_.close();
          if (self->exec_errno_size_ == self->exec_errno_bytes_.size()) {
            int error = 0;
            std::memcpy(&error, self->exec_errno_bytes_.data(), sizeof(error));
            self->exec_error_ = absl::StrCat("exec ", self->prepared_.command.argv[0], ": ",
                                             std::strerror(error));
          } else {
            self->events_.OnStarted(self->prepared_.provenance);
          }
          self->MaybeFinish();
        });
  }

  void ReadOutput() {
    output_.async_read_some(
        asio::buffer(read_buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          if (n > 0) self->HandleOutput(std::string_view(self->read_buffer_.data(), n));
          if (ec) {
            self->output_eof_ = true;
            self->MaybeFinish();
            return;
          }
          self->ReadOutput();
        });
  }

  void HandleOutput(std::string_view data) {
    log_file_.write(data.data(), static_cast<std::streamsize>(data.size()));
    log_file_.flush();
    tail_.Append(data);
    events_.OnOutput(data);
    for (char c : data) {
      if (c == '\n' || c == '\r') {
        ParseLine();
      } else {
        line_.push_back(c);
        if (line_.size() >= kMaxLine) ParseLine();
      }
    }
  }

  void ParseLine() {
    if (!line_.empty() && parser_) {
      if (std::optional<ProgressSample> sample = parser_->ParseLine(line_)) Progress(*sample);
    }
    line_.clear();
  }

  void Progress(const ProgressSample& sample) {
    last_step_ = sample.step;
    for (const auto& [name, value] : sample.metrics) last_metrics_[name] = value;
    events_.OnProgress(sample);
  }

  void TailOnce() {
    for (const std::string& line : tailer_.ReadNewLines()) {
      if (std::optional<ProgressSample> sample = ParseDiffusionPolicyLogLine(line)) {
        Progress(*sample);
      }
    }
  }

  void TailLoop() {
    tail_timer_.expires_after(options_.tail_poll);
    tail_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->finished_) return;
      self->TailOnce();
      self->TailLoop();
    });
  }

  // Wakes when the job's leader exits: at once on its pidfd (Linux 5.3+),
  // else by polling every exit_poll. The poll alone cost a trivial job 25 ms
  // on average (half the 50 ms period), the most of its whole cycle.
  void WatchExit() {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) {
      PollExit();
      return;
    }
    exit_fd_.assign(pidfd);
    exit_fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                        [self = shared_from_this()](const boost::system::error_code& ec) {
                          if (!ec) self->Reap();
                        });
  }

  // waitid(WNOWAIT) leaves the leader a zombie, so its pid (the group id)
  // cannot be reused while the rest of the group is killed.
  void PollExit() {
    exit_timer_.expires_after(options_.exit_poll);
    exit_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      siginfo_t info = {};
      if (::waitid(P_PID, self->pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == 0) {
        self->PollExit();  // still running
        return;
      }
      self->Reap();
    });
  }

  // The leader has exited (a zombie until waited for, so its pid, the group
  // id, cannot be reused while the rest of the group is killed).
  void Reap() {
    ::kill(-pid_, SIGKILL);  // what the job left behind in its group
    int status = 0;
    ::waitpid(pid_, &status, 0);
    wait_status_ = status;
    exited_ = true;
    exited_at_ = Clock::now();
    kill_timer_.cancel();
    deadline_timer_.cancel();
    drain_timer_.expires_after(options_.drain_timeout);
    drain_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      self->output_eof_ = true;  // someone outside the group holds the pipe: stop waiting
      self->output_.close();
      self->MaybeFinish();
    });
    MaybeFinish();
  }


  void MaybeFinish() {
    if (finished_ || !exited_ || !output_eof_ || !exec_known_) return;
    finished_ = true;
    ParseLine();  // a last line without a newline
    TailOnce();
    for (auto* timer : {&exit_timer_, &kill_timer_, &tail_timer_, &deadline_timer_, &drain_timer_}) {
      timer->cancel();
    }
    output_.close();
    boost::system::error_code ignored;
    exit_fd_.close(ignored);
    log_file_.close();

    RunResult result;
    if (!exec_error_.empty()) {
      result.exit = RunResult::Exit::kStartFailed;
      result.error = exec_error_;
      result.start_failure_retryable = true;  // a program missing here may exist elsewhere
    } else if (WIFSIGNALED(wait_status_)) {
      result.exit = RunResult::Exit::kSignaled;
      result.signal = WTERMSIG(wait_status_);
    } else {
      result.exit = RunResult::Exit::kExited;
      result.exit_code = WEXITSTATUS(wait_status_);
    }
    result.deadline_exceeded = deadline_exceeded_;
    result.checkpoint = prepared_.command.checkpoint;
    result.checkpoint_exists = CheckpointExists(result.checkpoint);
    result.wall_seconds = std::chrono::duration<double>(exited_at_ - started_at_).count();
    result.log_tail = tail_.Text();
    result.last_step = last_step_;
    result.last_metrics = last_metrics_;
    InspectOutputs(prepared_, result);
    spdlog::info("job {}: process {} ended (wait status {:#x}, {:.1f} s)",
                 launch_.spec.job().id(), pid_, wait_status_, result.wall_seconds);
    events_.OnExit(result);
  }

  asio::io_context& io_;
  JobLaunch launch_;
  JobEvents& events_;
  ProcessRunnerOptions options_;
  PreparedJob prepared_;
  std::optional<ProgressParser> parser_;

  asio::posix::stream_descriptor output_;
  asio::posix::stream_descriptor exec_status_;
  asio::posix::stream_descriptor exit_fd_;  // the leader's pidfd, when the kernel has them
  asio::steady_timer exit_timer_, kill_timer_, tail_timer_, deadline_timer_, drain_timer_;
  std::array<char, 16 * 1024> read_buffer_{};
  std::array<char, sizeof(int)> exec_errno_bytes_{};
  size_t exec_errno_size_ = 0;

  std::ofstream log_file_;
  FileTailer tailer_;
  LogTail tail_;
  std::string line_;
  std::optional<int64_t> last_step_;
  std::map<std::string, double> last_metrics_;

  pid_t pid_ = -1;
  Clock::time_point started_at_, exited_at_;
  bool term_sent_ = false;
  bool kill_scheduled_ = false;
  Clock::time_point kill_at_;
  bool deadline_exceeded_ = false;
  bool exec_known_ = false;
  std::string exec_error_;
  bool exited_ = false;
  bool output_eof_ = false;
  bool finished_ = false;
  int wait_status_ = 0;
};

}  // namespace

std::shared_ptr<JobRunner> MakeProcessRunner(asio::io_context& io, JobLaunch launch,
                                             JobEvents& events, ProcessRunnerOptions options) {
  return std::make_shared<ProcessRunner>(io, std::move(launch), events, options);
}

}  // namespace mixsweep::workers
