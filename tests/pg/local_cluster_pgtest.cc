// db::LocalCluster against the real PostgreSQL 15: first start, restart,
// crashes of the owner and of the server, stale and foreign lock files,
// adoption, and unusable directories. Tests 2-7 share one durable cluster
// directory (default settings, fsync on; one initdb) and start and stop it
// themselves; the harness's cluster (fsync off) serves the rest.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/local_cluster.h"
#include "tests/support/pg_harness.h"
#include "tests/support/process.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Query1(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::nontransaction tx(c);
  pqxx::row r = tx.exec1(sql);
  return r[0].is_null() ? "<null>" : r[0].c_str();
}

void Exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  tx.exec(sql);
  tx.commit();
}

bool CanConnect(const std::string& dsn) {
  try {
    return Query1(dsn, "SELECT 1") == "1";
  } catch (const std::exception&) {
    return false;
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Gone, or a zombie nobody reaps (the postmaster of a killed owner is
// reparented to PID 1, which need not reap in a container).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() &&
                          (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X'));
}

// Default (durable) settings: these clusters test crash safety.
db::LocalClusterOptions Options(const std::string& dir) {
  db::LocalClusterOptions o;
  o.directory = dir;
  return o;
}

template <typename Pred>
bool WaitFor(Pred pred, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// Line 8 of postmaster.pid: "starting", "ready", "stopping"...
std::string PidFileStatus(const std::string& pgdata) {
  std::istringstream in(ReadFile(pgdata + "/postmaster.pid"));
  std::string line;
  for (int i = 0; i < 8 && std::getline(in, line); ++i) {
  }
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

// A postmaster.pid (and socket lock) as PostgreSQL 15 writes them, naming
// `pid`.
void WriteFakeLockFiles(const std::string& dir, pid_t pid) {
  std::ofstream(dir + "/pgdata/postmaster.pid")
      << pid << "\n" << dir << "/pgdata\n1700000000\n5432\n" << dir << "/run\n\n"
      << "  5432001     32768\nready   \n";
  std::ofstream(dir + "/run/.s.PGSQL.5432.lock")
      << pid << "\n" << dir << "/pgdata\n1700000000\n5432\n" << dir << "/run\n";
}

// ---------------------------------------------------------------------------
// The harness's cluster.

TEST(PgHarness, TestDatabasesAreSeparate) {
  std::string a = testing::CreateTestDatabase();
  std::string b = testing::CreateTestDatabase();
  ASSERT_NE(a, b);
  Exec(a, "CREATE TABLE only_in_a (id int); INSERT INTO only_in_a VALUES (7)");
  EXPECT_EQ(Query1(a, "SELECT id FROM only_in_a"), "7");
  EXPECT_EQ(Query1(b, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"), "0");
  EXPECT_NE(Query1(a, "SELECT current_database()"), Query1(b, "SELECT current_database()"));
  // The harness's test-only speed settings are in effect.
  EXPECT_EQ(Query1(a, "SHOW fsync"), "off");
}

TEST(PgHarness, ConcurrentEnsureDatabaseCreatesItOnce) {
  db::LocalCluster& cluster = testing::TestCluster();
  for (int round = 0; round < 5; ++round) {
    const std::string name = "concurrent_" + std::to_string(round);
    std::latch go(4);
    absl::Status results[4];
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        go.arrive_and_wait();
        results[t] = cluster.EnsureDatabase(name);
      });
    }
    for (auto& th : threads) th.join();
    for (const auto& r : results) EXPECT_TRUE(r.ok()) << r;
    EXPECT_EQ(Query1(cluster.Dsn("postgres"),
                     "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'"),
              "1");
    EXPECT_TRUE(CanConnect(cluster.Dsn(name)));
  }
}

TEST(PgHarness, EnsureDatabaseQuotesAndValidatesNames) {
  db::LocalCluster& cluster = testing::TestCluster();
  const std::string odd = "Odd \"Name\"; DROP";
  ASSERT_TRUE(cluster.EnsureDatabase(odd).ok());
  EXPECT_EQ(Query1(cluster.Dsn(odd), "SELECT current_database()"), odd);
  EXPECT_EQ(cluster.EnsureDatabase("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cluster.EnsureDatabase(std::string(64, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// A durable cluster of our own, shared by the life-cycle tests.

class LocalClusterLifecycle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir("lc"));
    auto c = db::LocalCluster::Start(Options(*dir_));
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE((*c)->Stop().ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(dir_, nullptr); }

  static absl::StatusOr<std::unique_ptr<db::LocalCluster>> StartIt() {
    return db::LocalCluster::Start(Options(*dir_));
  }
  static std::string Dir() { return *dir_; }
  static std::string PgData() { return *dir_ + "/pgdata"; }

  static std::string* dir_;
};
std::string* LocalClusterLifecycle::dir_ = nullptr;

TEST_F(LocalClusterLifecycle, RestartKeepsCommittedRowsWithoutNewInitdb) {
  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->adopted());
  EXPECT_GT((*c)->postmaster_pid(), 0);
  EXPECT_EQ(Query1((*c)->Dsn("postgres"), "SHOW fsync"), "on");  // defaults
  // Tables in "postgres": every extra database of this cluster costs the
  // crash tests' recovery an fsync of its ~300 files.
  const std::string dsn = (*c)->Dsn("postgres");
  Exec(dsn, "CREATE TABLE restart_t (v text); INSERT INTO restart_t VALUES ('survives')");
  const std::string sysid =
      Query1(dsn, "SELECT system_identifier::text FROM pg_control_system()");
  const pid_t first = (*c)->postmaster_pid();
  ASSERT_TRUE((*c)->Stop().ok());
  EXPECT_EQ((*c)->postmaster_pid(), 0);
  EXPECT_TRUE(ProcessGone(first));
  EXPECT_FALSE(Exists(PgData() + "/postmaster.pid"));
  EXPECT_FALSE(CanConnect(dsn));

  auto again = StartIt();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE((*again)->adopted());
  EXPECT_EQ(Query1(dsn, "SELECT v FROM restart_t"), "survives");
  // The same cluster, not a fresh initdb.
  EXPECT_EQ(Query1(dsn, "SELECT system_identifier::text FROM pg_control_system()"), sysid);
  ASSERT_TRUE((*again)->Stop().ok());
  // Stop is idempotent.
  EXPECT_TRUE((*again)->Stop().ok());
}

TEST_F(LocalClusterLifecycle, KilledOwnerTakesServerDownAndRestartFindsRows) {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  const std::string out = Dir() + "/owner.out";
  auto owner = testing::Process::Start({self, "--cluster-owner=" + Dir()}, out);
  ASSERT_GT(owner.pid(), 0);
  pid_t postmaster = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::istringstream in(ReadFile(out));
        std::string word;
        while (in >> word) {
          if (word == "ready" && in >> postmaster) return true;
        }
        return !owner.running();
      },
      seconds(60)));
  ASSERT_GT(postmaster, 0) << "owner output:\n" << ReadFile(out);
  ASSERT_FALSE(ProcessGone(postmaster));

  owner.Kill(SIGKILL);
  int status = owner.Wait(seconds(10));
  ASSERT_NE(status, -1);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  // PR_SET_PDEATHSIG(SIGINT): a fast, clean shutdown on its own, which
  // removes postmaster.pid.
  EXPECT_TRUE(WaitFor([&] { return ProcessGone(postmaster); }, seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return !Exists(PgData() + "/postmaster.pid"); }, seconds(5)));

  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->adopted());
  EXPECT_NE((*c)->postmaster_pid(), postmaster);
  EXPECT_EQ(Query1((*c)->Dsn("postgres"), "SELECT v FROM owner_marks"), "written-by-owner");
  ASSERT_TRUE((*c)->Stop().ok());
}

