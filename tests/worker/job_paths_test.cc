// Where a worker writes and reads (PrepareJob, workers/agent/job_runner.h),
// whatever the server sends: a compromised or buggy scheduler must not make
// it write outside the job's own output directory under the artifact root,
// nor hand a file outside the artifact root (/etc/shadow) to a training
// tool. Each case checks the refusal, that it is INVALID_ARGUMENT (the job
// fails at start, not retried), and that nothing was written outside.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "workers/agent/job_runner.h"

namespace mixsweep::workers {
namespace {

namespace fs = std::filesystem;

// (This binary links GoogleTest without GoogleMock.)
::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

class JobPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/mixsweep-paths-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    base_ = pattern;
    root_ = base_ + "/art";
    outside_ = base_ + "/outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
    std::ofstream(outside_ + "/secret") << "do not read";
  }
  void TearDown() override { fs::remove_all(base_); }

  std::string OutputDir() const { return root_ + "/sweep-7/job-42/attempt-1"; }

  // A finetune as the scheduler sends it: every path under the root.
  JobLaunch Launch() const {
    JobLaunch launch;
    mixsweep::v1::JobSpec& spec = launch.spec;
    spec.mutable_job()->set_id(42);
    spec.mutable_job()->set_sweep_id(7);
    spec.mutable_job()->set_steps(3000);
    spec.mutable_job()->mutable_dataset()->set_uri("file:///data/pick_dual_bottles");
    spec.add_argv("python");
    spec.add_argv("train.py");
    spec.add_argv("--out={output_dir}");
    spec.add_argv("--init={init_checkpoint}");
    spec.add_argv("--episodes={subset_manifest}");
    spec.set_checkpoint_template("{output_dir}/checkpoints/last.ckpt");
    spec.set_output_uri("file://" + OutputDir());
    spec.set_init_checkpoint_uri("file://" + root_ + "/sweep-7/job-40/attempt-1/last.ckpt");
    spec.set_subset_manifest_json(R"({"episodes": [3, 1, 4]})");
    launch.artifact_root = root_;
    launch.worker_host = "test-host";
    return launch;
  }

  // Nothing but `secret` in the outside directory.
  void ExpectOutsideUntouched() const {
    int entries = 0;
    for (const auto& entry : fs::recursive_directory_iterator(outside_)) {
      ++entries;
      EXPECT_EQ(entry.path().filename(), "secret") << entry.path();
    }
    EXPECT_EQ(entries, 1);
  }

  void ExpectRefused(const JobLaunch& launch, const std::string& why) const {
    absl::StatusOr<PreparedJob> job = PrepareJob(launch);
    ASSERT_FALSE(job.ok()) << why << ": prepared, output dir " << job->output_dir;
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << job.status();
    EXPECT_TRUE(Contains(std::string(job.status().message()), why));
    EXPECT_FALSE(fs::exists(OutputDir() + "/subset_manifest.json"));
    ExpectOutsideUntouched();
  }

  std::string base_, root_, outside_;
};

TEST_F(JobPathsTest, AJobUnderTheRootIsPrepared) {
  absl::StatusOr<PreparedJob> job = PrepareJob(Launch());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->output_dir, OutputDir());
  EXPECT_TRUE(fs::is_directory(OutputDir()));
  EXPECT_TRUE(fs::exists(OutputDir() + "/subset_manifest.json"));
  EXPECT_EQ(job->command.checkpoint, OutputDir() + "/checkpoints/last.ckpt");
  ExpectOutsideUntouched();
}

// The output directory is checked even when the template never names it:
// the worker itself writes job.log and the manifest there.
TEST_F(JobPathsTest, OutputDirOutsideTheRootIsRefusedEvenUnused) {
  JobLaunch launch = Launch();
  launch.spec.clear_argv();
  launch.spec.add_argv("true");
  launch.spec.set_checkpoint_template("s3://bucket/ckpt");  // nothing names {output_dir}
  for (const std::string& uri :
       {"file://" + outside_ + "/job", outside_ + "/job", root_ + "/../outside/job",
        root_ + "-evil/job", std::string("file://evil.example") + root_ + "/job"}) {
    launch.spec.set_output_uri(uri);
    SCOPED_TRACE(uri);
    absl::StatusOr<PreparedJob> job = PrepareJob(launch);
    ASSERT_FALSE(job.ok());
    // A URI with a host is not a local path at all (FAILED_PRECONDITION, as
    // before); every other one names {output_dir}.
    if (uri.find("evil.example") == std::string::npos) {
      EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << job.status();
      EXPECT_TRUE(Contains(std::string(job.status().message()), "{output_dir}"));
    }
    ExpectOutsideUntouched();
    EXPECT_FALSE(fs::exists(root_ + "-evil"));
  }
}

