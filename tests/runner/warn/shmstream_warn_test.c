// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test module for the guest runner's own tests: loading it raises one
 * WARN_ON, which the runner must report as a failed run.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init shmstream_warn_test_init(void)
{
	WARN_ON(1);
	return 0;
}

static void __exit shmstream_warn_test_exit(void)
{
}

module_init(shmstream_warn_test_init);
module_exit(shmstream_warn_test_exit);

MODULE_DESCRIPTION("Raises a WARN_ON to test the shmstream guest runner");
MODULE_LICENSE("GPL");
