// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stream handles: create or open as producer or consumer, map the ring
 * once, and the frame calls (begin/commit/write, acquire/release/read).
 * Nothing here allocates after the handle is opened.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t shmdev_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t shmdev_deadline_ns(int64_t timeout_ns)
{
	uint64_t now;

	if (timeout_ns == 0)
		return SHMSTREAM_DEADLINE_NOWAIT;
	if (timeout_ns < 0)
		return SHMSTREAM_DEADLINE_NEVER;
	now = shmdev_now_ns();
	if ((uint64_t)timeout_ns >= SHMSTREAM_DEADLINE_NEVER - now)
		return SHMSTREAM_DEADLINE_NEVER;
	return now + (uint64_t)timeout_ns;
}

static void shmdev_stream_free(struct shmdev_stream *s)
{
	shmdev_cuda_stream_fini(s);
	pthread_mutex_destroy(&s->cuda_lock);
	if (s->dmabuf_fds) {
		for (uint32_t i = 0; i < s->info.slot_count; i++)
			if (s->dmabuf_fds[i] >= 0)
				close(s->dmabuf_fds[i]);
		free(s->dmabuf_fds);
	}
	pthread_mutex_destroy(&s->dmabuf_lock);
	if (s->slots)
		munmap(s->slots, s->slots_len);
	if (s->ctrl)
		munmap((void *)s->ctrl, s->info.ctrl_size);
	if (s->fd >= 0)
		close(s->fd);
	shmdev_unref(s->dev);
	free(s);
}

