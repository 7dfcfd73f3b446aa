/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libshmdev: zero-copy frame streams over /dev/shmstream.
 *
 * Conventions: functions return 0 (or a positive count) on success and a
 * negative errno on failure; errno is never the result channel. Handles are
 * reference counted; *_unref(NULL) does nothing. Every function may be
 * called from any thread; one stream handle may be shared by threads that
 * begin/commit (producer) or acquire/release (consumer) concurrently.
 */
#ifndef SHMDEV_H
#define SHMDEV_H

#include <stddef.h>
#include <stdint.h>

#include <linux/shmstream.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMDEV_DEFAULT_PATH "/dev/shmstream"

/* Timeouts are in nanoseconds: 0 do not wait, SHMDEV_FOREVER wait forever. */
#define SHMDEV_FOREVER (-1LL)
#define SHMDEV_MS(ms) ((int64_t)(ms) * 1000000LL)

struct shmdev;
struct shmdev_stream;

/* Device context */
int shmdev_open(struct shmdev **out);
int shmdev_open_path(const char *path, struct shmdev **out);
struct shmdev *shmdev_ref(struct shmdev *dev);
struct shmdev *shmdev_unref(struct shmdev *dev);
int shmdev_fd(const struct shmdev *dev);
int shmdev_module_version(const struct shmdev *dev, struct shmstream_version *out);

int shmdev_destroy(struct shmdev *dev, const char *name);
int shmdev_list(struct shmdev *dev, char (*names)[SHMSTREAM_NAME_MAX],
		size_t capacity, size_t *count);
int shmdev_info(struct shmdev *dev, const char *name, struct shmstream_info *out);

/* Streams */
struct shmdev_create_params {
	uint32_t slot_count;
	uint32_t slot_size;
	uint32_t mode; /* 0: 0600 */
	uint32_t flags; /* SHMSTREAM_CREATE_* */
	struct shmstream_format format;
};

int shmdev_create(struct shmdev *dev, const char *name,
		  const struct shmdev_create_params *params,
		  struct shmdev_stream **out);

/*
 * shmdev_create_limited(): a stream with its own limits on the consumers of
 * users other than its owner ("guests"; README, "Security model"), and on
 * its reliable consumers and producers ("Delivery"). 0 takes the module's
 * default. The first three need a module with SHMSTREAM_FEAT_ISOLATION
 * (2.1), the last two SHMSTREAM_FEAT_DELIVERY (2.2), as does the flag
 * SHMSTREAM_CREATE_MULTI_PRODUCER: -EOPNOTSUPP otherwise.
 */
struct shmdev_create_limits {
	uint32_t max_consumers; /* the owner's, and all guests' together */
	uint32_t user_consumers; /* one guest user's */
	uint32_t user_holds; /* frames one guest user's consumers hold together */
	uint32_t stall_ms; /* a reliable consumer's stall limit (2.2) */
	uint32_t max_producers; /* with SHMSTREAM_CREATE_MULTI_PRODUCER (2.2) */
	uint32_t reserved[3]; /* 0 */
};

int shmdev_create_limited(struct shmdev *dev, const char *name,
			  const struct shmdev_create_params *params,
			  const struct shmdev_create_limits *limits,
			  struct shmdev_stream **out);
int shmdev_open_producer(struct shmdev *dev, const char *name,
			 struct shmdev_stream **out);
int shmdev_open_consumer(struct shmdev *dev, const char *name,
			 struct shmdev_stream **out);
/* shmdev_open_consumer_flags(): the newest committed frame is the first seen */
#define SHMDEV_OPEN_NEWEST (1 << 0)
/* ... lose no frame: the producer waits (needs write permission; 2.2) */
#define SHMDEV_OPEN_RELIABLE (1 << 1)
int shmdev_open_consumer_flags(struct shmdev *dev, const char *name, uint32_t flags,
			       struct shmdev_stream **out);
/*
 * shmdev_open_consumer_history(): the last @history frames still in the
 * ring come first, in order (1..slot_count; not with SHMDEV_OPEN_NEWEST;
 * 2.2).
 */
int shmdev_open_consumer_history(struct shmdev *dev, const char *name, uint32_t flags,
				 uint32_t history, struct shmdev_stream **out);
struct shmdev_stream *shmdev_stream_ref(struct shmdev_stream *s);
struct shmdev_stream *shmdev_stream_unref(struct shmdev_stream *s);
int shmdev_stream_fd(const struct shmdev_stream *s);
const char *shmdev_stream_name(const struct shmdev_stream *s);
int shmdev_stream_info(struct shmdev_stream *s, struct shmstream_info *out);
int shmdev_stream_stats(struct shmdev_stream *s, struct shmstream_stats *out);

