// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring protocol: the producer takes a free slot (GET_SLOT), fills it
 * through its mapping and commits it (COMMIT); consumers hold frames
 * (ACQUIRE) and drop them (RELEASE). A slot is free when no consumer holds
 * it and no commit is pending on it; the producer never waits for a slow
 * reader, only for a moment when every slot is held, or for a reliable
 * consumer (ABI 2.2) that has not taken the oldest free slot's frame yet,
 * for the stream's stall limit at most.
 *
 * Commit, acquire and release take only the stream's spinlock, allocate
 * nothing, count in per-CPU counters, and wake only the tasks that sleep
 * on the stream.
 */

#include <linux/bitmap.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "shmstream.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* Waiting for sleepers before waking them keeps idle commits cheap. */
static void shmstream_wake(wait_queue_head_t *wq, __poll_t events)
{
	if (wq_has_sleeper(wq))
		wake_up_interruptible_poll(wq, events);
}

/*
 * The ring's indexes (see struct shmstream_slot). Every lookup the hot path
 * makes is O(1): the newest frame is the tail of @offered, the oldest the
 * head, the frame after a consumer's cursor is found by its seq in @hash,
 * and the slot the producer takes next is the head of @free. Keeping @free
 * in order costs a walk on release, from the newest end, over the frames
 * newer than the released one that nobody holds: none when consumers keep
 * up.
 */
static void shmstream_stall_fn(struct work_struct *work);

void shmstream_ring_init(struct shmstream_stream *s)
{
	u32 i;

	INIT_LIST_HEAD(&s->offered);
	INIT_LIST_HEAD(&s->free);
	INIT_LIST_HEAD(&s->reliable);
	INIT_DELAYED_WORK(&s->stall_work, shmstream_stall_fn);
	for (i = 0; i < s->slot_count; i++) {
		INIT_LIST_HEAD(&s->slots[i].frame_node);
		INIT_HLIST_NODE(&s->slots[i].hash_node);
		list_add_tail(&s->slots[i].free_node, &s->free);
	}
}

/* The stream is going: no file is bound, nothing can arm the work again. */
void shmstream_ring_fini(struct shmstream_stream *s)
{
	cancel_delayed_work_sync(&s->stall_work);
}

static u32 shmstream_slot_index(struct shmstream_stream *s,
				struct shmstream_slot *slot)
{
	return slot - s->slots;
}

/* The slot whose frame is @seq, or NULL. */
static struct shmstream_slot *shmstream_lookup_seq(struct shmstream_stream *s,
						   u64 seq)
{
	struct shmstream_slot *slot;

	lockdep_assert_held(&s->lock);

	hlist_for_each_entry(slot, &s->hash[seq & s->hash_mask], hash_node)
		if (slot->seq == seq)
			return slot;
	return NULL;
}

/*
 * A descriptor is written like a seqcount, in the mapped control area: its
 * count is odd while it changes (the reader's side: struct shmstream_ctrl).
 */
static void shmstream_desc_begin(struct shmstream_frame *d)
{
	WRITE_ONCE(d->gen, d->gen + 1);
	/* The odd count is seen before any field changes. */
	smp_wmb();
}

static void shmstream_desc_end(struct shmstream_frame *d)
{
	/* The fields are seen before the even count. */
	smp_store_release(&d->gen, d->gen + 1);
}

/* @slot is free now: file it in @free, empty slots first, then by seq. */
static void shmstream_free_insert(struct shmstream_stream *s,
				  struct shmstream_slot *slot)
{
	struct shmstream_slot *pos;

	lockdep_assert_held(&s->lock);

	if (!slot->seq) {
		list_add(&slot->free_node, &s->free);
		return;
	}
	list_for_each_entry_reverse(pos, &s->free, free_node) {
		if (pos->seq < slot->seq) {
			list_add(&slot->free_node, &pos->free_node);
			return;
		}
	}
	list_add(&slot->free_node, &s->free);
}

/* The slot's frame is offered no more: the producer takes the slot. */
static void shmstream_unoffer(struct shmstream_stream *s,
			      struct shmstream_slot *slot)
{
	struct shmstream_frame *d = &s->desc[shmstream_slot_index(s, slot)];

	lockdep_assert_held(&s->lock);

	if (!slot->seq)
		return;
	list_del_init(&slot->frame_node);
	hlist_del_init(&slot->hash_node);
	slot->seq = 0;
	shmstream_desc_begin(d);
	d->seq = 0;
	shmstream_desc_end(d);
}

/*
 * The slot of the frame a consumer at @cursor gets in @mode, or -1. NEXT:
 * the oldest frame after the cursor; LATEST: the newest, if after it.
 */