TEST_F(LocalClusterLifecycle, StaleLockFilesOfDeadProcessAreRemoved) {
  auto gone = testing::Process::Start({"/bin/true"});
  ASSERT_GT(gone.pid(), 0);
  ASSERT_EQ(gone.Wait(seconds(10)), 0);
  ASSERT_TRUE(ProcessGone(gone.pid()));
  WriteFakeLockFiles(Dir(), gone.pid());

  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->adopted());
  EXPECT_NE((*c)->postmaster_pid(), gone.pid());
  EXPECT_TRUE(CanConnect((*c)->Dsn("postgres")));
  ASSERT_TRUE((*c)->Stop().ok());
}

TEST_F(LocalClusterLifecycle, LockFileNamingAnotherProgramIsStaleAndProgramUntouched) {
  // PostgreSQL alone refuses to start while the PID in postmaster.pid is
  // alive, whatever that process is (PID reuse after a crash).
  auto other = testing::Process::Start({"/bin/sleep", "60"});
  ASSERT_GT(other.pid(), 0);
  WriteFakeLockFiles(Dir(), other.pid());

  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->adopted());
  EXPECT_NE((*c)->postmaster_pid(), other.pid());
  EXPECT_TRUE(CanConnect((*c)->Dsn("postgres")));
  EXPECT_TRUE(other.running());
  ASSERT_TRUE((*c)->Stop().ok());
  EXPECT_TRUE(other.running());
}