/* shmdev_stream_state() bits */
#define SHMDEV_STATE_READABLE (1 << 0) /* consumer: a new frame waits */
#define SHMDEV_STATE_WRITABLE (1 << 1) /* producer: a slot is free */
#define SHMDEV_STATE_NO_PRODUCER (1 << 2) /* consumer: producer detached */
#define SHMDEV_STATE_DESTROYED (1 << 3) /* the stream's name is gone */
#define SHMDEV_STATE_DEMOTED (1 << 4) /* consumer: no longer reliable (2.2) */
int shmdev_stream_state(struct shmdev_stream *s);

/*
 * The dma-buf of slot @slot (ABI 2.3, SHMSTREAM_FEAT_DMABUF; -EOPNOTSUPP
 * otherwise), for V4L2, DRM, GStreamer or any importer, with no copy. The
 * fd belongs to the handle and is the same on every call for its life:
 * do not close it (dup() it to keep it past shmdev_stream_unref()). A
 * consumer's dma-buf is read-only, and hands a device only the frame it
 * holds (shmdev_frame.slot); a producer's, only the slot it has begun
 * (shmdev_slot.index). shmdev_slot_dmabuf(3).
 */
int shmdev_slot_dmabuf(struct shmdev_stream *s, uint32_t slot, int *fd);

/* Producer */
struct shmdev_slot {
	void *data; /* writable, slot_size bytes */
	size_t size;
	uint32_t index;
};

struct shmdev_commit_params {
	uint32_t bytes;
	uint32_t frame_flags;
	uint64_t timestamp_ns; /* 0: taken at commit */
	const struct shmstream_format *format; /* NULL: the stream's */
	const void *meta;
	uint32_t meta_len; /* at most SHMSTREAM_META_MAX */
	uint64_t seq; /* out */
};

int shmdev_begin(struct shmdev_stream *s, int64_t timeout_ns,
		 struct shmdev_slot *slot);
int shmdev_commit(struct shmdev_stream *s, const struct shmdev_slot *slot,
		  struct shmdev_commit_params *params);
int shmdev_discard(struct shmdev_stream *s, const struct shmdev_slot *slot);
int shmdev_write(struct shmdev_stream *s, const void *buf, size_t len,
		 int64_t timeout_ns);

/* Consumer */
enum shmdev_mode {
	SHMDEV_NEXT = SHMSTREAM_ACQUIRE_NEXT,
	SHMDEV_LATEST = SHMSTREAM_ACQUIRE_LATEST,
};

struct shmdev_frame {
	const void *data; /* read-only, valid until shmdev_release() */
	size_t len;
	uint64_t seq;
	uint64_t timestamp_ns;
	uint64_t missed; /* frames skipped since the previous acquire */
	uint32_t slot;
	uint32_t frame_flags;
	struct shmstream_format format;
	uint32_t meta_len;
	uint8_t meta[SHMSTREAM_META_MAX];
};

int shmdev_acquire(struct shmdev_stream *s, enum shmdev_mode mode,
		   int64_t timeout_ns, struct shmdev_frame *frame);
int shmdev_release(struct shmdev_stream *s, const struct shmdev_frame *frame);
int shmdev_read(struct shmdev_stream *s, void *buf, size_t len,
		int64_t timeout_ns, struct shmdev_frame *frame);

/*
 * The newest frame's descriptor, read from the mapped control area without
 * a syscall and without holding the frame (its bytes can be overwritten at
 * any moment: shmdev_acquire() holds them). 0; -EAGAIN when the stream has
 * no frame to offer. @retries, when not NULL, is increased by the number of
 * times the read began again because the kernel was writing (ABI 2).
 */
int shmdev_peek(struct shmdev_stream *s, struct shmstream_frame *desc,
		uint64_t *retries);

/*
 * Consumer: spin on the control area for up to @spin_ns before each
 * shmdev_acquire()/shmdev_read() sleeps in the kernel (0, the default:
 * sleep at once). It trades CPU for wake-up latency. -EINVAL on a producer.
 */
int shmdev_stream_set_spin(struct shmdev_stream *s, uint64_t spin_ns);

/*
 * CUDA bridge (shmdev_cuda(3)). libcuda.so.1 is loaded with dlopen() at the
 * first call; without it every call answers -ENOSYS, without a GPU -ENODEV.
 * Device pointers are CUdeviceptr values, CUDA streams are CUstream values
 * (NULL: the legacy default stream); all work happens in the device's
 * primary context, the one the CUDA runtime uses.
 */
#define SHMDEV_CUDA_NAME_MAX 256

/* shmdev_cuda_device.paths: which bridge paths work on the device. */
#define SHMDEV_CUDA_HOST_REGISTER (1 << 0) /* cuMemHostRegister of a ring */
#define SHMDEV_CUDA_HOST_READONLY (1 << 1) /* ... of a read-only (consumer) ring */
#define SHMDEV_CUDA_IPC_FD (1 << 2) /* cuMemCreate exported as a POSIX fd */
#define SHMDEV_CUDA_IPC_LEGACY (1 << 3) /* cuIpcGetMemHandle (64 bytes) */
#define SHMDEV_CUDA_IPC_EVENT (1 << 4) /* interprocess events */

