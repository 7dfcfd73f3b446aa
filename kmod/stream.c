// SPDX-License-Identifier: GPL-2.0-only
/*
 * Streams: creation, the name registry, binding files, destruction, and the
 * control ioctls (CREATE, ATTACH, DESTROY, LIST, INFO, STATS).
 *
 * A stream lives while it has a name in the registry, a bound file or a
 * VMA; each holds a reference on stream->ref. The memory goes at the last
 * put, so nothing is ever freed while mapped.
 */

#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "shmstream.h"

/* Named streams of every IPC namespace, in the order they were named. */
DEFINE_MUTEX(shmstream_registry_lock);
LIST_HEAD(shmstream_registry);
/* Under shmstream_registry_lock: */
static u64 shmstream_last_name_id;
static unsigned long shmstream_ns_named; /* named outside the initial ns */

static void shmstream_reap_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(shmstream_reap_work, shmstream_reap_fn);

/*
 * [A-Za-z0-9._-], in ASCII: the kernel's isalnum() follows Latin-1 and
 * would let 0xc0-0xff through.
 */
static bool shmstream_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static bool shmstream_name_valid(const char *name)
{
	size_t len = strnlen(name, SHMSTREAM_NAME_MAX);
	size_t i;

	if (len == 0 || len == SHMSTREAM_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (!shmstream_name_char(name[i]))
			return false;
	}
	/* "." and ".." read as paths in tools; keep them out. */
	return strcmp(name, ".") && strcmp(name, "..");
}

/*
 * Charge @pages against the module-wide budget, the user's and the IPC
 * namespace's (budget.c) and, for callers without CAP_IPC_LOCK, against
 * RLIMIT_MEMLOCK (see shmstream_memlock_charge()).
 */
static int shmstream_charge(struct shmstream_stream *s, unsigned long pages)
{
	unsigned long limit = shmstream_pinned_limit(20 - PAGE_SHIFT);
	int ret;

	if (atomic_long_add_return(pages, &shmstream_counters.pinned_pages) >
	    limit) {
		ret = -ENOSPC;
		goto out_module;
	}
	ret = shmstream_budget_charge(&s->charge, &s->ns, pages);
	if (ret)
		goto out_module;
	if (capable(CAP_IPC_LOCK))
		return 0;
	ret = shmstream_memlock_charge(&s->memlock, pages);
	if (!ret)
		return 0;
	shmstream_budget_uncharge(&s->charge);
out_module:
	atomic_long_sub(pages, &shmstream_counters.pinned_pages);
	return ret;
}

static void shmstream_uncharge(struct shmstream_stream *s)
{
	shmstream_memlock_uncharge(&s->memlock, s->nr_pages);
	shmstream_budget_uncharge(&s->charge);
	atomic_long_sub(s->nr_pages, &shmstream_counters.pinned_pages);
}

static void shmstream_free_pages(struct shmstream_stream *s, unsigned long n)
{
	while (n--) {
		__free_page(s->pages[n]);
		/* A ring may have 2^20 pages and more: let others run. */
		cond_resched();
	}
	kvfree(s->pages);
}

/* Is page @i the first of a slot that must be physically contiguous? */
static bool shmstream_contiguous_slot(const struct shmstream_stream *s,
				      unsigned long i)
{
	return (s->create_flags & SHMSTREAM_CREATE_CONTIGUOUS) &&
	       i >= s->ctrl_pages && !((i - s->ctrl_pages) % s->slot_pages);
}

/*
 * SHMSTREAM_CREATE_CONTIGUOUS: the slot at page @i in one higher-order
 * block, split into order-0 pages so that every other path (mmap, the
 * dma-bufs, the free) sees pages like any stream's; the block's pages past
 * the slot are given back at once. Past the largest order, or when memory
 * is too fragmented, -ENOMEM.
 */
