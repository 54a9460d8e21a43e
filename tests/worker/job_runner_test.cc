// The job runners with real child processes (small /bin/sh scripts) and the
// synthetic executor, reporting to a recorder instead of a server.
//
// Timing is never asserted: a stopped job is checked by how it ended (its
// own TERM handler, or SIGKILL), not by how long it took.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "workers/agent/agent_logic.h"
#include "workers/agent/job_runner.h"
#include "workers/agent/process_runner.h"
#include "workers/agent/synthetic_runner.h"
#include "workers/result_files.h"

namespace mixsweep::workers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Everything a runner said, in order.
class Recorder : public JobEvents {
 public:
  void OnStarted(const mixsweep::v1::Provenance& provenance) override {
    EXPECT_FALSE(result.has_value()) << "OnStarted after OnExit";
    started = provenance;
  }
  void OnOutput(std::string_view bytes) override {
    EXPECT_FALSE(result.has_value()) << "output after OnExit";
    output.append(bytes);
    if (on_output) on_output(output);
  }
  void OnProgress(const ProgressSample& sample) override { samples.push_back(sample); }
  void OnExit(const RunResult& r) override {
    EXPECT_FALSE(result.has_value()) << "OnExit twice";
    result = r;
  }

  std::optional<mixsweep::v1::Provenance> started;
  std::string output;
  std::vector<ProgressSample> samples;
  std::optional<RunResult> result;
  std::function<void(const std::string&)> on_output;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Whether a process is gone (or a zombie nobody has reaped yet: it cannot
// run). SIGKILL is delivered asynchronously, so this waits a while for it.
bool ProcessGone(pid_t pid) {
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    std::string content((std::istreambuf_iterator<char>(stat)), {});
    const size_t close = content.rfind(')');
    if (close != std::string::npos && close + 2 < content.size() && content[close + 2] == 'Z') {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mixsweep-runner-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string OutputDir() const { return root_ + "/jobs/7"; }

  // A job running `script` with /bin/sh: $1 is {output_dir}, $2 {gpu},
  // $3 {subset_manifest} (when the spec has one).
  JobLaunch Launch(const std::string& script, bool with_manifest = false) {
    const std::string script_path = root_ + "/script-" + std::to_string(scripts_++) + ".sh";
    std::ofstream(script_path) << script;
    JobLaunch launch;
    mixsweep::v1::JobSpec& spec = launch.spec;
    spec.mutable_job()->set_id(7);
    spec.mutable_job()->set_steps(2000);
    spec.mutable_job()->mutable_dataset()->set_uri("file:///data/pick_dual_bottles");
    spec.add_argv("/bin/sh");
    spec.add_argv(script_path);
    spec.add_argv("{output_dir}");
    spec.add_argv("{gpu}");
    if (with_manifest) {
      spec.add_argv("{subset_manifest}");
      spec.set_subset_manifest_json(R"({"episodes": [3, 1, 4]})");
    }
    spec.set_checkpoint_template("{output_dir}/checkpoints/last.ckpt");
    spec.set_output_uri("file://" + OutputDir());
    launch.artifact_root = root_;
    launch.worker_host = "test-host";
    return launch;
  }

  // Runs the job to its end; `hook` may act on the runner as output comes.
  RunResult Run(JobLaunch launch, Recorder& events,
                std::function<void(JobRunner&, const std::string&)> hook = {},
                ProcessRunnerOptions options = {}) {
    boost::asio::io_context io;
    auto runner = MakeProcessRunner(io, std::move(launch), events, options);
    if (hook) events.on_output = [&](const std::string& out) { hook(*runner, out); };
    runner->Start();
    io.run();  // returns once the runner has nothing left to do
    EXPECT_TRUE(events.result.has_value());
    return events.result.value_or(RunResult{});
  }

  std::string root_;
  int scripts_ = 0;
};

constexpr const char* kWriteCheckpoint = "mkdir -p \"$1/checkpoints\" && echo w > \"$1/checkpoints/last.ckpt\"\n";

TEST_F(JobRunnerTest, ExitZeroWithCheckpointCompletes) {
  Recorder events;
  RunResult r = Run(Launch(std::string("echo training\n") + kWriteCheckpoint), events);
  EXPECT_EQ(r.exit, RunResult::Exit::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.checkpoint, OutputDir() + "/checkpoints/last.ckpt");
  EXPECT_TRUE(r.checkpoint_exists);
  ASSERT_TRUE(events.started.has_value());
  EXPECT_EQ(events.started->worker_host(), "test-host");
  EXPECT_FALSE(events.started->synthetic());
  EXPECT_EQ(events.started->argv(2), OutputDir());  // rendered, as run
  EXPECT_EQ(DecideTerminal(StopReason::kNone, r, {}).kind, TerminalAction::Kind::kComplete);
}

TEST_F(JobRunnerTest, ExitZeroWithoutCheckpointIsCheckpointMissing) {
  Recorder events;
  RunResult r = Run(Launch("echo forgot to save\n"), events);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.checkpoint_exists);
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {});
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_CHECKPOINT_MISSING);
  EXPECT_NE(a.failure.message().find("forgot to save"), std::string::npos);
}