TEST_F(LocalClusterLifecycle, LockFileNamingZombieIsStale) {
  // A zombie still answers kill(pid, 0), so PostgreSQL alone would refuse.
  auto zombie = testing::Process::Start({"/bin/true"});
  ASSERT_GT(zombie.pid(), 0);
  const std::string stat_path = "/proc/" + std::to_string(zombie.pid()) + "/stat";
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string st = ReadFile(stat_path);
        size_t paren = st.rfind(')');
        return paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'Z';
      },
      seconds(10)));
  WriteFakeLockFiles(Dir(), zombie.pid());

  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE((*c)->postmaster_pid(), zombie.pid());
  ASSERT_TRUE((*c)->Stop().ok());
  // Not ours to reap: its parent still gets its exit status.
  EXPECT_EQ(zombie.Wait(seconds(5)), 0);
}

TEST_F(LocalClusterLifecycle, LockFileNamingAnotherClustersPostmasterIsStale) {
  // A PID reused by a postgres of another data directory (the harness's).
  const pid_t foreign = testing::TestCluster().postmaster_pid();
  ASSERT_GT(foreign, 0);
  WriteFakeLockFiles(Dir(), foreign);

  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE((*c)->adopted());
  EXPECT_NE((*c)->postmaster_pid(), foreign);
  ASSERT_TRUE((*c)->Stop().ok());
  EXPECT_TRUE(CanConnect(testing::TestCluster().Dsn("postgres")));
}

TEST_F(LocalClusterLifecycle, ImmediateStopThenStartReplaysWal) {
  auto c = StartIt();
  ASSERT_TRUE(c.ok()) << c.status();
  // In the existing "postgres" database: a new database would only add files
  // for the end-of-recovery checkpoint to sync.
  const std::string dsn = (*c)->Dsn("postgres");
  Exec(dsn, "DROP TABLE IF EXISTS immediate_t; CREATE TABLE immediate_t (i int)");
  {
    pqxx::connection conn(dsn);
    for (int i = 0; i < 50; ++i) {  // each committed on its own
      pqxx::work tx(conn);
      tx.exec_params("INSERT INTO immediate_t VALUES ($1)", i);
      tx.commit();
    }
  }
  const pid_t pid = (*c)->postmaster_pid();
  const auto log_before = ReadFile(Dir() + "/log/postgres.log").size();
  ASSERT_TRUE((*c)->StopImmediately().ok());
  EXPECT_TRUE(ProcessGone(pid));

  auto again = StartIt();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Query1(dsn, "SELECT count(*) FROM immediate_t"), "50");
  const std::string log = ReadFile(Dir() + "/log/postgres.log").substr(log_before);
  EXPECT_THAT(log, HasSubstr("automatic recovery in progress"));
  ASSERT_TRUE((*again)->Stop().ok());
}

