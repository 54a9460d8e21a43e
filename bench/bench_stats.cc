#include "bench/bench_stats.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mixsweep::bench {

namespace {

// The fields of /proc/PID/stat after "pid (comm) ", so that f[0] is field 3
// (state); empty if the process is gone. The command name may hold spaces
// and parentheses: the fields start after the last ')'.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  return f;
}

// The sum of two clock-tick fields of /proc/PID/stat in seconds, or -1.
double TicksSeconds(pid_t pid, size_t field_a, size_t field_b) {
  const std::vector<std::string> f = StatFields(pid);
  if (f.size() <= std::max(field_a, field_b) - 3) return -1;
  return (std::stod(f[field_a - 3]) + std::stod(f[field_b - 3])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

// utime and stime are fields 14 and 15.
double ProcessCpuSeconds(pid_t pid) { return TicksSeconds(pid, 14, 15); }

// cutime and cstime (children waited for) are fields 16 and 17.
double ChildrenCpuSeconds(pid_t pid) { return TicksSeconds(pid, 16, 17); }

long StatusKib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  }
  return -1;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace mixsweep::bench
