// A PostgreSQL 15 cluster that mixsweep runs itself, in a directory it owns.
//
// mixsweepd uses it when no DSN is configured, so a newcomer needs nothing but
// Debian's postgresql-15 package; the test harness uses it for one cluster per
// test binary. It listens on a Unix socket only (no TCP port to collide on),
// in `<dir>/run`, mode 0700.
//
// Life of the cluster:
//  - Start() runs initdb the first time (Debian's binaries in
//    /usr/lib/postgresql/15/bin), then starts `postgres` as a child process.
//    PostgreSQL refuses to run as root: when we are root, the cluster runs as
//    an unprivileged user (default "postgres") that owns the directory.
//  - The child gets PR_SET_PDEATHSIG(SIGINT): if the parent dies, even by
//    SIGKILL, PostgreSQL makes a fast, clean shutdown instead of lingering.
//  - A restart finds the cluster as it was left: a postmaster of this
//    directory still shutting down is waited for; one still serving (started
//    by someone else) is adopted as is; a stale postmaster.pid or socket lock
//    whose process is gone, or whose PID now belongs to another program, is
//    removed. PostgreSQL's WAL replay does the rest: every committed write is
//    there.
//  - Stop() (and the destructor) shut the child down with SIGINT (fast).
//
// Threads: Linux sends PR_SET_PDEATHSIG when the *thread* that forked the
// server exits, not the process. Call Start() from a thread that lives as long
// as the cluster should (main), never from a short-lived worker thread, or the
// server shuts down when that thread ends.
//
// options().directory is the absolute, canonical path of the directory. When
// Start() times out on a server that is still starting (a long WAL replay), it
// leaves that server running: calling Start() again waits for it and takes it
// over instead of restarting the replay.
//
// Example:
//   db::LocalClusterOptions options;
//   options.directory = "/var/lib/mixsweep";
//   auto cluster = db::LocalCluster::Start(std::move(options));
//   if (!cluster.ok()) return cluster.status();
//   pqxx::connection c((*cluster)->Dsn("mixsweep"));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mixsweep::db {

struct LocalClusterOptions {
  // Owned by the cluster: pgdata/ (the cluster), run/ (socket), log/.
  std::string directory;
  // OS user the server runs as when we are root; ignored otherwise.
  std::string run_as_user = "postgres";
  // Directory of initdb/postgres/pg_ctl.
  std::string bin_dir = "/usr/lib/postgresql/15/bin";
  // Database superuser created by initdb.
  std::string superuser = "mixsweep";
  // How long Start() waits for the server to accept connections.
  std::chrono::milliseconds start_timeout{30000};
  // Extra `-c name=value` settings (tests turn fsync off, for speed only in
  // test clusters; never the default).
  std::vector<std::string> settings;
};

class LocalCluster {
 public:
  // Ready to accept connections when it returns OK. Errors:
  //  FAILED_PRECONDITION: the directory is unusable (not reachable by the
  //    server's user, socket path too long, binaries missing) — do not retry;
  //  UNAVAILABLE: the server did not come up in time (its log tail is in the
  //    message) — retry may help.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      LocalClusterOptions options);

  ~LocalCluster();
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // libpq connection string for `database` over the Unix socket.
  std::string Dsn(const std::string& database) const;

  // Creates `database` if it does not exist. Safe to call concurrently.
  absl::Status EnsureDatabase(const std::string& database) const;

  // Fast shutdown (SIGINT) of a server we started, waiting for it to exit.
  // An adopted server is left running.
  absl::Status Stop();

  // Immediate shutdown (SIGQUIT, like `pg_ctl -m immediate`): the next start
  // replays WAL. For crash tests.
  absl::Status StopImmediately();

  // PID of the postmaster (ours or adopted); 0 when stopped.
  pid_t postmaster_pid() const { return postmaster_pid_; }
  bool adopted() const { return adopted_; }
  const LocalClusterOptions& options() const { return options_; }

 private:
  explicit LocalCluster(LocalClusterOptions options);

  LocalClusterOptions options_;
  pid_t postmaster_pid_ = 0;
  bool adopted_ = false;
  int port_ = 5432;  // only names the socket file: .s.PGSQL.<port>
};

}  // namespace mixsweep::db
