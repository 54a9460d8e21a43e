#include "db/local_cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace mixsweep::db {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kPort = 5432;
constexpr const char* kInitdbTmpPrefix = "pgdata.initdb-";
// The server log is moved aside at start once it grows past this.
constexpr off_t kLogRotateBytes = 16 << 20;
constexpr milliseconds kStopTimeout{30000};
constexpr milliseconds kInitdbTimeout{300000};

std::string Errno(int e) { return std::strerror(e); }

// ---------------------------------------------------------------------------
// Postmasters started by this process, so that a LocalCluster can tell its
// own process's children (which it may reap) from anyone else's. Value: true
// while a LocalCluster object owns the child; false for an orphan (a start
// that timed out and left the server to finish recovery).
std::mutex g_children_mu;
std::map<pid_t, bool>& Children() {
  static auto* children = new std::map<pid_t, bool>;
  return *children;
}
void RegisterChild(pid_t pid, bool owned) {
  std::lock_guard lock(g_children_mu);
  Children()[pid] = owned;
}
void UnregisterChild(pid_t pid) {
  std::lock_guard lock(g_children_mu);
  Children().erase(pid);
}
// Reaps orphans (see above) that have exited.
void ReapOrphans() {
  std::lock_guard lock(g_children_mu);
  for (auto it = Children().begin(); it != Children().end();) {
    int status;
    if (!it->second && ::waitpid(it->first, &status, WNOHANG) == it->first) {
      it = Children().erase(it);
    } else {
      ++it;
    }
  }
}
// nullopt: not a postmaster we started.
std::optional<bool> ChildOwned(pid_t pid) {
  std::lock_guard lock(g_children_mu);
  auto it = Children().find(pid);
  if (it == Children().end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------
// Files and directories.

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}
void RemoveTree(const std::string& path) {
  ::nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

// The last `lines` lines of the server log, for error messages.
std::string LogTail(const std::string& path, int lines = 20) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "(no log at " + path + ")";
  struct stat st;
  std::string data;
  if (::fstat(fd, &st) == 0) {
    off_t start = st.st_size > 16384 ? st.st_size - 16384 : 0;
    data.resize(static_cast<size_t>(st.st_size - start));
    ssize_t n = ::pread(fd, data.data(), data.size(), start);
    data.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  ::close(fd);
  std::vector<std::string> all = absl::StrSplit(data, '\n');
  while (!all.empty() && all.back().empty()) all.pop_back();
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::vector<std::string> tail(all.begin() + from, all.end());
  return absl::StrCat("log tail (", path, "):\n", absl::StrJoin(tail, "\n"));
}

// ---------------------------------------------------------------------------
// Who the server runs as.

struct RunAs {
  bool switch_user = false;  // we are root: become `name`
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<RunAs> ResolveRunAs(const std::string& user) {
  RunAs r;
  if (::geteuid() != 0) {
    r.uid = ::geteuid();
    r.gid = ::getegid();
    return r;
  }
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* result = nullptr;
  int rc;
  while ((rc = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &result)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0 || result == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL refuses to run as root, and the user it should run as, '", user,
        "', does not exist", rc != 0 ? ": " + Errno(rc) : std::string()));
  }
  if (pw.pw_uid == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL refuses to run as root; run_as_user '", user, "' is root"));
  }
  r.switch_user = true;
  r.name = user;
  r.uid = pw.pw_uid;
  r.gid = pw.pw_gid;
  return r;
}

// ---------------------------------------------------------------------------
// Child processes. Everything the child needs is prepared before fork(); the
// child calls only async-signal-safe functions.

struct CStrings {
  explicit CStrings(const std::vector<std::string>& v) : storage(v) {
    for (auto& s : storage) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
};

// Async-signal-safe: reports "<what>: errno <n>" on the error pipe and exits.
[[noreturn]] void ChildFail(int err_fd, const char* what) {
  int e = errno;
  char buf[128];
  size_t n = 0;
  for (const char* p = what; *p != '\0' && n < 80; ++p) buf[n++] = *p;
  const char sep[] = ": errno ";
  for (const char* p = sep; *p != '\0'; ++p) buf[n++] = *p;
  char digits[12];
  int d = 0;
  unsigned v = e < 0 ? 0u : static_cast<unsigned>(e);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && d < 11);
  while (d > 0) buf[n++] = digits[--d];
  ssize_t ignored = ::write(err_fd, buf, n);
  (void)ignored;
  ::_exit(127);
}

// Forks and execs argv[0] as the run-as user, in its own process group, with
// PR_SET_PDEATHSIG(SIGINT), in `cwd`, stdout/stderr to `log_fd`. Returns the
// PID, or an error naming the step that failed.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& cwd,
                            int log_fd, const RunAs& run_as) {
  CStrings args(argv);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env.emplace_back(*e);
  CStrings envp(env);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) return absl::InternalError("open /dev/null: " + Errno(errno));
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(devnull);
    return absl::InternalError("pipe2: " + Errno(errno));
  }
  const pid_t parent = ::getpid();
  const bool switch_user = run_as.switch_user;
  const uid_t uid = run_as.uid;
  const gid_t gid = run_as.gid;
  const char* dir = cwd.c_str();
  sigset_t empty;
  sigemptyset(&empty);

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(devnull);
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    return absl::UnavailableError("fork: " + Errno(e));
  }
  if (pid == 0) {
    const int err = err_pipe[1];
    ::setpgid(0, 0);  // keep terminal signals meant for us away from it
    if (switch_user) {
      if (::setgroups(1, &gid) != 0) ChildFail(err, "setgroups");
      if (::setgid(gid) != 0) ChildFail(err, "setgid");
      if (::setuid(uid) != 0) ChildFail(err, "setuid");
    }
    // After the user switch, which clears it. Fires when the thread that
    // forked us exits.
    if (::prctl(PR_SET_PDEATHSIG, SIGINT) != 0) ChildFail(err, "prctl");
    if (::getppid() != parent) ::_exit(1);  // parent already gone
    if (::chdir(dir) != 0) ChildFail(err, "chdir");
    if (::dup2(devnull, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
      ChildFail(err, "dup2");
    }
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) {
      if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    }
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    // Descriptors the host process forgot to mark close-on-exec (listening
    // sockets...) must not live on in the server.
    if (err > 3) ::close_range(3, static_cast<unsigned>(err) - 1, 0);
    ::close_range(static_cast<unsigned>(err) + 1, ~0U, 0);
    ::execve(args.ptrs[0], args.ptrs.data(), envp.ptrs.data());
    ChildFail(err, "execve");
  }
  ::close(devnull);
  ::close(err_pipe[1]);
  char buf[256];
  ssize_t n;
  do {
    n = ::read(err_pipe[0], buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n > 0) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "starting ", argv[0], " as user '", run_as.switch_user ? run_as.name : "(self)",
        "' failed: ", std::string(buf, static_cast<size_t>(n))));
  }
  return pid;
}

bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat;
  if (!ReadFile(absl::StrCat("/proc/", pid, "/stat"), &stat)) return true;
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state == 'Z' || state == 'X';  // a zombie nobody reaps (PID 1 in containers)
}

// Waits for a child of ours to exit; its wait status, or nullopt on timeout.
// When someone else reaped it (ECHILD), waits for the PID to vanish instead.
std::optional<int> WaitChild(pid_t pid, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto sleep = milliseconds(1);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      UnregisterChild(pid);
      return status;
    }
    if (r < 0 && errno == ECHILD && ProcessGone(pid)) {
      UnregisterChild(pid);
      return 0;
    }
    if (r < 0 && errno != EINTR && errno != ECHILD) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, milliseconds(20));
  }
}

std::string DescribeStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("wait status ", status);
}

// Runs a command as the run-as user to completion.
absl::Status RunToCompletion(const std::vector<std::string>& argv, const std::string& cwd,
                             int log_fd, const RunAs& run_as, milliseconds timeout,
                             const std::string& log_path) {
  auto pid = Spawn(argv, cwd, log_fd, run_as);
  if (!pid.ok()) return pid.status();
  auto status = WaitChild(*pid, timeout);
  if (!status) {
    ::kill(*pid, SIGKILL);
    WaitChild(*pid, milliseconds(10000));
    return absl::UnavailableError(absl::StrCat(argv[0], " did not finish within ",
                                               timeout.count(), " ms; ", LogTail(log_path)));
  }
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) return absl::OkStatus();
  std::string msg = absl::StrCat(argv[0], " failed (", DescribeStatus(*status), "); ",
                                 LogTail(log_path));
  if (WIFSIGNALED(*status)) return absl::UnavailableError(msg);
  return absl::FailedPreconditionError(msg);
}

