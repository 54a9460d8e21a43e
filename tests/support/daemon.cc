#include "tests/support/daemon.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "services/channel/channel.h"
#include "tests/support/pg_harness.h"

namespace mixsweep::testing {

Daemon Daemon::Start(DaemonOptions options) {
  Daemon daemon;
  daemon.options_ = std::move(options);
  daemon.dir_ = MakeTempDir("mixsweepd");
  if (daemon.options_.data_dir.empty() && daemon.options_.database.empty()) {
    daemon.options_.data_dir = daemon.dir_ + "/data";
  }
  daemon.log_path_ = daemon.dir_ + "/mixsweepd.log";
  if (daemon.options_.token_file.empty()) daemon.Bootstrap();
  daemon.Launch();
  return daemon;
}

void Daemon::Bootstrap() {
  options_.token_file = dir_ + "/admin.token";
  std::vector<std::string> argv = {MIXSWEEPD_BIN};
  if (!options_.database.empty()) {
    argv.insert(argv.end(), {"--database", options_.database});
  } else {
    argv.insert(argv.end(), {"--data-dir", options_.data_dir});
  }
  argv.insert(argv.end(), {"token", "bootstrap", "--token-file", options_.token_file});
  CommandResult result = RunCommand(argv, "", std::chrono::seconds(120));
  if (result.exit_code != 0) {
    ADD_FAILURE() << "mixsweepd token bootstrap failed (" << result.exit_code << "):\n"
                  << result.out << result.err;
  }
}

std::shared_ptr<grpc::Channel> Daemon::Channel(const std::string& token_file) const {
  client::ConnectionFlags flags;
  flags.server = address();
  flags.token_file = token_file.empty() ? options_.token_file : token_file;
  auto channel = client::MakeChannel(flags);
  if (!channel.ok()) {
    ADD_FAILURE() << channel.status();
    return nullptr;
  }
  return *channel;
}

std::string Daemon::CreateToken(const std::string& principal, const std::string& role) const {
  const std::string path = MakeTempDir("token") + "/" + principal + "." + role + ".token";
  CommandResult result =
      Cli({"token", "create", "--principal", principal, "--role", role, "--out", path});
  if (result.exit_code != 0) {
    ADD_FAILURE() << "token create " << principal << " " << role << ": " << result.err;
  }
  return path;
}

void Daemon::Restart() {
  process_.Wait(std::chrono::seconds(30));
  Launch();
}

void Daemon::Launch() {
  const std::string port_file = dir_ + "/port." + std::to_string(++launches_);
  std::vector<std::string> argv = {MIXSWEEPD_BIN, "--listen", "127.0.0.1:0",
                                   "--port-file", port_file, "--log-level", "debug"};
  if (!options_.database.empty()) {
    argv.insert(argv.end(), {"--database", options_.database});
  } else {
    argv.insert(argv.end(), {"--data-dir", options_.data_dir});
  }
  const std::string suffix = "." + std::to_string(launches_);
  if (options_.dashboard) {
    argv.insert(argv.end(), {"--dashboard-listen", "127.0.0.1:0", "--dashboard-port-file",
                             dir_ + "/dashboard_port" + suffix});
    if (options_.dashboard_open) argv.push_back("--dashboard-open");
  }
  if (options_.metrics) {
    argv.insert(argv.end(), {"--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
                             dir_ + "/metrics_port" + suffix});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  process_ = Process::Start(argv, log_path_);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> port_ && port_ > 0) {
      // mixsweepd writes the gRPC port file last.
      if (options_.dashboard) std::ifstream(dir_ + "/dashboard_port" + suffix) >> dashboard_port_;
      if (options_.metrics) std::ifstream(dir_ + "/metrics_port" + suffix) >> metrics_port_;
      return;
    }
    if (!process_.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "mixsweepd did not come up; log:\n" << LogTail();
}

CommandResult Daemon::Cli(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env) const {
  std::vector<std::string> argv = {MIXSWEEP_CLI_BIN, "--server", address()};
  argv.insert(argv.end(), args.begin(), args.end());
  // A test may override the token (or drop it: MIXSWEEP_TOKEN_FILE="").
  std::map<std::string, std::string> full_env = {{"MIXSWEEP_USER", "e2e-tester"},
                                                 {"MIXSWEEP_TOKEN_FILE", options_.token_file}};
  for (const auto& [k, v] : env) full_env[k] = v;
  return RunCommand(argv, "", std::chrono::seconds(60), full_env);
}

std::string Daemon::LogTail() const {
  std::ifstream in(log_path_);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::ostringstream out;
  for (size_t i = lines.size() > 40 ? lines.size() - 40 : 0; i < lines.size(); ++i) {
    out << lines[i] << "\n";
  }
  return out.str();
}

}  // namespace mixsweep::testing