struct shmdev_cuda_device {
	int ordinal;
	int cc_major;
	int cc_minor;
	uint32_t paths; /* SHMDEV_CUDA_* */
	uint64_t total_mem;
	char name[SHMDEV_CUDA_NAME_MAX];
};

int shmdev_cuda_driver_version(int *version);
int shmdev_cuda_device_count(int *count);
int shmdev_cuda_device_info(int ordinal, struct shmdev_cuda_device *out);

/* Pinned host path: a stream's mapped ring, registered once per handle. */
enum shmdev_cuda_mode {
	SHMDEV_CUDA_ZERO_COPY = 1, /* the ring itself is registered (DMA from it) */
	SHMDEV_CUDA_STAGED = 2, /* frames go through a pinned staging buffer */
};

int shmdev_cuda_register(struct shmdev_stream *s, int device);
int shmdev_cuda_unregister(struct shmdev_stream *s);
int shmdev_cuda_frame_ptr(struct shmdev_stream *s, const struct shmdev_frame *frame,
			  uint64_t *dptr);
int shmdev_cuda_upload(struct shmdev_stream *s, const struct shmdev_frame *frame,
		       uint64_t dst, size_t dst_size, void *cu_stream);
int shmdev_cuda_drain(struct shmdev_stream *s, int64_t timeout_ns);

/* Device mirror path: a bridge process per GPU (shmstreamctl gpu-mirror). */
struct shmdev_gpu_mirror;
struct shmdev_gpu;

#define SHMDEV_GPU_NO_FD (1 << 0) /* do not export a cuMemCreate ring */
#define SHMDEV_GPU_NO_LEGACY (1 << 1) /* do not publish a cuIpcMemHandle ring */

struct shmdev_gpu_mirror_params {
	int device;
	uint32_t slot_count; /* 0: 4; 2..64 */
	uint32_t flags; /* SHMDEV_GPU_NO_* */
};

struct shmdev_gpu_mirror_stats {
	uint64_t frames; /* mirrored into a device slot */
	uint64_t dropped; /* host frames skipped: every device slot held */
	uint64_t host_missed; /* frames the host stream overwrote first */
	uint64_t bytes;
	uint32_t clients; /* GPU consumers connected now */
	uint32_t host_mode; /* enum shmdev_cuda_mode of the upload */
	uint32_t paths; /* SHMDEV_CUDA_IPC_* exported */
	uint32_t slot_count;
};

int shmdev_gpu_mirror_start(struct shmdev *dev, const char *name,
			    const struct shmdev_gpu_mirror_params *params,
			    struct shmdev_gpu_mirror **out);
int shmdev_gpu_mirror_run(struct shmdev_gpu_mirror *m, int64_t timeout_ns);
int shmdev_gpu_mirror_stats(struct shmdev_gpu_mirror *m,
			    struct shmdev_gpu_mirror_stats *out);
void shmdev_gpu_mirror_stop(struct shmdev_gpu_mirror *m);

struct shmdev_gpu_info {
	int device;
	uint32_t slot_count;
	uint32_t paths; /* SHMDEV_CUDA_IPC_* the bridge publishes */
	uint32_t mapped; /* the one this handle uses */
	uint64_t slot_size;
	uint64_t slot_stride; /* slot i starts at ring + i * slot_stride */
	uint64_t legacy_ring; /* this handle's mapping of the legacy ring, 0: none */
	uint8_t legacy_handle[64]; /* CUipcMemHandle of the legacy ring */
};

struct shmdev_gpu_frame {
	uint64_t dptr; /* device pointer, valid until shmdev_gpu_release() */
	size_t len;
	uint64_t seq; /* the host stream's sequence number */
	uint64_t timestamp_ns;
	uint64_t missed;
	uint32_t slot;
	uint32_t frame_flags;
	struct shmstream_format format;
	uint32_t meta_len;
	uint8_t meta[SHMSTREAM_META_MAX];
};

int shmdev_gpu_open(const char *name, int device, struct shmdev_gpu **out);
void shmdev_gpu_close(struct shmdev_gpu *g);
int shmdev_gpu_info(struct shmdev_gpu *g, struct shmdev_gpu_info *out);
int shmdev_gpu_acquire(struct shmdev_gpu *g, enum shmdev_mode mode, int64_t timeout_ns,
		       struct shmdev_gpu_frame *frame);
int shmdev_gpu_wait(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame,
		    void *cu_stream);
int shmdev_gpu_release(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame);

/* Errors and versions */
const char *shmdev_strerror(int err);
const char *shmdev_errmsg(void);
const char *shmdev_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMDEV_H */