TEST_F(JobRunnerTest, NoRetryExitCodeIsNotRetryable) {
  Recorder events;
  RunResult r = Run(Launch("echo bad config >&2\nexit 2\n"), events);
  EXPECT_EQ(r.exit, RunResult::Exit::kExited);
  EXPECT_EQ(r.exit_code, 2);
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {2, 3});
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_EXIT_CODE);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("bad config"), std::string::npos);  // stderr captured
  EXPECT_TRUE(DecideTerminal(StopReason::kNone, r, {}).failure.retryable());
}

TEST_F(JobRunnerTest, LerobotLinesBecomeProgress) {
  Recorder events;
  RunResult r = Run(Launch("echo 'step:1K smpl:64 loss:0.5'\n"
                           "echo 'some other line'\n"
                           "printf 'step:2K loss:0.25'\n"  // no newline at the end
                           + std::string(kWriteCheckpoint)),
                    events);
  EXPECT_EQ(r.exit_code, 0);
  ASSERT_EQ(events.samples.size(), 2u);
  EXPECT_EQ(events.samples[0].step, 1000);
  EXPECT_DOUBLE_EQ(events.samples[0].metrics.at("loss"), 0.5);
  EXPECT_EQ(events.samples[1].step, 2000);
  EXPECT_EQ(r.last_step, 2000);
  EXPECT_DOUBLE_EQ(r.last_metrics.at("loss"), 0.25);
}

TEST_F(JobRunnerTest, CustomProgressPattern) {
  Recorder events;
  JobLaunch launch = Launch("echo 'iteration 42 / 100 l=0.7'\n");
  launch.spec.set_progress_pattern(R"(iteration (\d+) / \d+ l=([0-9.]+))");
  Run(std::move(launch), events);
  ASSERT_EQ(events.samples.size(), 1u);
  EXPECT_EQ(events.samples[0].step, 42);
}

TEST_F(JobRunnerTest, TailsDiffusionPolicyLogsJson) {
  Recorder events;
  Run(Launch("echo '{\"global_step\": 500, \"train_loss\": 0.125}' >> \"$1/logs.json.txt\"\n"),
      events);
  ASSERT_FALSE(events.samples.empty());
  EXPECT_EQ(events.samples.back().step, 500);
  EXPECT_DOUBLE_EQ(events.samples.back().metrics.at("train_loss"), 0.125);
}

