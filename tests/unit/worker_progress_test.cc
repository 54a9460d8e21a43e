// Progress parsing from the training tools' own output (workers/progress_parser.h).
#include "workers/progress_parser.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mixsweep::workers {
namespace {

using ::testing::DoubleEq;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Optional;
using ::testing::Pair;

ProgressParser BuiltIn() { return *ProgressParser::Create(""); }

ProgressParser WithPattern(const std::string& pattern) {
  absl::StatusOr<ProgressParser> parser = ProgressParser::Create(pattern);
  EXPECT_TRUE(parser.ok()) << parser.status();
  return *parser;
}

std::optional<int64_t> StepOf(const ProgressParser& parser, std::string_view line) {
  std::optional<ProgressSample> sample = parser.ParseLine(line);
  if (!sample) return std::nullopt;
  return sample->step;
}

// --- lerobot ---------------------------------------------------------------

TEST(WorkerProgressLerobotTest, ReadsARealTrainingLine) {
  std::optional<ProgressSample> sample = BuiltIn().ParseLine(
      "INFO 2025-01-12 10:33:21 ts/train.py:232 step:13K smpl:420K ep:3K epch:2.10 "
      "loss:0.045 grdn:0.912 lr:1.0e-04 updt_s:0.105 data_s:0.002");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 13000);
  EXPECT_THAT(sample->metrics, ElementsAre(Pair("grad_norm", DoubleEq(0.912)),
                                           Pair("loss", DoubleEq(0.045)),
                                           Pair("lr", DoubleEq(1.0e-4))));
}

TEST(WorkerProgressLerobotTest, ReadsSuffixesAndDecimals) {
  const ProgressParser parser = BuiltIn();
  EXPECT_EQ(StepOf(parser, "step:200 loss:0.3"), 200);
  EXPECT_EQ(StepOf(parser, "step:1.5K loss:0.3"), 1500);
  EXPECT_EQ(StepOf(parser, "step:13k loss:0.3"), 13000);
  EXPECT_EQ(StepOf(parser, "step:2M loss:0.3"), 2'000'000);
  EXPECT_EQ(StepOf(parser, "step:1.25M"), 1'250'000);
  EXPECT_EQ(StepOf(parser, "step:3B"), 3'000'000'000);
  EXPECT_EQ(StepOf(parser, "step:1.2345K"), 1234);  // the fraction below 1 is dropped
  EXPECT_EQ(StepOf(parser, "step:0"), 0);
}

TEST(WorkerProgressLerobotTest, RefusesMalformedSteps) {
  const ProgressParser parser = BuiltIn();
  for (const char* line : {"step:-5 loss:0.1", "step:2.5 loss:0.1", "step:K", "step:",
                           "step:1.K", "step:.5K", "step:12X", "step:12KK", "step:1e3",
                           "step:99999999999999999999", "step:9999999999T"}) {
    EXPECT_EQ(parser.ParseLine(line), std::nullopt) << line;
  }
}

TEST(WorkerProgressLerobotTest, LeavesOutNonFiniteAndMalformedMetrics) {
  std::optional<ProgressSample> sample =
      BuiltIn().ParseLine("step:10K loss:nan grdn:inf lr:abc");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 10000);
  EXPECT_THAT(sample->metrics, IsEmpty());
}

// --- openpi ----------------------------------------------------------------

TEST(WorkerProgressOpenpiTest, ReadsEveryPairAfterTheStep) {
  std::optional<ProgressSample> sample =
      BuiltIn().ParseLine("Step 1200: grad_norm=0.4123, loss=0.0312, param_norm=1802.5544");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 1200);
  EXPECT_THAT(sample->metrics, ElementsAre(Pair("grad_norm", DoubleEq(0.4123)),
                                           Pair("loss", DoubleEq(0.0312)),
                                           Pair("param_norm", DoubleEq(1802.5544))));
}

TEST(WorkerProgressOpenpiTest, ToleratesPrefixesAndProgressBars) {
  const ProgressParser parser = BuiltIn();
  EXPECT_EQ(StepOf(parser, "12:01:33.120 [I] Step 300: loss=0.2"), 300);
  EXPECT_EQ(StepOf(parser, "  4%|▍         | 1200/30000 [01:02<24:30, 19.6it/s]\r"
                           "Step 1200: grad_norm=0.41, loss=0.03"),
            1200);
  EXPECT_EQ(StepOf(parser, "Step 1200: loss=0.03\r"), 1200);
  EXPECT_EQ(StepOf(parser, "Step 0:"), 0);
}

