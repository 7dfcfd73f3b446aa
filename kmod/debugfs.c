// SPDX-License-Identifier: GPL-2.0-only
/*
 * debugfs: /sys/kernel/debug/shmstream/
 *   stats    module-wide counters, one "name: value" per line
 *   streams  every named stream with its counters, its producers and its
 *            consumers, and the dma-bufs of each
 * and /proc/PID/fdinfo/N of an open /dev/shmstream: who holds what.
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "shmstream.h"

static struct dentry *shmstream_debugfs_dir;

static int shmstream_stats_show(struct seq_file *m, void *unused)
{
	struct shmstream_counters *c = &shmstream_counters;

	seq_printf(m, "files: %ld\n", atomic_long_read(&c->files));
	seq_printf(m, "streams: %ld\n", atomic_long_read(&c->streams));
	seq_printf(m, "pinned_bytes: %ld\n",
		   atomic_long_read(&c->pinned_pages) << PAGE_SHIFT);
	seq_printf(m, "holds: %ld\n", shmstream_hot_read(holds));
	seq_printf(m, "pending: %ld\n", shmstream_hot_read(pending));
	seq_printf(m, "mappings: %ld\n", atomic_long_read(&c->mappings));
	seq_printf(m, "dmabufs: %ld\n", atomic_long_read(&c->dmabufs));
	seq_printf(m, "dmabuf_maps: %ld\n", atomic_long_read(&c->dmabuf_maps));
	seq_printf(m, "dmabuf_blanks: %ld\n",
		   atomic_long_read(&c->dmabuf_blanks));
	seq_printf(m, "frames_total: %ld\n", shmstream_hot_read(frames_total));
	seq_printf(m, "pinned_limit_bytes: %lu\n", shmstream_pinned_limit(20));
	seq_printf(m, "budgets: %ld\n",
		   atomic_long_read(&shmstream_budget_entries));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(shmstream_stats);

static int shmstream_streams_show(struct seq_file *m, void *unused)
{
	struct shmstream_stream *s;
	struct shmstream_file *sf;

	mutex_lock(&shmstream_registry_lock);
	list_for_each_entry(s, &shmstream_registry, node) {
		spin_lock(&s->lock);
		seq_printf(m, "%s slots=%u size=%u", s->name, s->slot_count,
			   s->slot_size);
		seq_printf(m, " frames=%llu bytes=%llu head=%llu", s->frames,
			   s->bytes, s->head_seq);
		seq_printf(m, " producers=%u consumers=%u guests=%u",
			   s->producers, s->consumers, s->guest_consumers);
		seq_printf(m, " reliable=%u demotions=%u",
			   s->reliable_consumers, s->demotions);
		seq_printf(m, " detaches=%llu dmabufs=%d\n",
			   s->producer_detaches, atomic_read(&s->dmabufs));
		list_for_each_entry(sf, &s->files, node) {
			if (sf->role != SHMSTREAM_ATTACH_CONSUMER) {
				seq_printf(m, "  producer committed=%llu",
					   sf->taken);
				seq_printf(m, " pending=%u dmabufs=%u\n",
					   sf->nr_slots,
					   READ_ONCE(sf->nr_dmabufs));
				continue;
			}
			seq_printf(m, "  consumer cursor=%llu taken=%llu",
				   sf->cursor, sf->taken);
			seq_printf(m, " missed=%llu holds=%u%s", sf->missed,
				   sf->nr_slots,
				   shmstream_reliable(sf) ? " reliable" :
				   sf->demoted		  ? " demoted" :
							    "");
			seq_printf(m, " dmabufs=%u\n",
				   READ_ONCE(sf->nr_dmabufs));
		}
		spin_unlock(&s->lock);
	}
	mutex_unlock(&shmstream_registry_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(shmstream_streams);

/*
 * fdinfo: the file's role, its stream, and what it holds. Unbound files
 * show "shmstream-role: none" alone.
 */
void shmstream_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_stream *s = shmstream_bound(sf);
	bool consumer;

	if (!s) {
		seq_puts(m, "shmstream-role: none\n");
		return;
	}
	consumer = sf->role == SHMSTREAM_ATTACH_CONSUMER;
	seq_printf(m, "shmstream-role: %s\n",
		   consumer ? "consumer" : "producer");
	seq_printf(m, "shmstream-stream: %s\n", s->name);
	spin_lock(&s->lock);
	seq_printf(m, "shmstream-destroyed: %d\n", s->destroyed);
	if (consumer) {
		seq_printf(m, "shmstream-attach-seq: %llu\n", sf->attach_seq);
		seq_printf(m, "shmstream-cursor: %llu\n", sf->cursor);
		seq_printf(m, "shmstream-taken: %llu\n", sf->taken);
		seq_printf(m, "shmstream-missed: %llu\n", sf->missed);
		seq_printf(m, "shmstream-holds: %u\n", sf->nr_slots);
		seq_printf(m, "shmstream-reliable: %d\n",
			   shmstream_reliable(sf));
		seq_printf(m, "shmstream-demoted: %d\n", sf->demoted);
	} else {
		seq_printf(m, "shmstream-committed: %llu\n", sf->taken);
		seq_printf(m, "shmstream-pending: %u\n", sf->nr_slots);
	}
	seq_printf(m, "shmstream-slots: %*pbl\n", s->slot_count, sf->slots);
	seq_printf(m, "shmstream-dmabufs: %u\n", READ_ONCE(sf->nr_dmabufs));
	spin_unlock(&s->lock);
}

void shmstream_debugfs_init(void)
{
	shmstream_debugfs_dir = debugfs_create_dir("shmstream", NULL);
	debugfs_create_file("stats", 0444, shmstream_debugfs_dir, NULL,
			    &shmstream_stats_fops);
	debugfs_create_file("streams", 0444, shmstream_debugfs_dir, NULL,
			    &shmstream_streams_fops);
}

void shmstream_debugfs_exit(void)
{
	debugfs_remove_recursive(shmstream_debugfs_dir);
}
