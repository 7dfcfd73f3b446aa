/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * shmstream internal definitions shared by the module's files.
 *
 * Lock ordering (outermost first):
 *   shmstream_file.bind_lock   (mutex, serialises CREATE/ATTACH of a file)
 *   shmstream_registry_lock    (mutex, the name registry)
 *   shmstream_stream.lock      (spinlock, the ring state of one stream)
 * Nothing is copied to or from user memory under a stream's lock.
 */
#ifndef _SHMSTREAM_H
#define _SHMSTREAM_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/shmstream.h>

#include "compat.h"

/*
 * Module-wide counters, for debugfs and for tests that prove nothing
 * leaks: each must read 0 once every file and mapping is gone.
 */
struct shmstream_counters {
	atomic_long_t files; /* open files of /dev/shmstream */
	atomic_long_t streams; /* allocated streams, named or not */
	atomic_long_t pinned_pages; /* pages of all streams */
	atomic_long_t mappings; /* VMAs mapping a stream */
	atomic_long_t dmabufs; /* exported slots' dma-bufs (dmabuf.c) */
	atomic_long_t dmabuf_maps; /* their mappings for devices */
	atomic_long_t dmabuf_blanks; /* blank kernel mappings (dmabuf.c) */
};

extern struct shmstream_counters shmstream_counters;

/*
 * The counters that commit, acquire and release change are per CPU, so
 * that the ring's hot path writes no cache line shared by all streams.
 * A CPU's own value may go negative (taken on one CPU, given back on
 * another); shmstream_hot_read() sums them.
 */
struct shmstream_hot {
	long holds; /* slots held by consumers */
	long pending; /* slots taken by producers, not committed */
	long frames_total; /* frames ever committed */
};

DECLARE_PER_CPU(struct shmstream_hot, shmstream_hot);

#define shmstream_hot_add(field, n) this_cpu_add(shmstream_hot.field, n)
#define shmstream_hot_read(field) \
	shmstream_hot_sum(offsetof(struct shmstream_hot, field))
long shmstream_hot_sum(size_t offset);

/* Module parameters, read with READ_ONCE() at the point of use. */
extern unsigned long shmstream_max_pinned_mb;
extern unsigned long shmstream_max_user_pinned_mb;
extern unsigned long shmstream_max_ns_pinned_mb;
extern unsigned int shmstream_max_consumers;
extern unsigned int shmstream_max_holds;
extern unsigned int shmstream_max_user_consumers;
extern unsigned int shmstream_max_user_holds;
extern unsigned int shmstream_stall_ms;
extern unsigned int shmstream_max_producers;

/*
 * What a stream charged to its user's and its IPC namespace's budgets
 * (budget.c); @ns is NULL in the initial namespace.
 */
struct shmstream_budget;
struct shmstream_charge {
	struct shmstream_budget *user;
	struct shmstream_budget *ns;
	unsigned long pages;
};

extern atomic_long_t shmstream_budget_entries;

/*
 * The module-wide budget shifted into pages (20 - PAGE_SHIFT) or bytes
 * (20): root may write any unsigned long to max_pinned_mb, and a shift
 * that overflows saturates instead of wrapping to a small budget.
 */
static inline unsigned long shmstream_mb_shift(unsigned long mb,
					       unsigned int shift)
{
	unsigned long limit;

	if (check_shl_overflow(mb, shift, &limit))
		return ULONG_MAX;
	return limit;
}

static inline unsigned long shmstream_pinned_limit(unsigned int shift)
{
	return shmstream_mb_shift(READ_ONCE(shmstream_max_pinned_mb), shift);
}

/*
 * The state of one slot; guarded by shmstream_stream.lock. Three indexes
 * keep every lookup of the ring O(1) (see ring.c):
 *   @frame_node: in stream->offered, in seq order, while @seq != 0;
 *   @hash_node: in stream->hash[@seq & hash_mask] while @seq != 0;
 *   @free_node: in stream->free while no consumer holds the slot and no
 *	commit is pending on it, empty slots first, then by @seq.
 */
struct shmstream_slot {
	u64 seq; /* frame in the slot, 0 when none (or pending) */
	u32 holders; /* consumers holding the frame */
	u32 guest_holders; /* guests' consumers among @holders */
	bool pending; /* taken by the producer, not committed yet */
	struct list_head frame_node;
	struct list_head free_node;
	struct hlist_node hash_node;
};

struct shmstream_file;
struct dma_buf;

/*
 * One guest user's consumers of a stream (a user other than the owner, see
 * struct shmstream_create); in stream->guests while it has consumers.
 * Guarded by shmstream_stream.lock.
 */
