#include "workers/agent/synthetic_runner.h"

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace mixsweep::workers {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

class SyntheticRunner : public JobRunner, public std::enable_shared_from_this<SyntheticRunner> {
 public:
  SyntheticRunner(asio::io_context& io, JobLaunch launch, JobEvents& events,
                  SyntheticRunnerOptions options)
      : io_(io),
        launch_(std::move(launch)),
        events_(events),
        options_(options),
        tick_timer_(io),
        deadline_timer_(io) {}

  void Start() override {
    started_at_ = Clock::now();
    total_steps_ = std::max<int64_t>(TotalStepsOf(launch_.spec), 0);
    absl::StatusOr<PreparedJob> prepared = PrepareJob(launch_);
    if (!prepared.ok()) {
      RunResult result;
      result.exit = RunResult::Exit::kStartFailed;
      result.error = std::string(prepared.status().message());
      result.start_failure_retryable = !absl::IsInvalidArgument(prepared.status());
      Finish(std::move(result));
      return;
    }
    prepared_ = *std::move(prepared);
    asio::post(io_, [self = shared_from_this()] {
      if (self->finished_) return;
      self->events_.OnStarted(self->prepared_.provenance);
      self->Log(absl::StrCat("[synthetic] job ", self->launch_.spec.job().id(), ": ",
                             self->total_steps_, " steps at ", self->options_.steps_per_second,
                             " steps/s\n"));
      self->Tick();
    });
    if (launch_.spec.has_deadline()) {
      deadline_timer_.expires_after(std::chrono::seconds(launch_.spec.deadline().seconds()) +
                                    std::chrono::milliseconds(launch_.spec.deadline().nanos() /
                                                              1000000));
      deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (ec || self->finished_) return;
        self->deadline_exceeded_ = true;
        self->Stop(std::chrono::milliseconds(0));
      });
    }
  }

  // There is no process: the job ends at once, as a process killed by
  // SIGTERM would.
  void Stop(std::chrono::milliseconds) override {
    if (finished_) return;
    Log("[synthetic] stopped\n");
    RunResult result = ResultSoFar();
    result.exit = RunResult::Exit::kSignaled;
    result.signal = SIGTERM;
    Finish(std::move(result));
  }

 private:
  void Tick() {
    if (finished_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - started_at_).count();
    const int64_t step = std::min<int64_t>(
        total_steps_, static_cast<int64_t>(elapsed * options_.steps_per_second));
    if (step != step_ || !reported_) {
      step_ = step;
      reported_ = true;
      ProgressSample sample{.step = step_, .metrics = Metrics()};
      events_.OnProgress(sample);
    }
    if (Clock::now() - last_log_ >= std::chrono::seconds(1)) {
      last_log_ = Clock::now();
      std::string line = absl::StrCat("[synthetic] step ", step_, "/", total_steps_);
      for (const auto& [name, value] : Metrics()) absl::StrAppend(&line, " ", name, " ", value);
      Log(line + "\n");
    }
    if (step_ >= total_steps_) {
      End();
      return;
    }
    tick_timer_.expires_after(options_.tick);
    tick_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Tick();
    });
  }

  void End() {
    RunResult result = ResultSoFar();
    result.exit = RunResult::Exit::kExited;
    if (options_.fail) {
      Log(absl::StrCat("[synthetic] failing on purpose with exit code ", options_.exit_code, "\n"));
      result.exit_code = options_.exit_code;
    } else if (std::string error = WriteOutputs(); !error.empty()) {
      Log(absl::StrCat("[synthetic] ", error, "\n"));
      result.exit_code = 1;
    } else {
      Log(absl::StrCat("[synthetic] wrote checkpoint ", prepared_.command.checkpoint, "\n"));
    }
    result.checkpoint_exists = CheckpointExists(result.checkpoint);
    InspectOutputs(prepared_, result);
    Finish(std::move(result));
  }

  // What the job's kind writes; "" on success, else why not.
  std::string WriteOutputs() {
    const v1::JobSpec& spec = launch_.spec;
    switch (spec.job().kind()) {
      case v1::JOB_KIND_GENERATE: {
        if (std::string error = WriteCheckpoint(); !error.empty()) return error;
        const int64_t wanted = std::max<int64_t>(spec.job().n_demos(), 0);
        return WriteText(prepared_.result_file,
                         WriteGenerationSummary(wanted, SyntheticGenerationAttempts(wanted),
                                                prepared_.command.checkpoint));
      }
      case v1::JOB_KIND_EVALUATE: {
        // PrepareJob refused any other format.
        const EvaluationFormat format =
            ParseEvaluationFormat(ResultFormatOf(spec)).value_or(EvaluationFormat::kMixsweep);
        return WriteText(prepared_.result_file,
                         WriteEvaluationResult(format, SyntheticEvaluation(
                                                           spec.evaluation().checkpoint_uri(),
                                                           spec.evaluation().n_episodes(),
                                                           spec.job().seed())));
      }
      default:
        for (const auto& [step, uri] : prepared_.step_checkpoints) {
          if (std::string error = WriteCheckpointAt(uri, step); !error.empty()) return error;
        }
        return WriteCheckpoint();
    }
  }

  std::string WriteCheckpoint() { return WriteCheckpointAt(prepared_.command.checkpoint, step_); }

  // "" on success, else why not. A directory (a generate job's default
  // "{output_dir}") gets the JSON inside it.
  std::string WriteCheckpointAt(const std::string& location, int64_t steps) {
    std::string path = LocalPathOf(location);
    if (path.empty()) return "checkpoint " + location + " is not a local path";
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
      path += launch_.spec.job().kind() == v1::JOB_KIND_GENERATE ? "/synthetic_dataset.json"
                                                                 : "/synthetic_checkpoint.json";
    }
    // kind, source, n_demos and seed let a synthetic lab's "robot" tell which
    // policy it runs (services/lab); the operator still sees only a label.
    const v1::Job& job = launch_.spec.job();
    nlohmann::json checkpoint = {{"synthetic", true},
                                 {"job_id", job.id()},
                                 {"steps", steps},
                                 {"init_checkpoint", launch_.spec.init_checkpoint_uri()},
                                 {"kind", v1::JobKind_Name(job.kind())},
                                 {"source", job.source()},
                                 {"n_demos", job.n_demos()},
                                 {"seed", job.seed()}};
    return WriteText(path, checkpoint.dump() + "\n");
  }

  // Writes `text` to the local `path`, creating its directory; "" on success.
  static std::string WriteText(const std::string& path, const std::string& text) {
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
    if (error) return "creating the directory of " + path + ": " + error.message();
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    return out ? "" : "writing " + path + " failed";
  }

  double Loss() const { return 1.0 / (1.0 + static_cast<double>(step_) / 1000.0); }

  // A training job's loss; a generate job's attempts so far.
  std::map<std::string, double> Metrics() const {
    switch (launch_.spec.job().kind()) {
      case v1::JOB_KIND_GENERATE:
        return {{"attempts", static_cast<double>(SyntheticGenerationAttempts(step_))}};
      case v1::JOB_KIND_EVALUATE:
        return {};
      default:
        return {{"loss", Loss()}};
    }
  }

  void Log(const std::string& line) {
    tail_.Append(line);
    events_.OnOutput(line);
  }

  RunResult ResultSoFar() {
    RunResult result;
    result.checkpoint = prepared_.command.checkpoint;
    result.checkpoint_exists = CheckpointExists(result.checkpoint);
    result.wall_seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
    result.deadline_exceeded = deadline_exceeded_;
    result.last_step = step_;
    result.last_metrics = Metrics();
    return result;
  }

  // OnExit is always posted: never from inside Start() or Stop().
  void Finish(RunResult result) {
    finished_ = true;
    tick_timer_.cancel();
    deadline_timer_.cancel();
    result.log_tail = tail_.Text();
    asio::post(io_, [self = shared_from_this(), result = std::move(result)] {
      self->events_.OnExit(result);
    });
  }

  asio::io_context& io_;
  JobLaunch launch_;
  JobEvents& events_;
  SyntheticRunnerOptions options_;
  PreparedJob prepared_;
  asio::steady_timer tick_timer_, deadline_timer_;
  LogTail tail_;
  Clock::time_point started_at_;
  Clock::time_point last_log_ = Clock::now();
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
  bool reported_ = false;
  bool deadline_exceeded_ = false;
  bool finished_ = false;
};

}  // namespace

