// A real mixsweepd for end-to-end tests: started as a separate process on a
// free port, with its log in the test's temp dir, and the real CLI to drive
// it. Before the first start it makes the database's first admin token with
// `mixsweepd token bootstrap`; the CLI and Channel() use that token.
//
// Example:
//   Daemon d = Daemon::Start({.database = CreateTestDatabase()});
//   CommandResult r = d.Cli({"sweep", "list"});
//   auto stub = v1::SweepService::NewStub(d.Channel());
//   std::string viewer = d.CreateToken("bob", "viewer");  // a token file
//   d.Kill(SIGKILL);
//   d.Restart();
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "tests/support/process.h"

namespace mixsweep::testing {

struct DaemonOptions {
  std::string database;  // DSN; empty: mixsweepd's own local cluster in data_dir
  std::string data_dir;  // for the local cluster; default: a fresh temp dir
  std::vector<std::string> extra_args;
  // The admin token to use; empty: bootstrap one (the database must have
  // none yet).
  std::string token_file;
  // Serve the web dashboard (on a free port; `dashboard_open`: without
  // asking for a token) and /metrics (on a free port).
  bool dashboard = false;
  bool dashboard_open = false;
  bool metrics = false;
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
  // With options.dashboard / options.metrics: where they serve (127.0.0.1).
  int dashboard_port() const { return dashboard_port_; }
  int metrics_port() const { return metrics_port_; }
  // The admin token's file (mode 0600).
  const std::string& token_file() const { return options_.token_file; }
  // A channel to this daemon carrying `token_file` (default: the admin's).
  std::shared_ptr<grpc::Channel> Channel(const std::string& token_file = "") const;
  // A new token of `role` for `principal`, made through the CLI; its file.
  std::string CreateToken(const std::string& principal, const std::string& role) const;
  const std::string& log_path() const { return log_path_; }
  const DaemonOptions& options() const { return options_; }
  // The last lines of the daemon's log, for failure messages.
  std::string LogTail() const;

 private:
  void Bootstrap();
  void Launch();

  DaemonOptions options_;
  std::string dir_;
  std::string log_path_;
  Process process_;
  int port_ = 0;
  int dashboard_port_ = 0;
  int metrics_port_ = 0;
  int launches_ = 0;
};

}  // namespace mixsweep::testing
