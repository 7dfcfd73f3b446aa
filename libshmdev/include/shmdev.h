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
int shmdev_open_producer(struct shmdev *dev, const char *name,
			 struct shmdev_stream **out);
int shmdev_open_consumer(struct shmdev *dev, const char *name,
			 struct shmdev_stream **out);
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
int shmdev_stream_state(struct shmdev_stream *s);

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

/* Errors and versions */
const char *shmdev_strerror(int err);
const char *shmdev_errmsg(void);
const char *shmdev_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMDEV_H */