TEST_F(LocalClusterLifecycle, SecondStartAdoptsRunningServer) {
  auto first = StartIt();
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t pid = (*first)->postmaster_pid();
  {
    auto second = StartIt();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_TRUE((*second)->adopted());
    EXPECT_FALSE((*first)->adopted());
    EXPECT_EQ((*second)->postmaster_pid(), pid);
    EXPECT_TRUE(CanConnect((*second)->Dsn("postgres")));
    EXPECT_EQ((*second)->StopImmediately().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_TRUE((*second)->Stop().ok());
    EXPECT_FALSE(ProcessGone(pid));
  }  // destroying the adopter leaves the server running
  EXPECT_FALSE(ProcessGone(pid));
  EXPECT_TRUE(CanConnect((*first)->Dsn("postgres")));
  ASSERT_TRUE((*first)->Stop().ok());
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_FALSE(Exists(PgData() + "/postmaster.pid"));
}

TEST_F(LocalClusterLifecycle, StartWaitsForServerThatIsShuttingDown) {
  auto first = StartIt();
  ASSERT_TRUE(first.ok()) << first.status();
  const pid_t pid = (*first)->postmaster_pid();
  // A smart shutdown (SIGTERM) waits for this session to end: the server is
  // "stopping" and refuses new connections meanwhile.
  auto session = std::make_unique<pqxx::connection>((*first)->Dsn("postgres"));
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return PidFileStatus(PgData()) == "stopping"; }, seconds(10)));
  ASSERT_FALSE(CanConnect((*first)->Dsn("postgres")));

  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(500));
    session.reset();
  });
  const auto start = Clock::now();
  auto second = StartIt();
  const auto waited = Clock::now() - start;
  closer.join();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)->adopted());  // a new server, not the dying one
  EXPECT_NE((*second)->postmaster_pid(), pid);
  EXPECT_GE(waited, milliseconds(400));
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_TRUE(CanConnect((*second)->Dsn("postgres")));
  EXPECT_TRUE((*first)->Stop().ok());  // reaps the old one; the new one lives
  EXPECT_TRUE(CanConnect((*second)->Dsn("postgres")));
  ASSERT_TRUE((*second)->Stop().ok());
}

TEST_F(LocalClusterLifecycle, StartTimesOutWhileServerStaysStopping) {
  auto first = StartIt();
  ASSERT_TRUE(first.ok()) << first.status();
  auto session = std::make_unique<pqxx::connection>((*first)->Dsn("postgres"));
  ASSERT_EQ(::kill((*first)->postmaster_pid(), SIGTERM), 0);
  ASSERT_TRUE(WaitFor([&] { return PidFileStatus(PgData()) == "stopping"; }, seconds(10)));
  db::LocalClusterOptions o = Options(Dir());
  o.start_timeout = milliseconds(300);
  auto second = db::LocalCluster::Start(o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(second.status().message(), HasSubstr("stopping"));
  session.reset();
  EXPECT_TRUE((*first)->Stop().ok());
}

// PIDs of processes working in `pgdata` (a postmaster and its children chdir
// there).
std::vector<pid_t> ProcessesIn(const std::string& pgdata) {
  std::vector<pid_t> pids;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    auto cwd = std::filesystem::read_symlink(e.path() / "cwd", ec);
    if (!ec && cwd == pgdata && !ProcessGone(std::stoi(name))) pids.push_back(std::stoi(name));
  }
  return pids;
}

TEST_F(LocalClusterLifecycle, StartAfterTimeoutTakesOverServerLeftStarting) {
  db::LocalClusterOptions hasty = Options(Dir());
  hasty.start_timeout = milliseconds(1);
  auto first = db::LocalCluster::Start(hasty);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_THAT(first.status().message(), HasSubstr("left to finish starting"));

  // That server finishes starting on its own.
  ASSERT_TRUE(WaitFor([&] { return PidFileStatus(PgData()) == "ready"; }, seconds(30)));
  const pid_t left = std::stoi(ReadFile(PgData() + "/postmaster.pid"));

  // The retry takes it over as its own (not adopted: it is this process's
  // child), so that Stop() stops it.
  auto second = StartIt();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE((*second)->adopted());
  EXPECT_EQ((*second)->postmaster_pid(), left);
  EXPECT_TRUE(CanConnect((*second)->Dsn("postgres")));
  ASSERT_TRUE((*second)->Stop().ok());
  EXPECT_THAT(ProcessesIn(PgData()), ::testing::IsEmpty());
  EXPECT_FALSE(Exists(PgData() + "/postmaster.pid"));
}