// ---------------------------------------------------------------------------
// postmaster.pid (PG 15): 1 PID, 2 data dir, 3 start time, 4 port,
// 5 socket dir, 6 listen address, 7 shmem key, 8 status ("starting",
// "stopping", "ready", "standby").

struct LockFile {
  bool present = false;
  pid_t pid = 0;  // 0 when unparsable
  std::string status;
};

LockFile ReadLockFile(const std::string& path) {
  LockFile f;
  std::string text;
  if (!ReadFile(path, &text)) return f;
  f.present = true;
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  int pid = 0;
  if (!lines.empty() && absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[0]), &pid) && pid > 0) {
    f.pid = pid;
  }
  if (lines.size() >= 8) f.status = std::string(absl::StripAsciiWhitespace(lines[7]));
  return f;
}

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlink(path.c_str(), buf, PATH_MAX);
  if (n < 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  if (absl::EndsWith(s, " (deleted)")) s.resize(s.size() - 10);  // binary upgraded
  return s;
}

std::string Basename(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string RealPath(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (r == nullptr) return p;
  std::string s(r);
  std::free(r);
  return s;
}

// Whether `pid` is a live postmaster (or backend) serving `pgdata`: its
// program is postgres, and its working directory (a postmaster chdirs into its
// data directory) or its -D argument is `pgdata`. A PID reused by another
// program, or by another cluster's server, is not.
bool IsOurPostgres(pid_t pid, const std::string& pgdata) {
  if (ProcessGone(pid)) return false;
  const std::string proc = absl::StrCat("/proc/", pid);
  std::string cmdline;
  ReadFile(proc + "/cmdline", &cmdline);
  std::vector<std::string> args = absl::StrSplit(cmdline, '\0');
  std::string exe = Basename(Readlink(proc + "/exe"));
  if (exe.empty() && !args.empty()) exe = Basename(args[0]);
  if (exe != "postgres" && exe != "postmaster") return false;
  std::string cwd = Readlink(proc + "/cwd");
  if (!cwd.empty()) return cwd == pgdata;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-D" && RealPath(args[i + 1]) == pgdata) return true;
  }
  return false;
}

bool CanConnect(const std::string& dsn) {
  try {
    pqxx::connection c(dsn + " connect_timeout=5");
    pqxx::nontransaction tx(c);
    tx.exec("SELECT 1");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string QuoteConnValue(const std::string& v) {
  if (!v.empty() && v.find_first_of(" '\\\t\n") == std::string::npos) return v;
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

struct Layout {
  std::string dir, pgdata, run, log_dir, log, pid_file, socket, socket_lock;
  explicit Layout(const std::string& d)
      : dir(d),
        pgdata(d + "/pgdata"),
        run(d + "/run"),
        log_dir(d + "/log"),
        log(d + "/log/postgres.log"),
        pid_file(d + "/pgdata/postmaster.pid"),
        socket(absl::StrCat(d, "/run/.s.PGSQL.", kPort)),
        socket_lock(absl::StrCat(d, "/run/.s.PGSQL.", kPort, ".lock")) {}
};

absl::Status MkdirP(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(path + " exists and is not a directory");
    }
    return absl::OkStatus();
  }
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto s = MkdirP(path.substr(0, slash)); !s.ok()) return s;
  }
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", path, ": ", Errno(errno)));
  }
  ::chmod(path.c_str(), 0755);  // whatever the umask: the server must traverse it
  return absl::OkStatus();
}

