// GPU probing from nvidia-smi (workers/gpu_probe.h). ProbeGpus runs fake
// nvidia-smi scripts written to a temporary directory.
#include "workers/gpu_probe.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mixsweep::workers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The line an H100 host printed (STACK.md), byte for byte.
constexpr char kH100Line[] =
    "0, NVIDIA H100 80GB HBM3, 81559, 0, 0, GPU-4ff03885-1b56-12d1-6164-91582ae62b02";

MATCHER_P6(IsGpu, index, name, total, used, utilization, uuid, "") {
  return arg.index == index && arg.name == name && arg.memory_total_mib == total &&
         arg.memory_used_mib == used && arg.utilization_percent == utilization &&
         arg.uuid == uuid;
}

TEST(WorkerGpuCsvTest, ReadsTheRealH100Line) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(kH100Line);
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, ElementsAre(IsGpu(0, "NVIDIA H100 80GB HBM3", 81559, 0, 0,
                                       "GPU-4ff03885-1b56-12d1-6164-91582ae62b02")));
}

TEST(WorkerGpuCsvTest, ReadsSeveralGpusWithCrlfAndATrailingNewline) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(
      "0, NVIDIA A100-SXM4-40GB, 40960, 1024, 37, GPU-aaaa\r\n"
      "1, NVIDIA A100-SXM4-40GB, 40960, 39000, 100, GPU-bbbb\r\n"
      "\n"
      "2, NVIDIA GeForce RTX 4090, 24564, 3, 0, GPU-cccc\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, ElementsAre(IsGpu(0, "NVIDIA A100-SXM4-40GB", 40960, 1024, 37, "GPU-aaaa"),
                                 IsGpu(1, "NVIDIA A100-SXM4-40GB", 40960, 39000, 100, "GPU-bbbb"),
                                 IsGpu(2, "NVIDIA GeForce RTX 4090", 24564, 3, 0, "GPU-cccc")));
}

TEST(WorkerGpuCsvTest, UnavailableUtilizationReadsAsZero) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(
      "0, NVIDIA H100 80GB HBM3, 81559, 10, [N/A], GPU-a\n"
      "1, NVIDIA H100 80GB HBM3, 81559, 10, [Not Supported], GPU-b\n");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  ASSERT_EQ(gpus->size(), 2u);
  EXPECT_EQ((*gpus)[0].utilization_percent, 0);
  EXPECT_EQ((*gpus)[1].utilization_percent, 0);
}

TEST(WorkerGpuCsvTest, EmptyOutputIsNoGpus) {
  for (const char* csv : {"", "\n", "\r\n", "  \n\n"}) {
    absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(csv);
    ASSERT_TRUE(gpus.ok()) << gpus.status();
    EXPECT_THAT(*gpus, IsEmpty());
  }
}

void ExpectRefused(std::string_view csv, std::string_view where) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ParseNvidiaSmiCsv(csv);
  ASSERT_FALSE(gpus.ok()) << csv;
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr(std::string(where))) << csv;
}

TEST(WorkerGpuCsvTest, MalformedLinesNameTheLineAndColumn) {
  ExpectRefused("0, NVIDIA H100, 81559, 0, 0", "line 1: expected 6 comma-separated columns");
  ExpectRefused(std::string(kH100Line) + ", extra", "line 1: expected 6");
  ExpectRefused(std::string(kH100Line) + "\n1, Tesla, T4, 15360, 0, 0, GPU-b", "line 2");
  ExpectRefused(std::string(kH100Line) + "\n1, Tesla T4, abc, 0, 0, GPU-b",
                "line 2, column 3 (memory.total): \"abc\"");
  ExpectRefused("0, Tesla T4, 15360, [N/A], 0, GPU-b", "line 1, column 4 (memory.used)");
  ExpectRefused("0, Tesla T4, 15360 MiB, 0, 0, GPU-b", "column 3 (memory.total)");
  ExpectRefused("-1, Tesla T4, 15360, 0, 0, GPU-b", "column 1 (index)");
  ExpectRefused("0, Tesla T4, 15360, 0, 101, GPU-b", "column 5 (utilization.gpu)");
  ExpectRefused("0, Tesla T4, 15360, 0, 5 %, GPU-b", "column 5 (utilization.gpu)");
  ExpectRefused("0, , 15360, 0, 0, GPU-b", "column 2 (name)");
  ExpectRefused("0, Tesla T4, 15360, 0, 0, ", "column 6 (uuid)");
  // The header of --format=csv (without noheader) is not data.
  ExpectRefused("index, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%], uuid",
                "column 1 (index)");
}

