// Versioned schema migrations, embedded in the binary from
// db/migrations/NNNN_name.sql and applied at start-up.
//
// ApplyMigrations is safe when several mixsweepd start at once on one
// database: it runs in one transaction holding a transaction-level advisory
// lock, so one process applies and the others then find nothing to do.
// PostgreSQL's DDL is transactional: a failed migration leaves no trace.
//
// It refuses to run (FAILED_PRECONDITION) when an applied migration's text
// changed since (an edited migration would diverge silently), or when the
// database has migrations this binary does not know (a newer mixsweepd
// migrated it; running old code on it is unsafe).
//
// Example:
//   pqxx::connection conn(dsn);
//   auto applied = db::ApplyMigrations(conn, db::EmbeddedMigrations());
#pragma once

#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"

namespace mixsweep::db {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// The migrations of db/migrations/, in version order (generated at build).
const std::vector<Migration>& EmbeddedMigrations();

// Returns how many migrations this call applied.
absl::StatusOr<int> ApplyMigrations(pqxx::connection& conn,
                                    const std::vector<Migration>& migrations);

}  // namespace mixsweep::db
