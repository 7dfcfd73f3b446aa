// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring protocol: the producer takes a free slot (GET_SLOT), fills it
 * through its mapping and commits it (COMMIT); consumers hold frames
 * (ACQUIRE) and drop them (RELEASE). A slot is free when no consumer holds
 * it and no commit is pending on it; the producer never waits for a slow
 * reader, only for a moment when every slot is held.
 *
 * Commit, acquire and release take only the stream's spinlock, allocate
 * nothing, count in per-CPU counters, and wake only the tasks that sleep
 * on the stream.
 */

#include <linux/bitmap.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>

#include "shmstream.h"

/* Waiting for sleepers before waking them keeps idle commits cheap. */
static void shmstream_wake(wait_queue_head_t *wq, __poll_t events)
{
	if (wq_has_sleeper(wq))
		wake_up_interruptible_poll(wq, events);
}

static bool shmstream_slot_free(const struct shmstream_slot *slot)
{
	return !slot->holders && !slot->pending;
}

/*
 * The slot of the frame a consumer at @cursor gets in @mode, or -1. NEXT:
 * the oldest frame after the cursor; LATEST: the newest, if after it.
 */
static int shmstream_find_frame(struct shmstream_stream *s, u64 cursor,
				u32 mode)
{
	u64 best_seq = 0;
	int best = -1;
	u32 i;

	lockdep_assert_held(&s->lock);

	for (i = 0; i < s->slot_count; i++) {
		u64 seq = s->slots[i].seq;

		if (seq <= cursor)
			continue;
		if (best < 0 ||
		    (mode == SHMSTREAM_ACQUIRE_NEXT ? seq < best_seq :
						      seq > best_seq)) {
			best = i;
			best_seq = seq;
		}
	}
	return best;
}

/* The free slot whose frame is oldest (never used ones first), or -1. */
static int shmstream_find_free(struct shmstream_stream *s)
{
	int best = -1;
	u32 i;

	lockdep_assert_held(&s->lock);

	for (i = 0; i < s->slot_count; i++) {
		if (!shmstream_slot_free(&s->slots[i]))
			continue;
		if (best < 0 || s->slots[i].seq < s->slots[best].seq)
			best = i;
		if (!s->slots[i].seq)
			break;
	}
	return best;
}

typedef int (*shmstream_try_fn)(void *ctx);

/*
 * Call @try until it answers anything but -EAGAIN, sleeping on @wq between
 * calls. @timeout_ns: 0 do not wait, < 0 forever, > 0 at most that long
 * (then -ETIMEDOUT). Untimed waits restart after a signal; timed waits end
 * with -EINTR, so that a restart does not begin the whole timeout again.
 */
static long shmstream_wait(wait_queue_head_t *wq, s64 timeout_ns,
			   shmstream_try_fn try, void *ctx)
{
	long ret = try(ctx);
	long w;

	if (ret != -EAGAIN || !timeout_ns)
		return ret;
	if (timeout_ns < 0) {
		w = wait_event_interruptible(*wq, (ret = try(ctx)) != -EAGAIN);
		return w ? w : ret;
	}
	w = wait_event_interruptible_hrtimeout(*wq, (ret = try(ctx)) != -EAGAIN,
					       ns_to_ktime(timeout_ns));
	if (w == -ETIME)
		return -ETIMEDOUT;
	return w ? -EINTR : ret;
}

