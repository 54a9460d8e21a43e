// PgSystemStatsStore: metrics::SystemStatsStore on PostgreSQL. Each
// snapshot is a handful of aggregate queries in one read-only transaction
// (SQL in db/system_stats_sql.h).
#pragma once

#include "db/connection_pool.h"
#include "scheduler/metrics/system_snapshot.h"

namespace mixsweep::db {

class PgSystemStatsStore final : public metrics::SystemStatsStore {
 public:
  explicit PgSystemStatsStore(ConnectionPool& pool) : pool_(pool) {}

  absl::StatusOr<metrics::SystemSnapshot> ReadSnapshot(
      const metrics::SnapshotOptions& options) override;

 private:
  ConnectionPool& pool_;
};

}  // namespace mixsweep::db
