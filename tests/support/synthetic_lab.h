// The synthetic lab in an end-to-end test: mixsweep-lab evaluating, blind,
// every checkpoint a daemon's workers produce, and the wait until the
// evaluations are done and every estimate is fresh.
//
//   Process lab = StartSyntheticLab(daemon, {.log = dir + "/lab.log"});
//   ASSERT_TRUE(WaitForEvaluations(daemon, dsn, 54, lab_log));
//   EXPECT_EQ(lab.Wait(), 0);
#pragma once

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/daemon.h"
#include "tests/support/process.h"
#include "tests/support/worker_process.h"

#ifndef MIXSWEEP_LAB_BIN
#error "MIXSWEEP_LAB_BIN must name the mixsweep-lab binary"
#endif
#ifndef MIXSWEEP_SOURCE_DIR
#error "MIXSWEEP_SOURCE_DIR must name the source tree"
#endif

namespace mixsweep::testing {

inline std::string PickDualBottlesTruthFile() {
  return std::string(MIXSWEEP_SOURCE_DIR) + "/docs/examples/pick_dual_bottles.truth.yaml";
}

struct SyntheticLabOptions {
  std::string log;                              // the lab's stdout and stderr
  std::string truth = PickDualBottlesTruthFile();  // its ground truth
  std::string robot = "aloha-1";
  int seed = 7;                                 // of its trial draws
  int exit_when_idle_seconds = 4;               // it exits 0 once idle this long
};

// Starts mixsweep-lab with the daemon's admin token (`daemon`: anything with
// address() and token_file(), e.g. a set of replicas).
template <typename DaemonLike>
Process StartSyntheticLab(const DaemonLike& daemon, const SyntheticLabOptions& options) {
  return Process::Start({MIXSWEEP_LAB_BIN, "--server", daemon.address(), "--token-file",
                         daemon.token_file(), "--robot", options.robot, "--truth", options.truth,
                         "--seed", std::to_string(options.seed), "--exit-when-idle",
                         std::to_string(options.exit_when_idle_seconds), "--poll-ms", "100"},
                        options.log);
}

// Waits until `complete` evaluation requests are complete, then until the
// recomputer has no stale mark left; the failure message has the logs.
inline ::testing::AssertionResult WaitForEvaluations(
    const Daemon& daemon, const std::string& dsn, int64_t complete, const std::string& lab_log,
    std::chrono::seconds timeout = std::chrono::seconds(240)) {
  const bool evaluated = WaitUntil(
      [&] {
        return QueryInt(dsn, "SELECT count(*) FROM evaluation_requests WHERE state = "
                             "'complete'") == complete;
      },
      timeout);
  if (!evaluated) {
    return ::testing::AssertionFailure()
           << "not " << complete << " complete evaluation requests in time; lab log:\n"
           << FileTail(lab_log) << "\ndaemon log:\n" << daemon.LogTail();
  }
  if (!WaitUntil([&] { return QueryInt(dsn, "SELECT count(*) FROM stale_estimates") == 0; },
                 std::chrono::seconds(60))) {
    return ::testing::AssertionFailure() << "estimates still stale; daemon log:\n"
                                         << daemon.LogTail();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mixsweep::testing
