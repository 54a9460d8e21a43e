#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

extern char** environ;

namespace mixsweep::testing {
namespace {

using Clock = std::chrono::steady_clock;

// argv/envp as the char* arrays execve wants, built before fork().
struct CArray {
  explicit CArray(std::vector<std::string> v) : storage(std::move(v)) {
    for (auto& s : storage) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
};

// The current environment with `extra` added (overriding).
CArray MakeEnv(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (extra.count(name) == 0) env.push_back(std::move(entry));
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return CArray(std::move(env));
}

// In the child after fork(): async-signal-safe only.
[[noreturn]] void ExecChild(const CArray& argv, const CArray& envp, int err_fd) {
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, nullptr);
  execve(argv.ptrs[0], argv.ptrs.data(), envp.ptrs.data());
  int e = errno;
  ssize_t ignored = write(err_fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

// Reads the exec-failure pipe: 0 when exec succeeded, else the child's errno.
int ExecError(int read_fd) {
  int e = 0;
  ssize_t n;
  do {
    n = read(read_fd, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  close(read_fd);
  return n == static_cast<ssize_t>(sizeof e) ? e : 0;
}

int Reap(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

Process Process::Start(const std::vector<std::string>& argv, const std::string& log_path,
                       const std::map<std::string, std::string>& env) {
  Process p;
  if (argv.empty()) {
    std::fprintf(stderr, "Process::Start: empty argv\n");
    return p;
  }
  CArray args(argv);
  CArray envp = MakeEnv(env);
  int log_fd = -1;
  if (!log_path.empty()) {
    log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      std::fprintf(stderr, "Process::Start: open %s: %s\n", log_path.c_str(), strerror(errno));
      return p;
    }
  }
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    if (log_fd >= 0) close(log_fd);
    return p;
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (log_fd >= 0 && (dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)) _exit(127);
    ExecChild(args, envp, err_pipe[1]);
  }
  if (log_fd >= 0) close(log_fd);
  close(err_pipe[1]);
  if (pid < 0) {
    std::fprintf(stderr, "Process::Start: fork: %s\n", strerror(errno));
    close(err_pipe[0]);
    return p;
  }
  if (int e = ExecError(err_pipe[0]); e != 0) {
    std::fprintf(stderr, "Process::Start: exec %s: %s\n", argv[0].c_str(), strerror(e));
    Reap(pid);
    return p;
  }
  p.pid_ = pid;
  return p;
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_), reaped_(other.reaped_), status_(other.status_) {
  other.pid_ = 0;
  other.reaped_ = false;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      Reap(pid_);
    }
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    status_ = other.status_;
    other.pid_ = 0;
    other.reaped_ = false;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    Reap(pid_);
  }
}

void Process::Kill(int signal) {
  if (pid_ > 0 && !reaped_) kill(pid_, signal);
}

int Process::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  if (reaped_) return status_;
  const auto deadline = Clock::now() + timeout;
  auto sleep = std::chrono::milliseconds(1);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
      return status;
    }
    if (r < 0 && errno != EINTR) return -1;  // not our child (reaped elsewhere)
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, std::chrono::milliseconds(10));
  }
}

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = status;
    return false;
  }
  return r == 0;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& stdin_text,
                         std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& env) {
  CommandResult result;
  if (argv.empty()) return result;
  CArray args(argv);
  CArray envp = MakeEnv(env);
  int in[2], out[2], err[2], exec_err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return result;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return result;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return result;
  }
  if (pipe2(exec_err, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    return result;
  }
  pid_t pid = fork();
  if (pid == 0) {
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(127);
    ExecChild(args, envp, exec_err[1]);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  close(exec_err[1]);
  if (pid < 0) {
    result.err = std::string("fork: ") + strerror(errno);
    close(in[1]), close(out[0]), close(err[0]), close(exec_err[0]);
    return result;
  }
  if (int e = ExecError(exec_err[0]); e != 0) {
    Reap(pid);
    close(in[1]), close(out[0]), close(err[0]);
    result.exit_code = 127;
    result.err = "exec " + argv[0] + ": " + strerror(e);
    return result;
  }

  // Writing to a child that closed its stdin must give EPIPE, not kill us:
  // block SIGPIPE in this thread meanwhile, and swallow one we caused.
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  sigpending(&pending);
  const bool pipe_was_pending = sigismember(&pending, SIGPIPE);

  for (int fd : {in[1], out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int in_fd = in[1];
  if (stdin_text.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  int out_fd = out[0], err_fd = err[0];
  size_t written = 0;
  const auto deadline = Clock::now() + timeout;
  bool exited = false, timed_out = false;
  int status = 0;
  char buf[65536];
  while (in_fd >= 0 || out_fd >= 0 || err_fd >= 0) {
    if (!exited) {
      pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) exited = true;
    }
    auto now = Clock::now();
    if (!exited && now >= deadline) {
      timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    // Once the child has exited, only drain what is already there: a
    // grandchild holding the pipes open must not keep us waiting.
    int wait_ms = exited ? 0
                         : static_cast<int>(std::min<long long>(
                               50, std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - now).count() + 1));
    int ready = poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      if (exited) break;
      continue;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = write(in_fd, stdin_text.data() + written, stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == stdin_text.size()) {
          close(in_fd);
          in_fd = -1;
        }
      } else {
        int& fd = fds[i].fd == out_fd ? out_fd : err_fd;
        std::string& sink = fds[i].fd == out_fd ? result.out : result.err;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          sink.append(buf, static_cast<size_t>(r));
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          close(fd);
          fd = -1;
        }
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd}) {
    if (fd >= 0) close(fd);
  }

  sigpending(&pending);
  if (!pipe_was_pending && sigismember(&pending, SIGPIPE)) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  if (timed_out) {
    kill(pid, SIGKILL);
    Reap(pid);
    result.exit_code = 128 + SIGKILL;
    return result;
  }
  if (!exited) status = Reap(pid);
  result.exit_code = ExitCode(status);
  return result;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string FileTail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out << all[i] << "\n";
  }
  return out.str();
}

}  // namespace mixsweep::testing
