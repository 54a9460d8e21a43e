#include "bench/bench_daemon.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "services/channel/channel.h"

namespace mixsweep::bench {
namespace {

using Clock = std::chrono::steady_clock;

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  return ::remove(path);
}

}  // namespace

// Starts `args` with stdout and stderr appended to `log`, dying with this
// process (whatever kills it); the child's pid, or -1.
pid_t Spawn(std::vector<std::string> args, const std::string& log) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(127);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    ::close(fd);
  }
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  execv(cargs[0], cargs.data());
  _exit(127);
}

// Runs `args` to the end (see Spawn); its exit code (-1 if it could not run
// or died of a signal).
int RunToEnd(std::vector<std::string> args, const std::string& log) {
  const pid_t pid = Spawn(std::move(args), log);
  if (pid < 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

std::shared_ptr<grpc::Channel> Daemon::Channel() const {
  client::ConnectionFlags flags;
  flags.server = address();
  flags.token_file = token_file_;
  auto channel = client::MakeChannel(flags);
  if (!channel.ok()) {
    std::fprintf(stderr, "channel: %s\n", std::string(channel.status().message()).c_str());
    std::abort();
  }
  return *channel;
}

std::unique_ptr<Daemon> Daemon::Start(const DaemonOptions& options, std::string* error) {
  auto d = std::unique_ptr<Daemon>(new Daemon());
  std::string tmpl_text = "/tmp/" + options.temp_prefix + ".XXXXXX";
  std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
  tmpl.push_back('\0');
  if (::mkdtemp(tmpl.data()) == nullptr) {
    *error = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  d->dir_ = tmpl.data();
  d->keep_ = options.keep;
  // As root, PostgreSQL runs as another user that must traverse this.
  ::chmod(d->dir_.c_str(), 0755);
  const std::string port_file = d->dir_ + "/port";
  std::vector<std::string> args = {options.mixsweepd, "--listen", "127.0.0.1:0",
                                   "--port-file", port_file, "--log-level", options.log_level};
  if (options.database.empty()) {
    d->data_dir_ = d->dir_ + "/data";
    args.insert(args.end(), {"--data-dir", d->data_dir_});
  } else {
    args.insert(args.end(), {"--database", options.database});
  }
  if (options.db_pool_size > 0) {
    args.insert(args.end(), {"--db-pool-size", std::to_string(options.db_pool_size)});
  }
  args.insert(args.end(), options.daemon_args.begin(), options.daemon_args.end());

  const std::string log = d->dir_ + "/mixsweepd.log";
  d->log_ = log;
  // The first admin token, made where the database is (as a lab would).
  d->token_file_ = d->dir_ + "/admin.token";
  {
    std::vector<std::string> bootstrap = {options.mixsweepd};
    if (options.database.empty()) {
      bootstrap.insert(bootstrap.end(), {"--data-dir", d->data_dir_});
    } else {
      bootstrap.insert(bootstrap.end(), {"--database", options.database});
    }
    bootstrap.insert(bootstrap.end(), {"token", "bootstrap", "--token-file", d->token_file_});
    if (RunToEnd(bootstrap, log) != 0) {
      *error = "mixsweepd token bootstrap failed; log " + log + ":\n" + d->LogTail();
      d->keep_ = true;
      return nullptr;
    }
  }
  const pid_t pid = Spawn(args, log);
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  d->pid_ = pid;
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> d->port_ && d->port_ > 0) return d;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      d->pid_ = 0;
      *error = "mixsweepd exited during start-up; log " + log + ":\n" + d->LogTail();
      d->keep_ = true;
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *error = "mixsweepd did not write its port file within 120 s; log " + log;
  d->keep_ = true;
  return nullptr;
}

Daemon::~Daemon() {
  Stop();
  if (!keep_ && !dir_.empty()) nftw(dir_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

int Daemon::Stop() {
  if (pid_ <= 0) return exit_code_;
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      status = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = 0;
  exit_code_ =
      status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return exit_code_;
}

bool Daemon::LocalPostgres(pid_t* postmaster, std::string* dsn) const {
  if (data_dir_.empty()) return false;
  std::ifstream in(data_dir_ + "/pgdata/postmaster.pid");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (lines.size() < 5) return false;
  *postmaster = std::atoi(lines[0].c_str());
  *dsn = "host=" + lines[4] + " port=" + lines[3] + " user=mixsweep dbname=mixsweep";
  return true;
}

std::string Daemon::LogTail() const {
  std::ifstream in(log_);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
    out += lines[i] + "\n";
  }
  return out;
}

}  // namespace mixsweep::bench