TEST(WorkerProgressOpenpiTest, NeedsTheColonAndDigits) {
  const ProgressParser parser = BuiltIn();
  EXPECT_EQ(parser.ParseLine("Step 1200 loss=0.03"), std::nullopt);
  EXPECT_EQ(parser.ParseLine("Step 1/5: loading the dataset"), std::nullopt);
  EXPECT_EQ(parser.ParseLine("Step 12K: loss=0.03"), std::nullopt);
  EXPECT_EQ(parser.ParseLine("Step -3: loss=0.03"), std::nullopt);
  EXPECT_EQ(parser.ParseLine("Step two: loss=0.03"), std::nullopt);
}

// --- plain -----------------------------------------------------------------

TEST(WorkerProgressPlainTest, ReadsStepAndEveryNumericPair) {
  std::optional<ProgressSample> sample =
      BuiltIn().ParseLine("[2025-01-12 10:33:21] step=1200 loss=0.0312 lr=1e-4 note=warmup");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 1200);
  EXPECT_THAT(sample->metrics,
              ElementsAre(Pair("loss", DoubleEq(0.0312)), Pair("lr", DoubleEq(1e-4))));
}

TEST(WorkerProgressPlainTest, StepAloneIsEnough) {
  std::optional<ProgressSample> sample = BuiltIn().ParseLine("step=7");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 7);
  EXPECT_THAT(sample->metrics, IsEmpty());
}

TEST(WorkerProgressPlainTest, ProseIsNotProgress) {
  const ProgressParser parser = BuiltIn();
  for (const char* line :
       {"stepping motor", "step 1200 loss 0.03", "Step 2 of 5", "the next step: 4",
        "steps=1200 loss=0.1", "global_step=1200", "mystep=3", "step=", "step=abc",
        "step=-1 loss=0.1", "loss=0.03", "", "   ", "Traceback (most recent call last):"}) {
    EXPECT_EQ(parser.ParseLine(line), std::nullopt) << line;
  }
}

TEST(WorkerProgressPlainTest, LongLinesAreNotParsed) {
  std::string line = "step=5 loss=0.1 ";
  line.resize(kMaxProgressLineBytes, 'x');
  EXPECT_EQ(StepOf(BuiltIn(), line), 5);
  line += 'x';
  EXPECT_EQ(BuiltIn().ParseLine(line), std::nullopt);
}

// --- a sweep's own pattern ---------------------------------------------------

TEST(WorkerProgressPatternTest, FirstGroupIsTheStepSecondTheLoss) {
  const ProgressParser parser = WithPattern(R"(iter (\d+[KM]?) .*?objective ([-+.\deE]+))");
  std::optional<ProgressSample> sample = parser.ParseLine("epoch 3 iter 1500 | objective 0.25");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 1500);
  EXPECT_THAT(sample->metrics, ElementsAre(Pair("loss", DoubleEq(0.25))));
  EXPECT_EQ(StepOf(parser, "iter 2K x objective 1e-3"), 2000);
}

TEST(WorkerProgressPatternTest, ReplacesTheBuiltInFormats) {
  const ProgressParser parser = WithPattern(R"(it (\d+))");
  EXPECT_EQ(StepOf(parser, "it 42"), 42);
  EXPECT_EQ(parser.ParseLine("step=1200 loss=0.1"), std::nullopt);
}

TEST(WorkerProgressPatternTest, LossIsOptional) {
  const ProgressParser parser = WithPattern(R"(step (\d+)(?: loss ([\d.]+))?)");
  std::optional<ProgressSample> sample = parser.ParseLine("step 10");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 10);
  EXPECT_THAT(sample->metrics, IsEmpty());
  EXPECT_THAT(parser.ParseLine("step 10 loss 0.5")->metrics, ElementsAre(Key("loss")));
  // A loss that is not a finite number is left out; the step still counts.
  EXPECT_THAT(WithPattern(R"(s=(\d+) l=(\S+))").ParseLine("s=3 l=nan")->metrics, IsEmpty());
}

