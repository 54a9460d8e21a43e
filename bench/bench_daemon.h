// A real mixsweepd for the load drivers (dispatch_bench, estimate_bench):
// started as a child process listening on 127.0.0.1 only (an ephemeral port,
// read back from its --port-file), with its own local PostgreSQL in a temp
// dir unless a database is given, stopped with SIGTERM and cleaned up when
// the Daemon goes away.
//
//   mixsweep::bench::DaemonOptions options{.mixsweepd = MIXSWEEPD_BIN,
//                                          .daemon_args = {"--estimate-resamples", "2000"}};
//   std::string error;
//   auto daemon = mixsweep::bench::Daemon::Start(options, &error);
//   if (!daemon) { fprintf(stderr, "%s\n", error.c_str()); return 1; }
//   auto channel = daemon->Channel();   // carries the bootstrapped admin token
//   pid_t postmaster; std::string dsn;
//   if (daemon->LocalPostgres(&postmaster, &dsn)) { pqxx::connection conn(dsn); ... }
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

namespace mixsweep::bench {

struct DaemonOptions {
  std::string mixsweepd;  // path of the binary
  std::string database;   // libpq DSN; empty: mixsweepd's own local cluster in the temp dir
  int db_pool_size = 0;   // 0: mixsweepd's default
  std::string log_level = "info";
  bool keep = false;  // leave the temp dir (log, data dir) behind
  std::vector<std::string> daemon_args;  // appended to mixsweepd's command line
  std::string temp_prefix = "mixsweep_bench";  // the temp dir is /tmp/<prefix>.XXXXXX
};

class Daemon {
 public:
  // Starts mixsweepd listening on 127.0.0.1 only and waits (at most 120 s)
  // for its port file. nullptr with `error` set (the log's tail included)
  // if it could not start; the temp dir is then kept.
  static std::unique_ptr<Daemon> Start(const DaemonOptions& options, std::string* error);

  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // SIGTERM, then SIGKILL after 30 s. Returns the exit status (-1 if killed).
  int Stop();

  // The local cluster's postmaster pid and a DSN for it, from its
  // postmaster.pid (pid, data dir, start, port, socket dir). False with a
  // --database, or before the cluster is up.
  bool LocalPostgres(pid_t* postmaster, std::string* dsn) const;

  // The last 20 lines of mixsweepd's stdout and stderr.
  std::string LogTail() const;

  pid_t pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  const std::string& log_path() const { return log_; }
  // The admin token `mixsweepd token bootstrap` made before the start.
  const std::string& token_file() const { return token_file_; }
  // A channel to the daemon carrying that token.
  std::shared_ptr<grpc::Channel> Channel() const;

 private:
  Daemon() = default;
  std::string dir_, data_dir_, log_, token_file_;
  pid_t pid_ = 0;
  int port_ = 0;
  int exit_code_ = 0;
  bool keep_ = false;
};

}  // namespace mixsweep::bench
