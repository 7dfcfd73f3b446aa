/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * shmstream internal definitions shared by the module's files.
 */
#ifndef _SHMSTREAM_H
#define _SHMSTREAM_H

#include <linux/atomic.h>

/*
 * Module-wide counters, for debugfs and for tests that prove nothing
 * leaks: each must read 0 once every file and mapping is gone.
 */
struct shmstream_counters {
	atomic_long_t files; /* open files of /dev/shmstream */
};

extern struct shmstream_counters shmstream_counters;

void shmstream_debugfs_init(void);
void shmstream_debugfs_exit(void);

#endif /* _SHMSTREAM_H */