TEST(WorkerProgressPatternTest, AStepGroupThatIsNotACountIsNoProgress) {
  const ProgressParser parser = WithPattern(R"(step (\S+))");
  EXPECT_EQ(parser.ParseLine("step -4"), std::nullopt);
  EXPECT_EQ(parser.ParseLine("step ahead"), std::nullopt);
  EXPECT_EQ(WithPattern(R"(a(\d*)b)").ParseLine("ab"), std::nullopt);
  EXPECT_EQ(WithPattern(R"((x)?step)").ParseLine("step"), std::nullopt);
}

TEST(WorkerProgressPatternTest, RefusesPatternsWithoutGroupsOrThatDoNotCompile) {
  for (const char* pattern : {R"(step \d+)", R"(step (\d+)", R"((?<step>\d+))", "[", "(?:x)"}) {
    absl::StatusOr<ProgressParser> parser = ProgressParser::Create(pattern);
    ASSERT_FALSE(parser.ok()) << pattern;
    EXPECT_EQ(parser.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parser.status().message()), HasSubstr("progress_pattern")) << pattern;
  }
}

// std::regex recurses per character: a long line must not reach it.
TEST(WorkerProgressPatternTest, LongLinesNeverReachTheRegex) {
  const ProgressParser parser = WithPattern(R"((?:.|\s)*step=(\d+))");
  std::string line(kMaxPatternLineBytes - 7, 'a');
  line += "step=12";
  EXPECT_EQ(StepOf(parser, line), 12);
  EXPECT_EQ(parser.ParseLine("b" + line), std::nullopt);
  EXPECT_EQ(parser.ParseLine(std::string(1 << 20, 'a') + "step=12"), std::nullopt);
}

// --- diffusion_policy logs.json.txt ----------------------------------------

TEST(WorkerProgressDiffusionPolicyTest, ReadsEveryFiniteNumber) {
  std::optional<ProgressSample> sample = ParseDiffusionPolicyLogLine(
      R"({"train_loss": 0.031, "global_step": 1200, "epoch": 3, "lr": 9.9e-05,)"
      R"( "train_loss_epoch": 0.04, "name": "run", "ok": true, "nested": {"a": 1}})");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 1200);
  EXPECT_THAT(sample->metrics,
              ElementsAre(Pair("epoch", DoubleEq(3)), Pair("loss", DoubleEq(0.031)),
                          Pair("lr", DoubleEq(9.9e-05)), Pair("train_loss", DoubleEq(0.031)),
                          Pair("train_loss_epoch", DoubleEq(0.04))));
}

TEST(WorkerProgressDiffusionPolicyTest, PythonsBareNaNIsLeftOut) {
  std::optional<ProgressSample> sample = ParseDiffusionPolicyLogLine(
      R"({"global_step": 7, "train_loss": NaN, "x": Infinity, "y": -Infinity, "note": "NaN"})");
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->step, 7);
  EXPECT_THAT(sample->metrics, IsEmpty());
}

TEST(WorkerProgressDiffusionPolicyTest, AcceptsIntegralFloatSteps) {
  EXPECT_THAT(ParseDiffusionPolicyLogLine(R"({"global_step": 1200.0})"),
              Optional(testing::Field(&ProgressSample::step, 1200)));
}

TEST(WorkerProgressDiffusionPolicyTest, RefusesLinesWithoutAUsableStep) {
  for (const char* line :
       {"", "not json", "[1, 2]", R"({"train_loss": 0.1})", R"({"global_step": -1})",
        R"({"global_step": 1.5})", R"({"global_step": "1200"})", R"({"global_step": null})",
        R"({"global_step": 1e300})", R"({"global_step": 1200)", R"({"global_step": NaN})",
        R"({"global_step": 18446744073709551615})"}) {
    EXPECT_EQ(ParseDiffusionPolicyLogLine(line), std::nullopt) << line;
  }
}

TEST(WorkerProgressDiffusionPolicyTest, LongLinesAreNotParsed) {
  std::string line = R"({"global_step": 3, "pad": ")";
  line += std::string(kMaxProgressLineBytes, 'x') + "\"}";
  EXPECT_EQ(ParseDiffusionPolicyLogLine(line), std::nullopt);
}

}  // namespace
}  // namespace mixsweep::workers
