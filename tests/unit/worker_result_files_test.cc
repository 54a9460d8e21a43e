// Result files of generate and evaluate jobs (workers/result_files.h), read
// from fixtures laid out as the tools write them:
//   lerobot-eval's eval_info.json, single task (lerobot/scripts/eval.py) and
//   multi task (src/lerobot/scripts/lerobot_eval.py); diffusion_policy's
//   eval_log.json (eval.py, json.dump(..., sort_keys=True)); MimicGen's
//   important_stats.json (mimicgen/scripts/generate_dataset.py);
// and MimicGen's progress line (workers/progress_parser.h).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "workers/progress_parser.h"
#include "workers/result_files.h"

namespace mixsweep::workers {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kFile[] = "/art/jobs/9/eval_info.json";

// The message of a refused file (or a note that it was accepted).
std::string Refusal(std::string_view format, std::string_view text, int64_t n) {
  absl::StatusOr<std::vector<EpisodeResult>> episodes = ParseEvaluationResult(format, text, n, kFile);
  if (episodes.ok()) return "accepted";
  EXPECT_EQ(episodes.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(episodes.status().message());
}

// Replaces the first `from` at or after `start` with `to`.
void Replace(std::string& text, std::string_view from, std::string_view to, size_t start = 0) {
  const size_t at = text.find(from, start);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

// --- lerobot, single task -----------------------------------------------------

// As eval_policy() builds `info` and eval_main() json.dump(info, indent=2)s it.
constexpr char kLerobotSingle[] = R"({
  "per_episode": [
    {"episode_ix": 0, "sum_reward": 53.0, "max_reward": 1.0, "success": true, "seed": 1000},
    {"episode_ix": 1, "sum_reward": 12.5, "max_reward": 0.75, "success": false, "seed": 1001},
    {"episode_ix": 2, "sum_reward": 61.0, "max_reward": 1.0, "success": true, "seed": 1002}
  ],
  "aggregated": {
    "avg_sum_reward": 42.166666666666664,
    "avg_max_reward": 0.9166666666666666,
    "pc_success": 66.66666666666666,
    "eval_s": 12.3,
    "eval_ep_s": 4.1
  },
  "video_paths": ["outputs/eval/videos/eval_episode_0.mp4"]
})";

TEST(WorkerResultFilesTest, LerobotSingleTaskLayout) {
  auto episodes = ParseEvaluationResult("lerobot", kLerobotSingle, 3, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  ASSERT_EQ(episodes->size(), 3u);
  const EpisodeResult& second = (*episodes)[1];
  EXPECT_EQ(second.index, 1);
  EXPECT_FALSE(second.success);
  EXPECT_EQ(second.score, 0);
  EXPECT_EQ(second.seed, 1001);
  EXPECT_EQ(second.sum_reward, 12.5);
  EXPECT_EQ(second.max_reward, 0.75);
  EXPECT_TRUE((*episodes)[0].success);
  EXPECT_EQ((*episodes)[0].score, 1);
  EXPECT_EQ((*episodes)[2].index, 2);
}

TEST(WorkerResultFilesTest, LerobotSeedIsNullWithoutAStartSeed) {
  auto episodes = ParseEvaluationResult(
      "lerobot",
      R"({"per_episode": [{"episode_ix": 0, "sum_reward": 1, "max_reward": 1, "success": true,
                           "seed": null}],
          "aggregated": {"pc_success": 100.0}})",
      1, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  EXPECT_FALSE((*episodes)[0].seed.has_value());
}

TEST(WorkerResultFilesTest, LerobotEpisodesComeOutInIndexOrder) {
  auto episodes = ParseEvaluationResult(
      "lerobot",
      R"({"per_episode": [
            {"episode_ix": 1, "sum_reward": 0, "max_reward": 0, "success": false, "seed": 8},
            {"episode_ix": 0, "sum_reward": 1, "max_reward": 1, "success": true, "seed": 7}]})",
      2, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  EXPECT_EQ((*episodes)[0].seed, 7);
  EXPECT_EQ((*episodes)[1].seed, 8);
}

