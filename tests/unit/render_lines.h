// Helpers of the CLI rendering tests: a rendered text as lines, and the
// check that no line ends in a blank.
#pragma once

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"

namespace mixsweep::cli::render_test {

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

inline void ExpectNoTrailingBlanks(const std::string& text) {
  for (const std::string& line : Lines(text)) {
    EXPECT_THAT(line, ::testing::Not(::testing::EndsWith(" "))) << "line '" << line << "'";
  }
}

}  // namespace mixsweep::cli::render_test