TEST_F(JobRunnerTest, StopLetsATermHandlerFinish) {
  Recorder events;
  RunResult r = Run(Launch("trap 'echo got-term; exit 0' TERM\n"
                           "echo ready\n"
                           "while true; do sleep 0.05; done\n"),
                    events, [](JobRunner& runner, const std::string& out) {
                      if (out.find("ready") != std::string::npos) runner.Stop(60s);
                    });
  // It ended through its own handler, well within the grace.
  EXPECT_EQ(r.exit, RunResult::Exit::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(events.output.find("got-term"), std::string::npos);
  EXPECT_EQ(DecideTerminal(StopReason::kCancelled, r, {}).kind, TerminalAction::Kind::kHandBack);
}

TEST_F(JobRunnerTest, StopKillsAJobIgnoringTermAfterTheGrace) {
  Recorder events;
  RunResult r = Run(Launch("trap '' TERM\n"
                           "echo ready\n"
                           "while true; do sleep 0.05; done\n"),
                    events, [](JobRunner& runner, const std::string& out) {
                      if (out.find("ready") != std::string::npos) runner.Stop(200ms);
                    });
  EXPECT_EQ(r.exit, RunResult::Exit::kSignaled);
  EXPECT_EQ(r.signal, SIGKILL);
}

TEST_F(JobRunnerTest, TheJobsChildrenDieWithIt) {
  Recorder events;
  // A background child that would outlive its parent (and hold the pipe).
  RunResult r = Run(Launch("sleep 1000 &\n"
                           "echo $! > \"$1/child.pid\"\n" +
                           std::string(kWriteCheckpoint)),
                    events);
  EXPECT_EQ(r.exit_code, 0);
  const pid_t child = std::stoi(ReadFile(OutputDir() + "/child.pid"));
  EXPECT_TRUE(ProcessGone(child)) << "pid " << child << " survived its job";
}

TEST_F(JobRunnerTest, StopReachesTheWholeProcessGroup) {
  Recorder events;
  RunResult r = Run(Launch("sleep 1000 &\n"
                           "echo $! > \"$1/child.pid\"\n"
                           "echo ready\n"
                           "wait\n"),
                    events, [](JobRunner& runner, const std::string& out) {
                      if (out.find("ready") != std::string::npos) runner.Stop(5s);
                    });
  EXPECT_EQ(r.exit, RunResult::Exit::kSignaled);
  EXPECT_EQ(r.signal, SIGTERM);
  const pid_t child = std::stoi(ReadFile(OutputDir() + "/child.pid"));
  EXPECT_TRUE(ProcessGone(child));
}

TEST_F(JobRunnerTest, OutputGoesToJobLogAndChunksReassemble) {
  Recorder events;
  // ~200 KiB in many writes, so several 64 KiB chunks.
  RunResult r = Run(Launch("i=0; while [ $i -lt 4000 ]; do "
                           "echo \"line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; "
                           "i=$((i+1)); done\n"),
                    events);
  EXPECT_EQ(r.exit_code, 0);
  const std::string job_log = ReadFile(OutputDir() + "/job.log");
  EXPECT_EQ(job_log, events.output);
  EXPECT_NE(job_log.find("line 3999 "), std::string::npos);

  // What the agent would send: contiguous chunks that rebuild the log.
  LogBuffer buffer;
  buffer.Append(events.output);
  std::string rebuilt;
  while (auto chunk = buffer.Next()) {
    ASSERT_EQ(chunk->offset, static_cast<int64_t>(rebuilt.size()));
    ASSERT_LE(chunk->data.size(), LogBuffer::kMaxChunk);
    rebuilt += chunk->data;
    buffer.Acknowledge(chunk->offset, chunk->data.size());
  }
  EXPECT_EQ(rebuilt, job_log);
}

TEST_F(JobRunnerTest, CudaVisibleDevicesAndGpuPlaceholder) {
  Recorder events;
  JobLaunch launch = Launch("echo \"cuda=$CUDA_VISIBLE_DEVICES gpu=$2 job=$MIXSWEEP_JOB_ID\"\n"
                            "echo \"wandb=$WANDB_MODE\"\n");
  launch.gpu_indices = {1, 3};
  launch.gpu_uuids = {"GPU-b", "GPU-d"};
  (*launch.spec.mutable_env())["WANDB_MODE"] = "offline";
  Run(std::move(launch), events);
  // The job sees its GPUs by UUID; {gpu} stays the indices nvidia-smi gave.
  EXPECT_NE(events.output.find("cuda=GPU-b,GPU-d gpu=1,3 job=7"), std::string::npos)
      << events.output;
  EXPECT_NE(events.output.find("wandb=offline"), std::string::npos);
  ASSERT_TRUE(events.started.has_value());
  EXPECT_EQ(events.started->gpu_indices_size(), 2);
  EXPECT_EQ(events.started->gpu_uuids(1), "GPU-d");
  EXPECT_EQ(events.started->env().at("WANDB_MODE"), "offline");
}

TEST_F(JobRunnerTest, CpuJobSeesNoGpus) {
  Recorder events;
  setenv("CUDA_VISIBLE_DEVICES", "0,1", 1);  // the worker's own must not leak through
  Run(Launch("echo \"cuda=[$CUDA_VISIBLE_DEVICES]\"\n"), events);
  unsetenv("CUDA_VISIBLE_DEVICES");
  EXPECT_NE(events.output.find("cuda=[]"), std::string::npos) << events.output;
}

TEST_F(JobRunnerTest, SubsetManifestIsWrittenAndPassed) {
  Recorder events;
  Run(Launch("cat \"$3\"\n", /*with_manifest=*/true), events);
  const std::string manifest = OutputDir() + "/subset_manifest.json";
  EXPECT_EQ(ReadFile(manifest), R"({"episodes": [3, 1, 4]})");
  EXPECT_NE(events.output.find(R"({"episodes": [3, 1, 4]})"), std::string::npos);
  ASSERT_TRUE(events.started.has_value());
  EXPECT_EQ(events.started->subset_manifest_uri(), "file://" + manifest);
}

TEST_F(JobRunnerTest, ShellTemplateRunsThroughSh) {
  Recorder events;
  JobLaunch launch = Launch("");
  launch.spec.clear_argv();
  launch.spec.set_shell("echo steps={steps} | tr a-z A-Z; mkdir -p {output_dir}/checkpoints && "
                        "touch {output_dir}/checkpoints/last.ckpt");
  RunResult r = Run(std::move(launch), events);
  EXPECT_NE(events.output.find("STEPS=2000"), std::string::npos) << events.output;
  EXPECT_TRUE(r.checkpoint_exists);
  ASSERT_TRUE(events.started.has_value());
  EXPECT_TRUE(events.started->shell());
}

TEST_F(JobRunnerTest, RefusedTemplateFailsToStartForGood) {
  Recorder events;
  JobLaunch launch = Launch("");
  launch.spec.add_argv("{no_such_placeholder}");
  RunResult r = Run(std::move(launch), events);
  EXPECT_EQ(r.exit, RunResult::Exit::kStartFailed);
  EXPECT_FALSE(r.start_failure_retryable);
  EXPECT_FALSE(events.started.has_value());
  EXPECT_FALSE(fs::exists(OutputDir()));  // refused before touching the disk
}

TEST_F(JobRunnerTest, OutputOutsideTheArtifactRootIsRefused) {
  Recorder events;
  JobLaunch launch = Launch("true\n");
  launch.spec.set_output_uri("file:///etc/mixsweep-escape");
  RunResult r = Run(std::move(launch), events);
  EXPECT_EQ(r.exit, RunResult::Exit::kStartFailed);
  EXPECT_FALSE(r.start_failure_retryable);
}

TEST_F(JobRunnerTest, MissingProgramFailsToStart) {
  Recorder events;
  JobLaunch launch = Launch("");
  launch.spec.clear_argv();
  launch.spec.add_argv("/nonexistent/train.py");
  RunResult r = Run(std::move(launch), events);
  EXPECT_EQ(r.exit, RunResult::Exit::kStartFailed);
  EXPECT_TRUE(r.start_failure_retryable);
  EXPECT_NE(r.error.find("/nonexistent/train.py"), std::string::npos);
  TerminalAction a = DecideTerminal(StopReason::kNone, r, {});
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_START_FAILED);
}

