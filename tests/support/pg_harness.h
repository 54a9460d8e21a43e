// A real PostgreSQL for tests: one cluster per test binary, one database per
// test.
//
// The cluster is a db::LocalCluster in a fresh temporary directory, started
// once by a gtest Environment (about 1 s of initdb) and removed at exit.
// Each test asks for its own database (CREATE DATABASE, tens of ms), so tests
// never see each other's rows and can run in any order.
//
// Example:
//   int main(int argc, char** argv) {  // or link the harness's main
//     ::testing::InitGoogleTest(&argc, argv);
//     ::testing::AddGlobalTestEnvironment(new mixsweep::testing::PgEnvironment);
//     return RUN_ALL_TESTS();
//   }
//   TEST(Store, Works) {
//     std::string dsn = mixsweep::testing::CreateTestDatabase();
//     pqxx::connection c(dsn);
//   }
#pragma once

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "db/local_cluster.h"

namespace mixsweep::testing {

class PgEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

// The binary's cluster; the environment must be set up.
db::LocalCluster& TestCluster();

// A new empty database named after the running test; returns its DSN.
std::string CreateTestDatabase();

// A fresh temporary directory, removed by the environment's TearDown. When
// running as root, it is owned by the cluster's user so that a LocalCluster
// can live in it.
std::string MakeTempDir(const std::string& prefix);

// How tests look at the database behind the code under test, each on a
// fresh connection: the first column of a one-row query (NULL: -1 or
// "<null>"), and a statement run in its own committed transaction.
int64_t SqlCount(const std::string& dsn, const std::string& sql);
std::string SqlText(const std::string& dsn, const std::string& sql);
void SqlExec(const std::string& dsn, const std::string& sql);

}  // namespace mixsweep::testing