// --- ProbeGpus with fake nvidia-smi programs ---------------------------------

class WorkerGpuProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mixsweep-gpu-probe-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // An executable /bin/sh script named `name` in the temporary directory.
  std::string Script(const std::string& name, const std::string& body) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(WorkerGpuProbeTest, ParsesWhatNvidiaSmiPrints) {
  const std::string fake = Script("nvidia-smi", std::string("printf '%s\\n' '") + kH100Line + "'");
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(fake);
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, ElementsAre(IsGpu(0, "NVIDIA H100 80GB HBM3", 81559, 0, 0,
                                       "GPU-4ff03885-1b56-12d1-6164-91582ae62b02")));
}

TEST_F(WorkerGpuProbeTest, PassesTheQueryAndFormat) {
  // The fake prints a GPU only when called exactly as documented.
  const std::string fake = Script(
      "nvidia-smi",
      std::string("[ \"$#\" = 2 ] && [ \"$1\" = '") + kNvidiaSmiQuery +
          "' ] && [ \"$2\" = '--format=csv,noheader,nounits' ] || exit 3\n"
          "echo '0, Tesla T4, 15360, 0, 0, GPU-t4'\n"
          "echo 'a warning on stderr' >&2");
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(fake);
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, ElementsAre(IsGpu(0, "Tesla T4", 15360, 0, 0, "GPU-t4")));
}

TEST_F(WorkerGpuProbeTest, ABrokenDriverIsUnavailableWithItsMessage) {
  const std::string fake = Script(
      "nvidia-smi",
      "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
      "Make sure that the latest NVIDIA driver is installed and running.\"\nexit 9");
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(fake);
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("exited with status 9"));
  EXPECT_THAT(std::string(gpus.status().message()),
              HasSubstr("NVIDIA-SMI has failed because it couldn't communicate"));
}

TEST_F(WorkerGpuProbeTest, NotInstalledIsNoGpus) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus((dir_ / "no-such-nvidia-smi").string());
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, IsEmpty());
  gpus = ProbeGpus("mixsweep-no-such-program-in-path");
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, IsEmpty());
  // A wrapper whose own lookup fails exits with 127.
  gpus = ProbeGpus(Script("wrapper", "exec mixsweep-no-such-program-in-path \"$@\""));
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  EXPECT_THAT(*gpus, IsEmpty());
}

TEST_F(WorkerGpuProbeTest, UnreadableOutputIsUnavailable) {
  absl::StatusOr<std::vector<GpuInfo>> gpus =
      ProbeGpus(Script("nvidia-smi", "echo 'No devices were found, really'"));
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("line 1"));
}

TEST_F(WorkerGpuProbeTest, AProgramThatCannotRunIsUnavailable) {
  // A directory cannot be executed, even by root (EACCES, not ENOENT).
  const std::filesystem::path path = dir_ / "nvidia-smi";
  std::filesystem::create_directory(path);
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(path.string());
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("cannot run"));
}

TEST_F(WorkerGpuProbeTest, ASignalIsUnavailable) {
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(Script("nvidia-smi", "kill -SEGV $$"));
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("killed by signal 11"));
}

TEST_F(WorkerGpuProbeTest, AHungProgramIsKilledWithWhatItStarted) {
  // The script's child keeps the output pipe open: only killing the whole
  // process group lets the probe return.
  const std::string fake = Script("nvidia-smi", "echo starting\nsleep 30 &\nsleep 30");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(fake, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(gpus.ok());
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("did not finish within 300 ms"));
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("starting"));
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(WorkerGpuProbeTest, OutputClosedEarlyStillWaitsForTheExit) {
  // Closing stdout and stderr before exiting must not lose the exit status.
  const std::string fake = Script("nvidia-smi", "exec >&- 2>&-\nsleep 0.2\nexit 4");
  absl::StatusOr<std::vector<GpuInfo>> gpus = ProbeGpus(fake);
  ASSERT_FALSE(gpus.ok());
  EXPECT_THAT(std::string(gpus.status().message()), HasSubstr("exited with status 4"));
}

}  // namespace
}  // namespace mixsweep::workers