struct shmstream_guest {
	struct list_head node;
	kuid_t uid;
	u32 consumers;
	u32 holds; /* frames its consumers hold together */
};

struct shmstream_stream {
	/* References: the registry name, each bound file, each VMA. */
	struct kref ref;

	/* Immutable after creation. */
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_ns ns; /* IPC namespace the name lives in */
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	u32 create_flags;
	struct shmstream_memlock memlock; /* RLIMIT_MEMLOCK charge, or none */
	struct shmstream_charge charge; /* user and namespace budgets */
	u32 max_consumers; /* the owner's, and all guests' together */
	u32 user_consumers; /* one guest user's */
	u32 user_holds; /* frames one guest user holds together */
	u32 max_producers; /* 1 without SHMSTREAM_CREATE_MULTI_PRODUCER */
	u32 stall_ms; /* reliable consumers' stall limit */
	u32 slot_count;
	u32 slot_size;
	unsigned long slot_pages; /* pages per slot */
	unsigned long ctrl_pages; /* pages of the control area */
	unsigned long nr_pages; /* ctrl_pages + slot_count * slot_pages */
	struct page **pages; /* control area first, then the slots */
	/*
	 * vmap() of the control area's pages: the slots need no kernel
	 * mapping (64-bit only: page_address() reaches every page).
	 */
	struct shmstream_ctrl *ctrl;
	struct shmstream_frame *desc; /* descriptors, in the control area */
	struct shmstream_format format;

	/* Under shmstream_registry_lock. */
	struct list_head node; /* in the registry while named */
	u64 name_id; /* order of naming: the registry is sorted by it */
	bool named;

	spinlock_t lock; /* guards everything below and the descriptors */
	struct shmstream_slot *slots;
	struct list_head offered; /* offered frames, oldest first */
	struct list_head free; /* slots the producer may take, in order */
	struct hlist_head *hash; /* offered frames by seq */
	u32 hash_mask;
	u32 producers; /* attached producers */
	struct list_head files; /* bound files (shmstream_file.node) */
	u32 consumers; /* all of them, the owner's and the guests' */
	/* Reliable consumers (shmstream_file.reliable_node), see ring.c. */
	struct list_head reliable;
	u32 reliable_consumers;
	u32 demotions;
	/*
	 * When a producer first found every free slot's frame untaken by a
	 * reliable consumer (ktime ns), 0 while it is not held back; the
	 * stall work demotes the consumers that take nothing for stall_ms.
	 */
	u64 held_back_since;
	struct delayed_work stall_work; /* armed while held back */
	u32 guest_consumers;
	u32 guest_slots; /* slots with guest_holders */
	struct list_head guests; /* struct shmstream_guest.node */
	bool destroyed; /* name removed; also read locklessly by poll */
	u64 head_seq; /* newest committed sequence */
	u64 frames;
	u64 bytes;
	u64 producer_detaches;
	atomic_t dmabufs; /* its slots' dma-bufs that exist */

	wait_queue_head_t read_wq; /* consumers: frames, detach, destroy */
	wait_queue_head_t write_wq; /* producer: free slots, destroy */
};

struct shmstream_file {
	struct mutex bind_lock; /* serialises binding this file */
	/*
	 * Set once under bind_lock with smp_store_release() when the file is
	 * bound; read with smp_load_acquire(). @role and @creator are
	 * written before and never change after.
	 */
	struct shmstream_stream *stream;
	u32 role; /* SHMSTREAM_ATTACH_PRODUCER or _CONSUMER */
	bool creator;
	struct shmstream_guest *guest; /* a guest's consumer: its user */
	/*
	 * Under bind_lock: the dma-buf of each slot this file exported
	 * (slot_count entries, allocated on first export), and how many.
	 */
	struct dma_buf **dmabufs;
	u32 nr_dmabufs; /* also read with READ_ONCE() by STATS */

	/*
	 * Set up when the file was polled before it was bound: @fwd, in the
	 * stream's queue for the file's role, passes wake-ups on to
	 * @poll_wq, where that poll registered. Both live as long as the file.
	 */
	wait_queue_head_t poll_wq;
	wait_queue_entry_t fwd;
	wait_queue_head_t *fwd_wq; /* the queue @fwd is in, or NULL */

	/* Under stream->lock. */
	struct list_head node; /* in stream->files */
	unsigned long *slots; /* slots held (consumer) or pending (producer) */
	u32 nr_slots; /* bits set in @slots */
	u64 attach_seq;
	u64 cursor; /* consumer: last sequence taken */
	u64 taken; /* consumer: acquired; producer: committed */
	u64 missed; /* consumer: skipped */
	bool demoted; /* was reliable, demoted */
	bool demoted_event; /* demoted, not yet reported by ACQUIRE */
	/* In stream->reliable while a reliable consumer, else empty. */
	struct list_head reliable_node;
	u64 last_take_ns; /* reliable: ktime of attach or last ACQUIRE */
};

