// SPDX-License-Identifier: GPL-2.0-only
/*
 * A selftest that fails on purpose: the runner's own tests check that a
 * failing test fails the guest run and is counted as failed.
 */
#include "kselftest_harness.h"

TEST(passes)
{
	EXPECT_EQ(1, 1);
}

TEST(fails_on_purpose)
{
	EXPECT_EQ(1, 2);
}

TEST_HARNESS_MAIN