static int shmdev_stream_new(struct shmdev *dev, struct shmdev_stream **out)
{
	struct shmdev_stream *s;

	if (!dev || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	pthread_mutex_init(&s->cuda_lock, NULL);
	pthread_mutex_init(&s->dmabuf_lock, NULL);
	s->dev = shmdev_ref(dev);
	s->fd = open(dev->path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		int ret = -errno;

		shmdev_stream_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* The file is bound: learn the geometry and map the ring. */
static int shmdev_stream_map(struct shmdev_stream *s, uint32_t role)
{
	int prot = role == SHMSTREAM_ATTACH_PRODUCER ? PROT_READ | PROT_WRITE : PROT_READ;
	void *p;
	int ret;

	s->role = role;
	s->info.size = sizeof(s->info);
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_INFO, &s->info);
	if (ret)
		return ret;
	p = mmap(NULL, s->info.ctrl_size, PROT_READ, MAP_SHARED, s->fd, s->info.ctrl_offset);
	if (p == MAP_FAILED)
		return -errno;
	s->ctrl = p;
	s->slots_len = (size_t)s->info.slot_count * s->info.slot_stride;
	p = mmap(NULL, s->slots_len, prot, MAP_SHARED, s->fd, s->info.slots_offset);
	if (p == MAP_FAILED)
		return -errno;
	s->slots = p;
	if (role == SHMSTREAM_ATTACH_CONSUMER) {
		struct shmstream_stats st = { .size = sizeof(st) };

		/* Where the spin of shmdev_acquire() starts watching. */
		ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_STATS, &st);
		if (ret)
			return ret;
		atomic_init(&s->cursor, st.cursor);
	}
	return 0;
}

SHMDEV_EXPORT int shmdev_create(struct shmdev *dev, const char *name,
				const struct shmdev_create_params *params,
				struct shmdev_stream **out)
{
	return shmdev_create_limited(dev, name, params, NULL, out);
}

SHMDEV_EXPORT int shmdev_create_limited(struct shmdev *dev, const char *name,
					const struct shmdev_create_params *params,
					const struct shmdev_create_limits *limits,
					struct shmdev_stream **out)
{
	struct shmstream_create c = { .size = sizeof(c) };
	struct shmdev_stream *s;
	int ret;

	if (!dev || !params || !out || shmdev_copy_name(c.name, name))
		return -EINVAL;
	if (limits) {
		for (size_t i = 0; i < sizeof(limits->reserved) / sizeof(limits->reserved[0]); i++)
			if (limits->reserved[i])
				return -EINVAL;
		c.max_consumers = limits->max_consumers;
		c.user_consumers = limits->user_consumers;
		c.user_holds = limits->user_holds;
		c.stall_ms = limits->stall_ms;
		c.max_producers = limits->max_producers;
		/* An older module would say EINVAL: say what is missing. */
		if ((c.max_consumers || c.user_consumers || c.user_holds) &&
		    !(dev->version.features & SHMSTREAM_FEAT_ISOLATION))
			return -EOPNOTSUPP;
	}
	if ((c.stall_ms || c.max_producers ||
	     (params->flags & SHMSTREAM_CREATE_MULTI_PRODUCER)) &&
	    !(dev->version.features & SHMSTREAM_FEAT_DELIVERY))
		return shmdev_set_errmsg(-EOPNOTSUPP,
					 "the module (ABI %u.%u) has no reliable consumers or several producers",
					 dev->version.abi_major, dev->version.abi_minor);
	if ((params->flags & SHMSTREAM_CREATE_CONTIGUOUS) &&
	    !(dev->version.features & SHMSTREAM_FEAT_DMABUF))
		return shmdev_set_errmsg(-EOPNOTSUPP,
					 "the module (ABI %u.%u) has no contiguous slots",
					 dev->version.abi_major, dev->version.abi_minor);
	c.flags = params->flags;
	c.slot_count = params->slot_count;
	c.slot_size = params->slot_size;
	c.mode = params->mode ? params->mode : 0600;
	c.format = params->format;
	ret = shmdev_stream_new(dev, &s);
	if (ret)
		return ret;
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_CREATE, &c);
	if (!ret) {
		ret = shmdev_stream_map(s, SHMSTREAM_ATTACH_PRODUCER);
		/* Leave no stream behind that the caller never got. */
		if (ret)
			shmdev_destroy(dev, name);
	}
	if (ret) {
		shmdev_stream_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

static int shmdev_attach(struct shmdev *dev, const char *name, uint32_t role,
			 uint32_t history, struct shmdev_stream **out)
{
	struct shmstream_attach a = { .size = sizeof(a), .flags = role,
				      .history = history };
	struct shmdev_stream *s;
	int ret;

	if (shmdev_copy_name(a.name, name))
		return -EINVAL;
	ret = shmdev_stream_new(dev, &s);
	if (ret)
		return ret;
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_ATTACH, &a);
	if (!ret)
		ret = shmdev_stream_map(s, role & (SHMSTREAM_ATTACH_PRODUCER |
						   SHMSTREAM_ATTACH_CONSUMER));
	if (ret) {
		shmdev_stream_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

SHMDEV_EXPORT int shmdev_open_producer(struct shmdev *dev, const char *name,
				       struct shmdev_stream **out)
{
	return shmdev_attach(dev, name, SHMSTREAM_ATTACH_PRODUCER, 0, out);
}

SHMDEV_EXPORT int shmdev_open_consumer(struct shmdev *dev, const char *name,
				       struct shmdev_stream **out)
{
	return shmdev_attach(dev, name, SHMSTREAM_ATTACH_CONSUMER, 0, out);
}

SHMDEV_EXPORT int shmdev_open_consumer_history(struct shmdev *dev, const char *name,
					       uint32_t flags, uint32_t history,
					       struct shmdev_stream **out)
{
	uint32_t attach = SHMSTREAM_ATTACH_CONSUMER;

	if (!dev || (flags & ~(SHMDEV_OPEN_NEWEST | SHMDEV_OPEN_RELIABLE)) ||
	    (history && (flags & SHMDEV_OPEN_NEWEST)))
		return -EINVAL;
	if (flags & SHMDEV_OPEN_NEWEST) {
		if (!(dev->version.features & SHMSTREAM_FEAT_ATTACH_NEWEST))
			return shmdev_set_errmsg(-EOPNOTSUPP,
						 "the module (ABI %u.%u) has no ATTACH_NEWEST",
						 dev->version.abi_major,
						 dev->version.abi_minor);
		attach |= SHMSTREAM_ATTACH_NEWEST;
	}
	if ((flags & SHMDEV_OPEN_RELIABLE) || history) {
		if (!(dev->version.features & SHMSTREAM_FEAT_DELIVERY))
			return shmdev_set_errmsg(-EOPNOTSUPP,
						 "the module (ABI %u.%u) has no reliable consumers or history",
						 dev->version.abi_major,
						 dev->version.abi_minor);
		if (flags & SHMDEV_OPEN_RELIABLE)
			attach |= SHMSTREAM_ATTACH_RELIABLE;
	}
	return shmdev_attach(dev, name, attach, history, out);
}

SHMDEV_EXPORT int shmdev_open_consumer_flags(struct shmdev *dev, const char *name,
					     uint32_t flags, struct shmdev_stream **out)
{
	return shmdev_open_consumer_history(dev, name, flags, 0, out);
}

SHMDEV_EXPORT struct shmdev_stream *shmdev_stream_ref(struct shmdev_stream *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

SHMDEV_EXPORT struct shmdev_stream *shmdev_stream_unref(struct shmdev_stream *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		shmdev_stream_free(s);
	return NULL;
}

SHMDEV_EXPORT int shmdev_stream_fd(const struct shmdev_stream *s)
{
	return s ? s->fd : -EINVAL;
}

SHMDEV_EXPORT const char *shmdev_stream_name(const struct shmdev_stream *s)
{
	return s ? s->info.name : NULL;
}

SHMDEV_EXPORT int shmdev_stream_info(struct shmdev_stream *s, struct shmstream_info *out)
{
	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	return shmdev_ioctl(s->fd, SHMSTREAM_IOC_INFO, out);
}

SHMDEV_EXPORT int shmdev_stream_stats(struct shmdev_stream *s, struct shmstream_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	return shmdev_ioctl(s->fd, SHMSTREAM_IOC_STATS, out);
}

SHMDEV_EXPORT int shmdev_slot_dmabuf(struct shmdev_stream *s, uint32_t slot, int *fd)
{
	struct shmstream_slot_dmabuf d = { .size = sizeof(d),
					   .flags = SHMSTREAM_DMABUF_CLOEXEC };
	int ret = 0;

	if (!s || !fd)
		return -EINVAL;
	if (!(s->dev->version.features & SHMSTREAM_FEAT_DMABUF))
		return shmdev_set_errmsg(-EOPNOTSUPP, "the module (ABI %u.%u) has no dma-buf export",
					 s->dev->version.abi_major, s->dev->version.abi_minor);
	if (slot >= s->info.slot_count)
		return shmdev_set_errmsg(-EINVAL, "slot %u: the stream has %u", slot,
					 s->info.slot_count);
	pthread_mutex_lock(&s->dmabuf_lock);
	if (!s->dmabuf_fds) {
		s->dmabuf_fds = malloc(s->info.slot_count * sizeof(*s->dmabuf_fds));
		if (!s->dmabuf_fds) {
			ret = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < s->info.slot_count; i++)
			s->dmabuf_fds[i] = -1;
	}
	if (s->dmabuf_fds[slot] < 0) {
		d.slot = slot;
		ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_SLOT_DMABUF, &d);
		if (ret)
			goto out;
		s->dmabuf_fds[slot] = d.fd;
	}
	*fd = s->dmabuf_fds[slot];
out:
	pthread_mutex_unlock(&s->dmabuf_lock);
	return ret;
}

SHMDEV_EXPORT int shmdev_stream_state(struct shmdev_stream *s)
{
	struct pollfd pfd;
	int state = 0;

	if (!s)
		return -EINVAL;
	pfd.fd = s->fd;
	pfd.events = POLLIN | POLLOUT | POLLPRI;
	if (poll(&pfd, 1, 0) < 0)
		return -errno;
	if (pfd.revents & POLLIN)
		state |= SHMDEV_STATE_READABLE;
	if (pfd.revents & POLLOUT)
		state |= SHMDEV_STATE_WRITABLE;
	if (pfd.revents & POLLPRI)
		state |= SHMDEV_STATE_NO_PRODUCER;
	if (pfd.revents & POLLHUP)
		state |= SHMDEV_STATE_DESTROYED;
	/* Demoted: poll says so until an ACQUIRE has said so, then we do. */
	if ((pfd.revents & POLLERR) || atomic_load(&s->demoted))
		state |= SHMDEV_STATE_DEMOTED;
	return state;
}

SHMDEV_EXPORT int shmdev_begin(struct shmdev_stream *s, int64_t timeout_ns,
			       struct shmdev_slot *slot)
{
	struct shmstream_get_slot g = { .size = sizeof(g) };
	int ret;

	if (!s || !slot)
		return -EINVAL;
	g.deadline_ns = shmdev_deadline_ns(timeout_ns);
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_GET_SLOT, &g);
	if (ret)
		return ret;
	slot->index = g.slot;
	slot->size = s->info.slot_size;
	slot->data = s->slots + (size_t)g.slot * s->info.slot_stride;
	return 0;
}

SHMDEV_EXPORT int shmdev_commit(struct shmdev_stream *s, const struct shmdev_slot *slot,
				struct shmdev_commit_params *params)
{
	struct shmstream_commit c = { .size = sizeof(c) };
	int ret;

	if (!s || !slot || !params || params->meta_len > SHMSTREAM_META_MAX ||
	    (params->meta_len && !params->meta))
		return -EINVAL;
	c.slot = slot->index;
	c.bytes_used = params->bytes;
	c.frame_flags = params->frame_flags;
	if (params->timestamp_ns) {
		c.flags |= SHMSTREAM_COMMIT_TIMESTAMP;
		c.timestamp_ns = params->timestamp_ns;
	}
	if (params->format) {
		c.flags |= SHMSTREAM_COMMIT_FORMAT;
		c.format = *params->format;
	}
	c.meta_len = params->meta_len;
	if (params->meta_len)
		memcpy(c.meta, params->meta, params->meta_len);
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_COMMIT, &c);
	if (!ret)
		params->seq = c.seq;
	return ret;
}

SHMDEV_EXPORT int shmdev_discard(struct shmdev_stream *s, const struct shmdev_slot *slot)
{
	struct shmstream_commit c = { .size = sizeof(c), .flags = SHMSTREAM_COMMIT_DISCARD };

	if (!s || !slot)
		return -EINVAL;
	c.slot = slot->index;
	return shmdev_ioctl(s->fd, SHMSTREAM_IOC_COMMIT, &c);
}

SHMDEV_EXPORT int shmdev_write(struct shmdev_stream *s, const void *buf, size_t len,
			       int64_t timeout_ns)
{
	struct shmdev_commit_params p = { .bytes = (uint32_t)len };
	struct shmdev_slot slot;
	int ret;

	if (!s || (!buf && len))
		return -EINVAL;
	if (len > s->info.slot_size)
		return -EMSGSIZE;
	ret = shmdev_begin(s, timeout_ns, &slot);
	if (ret)
		return ret;
	memcpy(slot.data, buf, len);
	ret = shmdev_commit(s, &slot, &p);
	return ret ? ret : (int)len;
}

/*
 * The control area's read protocol (struct shmstream_ctrl in the uapi
 * header): the newest frame's descriptor, whole, without a syscall.
 */
static int peek_desc(const struct shmstream_ctrl *ctrl, uint32_t slot_count,
		     struct shmstream_frame *out, uint64_t *retries)
{
	const struct shmstream_frame *desc =
		(const void *)((const char *)ctrl + ctrl->desc_offset);
	uint64_t head, tries = 0;
	uint32_t slot, g1, g2;
	int ret;

	for (;; tries++) {
		head = __atomic_load_n(&ctrl->head_seq, __ATOMIC_ACQUIRE);
		if (!head) {
			ret = -EAGAIN;
			break;
		}
		slot = __atomic_load_n(&ctrl->head_slot, __ATOMIC_RELAXED);
		if (slot >= slot_count) {
			ret = -EPROTO;
			break;
		}
		g1 = __atomic_load_n(&desc[slot].gen, __ATOMIC_ACQUIRE);
		if (g1 & 1)
			continue;
		memcpy(out, (const void *)&desc[slot], sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		g2 = __atomic_load_n(&desc[slot].gen, __ATOMIC_RELAXED);
		if (g1 != g2 || out->seq > head)
			continue;
		ret = out->seq == head ? 0 : -EAGAIN;
		break;
	}
	if (retries)
		*retries += tries;
	return ret;
}

SHMDEV_EXPORT int shmdev_peek(struct shmdev_stream *s, struct shmstream_frame *desc,
			      uint64_t *retries)
{
	if (!s || !desc)
		return -EINVAL;
	return peek_desc(s->ctrl, s->info.slot_count, desc, retries);
}

SHMDEV_EXPORT int shmdev_stream_set_spin(struct shmdev_stream *s, uint64_t spin_ns)
{
	if (!s || s->role != SHMSTREAM_ATTACH_CONSUMER)
		return -EINVAL;
	atomic_store_explicit(&s->spin_ns, spin_ns, memory_order_relaxed);
	return 0;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * The spin before sleeping: watch the control area's head for a frame past
 * this handle's cursor, for at most the handle's spin budget and never past
 * @deadline, the one the kernel then waits until if no frame came.
 */
static void spin_for_frame(struct shmdev_stream *s, uint64_t deadline)
{
	uint64_t budget = atomic_load_explicit(&s->spin_ns, memory_order_relaxed);
	uint64_t cursor = atomic_load_explicit(&s->cursor, memory_order_relaxed);
	uint64_t start, end;
	unsigned int i = 0;

	if (!budget || deadline == SHMSTREAM_DEADLINE_NOWAIT)
		return;
	start = shmdev_now_ns();
	if (deadline <= start)
		return;
	end = budget < deadline - start ? start + budget : deadline;
	while (__atomic_load_n(&s->ctrl->head_seq, __ATOMIC_ACQUIRE) <= cursor) {
		cpu_relax();
		/* The clock costs more than a pause: read it now and then. */
		if (!(++i % 64) && shmdev_now_ns() >= end)
			break;
	}
}

SHMDEV_EXPORT int shmdev_acquire(struct shmdev_stream *s, enum shmdev_mode mode,
				 int64_t timeout_ns, struct shmdev_frame *frame)
{
	struct shmstream_acquire a = { .size = sizeof(a) };
	int ret;

	if (!s || !frame || (mode != SHMDEV_NEXT && mode != SHMDEV_LATEST))
		return -EINVAL;
	a.flags = mode;
	a.deadline_ns = shmdev_deadline_ns(timeout_ns);
	spin_for_frame(s, a.deadline_ns);
	ret = shmdev_ioctl(s->fd, SHMSTREAM_IOC_ACQUIRE, &a);
	if (ret)
		return ret;
	atomic_store_explicit(&s->cursor, a.frame.seq, memory_order_relaxed);
	if (a.events & SHMSTREAM_ACQUIRE_EV_DEMOTED)
		atomic_store(&s->demoted, true);
	frame->data = s->slots + (size_t)a.frame.slot * s->info.slot_stride;
	frame->len = a.frame.bytes_used;
	frame->seq = a.frame.seq;
	frame->timestamp_ns = a.frame.timestamp_ns;
	frame->missed = a.missed;
	frame->slot = a.frame.slot;
	frame->frame_flags = a.frame.frame_flags;
	frame->format = a.frame.format;
	frame->meta_len = a.frame.meta_len;
	memcpy(frame->meta, a.frame.meta, sizeof(frame->meta));
	return 0;
}

SHMDEV_EXPORT int shmdev_release(struct shmdev_stream *s, const struct shmdev_frame *frame)
{
	struct shmstream_release r = { .size = sizeof(r) };

	if (!s || !frame)
		return -EINVAL;
	r.slot = frame->slot;
	return shmdev_ioctl(s->fd, SHMSTREAM_IOC_RELEASE, &r);
}

SHMDEV_EXPORT int shmdev_read(struct shmdev_stream *s, void *buf, size_t len,
			      int64_t timeout_ns, struct shmdev_frame *frame)
{
	struct shmdev_frame f;
	int ret;

	if (!s || (!buf && len))
		return -EINVAL;
	ret = shmdev_acquire(s, SHMDEV_NEXT, timeout_ns, &f);
	if (ret)
		return ret;
	ret = f.len <= len ? (int)f.len : -EMSGSIZE;
	if (ret > 0)
		memcpy(buf, f.data, f.len);
	shmdev_release(s, &f);
	if (frame) {
		*frame = f;
		frame->data = NULL; /* released: not to be read */
	}
	return ret;
}
