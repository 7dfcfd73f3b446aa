// SPDX-License-Identifier: GPL-2.0-only
/*
 * debugfs: /sys/kernel/debug/shmstream/stats, one "name: value" per line.
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "shmstream.h"

static struct dentry *shmstream_debugfs_dir;

static int shmstream_stats_show(struct seq_file *m, void *unused)
{
	struct shmstream_counters *c = &shmstream_counters;

	seq_printf(m, "files: %ld\n", atomic_long_read(&c->files));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(shmstream_stats);

void shmstream_debugfs_init(void)
{
	shmstream_debugfs_dir = debugfs_create_dir("shmstream", NULL);
	debugfs_create_file("stats", 0444, shmstream_debugfs_dir, NULL,
			    &shmstream_stats_fops);
}

void shmstream_debugfs_exit(void)
{
	debugfs_remove_recursive(shmstream_debugfs_dir);
}