static s64 shmstream_timeout(struct file *file, s64 timeout_ns)
{
	return (file->f_flags & O_NONBLOCK) ? 0 : timeout_ns;
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
			/* Its old frame is gone for readers from now on. */
			s->slots[i].seq = 0;
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
	ret = shmstream_wait(&s->write_wq,
			     shmstream_timeout(file, g.timeout_ns),
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
	s->slots[c->slot].pending = false;
	shmstream_hot_add(pending, -1);

	if (c->flags & SHMSTREAM_COMMIT_DISCARD) {
		spin_unlock(&s->lock);
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
		return 0;
	}

	c->seq = ++s->head_seq;
	d = &s->desc[c->slot];
	d->seq = c->seq;
	d->timestamp_ns = ts;
	d->bytes_used = c->bytes_used;
	d->frame_flags = c->frame_flags;
	d->format = (c->flags & SHMSTREAM_COMMIT_FORMAT) ? c->format :
							   s->format;
	d->slot = c->slot;
	d->meta_len = c->meta_len;
	memcpy(d->meta, c->meta, sizeof(d->meta));
	s->slots[c->slot].seq = c->seq;
	s->frames++;
	s->bytes += c->bytes_used;
	sf->taken++;
	/* Lockless readers of the control area see the descriptor first. */
	smp_store_release(&s->ctrl->head_seq, c->seq);
	spin_unlock(&s->lock);

	shmstream_hot_add(frames_total, 1);
	shmstream_wake(&s->read_wq, EPOLLIN | EPOLLRDNORM);
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
 * Consumer: hold the frame @mode selects, or -EAGAIN. With @max_bytes, a
 * larger frame is refused with -EMSGSIZE and nothing changes.
 */
struct shmstream_frame_ctx {
	struct shmstream_stream *s;
	struct shmstream_file *sf;
	u32 mode;
	size_t max_bytes;
	struct shmstream_acquire *a; /* out: missed, offset, frame */
	u64 prev_cursor; /* out: the cursor before the frame was taken */
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
	seq = s->slots[i].seq;
	c->prev_cursor = sf->cursor;
	a->missed = seq - sf->cursor - 1;
	sf->missed += a->missed;
	sf->taken++;
	sf->cursor = seq;
	s->slots[i].holders++;
	__set_bit(i, sf->slots);
	sf->nr_slots++;
	shmstream_hot_add(holds, 1);
	a->frame = s->desc[i];
	a->offset = shmstream_slot_offset(s, i);
out_unlock:
	spin_unlock(&s->lock);
	return ret;
}

/* Drop a hold on @slot; -EINVAL when this file does not hold it. */
static int shmstream_do_release(struct shmstream_stream *s,
				struct shmstream_file *sf, u32 slot)
{
	bool freed;

	if (slot >= s->slot_count)
		return -EINVAL;
	spin_lock(&s->lock);
	if (!test_bit(slot, sf->slots)) {
		spin_unlock(&s->lock);
		return -EINVAL;
	}
	__clear_bit(slot, sf->slots);
	sf->nr_slots--;
	freed = !--s->slots[slot].holders;
	spin_unlock(&s->lock);

	shmstream_hot_add(holds, -1);
	if (freed)
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
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
	s = shmstream_role(sf, SHMSTREAM_ATTACH_CONSUMER, &err);
	if (!s)
		return err;

	ctx.s = s;
	ctx.sf = sf;
	ctx.mode = a.flags;
	ctx.max_bytes = SIZE_MAX;
	ctx.a = &a;
	ret = shmstream_wait(&s->read_wq, shmstream_timeout(file, a.timeout_ns),
			     shmstream_try_acquire, &ctx);
	if (ret)
		return ret;
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
	ret = shmstream_wait(&s->read_wq, shmstream_timeout(file, -1),
			     shmstream_try_acquire, &ctx);
	if (ret)
		return ret;
	ret = a.frame.bytes_used;
	if (copy_to_user(buf, shmstream_slot_kaddr(s, a.frame.slot), ret)) {
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
	ret = shmstream_wait(&s->write_wq, shmstream_timeout(file, -1),
			     shmstream_try_get_slot, &ctx);
	if (ret)
		return ret;

	slot = ctx.slot;
	c.slot = slot;
	if (copy_from_user(shmstream_slot_kaddr(s, slot), buf, count)) {
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

/* An unbound file has nothing to report; it still gets a wait queue. */
static DECLARE_WAIT_QUEUE_HEAD(shmstream_unbound_wq);

__poll_t shmstream_poll(struct file *file, struct poll_table_struct *wait)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_stream *s = shmstream_bound(sf);
	__poll_t mask = 0;

	if (!s) {
		poll_wait(file, &shmstream_unbound_wq, wait);
		return EPOLLERR;
	}

	if (sf->role == SHMSTREAM_ATTACH_CONSUMER) {
		poll_wait(file, &s->read_wq, wait);
		spin_lock(&s->lock);
		if (shmstream_find_frame(s, sf->cursor,
					 SHMSTREAM_ACQUIRE_NEXT) >= 0)
			mask |= EPOLLIN | EPOLLRDNORM;
		if (!s->producer)
			mask |= EPOLLPRI;
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

/* The file is closing: discard pending slots or drop holds, give up role. */
void shmstream_ring_detach(struct shmstream_stream *s,
			   struct shmstream_file *sf)
{
	unsigned int i;
	bool producer;

	spin_lock(&s->lock);
	producer = s->producer == sf;
	for_each_set_bit(i, sf->slots, s->slot_count) {
		if (producer) {
			s->slots[i].pending = false;
			shmstream_hot_add(pending, -1);
		} else {
			s->slots[i].holders--;
			shmstream_hot_add(holds, -1);
		}
	}
	bitmap_zero(sf->slots, s->slot_count);
	sf->nr_slots = 0;
	if (producer) {
		s->producer = NULL;
		s->producer_detaches++;
	} else {
		s->consumers--;
	}
	list_del(&sf->node);
	spin_unlock(&s->lock);

	if (producer)
		shmstream_wake(&s->read_wq, EPOLLPRI);
	else
		shmstream_wake(&s->write_wq, EPOLLOUT | EPOLLWRNORM);
}
