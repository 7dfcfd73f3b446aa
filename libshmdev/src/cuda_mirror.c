// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CUDA device mirror: one bridge process per GPU consumes a host stream and
 * uploads each frame into a device-resident ring, published two ways: a
 * cuMemCreate allocation exported as a POSIX fd, and a cuMemAlloc ring
 * with a legacy 64-byte cuIpcMemHandle. GPU consumers in other processes
 * connect to the bridge's Unix socket (abstract name
 * "shmstream-gpu:<stream>:<device>") and receive, with SCM_RIGHTS, a shared
 * control area (descriptors, per-slot interprocess events, hold bits) and
 * the ring's fd.
 *
 * Slot protocol (all seq_cst): a consumer sets its hold bit, then re-reads
 * the slot's sequence; the bridge zeroes the sequence, then reads every
 * hold bit. One of the two always sees the other, so the bridge never
 * rewrites a held slot and a consumer never keeps a slot being rewritten.
 * The bridge records the slot's event after the upload and publishes at
 * once; consumers order their GPU work after that event (shmdev_gpu_wait).
 * A consumer whose connection closes (exit, crash) loses its holds.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"

#define GPU_MAGIC 0x73686d67u /* "shmg" */
#define GPU_PROTO 1
#define GPU_MAX_SLOTS 64
#define GPU_MAX_CLIENTS 64
#define GPU_DEFAULT_SLOTS 4
#define GPU_ALIGN 4096

/* ctrl->state bits */
#define GPU_STATE_GONE (1u << 0) /* the bridge stopped */
#define GPU_STATE_EOF (1u << 1) /* the host stream was destroyed and drained */

struct gpu_desc {
	_Atomic uint64_t seq; /* 0: empty or being rewritten */
	uint64_t timestamp_ns;
	uint32_t bytes;
	uint32_t frame_flags;
	struct shmstream_format format;
	uint32_t meta_len;
	uint32_t pad;
	uint8_t meta[SHMSTREAM_META_MAX];
};

/* The shared control area (a memfd): written by the bridge, but for holds. */
struct gpu_ctrl {
	uint32_t magic;
	uint32_t proto;
	int32_t device;
	uint32_t slot_count;
	uint64_t slot_size;
	uint64_t slot_stride;
	uint64_t ring_size;
	uint32_t paths; /* SHMDEV_CUDA_IPC_* published */
	uint32_t pad;
	CUipcMemHandle legacy;
	CUipcEventHandle events[GPU_MAX_SLOTS];
	_Atomic uint32_t commits; /* futex word: bumped on every publish */
	_Atomic uint32_t state;
	_Atomic uint64_t latest;
	_Atomic uint64_t holds[GPU_MAX_CLIENTS]; /* per client, a bit per slot */
	struct gpu_desc slots[GPU_MAX_SLOTS];
};

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared atomics must be lock-free");

/* The bridge's answer to a connection, with the fds as SCM_RIGHTS. */
struct gpu_hello {
	uint32_t magic;
	uint32_t proto;
	int32_t status; /* 0 or -errno */
	uint32_t client;
};

struct shmdev_gpu_mirror {
	const struct shmdev_cu *cu;
	struct shmdev_stream *s; /* the host stream, as a consumer */
	CUdevice dev;
	CUcontext ctx;
	CUstream stream;
	int device;
	int listen_fd;
	int epfd;
	int memfd;
	struct gpu_ctrl *ctrl;
	CUdeviceptr ring; /* what uploads go to: the fd ring, else the legacy one */
	CUmemGenericAllocationHandle vmm;
	bool vmm_mapped;
	int vmm_fd; /* exported, sent to each client */
	CUdeviceptr legacy;
	CUevent events[GPU_MAX_SLOTS];
	int conn[GPU_MAX_CLIENTS]; /* -1: free */
	uint32_t next_slot;
	struct shmdev_gpu_mirror_stats stats;
};