static int shmstream_alloc_contiguous(struct shmstream_stream *s,
				      unsigned long i)
{
	unsigned int order = get_order(s->slot_pages << PAGE_SHIFT);
	struct page *page;
	unsigned long j;

	page = alloc_pages(GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
				   __GFP_NORETRY,
			   order);
	if (!page)
		return -ENOMEM;
	split_page(page, order);
	for (j = 0; j < s->slot_pages; j++)
		s->pages[i + j] = page + j;
	for (; j < (1UL << order); j++)
		__free_page(page + j);
	return 0;
}

static void shmstream_stream_release(struct kref *ref)
{
	struct shmstream_stream *s =
		container_of(ref, struct shmstream_stream, ref);

	shmstream_ring_fini(s);
	vunmap(s->ctrl);
	shmstream_free_pages(s, s->nr_pages);
	shmstream_uncharge(s);
	shmstream_ns_put(&s->ns);
	kvfree(s->hash);
	kvfree(s->slots);
	kfree(s);
	atomic_long_dec(&shmstream_counters.streams);
}

void shmstream_stream_put(struct shmstream_stream *s)
{
	kref_put(&s->ref, shmstream_stream_release);
}

static struct shmstream_stream *
shmstream_stream_alloc(const struct shmstream_create *c)
{
	struct shmstream_stream *s;
	size_t ctrl_bytes;
	unsigned long i;
	int ret = -ENOMEM;

	s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
	if (!s)
		return ERR_PTR(-ENOMEM);
	kref_init(&s->ref);
	spin_lock_init(&s->lock);
	init_waitqueue_head(&s->read_wq);
	init_waitqueue_head(&s->write_wq);
	INIT_LIST_HEAD(&s->files);
	INIT_LIST_HEAD(&s->node);
	INIT_LIST_HEAD(&s->guests);
	shmstream_ns_get_current(&s->ns);
	strscpy(s->name, c->name, sizeof(s->name));
	s->uid = current_euid();
	s->gid = current_egid();
	s->mode = c->mode;
	s->create_flags = c->flags;
	s->max_consumers = c->max_consumers;
	s->user_consumers = c->user_consumers;
	s->user_holds = c->user_holds;
	s->max_producers = c->max_producers;
	s->stall_ms = c->stall_ms;
	s->format = c->format;
	s->slot_count = c->slot_count;
	s->slot_size = c->slot_size;
	s->slot_pages = DIV_ROUND_UP(c->slot_size, PAGE_SIZE);
	ctrl_bytes = sizeof(struct shmstream_ctrl) +
		     (size_t)c->slot_count * sizeof(struct shmstream_frame);
	s->ctrl_pages = DIV_ROUND_UP(ctrl_bytes, PAGE_SIZE);
	s->nr_pages =
		s->ctrl_pages + (unsigned long)c->slot_count * s->slot_pages;

	ret = shmstream_charge(s, s->nr_pages);
	if (ret)
		goto out_free_stream;

	ret = -ENOMEM;
	s->slots =
		kvcalloc(c->slot_count, sizeof(*s->slots), GFP_KERNEL_ACCOUNT);
	if (!s->slots)
		goto out_uncharge;
	s->hash_mask = roundup_pow_of_two(c->slot_count) - 1;
	s->hash = kvcalloc(s->hash_mask + 1, sizeof(*s->hash),
			   GFP_KERNEL_ACCOUNT);
	if (!s->hash)
		goto out_free_slots;
	s->pages = kvcalloc(s->nr_pages, sizeof(*s->pages), GFP_KERNEL_ACCOUNT);
	if (!s->pages)
		goto out_free_hash;
	/*
	 * User-sized and charged to the caller's memory cgroup: when memory
	 * runs out the caller gets -ENOMEM, nobody gets OOM-killed for it.
	 */
	for (i = 0; i < s->nr_pages; i++) {
		if (shmstream_contiguous_slot(s, i)) {
			ret = shmstream_alloc_contiguous(s, i);
			if (ret)
				goto out_free_pages;
			i += s->slot_pages - 1;
			cond_resched();
			continue;
		}
		s->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
					 __GFP_NOWARN | __GFP_NORETRY);
		if (!s->pages[i])
			goto out_free_pages;
		/* A long allocation must not hold off a fatal signal. */
		if (fatal_signal_pending(current)) {
			i++;
			ret = -EINTR;
			goto out_free_pages;
		}
		cond_resched();
	}
	s->ctrl = vmap(s->pages, s->ctrl_pages, VM_MAP, PAGE_KERNEL);
	if (!s->ctrl)
		goto out_free_pages;

	s->desc = (void *)s->ctrl + sizeof(struct shmstream_ctrl);
	s->ctrl->magic = SHMSTREAM_CTRL_MAGIC;
	s->ctrl->abi_major = SHMSTREAM_ABI_MAJOR;
	s->ctrl->slot_count = s->slot_count;
	s->ctrl->slot_size = s->slot_size;
	s->ctrl->desc_offset = sizeof(struct shmstream_ctrl);
	for (i = 0; i < s->slot_count; i++)
		s->desc[i].slot = i;
	shmstream_ring_init(s);

	atomic_long_inc(&shmstream_counters.streams);
	return s;