// --- lerobot, multi task ------------------------------------------------------

// As eval_policy_all() returns it: per_task, per_group, overall; no seeds.
constexpr char kLerobotMulti[] = R"({
  "per_task": [
    {"task_group": "libero_spatial", "task_id": 0,
     "metrics": {"sum_rewards": [1.0, 0.0], "max_rewards": [1.0, 0.0],
                 "successes": [true, false], "video_paths": [], "predicted_video_paths": []}},
    {"task_group": "libero_spatial", "task_id": 1,
     "metrics": {"sum_rewards": [2.0], "max_rewards": [1.0], "successes": [true],
                 "video_paths": ["v.mp4"], "predicted_video_paths": []}}
  ],
  "per_group": {
    "libero_spatial": {"avg_sum_reward": 1.0, "avg_max_reward": 0.6666666666666666,
                       "pc_success": 66.66666666666666, "n_episodes": 3,
                       "video_paths": ["v.mp4"], "predicted_video_paths": []}
  },
  "overall": {"avg_sum_reward": 1.0, "avg_max_reward": 0.6666666666666666,
              "pc_success": 66.66666666666666, "n_episodes": 3, "eval_s": 9.0,
              "eval_ep_s": 3.0, "video_paths": ["v.mp4"], "predicted_video_paths": []}
})";

TEST(WorkerResultFilesTest, LerobotMultiTaskLayout) {
  auto episodes = ParseEvaluationResult("lerobot", kLerobotMulti, 3, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  ASSERT_EQ(episodes->size(), 3u);
  // Indices run on across tasks, in per_task order.
  EXPECT_TRUE((*episodes)[0].success);
  EXPECT_FALSE((*episodes)[1].success);
  EXPECT_EQ((*episodes)[2].index, 2);
  EXPECT_TRUE((*episodes)[2].success);
  EXPECT_EQ((*episodes)[2].sum_reward, 2.0);
  EXPECT_FALSE((*episodes)[2].seed.has_value());
}

TEST(WorkerResultFilesTest, LerobotCrossChecksAreErrors) {
  std::string text = kLerobotSingle;
  Replace(text, "66.66666666666666", "100.0");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("aggregated.pc_success: 100% disagrees with the episodes: 2 of 3"));
  text = kLerobotMulti;
  const size_t overall = text.find("\"overall\"");
  Replace(text, "\"n_episodes\": 3", "\"n_episodes\": 4", overall);
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("overall.n_episodes: 4 disagrees with the 3 episodes"));
  EXPECT_THAT(Refusal("lerobot",
                      R"({"per_task": [{"metrics": {"successes": [true], "sum_rewards": [1, 2],
                                                    "max_rewards": [1]}}]})",
                      1),
              HasSubstr("per_task[0].metrics.sum_rewards: 2 values but 1 successes"));
}

TEST(WorkerResultFilesTest, LerobotLayoutErrors) {
  EXPECT_THAT(Refusal("lerobot", R"({"per_episode": [], "per_task": []})", 1),
              HasSubstr("has both per_episode"));
  EXPECT_THAT(Refusal("lerobot", R"({"aggregated": {}})", 1),
              HasSubstr("(root): missing \"per_episode\""));
  EXPECT_THAT(Refusal("lerobot", R"([1, 2])", 1), HasSubstr("(root): expected a JSON object"));
  EXPECT_THAT(Refusal("lerobot", R"({"per_episode": {"episode_ix": 0}})", 1),
              HasSubstr("per_episode: expected a JSON array"));
}

TEST(WorkerResultFilesTest, LerobotWrongTypesAndMissingFieldsAreNamed) {
  std::string text = kLerobotSingle;
  Replace(text, "\"success\": false", "\"success\": 0");
  EXPECT_EQ(Refusal("lerobot", text, 3),
            std::string(kFile) + ": per_episode[1].success: expected true or false, got 0");
  text = kLerobotSingle;
  Replace(text, "\"sum_reward\": 12.5", "\"sum_reward\": \"12.5\"");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[1].sum_reward: expected a number, got \"12.5\""));
  text = kLerobotSingle;
  Replace(text, "\"max_reward\": 0.75, ", "");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[1]: missing \"max_reward\""));
  text = kLerobotSingle;
  Replace(text, "\"episode_ix\": 2", "\"episode_ix\": 1.5");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[2].episode_ix: expected an integer, got 1.5"));
}

