// Spec files for end-to-end tests: the documented example, edited by
// replacement, written where the CLI can read it.
//
// Example:
//   std::string spec = Replace(PickDualBottles(), "seeds: [0, 1, 2]", "seeds: [0, 1, 2, 3]");
//   daemon.Cli({"sweep", "submit", WriteSpec(spec)});
#pragma once

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "tests/support/example_specs.h"
#include "tests/support/pg_harness.h"

namespace mixsweep::testing {

// docs/examples/pick_dual_bottles.yaml, embedded at build time.
inline const std::string& PickDualBottles() {
  static const std::string yaml = kPickDualBottlesYaml;
  return yaml;
}

// Writes `text` to a file in a fresh temp dir; returns its path.
inline std::string WriteSpec(const std::string& text) {
  const std::string path = MakeTempDir("spec") + "/spec.yaml";
  std::ofstream(path) << text;
  return path;
}

// `text` with every `from` replaced; fails the test if `from` is absent, so
// an edit of the example cannot silently turn a test into a no-op.
inline std::string Replace(std::string text, const std::string& from, const std::string& to) {
  EXPECT_NE(text.find(from), std::string::npos) << "the example no longer contains: " << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

}  // namespace mixsweep::testing