TEST_F(JobPathsTest, OutputDirMayNotBeTheRootItself) {
  JobLaunch launch = Launch();
  launch.spec.set_output_uri("file://" + root_ + "/");
  ExpectRefused(launch, "is the artifact root itself");
}

TEST_F(JobPathsTest, AnArtifactRootThatConfinesNothingIsRefused) {
  for (const std::string& root : {std::string("/"), std::string("relative/art"),
                                  root_ + "/../outside"}) {
    JobLaunch launch = Launch();
    launch.artifact_root = root;
    SCOPED_TRACE(root);
    ExpectRefused(launch, "confines nothing");
  }
}

// The checkpoint is what the job writes (the synthetic executor writes it
// itself): under the job's own output directory, or a remote URI this
// worker never opens.
TEST_F(JobPathsTest, CheckpointOutsideTheOutputDirIsRefused) {
  for (const std::string& checkpoint :
       {outside_ + "/last.ckpt", "file://" + outside_ + "/last.ckpt",
        std::string("{output_dir}/../../../../outside/last.ckpt"),
        root_ + "/sweep-7/job-41/attempt-1/last.ckpt", std::string("checkpoints/last.ckpt")}) {
    JobLaunch launch = Launch();
    launch.spec.set_checkpoint_template(checkpoint);
    SCOPED_TRACE(checkpoint);
    ExpectRefused(launch, "is not under the job's output directory");
  }
  JobLaunch remote = Launch();
  remote.spec.set_checkpoint_template("s3://lab-bucket/ckpt/{job_id}");
  absl::StatusOr<PreparedJob> job = PrepareJob(remote);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->command.checkpoint, "s3://lab-bucket/ckpt/42");
}

// Defence in depth: the checkpoints a job reads come from the server; one
// outside the artifact root is refused whether or not the template passes
// it on (the synthetic executor records it; a later template may use it).
TEST_F(JobPathsTest, CheckpointsToReadOutsideTheRootAreRefusedEvenUnused) {
  for (bool used : {true, false}) {
    for (const std::string& uri : {std::string("file:///etc/shadow"), std::string("/etc/shadow"),
                                   "file://" + outside_ + "/secret",
                                   "file://" + root_ + "/../outside/secret",
                                   "file://" + root_ + "/%2e%2e/outside/secret"}) {
      for (bool resume : {false, true}) {
        JobLaunch launch = Launch();
        if (!used) {
          launch.spec.clear_argv();
          launch.spec.add_argv("true");
        }
        if (resume) {
          launch.spec.set_resume_checkpoint_uri(uri);
        } else {
          launch.spec.set_init_checkpoint_uri(uri);
        }
        SCOPED_TRACE(absl::StrCat(uri, resume ? " as resume" : " as init",
                                  used ? ", used" : ", unused"));
        ExpectRefused(launch, resume ? "{resume_checkpoint}" : "{init_checkpoint}");
      }
    }
  }
}

// The renderer's check is textual; the worker resolves symbolic links
// before it creates anything.
TEST_F(JobPathsTest, SymbolicLinksOutOfTheRootAreResolved) {
  fs::create_symlink(outside_, root_ + "/sweep-7");
  ExpectRefused(Launch(), "through a symbolic link");
  EXPECT_FALSE(fs::exists(outside_ + "/job-42"));

  fs::remove(root_ + "/sweep-7");
  fs::create_symlink(outside_, root_ + "/link");
  JobLaunch launch = Launch();
  launch.spec.set_init_checkpoint_uri("file://" + root_ + "/link/secret");
  ExpectRefused(launch, "{init_checkpoint}");
  launch = Launch();
  launch.spec.set_resume_checkpoint_uri(root_ + "/link/secret");
  ExpectRefused(launch, "{resume_checkpoint}");
}

// Files the worker writes into the output directory are never written
// through a link (a previous process could have left one).
TEST_F(JobPathsTest, FilesTheWorkerWritesAreNotSymbolicLinks) {
  for (const char* file : {"job.log", "subset_manifest.json"}) {
    fs::create_directories(OutputDir());
    fs::create_symlink(outside_ + "/secret", OutputDir() + "/" + file);
    absl::StatusOr<PreparedJob> job = PrepareJob(Launch());
    ASSERT_FALSE(job.ok()) << file;
    EXPECT_TRUE(Contains(std::string(job.status().message()), "is a symbolic link")) << file;
    std::ifstream secret(outside_ + "/secret");
    std::string content((std::istreambuf_iterator<char>(secret)), {});
    EXPECT_EQ(content, "do not read");
    fs::remove_all(root_ + "/sweep-7");
  }
}

}  // namespace
}  // namespace mixsweep::workers