struct shmdev_gpu {
	const struct shmdev_cu *cu;
	CUdevice dev;
	CUcontext ctx;
	int device;
	int sock;
	struct gpu_ctrl *ctrl;
	uint32_t client;
	uint32_t mapped; /* SHMDEV_CUDA_IPC_FD or SHMDEV_CUDA_IPC_LEGACY */
	CUdeviceptr ring;
	CUmemGenericAllocationHandle vmm;
	bool vmm_mapped;
	CUevent events[GPU_MAX_SLOTS];
	pthread_mutex_t lock; /* protects cursor */
	uint64_t cursor;
};

enum { EP_LISTEN = GPU_MAX_CLIENTS, EP_STREAM };

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static int gpu_address(const char *name, int device, struct sockaddr_un *sa, socklen_t *len)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* Abstract: sun_path[0] stays NUL; nothing to clean up on exit. */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "shmstream-gpu:%s:%d", name,
		     device);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path) - 1)
		return -EINVAL;
	*len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
	return 0;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Bridge side */

static int mirror_rings(struct shmdev_gpu_mirror *m, uint32_t flags, size_t ring_size)
{
	const struct shmdev_cu *cu = m->cu;
	uint32_t paths = shmdev_cu_paths(m->dev);
	struct gpu_ctrl *c = m->ctrl;
	CUmemAllocationProp prop = {
		.type = CU_MEM_ALLOCATION_TYPE_PINNED,
		.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = m->device },
	};
	CUmemAccessDesc access = {
		.location = prop.location,
		.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
	};
	size_t gran = 0;
	int err = 0;
	uint32_t i;

	if (!(flags & SHMDEV_GPU_NO_FD) && (paths & SHMDEV_CUDA_IPC_FD)) {
		err = shmdev_cu_err(cu->MemGetAllocationGranularity(&gran, &prop,
				    CU_MEM_ALLOC_GRANULARITY_RECOMMENDED),
				    "cuMemGetAllocationGranularity");
		if (!err) {
			c->ring_size = ring_size = align_up(ring_size, gran);
			err = shmdev_cu_err(cu->MemCreate(&m->vmm, ring_size, &prop, 0),
					    "cuMemCreate");
		}
		if (!err)
			err = shmdev_cu_err(cu->MemAddressReserve(&m->ring, ring_size, gran, 0, 0),
					    "cuMemAddressReserve");
		if (!err)
			err = shmdev_cu_err(cu->MemMap(m->ring, ring_size, 0, m->vmm, 0), "cuMemMap");
		if (!err) {
			m->vmm_mapped = true;
			err = shmdev_cu_err(cu->MemSetAccess(m->ring, ring_size, &access, 1),
					    "cuMemSetAccess");
		}
		if (!err)
			err = shmdev_cu_err(cu->MemExportToShareableHandle(&m->vmm_fd, m->vmm,
					    CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0),
					    "cuMemExportToShareableHandle");
		if (err)
			return err;
		c->paths |= SHMDEV_CUDA_IPC_FD;
	}
	if (!(flags & SHMDEV_GPU_NO_LEGACY) || !(c->paths & SHMDEV_CUDA_IPC_FD)) {
		err = shmdev_cu_err(cu->MemAlloc(&m->legacy, ring_size), "cuMemAlloc");
		if (!err)
			err = shmdev_cu_err(cu->IpcGetMemHandle(&c->legacy, m->legacy),
					    "cuIpcGetMemHandle");
		if (err)
			return err;
		c->paths |= SHMDEV_CUDA_IPC_LEGACY;
		if (!m->ring)
			m->ring = m->legacy;
	}
	for (i = 0; i < c->slot_count; i++) {
		err = shmdev_cu_err(cu->EventCreate(&m->events[i], CU_EVENT_INTERPROCESS |
						    CU_EVENT_DISABLE_TIMING), "cuEventCreate");
		if (!err)
			err = shmdev_cu_err(cu->IpcGetEventHandle(&c->events[i], m->events[i]),
					    "cuIpcGetEventHandle");
		if (err)
			return err;
	}
	c->paths |= SHMDEV_CUDA_IPC_EVENT;
	m->stats.paths = c->paths;
	return 0;
}