TEST_F(LocalClusterLifecycle, BadSettingIsReportedWithLogTail) {
  db::LocalClusterOptions o = Options(Dir());
  o.settings = {"no_such_setting_xyz=1"};
  auto c = db::LocalCluster::Start(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  // The server's own complaint, from the log tail.
  EXPECT_THAT(c.status().message(), HasSubstr("unrecognized configuration parameter"));
  EXPECT_FALSE(Exists(PgData() + "/postmaster.pid"));
}

// ---------------------------------------------------------------------------
// Unusable setups fail cleanly, with codes that say whether to retry.

TEST(LocalClusterErrors, DirectoryTheServerUserCannotReach) {
  const std::string parent = testing::MakeTempDir("unreach");
  const std::string locked = parent + "/locked";
  const std::string dir = locked + "/cluster";
  if (::geteuid() == 0) {
    // Root can create anything, but the server runs as 'postgres', which
    // cannot traverse a root-owned 0700 directory.
    ASSERT_EQ(::mkdir(locked.c_str(), 0700), 0);
    ASSERT_EQ(::chown(locked.c_str(), 0, 0), 0);
    auto c = db::LocalCluster::Start(Options(dir));
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr("user 'postgres', which cannot reach " + dir));
  } else {
    ASSERT_EQ(::mkdir(locked.c_str(), 0000), 0);
    auto c = db::LocalCluster::Start(Options(dir));
    ::chmod(locked.c_str(), 0700);  // so that the harness can remove it
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
    EXPECT_THAT(c.status().message(), HasSubstr(dir));
  }
  EXPECT_FALSE(Exists(dir + "/pgdata"));
}

TEST(LocalClusterErrors, SocketPathTooLong) {
  const std::string dir = testing::MakeTempDir("long") + "/" + std::string(100, 'd');
  auto c = db::LocalCluster::Start(Options(dir));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr(dir));
  EXPECT_FALSE(Exists(dir + "/pgdata"));
}

TEST(LocalClusterErrors, MissingBinaries) {
  const std::string dir = testing::MakeTempDir("nobin");
  db::LocalClusterOptions o = Options(dir);
  o.bin_dir = "/nonexistent/pg/bin";
  auto c = db::LocalCluster::Start(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/pg/bin"));
}


// ---------------------------------------------------------------------------
// The process helpers the crash tests rely on.

TEST(ProcessHelpers, RunCommandPassesStdinAndCollectsOutput) {
  std::string big(1 << 20, 'x');  // more than a pipe buffer both ways
  auto r = testing::RunCommand({"/bin/sh", "-c", "cat; echo oops >&2; exit 3"}, big);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, big);
  EXPECT_EQ(r.err, "oops\n");
  auto env = testing::RunCommand({"/bin/sh", "-c", "echo $MIXSWEEP_X"}, "", seconds(10),
                                 {{"MIXSWEEP_X", "42"}});
  EXPECT_EQ(env.out, "42\n");
}

TEST(ProcessHelpers, RunCommandTimeoutKills) {
  const auto start = Clock::now();
  auto r = testing::RunCommand({"/bin/sleep", "30"}, "", milliseconds(200));
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_LT(Clock::now() - start, seconds(5));
}

TEST(ProcessHelpers, RunCommandSurvivesChildIgnoringStdin) {
  auto r = testing::RunCommand({"/bin/true"}, std::string(1 << 20, 'y'));
  EXPECT_EQ(r.exit_code, 0);
  auto missing = testing::RunCommand({"/nonexistent/binary"});
  EXPECT_EQ(missing.exit_code, 127);
}

TEST(ProcessHelpers, StartKillWait) {
  auto p = testing::Process::Start({"/bin/sleep", "30"});
  ASSERT_GT(p.pid(), 0);
  EXPECT_TRUE(p.running());
  EXPECT_EQ(p.Wait(milliseconds(50)), -1);
  p.Kill(SIGTERM);
  int status = p.Wait(seconds(5));
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(testing::Process::Start({"/nonexistent/binary"}).pid(), 0);
  EXPECT_GT(testing::FreePort(), 0);
}

}  // namespace
}  // namespace mixsweep