/* budget.c */
int shmstream_budget_charge(struct shmstream_charge *c,
			    const struct shmstream_ns *ns, unsigned long pages);
void shmstream_budget_uncharge(struct shmstream_charge *c);

/* stream.c: lifetime, registry and the control ioctls */
extern struct mutex shmstream_registry_lock;
extern struct list_head shmstream_registry;
void shmstream_stream_put(struct shmstream_stream *s);
void shmstream_file_unbind(struct shmstream_file *sf);
void shmstream_registry_exit(void);
long shmstream_ioc_create(struct shmstream_file *sf, fmode_t fmode,
			  void __user *uarg);
long shmstream_ioc_attach(struct shmstream_file *sf, fmode_t fmode,
			  void __user *uarg);
long shmstream_ioc_destroy(void __user *uarg);
long shmstream_ioc_list(void __user *uarg);
long shmstream_ioc_info(struct shmstream_file *sf, void __user *uarg);
long shmstream_ioc_stats(struct shmstream_file *sf, void __user *uarg);

/* ring.c: the ring protocol */
long shmstream_ioc_get_slot(struct shmstream_file *sf, struct file *file,
			    void __user *uarg);
long shmstream_ioc_commit(struct shmstream_file *sf, void __user *uarg);
long shmstream_ioc_acquire(struct shmstream_file *sf, struct file *file,
			   void __user *uarg);
long shmstream_ioc_release(struct shmstream_file *sf, void __user *uarg);
ssize_t shmstream_read(struct file *file, char __user *buf, size_t count,
		       loff_t *ppos);
ssize_t shmstream_write(struct file *file, const char __user *buf, size_t count,
			loff_t *ppos);
__poll_t shmstream_poll(struct file *file, struct poll_table_struct *wait);
void shmstream_ring_init(struct shmstream_stream *s);
void shmstream_ring_fini(struct shmstream_stream *s);
void shmstream_ring_attach(struct shmstream_stream *s,
			   struct shmstream_file *sf, u32 flags, u32 history);
void shmstream_ring_detach(struct shmstream_stream *s,
			   struct shmstream_file *sf);
void shmstream_poll_bind(struct shmstream_file *sf);
void shmstream_poll_unbind(struct shmstream_file *sf);

/* dmabuf.c */
#ifdef CONFIG_DMA_SHARED_BUFFER
long shmstream_ioc_slot_dmabuf(struct shmstream_file *sf, void __user *uarg);
void shmstream_dmabuf_release_file(struct shmstream_file *sf);
#define SHMSTREAM_FEAT_DMABUF_IF SHMSTREAM_FEAT_DMABUF
#else
static inline long shmstream_ioc_slot_dmabuf(struct shmstream_file *sf,
					     void __user *uarg)
{
	return -EOPNOTSUPP;
}

static inline void shmstream_dmabuf_release_file(struct shmstream_file *sf)
{
}

#define SHMSTREAM_FEAT_DMABUF_IF 0
#endif

/* mmap.c */
int shmstream_mmap(struct file *file, struct vm_area_struct *vma);

/* main.c */
int shmstream_copy_args(void *karg, size_t ksize, size_t minsize,
			void __user *uarg);
int shmstream_copy_out(void __user *uarg, const void *karg);
struct shmstream_stream *shmstream_bound(struct shmstream_file *sf);

/* debugfs.c: /sys/kernel/debug/shmstream/ and fdinfo */
struct seq_file;
void shmstream_debugfs_init(void);
void shmstream_debugfs_exit(void);
void shmstream_show_fdinfo(struct seq_file *m, struct file *file);

/* A reliable consumer now (not demoted); under the stream's lock. */
static inline bool shmstream_reliable(const struct shmstream_file *sf)
{
	return !list_empty(&sf->reliable_node);
}

/* mmap offsets and geometry */
static inline u64 shmstream_slot_offset(const struct shmstream_stream *s,
					u32 slot)
{
	return ((u64)s->ctrl_pages + (u64)slot * s->slot_pages) << PAGE_SHIFT;
}

/* The page holding byte @off of @slot. */
static inline struct page *shmstream_slot_page(const struct shmstream_stream *s,
					       u32 slot, size_t off)
{
	return s->pages[s->ctrl_pages + (unsigned long)slot * s->slot_pages +
			(off >> PAGE_SHIFT)];
}

#endif /* _SHMSTREAM_H */
