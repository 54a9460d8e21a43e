// Real mixsweep-worker agents for end-to-end tests, and the small helpers
// the dispatch tests share: each worker is a separate process with its log
// in the test's temp dir; queries go straight to the test's PostgreSQL.
//
// Header-only: it needs MIXSWEEP_WORKER_BIN, which only the e2e target
// defines.
//
// Example:
//   Daemon d = Daemon::Start({.database = dsn, .extra_args = {...}});
//   WorkerProcess w = WorkerProcess::Start(d, "w1", {"--synthetic"});
//   WaitUntil([&] { return QueryInt(dsn, "SELECT count(*) FROM jobs") == 21; }, 120s);
//   w.Kill(SIGKILL);
#pragma once

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "tests/support/daemon.h"
#include "tests/support/pg_harness.h"
#include "tests/support/process.h"

#ifndef MIXSWEEP_WORKER_BIN
#error "MIXSWEEP_WORKER_BIN must name the mixsweep-worker binary"
#endif

namespace mixsweep::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}


// A mixsweep-worker process. Killed (SIGKILL) when destroyed.
class WorkerProcess {
 public:
  // Connects to `daemon` with `token_file` (default: the daemon's admin
  // token; tests of worker roles pass a worker token).
  // `daemon`: a Daemon, or anything with address() and token_file().
  template <typename DaemonLike>
  static WorkerProcess Start(const DaemonLike& daemon, const std::string& name,
                             const std::vector<std::string>& args,
                             const std::string& token_file = "") {
    WorkerProcess w;
    w.name_ = name;
    w.log_path_ = MakeTempDir("worker-" + name) + "/worker.log";
    std::vector<std::string> argv = {
        MIXSWEEP_WORKER_BIN, "--server",     daemon.address(),
        "--name",            name,           "--token-file",
        token_file.empty() ? daemon.token_file() : token_file};
    // A short long poll, unless the test sets its own (a flag given twice is
    // refused).
    if (std::find(args.begin(), args.end(), "--lease-wait-seconds") == args.end()) {
      argv.insert(argv.end(), {"--lease-wait-seconds", "2"});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    w.process_ = Process::Start(argv, w.log_path_);
    return w;
  }

  void Kill(int signal) { process_.Kill(signal); }
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    return process_.Wait(timeout);
  }
  bool running() { return process_.running(); }
  pid_t pid() const { return process_.pid(); }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const { return ReadFile(log_path_); }
  std::string LogTail(size_t lines = 40) const { return FileTail(log_path_, lines); }

 private:
  std::string name_;
  std::string log_path_;
  Process process_;
};

// Polls `condition` every `poll` until it holds or `timeout` passes. The
// timeout only keeps a broken build from hanging: tests assert outcomes,
// never how long they took.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds timeout = std::chrono::seconds(120),
                      std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

// One integer from a query; -1 if the database cannot be reached (a
// restarting server's local cluster).
inline int64_t QueryInt(const std::string& dsn, const std::string& query) {
  try {
    pqxx::connection conn(dsn);
    pqxx::nontransaction tx(conn);
    const pqxx::row row = tx.exec1(query);
    return row[0].is_null() ? 0 : row[0].as<int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

inline pqxx::result Query(const std::string& dsn, const std::string& query) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec(query);
}

// Jobs whose failure record is a lease that expired, and how many of those
// leases their worker never received (its log has no "leased job ID (token
// T," line): leases lost on the way rather than workers that died.
struct ExpiredLeases {
  int recorded = 0;
  int never_received = 0;
};
inline ExpiredLeases CountExpiredLeases(const std::string& dsn,
                                        const std::vector<WorkerProcess>& workers) {
  std::string logs;
  for (const WorkerProcess& w : workers) logs += w.Log();
  ExpiredLeases out;
  for (const auto& row : Query(dsn,
                               "SELECT id, failure->>'fencing_token' FROM jobs "
                               "WHERE failure->>'kind' = 'lease_expired'")) {
    ++out.recorded;
    const std::string line = "leased job " + row[0].as<std::string>() + " (token " +
                             row[1].as<std::string>() + ",";
    if (logs.find(line) == std::string::npos) ++out.never_received;
  }
  return out;
}

}  // namespace mixsweep::testing
