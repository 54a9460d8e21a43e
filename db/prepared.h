// ExecPrepared: a statement of the hot path as a prepared statement.
//
// Every exec_params call makes PostgreSQL parse and plan its statement
// again; for the short statements of a lease or a completion, planning costs
// more than running (a 1.3 ms plan for a 0.16 ms statement was measured).
// A prepared statement is planned per connection, and after five runs
// PostgreSQL keeps a generic plan when it is no worse than the custom ones.
//
// The name is the SQL constant's address: each `inline constexpr` constant
// in db/*_sql.h has one address in the process, so one name per statement.
// libpqxx remembers a connection's statements and prepares each on its first
// use there; preparing it again with the same text is a no-op. A connection
// that breaks is discarded by the pool, and its statements with it.
//
// Example:
//   pqxx::result rows = ExecPrepared(tx, sql::kLockJob, job_id);
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace mixsweep::db {

// The statement's name on every connection, registered with libpqxx.
inline std::string PreparedName(pqxx::transaction_base& tx, const char* sql) {
  std::string name = absl::StrCat("ms_", reinterpret_cast<uintptr_t>(sql));
  tx.conn().prepare(name, sql);
  return name;
}

template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& tx, const char* sql, Args&&... args) {
  return tx.exec_prepared(PreparedName(tx, sql), std::forward<Args>(args)...);
}

// ExecPrepared for a statement that returns exactly one row (else
// pqxx::unexpected_rows, as exec_params1).
template <typename... Args>
pqxx::row ExecPrepared1(pqxx::transaction_base& tx, const char* sql, Args&&... args) {
  return tx.exec_prepared1(PreparedName(tx, sql), std::forward<Args>(args)...);
}

}  // namespace mixsweep::db
