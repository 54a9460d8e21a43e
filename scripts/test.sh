#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test suite
# (pure unit tests, PostgreSQL tests against a cluster the harness starts,
# end-to-end tests of the real binaries).
#   scripts/test.sh              the suite
#   scripts/test.sh --sanitize   the suite under AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-sanitize
  scripts/build.sh "$dir" -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DMIXSWEEP_BUILD_BENCH=OFF
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
else
  dir=build-test
  scripts/build.sh "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cd "$dir"
ctest --output-on-failure --timeout 900
