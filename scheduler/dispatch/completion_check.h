// The values of a job's completion report, checked before the store sees
// them (pure). What the job's kind needs (a generate job's summary, an
// evaluate job's exact episode count) is checked by the store against the
// locked job row; this checks what needs no row: every number finite and
// in range, episode indices and checkpoint steps unique.
//
// Example:
//   if (absl::Status s = CheckCompletionValues(completion); !s.ok()) return s;
//   // INVALID_ARGUMENT, e.g. "episodes[3].score: 1.5 is outside [0, 1]"
#pragma once

#include "absl/status/status.h"
#include "scheduler/dispatch/job_store.h"

namespace mixsweep::scheduler {

absl::Status CheckCompletionValues(const Completion& completion);

}  // namespace mixsweep::scheduler