TEST_F(JobRunnerTest, DeadlineStopsTheJob) {
  Recorder events;
  JobLaunch launch = Launch("echo ready\nwhile true; do sleep 0.05; done\n");
  launch.spec.mutable_deadline()->set_nanos(300'000'000);
  RunResult r = Run(std::move(launch), events, {}, ProcessRunnerOptions{.deadline_grace = 5s});
  EXPECT_TRUE(r.deadline_exceeded);
  EXPECT_EQ(DecideTerminal(StopReason::kNone, r, {}).failure.kind(),
            mixsweep::v1::JobFailure::KIND_DEADLINE_EXCEEDED);
}

// ---------------------------------------------------------------- synthetic

class SyntheticRunnerTest : public JobRunnerTest {
 protected:
  RunResult RunSynthetic(JobLaunch launch, Recorder& events, SyntheticRunnerOptions options,
                         std::function<void(JobRunner&)> after_start = {}) {
    boost::asio::io_context io;
    launch.synthetic = true;
    auto runner = MakeSyntheticRunner(io, std::move(launch), events, options);
    runner->Start();
    if (after_start) after_start(*runner);
    io.run();
    EXPECT_TRUE(events.result.has_value());
    return events.result.value_or(RunResult{});
  }
};

TEST_F(SyntheticRunnerTest, AdvancesStepsAndWritesAJsonCheckpoint) {
  Recorder events;
  JobLaunch launch = Launch("unused");
  launch.spec.set_init_checkpoint_uri("file://" + root_ + "/jobs/3/checkpoints/last.ckpt");
  launch.spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_FINETUNE);
  launch.spec.mutable_job()->set_source("teleop");
  launch.spec.mutable_job()->set_n_demos(200);
  launch.spec.mutable_job()->set_seed(2);
  RunResult r = RunSynthetic(std::move(launch), events, {.steps_per_second = 100000});
  EXPECT_EQ(r.exit, RunResult::Exit::kExited);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.checkpoint_exists);
  EXPECT_EQ(DecideTerminal(StopReason::kNone, r, {}).kind, TerminalAction::Kind::kComplete);
  auto checkpoint = nlohmann::json::parse(ReadFile(r.checkpoint));
  EXPECT_EQ(checkpoint["synthetic"], true);
  EXPECT_EQ(checkpoint["job_id"], 7);
  EXPECT_EQ(checkpoint["steps"], 2000);
  EXPECT_EQ(checkpoint["init_checkpoint"], "file://" + root_ + "/jobs/3/checkpoints/last.ckpt");
  // What the synthetic lab's "robot" reads to know which policy it runs.
  EXPECT_EQ(checkpoint["kind"], "JOB_KIND_FINETUNE");
  EXPECT_EQ(checkpoint["source"], "teleop");
  EXPECT_EQ(checkpoint["n_demos"], 200);
  EXPECT_EQ(checkpoint["seed"], 2);
  ASSERT_TRUE(events.started.has_value());
  EXPECT_TRUE(events.started->synthetic());
  ASSERT_FALSE(events.samples.empty());
  EXPECT_EQ(events.samples.back().step, 2000);
  EXPECT_NE(events.output.find("[synthetic]"), std::string::npos);
}

