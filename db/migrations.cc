#include "db/migrations.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "db/connection_pool.h"
#include "db/sql.h"

namespace mixsweep::db {

absl::StatusOr<int> ApplyMigrations(pqxx::connection& conn,
                                    const std::vector<Migration>& migrations) {
  try {
    pqxx::work tx(conn);
    // Serialises concurrent start-ups; released at commit or rollback.
    tx.exec_params(sql::kLockMigrations, sql::kMigrationLockId);
    tx.exec(sql::kCreateSchemaMigrations);

    std::map<int, std::pair<std::string, std::string>> applied;  // version -> name, md5
    for (const auto& row : tx.exec(sql::kSelectAppliedMigrations)) {
      applied[row[0].as<int>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
    }
    std::map<int, const Migration*> known;
    for (const Migration& m : migrations) known[m.version] = &m;
    for (const auto& [version, name_md5] : applied) {
      if (known.count(version) == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the database has migration ", version, " (", name_md5.first,
            ") that this mixsweepd does not know: a newer version migrated it; "
            "run that version or newer"));
      }
    }

    int count = 0;
    for (const Migration& m : migrations) {
      const std::string md5 =
          tx.exec_params1(sql::kMd5, std::string(m.sql))[0].as<std::string>();
      if (auto it = applied.find(m.version); it != applied.end()) {
        if (it->second.second != md5) {
          return absl::FailedPreconditionError(absl::StrCat(
              "migration ", m.version, " (", m.name,
              ") was changed after it was applied; add a new migration instead"));
        }
        continue;
      }
      tx.exec(m.sql);
      tx.exec_params(sql::kInsertMigration, m.version, std::string(m.name), md5);
      ++count;
    }
    tx.commit();
    return count;
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace mixsweep::db