out_free_pages:
	shmstream_free_pages(s, i);
out_free_hash:
	kvfree(s->hash);
out_free_slots:
	kvfree(s->slots);
out_uncharge:
	shmstream_uncharge(s);
out_free_stream:
	shmstream_ns_put(&s->ns);
	kfree(s);
	return ERR_PTR(ret);
}

/*
 * Remove @s's name and wake everyone waiting on it. The name's reference
 * moves to @dead with the stream: shmstream_registry_unlock() drops it once
 * the registry lock is released, so that a ring is never freed (maybe
 * millions of pages) under that global lock.
 */
static void shmstream_unname_locked(struct shmstream_stream *s,
				    struct list_head *dead)
{
	lockdep_assert_held(&shmstream_registry_lock);

	list_move_tail(&s->node, dead);
	s->named = false;
	if (!shmstream_ns_initial(&s->ns))
		shmstream_ns_named--;
	spin_lock(&s->lock);
	WRITE_ONCE(s->destroyed, true);
	spin_unlock(&s->lock);
	wake_up_interruptible_poll(&s->read_wq, EPOLLHUP);
	wake_up_interruptible_poll(&s->write_wq, EPOLLHUP);
}

/*
 * Release the registry lock, then drop the names' references that
 * shmstream_unname_locked() moved to @dead while it was held.
 */
static void shmstream_registry_unlock(struct list_head *dead)
{
	struct shmstream_stream *s, *tmp;

	mutex_unlock(&shmstream_registry_lock);
	list_for_each_entry_safe(s, tmp, dead, node) {
		list_del_init(&s->node);
		shmstream_stream_put(s);
	}
}

/* Names of dead IPC namespaces can never be reached again: drop them. */
static void shmstream_reap_locked(struct list_head *dead)
{
	struct shmstream_stream *s, *tmp;

	lockdep_assert_held(&shmstream_registry_lock);

	list_for_each_entry_safe(s, tmp, &shmstream_registry, node)
		if (shmstream_ns_dead(&s->ns))
			shmstream_unname_locked(s, dead);
}

/*
 * A dead namespace's streams go at the next registry call, or within a
 * second without one: while a stream of a namespace other than the initial
 * one is named, this runs once a second.
 */
static void shmstream_reap_fn(struct work_struct *work)
{
	LIST_HEAD(dead);
	bool again;

	mutex_lock(&shmstream_registry_lock);
	shmstream_reap_locked(&dead);
	again = shmstream_ns_named;
	shmstream_registry_unlock(&dead);
	if (again)
		schedule_delayed_work(&shmstream_reap_work, HZ);
}

/*
 * Find @name in the caller's IPC namespace; no reference taken. Streams of
 * dead namespaces found on the way go to @dead.
 */
static struct shmstream_stream *shmstream_lookup_locked(const char *name,
							struct list_head *dead)
{
	void *key = shmstream_ns_current_key();
	struct shmstream_stream *s;

	lockdep_assert_held(&shmstream_registry_lock);

	shmstream_reap_locked(dead);
	list_for_each_entry(s, &shmstream_registry, node)
		if (s->ns.key == key && !strcmp(s->name, name))
			return s;
	return NULL;
}