TEST_F(SyntheticRunnerTest, FailsOnRequest) {
  Recorder events;
  RunResult r = RunSynthetic(Launch("unused"), events, {.fail = true, .exit_code = 3});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.checkpoint_exists);
}

TEST_F(SyntheticRunnerTest, StopEndsItLikeSigterm) {
  Recorder events;
  JobLaunch launch = Launch("unused");
  launch.spec.mutable_job()->set_steps(1'000'000'000);
  RunResult r = RunSynthetic(std::move(launch), events, {.steps_per_second = 10},
                             [](JobRunner& runner) { runner.Stop(30s); });
  EXPECT_EQ(r.exit, RunResult::Exit::kSignaled);
  EXPECT_EQ(r.signal, SIGTERM);
}

TEST_F(SyntheticRunnerTest, BadTemplateFailsTheSameWay) {
  Recorder events;
  JobLaunch launch = Launch("unused");
  launch.spec.set_checkpoint_template("{bogus}/last.ckpt");
  RunResult r = RunSynthetic(std::move(launch), events, {});
  EXPECT_EQ(r.exit, RunResult::Exit::kStartFailed);
  EXPECT_FALSE(r.start_failure_retryable);
}

// ------------------------------------------------- generate and evaluate jobs
//
// Real processes, judged by the result files they leave (InspectOutputs then
// DecideJobTerminal), not by their exit code.

class ResultFileTest : public SyntheticRunnerTest {
 protected:
  // A MimicGen-like generate job wanting `n_demos`; $1 is {output_dir}.
  JobLaunch Generate(const std::string& script, int64_t n_demos) {
    JobLaunch launch = Launch(script);
    launch.spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_GENERATE);
    launch.spec.mutable_job()->set_n_demos(n_demos);
    launch.spec.mutable_job()->set_steps(0);
    launch.spec.set_checkpoint_template("");  // the dataset: {output_dir}
    launch.spec.set_result_format("mimicgen");
    launch.spec.set_result_file_template("{output_dir}/important_stats.json");
    return launch;
  }

  // An evaluate job of `n_episodes` of the checkpoint of job 3; $1 is
  // {output_dir}, $3 {checkpoint}, $4 {n_episodes}, $5 {seed}.
  JobLaunch Evaluate(const std::string& script, int n_episodes, const std::string& format,
                     const std::string& result_file) {
    JobLaunch launch = Launch(script);
    mixsweep::v1::JobSpec& spec = launch.spec;
    spec.mutable_job()->set_kind(mixsweep::v1::JOB_KIND_EVALUATE);
    spec.mutable_job()->set_steps(0);
    spec.mutable_job()->set_seed(100000);
    spec.add_argv("{checkpoint}");
    spec.add_argv("{n_episodes}");
    spec.add_argv("{seed}");
    spec.set_checkpoint_template("");
    spec.set_result_format(format);
    spec.set_result_file_template(result_file);
    mixsweep::v1::EvaluationTask& task = *spec.mutable_evaluation();
    task.set_request_id(5);
    task.set_scenario("sim_in_domain");
    task.set_checkpoint_uri("file://" + root_ + "/jobs/3/checkpoints/last.ckpt");
    task.set_n_episodes(n_episodes);
    task.set_checkpoint_step(2000);
    return launch;
  }

  TerminalAction Judge(const JobLaunch& launch, const RunResult& r) {
    return DecideJobTerminal(StopReason::kNone, r, launch.spec);
  }
};

constexpr const char* kMimicgenRun =
    "for i in 1 2 3; do echo 'trial '$i' success: True'; "
    "echo \"have $((i * 4)) successes out of $((i * 5)) trials so far\"; done\n"
    "cat > \"$1/important_stats.json\" <<EOF\n"
    "{\"generation_path\": \"$1\", \"success_rate\": 80.0, \"failure_rate\": 20.0,\n"
    " \"num_success\": 12, \"num_failures\": 3, \"num_attempts\": 15, \"num_problematic\": 0,\n"
    " \"time spent (hrs)\": \"0.00\"}\n"
    "EOF\n";