static void mirror_free(struct shmdev_gpu_mirror *m)
{
	const struct shmdev_cu *cu = m->cu;
	int i;

	if (m->ctrl) {
		atomic_fetch_or(&m->ctrl->state, GPU_STATE_GONE);
		atomic_fetch_add(&m->ctrl->commits, 1);
		futex_wake_all(&m->ctrl->commits);
	}
	for (i = 0; i < GPU_MAX_CLIENTS; i++)
		if (m->conn[i] >= 0)
			close(m->conn[i]);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->epfd >= 0)
		close(m->epfd);
	/* The last unref waits for uploads in flight and unregisters the ring. */
	shmdev_stream_unref(m->s);
	if (m->ctx && shmdev_cu_push(m->ctx) == 0) {
		if (m->stream)
			cu->StreamSynchronize(m->stream);
		for (i = 0; i < GPU_MAX_SLOTS; i++)
			if (m->events[i])
				cu->EventDestroy(m->events[i]);
		if (m->stream)
			cu->StreamDestroy(m->stream);
		if (m->legacy)
			cu->MemFree(m->legacy);
		if (m->vmm_mapped)
			cu->MemUnmap(m->ring, m->ctrl->ring_size);
		if (m->ring && m->ring != m->legacy)
			cu->MemAddressFree(m->ring, m->ctrl->ring_size);
		if (m->vmm)
			cu->MemRelease(m->vmm);
		shmdev_cu_pop();
	}
	if (m->vmm_fd >= 0)
		close(m->vmm_fd);
	if (m->ctx)
		shmdev_cu_release(m->dev);
	if (m->ctrl)
		munmap(m->ctrl, sizeof(*m->ctrl));
	if (m->memfd >= 0)
		close(m->memfd);
	free(m);
}

static int mirror_socket(struct shmdev_gpu_mirror *m, const char *name)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct sockaddr_un sa;
	socklen_t len;

	if (gpu_address(name, m->device, &sa, &len))
		return -EINVAL;
	m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0)
		return -errno;
	if (bind(m->listen_fd, (struct sockaddr *)&sa, len))
		return errno == EADDRINUSE ?
			shmdev_set_errmsg(-EADDRINUSE, "a mirror of %s on device %d runs already",
					  name, m->device) : -errno;
	if (listen(m->listen_fd, 16))
		return -errno;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		return -errno;
	ev.data.u32 = EP_LISTEN;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->listen_fd, &ev))
		return -errno;
	ev.data.u32 = EP_STREAM;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, shmdev_stream_fd(m->s), &ev))
		return -errno;
	return 0;
}

SHMDEV_EXPORT int shmdev_gpu_mirror_start(struct shmdev *dev, const char *name,
					  const struct shmdev_gpu_mirror_params *params,
					  struct shmdev_gpu_mirror **out)
{
	struct shmdev_gpu_mirror *m;
	struct shmstream_info *info;
	uint32_t slots;
	int err, i;