static int shmstream_find_frame(struct shmstream_stream *s, u64 cursor,
				u32 mode)
{
	struct shmstream_slot *first, *last, *slot;

	lockdep_assert_held(&s->lock);

	if (list_empty(&s->offered))
		return -1;
	last = list_last_entry(&s->offered, struct shmstream_slot, frame_node);
	if (last->seq <= cursor)
		return -1;
	if (mode == SHMSTREAM_ACQUIRE_LATEST)
		return shmstream_slot_index(s, last);
	first = list_first_entry(&s->offered, struct shmstream_slot,
				 frame_node);
	if (first->seq > cursor)
		return shmstream_slot_index(s, first);
	/* A consumer that keeps up: the frame right after its cursor. */
	slot = shmstream_lookup_seq(s, cursor + 1);
	if (slot)
		return shmstream_slot_index(s, slot);
	/* Frames after the cursor were overwritten: the one after its own. */
	slot = shmstream_lookup_seq(s, cursor);
	if (slot)
		return shmstream_slot_index(s,
					    list_next_entry(slot, frame_node));
	/* Rare: both gone while an older frame is still held. */
	list_for_each_entry(slot, &s->offered, frame_node)
		if (slot->seq > cursor)
			break;
	return shmstream_slot_index(s, slot);
}

/*
 * Reliable consumers (struct shmstream_attach). A frame a reliable consumer
 * has not taken (its seq is past the consumer's cursor) is kept: the
 * producer takes the free slot whose frame is oldest, so when that frame is
 * kept every free slot's frame is, and the producer is held back. The
 * first time it is, @held_back_since starts the stall clock and the stall
 * work is armed; a consumer that holds the producer back and has taken no
 * frame for stall_ms since the later of its last ACQUIRE and that moment
 * is demoted. The first slot the producer gets stops the clock, as does
 * the stall work when it finds the producer held back no more. Every time
 * the producer is held back the work is armed, unless it is pending: a
 * producer that comes back after the clock stopped starts it again.
 */
static bool shmstream_kept(struct shmstream_stream *s, u64 seq)
{
	struct shmstream_file *sf;

	lockdep_assert_held(&s->lock);

	list_for_each_entry(sf, &s->reliable, reliable_node)
		if (sf->cursor < seq)
			return true;
	return false;
}

/* The free slot whose frame is oldest (empty ones first), or NULL. */
static struct shmstream_slot *shmstream_first_free(struct shmstream_stream *s)
{
	lockdep_assert_held(&s->lock);

	return list_first_entry_or_null(&s->free, struct shmstream_slot,
					free_node);
}

/*
 * The free slot the producer takes next, or -1: none is free, or reliable
 * consumers hold the producer back (then the stall clock runs).
 */
static int shmstream_find_free(struct shmstream_stream *s)
{
	struct shmstream_slot *slot = shmstream_first_free(s);

	lockdep_assert_held(&s->lock);

	if (!slot)
		return -1;
	if (!slot->seq || !shmstream_kept(s, slot->seq))
		return shmstream_slot_index(s, slot);
	if (!s->held_back_since)
		s->held_back_since = ktime_get_ns();
	/* Pending already: nothing (it comes back for what is left). */
	schedule_delayed_work(&s->stall_work, msecs_to_jiffies(s->stall_ms));
	return -1;
}

/* @sf is a reliable consumer no more: from now on it may miss frames. */
static void shmstream_unreliable(struct shmstream_stream *s,
				 struct shmstream_file *sf)
{
	lockdep_assert_held(&s->lock);

	list_del_init(&sf->reliable_node);
	s->reliable_consumers--;
}

/*
 * The stall limit: demote the reliable consumers that have held the
 * producer back for stall_ms without taking a frame, and come back for the
 * others when their time is up.
 */
static void shmstream_stall_fn(struct work_struct *work)
{
	struct delayed_work *dwork = to_delayed_work(work);
	struct shmstream_stream *s =
		container_of(dwork, struct shmstream_stream, stall_work);
	u64 now, start, expires, next = U64_MAX;
	struct shmstream_file *sf, *tmp;
	struct shmstream_slot *first;
	bool demoted = false;

	spin_lock(&s->lock);
	if (!s->held_back_since)
		goto out_unlock;
	first = shmstream_first_free(s);
	if (!first || !first->seq) {
		/* Nothing free, or an empty slot: not held back now. */
		s->held_back_since = 0;
		goto out_unlock;
	}
	now = ktime_get_ns();
	list_for_each_entry_safe(sf, tmp, &s->reliable, reliable_node) {
		if (sf->cursor >= first->seq)
			continue;
		start = max(sf->last_take_ns, s->held_back_since);
		expires = start + (u64)s->stall_ms * NSEC_PER_MSEC;
		if (now < expires) {
			next = min(next, expires);
			continue;
		}
		shmstream_unreliable(s, sf);
		sf->demoted = true;
		sf->demoted_event = true;
		s->demotions++;
		demoted = true;
		trace_shmstream_demote(s, sf->cursor, first->seq);
	}
	/* Nobody holds the producer back any more: stop the clock. */
	if (next != U64_MAX)
		schedule_delayed_work(&s->stall_work,
				      nsecs_to_jiffies(next - now) + 1);
	else
		s->held_back_since = 0;
out_unlock:
	spin_unlock(&s->lock);
	if (demoted) {
		wake_up_interruptible_poll(&s->read_wq, EPOLLERR);
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
	}
}