// Creates `path` (mode `mode`) if missing and, when we are root, gives it to
// the run-as user. An existing directory keeps its mode unless `force_mode`.
absl::Status MakeOwnedDir(const std::string& path, mode_t mode, const RunAs& run_as,
                          bool force_mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create directory ", path, ": ", Errno(errno)));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(path + " is not a usable directory");
  }
  if (run_as.switch_user && (st.st_uid != run_as.uid || st.st_gid != run_as.gid) &&
      ::chown(path.c_str(), run_as.uid, run_as.gid) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chown ", path, " to '", run_as.name, "': ", Errno(errno)));
  }
  if (force_mode && (st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot chmod ", path, ": ", Errno(errno)));
  }
  return absl::OkStatus();
}

// Whether the run-as user can reach and use `dir` (every parent traversable):
// checked by a child that has become that user.
bool RunAsCanUse(const std::string& dir, const RunAs& run_as) {
  if (!run_as.switch_user) return ::access(dir.c_str(), R_OK | W_OK | X_OK) == 0;
  const char* path = dir.c_str();
  const uid_t uid = run_as.uid;
  const gid_t gid = run_as.gid;
  pid_t pid = ::fork();
  if (pid < 0) return true;  // cannot tell; the server start will say
  if (pid == 0) {
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(2);
    ::_exit(::access(path, R_OK | W_OK | X_OK) == 0 ? 0 : 1);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Removes what interrupted initdb runs of dead processes left behind.
void RemoveStaleInitdbDirs(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    absl::string_view name = e->d_name;
    if (!absl::ConsumePrefix(&name, kInitdbTmpPrefix)) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(name, &pid) || pid <= 0 || pid == ::getpid() || ProcessGone(pid)) {
      stale.push_back(dir + "/" + e->d_name);
    }
  }
  ::closedir(d);
  for (const auto& p : stale) RemoveTree(p);
}

bool HasSetting(const std::vector<std::string>& settings, const std::string& want) {
  for (const auto& s : settings) {
    std::string t = absl::AsciiStrToLower(s);
    t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
    if (t == want) return true;
  }
  return false;
}

// What holds the cluster's lock files.
enum class Holder {
  kNone,   // no lock files
  kStale,  // lock files of a dead process, a zombie, or another program
  kOurs,   // a live postmaster of this data directory
};

struct Inspection {
  Holder holder = Holder::kNone;
  pid_t pid = 0;
  std::string status;  // postmaster.pid's status line
};

Inspection Inspect(const Layout& l) {
  Inspection in;
  LockFile f = ReadLockFile(l.pid_file);
  if (f.present && f.pid == 0) {
    // Empty or torn: a postmaster may be writing it this very moment.
    std::this_thread::sleep_for(milliseconds(100));
    f = ReadLockFile(l.pid_file);
  }
  if (!f.present) f = ReadLockFile(l.socket_lock);
  if (!f.present) return in;
  in.pid = f.pid;
  in.status = f.status;
  if (f.pid == 0) {
    in.holder = Holder::kStale;
    return in;
  }
  // Orphaned postmasters of this process (see Start's timeout) that have
  // exited are reaped. Children owned by a live LocalCluster are left to it.
  ReapOrphans();
  in.holder = IsOurPostgres(f.pid, l.pgdata) ? Holder::kOurs : Holder::kStale;
  return in;
}