TEST_F(ResultFileTest, GenerateJobIsJudgedByItsSummary) {
  Recorder events;
  JobLaunch launch = Generate(kMimicgenRun, 12);
  RunResult r = Run(launch, events);
  ASSERT_EQ(r.exit_code, 0) << r.log_tail;
  // MimicGen's progress lines: demos made so far, attempts as a metric.
  ASSERT_EQ(events.samples.size(), 3u);
  EXPECT_EQ(events.samples.back().step, 12);
  EXPECT_EQ(events.samples.back().metrics.at("attempts"), 15);
  EXPECT_EQ(r.result_file.state, ResultFileRead::State::kRead);
  EXPECT_EQ(r.result_file.path, OutputDir() + "/important_stats.json");
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  EXPECT_EQ(a.checkpoint_uri, OutputDir());  // the generated dataset
  ASSERT_TRUE(a.generation.has_value());
  EXPECT_EQ(a.generation->num_success(), 12);
  EXPECT_EQ(a.generation->num_attempts(), 15);
  EXPECT_DOUBLE_EQ(a.generation->success_rate(), 0.8);
  EXPECT_EQ(a.generation->seconds(), r.wall_seconds);
}

TEST_F(ResultFileTest, GeneratorExitingZeroWithoutASummaryIsBadResult) {
  Recorder events;
  JobLaunch launch =
      Generate("echo 'Traceback (most recent call last): RuntimeError: mujoco' >&2\nexit 0\n", 10);
  RunResult r = Run(launch, events);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.result_file.state, ResultFileRead::State::kMissing);
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_BAD_RESULT);
  EXPECT_TRUE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find(OutputDir() + "/important_stats.json does not exist"),
            std::string::npos)
      << a.failure.message();
  EXPECT_NE(a.failure.message().find("RuntimeError: mujoco"), std::string::npos);
}

TEST_F(ResultFileTest, GeneratorWithTooFewDemosIsBadResultForGood) {
  Recorder events;
  JobLaunch launch = Generate(kMimicgenRun, 1000);
  TerminalAction a = Judge(launch, Run(launch, events));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("generated 12 of the 1000 demos wanted"), std::string::npos)
      << a.failure.message();
}

// eval_info.json as lerobot-eval writes it, for $4 episodes from seed $5.
constexpr const char* kLerobotEval =
    "echo \"evaluating $3\"\n"
    "{ echo '{\"per_episode\": ['; i=0; while [ $i -lt $4 ]; do\n"
    "  [ $i -gt 0 ] && echo ','\n"
    "  echo \"{\\\"episode_ix\\\": $i, \\\"sum_reward\\\": $i.5, \\\"max_reward\\\": 1.0,"
    " \\\"success\\\": true, \\\"seed\\\": $(($5 + i))}\"\n"
    "  i=$((i + 1)); done\n"
    "  echo '], \"aggregated\": {\"pc_success\": 100.0}}'; } > \"$1/eval_info.json\"\n";

TEST_F(ResultFileTest, EvaluateJobReportsEveryEpisodeOfItsResultFile) {
  Recorder events;
  JobLaunch launch = Evaluate(kLerobotEval, 4, "lerobot", "{output_dir}/eval_info.json");
  RunResult r = Run(launch, events);
  ASSERT_EQ(r.exit_code, 0) << r.log_tail;
  // {checkpoint} renders as a path: a file:// URI is for the worker only.
  EXPECT_NE(events.output.find("evaluating " + root_ + "/jobs/3/checkpoints/last.ckpt"),
            std::string::npos)
      << events.output;
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  EXPECT_EQ(a.checkpoint_uri, OutputDir() + "/eval_info.json");
  ASSERT_EQ(a.episodes.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.episodes[i].index(), i);
    EXPECT_TRUE(a.episodes[i].success());
    EXPECT_EQ(a.episodes[i].score(), 1.0);
    EXPECT_EQ(a.episodes[i].seed(), 100000 + i);
    EXPECT_EQ(a.episodes[i].sum_reward(), i + 0.5);
    EXPECT_TRUE(a.episodes[i].has_rewards());
  }
}

TEST_F(ResultFileTest, EvaluateJobWithTooManyEpisodesIsBadResult) {
  Recorder events;
  // The tool evaluates 5 where 4 were asked for.
  std::string script = kLerobotEval;
  script.replace(script.find("-lt $4"), 6, "-lt 5");
  JobLaunch launch = Evaluate(script, 4, "lerobot", "{output_dir}/eval_info.json");
  TerminalAction a = Judge(launch, Run(launch, events));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_NE(a.failure.message().find("episodes beyond the requested count (4)"), std::string::npos)
      << a.failure.message();
  EXPECT_TRUE(a.episodes.empty());
}

