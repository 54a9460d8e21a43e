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

// Well-formed UTF-8 by RFC 3629's table of byte sequences (its section 4),
// written independently of the code under test.
inline bool WellFormedUtf8(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = b(i);
    auto in = [&](size_t k, unsigned lo, unsigned hi) {
      return i + k < s.size() && b(i + k) >= lo && b(i + k) <= hi;
    };
    if (c < 0x80) {
      i += 1;
    } else if (c >= 0xC2 && c <= 0xDF && in(1, 0x80, 0xBF)) {
      i += 2;
    } else if (c == 0xE0 && in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF)) {
      i += 3;
    } else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && in(1, 0x80, 0xBF) &&
               in(2, 0x80, 0xBF)) {
      i += 3;
    } else if (c == 0xED && in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF)) {
      i += 3;
    } else if (c == 0xF0 && in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF)) {
      i += 4;
    } else if (c >= 0xF1 && c <= 0xF3 && in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) &&
               in(3, 0x80, 0xBF)) {
      i += 4;
    } else if (c == 0xF4 && in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF)) {
      i += 4;
    } else {
      return false;
    }
  }
  return true;
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