void RemoveStaleLocks(const Layout& l) {
  ::unlink(l.pid_file.c_str());
  ::unlink(l.socket_lock.c_str());
  ::unlink(l.socket.c_str());
}

}  // namespace

LocalCluster::LocalCluster(LocalClusterOptions options) : options_(std::move(options)) {}

LocalCluster::~LocalCluster() {
  if (postmaster_pid_ != 0 && !adopted_) Stop().IgnoreError();
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(LocalClusterOptions options) {
  try {
    if (options.directory.empty()) {
      return absl::InvalidArgumentError("LocalClusterOptions.directory is empty");
    }
    for (const char* bin : {"initdb", "postgres"}) {
      std::string path = options.bin_dir + "/" + bin;
      if (::access(path.c_str(), X_OK) != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "PostgreSQL binary ", path, " is missing (", Errno(errno),
            "); install Debian's postgresql-15 or set bin_dir"));
      }
    }
    auto run_as = ResolveRunAs(options.run_as_user);
    if (!run_as.ok()) return run_as.status();

    std::string dir = options.directory;
    if (dir[0] != '/') {
      char cwd[PATH_MAX];
      if (::getcwd(cwd, sizeof cwd) == nullptr) {
        return absl::InternalError("getcwd: " + Errno(errno));
      }
      dir = absl::StrCat(cwd, "/", dir);
    }
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (size_t slash = dir.rfind('/'); slash > 0) {
      if (auto s = MkdirP(dir.substr(0, slash)); !s.ok()) return s;
    }
    if (auto s = MakeOwnedDir(dir, 0700, *run_as, false); !s.ok()) return s;
    dir = RealPath(dir);
    options.directory = dir;
    const Layout l(dir);

    struct sockaddr_un addr;
    if (l.socket.size() >= sizeof(addr.sun_path)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the PostgreSQL socket path ", l.socket, " is ", l.socket.size(),
          " bytes, more than a Unix socket allows (", sizeof(addr.sun_path) - 1,
          "); choose a shorter data directory than ", dir));
    }
    if (!RunAsCanUse(dir, *run_as)) {
      if (run_as->switch_user) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the local PostgreSQL runs as user '", run_as->name, "', which cannot reach ", dir,
            "; choose a data directory it can reach"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot use ", dir, " for the local PostgreSQL: ", Errno(errno)));
    }
    if (auto s = MakeOwnedDir(l.run, 0700, *run_as, true); !s.ok()) return s;
    if (auto s = MakeOwnedDir(l.log_dir, 0700, *run_as, false); !s.ok()) return s;
    if (Exists(l.pgdata)) {
      if (auto s = MakeOwnedDir(l.pgdata, 0700, *run_as, false); !s.ok()) return s;
    }

    struct stat log_st;
    if (::stat(l.log.c_str(), &log_st) == 0 && log_st.st_size > kLogRotateBytes) {
      ::rename(l.log.c_str(), (l.log + ".1").c_str());
    }
    int log_fd = ::open(l.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", l.log, ": ", Errno(errno)));
    }
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{log_fd};
    if (run_as->switch_user) {
      if (::fchown(log_fd, run_as->uid, run_as->gid) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat("cannot chown ", l.log, ": ", Errno(errno)));
      }
    }

    // First start: initdb into a private directory, then rename it into
    // place, so that pgdata/PG_VERSION means "a complete cluster" even when
    // an initdb was interrupted, and concurrent first starts do not collide.
    if (!Exists(l.pgdata + "/PG_VERSION")) {
      if (Exists(l.pgdata)) {
        return absl::FailedPreconditionError(absl::StrCat(
            l.pgdata, " exists but holds no PostgreSQL cluster (no PG_VERSION); move it away"));
      }
      RemoveStaleInitdbDirs(dir);
      std::string tmp = absl::StrCat(dir, "/", kInitdbTmpPrefix, ::getpid());
      std::vector<std::string> argv = {options.bin_dir + "/initdb", "-D", tmp,
                                       "-U", options.superuser, "--auth=trust",
                                       "-E", "UTF8", "--locale=C",
                                       "--no-instructions"};
      // A cluster that will not fsync need not be synced by initdb either.
      if (HasSetting(options.settings, "fsync=off")) argv.push_back("--no-sync");
      if (auto s = RunToCompletion(argv, dir, log_fd, *run_as, kInitdbTimeout, l.log); !s.ok()) {
        RemoveTree(tmp);
        return s;
      }
      if (::rename(tmp.c_str(), l.pgdata.c_str()) != 0) {
        int e = errno;
        RemoveTree(tmp);
        if (!Exists(l.pgdata + "/PG_VERSION")) {  // else another process won the race
          return absl::InternalError(
              absl::StrCat("cannot rename ", tmp, " to ", l.pgdata, ": ", Errno(e)));
        }
      }
    }

    std::unique_ptr<LocalCluster> cluster(new LocalCluster(options));
    const auto deadline = Clock::now() + options.start_timeout;
    const std::string probe_dsn = cluster->Dsn("postgres");
    std::string waited_for;  // why we waited, for the timeout message
    int failed_starts = 0;
    for (;;) {
      Inspection in = Inspect(l);
      if (in.holder == Holder::kOurs) {
        if (in.status == "ready" && CanConnect(probe_dsn)) {
          std::optional<bool> owned = ChildOwned(in.pid);
          if (owned.has_value() && !*owned) {
            // Our own process's orphan (an earlier start that timed out).
            RegisterChild(in.pid, true);
            cluster->adopted_ = false;
          } else {
            cluster->adopted_ = true;
          }
          cluster->postmaster_pid_ = in.pid;
          return cluster;
        }
        // Starting (recovery), stopping, or serving elsewhere: wait.
        waited_for = absl::StrCat("a postmaster (PID ", in.pid, ") of ", l.pgdata, " is '",
                                  in.status.empty() ? "starting" : in.status,
                                  "' and does not accept connections at ", l.run);
        if (Clock::now() >= deadline) {
          return absl::UnavailableError(absl::StrCat(
              waited_for, " after ", options.start_timeout.count(), " ms; ", LogTail(l.log)));
        }
        std::this_thread::sleep_for(milliseconds(20));
        continue;
      }
      if (in.holder == Holder::kStale) RemoveStaleLocks(l);

      std::vector<std::string> argv = {
          options.bin_dir + "/postgres", "-D", l.pgdata, "-k", l.run,
          "-c", "listen_addresses=", "-c", "unix_socket_permissions=0700",
          "-p", std::to_string(kPort)};
      for (const auto& s : options.settings) {
        argv.push_back("-c");
        argv.push_back(s);
      }
      auto pid = Spawn(argv, dir, log_fd, *run_as);
      if (!pid.ok()) return pid.status();
      RegisterChild(*pid, true);

      for (;;) {
        int status = 0;
        pid_t r = ::waitpid(*pid, &status, WNOHANG);
        if (r == *pid) {
          UnregisterChild(*pid);
          // Lost a race with another process starting this cluster? Then
          // the next inspection finds (and waits for or adopts) its server.
          Inspection again = Inspect(l);
          if (again.holder == Holder::kOurs && ++failed_starts < 3) break;
          return absl::UnavailableError(absl::StrCat(
              "PostgreSQL exited during startup (", DescribeStatus(status), "); ",
              LogTail(l.log)));
        }
        LockFile f = ReadLockFile(l.pid_file);
        if (f.pid == *pid && f.status == "ready" && CanConnect(probe_dsn)) {
          cluster->postmaster_pid_ = *pid;
          cluster->adopted_ = false;
          return cluster;
        }
        if (Clock::now() >= deadline) {
          // Left to finish (a long WAL replay must not be killed and
          // restarted by every retry); a retry from this process takes it
          // over, and PR_SET_PDEATHSIG still ends it with us.
          RegisterChild(*pid, false);
          return absl::UnavailableError(absl::StrCat(
              "PostgreSQL (PID ", *pid, ") did not accept connections within ",
              options.start_timeout.count(), " ms; it is left to finish starting, and Start() "
              "again waits for it; ", LogTail(l.log)));
        }
        std::this_thread::sleep_for(milliseconds(10));
      }
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("LocalCluster::Start: ", e.what()));
  }
}

