/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmdev internals.
 */
#ifndef SHMDEV_INTERNAL_H
#define SHMDEV_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "shmdev.h"

#define SHMDEV_EXPORT __attribute__((visibility("default")))

struct shmdev {
	atomic_int refs;
	int fd; /* unbound: version, list, info, destroy */
	char *path; /* to open one file per stream handle */
	struct shmstream_version version;
};

struct shmdev_stream {
	atomic_int refs;
	int fd; /* bound to the stream */
	struct shmdev *dev;
	uint32_t role;
	struct shmstream_info info; /* geometry, as of opening */
	const struct shmstream_ctrl *ctrl; /* read-only control area */
	uint8_t *slots; /* every slot; writable for the producer */
	size_t slots_len;
	_Atomic uint64_t spin_ns; /* shmdev_stream_set_spin() */
	_Atomic uint64_t cursor; /* consumer: seq of the last frame acquired */
	atomic_bool demoted; /* consumer: ACQUIRE said it was demoted */
	pthread_mutex_t cuda_lock; /* protects cuda */
	struct shmdev_cuda_reg *cuda; /* CUDA registration of the ring, or NULL */
	pthread_mutex_t dmabuf_lock; /* protects dmabuf_fds */
	int *dmabuf_fds; /* each slot's dma-buf fd or -1; NULL until the first */
};

/* ioctl() as 0 or -errno. */
static inline int shmdev_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* A relative timeout (0: none, < 0: forever) as the kernel's deadline. */
uint64_t shmdev_deadline_ns(int64_t timeout_ns);

/* CLOCK_MONOTONIC now, in ns. */
uint64_t shmdev_now_ns(void);

/* Set this thread's message for shmdev_errmsg(); returns @err. */
int shmdev_set_errmsg(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copy a stream name into a zeroed field; -EINVAL when it cannot fit. */
int shmdev_copy_name(char *dst, const char *name);

/* Drop a stream handle's CUDA registration (waits for its uploads). */
void shmdev_cuda_stream_fini(struct shmdev_stream *s);

#endif /* SHMDEV_INTERNAL_H */