	if (!dev || !name || !params || !out ||
	    (params->flags & ~(SHMDEV_GPU_NO_FD | SHMDEV_GPU_NO_LEGACY)))
		return -EINVAL;
	slots = params->slot_count ? params->slot_count : GPU_DEFAULT_SLOTS;
	if (slots < 2 || slots > GPU_MAX_SLOTS)
		return shmdev_set_errmsg(-EINVAL, "device slots: 2 to %d", GPU_MAX_SLOTS);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->listen_fd = m->epfd = m->memfd = m->vmm_fd = -1;
	for (i = 0; i < GPU_MAX_CLIENTS; i++)
		m->conn[i] = -1;
	m->device = params->device;
	m->cu = shmdev_cu(&err);
	if (!m->cu)
		goto fail;
	err = shmdev_cu_retain(m->device, &m->dev, &m->ctx);
	if (err) {
		m->ctx = NULL;
		goto fail;
	}
	err = shmdev_open_consumer(dev, name, &m->s);
	if (err)
		goto fail;
	info = &m->s->info;
	err = shmdev_cuda_register(m->s, m->device);
	if (err < 0)
		goto fail;
	m->stats.host_mode = err;
	m->stats.slot_count = slots;
	err = -errno;
	m->memfd = memfd_create("shmstream-gpu", MFD_CLOEXEC);
	if (m->memfd < 0 || ftruncate(m->memfd, sizeof(*m->ctrl)))
		goto fail;
	m->ctrl = mmap(NULL, sizeof(*m->ctrl), PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd, 0);
	if (m->ctrl == MAP_FAILED) {
		m->ctrl = NULL;
		goto fail;
	}
	m->ctrl->magic = GPU_MAGIC;
	m->ctrl->proto = GPU_PROTO;
	m->ctrl->device = m->device;
	m->ctrl->slot_count = slots;
	m->ctrl->slot_size = info->slot_size;
	m->ctrl->slot_stride = align_up(info->slot_size, GPU_ALIGN);
	m->ctrl->ring_size = m->ctrl->slot_stride * slots;
	err = shmdev_cu_push(m->ctx);
	if (err)
		goto fail;
	err = shmdev_cu_err(m->cu->StreamCreate(&m->stream, CU_STREAM_NON_BLOCKING),
			    "cuStreamCreate");
	if (!err)
		err = mirror_rings(m, params->flags, m->ctrl->ring_size);
	shmdev_cu_pop();
	if (!err)
		err = mirror_socket(m, name);
	if (err)
		goto fail;
	*out = m;
	return 0;
fail:
	mirror_free(m);
	return err;
}

/* Is any client holding slot @i? */
static bool slot_held(struct gpu_ctrl *c, uint32_t i)
{
	int k;

	for (k = 0; k < GPU_MAX_CLIENTS; k++)
		if (atomic_load(&c->holds[k]) & (1ULL << i))
			return true;
	return false;
}

/* Take a device slot no client holds, sparing the newest frame. */
static int claim_slot(struct shmdev_gpu_mirror *m)
{
	struct gpu_ctrl *c = m->ctrl;
	uint64_t latest = atomic_load(&c->latest);
	uint32_t k, i;

	for (k = 0; k < c->slot_count; k++) {
		uint64_t old;

		i = (m->next_slot + k) % c->slot_count;
		old = atomic_load(&c->slots[i].seq);
		if (old && old == latest)
			continue;
		atomic_store(&c->slots[i].seq, 0);
		if (slot_held(c, i)) {
			atomic_store(&c->slots[i].seq, old);
			continue;
		}
		m->next_slot = (i + 1) % c->slot_count;
		return (int)i;
	}
	return -1;
}

static int mirror_frame(struct shmdev_gpu_mirror *m, struct shmdev_frame *f)
{
	const struct shmdev_cu *cu = m->cu;
	struct gpu_ctrl *c = m->ctrl;
	struct gpu_desc *d;
	CUdeviceptr dst;
	int i, err;

	m->stats.host_missed += f->missed;
	i = claim_slot(m);
	if (i < 0) {
		m->stats.dropped++;
		return shmdev_release(m->s, f);
	}
	dst = m->ring + (CUdeviceptr)i * c->slot_stride;
	/* Releases the host hold when the copy is done. */
	err = shmdev_cuda_upload(m->s, f, dst, c->slot_stride, m->stream);
	if (err) {
		shmdev_release(m->s, f);
		return err;
	}
	if (m->legacy && m->legacy != m->ring)
		err = shmdev_cu_err(cu->MemcpyDtoDAsync(m->legacy + (CUdeviceptr)i * c->slot_stride,
							dst, f->len, m->stream),
				    "cuMemcpyDtoDAsync");
	if (!err)
		err = shmdev_cu_err(cu->EventRecord(m->events[i], m->stream), "cuEventRecord");
	if (err)
		return err; /* the slot stays empty (seq 0) */
	d = &c->slots[i];
	d->timestamp_ns = f->timestamp_ns;
	d->bytes = f->len;
	d->frame_flags = f->frame_flags;
	d->format = f->format;
	d->meta_len = f->meta_len;
	memcpy(d->meta, f->meta, sizeof(d->meta));
	atomic_store(&d->seq, f->seq);
	atomic_store(&c->latest, f->seq);
	atomic_fetch_add(&c->commits, 1);
	futex_wake_all(&c->commits);
	m->stats.frames++;
	m->stats.bytes += f->len;
	return 0;
}