std::string LocalCluster::Dsn(const std::string& database) const {
  return absl::StrCat("host=", QuoteConnValue(options_.directory + "/run"), " port=", port_,
                      " user=", QuoteConnValue(options_.superuser),
                      " dbname=", QuoteConnValue(database));
}

absl::Status LocalCluster::EnsureDatabase(const std::string& database) const {
  if (database.empty() || database.size() > 63 ||
      database.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid database name '", database, "': 1 to 63 bytes, no NUL"));
  }
  if (postmaster_pid_ == 0) return absl::FailedPreconditionError("the cluster is stopped");
  // CREATE DATABASE fails with object_in_use while another session uses the
  // template database; retry that a few times.
  for (int attempt = 0;; ++attempt) {
    try {
      pqxx::connection c(Dsn("postgres"));
      pqxx::nontransaction tx(c);
      if (!tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", database).empty()) {
        return absl::OkStatus();
      }
      tx.exec("CREATE DATABASE " + c.quote_name(database));
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      const std::string& state = e.sqlstate();
      // Created concurrently by someone else: that is what we want.
      if (state == "42P04" /* duplicate_database */ || state == "23505" /* unique_violation */) {
        return absl::OkStatus();
      }
      if (state == "55006" /* object_in_use */ && attempt < 50) {
        std::this_thread::sleep_for(milliseconds(20));
        continue;
      }
      return absl::InternalError(
          absl::StrCat("CREATE DATABASE ", database, " failed (", state, "): ", e.what()));
    } catch (const pqxx::broken_connection& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to the local PostgreSQL: ", e.what()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("EnsureDatabase ", database, ": ", e.what()));
    }
  }
}

