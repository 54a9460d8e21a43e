// A real mixsweepd for end-to-end tests: started as a separate process on a
// free port, with its log in the test's temp dir, and the real CLI to drive
// it.
//
// Example:
//   Daemon d = Daemon::Start({.database = CreateTestDatabase()});
//   CommandResult r = d.Cli({"sweep", "list"});
//   d.Kill(SIGKILL);
//   d.Restart();
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace mixsweep::testing {

struct DaemonOptions {
  std::string database;  // DSN; empty: mixsweepd's own local cluster in data_dir
  std::string data_dir;  // for the local cluster; default: a fresh temp dir
  std::vector<std::string> extra_args;
};

class Daemon {
 public:
  // Starts mixsweepd and waits until it serves (its port file appears).
  // Fails the current test (ADD_FAILURE) if it does not come up.
  static Daemon Start(DaemonOptions options);

  void Kill(int signal) { process_.Kill(signal); }
  int Wait() { return process_.Wait(); }
  // Starts it again with the same options (a new port).
  void Restart();

  // Runs the real CLI against this daemon.
  CommandResult Cli(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) const;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log_path() const { return log_path_; }
  const DaemonOptions& options() const { return options_; }
  // The last lines of the daemon's log, for failure messages.
  std::string LogTail() const;

 private:
  void Launch();

  DaemonOptions options_;
  std::string dir_;
  std::string log_path_;
  Process process_;
  int port_ = 0;
  int launches_ = 0;
};

}  // namespace mixsweep::testing
