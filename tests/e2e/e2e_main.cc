// main() of mixsweep_e2e_test. The harness cluster (PgEnvironment) gives
// tests a database each to point a real mixsweepd at with --database; tests
// of the local-cluster mode let mixsweepd run its own.
#include <gtest/gtest.h>

#include "tests/support/pg_harness.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new mixsweep::testing::PgEnvironment);
  return RUN_ALL_TESTS();
}