/* Permission check on attach, like shm_open(): @want is 4 (r) or 2 (w). */
static int shmstream_permission(const struct shmstream_stream *s, umode_t want)
{
	umode_t granted = s->mode;

	if (uid_eq(current_euid(), s->uid))
		granted >>= 6;
	else if (in_egroup_p(s->gid))
		granted >>= 3;
	if ((granted & want) == want)
		return 0;
	if (shmstream_ns_capable(CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

/*
 * The stream @name names in the caller's IPC namespace, with a reference
 * the caller drops, when the caller may @want it (4 read, 2 write); else
 * ERR_PTR(-ENOENT) or ERR_PTR(-EACCES).
 */
static struct shmstream_stream *shmstream_get_by_name(const char *name,
						      umode_t want)
{
	struct shmstream_stream *s;
	LIST_HEAD(dead);
	int ret;

	mutex_lock(&shmstream_registry_lock);
	s = shmstream_lookup_locked(name, &dead);
	if (s)
		kref_get(&s->ref);
	shmstream_registry_unlock(&dead);
	if (!s)
		return ERR_PTR(-ENOENT);
	ret = shmstream_permission(s, want);
	if (ret) {
		shmstream_stream_put(s);
		return ERR_PTR(ret);
	}
	return s;
}

/*
 * Is the caller the owner of @s, for its consumers' limits (struct
 * shmstream_create)? Its owner, or a task with CAP_IPC_OWNER over the IPC
 * namespace; asked without an audit record, as this refuses nothing.
 */
static bool shmstream_is_owner(const struct shmstream_stream *s)
{
	return uid_eq(current_euid(), s->uid) ||
	       shmstream_ns_capable_noaudit(CAP_IPC_OWNER);
}

/*
 * Count a new consumer of guest user @uid in: into @spare's entry when the
 * user has none yet (then *@spare becomes NULL). -EUSERS when the guests,
 * or this user, have all the consumers they may.
 */
static int shmstream_guest_attach(struct shmstream_stream *s,
				  struct shmstream_file *sf, kuid_t uid,
				  struct shmstream_guest **spare)
{
	struct shmstream_guest *g = NULL, *pos;

	lockdep_assert_held(&s->lock);

	if (s->guest_consumers >= s->max_consumers)
		return -EUSERS;
	list_for_each_entry(pos, &s->guests, node) {
		if (uid_eq(pos->uid, uid)) {
			g = pos;
			break;
		}
	}
	if (!g) {
		g = *spare;
		*spare = NULL;
		g->uid = uid;
		list_add_tail(&g->node, &s->guests);
	} else if (g->consumers >= s->user_consumers) {
		return -EUSERS;
	}
	g->consumers++;
	s->guest_consumers++;
	sf->guest = g;
	return 0;
}

/*
 * Bind @sf to @s with the ATTACH @flags (a role, and for a consumer
 * optionally NEWEST or RELIABLE) and @history. Takes over the caller's
 * reference on @s. Called with sf->bind_lock held and the file unbound.
 */
static int shmstream_file_bind(struct shmstream_file *sf,
			       struct shmstream_stream *s, u32 flags,
			       u32 history)
{
	u32 role = flags &
		   (SHMSTREAM_ATTACH_PRODUCER | SHMSTREAM_ATTACH_CONSUMER);
	struct shmstream_guest *spare = NULL;
	unsigned long *bits;
	int ret = 0;

	lockdep_assert_held(&sf->bind_lock);

	if (history > s->slot_count)
		return -EINVAL;
	bits = bitmap_zalloc(s->slot_count, GFP_KERNEL_ACCOUNT);
	if (!bits)
		return -ENOMEM;
	if (role == SHMSTREAM_ATTACH_CONSUMER && !shmstream_is_owner(s)) {
		spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
		if (!spare) {
			bitmap_free(bits);
			return -ENOMEM;
		}
	}

	spin_lock(&s->lock);
	if (s->destroyed) {
		ret = -ENOENT;
	} else if (role == SHMSTREAM_ATTACH_PRODUCER) {
		if (s->producers >= s->max_producers)
			ret = -EBUSY;
		else
			s->producers++;
	} else if (spare) {
		ret = shmstream_guest_attach(s, sf, current_euid(), &spare);
		if (!ret)
			s->consumers++;
	} else if (s->consumers - s->guest_consumers >= s->max_consumers) {
		ret = -EUSERS;
	} else {
		s->consumers++;
	}
	if (!ret) {
		sf->slots = bits;
		sf->role = role;
		if (role == SHMSTREAM_ATTACH_CONSUMER)
			shmstream_ring_attach(s, sf, flags, history);
		list_add_tail(&sf->node, &s->files);
	}
	spin_unlock(&s->lock);
	kfree(spare); /* NULL when a new guest user's entry took it */
	if (ret) {
		bitmap_free(bits);
		return ret;
	}
	/* Publish: ioctls on other threads may use the stream from now on. */
	smp_store_release(&sf->stream, s);
	shmstream_poll_bind(sf);
	return 0;
}

/* The file is going away: drop its role, holds and reference. */
void shmstream_file_unbind(struct shmstream_file *sf)
{
	struct shmstream_stream *s = sf->stream;

	if (!s)
		return;
	shmstream_poll_unbind(sf);
	shmstream_ring_detach(s, sf);
	bitmap_free(sf->slots);

	if (sf->creator &&
	    (s->create_flags & SHMSTREAM_CREATE_DESTROY_ON_CLOSE)) {
		LIST_HEAD(dead);

		mutex_lock(&shmstream_registry_lock);
		if (s->named)
			shmstream_unname_locked(s, &dead);
		shmstream_registry_unlock(&dead);
	}
	shmstream_stream_put(s);
}

/* At module exit no file or mapping is left: only names hold streams. */
void shmstream_registry_exit(void)
{
	struct shmstream_stream *s, *tmp;
	LIST_HEAD(dead);

	cancel_delayed_work_sync(&shmstream_reap_work);
	mutex_lock(&shmstream_registry_lock);
	list_for_each_entry_safe(s, tmp, &shmstream_registry, node)
		shmstream_unname_locked(s, &dead);
	shmstream_registry_unlock(&dead);
}

#define SHMSTREAM_CREATE_FLAGS                                                 \
	(SHMSTREAM_CREATE_DESTROY_ON_CLOSE | SHMSTREAM_CREATE_MULTI_PRODUCER | \
	 SHMSTREAM_CREATE_CONTIGUOUS)

/*
 * CREATE's limits: 0 takes the default, past the most is -EINVAL. A
 * module parameter root set out of range is brought into it.
 */
static int shmstream_create_limits(struct shmstream_create *c)
{
	u32 max = READ_ONCE(shmstream_max_consumers);

	if (!c->stall_ms)
		c->stall_ms = clamp_val(READ_ONCE(shmstream_stall_ms), 1,
					SHMSTREAM_MAX_STALL_MS);
	else if (c->stall_ms > SHMSTREAM_MAX_STALL_MS)
		return -EINVAL;
	if (!(c->flags & SHMSTREAM_CREATE_MULTI_PRODUCER)) {
		if (c->max_producers)
			return -EINVAL;
		c->max_producers = 1;
	} else if (!c->max_producers) {
		c->max_producers = clamp_val(READ_ONCE(shmstream_max_producers),
					     1, SHMSTREAM_MAX_PRODUCERS);
	} else if (c->max_producers > SHMSTREAM_MAX_PRODUCERS) {
		return -EINVAL;
	}

	if (!c->max_consumers)
		c->max_consumers = max;
	else if (c->max_consumers > max)
		return -EINVAL;
	if (!c->user_consumers)
		c->user_consumers = min(READ_ONCE(shmstream_max_user_consumers),
					c->max_consumers);
	else if (c->user_consumers > c->max_consumers)
		return -EINVAL;
	if (!c->user_holds)
		c->user_holds = READ_ONCE(shmstream_max_user_holds);
	else if (c->user_holds > SHMSTREAM_MAX_SLOTS)
		return -EINVAL;
	return 0;
}

long shmstream_ioc_create(struct shmstream_file *sf, fmode_t fmode,
			  void __user *uarg)
{
	struct shmstream_create c;
	struct shmstream_stream *s;
	LIST_HEAD(dead);
	int ret;

	ret = shmstream_copy_args(&c, sizeof(c), SHMSTREAM_CREATE_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if ((c.flags & ~SHMSTREAM_CREATE_FLAGS) ||
	    memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	if (!shmstream_name_valid(c.name))
		return -EINVAL;
	if (!c.slot_count || c.slot_count > SHMSTREAM_MAX_SLOTS ||
	    !c.slot_size || c.slot_size > SHMSTREAM_MAX_SLOT_SIZE)
		return -EINVAL;
	if (c.mode & ~0777U)
		return -EINVAL;
	ret = shmstream_create_limits(&c);
	if (ret)
		return ret;
	/* The creator is the producer, and producing is writing. */
	if (!(fmode & FMODE_WRITE))
		return -EBADF;

	mutex_lock(&sf->bind_lock);
	if (sf->stream) {
		ret = -EISCONN;
		goto out_unlock;
	}
	/* Cheap early answer before allocating; checked again below. */
	mutex_lock(&shmstream_registry_lock);
	ret = shmstream_lookup_locked(c.name, &dead) ? -EEXIST : 0;
	shmstream_registry_unlock(&dead);
	if (ret)
		goto out_unlock;

	s = shmstream_stream_alloc(&c);
	if (IS_ERR(s)) {
		ret = PTR_ERR(s);
		goto out_unlock;
	}

	/*
	 * Bind, then publish, under the registry lock: nobody can find the
	 * name before its creator is the producer, so a racing ATTACH gets
	 * -EBUSY and a racing DESTROY destroys a stream that was created,
	 * and CREATE itself answers 0 or -EEXIST only.
	 */
	mutex_lock(&shmstream_registry_lock);
	if (shmstream_lookup_locked(c.name, &dead)) {
		ret = -EEXIST;
	} else {
		/* The file takes the initial reference; the name its own. */
		sf->creator = true;
		ret = shmstream_file_bind(sf, s, SHMSTREAM_ATTACH_PRODUCER, 0);
		if (ret) {
			/* A fresh stream: only memory can fail it. */
			sf->creator = false;
		} else {
			kref_get(&s->ref);
			s->name_id = ++shmstream_last_name_id;
			list_add_tail(&s->node, &shmstream_registry);
			s->named = true;
			if (!shmstream_ns_initial(&s->ns) &&
			    !shmstream_ns_named++)
				schedule_delayed_work(&shmstream_reap_work, HZ);
		}
	}
	shmstream_registry_unlock(&dead);
	if (ret)
		shmstream_stream_put(s);
out_unlock:
	mutex_unlock(&sf->bind_lock);
	return ret;
}

#define SHMSTREAM_ATTACH_CONSUMER_FLAGS                        \
	(SHMSTREAM_ATTACH_CONSUMER | SHMSTREAM_ATTACH_NEWEST | \
	 SHMSTREAM_ATTACH_RELIABLE)

long shmstream_ioc_attach(struct shmstream_file *sf, fmode_t fmode,
			  void __user *uarg)
{
	struct shmstream_attach a;
	struct shmstream_stream *s;
	umode_t want;
	int ret;

	ret = shmstream_copy_args(&a, sizeof(a), SHMSTREAM_ATTACH_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (a.flags != SHMSTREAM_ATTACH_PRODUCER &&
	    (!(a.flags & SHMSTREAM_ATTACH_CONSUMER) ||
	     (a.flags & ~SHMSTREAM_ATTACH_CONSUMER_FLAGS)))
		return -EINVAL;
	if (a.history &&
	    (a.flags & (SHMSTREAM_ATTACH_PRODUCER | SHMSTREAM_ATTACH_NEWEST)))
		return -EINVAL;
	if (a.reserved0 || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (!shmstream_name_valid(a.name))
		return -EINVAL;
	/* A reliable consumer holds the producer back: it writes, too. */
	if (a.flags == SHMSTREAM_ATTACH_PRODUCER)
		want = 2;
	else if (a.flags & SHMSTREAM_ATTACH_RELIABLE)
		want = 6;
	else
		want = 4;
	if (want == 2 && !(fmode & FMODE_WRITE))
		return -EBADF;

	mutex_lock(&sf->bind_lock);
	if (sf->stream) {
		ret = -EISCONN;
		goto out_unlock;
	}
	s = shmstream_get_by_name(a.name, want);
	if (IS_ERR(s)) {
		ret = PTR_ERR(s);
		goto out_unlock;
	}
	ret = shmstream_file_bind(sf, s, a.flags, a.history);
	if (ret)
		shmstream_stream_put(s);
out_unlock:
	mutex_unlock(&sf->bind_lock);
	return ret;
}

long shmstream_ioc_destroy(void __user *uarg)
{
	struct shmstream_destroy d;
	struct shmstream_stream *s;
	LIST_HEAD(dead);
	int ret;

	ret = shmstream_copy_args(&d, sizeof(d), SHMSTREAM_DESTROY_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (d.flags || memchr_inv(d.reserved, 0, sizeof(d.reserved)))
		return -EINVAL;
	if (!shmstream_name_valid(d.name))
		return -EINVAL;

	mutex_lock(&shmstream_registry_lock);
	s = shmstream_lookup_locked(d.name, &dead);
	if (!s)
		ret = -ENOENT;
	else if (!uid_eq(current_euid(), s->uid) &&
		 !shmstream_ns_capable(CAP_SYS_ADMIN))
		ret = -EPERM;
	else
		shmstream_unname_locked(s, &dead);
	shmstream_registry_unlock(&dead);
	return ret;
}

/* Names LIST copies per pass: one page of kernel memory at most. */
#define SHMSTREAM_LIST_CHUNK (PAGE_SIZE / SHMSTREAM_NAME_MAX)

/*
 * Copy into @buf up to @max names of the caller's namespace named after
 * @*after, in naming order, and move @*after past them. Returns how many;
 * @total gets the number of names in the namespace.
 */
static u32 shmstream_list_chunk(char *buf, u32 max, u64 *after, u32 *total)
{
	void *key = shmstream_ns_current_key();
	struct shmstream_stream *s;
	LIST_HEAD(dead);
	u32 got = 0;

	*total = 0;
	mutex_lock(&shmstream_registry_lock);
	shmstream_reap_locked(&dead);
	list_for_each_entry(s, &shmstream_registry, node) {
		if (s->ns.key != key)
			continue;
		++*total;
		if (s->name_id <= *after || got == max)
			continue;
		memcpy(buf + (size_t)got++ * SHMSTREAM_NAME_MAX, s->name,
		       SHMSTREAM_NAME_MAX);
		*after = s->name_id;
	}
	shmstream_registry_unlock(&dead);
	return got;
}

long shmstream_ioc_list(void __user *uarg)
{
	char __user *unames;
	struct shmstream_list l;
	u32 total, written = 0, got;
	char *buf = NULL;
	u64 after = 0;
	int ret;

	ret = shmstream_copy_args(&l, sizeof(l), SHMSTREAM_LIST_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (l.flags || memchr_inv(l.reserved, 0, sizeof(l.reserved)))
		return -EINVAL;
	if (l.capacity && !l.names)
		return -EFAULT;
	unames = u64_to_user_ptr(l.names);
	if (l.capacity) {
		buf = kmalloc(SHMSTREAM_LIST_CHUNK * SHMSTREAM_NAME_MAX,
			      GFP_KERNEL_ACCOUNT);
		if (!buf)
			return -ENOMEM;
	}

	/*
	 * A page of names at a time, copied out with no lock held. Names
	 * come in naming order, each at most once; one created or destroyed
	 * meanwhile may be listed or not, as with readdir().
	 */
	do {
		got = shmstream_list_chunk(buf,
					   min_t(u32, l.capacity - written,
						 SHMSTREAM_LIST_CHUNK),
					   &after, &total);
		if (got &&
		    copy_to_user(unames + (size_t)written * SHMSTREAM_NAME_MAX,
				 buf, (size_t)got * SHMSTREAM_NAME_MAX)) {
			kfree(buf);
			return -EFAULT;
		}
		written += got;
		cond_resched();
	} while (got == SHMSTREAM_LIST_CHUNK && written < l.capacity);
	kfree(buf);

	/* At least what was written: names can go between passes. */
	l.count = max(total, written);
	if (shmstream_copy_out(uarg, &l))
		return -EFAULT;
	return l.count > written ? -ENOSPC : 0;
}

long shmstream_ioc_info(struct shmstream_file *sf, void __user *uarg)
{
	struct shmstream_stream *s;
	struct shmstream_info info;
	int ret;

	ret = shmstream_copy_args(&info, sizeof(info), SHMSTREAM_INFO_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (info.flags)
		return -EINVAL;

	if (info.name[0]) {
		if (!shmstream_name_valid(info.name))
			return -EINVAL;
		s = shmstream_get_by_name(info.name, 4);
		if (IS_ERR(s))
			return PTR_ERR(s);
	} else {
		s = shmstream_bound(sf);
		if (!s)
			return -ENOTCONN;
		kref_get(&s->ref);
	}

	memcpy(info.name, s->name, sizeof(info.name));
	info.slot_count = s->slot_count;
	info.slot_size = s->slot_size;
	info.ctrl_offset = 0;
	info.ctrl_size = (u64)s->ctrl_pages << PAGE_SHIFT;
	info.slots_offset = shmstream_slot_offset(s, 0);
	info.slot_stride = (u64)s->slot_pages << PAGE_SHIFT;
	info.format = s->format;
	info.mode = s->mode;
	info.uid = from_kuid_munged(current_user_ns(), s->uid);
	info.gid = from_kgid_munged(current_user_ns(), s->gid);
	info.max_holds = READ_ONCE(shmstream_max_holds);
	info.max_consumers = s->max_consumers;
	info.user_consumers = s->user_consumers;
	info.user_holds = s->user_holds;
	info.max_producers = s->max_producers;
	info.stall_ms = s->stall_ms;
	info.dmabufs = atomic_read(&s->dmabufs);
	info.reserved0 = 0;

	spin_lock(&s->lock);
	info.state = (s->producers ? SHMSTREAM_STATE_PRODUCER : 0) |
		     (s->destroyed ? SHMSTREAM_STATE_DESTROYED : 0) |
		     (s->create_flags & SHMSTREAM_CREATE_CONTIGUOUS ?
			      SHMSTREAM_STATE_CONTIGUOUS :
			      0);
	info.consumers = s->consumers;
	info.guest_consumers = s->guest_consumers;
	info.producers = s->producers;
	info.reliable_consumers = s->reliable_consumers;
	info.demotions = s->demotions;
	info.frames = s->frames;
	info.bytes = s->bytes;
	info.head_seq = s->head_seq;
	info.producer_detaches = s->producer_detaches;
	spin_unlock(&s->lock);
	shmstream_stream_put(s);

	return shmstream_copy_out(uarg, &info);
}

long shmstream_ioc_stats(struct shmstream_file *sf, void __user *uarg)
{
	struct shmstream_stream *s = shmstream_bound(sf);
	struct shmstream_stats st;
	int ret;

	ret = shmstream_copy_args(&st, sizeof(st), SHMSTREAM_STATS_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (st.flags || memchr_inv(st.reserved, 0, sizeof(st.reserved)))
		return -EINVAL;
	if (!s)
		return -ENOTCONN;

	st.role = sf->role;
	st.dmabufs = READ_ONCE(sf->nr_dmabufs);
	spin_lock(&s->lock);
	st.holds = sf->nr_slots;
	st.attach_seq = sf->attach_seq;
	st.cursor = sf->cursor;
	st.taken = sf->taken;
	st.missed = sf->missed;
	st.state = (shmstream_reliable(sf) ? SHMSTREAM_STATS_RELIABLE : 0) |
		   (sf->demoted ? SHMSTREAM_STATS_DEMOTED : 0);
	spin_unlock(&s->lock);

	return shmstream_copy_out(uarg, &st);
}