// Python's json writes NaN and Infinity bare; they are refused by field.
TEST(WorkerResultFilesTest, NonFiniteNumbersAreRefusedByField) {
  std::string text = kLerobotSingle;
  Replace(text, "53.0", "NaN");
  EXPECT_EQ(Refusal("lerobot", text, 3),
            std::string(kFile) + ": per_episode[0].sum_reward: NaN is not a finite number");
  text = kLerobotSingle;
  Replace(text, "0.75", "-Infinity");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[1].max_reward: -Infinity is not a finite number"));
  text = kLerobotSingle;
  Replace(text, "66.66666666666666", "NaN");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("aggregated.pc_success: NaN is not a finite number"));
  EXPECT_THAT(Refusal("diffusion_policy", R"({"test/sim_max_reward_1": Infinity})", 1),
              HasSubstr("test/sim_max_reward_1: Infinity is not a finite number"));
  // Inside a string it is only text.
  EXPECT_EQ(Refusal("mixsweep",
                    R"({"format": "mixsweep.eval.v1", "info": {"note": "NaN Infinity"},
                        "episodes": [{"index": 0, "success": true}]})",
                    1),
            "accepted");
}

TEST(WorkerResultFilesTest, EpisodeCountAndIndicesAreExact) {
  // More than asked for: refused, whatever else is in the file.
  EXPECT_EQ(Refusal("lerobot", kLerobotSingle, 2),
            std::string(kFile) + ": per_episode: 3 episodes: episodes beyond the requested count (2)");
  EXPECT_THAT(Refusal("lerobot", kLerobotMulti, 2),
              HasSubstr("episodes beyond the requested count (2)"));
  EXPECT_THAT(Refusal("lerobot", kLerobotSingle, 4),
              HasSubstr("per_episode: 3 episodes; 4 were requested (fewer episodes than "
                        "n_episodes)"));
  std::string text = kLerobotSingle;
  Replace(text, "\"episode_ix\": 2", "\"episode_ix\": 1");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[2]: duplicate episode index 1 (also per_episode[1])"));
  text = kLerobotSingle;
  Replace(text, "\"episode_ix\": 2", "\"episode_ix\": 3");
  EXPECT_THAT(Refusal("lerobot", text, 3),
              HasSubstr("per_episode[2]: episode index 3 is outside 0..2"));
}

TEST(WorkerResultFilesTest, MalformedFilesAndUnknownFormats) {
  EXPECT_THAT(Refusal("lerobot", R"({"per_episode": [)", 1),
              StartsWith(std::string(kFile) + ": (root): not valid JSON ("));
  EXPECT_EQ(Refusal("lerobot", " \n", 1), std::string(kFile) + ": (root): the file is empty");
  EXPECT_THAT(Refusal("lerobot2", kLerobotSingle, 3),
              HasSubstr("result_format \"lerobot2\" is not an evaluation format"));
  EXPECT_THAT(Refusal("lerobot", kLerobotSingle, 0), HasSubstr("asked for 0 episodes"));
  EXPECT_EQ(ParseEvaluationFormat("diffusion_policy").value(), EvaluationFormat::kDiffusionPolicy);
  EXPECT_EQ(EvaluationFormatName(EvaluationFormat::kMixsweep), "mixsweep");
}

// --- diffusion_policy ---------------------------------------------------------

// As eval.py dumps the env runner's log_data (sort_keys=True): seeds 9, 10,
// 11 sort as text ("10" < "11" < "9"), episodes go by seed.
constexpr char kDiffusionPolicy[] = R"({
  "test/mean_score": 0.6,
  "test/sim_max_reward_10": 0.8,
  "test/sim_max_reward_11": 0.0,
  "test/sim_max_reward_9": 1.0,
  "test/sim_video_9": "data/eval/media/9.mp4",
  "train/mean_score": 1.0,
  "train/sim_max_reward_0": 1.0,
  "train/sim_video_0": "data/eval/media/0.mp4"
})";

