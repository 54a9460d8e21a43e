#include "scheduler/utilization/rng.h"

#include <cstdint>
#include <string_view>

namespace mixsweep::utilization {

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t bound) {
  if (bound <= 1) return 0;
  // Lemire's multiply-shift (ACM TOMACS 2019): the high word of x * bound,
  // redrawing while the low word falls below 2^64 mod bound, so every value
  // is equally likely; the modulo runs only when a redraw is possible.
  unsigned __int128 m = static_cast<unsigned __int128>(Next()) * bound;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (low < threshold) {
      m = static_cast<unsigned __int128>(Next()) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double SplitMix64::UnitDouble() {
  return static_cast<double>(Next() >> 11) * 0x1.0p-53;
}

}  // namespace mixsweep::utilization
