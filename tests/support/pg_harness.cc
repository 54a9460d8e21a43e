#include "tests/support/pg_harness.h"

#include <ftw.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include <pqxx/pqxx>

namespace mixsweep::testing {
namespace {

std::unique_ptr<db::LocalCluster>& Cluster() {
  static auto* cluster = new std::unique_ptr<db::LocalCluster>;
  return *cluster;
}

std::mutex g_dirs_mu;
std::vector<std::string>& TempDirs() {
  static auto* dirs = new std::vector<std::string>;
  return *dirs;
}

constexpr const char* kClusterUser = "postgres";

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

void RemoveTree(const std::string& path) {
  ::nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

// mkdtemp under /tmp; when root, owned by the cluster's user.
std::string NewTempDir(const std::string& prefix, std::string* error) {
  std::string clean;
  for (char c : prefix) clean += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (clean.empty()) clean = "tmp";
  std::string tmpl = "/tmp/" + clean + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    *error = "mkdtemp " + tmpl + ": " + std::strerror(errno);
    return "";
  }
  if (::geteuid() == 0) {
    std::string user = Cluster() ? Cluster()->options().run_as_user : kClusterUser;
    struct passwd pw;
    struct passwd* found = nullptr;
    char buf[16384];
    if (::getpwnam_r(user.c_str(), &pw, buf, sizeof buf, &found) != 0 || found == nullptr) {
      *error = "no user '" + user + "'";
      RemoveTree(tmpl);
      return "";
    }
    if (::chown(tmpl.c_str(), pw.pw_uid, pw.pw_gid) != 0) {
      *error = "chown " + tmpl + ": " + std::strerror(errno);
      RemoveTree(tmpl);
      return "";
    }
  }
  std::lock_guard lock(g_dirs_mu);
  TempDirs().push_back(tmpl);
  return tmpl;
}

}  // namespace

void PgEnvironment::SetUp() {
  std::string error;
  std::string dir = NewTempDir("mixsweep-pg", &error);
  ASSERT_FALSE(dir.empty()) << error;
  db::LocalClusterOptions options;
  options.directory = dir;
  options.run_as_user = kClusterUser;
  // Test-only speed: a crash loses the last transactions, and the tests'
  // cluster is thrown away anyway. Never settings for a real deployment.
  options.settings = {"fsync=off", "synchronous_commit=off", "full_page_writes=off"};
  auto cluster = db::LocalCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << "cannot start the test PostgreSQL: " << cluster.status();
  Cluster() = std::move(*cluster);
}

void PgEnvironment::TearDown() {
  if (Cluster()) {
    absl::Status s = Cluster()->Stop();
    EXPECT_TRUE(s.ok()) << s;
    Cluster().reset();
  }
  std::vector<std::string> dirs;
  {
    std::lock_guard lock(g_dirs_mu);
    dirs.swap(TempDirs());
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) RemoveTree(*it);
}

db::LocalCluster& TestCluster() {
  if (!Cluster()) {
    std::fprintf(stderr,
                 "TestCluster(): no cluster; add mixsweep::testing::PgEnvironment with "
                 "AddGlobalTestEnvironment (or its SetUp failed)\n");
    std::abort();
  }
  return *Cluster();
}

std::string CreateTestDatabase() {
  static std::atomic<int> counter{0};
  std::string base = "db";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    base = std::string(info->test_suite_name()) + "_" + info->name();
  }
  std::string name;
  for (char c : base) {
    name += std::isalnum(static_cast<unsigned char>(c))
                ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                : '_';
  }
  if (std::isdigit(static_cast<unsigned char>(name[0]))) name = "t_" + name;
  std::string suffix = "_" + std::to_string(++counter);
  if (name.size() + suffix.size() > 63) name.resize(63 - suffix.size());
  name += suffix;
  absl::Status s = TestCluster().EnsureDatabase(name);
  EXPECT_TRUE(s.ok()) << "CREATE DATABASE " << name << ": " << s;
  return TestCluster().Dsn(name);
}

std::string MakeTempDir(const std::string& prefix) {
  std::string error;
  std::string dir = NewTempDir(prefix, &error);
  EXPECT_FALSE(dir.empty()) << error;
  return dir;
}

int64_t SqlCount(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  const pqxx::row row = tx.exec1(sql);
  return row[0].is_null() ? -1 : row[0].as<int64_t>();
}

std::string SqlText(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  const pqxx::row row = tx.exec1(sql);
  return row[0].is_null() ? "<null>" : row[0].as<std::string>();
}

void SqlExec(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

}  // namespace mixsweep::testing