TEST(WorkerResultFilesTest, DiffusionPolicyTestEpisodesBySeedTrainIgnored) {
  auto episodes = ParseEvaluationResult("diffusion_policy", kDiffusionPolicy, 3, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  ASSERT_EQ(episodes->size(), 3u);  // train/sim_max_reward_0 is no episode
  EXPECT_EQ((*episodes)[0].seed, 9);
  EXPECT_TRUE((*episodes)[0].success);
  EXPECT_EQ((*episodes)[0].score, 1.0);
  EXPECT_EQ((*episodes)[1].seed, 10);
  EXPECT_EQ((*episodes)[1].index, 1);
  EXPECT_FALSE((*episodes)[1].success);  // 0.8 < 1
  EXPECT_EQ((*episodes)[1].score, 0.8);
  EXPECT_EQ((*episodes)[1].max_reward, 0.8);
  EXPECT_FALSE((*episodes)[1].sum_reward.has_value());
  EXPECT_EQ((*episodes)[2].seed, 11);
}

TEST(WorkerResultFilesTest, DiffusionPolicyErrors) {
  std::string text = kDiffusionPolicy;
  Replace(text, "0.6", "0.7");
  EXPECT_THAT(Refusal("diffusion_policy", text, 3),
              HasSubstr("test/mean_score: 0.7 disagrees with the mean of the 3"));
  text = kDiffusionPolicy;
  Replace(text, "0.8", "1.5");
  EXPECT_THAT(Refusal("diffusion_policy", text, 3),
              HasSubstr("test/sim_max_reward_10: max reward 1.5 is outside [0, 1]"));
  EXPECT_THAT(Refusal("diffusion_policy",
                      R"({"test/sim_max_reward_7": 1.0, "test/sim_max_reward_07": 0.0})", 2),
              HasSubstr("duplicate episode: seed 7"));
  EXPECT_THAT(Refusal("diffusion_policy", R"({"test/sim_max_reward_x": 1.0})", 1),
              HasSubstr("test/sim_max_reward_x: the key does not end in a seed"));
  EXPECT_THAT(Refusal("diffusion_policy", R"({"test/sim_max_reward_3": true})", 1),
              HasSubstr("expected a number, got true"));
  EXPECT_THAT(Refusal("diffusion_policy", kDiffusionPolicy, 2),
              HasSubstr("episodes beyond the requested count (2)"));
  EXPECT_THAT(Refusal("diffusion_policy", kDiffusionPolicy, 5),
              HasSubstr("3 episodes; 5 were requested"));
  EXPECT_THAT(Refusal("diffusion_policy", R"({"train/sim_max_reward_0": 1.0})", 1),
              HasSubstr("0 episodes; 1 were requested"));
}

// --- mixsweep.eval.v1 ---------------------------------------------------------

TEST(WorkerResultFilesTest, MixsweepFormat) {
  auto episodes = ParseEvaluationResult("mixsweep", R"({
    "format": "mixsweep.eval.v1",
    "episodes": [
      {"index": 1, "success": false, "score": 0.5, "seed": 8},
      {"index": 0, "success": true, "seed": 7, "sum_reward": 3.5, "max_reward": 1.0},
      {"index": 2, "success": false}
    ],
    "info": {"simulator": "robosuite 1.4"}
  })", 3, kFile);
  ASSERT_TRUE(episodes.ok()) << episodes.status();
  EXPECT_EQ((*episodes)[0].score, 1.0);  // default: success
  EXPECT_EQ((*episodes)[0].sum_reward, 3.5);
  EXPECT_EQ((*episodes)[1].score, 0.5);  // as written: partial credit
  EXPECT_EQ((*episodes)[1].seed, 8);
  EXPECT_EQ((*episodes)[2].score, 0.0);
  EXPECT_FALSE((*episodes)[2].seed.has_value());
}