namespace {

// Signals our postmaster and waits for it; escalates to SIGQUIT, then
// SIGKILL, when it does not exit in time.
absl::Status Shutdown(pid_t pid, int signal, milliseconds timeout) {
  // Already reaped: the PID may belong to someone else by now.
  if (!ChildOwned(pid).has_value()) return absl::OkStatus();
  ::kill(pid, signal);
  if (WaitChild(pid, timeout)) return absl::OkStatus();
  std::string what = absl::StrCat("PostgreSQL (PID ", pid, ") did not stop within ",
                                  timeout.count(), " ms of signal ", signal);
  if (signal != SIGQUIT) {
    ::kill(pid, SIGQUIT);
    if (WaitChild(pid, milliseconds(5000))) {
      return absl::UnavailableError(what + "; stopped it with SIGQUIT (immediate)");
    }
  }
  ::kill(pid, SIGKILL);
  WaitChild(pid, milliseconds(10000));
  return absl::UnavailableError(what + "; killed it");
}

}  // namespace

absl::Status LocalCluster::Stop() {
  if (postmaster_pid_ == 0) return absl::OkStatus();
  if (adopted_) {  // not ours to stop
    postmaster_pid_ = 0;
    return absl::OkStatus();
  }
  absl::Status s = Shutdown(postmaster_pid_, SIGINT, kStopTimeout);
  postmaster_pid_ = 0;
  return s;
}

absl::Status LocalCluster::StopImmediately() {
  if (postmaster_pid_ == 0) return absl::OkStatus();
  if (adopted_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL (PID ", postmaster_pid_, ") was adopted, not started by us; not stopping it"));
  }
  absl::Status s = Shutdown(postmaster_pid_, SIGQUIT, milliseconds(10000));
  postmaster_pid_ = 0;
  return s;
}

}  // namespace mixsweep::db
