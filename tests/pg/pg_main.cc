// main() of mixsweep_pgtest: the tests' PostgreSQL cluster comes from
// PgEnvironment (one per binary).
//
// `mixsweep_pgtest --cluster-owner=<dir>` is not a test run: the crash test
// re-executes this binary that way to get a process that owns a LocalCluster
// (started from its main thread, as LocalCluster requires), writes a committed
// row, prints "ready <postmaster pid>" and waits to be killed.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/local_cluster.h"
#include "tests/support/pg_harness.h"

namespace {

constexpr char kOwnerFlag[] = "--cluster-owner=";

int RunClusterOwner(const std::string& dir) {
  mixsweep::db::LocalClusterOptions options;
  options.directory = dir;
  auto cluster = mixsweep::db::LocalCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "owner: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  try {
    pqxx::connection c((*cluster)->Dsn("postgres"));
    pqxx::work tx(c);
    tx.exec("CREATE TABLE IF NOT EXISTS owner_marks (v text)");
    tx.exec_params("INSERT INTO owner_marks VALUES ($1)", "written-by-owner");
    tx.commit();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "owner: %s\n", e.what());
    return 1;
  }
  std::printf("ready %d\n", static_cast<int>((*cluster)->postmaster_pid()));
  std::fflush(stdout);
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strncmp(argv[1], kOwnerFlag, sizeof kOwnerFlag - 1) == 0) {
    return RunClusterOwner(argv[1] + sizeof kOwnerFlag - 1);
  }
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new mixsweep::testing::PgEnvironment);
  return RUN_ALL_TESTS();
}
