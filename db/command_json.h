// A command template as stored in jsonb (jobs.command, sweep_scenarios.command).
//
// The one encoding both directions use, so that a field added to
// spec::CommandTemplate is added here once. Unknown keys are ignored when
// reading and absent keys read as their defaults, so rows written before a
// field existed still read.
//
// Example:
//   tx.exec_params(sql::kInsertJobs, sweep_id, CommandJson(job.command).dump());
//   spec::CommandTemplate command = CommandFromJson(row[2].as<std::string>());
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "scheduler/spec/sweep_spec.h"

namespace mixsweep::db {

nlohmann::json CommandJson(const spec::CommandTemplate& command);
spec::CommandTemplate CommandFromJson(const std::string& text);

}  // namespace mixsweep::db