/*
 * A consumer's cursor starts at the head: the frames committed after it
 * attached come to it. NEWEST starts one before the head (the head is its
 * first frame). @history starts before the newest frames still in the ring
 * that follow each other up to the head, @history of them at most: a frame
 * gone (its slot taken while an older frame was held) ends the run, so
 * that none of them counts as missed. Counting starts at the cursor, so
 * that taken + missed == cursor - attach_seq holds from the first frame.
 * At most slot_count steps, on ATTACH only.
 */
void shmstream_ring_attach(struct shmstream_stream *s,
			   struct shmstream_file *sf, u32 flags, u32 history)
{
	struct shmstream_slot *pos;

	lockdep_assert_held(&s->lock);

	sf->cursor = s->head_seq;
	if ((flags & SHMSTREAM_ATTACH_NEWEST) && s->head_seq)
		sf->cursor--;
	list_for_each_entry_reverse(pos, &s->offered, frame_node) {
		if (!history || pos->seq != sf->cursor)
			break;
		sf->cursor--;
		history--;
	}
	sf->attach_seq = sf->cursor;
	if (flags & SHMSTREAM_ATTACH_RELIABLE) {
		sf->last_take_ns = ktime_get_ns();
		list_add_tail(&sf->reliable_node, &s->reliable);
		s->reliable_consumers++;
	}
}

typedef int (*shmstream_try_fn)(void *ctx);

/*
 * Call @try until it answers anything but -EAGAIN, sleeping on @wq between
 * calls, until the absolute CLOCK_MONOTONIC @deadline_ns of the caller's
 * time namespace (then -ETIMEDOUT); SHMSTREAM_DEADLINE_NOWAIT does not
 * wait, SHMSTREAM_DEADLINE_NEVER waits without limit. A signal ends the
 * wait with -ERESTARTSYS: the deadline is absolute, so a restarted call
 * only waits for what is left of it.
 */
static long shmstream_wait(struct shmstream_stream *s, bool producer,
			   u64 deadline_ns, shmstream_try_fn try, void *ctx)
{
	wait_queue_head_t *wq = producer ? &s->write_wq : &s->read_wq;
	long ret = try(ctx);
	ktime_t left;
	long w;

	if (ret != -EAGAIN || deadline_ns == SHMSTREAM_DEADLINE_NOWAIT)
		return ret;
	trace_shmstream_wait(s, producer, deadline_ns);
	if (deadline_ns == SHMSTREAM_DEADLINE_NEVER ||
	    deadline_ns > KTIME_MAX) {
		w = wait_event_interruptible(*wq, (ret = try(ctx)) != -EAGAIN);
		return w ? w : ret;
	}
	left = ktime_sub(shmstream_timens_to_host(deadline_ns), ktime_get());
	if (left <= 0)
		return -ETIMEDOUT;
	w = wait_event_interruptible_hrtimeout(*wq, (ret = try(ctx)) != -EAGAIN,
					       left);
	if (w == -ETIME)
		return -ETIMEDOUT;
	return w ? w : ret;
}

static u64 shmstream_deadline(struct file *file, u64 deadline_ns)
{
	return (file->f_flags & O_NONBLOCK) ? SHMSTREAM_DEADLINE_NOWAIT :
					      deadline_ns;
}

static struct shmstream_stream *shmstream_role(struct shmstream_file *sf,
					       u32 role, int *err)
{
	struct shmstream_stream *s = shmstream_bound(sf);

	*err = 0;
	if (!s)
		*err = -ENOTCONN;
	else if (sf->role != role)
		*err = -EPERM;
	return *err ? NULL : s;
}

static int shmstream_do_commit(struct shmstream_stream *s,
			       struct shmstream_file *sf,
			       struct shmstream_commit *c);

struct shmstream_slot_ctx {
	struct shmstream_stream *s;
	struct shmstream_file *sf;
	u32 slot; /* out */
};

