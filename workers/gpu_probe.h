// What GPUs a machine has, from nvidia-smi.
//
// The worker runs
//   nvidia-smi --query-gpu=index,name,memory.total,memory.used,utilization.gpu,uuid
//              --format=csv,noheader,nounits
// which prints one line per GPU, e.g. (an H100 host, driver 580)
//   0, NVIDIA H100 80GB HBM3, 81559, 0, 0, GPU-4ff03885-1b56-12d1-6164-91582ae62b02
// A machine without nvidia-smi has no GPUs: that is not an error.
//
// Example:
//   std::vector<GpuInfo> gpus = ProbeGpus();  // {} on a CPU-only machine
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mixsweep::workers {

struct GpuInfo {
  int index = 0;
  std::string name;
  int64_t memory_total_mib = 0;
  int64_t memory_used_mib = 0;
  int utilization_percent = 0;  // 0 when nvidia-smi says [N/A]
  std::string uuid;
};

// The query that ParseNvidiaSmiCsv reads.
inline constexpr const char* kNvidiaSmiQuery =
    "--query-gpu=index,name,memory.total,memory.used,utilization.gpu,uuid";

// Parses `--format=csv,noheader,nounits` output: six comma-separated
// columns per line (spaces around values ignored; a name may hold spaces but
// never a comma). "[N/A]" or "[Not Supported]" utilization (MIG, some
// drivers) reads as 0. Blank lines, a trailing newline and CRLF line ends are
// fine; empty output is zero GPUs. INVALID_ARGUMENT (naming the line and
// column) for a malformed line, e.g.
//   nvidia-smi output line 2, column 3 (memory.total): "abc" is not a number
absl::StatusOr<std::vector<GpuInfo>> ParseNvidiaSmiCsv(std::string_view csv);

// How long ProbeGpus waits for nvidia-smi (a hung driver can block it).
inline constexpr std::chrono::milliseconds kNvidiaSmiTimeout{10'000};

// Runs `nvidia_smi` (a path or a name looked up in PATH) with kNvidiaSmiQuery
// and `--format=csv,noheader,nounits`, and parses its standard output.
// Not installed (ENOENT, or exit status 127 from a wrapper) -> empty (zero
// GPUs). Installed but failing (another exit status, a signal, no answer
// within `timeout`: then it is killed, with its process group; output that
// ParseNvidiaSmiCsv refuses) ->
// UNAVAILABLE with its output (a broken driver should be visible, not
// silently zero).
absl::StatusOr<std::vector<GpuInfo>> ProbeGpus(const std::string& nvidia_smi = "nvidia-smi");
absl::StatusOr<std::vector<GpuInfo>> ProbeGpus(const std::string& nvidia_smi,
                                               std::chrono::milliseconds timeout);

}  // namespace mixsweep::workers