/* Mirror every frame waiting on the host stream; the count, or -errno. */
static int mirror_pump(struct shmdev_gpu_mirror *m)
{
	struct shmdev_frame f;
	int n = 0, err;

	err = shmdev_cu_push(m->ctx);
	if (err)
		return err;
	for (;;) {
		err = shmdev_acquire(m->s, SHMDEV_NEXT, 0, &f);
		if (err == -ENOBUFS) {
			/* Every hold is an upload in flight: let one finish. */
			err = shmdev_cuda_drain(m->s, SHMDEV_MS(100));
			if (!err || err == -ETIMEDOUT)
				continue;
		}
		if (err == -EAGAIN) {
			err = 0;
			break;
		}
		if (err == -EIDRM) {
			atomic_fetch_or(&m->ctrl->state, GPU_STATE_EOF);
			atomic_fetch_add(&m->ctrl->commits, 1);
			futex_wake_all(&m->ctrl->commits);
		}
		if (!err)
			err = mirror_frame(m, &f);
		if (err)
			break;
		n++;
	}
	shmdev_cu_pop();
	return err ? err : n;
}

static int client_allowed(struct shmdev_gpu_mirror *m, int fd)
{
	struct shmstream_info *info = &m->s->info;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	if (cred.uid == 0 || cred.uid == getuid() ||
	    (cred.uid == info->uid && (info->mode & 0400)) ||
	    (cred.gid == info->gid && (info->mode & 0040)) || (info->mode & 0004))
		return 0;
	return -EACCES;
}

static void client_accept(struct shmdev_gpu_mirror *m)
{
	struct gpu_hello h = { .magic = GPU_MAGIC, .proto = GPU_PROTO };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	char cbuf[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int fd, k = -1, nfds = 0, fds[2];

	fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	h.status = client_allowed(m, fd);
	if (!h.status) {
		for (k = 0; k < GPU_MAX_CLIENTS && m->conn[k] >= 0; k++)
			;
		if (k == GPU_MAX_CLIENTS)
			h.status = -EUSERS;
	}
	if (!h.status) {
		h.client = k;
		fds[nfds++] = m->memfd;
		if (m->vmm_fd >= 0)
			fds[nfds++] = m->vmm_fd;
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	ev.data.u32 = k;
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != sizeof(h) || h.status ||
	    epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close(fd);
		return;
	}
	atomic_store(&m->ctrl->holds[k], 0);
	m->conn[k] = fd;
	m->stats.clients++;
}

/* A client went away (closed, exited, crashed): its holds go with it. */
static void client_drop(struct shmdev_gpu_mirror *m, uint32_t k)
{
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, m->conn[k], NULL);
	close(m->conn[k]);
	m->conn[k] = -1;
	atomic_store(&m->ctrl->holds[k], 0);
	m->stats.clients--;
}

SHMDEV_EXPORT int shmdev_gpu_mirror_run(struct shmdev_gpu_mirror *m, int64_t timeout_ns)
{
	struct epoll_event ev[16];
	int n, i, frames = 0, err;
	char buf[64];

	if (!m)
		return -EINVAL;
	if (atomic_load(&m->ctrl->state) & GPU_STATE_EOF)
		return -EIDRM;
	n = epoll_wait(m->epfd, ev, 16, timeout_ns < 0 ? -1 :
		       (int)((timeout_ns + 999999) / 1000000));
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		uint32_t k = ev[i].data.u32;

		if (k == EP_LISTEN) {
			client_accept(m);
		} else if (k == EP_STREAM) {
			err = mirror_pump(m);
			if (err < 0)
				return err;
			frames += err;
		} else if ((ev[i].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) ||
			   recv(m->conn[k], buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
			client_drop(m, k);
		}
	}
	return frames;
}

SHMDEV_EXPORT int shmdev_gpu_mirror_stats(struct shmdev_gpu_mirror *m,
					  struct shmdev_gpu_mirror_stats *out)
{
	if (!m || !out)
		return -EINVAL;
	*out = m->stats;
	return 0;
}

