// What the fuzz targets share: an invariant check that stops the run with a
// message libFuzzer records (abort() is a crash, and the input is saved as an
// artifact). Not an assert: it stays on in every build type.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mixsweep::fuzz {

[[noreturn]] inline void Fail(const char* file, int line, const char* condition,
                              std::string_view detail) {
  std::fprintf(stderr, "\n==FUZZ INVARIANT== %s:%d: %s\n", file, line, condition);
  if (!detail.empty()) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

// MIXSWEEP_FUZZ_PRINT=1 in the environment: the structured targets print
// what they read from each input (to read a crash file or check a seed).
inline bool PrintInputs() {
  static const bool print = [] {
    const char* value = std::getenv("MIXSWEEP_FUZZ_PRINT");
    return value != nullptr && value[0] != '\0' && value[0] != '0';
  }();
  return print;
}

}  // namespace mixsweep::fuzz

// FUZZ_CHECK(condition, detail): `detail` (a string) is evaluated only when
// the condition fails.
#define FUZZ_CHECK(condition, detail)                                           \
  do {                                                                          \
    if (!(condition)) {                                                         \
      ::mixsweep::fuzz::Fail(__FILE__, __LINE__, #condition, std::string(detail)); \
    }                                                                           \
  } while (false)
