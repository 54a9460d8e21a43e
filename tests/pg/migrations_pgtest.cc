// db::ApplyMigrations against a real PostgreSQL 15: a fresh database, a
// second run, concurrent start-ups, an edited migration, a database migrated
// by a newer binary, and a migration that fails half-way (DDL is
// transactional: nothing of it remains).
#include <atomic>
#include <cstdio>
#include <memory>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "db/migrations.h"
#include "tests/support/pg_harness.h"

namespace mixsweep {
namespace {

using ::testing::HasSubstr;

int64_t Count(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<int64_t>();
}

void Exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  tx.exec(sql);
  tx.commit();
}

bool TableExists(const std::string& dsn, const std::string& table) {
  return Count(dsn, "SELECT count(*) FROM pg_class WHERE relname = '" + table +
                        "' AND relkind = 'r'") > 0;
}

absl::StatusOr<int> Apply(const std::string& dsn, const std::vector<db::Migration>& migrations) {
  pqxx::connection conn(dsn);
  return db::ApplyMigrations(conn, migrations);
}

const int kMigrations = static_cast<int>(db::EmbeddedMigrations().size());

TEST(Migrations, EmbeddedOnesAreNumberedFromOneInOrder) {
  const auto& migrations = db::EmbeddedMigrations();
  ASSERT_FALSE(migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i) {
    EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1) << migrations[i].name;
    char prefix[16];
    std::snprintf(prefix, sizeof prefix, "%04d_", static_cast<int>(i) + 1);
    EXPECT_TRUE(std::string(migrations[i].name).starts_with(prefix)) << migrations[i].name;
  }
  EXPECT_STREQ(migrations[0].name, "0001_init");
}

TEST(Migrations, FreshDatabaseGetsAllThenNothing) {
  const std::string dsn = testing::CreateTestDatabase();
  auto first = Apply(dsn, db::EmbeddedMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, kMigrations);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations"), kMigrations);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations WHERE version = 1 AND "
                       "name = '0001_init' AND length(sql_md5) = 32"),
            1);
  for (const char* table : {"sweeps", "sweep_revisions", "jobs", "runs", "workers",
                            "job_log_chunks", "robots", "evaluation_requests", "trials",
                            "utilization_estimates", "events", "idempotency_keys"}) {
    EXPECT_TRUE(TableExists(dsn, table)) << table;
  }

  auto second = Apply(dsn, db::EmbeddedMigrations());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 0);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations"), kMigrations);
}

TEST(Migrations, ConcurrentStartUpsApplyEachMigrationOnce) {
  const std::string dsn = testing::CreateTestDatabase();
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<int>> results(kThreads, absl::UnknownError("not run"));
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int i = 0; i < kThreads; ++i) conns.push_back(std::make_unique<pqxx::connection>(dsn));
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = db::ApplyMigrations(*conns[i], db::EmbeddedMigrations());
    });
  }
  for (auto& t : threads) t.join();
  int total = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    total += *r;
  }
  EXPECT_EQ(total, kMigrations);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations"), kMigrations);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM pg_class WHERE relname = 'sweeps'"), 1);
}

TEST(Migrations, ChangedMigrationIsRefused) {
  const std::string dsn = testing::CreateTestDatabase();
  ASSERT_TRUE(Apply(dsn, db::EmbeddedMigrations()).ok());

  std::vector<db::Migration> edited = db::EmbeddedMigrations();
  const std::string changed_sql = std::string(edited[0].sql) + "\n-- an innocent comment\n";
  edited[0].sql = changed_sql.c_str();
  auto result = Apply(dsn, edited);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("migration 1"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("0001_init"));
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations"), kMigrations);
}

TEST(Migrations, DatabaseFromANewerBinaryIsRefused) {
  const std::string dsn = testing::CreateTestDatabase();
  ASSERT_TRUE(Apply(dsn, db::EmbeddedMigrations()).ok());
  Exec(dsn, "INSERT INTO schema_migrations (version, name, sql_md5) "
            "VALUES (9999, '9999_future', md5('future'))");
  auto result = Apply(dsn, db::EmbeddedMigrations());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("9999"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("newer"));
}

TEST(Migrations, FailingMigrationLeavesNoTrace) {
  const std::string dsn = testing::CreateTestDatabase();
  ASSERT_TRUE(Apply(dsn, db::EmbeddedMigrations()).ok());

  std::vector<db::Migration> with_bad = db::EmbeddedMigrations();
  with_bad.push_back({9000, "9000_half_done",
                      "CREATE TABLE half_done (id bigint PRIMARY KEY);\n"
                      "INSERT INTO half_done VALUES (1);\n"
                      "ALTER TABLE sweeps ADD COLUMN half_done_flag boolean;\n"
                      "SELEKT this is not sql;\n"});
  auto result = Apply(dsn, with_bad);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.status().code(), absl::StatusCode::kOk);
  EXPECT_FALSE(TableExists(dsn, "half_done"));
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM information_schema.columns WHERE "
                       "table_name = 'sweeps' AND column_name = 'half_done_flag'"),
            0);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations WHERE version = 9000"), 0);
  EXPECT_EQ(Count(dsn, "SELECT count(*) FROM schema_migrations"), kMigrations);

  // On a fresh database the whole run is one transaction: nothing at all.
  const std::string fresh = testing::CreateTestDatabase();
  auto fresh_result = Apply(fresh, with_bad);
  EXPECT_FALSE(fresh_result.ok());
  EXPECT_FALSE(TableExists(fresh, "half_done"));
  EXPECT_FALSE(TableExists(fresh, "sweeps"));
  EXPECT_FALSE(TableExists(fresh, "schema_migrations"));

  // Fixed, it applies; the good ones are not applied twice.
  with_bad.back().sql = "CREATE TABLE half_done (id bigint PRIMARY KEY);";
  auto fixed = Apply(dsn, with_bad);
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(*fixed, 1);
  EXPECT_TRUE(TableExists(dsn, "half_done"));
}

}  // namespace
}  // namespace mixsweep
