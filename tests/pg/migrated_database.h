// The schema every PostgreSQL test starts from: the embedded migrations,
// applied to the test's own database.
//
//   dsn_ = testing::CreateTestDatabase();
//   ASSERT_TRUE(testing::MigrateTestDatabase(dsn_));
#pragma once

#include <string>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/migrations.h"

namespace mixsweep::testing {

inline ::testing::AssertionResult MigrateTestDatabase(const std::string& dsn) {
  pqxx::connection conn(dsn);
  auto applied = db::ApplyMigrations(conn, db::EmbeddedMigrations());
  if (applied.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << applied.status();
}

}  // namespace mixsweep::testing
