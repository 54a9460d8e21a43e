// CheckCompletionValues: what a completion may carry, before the store.
#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "scheduler/dispatch/completion_check.h"

namespace mixsweep::scheduler {
namespace {

using ::testing::HasSubstr;

Completion WithEpisodes(std::vector<SimulatedEpisode> episodes) {
  Completion c{.lease = {.job_id = 1, .fencing_token = 1}, .checkpoint_uri = "file:///a/r.json"};
  c.episodes = std::move(episodes);
  return c;
}

TEST(CompletionCheckTest, AcceptsWellFormedEpisodesGenerationAndSteps) {
  Completion c = WithEpisodes({{.index = 0, .success = true, .score = 1.0},
                               {.index = 1, .success = false, .score = 0.25}});
  c.generation = GenerationReport{.num_success = 10, .num_attempts = 12, .seconds = 3.5};
  c.step_checkpoints = {{.step = 100, .uri = "file:///a/100.ckpt"}};
  EXPECT_TRUE(CheckCompletionValues(c).ok());
}

TEST(CompletionCheckTest, RefusesEpisodesThatCannotBeTrials) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::vector<SimulatedEpisode> episodes;
    const char* message;
  } cases[] = {
      {{{.index = -1, .score = 0}}, "episodes[0].index: negative"},
      {{{.index = 0, .score = 0}, {.index = 0, .score = 1}}, "episodes[1].index: episode 0 reported twice"},
      {{{.index = 0, .score = nan}}, "episodes[0].score: not a finite number"},
      {{{.index = 0, .score = 1.5}}, "episodes[0].score: 1.5 is outside [0, 1]"},
      {{{.index = 0, .score = 0, .sum_reward = inf}}, "episodes[0].sum_reward: not a finite number"},
      {{{.index = 0, .score = 0, .max_reward = nan}}, "episodes[0].max_reward: not a finite number"},
  };
  for (const Case& c : cases) {
    const absl::Status s = CheckCompletionValues(WithEpisodes(c.episodes));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

TEST(CompletionCheckTest, RefusesAnImpossibleGenerationSummary) {
  Completion c = WithEpisodes({});
  c.generation = GenerationReport{.num_success = 0, .num_attempts = 5, .seconds = 1};
  EXPECT_THAT(CheckCompletionValues(c).message(), HasSubstr("generation.num_success: 0"));
  c.generation = GenerationReport{.num_success = 6, .num_attempts = 5, .seconds = 1};
  EXPECT_THAT(CheckCompletionValues(c).message(),
              HasSubstr("generation.num_attempts: 5 is fewer than the 6 successes"));
  c.generation = GenerationReport{.num_success = 5, .num_attempts = 5,
                                  .seconds = std::numeric_limits<double>::infinity()};
  EXPECT_THAT(CheckCompletionValues(c).message(),
              HasSubstr("generation.seconds: not a finite number"));
}

TEST(CompletionCheckTest, RefusesRepeatedOrEmptyStepCheckpoints) {
  Completion c = WithEpisodes({});
  c.step_checkpoints = {{.step = 100, .uri = "a"}, {.step = 100, .uri = "b"}};
  EXPECT_THAT(CheckCompletionValues(c).message(),
              HasSubstr("step_checkpoints[1].step: step 100 reported twice"));
  c.step_checkpoints = {{.step = 0, .uri = "a"}};
  EXPECT_THAT(CheckCompletionValues(c).message(), HasSubstr("must be positive"));
  c.step_checkpoints = {{.step = 5, .uri = ""}};
  EXPECT_THAT(CheckCompletionValues(c).message(), HasSubstr("step_checkpoints[0].uri: empty"));
}

}  // namespace
}  // namespace mixsweep::scheduler
