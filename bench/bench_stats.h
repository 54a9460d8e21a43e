// What the load drivers measure about processes and samples: CPU time and
// memory from /proc, and nearest-rank percentiles.
//
// Example:
//   double before = ProcessCpuSeconds(daemon->pid());
//   ...
//   std::printf("p99 %.1f ms, peak RSS %ld KiB\n", Percentile(latencies_ms, 0.99),
//               StatusKib(daemon->pid(), "VmHWM"));
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace mixsweep::bench {

// User + system CPU seconds of a live process (/proc/PID/stat); -1 if gone.
double ProcessCpuSeconds(pid_t pid);

// CPU seconds of a live process's children that exited and were waited
// for (cutime + cstime of /proc/PID/stat); -1 if gone. For a postmaster:
// the backends that have ended.
double ChildrenCpuSeconds(pid_t pid);

// A "Key: N kB" line of /proc/PID/status (e.g. VmHWM, VmRSS); -1 if absent.
long StatusKib(pid_t pid, const std::string& key);

// Nearest-rank percentile, p in [0, 1]; NaN for no samples.
double Percentile(std::vector<double> values, double p);

}  // namespace mixsweep::bench
