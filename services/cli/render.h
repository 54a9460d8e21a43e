// How the CLI shows things to people: plain-text tables and summaries.
// Pure functions from protos to strings, so they are unit-tested.
#pragma once

#include <string>
#include <vector>

#include "mixsweep/v1/sweep.pb.h"

namespace mixsweep::cli {

// A left-aligned text table; columns as wide as their widest cell.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "JOB_STATE_QUEUED" -> "queued".
std::string ShortEnumName(const std::string& name);

// Two lines: who and what, then the counts by state.
std::string RenderSweepSummary(const mixsweep::v1::Sweep& sweep);

// A progress bar like "[#########-----------] 45% (9/20 jobs done)".
std::string RenderProgressBar(const mixsweep::v1::SweepCounts& counts, int width = 30);

std::string RenderSweepList(const std::vector<mixsweep::v1::Sweep>& sweeps);
std::string RenderRuns(const mixsweep::v1::GetSweepResponse& sweep);
std::string RenderJobs(const mixsweep::v1::GetSweepResponse& sweep);
std::string RenderJob(const mixsweep::v1::Job& job);

}  // namespace mixsweep::cli
