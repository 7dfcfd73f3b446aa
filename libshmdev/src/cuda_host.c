// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CUDA pinned host path: a stream handle's mapped ring registered once
 * with cuMemHostRegister (read-only for a consumer's mapping), device
 * pointers of frames, and asynchronous uploads that keep the frame's hold
 * until the copy has completed. Where the ring cannot be registered,
 * frames go through pinned staging buffers instead (SHMDEV_CUDA_STAGED).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

#define STAGING_BUFFERS 4
#define MAX_INFLIGHT 64

struct shmdev_cuda_reg;

/* One zero-copy upload whose frame is still held. */
struct inflight {
	struct shmdev_cuda_reg *reg;
	uint32_t slot;
};

struct staging {
	void *buf; /* cuMemAllocHost, slot_size bytes */
	CUevent done; /* recorded after the copy out of buf */
};

struct shmdev_cuda_reg {
	const struct shmdev_cu *cu;
	CUdevice dev;
	CUcontext ctx;
	int device;
	int fd; /* the stream handle's file, for RELEASE from the callback */
	enum shmdev_cuda_mode mode;
	bool owned; /* we registered the ring, so we unregister it */
	CUdeviceptr dbase; /* device address of the ring (zero-copy) */
	struct staging stage[STAGING_BUFFERS];
	unsigned int next_stage;

	/* lock protects the fields below; callbacks take only this lock. */
	pthread_mutex_t lock;
	pthread_cond_t idle;
	uint64_t busy; /* bitmap of used ops[] */
	unsigned int inflight;
	struct inflight ops[MAX_INFLIGHT];
};

/* Without a usable driver every call is -ENOSYS (or -ENODEV): check first. */
static int need_driver(void)
{
	int err;

	return shmdev_cu(&err) ? 0 : err;
}

static int not_registered(void)
{
	return shmdev_set_errmsg(-ENOTCONN, "ring not registered (shmdev_cuda_register)");
}

static void reg_free(struct shmdev_cuda_reg *reg)
{
	const struct shmdev_cu *cu = reg->cu;
	int i;

	if (shmdev_cu_push(reg->ctx) == 0) {
		for (i = 0; i < STAGING_BUFFERS; i++) {
			if (reg->stage[i].done) {
				cu->EventSynchronize(reg->stage[i].done);
				cu->EventDestroy(reg->stage[i].done);
			}
			if (reg->stage[i].buf)
				cu->MemFreeHost(reg->stage[i].buf);
		}
		shmdev_cu_pop();
	}
	shmdev_cu_release(reg->dev);
	pthread_cond_destroy(&reg->idle);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

static int stage_alloc(struct shmdev_cuda_reg *reg, size_t size)
{
	const struct shmdev_cu *cu = reg->cu;
	int i, err;

	for (i = 0; i < STAGING_BUFFERS; i++) {
		err = shmdev_cu_err(cu->MemAllocHost(&reg->stage[i].buf, size), "cuMemAllocHost");
		if (!err)
			err = shmdev_cu_err(cu->EventCreate(&reg->stage[i].done,
							    CU_EVENT_DISABLE_TIMING),
					    "cuEventCreate");
		if (err)
			return err;
	}
	return 0;
}

/* Register the ring; fall back to staging where the driver cannot. */
static int reg_setup(struct shmdev_stream *s, struct shmdev_cuda_reg *reg)
{
	const struct shmdev_cu *cu = reg->cu;
	bool consumer = s->role == SHMSTREAM_ATTACH_CONSUMER;
	unsigned int flags = CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP;
	uint32_t paths = shmdev_cu_paths(reg->dev);
	CUresult r = CUDA_ERROR_NOT_SUPPORTED;

	if (consumer)
		flags |= CU_MEMHOSTREGISTER_READ_ONLY;
	if ((paths & SHMDEV_CUDA_HOST_REGISTER) &&
	    (!consumer || (paths & SHMDEV_CUDA_HOST_READONLY)))
		r = cu->MemHostRegister(s->slots, s->slots_len, flags);
	if (r == CUDA_SUCCESS)
		reg->owned = true;
	if (r == CUDA_SUCCESS || r == CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED) {
		r = cu->MemHostGetDevicePointer(&reg->dbase, s->slots, 0);
		if (r == CUDA_SUCCESS) {
			reg->mode = SHMDEV_CUDA_ZERO_COPY;
			return 0;
		}
		/* Registered by someone else without a device mapping. */
	}
	switch (r) {
	case CUDA_ERROR_NOT_SUPPORTED:
	case CUDA_ERROR_NOT_PERMITTED:
	case CUDA_ERROR_INVALID_VALUE:
	case CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED:
		break;
	default:
		return shmdev_cu_err(r, "cuMemHostRegister");
	}
	reg->mode = SHMDEV_CUDA_STAGED;
	return stage_alloc(reg, s->info.slot_size);
}

SHMDEV_EXPORT int shmdev_cuda_register(struct shmdev_stream *s, int device)
{
	struct shmdev_cuda_reg *reg;
	int err;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->cuda_lock);
	if (s->cuda) {
		err = s->cuda->device == device ? (int)s->cuda->mode :
			shmdev_set_errmsg(-EBUSY, "ring registered with device %d already",
					  s->cuda->device);
		goto out;
	}
	err = -ENOMEM;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		goto out;
	reg->cu = shmdev_cu(&err);
	if (!reg->cu) {
		free(reg);
		goto out;
	}
	err = shmdev_cu_retain(device, &reg->dev, &reg->ctx);
	if (err) {
		free(reg);
		goto out;
	}
	reg->device = device;
	reg->fd = s->fd;
	pthread_mutex_init(&reg->lock, NULL);
	pthread_cond_init(&reg->idle, NULL);
	err = shmdev_cu_push(reg->ctx);
	if (!err) {
		err = reg_setup(s, reg);
		if (err && reg->owned)
			reg->cu->MemHostUnregister(s->slots);
		shmdev_cu_pop();
	}
	if (err) {
		reg_free(reg);
		goto out;
	}
	s->cuda = reg;
	err = reg->mode;
out:
	pthread_mutex_unlock(&s->cuda_lock);
	return err;
}

static int wait_idle(struct shmdev_cuda_reg *reg, int64_t timeout_ns)
{
	struct timespec end;
	int ret = 0;

	if (timeout_ns > 0)
		shmdev_deadline(timeout_ns, &end);
	pthread_mutex_lock(&reg->lock);
	while (reg->inflight && !ret) {
		if (timeout_ns < 0)
			pthread_cond_wait(&reg->idle, &reg->lock);
		else if (timeout_ns == 0 || pthread_cond_timedwait(&reg->idle, &reg->lock, &end))
			ret = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

/* Stream handle teardown and shmdev_cuda_unregister(): s->cuda_lock held. */
static int reg_teardown(struct shmdev_stream *s)
{
	struct shmdev_cuda_reg *reg = s->cuda;

	if (!reg)
		return 0;
	s->cuda = NULL;
	/* Every upload's callback must have run: it releases a hold on s->fd. */
	wait_idle(reg, SHMDEV_FOREVER);
	if (reg->owned && shmdev_cu_push(reg->ctx) == 0) {
		reg->cu->MemHostUnregister(s->slots);
		shmdev_cu_pop();
	}
	reg_free(reg);
	return 0;
}

SHMDEV_EXPORT int shmdev_cuda_unregister(struct shmdev_stream *s)
{
	int err;

	if (!s)
		return -EINVAL;
	err = need_driver();
	if (err)
		return err;
	pthread_mutex_lock(&s->cuda_lock);
	err = s->cuda ? reg_teardown(s) : -ENOENT;
	pthread_mutex_unlock(&s->cuda_lock);
	return err;
}

void shmdev_cuda_stream_fini(struct shmdev_stream *s)
{
	pthread_mutex_lock(&s->cuda_lock);
	reg_teardown(s);
	pthread_mutex_unlock(&s->cuda_lock);
}

/* Is @frame one of @s's frames, as shmdev_acquire() gave it? */
static int frame_check(struct shmdev_stream *s, const struct shmdev_frame *frame)
{
	const uint8_t *p = frame->data;

	if (frame->slot >= s->info.slot_count || frame->len > s->info.slot_size ||
	    p != s->slots + (size_t)frame->slot * s->info.slot_stride)
		return shmdev_set_errmsg(-EINVAL, "not a frame of stream %s", s->info.name);
	return 0;
}

SHMDEV_EXPORT int shmdev_cuda_frame_ptr(struct shmdev_stream *s, const struct shmdev_frame *frame,
					uint64_t *dptr)
{
	int err;

	if (!s || !frame || !dptr)
		return -EINVAL;
	err = need_driver();
	if (!err)
		err = frame_check(s, frame);
	if (err)
		return err;
	pthread_mutex_lock(&s->cuda_lock);
	if (!s->cuda)
		err = not_registered();
	else if (s->cuda->mode != SHMDEV_CUDA_ZERO_COPY)
		err = shmdev_set_errmsg(-EOPNOTSUPP, "ring is staged: the device cannot map it");
	else
		*dptr = s->cuda->dbase + ((const uint8_t *)frame->data - s->slots);
	pthread_mutex_unlock(&s->cuda_lock);
	return err;
}

/* Upload slot @i is free again. */
static void op_done(struct shmdev_cuda_reg *reg, int i)
{
	pthread_mutex_lock(&reg->lock);
	reg->busy &= ~(1ULL << i);
	if (--reg->inflight == 0)
		pthread_cond_broadcast(&reg->idle);
	pthread_mutex_unlock(&reg->lock);
}

/* Runs on a CUDA driver thread: no CUDA calls here, only the RELEASE. */
static void CUDA_CB upload_done(void *data)
{
	struct inflight *op = data;
	struct shmdev_cuda_reg *reg = op->reg;
	struct shmstream_release r = { .size = sizeof(r), .slot = op->slot };

	shmdev_ioctl(reg->fd, SHMSTREAM_IOC_RELEASE, &r);
	op_done(reg, op - reg->ops);
}

static int upload_zero_copy(struct shmdev_cuda_reg *reg, const struct shmdev_frame *frame,
			    CUdeviceptr dst, CUstream stream)
{
	const struct shmdev_cu *cu = reg->cu;
	struct inflight *op;
	CUresult r;
	int i;

	pthread_mutex_lock(&reg->lock);
	i = ~reg->busy ? __builtin_ctzll(~reg->busy) : -1;
	if (i >= 0) {
		reg->busy |= 1ULL << i;
		reg->inflight++;
	}
	pthread_mutex_unlock(&reg->lock);
	if (i < 0)
		return shmdev_set_errmsg(-ENOBUFS, "%d uploads in flight", MAX_INFLIGHT);
	op = &reg->ops[i];
	op->reg = reg;
	op->slot = frame->slot;
	r = cu->MemcpyHtoDAsync(dst, frame->data, frame->len, stream);
	if (r == CUDA_SUCCESS)
		r = cu->LaunchHostFunc(stream, upload_done, op);
	if (r == CUDA_SUCCESS)
		return 0;
	/* Not queued: the caller keeps its hold; a queued copy finishes first. */
	cu->StreamSynchronize(stream);
	op_done(reg, i);
	return shmdev_cu_err(r, "cuMemcpyHtoDAsync");
}

static int upload_staged(struct shmdev_stream *s, struct shmdev_cuda_reg *reg,
			 const struct shmdev_frame *frame, CUdeviceptr dst, CUstream stream)
{
	const struct shmdev_cu *cu = reg->cu;
	struct staging *st = &reg->stage[reg->next_stage];
	CUresult r;
	int err;

	/* The buffer's previous copy must be done before it is refilled. */
	err = shmdev_cu_err(cu->EventSynchronize(st->done), "cuEventSynchronize");
	if (err)
		return err;
	memcpy(st->buf, frame->data, frame->len);
	r = cu->MemcpyHtoDAsync(dst, st->buf, frame->len, stream);
	if (r == CUDA_SUCCESS)
		r = cu->EventRecord(st->done, stream);
	if (r != CUDA_SUCCESS)
		return shmdev_cu_err(r, "cuMemcpyHtoDAsync");
	reg->next_stage = (reg->next_stage + 1) % STAGING_BUFFERS;
	/* The frame's bytes are out of the ring: its hold can go now. */
	shmdev_release(s, frame);
	return 0;
}

SHMDEV_EXPORT int shmdev_cuda_upload(struct shmdev_stream *s, const struct shmdev_frame *frame,
				     uint64_t dst, size_t dst_size, void *cu_stream)
{
	struct shmdev_cuda_reg *reg;
	int err;

	if (!s || !frame || !dst)
		return -EINVAL;
	err = need_driver();
	if (err)
		return err;
	if (s->role != SHMSTREAM_ATTACH_CONSUMER)
		return shmdev_set_errmsg(-EPERM, "uploads take a consumer's acquired frame");
	err = frame_check(s, frame);
	if (err)
		return err;
	if (dst_size < frame->len)
		return shmdev_set_errmsg(-EMSGSIZE, "frame of %zu bytes, destination of %zu",
					 frame->len, dst_size);
	pthread_mutex_lock(&s->cuda_lock);
	reg = s->cuda;
	if (!reg) {
		err = not_registered();
		goto out;
	}
	err = shmdev_cu_push(reg->ctx);
	if (err)
		goto out;
	if (reg->mode == SHMDEV_CUDA_ZERO_COPY)
		err = upload_zero_copy(reg, frame, dst, cu_stream);
	else
		err = upload_staged(s, reg, frame, dst, cu_stream);
	shmdev_cu_pop();
out:
	pthread_mutex_unlock(&s->cuda_lock);
	return err;
}

SHMDEV_EXPORT int shmdev_cuda_drain(struct shmdev_stream *s, int64_t timeout_ns)
{
	struct shmdev_cuda_reg *reg;
	int err, i;

	if (!s)
		return -EINVAL;
	err = need_driver();
	if (err)
		return err;
	pthread_mutex_lock(&s->cuda_lock);
	reg = s->cuda;
	if (!reg) {
		err = not_registered();
	} else if (reg->mode == SHMDEV_CUDA_STAGED) {
		err = shmdev_cu_push(reg->ctx);
		if (!err) {
			for (i = 0; !err && i < STAGING_BUFFERS; i++)
				err = shmdev_cu_err(reg->cu->EventSynchronize(reg->stage[i].done),
						    "cuEventSynchronize");
			shmdev_cu_pop();
		}
	} else {
		err = wait_idle(reg, timeout_ns);
	}
	pthread_mutex_unlock(&s->cuda_lock);
	return err;
}