TEST(WorkerResultFilesTest, MixsweepFormatErrors) {
  auto with = [](std::string episodes, std::string format = "mixsweep.eval.v1") {
    return Refusal("mixsweep",
                   R"({"format": ")" + format + R"(", "episodes": [)" + episodes + "]}", 2);
  };
  const std::string ok0 = R"({"index": 0, "success": true})";
  EXPECT_EQ(with(ok0 + R"(, {"index": 1, "success": false})"), "accepted");
  EXPECT_THAT(with(ok0 + R"(, {"index": 1, "sucess": false})"),
              HasSubstr("episodes[1]: unknown key \"sucess\""));
  EXPECT_THAT(with(ok0 + R"(, {"success": false})"), HasSubstr("episodes[1]: missing \"index\""));
  EXPECT_THAT(with(ok0 + R"(, {"index": 1})"), HasSubstr("episodes[1]: missing \"success\""));
  EXPECT_THAT(with(ok0 + R"(, {"index": 1, "success": false, "score": 1.2})"),
              HasSubstr("episodes[1].score: 1.2 is outside [0, 1]"));
  EXPECT_THAT(with(ok0 + R"(, {"index": 1, "success": false, "score": -0.1})"),
              HasSubstr("is outside [0, 1]"));
  EXPECT_THAT(with(ok0 + R"(, {"index": 0, "success": false})"),
              HasSubstr("duplicate episode index 0"));
  EXPECT_THAT(with(ok0 + R"(, {"index": 1, "success": false, "sum_reward": 1})"),
              HasSubstr("give both sum_reward and max_reward, or neither"));
  EXPECT_THAT(with(ok0 + "," + ok0 + "," + ok0), HasSubstr("episodes beyond the requested count"));
  EXPECT_THAT(with(ok0), HasSubstr("1 episodes; 2 were requested"));
  EXPECT_THAT(with(ok0, "mixsweep.eval.v2"),
              HasSubstr("format: expected \"mixsweep.eval.v1\", got \"mixsweep.eval.v2\""));
  EXPECT_THAT(Refusal("mixsweep", R"({"format": "mixsweep.eval.v1", "episodes": [], "x": 1})", 1),
              HasSubstr("(root): unknown key \"x\""));
}

// --- writers ------------------------------------------------------------------

TEST(WorkerResultFilesTest, WrittenFilesReadBack) {
  const std::vector<EpisodeResult> episodes = {
      {.index = 0, .success = true, .score = 1, .seed = 100, .sum_reward = 1, .max_reward = 1},
      {.index = 1, .success = false, .score = 0, .seed = 101, .sum_reward = 0, .max_reward = 0},
      {.index = 2, .success = true, .score = 1, .seed = 102, .sum_reward = 1, .max_reward = 1}};
  for (EvaluationFormat format : {EvaluationFormat::kLerobot, EvaluationFormat::kDiffusionPolicy,
                                  EvaluationFormat::kMixsweep}) {
    const std::string name(EvaluationFormatName(format));
    auto back = ParseEvaluationResult(name, WriteEvaluationResult(format, episodes), 3, kFile);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status();
    ASSERT_EQ(back->size(), 3u) << name;
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ((*back)[i].index, episodes[i].index) << name;
      EXPECT_EQ((*back)[i].success, episodes[i].success) << name;
      EXPECT_EQ((*back)[i].score, episodes[i].score) << name;
      EXPECT_EQ((*back)[i].seed, episodes[i].seed) << name;
    }
  }
  auto counts = ParseGenerationSummary(WriteGenerationSummary(1000, 1250, "/art/j"), "s.json");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->num_success, 1000);
  EXPECT_DOUBLE_EQ(counts->success_rate, 0.8);
}

// --- MimicGen -----------------------------------------------------------------

// As get_important_stats() returns it and write_json writes it.
constexpr char kImportantStats[] = R"json({
    "generation_path": "/art/jobs/5",
    "success_rate": 80.03370681,
    "failure_rate": 19.96629318,
    "num_success": 950,
    "num_failures": 237,
    "num_attempts": 1187,
    "num_problematic": 3,
    "ep_length_mean": 312.4,
    "ep_length_std": 20.1,
    "ep_length_max": 388,
    "ep_length_3std": 373,
    "time spent (hrs)": "1.25"
})json";