TEST_F(ResultFileTest, ResultFileThroughASymbolicLinkIsNotRead) {
  Recorder events;
  JobLaunch launch = Evaluate("ln -s /etc/passwd \"$1/eval_info.json\"\n", 1, "lerobot",
                              "{output_dir}/eval_info.json");
  RunResult r = Run(launch, events);
  EXPECT_EQ(r.result_file.state, ResultFileRead::State::kUnreadable);
  EXPECT_TRUE(r.result_file.text.empty());
  TerminalAction a = Judge(launch, r);
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_BAD_RESULT);
  EXPECT_FALSE(a.failure.retryable());
  EXPECT_EQ(a.failure.message().find("root:"), std::string::npos);
}

TEST_F(ResultFileTest, BadSeedJobSpecsAreRefusedBeforeRunning) {
  const auto refused = [&](JobLaunch launch, const std::string& why) {
    Recorder events;
    RunResult r = Run(std::move(launch), events);
    EXPECT_EQ(r.exit, RunResult::Exit::kStartFailed) << why;
    EXPECT_FALSE(r.start_failure_retryable) << why;
    EXPECT_NE(r.error.find(why), std::string::npos) << r.error;
    EXPECT_FALSE(events.started.has_value());
  };
  JobLaunch launch = Evaluate("exit 0\n", 1, "lerobot", "{output_dir}/eval_info.json");
  launch.spec.mutable_evaluation()->set_checkpoint_uri("/etc/shadow");
  refused(launch, "{checkpoint}: /etc/shadow is not under an allowed root");
  launch = Evaluate("exit 0\n", 1, "lerobot", "{output_dir}/eval_info.json");
  launch.spec.mutable_evaluation()->set_checkpoint_uri("");
  refused(launch, "{checkpoint} is empty");
  refused(Evaluate("exit 0\n", 1, "lerobot", "/tmp/eval_info.json"),
          "result_file: /tmp/eval_info.json is not under the job's output directory");
  refused(Evaluate("exit 0\n", 1, "csv", ""), "result_format \"csv\" is not an evaluation format");
  refused(Evaluate("exit 0\n", 0, "mixsweep", ""), "evaluation.n_episodes is 0");
  JobLaunch generate = Generate("exit 0\n", 10);
  generate.spec.set_result_format("lerobot");
  refused(generate, "is not a generation summary format");
  JobLaunch train = Launch("exit 0\n");
  train.spec.add_checkpoint_steps(1000);
  train.spec.add_checkpoint_steps(2000);
  refused(train, "no checkpoint_at_step_template");
  train.spec.set_checkpoint_at_step_template("{output_dir}/checkpoints/mid.ckpt");
  refused(train, "both render to");
  train.spec.set_checkpoint_at_step_template("/tmp/{step}.ckpt");
  refused(train, "checkpoint_at_step: /tmp/1000.ckpt is not under the job's output directory");
}

TEST_F(ResultFileTest, EvaluateResultFileDefaultsByFormat) {
  Recorder events;
  JobLaunch launch = Evaluate(
      "echo '{\"test/sim_max_reward_100000\": 0.5, \"train/sim_max_reward_0\": 1.0}' "
      "> \"$1/eval_log.json\"\n",
      1, "diffusion_policy", "");
  RunResult r = Run(launch, events);
  EXPECT_EQ(r.result_file.path, OutputDir() + "/eval_log.json");
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  ASSERT_EQ(a.episodes.size(), 1u);
  EXPECT_EQ(a.episodes[0].score(), 0.5);
  EXPECT_FALSE(a.episodes[0].success());
  EXPECT_EQ(a.episodes[0].seed(), 100000);
}