SHMDEV_EXPORT void shmdev_gpu_mirror_stop(struct shmdev_gpu_mirror *m)
{
	if (m)
		mirror_free(m);
}

/* Consumer side */

static void gpu_free(struct shmdev_gpu *g)
{
	const struct shmdev_cu *cu = g->cu;
	size_t size = g->ctrl ? g->ctrl->ring_size : 0;
	int i;

	if (g->ctx && shmdev_cu_push(g->ctx) == 0) {
		for (i = 0; i < GPU_MAX_SLOTS; i++)
			if (g->events[i])
				cu->EventDestroy(g->events[i]);
		if (g->mapped == SHMDEV_CUDA_IPC_LEGACY && g->ring)
			cu->IpcCloseMemHandle(g->ring);
		if (g->vmm_mapped)
			cu->MemUnmap(g->ring, size);
		if (g->mapped == SHMDEV_CUDA_IPC_FD && g->ring)
			cu->MemAddressFree(g->ring, size);
		if (g->vmm)
			cu->MemRelease(g->vmm);
		shmdev_cu_pop();
	}
	if (g->ctx)
		shmdev_cu_release(g->dev);
	if (g->ctrl)
		munmap(g->ctrl, sizeof(*g->ctrl));
	if (g->sock >= 0)
		close(g->sock); /* the bridge drops our holds */
	pthread_mutex_destroy(&g->lock);
	free(g);
}

/* Receive the hello and its fds: fds[0] the control area, fds[1] the ring. */
static int gpu_hello(struct shmdev_gpu *g, int fds[2])
{
	struct gpu_hello h;
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;
	int nfds;

	n = recvmsg(g->sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds, CMSG_DATA(cm), (nfds > 2 ? 2 : nfds) * sizeof(int));
	}
	if (n != sizeof(h) || h.magic != GPU_MAGIC || h.proto != GPU_PROTO)
		return shmdev_set_errmsg(-EPROTO, "the GPU mirror speaks another protocol");
	if (h.status)
		return shmdev_set_errmsg(h.status, "the GPU mirror refused: %s",
					 shmdev_strerror(h.status));
	if (fds[0] < 0 || h.client >= GPU_MAX_CLIENTS)
		return shmdev_set_errmsg(-EPROTO, "the GPU mirror sent no control area");
	g->client = h.client;
	return 0;
}

static int gpu_map_ring(struct shmdev_gpu *g, int ring_fd)
{
	const struct shmdev_cu *cu = g->cu;
	struct gpu_ctrl *c = g->ctrl;
	CUmemAccessDesc access = {
		.location = { .type = CU_MEM_LOCATION_TYPE_DEVICE, .id = g->device },
		.flags = CU_MEM_ACCESS_FLAGS_PROT_READ,
	};
	uint32_t i;
	int err;

	if ((c->paths & SHMDEV_CUDA_IPC_FD) && ring_fd >= 0) {
		g->mapped = SHMDEV_CUDA_IPC_FD;
		err = shmdev_cu_err(cu->MemImportFromShareableHandle(&g->vmm,
				    (void *)(uintptr_t)ring_fd, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR),
				    "cuMemImportFromShareableHandle");
		if (!err)
			err = shmdev_cu_err(cu->MemAddressReserve(&g->ring, c->ring_size, 0, 0, 0),
					    "cuMemAddressReserve");
		if (!err)
			err = shmdev_cu_err(cu->MemMap(g->ring, c->ring_size, 0, g->vmm, 0),
					    "cuMemMap");
		if (!err) {
			g->vmm_mapped = true;
			/* Read-only, like a consumer's mapping of the host ring. */
			err = shmdev_cu_err(cu->MemSetAccess(g->ring, c->ring_size, &access, 1),
					    "cuMemSetAccess");
		}
	} else if (c->paths & SHMDEV_CUDA_IPC_LEGACY) {
		g->mapped = SHMDEV_CUDA_IPC_LEGACY;
		err = shmdev_cu_err(cu->IpcOpenMemHandle(&g->ring, c->legacy,
				    CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), "cuIpcOpenMemHandle");
	} else {
		err = shmdev_set_errmsg(-EPROTO, "the GPU mirror publishes no ring");
	}
	for (i = 0; !err && i < c->slot_count; i++)
		err = shmdev_cu_err(cu->IpcOpenEventHandle(&g->events[i], c->events[i]),
				    "cuIpcOpenEventHandle");
	return err;
}