TEST(WorkerResultFilesTest, MimicgenSummaryRateIsAPercentage) {
  std::string text = kImportantStats;
  // 100 * 950 / 1187, as Python prints it.
  Replace(text, "80.03370681", "80.03369839932603");
  auto counts = ParseGenerationSummary(text, "/art/jobs/5/important_stats.json");
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->num_success, 950);
  EXPECT_EQ(counts->num_attempts, 1187);
  EXPECT_DOUBLE_EQ(counts->success_rate, 950.0 / 1187.0);  // a fraction
}

TEST(WorkerResultFilesTest, MimicgenSummaryErrors) {
  auto refusal = [](std::string text) {
    auto counts = ParseGenerationSummary(text, "/art/jobs/5/important_stats.json");
    return counts.ok() ? std::string("accepted") : std::string(counts.status().message());
  };
  EXPECT_EQ(refusal(R"({"num_success": 8, "num_attempts": 10, "success_rate": 80.0})"),
            "accepted");
  // A fraction where MimicGen writes a percentage: inconsistent.
  EXPECT_THAT(refusal(R"({"num_success": 8, "num_attempts": 10, "success_rate": 0.8})"),
              HasSubstr("success_rate: 0.8 disagrees with num_success / num_attempts = 8 / 10"));
  EXPECT_THAT(refusal(R"({"num_success": 11, "num_attempts": 10, "success_rate": 110})"),
              HasSubstr("num_success: 11 is more than num_attempts (10)"));
  EXPECT_THAT(refusal(R"({"num_success": -1, "num_attempts": 10, "success_rate": -10})"),
              HasSubstr("num_success: -1 is negative"));
  EXPECT_THAT(refusal(R"({"num_success": 8.5, "num_attempts": 10, "success_rate": 85})"),
              HasSubstr("num_success: expected an integer, got 8.5"));
  EXPECT_THAT(refusal(R"({"num_attempts": 10, "success_rate": 80})"),
              HasSubstr("(root): missing \"num_success\""));
  EXPECT_THAT(refusal(R"({"num_success": 0, "num_attempts": 0, "success_rate": 0})"),
              HasSubstr("num_attempts: 0: the generator made no attempt"));
  EXPECT_THAT(refusal(R"({"num_success": 8, "num_attempts": 10, "num_failures": 1,
                          "success_rate": 80})"),
              HasSubstr("num_failures: 1 failures and 8 successes are not num_attempts (10)"));
  EXPECT_THAT(refusal(R"({"num_success": 8, "num_attempts": 10, "success_rate": NaN})"),
              HasSubstr("success_rate: NaN is not a finite number"));
  EXPECT_THAT(refusal("{\"num_success\": 8,"),
              StartsWith("/art/jobs/5/important_stats.json: (root): not valid JSON"));
}

// --- MimicGen's progress line -------------------------------------------------

TEST(WorkerResultFilesTest, MimicgenProgressLine) {
  auto parser = ProgressParser::Create("");
  ASSERT_TRUE(parser.ok());
  auto sample = parser->ParseLine("have 950 successes out of 1187 trials so far");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 950);
  EXPECT_EQ(sample->metrics.at("attempts"), 1187);
  // Its twin about failures, the trial line and the banner are not progress.
  EXPECT_FALSE(parser->ParseLine("have 237 failures out of 1187 trials so far").has_value());
  EXPECT_FALSE(parser->ParseLine("trial 1187 success: True").has_value());
  EXPECT_FALSE(parser->ParseLine("**************************************************").has_value());
  // Inconsistent or suffixed counts are not MimicGen's.
  EXPECT_FALSE(parser->ParseLine("have 12 successes out of 10 trials so far").has_value());
  EXPECT_FALSE(parser->ParseLine("have 1K successes out of 2K trials so far").has_value());
  EXPECT_FALSE(parser->ParseLine("have 950 successes out of 1187 trials").has_value());
}

}  // namespace
}  // namespace mixsweep::workers