TEST_F(ResultFileTest, StepCheckpointsMustAllBeWritten) {
  const std::string save_1000 =
      std::string(kWriteCheckpoint) + "echo w > \"$1/checkpoints/1000.ckpt\"\n";
  JobLaunch launch = Launch(save_1000);
  launch.spec.add_checkpoint_steps(1000);
  launch.spec.add_checkpoint_steps(2000);
  launch.spec.set_checkpoint_at_step_template("{output_dir}/checkpoints/{step}.ckpt");
  Recorder events;
  TerminalAction a = Judge(launch, Run(launch, events));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kFail);
  EXPECT_EQ(a.failure.kind(), mixsweep::v1::JobFailure::KIND_CHECKPOINT_MISSING);
  EXPECT_NE(a.failure.message().find("step 2000 " + OutputDir() + "/checkpoints/2000.ckpt"),
            std::string::npos)
      << a.failure.message();

  launch = Launch(save_1000 + "echo w > \"$1/checkpoints/2000.ckpt\"\n");
  launch.spec.add_checkpoint_steps(1000);
  launch.spec.add_checkpoint_steps(2000);
  launch.spec.set_checkpoint_at_step_template("{output_dir}/checkpoints/{step}.ckpt");
  Recorder again;
  a = Judge(launch, Run(launch, again));
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  ASSERT_EQ(a.step_checkpoints.size(), 2u);
  EXPECT_EQ(a.step_checkpoints[0].step(), 1000);
  EXPECT_EQ(a.step_checkpoints[0].uri(), OutputDir() + "/checkpoints/1000.ckpt");
  EXPECT_EQ(a.checkpoint_uri, OutputDir() + "/checkpoints/last.ckpt");
}

// The synthetic executor writes what the tools would and is judged the same.
TEST_F(ResultFileTest, SyntheticGenerateMakesTheDemosWanted) {
  Recorder events;
  JobLaunch launch = Generate("unused", 40);
  RunResult r = RunSynthetic(launch, events, {.steps_per_second = 100000});
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  EXPECT_EQ(a.generation->num_success(), 40);
  EXPECT_EQ(a.generation->num_attempts(), 50);  // ceil(40 / 0.8)
  EXPECT_DOUBLE_EQ(a.generation->success_rate(), 0.8);
  EXPECT_TRUE(fs::exists(OutputDir() + "/synthetic_dataset.json"));
  ASSERT_FALSE(events.samples.empty());
  EXPECT_EQ(events.samples.back().step, 40);
  EXPECT_EQ(events.samples.back().metrics.at("attempts"), 50);
  EXPECT_EQ(SyntheticGenerationAttempts(1000), 1250);
  EXPECT_EQ(SyntheticGenerationAttempts(1), 2);
}

TEST_F(ResultFileTest, SyntheticEvaluateInEveryFormatIsDeterministic) {
  for (const char* format : {"lerobot", "diffusion_policy", "mixsweep"}) {
    Recorder events;
    JobLaunch launch = Evaluate("unused", 20, format, "");
    RunResult r = RunSynthetic(launch, events, {.steps_per_second = 100000});
    TerminalAction a = Judge(launch, r);
    ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << format << ": " << a.failure.message();
    const std::vector<EpisodeResult> expected = SyntheticEvaluation(
        launch.spec.evaluation().checkpoint_uri(), 20, launch.spec.job().seed());
    ASSERT_EQ(a.episodes.size(), 20u) << format;
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(a.episodes[i].success(), expected[i].success) << format << " episode " << i;
      EXPECT_EQ(a.episodes[i].seed(), 100000 + i) << format;
    }
    fs::remove_all(OutputDir());
  }
  // The same checkpoint, the same outcomes; another checkpoint, others; and
  // about 60% of them successes (fixed URIs: the test's own are random).
  const auto a = SyntheticEvaluation("/art/a.ckpt", 100, 0);
  const auto b = SyntheticEvaluation("/art/b.ckpt", 100, 0);
  int differ = 0, successes = 0;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(a[i].success, SyntheticEvaluation("/art/a.ckpt", 100, 0)[i].success);
    differ += a[i].success != b[i].success ? 1 : 0;
    successes += a[i].success ? 1 : 0;
  }
  EXPECT_GT(differ, 0);
  EXPECT_GT(successes, 40);
  EXPECT_LT(successes, 80);
}

TEST_F(ResultFileTest, SyntheticTrainingWritesItsStepCheckpoints) {
  Recorder events;
  JobLaunch launch = Launch("unused");
  launch.spec.add_checkpoint_steps(500);
  launch.spec.add_checkpoint_steps(1000);
  launch.spec.set_checkpoint_at_step_template("{output_dir}/checkpoints/{step}.ckpt");
  RunResult r = RunSynthetic(launch, events, {.steps_per_second = 100000});
  TerminalAction a = Judge(launch, r);
  ASSERT_EQ(a.kind, TerminalAction::Kind::kComplete) << a.failure.message();
  ASSERT_EQ(a.step_checkpoints.size(), 2u);
  auto checkpoint = nlohmann::json::parse(ReadFile(OutputDir() + "/checkpoints/500.ckpt"));
  EXPECT_EQ(checkpoint["steps"], 500);
  EXPECT_EQ(checkpoint["synthetic"], true);
}

}  // namespace
}  // namespace mixsweep::workers