/* Producer: take a free slot, or -EAGAIN. */
static int shmstream_try_get_slot(void *ctx)
{
	struct shmstream_slot_ctx *c = ctx;
	struct shmstream_stream *s = c->s;
	struct shmstream_file *sf = c->sf;
	int i, ret = 0;

	spin_lock(&s->lock);
	if (s->destroyed) {
		ret = -EIDRM;
	} else if (sf->nr_slots >= READ_ONCE(shmstream_max_holds)) {
		ret = -ENOBUFS;
	} else {
		i = shmstream_find_free(s);
		if (i < 0) {
			ret = -EAGAIN;
		} else {
			s->held_back_since = 0;
			/* Its old frame is gone for readers from now on. */
			shmstream_unoffer(s, &s->slots[i]);
			list_del_init(&s->slots[i].free_node);
			s->slots[i].pending = true;
			__set_bit(i, sf->slots);
			sf->nr_slots++;
			shmstream_hot_add(pending, 1);
			c->slot = i;
		}
	}
	spin_unlock(&s->lock);
	return ret;
}

long shmstream_ioc_get_slot(struct shmstream_file *sf, struct file *file,
			    void __user *uarg)
{
	struct shmstream_slot_ctx ctx;
	struct shmstream_get_slot g;
	struct shmstream_stream *s;
	long ret;
	u32 slot;
	int err;

	ret = shmstream_copy_args(&g, sizeof(g), SHMSTREAM_GET_SLOT_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (g.flags || g.reserved0 ||
	    memchr_inv(g.reserved, 0, sizeof(g.reserved)))
		return -EINVAL;
	s = shmstream_role(sf, SHMSTREAM_ATTACH_PRODUCER, &err);
	if (!s)
		return err;

	ctx.s = s;
	ctx.sf = sf;
	ret = shmstream_wait(s, true, shmstream_deadline(file, g.deadline_ns),
			     shmstream_try_get_slot, &ctx);
	if (ret)
		return ret;

	slot = ctx.slot;
	g.slot = slot;
	g.offset = shmstream_slot_offset(s, slot);
	if (shmstream_copy_out(uarg, &g)) {
		/* The caller cannot learn the slot: give it back. */
		struct shmstream_commit c = {
			.flags = SHMSTREAM_COMMIT_DISCARD,
			.slot = slot,
		};

		shmstream_do_commit(s, sf, &c);
		return -EFAULT;
	}
	return 0;
}

/* Publish (or discard) a pending slot; @c is validated by the caller. */
static int shmstream_do_commit(struct shmstream_stream *s,
			       struct shmstream_file *sf,
			       struct shmstream_commit *c)
{
	struct shmstream_slot *slot = &s->slots[c->slot];
	struct shmstream_frame *d;
	u64 ts = (c->flags & SHMSTREAM_COMMIT_TIMESTAMP) ? c->timestamp_ns :
							   ktime_get_ns();

	spin_lock(&s->lock);
	if (!test_bit(c->slot, sf->slots)) {
		spin_unlock(&s->lock);
		return -EINVAL;
	}
	__clear_bit(c->slot, sf->slots);
	sf->nr_slots--;
	slot->pending = false;
	shmstream_hot_add(pending, -1);

	if (c->flags & SHMSTREAM_COMMIT_DISCARD) {
		shmstream_free_insert(s, slot);
		spin_unlock(&s->lock);
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
		return 0;
	}

	c->seq = ++s->head_seq;
	d = &s->desc[c->slot];
	shmstream_desc_begin(d);
	d->seq = c->seq;
	d->timestamp_ns = ts;
	d->bytes_used = c->bytes_used;
	d->frame_flags = c->frame_flags;
	d->format = (c->flags & SHMSTREAM_COMMIT_FORMAT) ? c->format :
							   s->format;
	d->slot = c->slot;
	d->meta_len = c->meta_len;
	memcpy(d->meta, c->meta, sizeof(d->meta));
	shmstream_desc_end(d);
	slot->seq = c->seq;
	list_add_tail(&slot->frame_node, &s->offered);
	hlist_add_head(&slot->hash_node, &s->hash[c->seq & s->hash_mask]);
	/* Free: the newest frame, filed last at once by the one rule. */
	shmstream_free_insert(s, slot);
	s->frames++;
	s->bytes += c->bytes_used;
	sf->taken++;
	WRITE_ONCE(s->ctrl->head_slot, c->slot);
	/*
	 * Lockless readers of the control area: whoever load-acquires this
	 * head_seq sees the whole descriptor and head_slot written above.
	 */
	smp_store_release(&s->ctrl->head_seq, c->seq);
	spin_unlock(&s->lock);

	shmstream_hot_add(frames_total, 1);
	trace_shmstream_commit(s, c->slot, c->seq, c->bytes_used);
	shmstream_wake(&s->read_wq, EPOLLIN | EPOLLRDNORM);
	/*
	 * The slot is no longer pending and nobody holds it yet: it is free,
	 * for another thread of the producer waiting in GET_SLOT, write(2)
	 * or poll while every other slot is pending.
	 */
	shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
	return 0;
}

#define SHMSTREAM_COMMIT_FLAGS                                  \
	(SHMSTREAM_COMMIT_TIMESTAMP | SHMSTREAM_COMMIT_FORMAT | \
	 SHMSTREAM_COMMIT_DISCARD)

long shmstream_ioc_commit(struct shmstream_file *sf, void __user *uarg)
{
	struct shmstream_commit c;
	struct shmstream_stream *s;
	int ret;

	ret = shmstream_copy_args(&c, sizeof(c), SHMSTREAM_COMMIT_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if ((c.flags & ~SHMSTREAM_COMMIT_FLAGS) ||
	    memchr_inv(c.reserved, 0, sizeof(c.reserved)))
		return -EINVAL;
	s = shmstream_role(sf, SHMSTREAM_ATTACH_PRODUCER, &ret);
	if (!s)
		return ret;
	if (c.slot >= s->slot_count || c.bytes_used > s->slot_size ||
	    c.meta_len > SHMSTREAM_META_MAX)
		return -EINVAL;
	if (READ_ONCE(s->destroyed) && !(c.flags & SHMSTREAM_COMMIT_DISCARD))
		return -EIDRM;

	ret = shmstream_do_commit(s, sf, &c);
	if (ret)
		return ret;
	return shmstream_copy_out(uarg, &c);
}

/*
 * May a guest's consumer (struct shmstream_create) hold the frame in slot
 * @i? Within its user's holds, and in a slot guests hold already or while
 * guests hold fewer than all slots but one: whatever the guests do, a
 * slot is left that only the owner's consumers and the producer use, so a
 * producer with nothing pending finds it free unless the owner holds it.
 * No producer can commit to a destroyed stream: there, no slot is kept.
 * 0; -ENOBUFS when the caller holds frames it can give back; -EAGAIN, to
 * wait for the guests to give one back, when it holds none.
 */
static int shmstream_guest_may_hold(struct shmstream_stream *s,
				    struct shmstream_file *sf, u32 i)
{
	lockdep_assert_held(&s->lock);

	if (sf->guest->holds >= s->user_holds)
		return -ENOBUFS;
	if (s->slots[i].guest_holders || s->guest_slots + 1 < s->slot_count ||
	    s->destroyed)
		return 0;
	return sf->nr_slots ? -ENOBUFS : -EAGAIN;
}

/*
 * A guest's hold on @slot is taken (@n = 1) or given back (@n = -1). True
 * when the guests hold frames in one slot fewer: a guest waiting for the
 * last slot may go on (shmstream_guest_may_hold()).
 */
static bool shmstream_guest_hold(struct shmstream_stream *s,
				 struct shmstream_file *sf,
				 struct shmstream_slot *slot, int n)
{
	lockdep_assert_held(&s->lock);

	sf->guest->holds += n;
	slot->guest_holders += n;
	if (n > 0 && slot->guest_holders == 1)
		s->guest_slots++;
	if (n > 0 || slot->guest_holders)
		return false;
	s->guest_slots--;
	return true;
}

/*
 * Consumer: hold the frame @mode selects, or -EAGAIN. With @max_bytes, a
 * larger frame is refused with -EMSGSIZE and nothing changes.
 */
struct shmstream_frame_ctx {
	struct shmstream_stream *s;
	struct shmstream_file *sf;
	u32 mode;
	size_t max_bytes;
	struct shmstream_acquire *a; /* out: missed, offset, frame, events */
	u64 prev_cursor; /* out: the cursor before the frame was taken */
	bool wake_producer; /* out: a reliable consumer moved on */
};

static int shmstream_try_acquire(void *ctx)
{
	struct shmstream_frame_ctx *c = ctx;
	struct shmstream_stream *s = c->s;
	struct shmstream_file *sf = c->sf;
	struct shmstream_acquire *a = c->a;
	int i, ret = 0;
	u64 seq;

	spin_lock(&s->lock);
	if (sf->nr_slots >= READ_ONCE(shmstream_max_holds)) {
		ret = -ENOBUFS;
		goto out_unlock;
	}
	/* Like a pipe: a destroyed stream's last frames are still read. */
	i = shmstream_find_frame(s, sf->cursor, c->mode);
	if (i < 0) {
		ret = s->destroyed ? -EIDRM : -EAGAIN;
		goto out_unlock;
	}
	if (s->desc[i].bytes_used > c->max_bytes) {
		ret = -EMSGSIZE;
		goto out_unlock;
	}
	if (sf->guest) {
		ret = shmstream_guest_may_hold(s, sf, i);
		if (ret)
			goto out_unlock;
		shmstream_guest_hold(s, sf, &s->slots[i], 1);
	}
	seq = s->slots[i].seq;
	if (shmstream_reliable(sf)) {
		sf->last_take_ns = ktime_get_ns();
		/* LATEST may pass the frame that held the producer back. */
		c->wake_producer = s->held_back_since;
	}
	if (sf->demoted_event) {
		a->events |= SHMSTREAM_ACQUIRE_EV_DEMOTED;
		sf->demoted_event = false;
	}
	c->prev_cursor = sf->cursor;
	a->missed = seq - sf->cursor - 1;
	sf->missed += a->missed;
	sf->taken++;
	sf->cursor = seq;
	if (!s->slots[i].holders++)
		list_del_init(&s->slots[i].free_node);
	__set_bit(i, sf->slots);
	sf->nr_slots++;
	shmstream_hot_add(holds, 1);
	a->frame = s->desc[i];
	a->frame.gen = 0;
	a->offset = shmstream_slot_offset(s, i);
	trace_shmstream_acquire(s, i, seq, a->missed);
out_unlock:
	spin_unlock(&s->lock);
	return ret;
}

/* Drop a hold on @slot; -EINVAL when this file does not hold it. */
static int shmstream_do_release(struct shmstream_stream *s,
				struct shmstream_file *sf, u32 slot)
{
	bool freed, guests_fewer = false;

	if (slot >= s->slot_count)
		return -EINVAL;
	spin_lock(&s->lock);
	if (!test_bit(slot, sf->slots)) {
		spin_unlock(&s->lock);
		return -EINVAL;
	}
	__clear_bit(slot, sf->slots);
	sf->nr_slots--;
	if (sf->guest)
		guests_fewer = shmstream_guest_hold(s, sf, &s->slots[slot], -1);
	freed = !--s->slots[slot].holders;
	if (freed)
		shmstream_free_insert(s, &s->slots[slot]);
	spin_unlock(&s->lock);

	shmstream_hot_add(holds, -1);
	trace_shmstream_release(s, slot, freed);
	if (freed)
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
	if (guests_fewer)
		shmstream_wake(&s->read_wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/*
 * The frame @c took cannot reach the caller (its result or its bytes could
 * not be copied out): give it back as if it had never been taken. When no
 * other acquire on this file moved the cursor since, the cursor, taken and
 * missed return to what they were, so the frame is offered again; when one
 * did, the frame counts as missed, so that taken + missed still adds up.
 */
static void shmstream_undo_acquire(struct shmstream_frame_ctx *c)
{
	struct shmstream_stream *s = c->s;
	struct shmstream_file *sf = c->sf;
	struct shmstream_acquire *a = c->a;

	spin_lock(&s->lock);
	sf->taken--;
	if (a->events & SHMSTREAM_ACQUIRE_EV_DEMOTED)
		sf->demoted_event = true;
	if (sf->cursor == a->frame.seq) {
		sf->cursor = c->prev_cursor;
		sf->missed -= a->missed;
	} else {
		sf->missed++;
	}
	spin_unlock(&s->lock);
	shmstream_do_release(s, sf, a->frame.slot);
}

#define SHMSTREAM_ACQUIRE_MODES \
	(SHMSTREAM_ACQUIRE_NEXT | SHMSTREAM_ACQUIRE_LATEST)

long shmstream_ioc_acquire(struct shmstream_file *sf, struct file *file,
			   void __user *uarg)
{
	struct shmstream_frame_ctx ctx;
	struct shmstream_acquire a;
	struct shmstream_stream *s;
	long ret;
	int err;

	ret = shmstream_copy_args(&a, sizeof(a), SHMSTREAM_ACQUIRE_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (a.flags != SHMSTREAM_ACQUIRE_NEXT &&
	    a.flags != SHMSTREAM_ACQUIRE_LATEST)
		return -EINVAL;
	if (a.reserved0 || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	a.events = 0;
	s = shmstream_role(sf, SHMSTREAM_ATTACH_CONSUMER, &err);
	if (!s)
		return err;

	ctx.s = s;
	ctx.sf = sf;
	ctx.mode = a.flags;
	ctx.max_bytes = SIZE_MAX;
	ctx.a = &a;
	ctx.wake_producer = false;
	ret = shmstream_wait(s, false, shmstream_deadline(file, a.deadline_ns),
			     shmstream_try_acquire, &ctx);
	if (ret)
		return ret;
	if (ctx.wake_producer)
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
	if (shmstream_copy_out(uarg, &a)) {
		/* The caller cannot learn the slot: as if never taken. */
		shmstream_undo_acquire(&ctx);
		return -EFAULT;
	}
	return 0;
}

long shmstream_ioc_release(struct shmstream_file *sf, void __user *uarg)
{
	struct shmstream_release r;
	struct shmstream_stream *s;
	int ret;

	ret = shmstream_copy_args(&r, sizeof(r), SHMSTREAM_RELEASE_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (r.flags || r.reserved0 ||
	    memchr_inv(r.reserved, 0, sizeof(r.reserved)))
		return -EINVAL;
	s = shmstream_role(sf, SHMSTREAM_ATTACH_CONSUMER, &ret);
	if (!s)
		return ret;
	return shmstream_do_release(s, sf, r.slot);
}

/*
 * Copy @count bytes between @slot and user memory, a page at a time: the
 * slots have no kernel mapping of their own, and on 64-bit every page has
 * its address in the direct map.
 */
static int shmstream_copy_slot(struct shmstream_stream *s, u32 slot,
			       char __user *ubuf, size_t count, bool to_user)
{
	size_t off, n;

	for (off = 0; off < count; off += n) {
		void *kaddr = page_address(shmstream_slot_page(s, slot, off));

		n = min_t(size_t, count - off, PAGE_SIZE);
		if (to_user ? copy_to_user(ubuf + off, kaddr, n) :
			      copy_from_user(kaddr, ubuf + off, n))
			return -EFAULT;
	}
	return 0;
}

/* read(2): the next frame, copied; a too small buffer is -EMSGSIZE. */
ssize_t shmstream_read(struct file *file, char __user *buf, size_t count,
		       loff_t *ppos)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_frame_ctx ctx;
	struct shmstream_acquire a;
	struct shmstream_stream *s;
	long ret;
	int err;

	s = shmstream_role(sf, SHMSTREAM_ATTACH_CONSUMER, &err);
	if (!s)
		return err;
	ctx.s = s;
	ctx.sf = sf;
	ctx.mode = SHMSTREAM_ACQUIRE_NEXT;
	ctx.max_bytes = count;
	ctx.a = &a;
	ctx.wake_producer = false;
	a.events = 0;
	ret = shmstream_wait(s, false,
			     shmstream_deadline(file, SHMSTREAM_DEADLINE_NEVER),
			     shmstream_try_acquire, &ctx);
	if (ret)
		return ret;
	ret = a.frame.bytes_used;
	if (shmstream_copy_slot(s, a.frame.slot, buf, ret, true)) {
		/* Nothing (or part) reached the caller: as if never read. */
		shmstream_undo_acquire(&ctx);
		return -EFAULT;
	}
	shmstream_do_release(s, sf, a.frame.slot);
	return ret;
}

/* write(2): one frame, copied into a free slot and committed. */
ssize_t shmstream_write(struct file *file, const char __user *buf, size_t count,
			loff_t *ppos)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_commit c = { 0 };
	struct shmstream_slot_ctx ctx;
	struct shmstream_stream *s;
	long ret;
	u32 slot;
	int err;

	s = shmstream_role(sf, SHMSTREAM_ATTACH_PRODUCER, &err);
	if (!s)
		return err;
	if (count > s->slot_size)
		return -EMSGSIZE;
	if (!count)
		return 0;
	ctx.s = s;
	ctx.sf = sf;
	ret = shmstream_wait(s, true,
			     shmstream_deadline(file, SHMSTREAM_DEADLINE_NEVER),
			     shmstream_try_get_slot, &ctx);
	if (ret)
		return ret;

	slot = ctx.slot;
	c.slot = slot;
	if (shmstream_copy_slot(s, slot, (char __user *)buf, count, false)) {
		c.flags = SHMSTREAM_COMMIT_DISCARD;
		shmstream_do_commit(s, sf, &c);
		return -EFAULT;
	}
	c.bytes_used = count;
	if (READ_ONCE(s->destroyed))
		c.flags = SHMSTREAM_COMMIT_DISCARD;
	ret = shmstream_do_commit(s, sf, &c);
	if (!ret && (c.flags & SHMSTREAM_COMMIT_DISCARD))
		ret = -EIDRM;
	return ret ? ret : count;
}

/* Pass a wake-up of the stream on to the file polled before it was bound. */
static int shmstream_fwd_wake(wait_queue_entry_t *wait, unsigned int mode,
			      int sync, void *key)
{
	struct shmstream_file *sf =
		container_of(wait, struct shmstream_file, fwd);

	wake_up_interruptible_poll(&sf->poll_wq, key_to_poll(key));
	return 0;
}

/*
 * @sf was just bound. A poll before that registered on sf->poll_wq, which
 * no commit reaches: from now on the stream's queue for the file's role
 * forwards its wake-ups there, and the poller is woken to ask again.
 */
void shmstream_poll_bind(struct shmstream_file *sf)
{
	struct shmstream_stream *s = sf->stream;

	/*
	 * Pairs with smp_mb() in shmstream_poll(): either this sees the
	 * poller in sf->poll_wq, or the poller sees sf->stream and registers
	 * on the stream's queue itself.
	 */
	smp_mb();
	/* Lockless, and safe after the full barrier above. */
	if (!waitqueue_active(&sf->poll_wq))
		return;
	sf->fwd_wq = sf->role == SHMSTREAM_ATTACH_CONSUMER ? &s->read_wq :
							     &s->write_wq;
	init_waitqueue_func_entry(&sf->fwd, shmstream_fwd_wake);
	add_wait_queue(sf->fwd_wq, &sf->fwd);
	wake_up_interruptible_poll(&sf->poll_wq, EPOLLIN | EPOLLOUT);
}

void shmstream_poll_unbind(struct shmstream_file *sf)
{
	if (sf->fwd_wq)
		remove_wait_queue(sf->fwd_wq, &sf->fwd);
	sf->fwd_wq = NULL;
}

__poll_t shmstream_poll(struct file *file, struct poll_table_struct *wait)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_stream *s = shmstream_bound(sf);
	__poll_t mask = 0;
	int i;

	if (!s) {
		/* Nothing to report yet; shmstream_poll_bind() wakes it. */
		poll_wait(file, &sf->poll_wq, wait);
		/* Pairs with smp_mb() in shmstream_poll_bind(). */
		smp_mb();
		s = shmstream_bound(sf);
		if (!s)
			return EPOLLERR;
	}

	if (sf->role == SHMSTREAM_ATTACH_CONSUMER) {
		poll_wait(file, &s->read_wq, wait);
		spin_lock(&s->lock);
		i = shmstream_find_frame(s, sf->cursor, SHMSTREAM_ACQUIRE_NEXT);
		/* Not for a guest that would wait for a free slot first. */
		if (i >= 0 && (!sf->guest ||
			       shmstream_guest_may_hold(s, sf, i) != -EAGAIN))
			mask |= EPOLLIN | EPOLLRDNORM;
		if (!s->producers)
			mask |= EPOLLPRI;
		/* Demoted: until the next ACQUIRE reports it. */
		if (sf->demoted_event)
			mask |= EPOLLERR;
	} else {
		poll_wait(file, &s->write_wq, wait);
		spin_lock(&s->lock);
		if (sf->nr_slots < READ_ONCE(shmstream_max_holds) &&
		    shmstream_find_free(s) >= 0)
			mask |= EPOLLOUT | EPOLLWRNORM;
	}
	if (s->destroyed)
		mask |= EPOLLHUP;
	spin_unlock(&s->lock);
	return mask;
}

/* A guest's consumer goes: its user's entry goes with the last one. */
static void shmstream_guest_detach(struct shmstream_stream *s,
				   struct shmstream_file *sf)
{
	struct shmstream_guest *g = sf->guest;

	lockdep_assert_held(&s->lock);

	s->guest_consumers--;
	sf->guest = NULL;
	if (!--g->consumers) {
		list_del(&g->node);
		kfree(g);
	}
}

/* The file is closing: discard pending slots or drop holds, give up role. */
void shmstream_ring_detach(struct shmstream_stream *s,
			   struct shmstream_file *sf)
{
	bool producer, freed = false, guests_fewer = false, moved_on = false;
	bool no_producer = false;
	unsigned int i;

	spin_lock(&s->lock);
	producer = sf->role == SHMSTREAM_ATTACH_PRODUCER;
	for_each_set_bit(i, sf->slots, s->slot_count) {
		struct shmstream_slot *slot = &s->slots[i];

		if (producer) {
			slot->pending = false;
			shmstream_hot_add(pending, -1);
		} else {
			slot->holders--;
			shmstream_hot_add(holds, -1);
			if (sf->guest && shmstream_guest_hold(s, sf, slot, -1))
				guests_fewer = true;
		}
		if (!slot->pending && !slot->holders) {
			shmstream_free_insert(s, slot);
			freed = true;
		}
	}
	bitmap_zero(sf->slots, s->slot_count);
	sf->nr_slots = 0;
	if (producer) {
		no_producer = !--s->producers;
		s->producer_detaches++;
	} else {
		if (shmstream_reliable(sf)) {
			shmstream_unreliable(s, sf);
			moved_on = s->held_back_since;
		}
		s->consumers--;
		if (sf->guest)
			shmstream_guest_detach(s, sf);
	}
	list_del(&sf->node);
	spin_unlock(&s->lock);

	if (no_producer)
		shmstream_wake(&s->read_wq, EPOLLPRI);
	if ((freed && !producer) || moved_on)
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
	if (guests_fewer)
		shmstream_wake(&s->read_wq, EPOLLIN | EPOLLRDNORM);
}