int64_t SyntheticGenerationAttempts(int64_t n_demos) {
  // ceil(n / 0.8) == ceil(5n / 4), in integers.
  return std::max<int64_t>(1, (std::max<int64_t>(n_demos, 0) * 5 + 3) / 4);
}

std::vector<EpisodeResult> SyntheticEvaluation(std::string_view checkpoint_uri,
                                               int64_t n_episodes, int64_t seed) {
  std::vector<EpisodeResult> episodes;
  for (int64_t i = 0; i < n_episodes; ++i) {
    // FNV-1a, 64 bits: stable across machines and builds (std::hash is not).
    uint64_t hash = 14695981039346656037ull;
    const std::string key = absl::StrCat(std::string(checkpoint_uri), "#", i);
    for (unsigned char c : key) {
      hash ^= c;
      hash *= 1099511628211ull;
    }
    const bool success = hash % 100 < 60;
    const double score = success ? 1.0 : 0.0;
    episodes.push_back(EpisodeResult{.index = static_cast<int32_t>(i),
                                     .success = success,
                                     .score = score,
                                     .seed = seed + i,
                                     .sum_reward = score,
                                     .max_reward = score});
  }
  return episodes;
}

std::shared_ptr<JobRunner> MakeSyntheticRunner(asio::io_context& io, JobLaunch launch,
                                               JobEvents& events, SyntheticRunnerOptions options) {
  return std::make_shared<SyntheticRunner>(io, std::move(launch), events, options);
}

}  // namespace mixsweep::workers