SHMDEV_EXPORT int shmdev_gpu_open(const char *name, int device, struct shmdev_gpu **out)
{
	struct shmdev_gpu *g;
	struct sockaddr_un sa;
	int err, fds[2] = { -1, -1 };
	socklen_t len;
	void *p;

	if (!name || !out || gpu_address(name, device, &sa, &len))
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->lock, NULL);
	g->sock = -1;
	g->device = device;
	g->cu = shmdev_cu(&err);
	if (!g->cu)
		goto out;
	err = shmdev_cu_retain(device, &g->dev, &g->ctx);
	if (err) {
		g->ctx = NULL;
		goto out;
	}
	g->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (g->sock < 0 || connect(g->sock, (struct sockaddr *)&sa, len)) {
		err = errno == ECONNREFUSED ?
			shmdev_set_errmsg(-ENOENT, "no GPU mirror of %s on device %d", name,
					  device) : -errno;
		goto out;
	}
	err = gpu_hello(g, fds);
	if (err)
		goto out;
	p = mmap(NULL, sizeof(*g->ctrl), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	g->ctrl = p;
	if (g->ctrl->magic != GPU_MAGIC || g->ctrl->slot_count > GPU_MAX_SLOTS ||
	    g->ctrl->device != device) {
		err = shmdev_set_errmsg(-EPROTO, "bad GPU mirror control area");
		goto out;
	}
	err = shmdev_cu_push(g->ctx);
	if (!err) {
		err = gpu_map_ring(g, fds[1]);
		shmdev_cu_pop();
	}
	if (!err) {
		uint64_t latest = atomic_load(&g->ctrl->latest);

		/* Like a host consumer: start at the newest frame. */
		g->cursor = latest ? latest - 1 : 0;
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (err) {
		gpu_free(g);
		return err;
	}
	*out = g;
	return 0;
}

SHMDEV_EXPORT void shmdev_gpu_close(struct shmdev_gpu *g)
{
	if (g)
		gpu_free(g);
}

SHMDEV_EXPORT int shmdev_gpu_info(struct shmdev_gpu *g, struct shmdev_gpu_info *out)
{
	if (!g || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->device = g->device;
	out->slot_count = g->ctrl->slot_count;
	out->paths = g->ctrl->paths;
	out->mapped = g->mapped;
	out->slot_size = g->ctrl->slot_size;
	out->slot_stride = g->ctrl->slot_stride;
	if (g->mapped == SHMDEV_CUDA_IPC_LEGACY)
		out->legacy_ring = g->ring;
	memcpy(out->legacy_handle, &g->ctrl->legacy, sizeof(out->legacy_handle));
	return 0;
}

/* The slot of the frame to take after @cursor, or -1. */
static int gpu_pick(struct gpu_ctrl *c, enum shmdev_mode mode, uint64_t cursor, uint64_t *seq)
{
	uint64_t best = 0;
	int pick = -1;
	uint32_t i;

	for (i = 0; i < c->slot_count; i++) {
		uint64_t s = atomic_load(&c->slots[i].seq);

		if (s <= cursor)
			continue;
		if (pick < 0 || (mode == SHMDEV_NEXT ? s < best : s > best)) {
			best = s;
			pick = (int)i;
		}
	}
	*seq = best;
	return pick;
}

static int gpu_wait(struct gpu_ctrl *c, uint32_t seen, const struct timespec *end)
{
	struct timespec now, rel, *t = NULL;

	if (end) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		rel.tv_sec = end->tv_sec - now.tv_sec;
		rel.tv_nsec = end->tv_nsec - now.tv_nsec;
		if (rel.tv_nsec < 0) {
			rel.tv_sec--;
			rel.tv_nsec += 1000000000;
		}
		if (rel.tv_sec < 0)
			return -ETIMEDOUT;
		t = &rel;
	}
	if (syscall(SYS_futex, &c->commits, FUTEX_WAIT, seen, t, NULL, 0) &&
	    errno != EAGAIN)
		return errno == ETIMEDOUT ? -ETIMEDOUT : -errno;
	return 0;
}

SHMDEV_EXPORT int shmdev_gpu_acquire(struct shmdev_gpu *g, enum shmdev_mode mode,
				     int64_t timeout_ns, struct shmdev_gpu_frame *frame)
{
	struct timespec end;
	struct gpu_ctrl *c;
	int err = 0, i;

	if (!g || !frame || (mode != SHMDEV_NEXT && mode != SHMDEV_LATEST))
		return -EINVAL;
	c = g->ctrl;
	if (timeout_ns > 0)
		shmdev_deadline(timeout_ns, &end);
	pthread_mutex_lock(&g->lock);
	for (;;) {
		uint32_t seen = atomic_load(&c->commits);
		uint64_t held = atomic_load(&c->holds[g->client]), seq;
		struct gpu_desc *d;

		i = gpu_pick(c, mode, g->cursor, &seq);
		if (i >= 0) {
			/* Keep one slot for the bridge. */
			if ((uint32_t)__builtin_popcountll(held) + 1 >= c->slot_count) {
				err = -ENOBUFS;
				break;
			}
			atomic_fetch_or(&c->holds[g->client], 1ULL << i);
			d = &c->slots[i];
			if (atomic_load(&d->seq) != seq) {
				/* Being rewritten: look again. */
				atomic_fetch_and(&c->holds[g->client], ~(1ULL << i));
				continue;
			}
			frame->dptr = g->ring + (CUdeviceptr)i * c->slot_stride;
			frame->len = d->bytes;
			frame->seq = seq;
			frame->timestamp_ns = d->timestamp_ns;
			frame->missed = g->cursor ? seq - g->cursor - 1 : 0;
			frame->slot = i;
			frame->frame_flags = d->frame_flags;
			frame->format = d->format;
			frame->meta_len = d->meta_len;
			memcpy(frame->meta, d->meta, sizeof(frame->meta));
			g->cursor = seq;
			break;
		}
		/* Like a host consumer: frames drain first, then -EIDRM. */
		if (atomic_load(&c->state) & GPU_STATE_EOF) {
			err = -EIDRM;
			break;
		}
		if (atomic_load(&c->state) & GPU_STATE_GONE) {
			err = shmdev_set_errmsg(-EPIPE, "the GPU mirror stopped");
			break;
		}
		if (timeout_ns == 0) {
			err = -EAGAIN;
			break;
		}
		err = gpu_wait(c, seen, timeout_ns > 0 ? &end : NULL);
		if (err)
			break;
	}
	pthread_mutex_unlock(&g->lock);
	return err;
}

SHMDEV_EXPORT int shmdev_gpu_wait(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame,
				  void *cu_stream)
{
	int err;

	if (!g || !frame || frame->slot >= g->ctrl->slot_count)
		return -EINVAL;
	err = shmdev_cu_push(g->ctx);
	if (err)
		return err;
	err = shmdev_cu_err(g->cu->StreamWaitEvent(cu_stream, g->events[frame->slot], 0),
			    "cuStreamWaitEvent");
	shmdev_cu_pop();
	return err;
}

SHMDEV_EXPORT int shmdev_gpu_release(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame)
{
	struct gpu_ctrl *c;
	uint64_t bit;

	if (!g || !frame || frame->slot >= g->ctrl->slot_count)
		return -EINVAL;
	c = g->ctrl;
	bit = 1ULL << frame->slot;
	if (!(atomic_load(&c->holds[g->client]) & bit) ||
	    atomic_load(&c->slots[frame->slot].seq) != frame->seq)
		return -EINVAL;
	atomic_fetch_and(&c->holds[g->client], ~bit);
	return 0;
}
