// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libshmdev: every public function with its success path and documented
 * errors, many processes, shared handles across threads, killed consumers.
 * Built twice by make check: plain and with ASan+UBSan.
 */
#include <pthread.h>
#include <grp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include <shmdev.h>

#include "../common.h"

#include "kselftest_harness.h"

#define DOC SHMSTREAM_CREATE_DESTROY_ON_CLOSE

static struct shmdev *dev_or_skip(struct __test_metadata *_metadata)
{
	struct shmdev *dev = NULL;

	if (access(SHMDEV_DEFAULT_PATH, F_OK))
		return NULL;
	EXPECT_EQ(0, shmdev_open(&dev));
	return dev;
}

#define DEV_OR_SKIP(dev)							\
	do {									\
		dev = dev_or_skip(_metadata);					\
		if (!dev)							\
			SKIP(return, "%s missing (module not loaded?)",	\
			     SHMDEV_DEFAULT_PATH);				\
	} while (0)

static struct shmdev_stream *make(struct __test_metadata *_metadata,
				  struct shmdev *dev, const char *name,
				  uint32_t slots, uint32_t size)
{
	struct shmdev_create_params p = { .slot_count = slots, .slot_size = size, .flags = DOC };
	struct shmdev_stream *s = NULL;

	EXPECT_EQ(0, shmdev_create(dev, name, &p, &s));
	return s;
}

TEST(open_version_errors)
{
	struct shmstream_version v;
	struct shmdev *dev = NULL;

	/* The run-time version is the project's (VERSION, given by the build). */
	EXPECT_STREQ(EXPECT_VERSION, shmdev_version());
	EXPECT_EQ(-EINVAL, shmdev_open_path(NULL, &dev));
	EXPECT_EQ(-ENOENT, shmdev_open_path("/nonexistent/shmstream", &dev));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "module loaded"));
	/* A device that does not answer the handshake: -EPROTO, said why. */
	EXPECT_EQ(-EPROTO, shmdev_open_path("/dev/null", &dev));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "handshake"));
	EXPECT_STREQ("Incompatible shmstream module ABI version", shmdev_strerror(-EPROTO));
	EXPECT_STREQ("No such file or directory", shmdev_strerror(-ENOENT));
	EXPECT_EQ(NULL, shmdev_unref(NULL));
	EXPECT_EQ(NULL, shmdev_stream_unref(NULL));
	EXPECT_EQ(NULL, shmdev_ref(NULL));
	EXPECT_EQ(-EINVAL, shmdev_fd(NULL));
	EXPECT_EQ(-EINVAL, shmdev_module_version(NULL, &v));

	DEV_OR_SKIP(dev);
	ASSERT_EQ(0, shmdev_module_version(dev, &v));
	EXPECT_EQ(SHMSTREAM_ABI_MAJOR, v.abi_major);
	EXPECT_LE(0, shmdev_fd(dev));
	/* References: the last unref closes. */
	EXPECT_EQ(dev, shmdev_ref(dev));
	EXPECT_EQ(NULL, shmdev_unref(dev));
	EXPECT_EQ(0, shmdev_module_version(dev, &v));
	shmdev_unref(dev);
}

/*
 * A stand-in for the module's handshake, to see what libshmdev says about
 * a module of another ABI: this ioctl() comes before libc's for the
 * library too. fake_abi 1 answers as an ABI 1.x module (the old magic
 * only), 3 as a newer module; 0 passes every call on.
 */
static _Atomic int fake_abi;

int ioctl(int fd, unsigned long req, ...)
{
	struct shmstream_version *v;
	va_list ap;

	va_start(ap, req);
	v = va_arg(ap, void *);
	va_end(ap);
	if (fake_abi && _IOC_NR(req) == 0 && (_IOC_TYPE(req) == 0xB8 || _IOC_TYPE(req) == 0xB9)) {
		if ((fake_abi == 1) != (_IOC_TYPE(req) == 0xB8)) {
			errno = ENOTTY;
			return -1;
		}
		v->abi_major = (uint32_t)fake_abi;
		v->abi_minor = 1;
		return 0;
	}
	return (int)syscall(SYS_ioctl, fd, req, v);
}

TEST(module_of_another_abi_said_clearly)
{
	struct shmdev *dev = NULL;

	fake_abi = 1;
	EXPECT_EQ(-EPROTO, shmdev_open_path("/dev/null", &dev));
	TH_LOG("%s", shmdev_errmsg());
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "ABI 1.1, older than libshmdev"));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "(ABI 2.x)"));
	fake_abi = 3;
	EXPECT_EQ(-EPROTO, shmdev_open_path("/dev/null", &dev));
	TH_LOG("%s", shmdev_errmsg());
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "ABI 3.1, newer than libshmdev"));
	fake_abi = 0;
	EXPECT_EQ(NULL, dev);
}

/* shmdev_peek(): the newest frame from the control area, no syscall. */
TEST(peek_newest_without_holding)
{
	struct shmdev_stream *s, *c = NULL;
	struct shmstream_frame d;
	struct shmdev_slot slot;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	uint64_t retries = 0;

	DEV_OR_SKIP(dev);
	shm_name(name, "peek");
	s = make(_metadata, dev, name, 1, 64);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	EXPECT_EQ(-EINVAL, shmdev_peek(NULL, &d, NULL));
	EXPECT_EQ(-EINVAL, shmdev_peek(c, NULL, NULL));
	/* Nothing committed yet. */
	EXPECT_EQ(-EAGAIN, shmdev_peek(c, &d, &retries));
	for (int i = 1; i <= 3; i++)
		ASSERT_EQ(i, shmdev_write(s, "abc", (size_t)i, 0));
	ASSERT_EQ(0, shmdev_peek(c, &d, &retries));
	EXPECT_EQ(3, d.seq);
	EXPECT_EQ(3, d.bytes_used);
	EXPECT_EQ(0, d.slot);
	/* The producer peeks too, and nothing was taken. */
	ASSERT_EQ(0, shmdev_peek(s, &d, NULL));
	EXPECT_EQ(3, d.seq);
	/* Its only slot taken for a new frame: the newest frame is gone. */
	ASSERT_EQ(0, shmdev_begin(s, 0, &slot));
	EXPECT_EQ(-EAGAIN, shmdev_peek(c, &d, &retries));
	ASSERT_EQ(0, shmdev_discard(s, &slot));
	EXPECT_EQ(-EAGAIN, shmdev_peek(c, &d, &retries));
	ASSERT_EQ(2, shmdev_write(s, "ab", 2, 0));
	ASSERT_EQ(0, shmdev_peek(c, &d, &retries));
	EXPECT_EQ(4, d.seq);
	/* Nobody wrote while it read: nothing to read again. */
	EXPECT_EQ(0, retries);
	shmdev_stream_unref(c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
}

struct paced {
	struct shmdev_stream *s;
	int frames;
	int err;
};

static void *paced_producer(void *arg)
{
	struct paced *p = arg;

	for (int i = 1; i <= p->frames; i++) {
		uint8_t buf[256];

		shm_fill(buf, sizeof(buf), (uint64_t)i);
		if (shmdev_write(p->s, buf, sizeof(buf), SHM_PATIENCE) != (int)sizeof(buf)) {
			p->err = i;
			break;
		}
		usleep(i % 3 ? 50 : 2000); /* some inside the spin, some past it */
	}
	return NULL;
}

/* A spinning consumer gets every frame, whole and in order. */
/*
 * shmdev_create_limited(): the stream takes its own limits on other users'
 * consumers; bad ones are refused and leave nothing behind.
 */
TEST(create_limited)
{
	struct shmdev_create_params p = { .slot_count = 4, .slot_size = 4096,
					  .flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE };
	struct shmdev_create_limits l = { .max_consumers = 20, .user_consumers = 4,
					  .user_holds = 2 };
	struct shmstream_version v;
	struct shmstream_info in;
	struct shmdev_stream *s = NULL;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];

	DEV_OR_SKIP(dev);
	shm_name(name, "limited");
	ASSERT_EQ(0, shmdev_module_version(dev, &v));
	if (!(v.features & SHMSTREAM_FEAT_ISOLATION)) {
		EXPECT_EQ(-EOPNOTSUPP, shmdev_create_limited(dev, name, &p, &l, &s));
		shmdev_unref(dev);
		SKIP(return, "the module has no SHMSTREAM_FEAT_ISOLATION (ABI 2.0)");
	}
	l.reserved[2] = 1;
	EXPECT_EQ(-EINVAL, shmdev_create_limited(dev, name, &p, &l, &s));
	l.reserved[2] = 0;
	l.user_consumers = 21;
	EXPECT_EQ(-EINVAL, shmdev_create_limited(dev, name, &p, &l, &s));
	l.user_consumers = 4;
	l.max_consumers = v.max_consumers + 1;
	EXPECT_EQ(-EINVAL, shmdev_create_limited(dev, name, &p, &l, &s));
	EXPECT_EQ(0, shm_counter("streams"));
	l.max_consumers = 20;
	ASSERT_EQ(0, shmdev_create_limited(dev, name, &p, &l, &s));
	ASSERT_EQ(0, shmdev_stream_info(s, &in));
	EXPECT_EQ(20, in.max_consumers);
	EXPECT_EQ(4, in.user_consumers);
	EXPECT_EQ(2, in.user_holds);
	shmdev_stream_unref(s);
	/* NULL limits: the module's defaults, as shmdev_create(). */
	ASSERT_EQ(0, shmdev_create_limited(dev, name, &p, NULL, &s));
	ASSERT_EQ(0, shmdev_stream_info(s, &in));
	EXPECT_EQ(v.max_consumers, in.max_consumers);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
}

/* The delivery calls (2.2), or a SKIP on an older module, with its errno checked. */
#define DELIVERY_OR_SKIP(dev)							\
	do {									\
		struct shmstream_version v_;					\
		struct shmdev_stream *x_ = NULL;				\
		ASSERT_EQ(0, shmdev_module_version(dev, &v_));			\
		if (!(v_.features & SHMSTREAM_FEAT_DELIVERY)) {			\
			EXPECT_EQ(-EOPNOTSUPP, shmdev_open_consumer_flags(	\
				dev, "x", SHMDEV_OPEN_RELIABLE, &x_));		\
			shmdev_unref(dev);					\
			SKIP(return, "the module has no SHMSTREAM_FEAT_DELIVERY");\
		}								\
	} while (0)

/*
 * A reliable consumer: the producer waits for it, and goes on once it is
 * demoted after the stall limit, which the consumer learns from missed and
 * SHMDEV_STATE_DEMOTED. A late joiner gets the last frames, in order.
 */
TEST(reliable_history_demotion)
{
	struct shmdev_create_params p = { .slot_count = 4, .slot_size = 256, .flags = DOC };
	struct shmdev_create_limits l = { .stall_ms = 200 };
	struct shmdev_stream *s = NULL, *r = NULL, *h = NULL, *x = NULL;
	struct shmstream_stats st;
	struct shmstream_info in;
	struct shmdev_frame f;
	uint8_t buf[256];
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];

	DEV_OR_SKIP(dev);
	DELIVERY_OR_SKIP(dev);
	shm_name(name, "reliable");
	l.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, shmdev_create_limited(dev, name, &p, &l, &s));
	l.reserved[0] = 0;
	ASSERT_EQ(0, shmdev_create_limited(dev, name, &p, &l, &s));
	ASSERT_EQ(0, shmdev_stream_info(s, &in));
	EXPECT_EQ(200, in.stall_ms);
	EXPECT_EQ(1, in.max_producers);
	EXPECT_EQ(-EINVAL, shmdev_open_consumer_flags(dev, name, 1 << 7, &x));
	EXPECT_EQ(-EINVAL, shmdev_open_consumer_history(dev, name, SHMDEV_OPEN_NEWEST, 2, &x));
	EXPECT_EQ(-EINVAL, shmdev_open_consumer_history(dev, name, 0, 5, &x));
	EXPECT_EQ(NULL, x);
	ASSERT_EQ(0, shmdev_open_consumer_flags(dev, name, SHMDEV_OPEN_RELIABLE, &r));
	ASSERT_EQ(0, shmdev_stream_stats(r, &st));
	EXPECT_EQ(SHMSTREAM_STATS_RELIABLE, st.state);

	for (uint64_t i = 1; i <= 4; i++) {
		shm_fill(buf, sizeof(buf), i);
		EXPECT_EQ(256, shmdev_write(s, buf, sizeof(buf), 0));
	}
	/* Held back: no slot until the reader takes a frame. */
	EXPECT_EQ(-EAGAIN, shmdev_write(s, buf, sizeof(buf), 0));
	EXPECT_EQ(0, shmdev_stream_state(s) & SHMDEV_STATE_WRITABLE);
	/* A late joiner, for the last 3: 2, 3, 4. */
	ASSERT_EQ(0, shmdev_open_consumer_history(dev, name, 0, 3, &h));
	for (uint64_t i = 2; i <= 4; i++) {
		ASSERT_EQ(0, shmdev_acquire(h, SHMDEV_NEXT, 0, &f));
		EXPECT_EQ(i, f.seq);
		EXPECT_EQ(0, f.missed);
		EXPECT_EQ(0, shm_check(f.data, (uint32_t)f.len, i));
		EXPECT_EQ(0, shmdev_release(h, &f));
	}
	EXPECT_EQ(256, shmdev_read(r, buf, sizeof(buf), 0, &f));
	EXPECT_EQ(1, f.seq);
	EXPECT_EQ(0, shm_check(buf, 256, 1));
	EXPECT_EQ(SHMDEV_STATE_WRITABLE, shmdev_stream_state(s) & SHMDEV_STATE_WRITABLE);
	shm_fill(buf, sizeof(buf), 5);
	EXPECT_EQ(256, shmdev_write(s, buf, sizeof(buf), 0));
	EXPECT_EQ(-EAGAIN, shmdev_write(s, buf, sizeof(buf), 0));
	EXPECT_EQ(0, shmdev_stream_state(r) & SHMDEV_STATE_DEMOTED);

	/* The reader takes nothing more: demoted after 200 ms, the write goes on. */
	for (uint64_t i = 6; i <= 9; i++) {
		shm_fill(buf, sizeof(buf), i);
		EXPECT_EQ(256, shmdev_write(s, buf, sizeof(buf), SHM_PATIENCE));
	}
	EXPECT_EQ(SHMDEV_STATE_DEMOTED, shmdev_stream_state(r) & SHMDEV_STATE_DEMOTED);
	ASSERT_EQ(0, shmdev_acquire(r, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(6, f.seq);
	EXPECT_EQ(4, f.missed); /* 2..5 */
	EXPECT_EQ(0, shm_check(f.data, (uint32_t)f.len, 6));
	EXPECT_EQ(0, shmdev_release(r, &f));
	/* Still said after ACQUIRE took the kernel's word for it. */
	EXPECT_EQ(SHMDEV_STATE_DEMOTED, shmdev_stream_state(r) & SHMDEV_STATE_DEMOTED);
	ASSERT_EQ(0, shmdev_stream_stats(r, &st));
	EXPECT_EQ(SHMSTREAM_STATS_DEMOTED, st.state);
	ASSERT_EQ(0, shmdev_stream_info(s, &in));
	EXPECT_EQ(1, in.demotions);
	EXPECT_EQ(0, in.reliable_consumers);
	shmdev_stream_unref(h);
	shmdev_stream_unref(r);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
}

/* Several producers, one sequence; one too many is -EBUSY. */
TEST(several_producers)
{
	struct shmdev_create_params p = { .slot_count = 8, .slot_size = 64,
					  .flags = DOC | SHMSTREAM_CREATE_MULTI_PRODUCER };
	struct shmdev_create_limits l = { .max_producers = 3 };
	struct shmdev_stream *s = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *c = NULL;
	struct shmdev_commit_params cp = { .bytes = 64 };
	struct shmdev_slot a, b;
	struct shmstream_info in;
	struct shmdev_frame f;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];

	DEV_OR_SKIP(dev);
	DELIVERY_OR_SKIP(dev);
	shm_name(name, "producers");
	ASSERT_EQ(0, shmdev_create_limited(dev, name, &p, &l, &s));
	ASSERT_EQ(0, shmdev_open_producer(dev, name, &p2));
	ASSERT_EQ(0, shmdev_open_producer(dev, name, &p3));
	EXPECT_EQ(-EBUSY, shmdev_open_producer(dev, name, &p4));
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	ASSERT_EQ(0, shmdev_stream_info(c, &in));
	EXPECT_EQ(3, in.producers);
	EXPECT_EQ(3, in.max_producers);
	/* Taken in one order, committed in the other: seq follows commits. */
	ASSERT_EQ(0, shmdev_begin(p2, 0, &a));
	ASSERT_EQ(0, shmdev_begin(p3, 0, &b));
	shm_fill(a.data, 64, 2);
	shm_fill(b.data, 64, 3);
	ASSERT_EQ(0, shmdev_commit(p3, &b, &cp));
	EXPECT_EQ(1, cp.seq);
	ASSERT_EQ(0, shmdev_commit(p2, &a, &cp));
	EXPECT_EQ(2, cp.seq);
	/* A slot is its producer's: another cannot commit it. */
	ASSERT_EQ(0, shmdev_begin(p2, 0, &a));
	EXPECT_EQ(-EINVAL, shmdev_commit(s, &a, &cp));
	EXPECT_EQ(0, shmdev_discard(p2, &a));
	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(0, shm_check(f.data, 64, 3));
	EXPECT_EQ(0, shmdev_release(c, &f));
	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(0, shm_check(f.data, 64, 2));
	EXPECT_EQ(0, shmdev_release(c, &f));
	/* The creator's going is not the last producer's. */
	shmdev_stream_unref(p2);
	shmdev_stream_unref(p3);
	EXPECT_EQ(0, shmdev_stream_state(c) & SHMDEV_STATE_NO_PRODUCER);
	shmdev_stream_unref(s);
	EXPECT_EQ(SHMDEV_STATE_NO_PRODUCER, shmdev_stream_state(c) & SHMDEV_STATE_NO_PRODUCER);
	shmdev_stream_unref(c);
	/* Without the flag: one producer, and max_producers is refused. */
	p.flags = DOC;
	EXPECT_EQ(-EINVAL, shmdev_create_limited(dev, name, &p, &l, &s));
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
}

TEST(spin_then_sleep)
{
	struct shmdev_stream *s, *c = NULL;
	struct paced p = { .frames = 300 };
	struct shmdev_frame f;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	pthread_t thread;
	int64_t t0;

	DEV_OR_SKIP(dev);
	shm_name(name, "spin");
	/* Room for every frame: a slow reader on a loaded machine misses none. */
	s = make(_metadata, dev, name, 300, 256);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	EXPECT_EQ(-EINVAL, shmdev_stream_set_spin(s, 1000));
	EXPECT_EQ(-EINVAL, shmdev_stream_set_spin(NULL, 1000));
	/* A budget longer than the timeout: the timeout wins. */
	ASSERT_EQ(0, shmdev_stream_set_spin(c, 10000000000ULL));
	t0 = shm_now_ns();
	EXPECT_EQ(-ETIMEDOUT, shmdev_acquire(c, SHMDEV_NEXT, SHMDEV_MS(20), &f));
	EXPECT_LT(shm_now_ns() - t0, 5000000000LL);
	EXPECT_EQ(-EAGAIN, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	ASSERT_EQ(0, shmdev_stream_set_spin(c, 100000)); /* 100 us */
	p.s = s;
	ASSERT_EQ(0, pthread_create(&thread, NULL, paced_producer, &p));
	for (uint64_t i = 1; i <= (uint64_t)p.frames; i++) {
		ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, SHM_PATIENCE, &f));
		EXPECT_EQ(i, f.seq);
		EXPECT_EQ(0, f.missed);
		EXPECT_EQ(256, f.len);
		EXPECT_EQ(0, shm_check(f.data, (uint32_t)f.len, i));
		EXPECT_EQ(0, shmdev_release(c, &f));
	}
	pthread_join(thread, NULL);
	EXPECT_EQ(0, p.err);
	shmdev_stream_unref(c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
}

TEST(create_open_destroy_list_info)
{
	struct shmdev_create_params p = { .slot_count = 4, .slot_size = 1000 };
	struct shmdev_stream *s = NULL, *c = NULL, *x = NULL;
	char names[4][SHMSTREAM_NAME_MAX];
	struct shmstream_info info;
	struct shmstream_stats st;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	size_t count = 0;

	DEV_OR_SKIP(dev);
	shm_name(name, "lib");
	EXPECT_EQ(-EINVAL, shmdev_create(dev, "", &p, &s));
	EXPECT_EQ(-EINVAL, shmdev_create(dev, name, NULL, &s));
	EXPECT_EQ(-EINVAL, shmdev_create(dev, "a/b", &p, &s));
	EXPECT_EQ(-EINVAL, shmdev_create(NULL, name, &p, &s));
	p.slot_count = 0;
	EXPECT_EQ(-EINVAL, shmdev_create(dev, name, &p, &s));
	p.slot_count = 4;
	EXPECT_EQ(-ENOENT, shmdev_open_consumer(dev, name, &c));
	EXPECT_EQ(-ENOENT, shmdev_destroy(dev, name));
	EXPECT_EQ(-ENOENT, shmdev_info(dev, name, &info));

	ASSERT_EQ(0, shmdev_create(dev, name, &p, &s));
	EXPECT_STREQ(name, shmdev_stream_name(s));
	EXPECT_EQ(-EEXIST, shmdev_create(dev, name, &p, &x));
	EXPECT_EQ(-EBUSY, shmdev_open_producer(dev, name, &x));
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	ASSERT_EQ(0, shmdev_info(dev, name, &info));
	EXPECT_EQ(4, info.slot_count);
	EXPECT_EQ(1000, info.slot_size);
	EXPECT_EQ(0600, info.mode);
	EXPECT_EQ(1, info.consumers);
	ASSERT_EQ(0, shmdev_stream_info(c, &info));
	EXPECT_EQ(SHMSTREAM_STATE_PRODUCER, info.state);
	ASSERT_EQ(0, shmdev_stream_stats(c, &st));
	EXPECT_EQ(SHMSTREAM_ATTACH_CONSUMER, st.role);
	EXPECT_EQ(-EINVAL, shmdev_stream_info(NULL, &info));

	EXPECT_EQ(-ENOSPC, shmdev_list(dev, NULL, 0, &count));
	EXPECT_LE(1, count);
	ASSERT_EQ(0, shmdev_list(dev, names, 4, &count));
	EXPECT_STREQ(name, names[0]);
	EXPECT_EQ(-EINVAL, shmdev_list(dev, NULL, 4, &count));

	EXPECT_EQ(0, shmdev_destroy(dev, name));
	EXPECT_EQ(SHMDEV_STATE_DESTROYED, shmdev_stream_state(c) & SHMDEV_STATE_DESTROYED);
	EXPECT_EQ(-ENOENT, shmdev_open_consumer(dev, name, &x));
	shmdev_stream_unref(c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
}

TEST(produce_and_consume)
{
	struct shmdev_stream *s, *c = NULL, *x;
	struct shmdev_commit_params cp = { 0 };
	struct shmstream_format fmt = { 0x34325247, 16, 16, 48 };
	struct shmdev_frame f;
	struct shmdev_slot slot;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX], buf[2000];

	DEV_OR_SKIP(dev);
	shm_name(name, "pc");
	s = make(_metadata, dev, name, 4, 1000);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	EXPECT_EQ(0, shmdev_stream_state(c) & SHMDEV_STATE_READABLE);
	EXPECT_EQ(SHMDEV_STATE_WRITABLE, shmdev_stream_state(s) & SHMDEV_STATE_WRITABLE);

	ASSERT_EQ(0, shmdev_begin(s, 0, &slot));
	EXPECT_EQ(1000, slot.size);
	memset(slot.data, 0xab, 100);
	cp.bytes = 100;
	cp.timestamp_ns = 42;
	cp.format = &fmt;
	cp.meta = "camera-7";
	cp.meta_len = 8;
	cp.frame_flags = 3;
	ASSERT_EQ(0, shmdev_commit(s, &slot, &cp));
	EXPECT_EQ(1, cp.seq);
	EXPECT_EQ(SHMDEV_STATE_READABLE, shmdev_stream_state(c) & SHMDEV_STATE_READABLE);

	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(1, f.seq);
	EXPECT_EQ(100, f.len);
	EXPECT_EQ(42, f.timestamp_ns);
	EXPECT_EQ(3, f.frame_flags);
	EXPECT_EQ(48, f.format.stride);
	EXPECT_EQ(0, memcmp("camera-7", f.meta, 8));
	EXPECT_EQ(0xab, ((const uint8_t *)f.data)[99]);
	EXPECT_EQ(0, shmdev_release(c, &f));
	EXPECT_EQ(-EINVAL, shmdev_release(c, &f));

	/* A consumer opened with SHMDEV_OPEN_NEWEST sees frame 1 at once. */
	EXPECT_EQ(-EINVAL, shmdev_open_consumer_flags(dev, name, 1 << 7, &x));
	EXPECT_EQ(-EINVAL, shmdev_open_consumer_flags(NULL, name, 0, &x));
	ASSERT_EQ(0, shmdev_open_consumer_flags(dev, name, 0, &x));
	EXPECT_EQ(-EAGAIN, shmdev_acquire(x, SHMDEV_NEXT, 0, &f));
	shmdev_stream_unref(x);
	ASSERT_EQ(0, shmdev_open_consumer_flags(dev, name, SHMDEV_OPEN_NEWEST, &x));
	ASSERT_EQ(0, shmdev_acquire(x, SHMDEV_LATEST, 0, &f));
	EXPECT_EQ(1, f.seq);
	EXPECT_EQ(0, memcmp("camera-7", f.meta, 8));
	EXPECT_EQ(0, shmdev_release(x, &f));
	shmdev_stream_unref(x);

	/* Commit errors and discard. */
	ASSERT_EQ(0, shmdev_begin(s, 0, &slot));
	cp.meta_len = SHMSTREAM_META_MAX + 1;
	EXPECT_EQ(-EINVAL, shmdev_commit(s, &slot, &cp));
	cp.meta_len = 0;
	cp.bytes = 1001;
	EXPECT_EQ(-EINVAL, shmdev_commit(s, &slot, &cp));
	EXPECT_EQ(0, shmdev_discard(s, &slot));
	EXPECT_EQ(-EINVAL, shmdev_discard(s, &slot));
	EXPECT_EQ(-EAGAIN, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(-ETIMEDOUT, shmdev_acquire(c, SHMDEV_LATEST, SHMDEV_MS(10), &f));
	EXPECT_EQ(-EINVAL, shmdev_acquire(c, 7, 0, &f));

	/* Copying shortcuts. */
	EXPECT_EQ(-EMSGSIZE, shmdev_write(s, buf, 1001, 0));
	memset(buf, 'x', sizeof(buf));
	EXPECT_EQ(500, shmdev_write(s, buf, 500, 0));
	EXPECT_EQ(-EMSGSIZE, shmdev_read(c, buf, 10, 0, &f));
	EXPECT_EQ(500, f.len);
	EXPECT_EQ(NULL, f.data);
	EXPECT_EQ(300, shmdev_write(s, buf, 300, 0));
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(300, shmdev_read(c, buf, sizeof(buf), 0, NULL));
	EXPECT_EQ('x', buf[299]);
	EXPECT_EQ(-EAGAIN, shmdev_read(c, buf, sizeof(buf), 0, NULL));

	/* Roles. */
	EXPECT_EQ(-EPERM, shmdev_begin(c, 0, &slot));
	EXPECT_EQ(-EPERM, shmdev_write(c, buf, 1, 0));
	EXPECT_EQ(-EPERM, shmdev_acquire(s, SHMDEV_NEXT, 0, &f));

	/* The producer goes: the consumer sees it. */
	shmdev_stream_unref(s);
	EXPECT_EQ(SHMDEV_STATE_NO_PRODUCER | SHMDEV_STATE_DESTROYED,
		  shmdev_stream_state(c) & (SHMDEV_STATE_NO_PRODUCER | SHMDEV_STATE_DESTROYED));
	EXPECT_EQ(-EIDRM, shmdev_acquire(c, SHMDEV_NEXT, SHMDEV_FOREVER, &f));
	shmdev_stream_unref(c);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
	EXPECT_EQ(0, shm_counter("mappings"));
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST(refs_roles_permissions_limits)
{
	struct shmdev_create_params p = { .slot_count = 16, .slot_size = 64 };
	struct sigaction sa = { .sa_handler = on_alarm };
	struct shm_interrupter in;
	struct shmstream_version v;
	struct shmdev_stream *s = NULL, *c = NULL, *c2;
	struct shmdev_frame f;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	int status, held = 0;
	pid_t pid;

	DEV_OR_SKIP(dev);
	shm_name(name, "refs");
	/* A stream that outlives its creator; a new producer takes over. */
	ASSERT_EQ(0, shmdev_create(dev, name, &p, &s));
	shmdev_stream_unref(s);
	ASSERT_EQ(0, shmdev_open_producer(dev, name, &s));
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));

	/* A second reference keeps the handle (and its mapping) usable. */
	c2 = shmdev_stream_ref(c);
	EXPECT_EQ(c, c2);
	EXPECT_EQ(NULL, shmdev_stream_unref(c2));
	EXPECT_EQ(1, shmdev_write(s, "a", 1, 0));
	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ('a', *(const char *)f.data);
	EXPECT_EQ(0, shmdev_release(c, &f));

	/* Hold limit. */
	ASSERT_EQ(0, shmdev_module_version(dev, &v));
	for (uint32_t i = 0; i <= v.max_holds; i++)
		ASSERT_EQ(1, shmdev_write(s, "b", 1, 0));
	while (!shmdev_acquire(c, SHMDEV_NEXT, 0, &f))
		held++;
	EXPECT_EQ(v.max_holds, held);
	EXPECT_EQ(-ENOBUFS, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_STREQ("Too many frames held or slots pending", shmdev_strerror(-ENOBUFS));

	/* A signal ends a timed wait with -EINTR (sent once it waits). */
	shmdev_stream_unref(c);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, shm_interrupt_when_asleep(&in, SYS_ioctl, SIGALRM));
	EXPECT_EQ(-EINTR, shmdev_acquire(c, SHMDEV_NEXT, SHM_PATIENCE, &f));
	pthread_join(in.thread, NULL);
	EXPECT_EQ(0, in.asleep);

	/* Another user cannot read a 0600 stream. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmdev *d = NULL;
		struct shmdev_stream *x = NULL;

		if (shm_become(65534, 65534) || shmdev_open(&d))
			_exit(100);
		_exit(-shmdev_open_consumer(d, name, &x));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(EACCES, WEXITSTATUS(status));

	EXPECT_EQ(0, shmdev_destroy(dev, name));
	shmdev_stream_unref(c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
}

/*
 * shmdev_slot_dmabuf(): the handle's own fd per slot, the same on every
 * call; a frame written through the producer's dma-buf is read through the
 * consumer's, byte for byte; the fds go with the handle.
 */
TEST(slot_dmabuf)
{
	struct shmdev_create_params p = { .slot_count = 4, .slot_size = 5000, .flags = DOC };
	struct shmdev_commit_params cp = { .bytes = 5000 };
	struct shmstream_version v;
	struct shmdev_stream *s = NULL, *c = NULL;
	struct shmstream_info in;
	struct shmstream_stats st;
	struct shmdev_frame f;
	struct shmdev_slot sl;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	int pfd, pfd2, cfd, other;
	uint8_t *m;

	DEV_OR_SKIP(dev);
	shm_name(name, "dmabuf");
	ASSERT_EQ(0, shmdev_create(dev, name, &p, &s));
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	ASSERT_EQ(0, shmdev_module_version(dev, &v));
	if (!(v.features & SHMSTREAM_FEAT_DMABUF)) {
		EXPECT_EQ(-EOPNOTSUPP, shmdev_slot_dmabuf(s, 0, &pfd));
		shmdev_stream_unref(c);
		shmdev_stream_unref(s);
		shmdev_unref(dev);
		SKIP(return, "the module has no SHMSTREAM_FEAT_DMABUF");
	}
	EXPECT_EQ(-EINVAL, shmdev_slot_dmabuf(s, 4, &pfd));
	EXPECT_EQ(-EINVAL, shmdev_slot_dmabuf(s, 0, NULL));
	EXPECT_EQ(-EINVAL, shmdev_slot_dmabuf(NULL, 0, &pfd));
	ASSERT_EQ(0, shmdev_stream_info(s, &in));

	ASSERT_EQ(0, shmdev_begin(s, 0, &sl));
	ASSERT_EQ(0, shmdev_slot_dmabuf(s, sl.index, &pfd));
	ASSERT_EQ(0, shmdev_slot_dmabuf(s, sl.index, &pfd2));
	EXPECT_EQ(pfd, pfd2);
	EXPECT_EQ(FD_CLOEXEC, fcntl(pfd, F_GETFD) & FD_CLOEXEC);
	m = mmap(NULL, in.slot_stride, PROT_READ | PROT_WRITE, MAP_SHARED, pfd, 0);
	ASSERT_NE(MAP_FAILED, m);
	shm_fill(m, 5000, 77);
	munmap(m, in.slot_stride);
	EXPECT_EQ(0, shm_check(sl.data, 5000, 77));
	ASSERT_EQ(0, shmdev_commit(s, &sl, &cp));

	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	ASSERT_EQ(0, shmdev_slot_dmabuf(c, f.slot, &cfd));
	EXPECT_NE(pfd, cfd);
	EXPECT_EQ(O_RDONLY, fcntl(cfd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, in.slot_stride, PROT_READ | PROT_WRITE, MAP_SHARED,
				   cfd, 0));
	m = mmap(NULL, in.slot_stride, PROT_READ, MAP_SHARED, cfd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, shm_check(m, 5000, 77));
	munmap(m, in.slot_stride);
	EXPECT_EQ(0, shmdev_release(c, &f));
	ASSERT_EQ(0, shmdev_slot_dmabuf(c, (f.slot + 1) % 4, &other));
	EXPECT_NE(cfd, other);
	ASSERT_EQ(0, shmdev_stream_stats(c, &st));
	EXPECT_EQ(2, st.dmabufs);

	shmdev_stream_unref(c);
	EXPECT_EQ(-1, fcntl(cfd, F_GETFD));
	EXPECT_EQ(EBADF, errno);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("streams"));
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(0, shm_counter("dmabufs"));
}

TEST(all_held_then_begin_waits)
{
	struct shmdev_stream *s, *c = NULL;
	struct shmdev_frame f[2];
	struct shmdev_slot slot;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];

	DEV_OR_SKIP(dev);
	shm_name(name, "held");
	s = make(_metadata, dev, name, 2, 64);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &c));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(1, shmdev_write(s, "x", 1, 0));
		ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f[i]));
	}
	EXPECT_EQ(-EAGAIN, shmdev_begin(s, 0, &slot));
	EXPECT_EQ(-ETIMEDOUT, shmdev_begin(s, SHMDEV_MS(20), &slot));
	EXPECT_EQ(0, shmdev_release(c, &f[1]));
	EXPECT_EQ(0, shmdev_begin(s, SHMDEV_MS(20), &slot));
	EXPECT_EQ(f[1].slot, slot.index);
	EXPECT_EQ(0, shmdev_discard(s, &slot));
	shmdev_stream_unref(c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
}

/* One consumer process of the multi-process test. */
static int consume(const char *name, int mode, int use_epoll, uint64_t total,
		   uint32_t slot_size)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct shmdev_stream *c = NULL;
	struct shmstream_stats st;
	struct shmdev_frame f;
	struct shmdev *dev = NULL;
	uint64_t last = 0;
	int ep = -1;

	if (shmdev_open(&dev) || shmdev_open_consumer(dev, name, &c))
		return 10;
	if (use_epoll) {
		ep = epoll_create1(0);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, shmdev_stream_fd(c), &ev))
			return 11;
	}
	raise(SIGSTOP); /* attached */
	/* The next frame certainly comes: a loaded machine only delays it. */
	while (last < total) {
		int ret;

		if (use_epoll) {
			if (epoll_wait(ep, &ev, 1, (int)(SHM_PATIENCE / MS)) != 1)
				return 12;
			ret = shmdev_acquire(c, mode, 0, &f);
			if (ret == -EAGAIN)
				continue;
		} else {
			ret = shmdev_acquire(c, mode, SHM_PATIENCE, &f);
		}
		if (ret)
			return 13;
		if (f.seq <= last || f.len != shm_frame_len(f.seq, slot_size) ||
		    shm_check(f.data, f.len, f.seq))
			return 14;
		last = f.seq;
		if (shmdev_release(c, &f))
			return 15;
	}
	if (shmdev_stream_stats(c, &st) || st.taken + st.missed != total || st.holds)
		return 16;
	shmdev_stream_unref(c);
	shmdev_unref(dev);
	return 0;
}

/*
 * The long runs: a TCG guest on 2 cores, and the ASan lane, take more than
 * the harness's default 30 s for them.
 */
FIXTURE(long_run) {
	int unused;
};

FIXTURE_SETUP(long_run)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(long_run)
{
}

TEST_F_TIMEOUT(long_run, one_producer_eight_consumers_100k_frames, 600)
{
	const uint64_t total = 100000;
	const uint32_t size = 512;
	struct shmdev_stream *s;
	struct shmstream_info info;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	pid_t pids[8];
	int status;

	DEV_OR_SKIP(dev);
	shm_name(name, "mp");
	s = make(_metadata, dev, name, 32, size);
	ASSERT_NE(NULL, s);
	for (int i = 0; i < 8; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0)
			_exit(consume(name, i % 2 ? SHMDEV_LATEST : SHMDEV_NEXT, i / 2 % 2,
				      total, size));
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, WUNTRACED));
		ASSERT_TRUE(WIFSTOPPED(status));
	}
	for (int i = 0; i < 8; i++)
		kill(pids[i], SIGCONT);
	for (uint64_t seq = 1; seq <= total; seq++) {
		struct shmdev_commit_params cp = { .bytes = shm_frame_len(seq, size) };
		struct shmdev_slot slot;

		ASSERT_EQ(0, shmdev_begin(s, 10 * SEC, &slot));
		shm_fill(slot.data, cp.bytes, seq);
		ASSERT_EQ(0, shmdev_commit(s, &slot, &cp));
		ASSERT_EQ(seq, cp.seq);
	}
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	ASSERT_EQ(0, shmdev_stream_info(s, &info));
	EXPECT_EQ(total, info.frames);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	EXPECT_EQ(0, shm_counter("holds"));
}

struct shared {
	struct shmdev_stream *c;
	uint32_t size;
	atomic_ulong taken;
	atomic_int done;
	atomic_int bad;
};

static void *thread_consumer(void *arg)
{
	struct shared *sh = arg;
	struct shmdev_frame f;

	for (;;) {
		/*
		 * Done before the wait began: every frame was committed by then,
		 * so nothing newer than the cursor means nothing left to take.
		 * (Done read after a timeout could be a frame too late.)
		 */
		int done = atomic_load(&sh->done);
		int ret = shmdev_acquire(sh->c, SHMDEV_NEXT, SHMDEV_MS(50), &f);

		if (ret == -ETIMEDOUT || ret == -ENOBUFS) {
			if (done)
				break;
			continue;
		}
		if (ret || shm_check(f.data, f.len, f.seq))
			atomic_fetch_add(&sh->bad, 1);
		atomic_fetch_add(&sh->taken, 1);
		if (shmdev_release(sh->c, &f))
			atomic_fetch_add(&sh->bad, 1);
	}
	return NULL;
}

TEST_F_TIMEOUT(long_run, four_threads_share_one_consumer_handle, 600)
{
	const uint64_t total = 20000;
	struct shared sh = { .size = 256 };
	struct shmdev_stream *s;
	struct shmstream_stats st;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	pthread_t t[4];

	DEV_OR_SKIP(dev);
	shm_name(name, "thr");
	s = make(_metadata, dev, name, 16, sh.size);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, &sh.c));
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, thread_consumer, &sh));
	for (uint64_t seq = 1; seq <= total; seq++) {
		struct shmdev_commit_params cp = { .bytes = shm_frame_len(seq, sh.size) };
		struct shmdev_slot slot;

		ASSERT_EQ(0, shmdev_begin(s, 10 * SEC, &slot));
		shm_fill(slot.data, cp.bytes, seq);
		ASSERT_EQ(0, shmdev_commit(s, &slot, &cp));
	}
	/* All committed: the threads drain what is left, then stop. */
	atomic_store(&sh.done, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(0, atomic_load(&sh.bad));
	ASSERT_EQ(0, shmdev_stream_stats(sh.c, &st));
	EXPECT_EQ(atomic_load(&sh.taken), st.taken);
	EXPECT_EQ(total, st.taken + st.missed);
	EXPECT_EQ(0, st.holds);
	EXPECT_EQ(0, shm_counter("holds"));
	shmdev_stream_unref(sh.c);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
}

TEST(killed_consumer_does_not_stall_producer)
{
	struct shmdev_stream *s;
	struct shmdev_slot slot;
	struct shmdev *dev;
	char name[SHMSTREAM_NAME_MAX];
	int pipefd[2];
	char b;
	pid_t pid;

	DEV_OR_SKIP(dev);
	shm_name(name, "kill");
	s = make(_metadata, dev, name, 2, 64);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmdev_stream *c = NULL;
		struct shmdev *d = NULL;
		struct shmdev_frame f;

		if (shmdev_open(&d) || shmdev_open_consumer(d, name, &c) ||
		    write(pipefd[1], "a", 1) != 1)
			_exit(1);
		for (int i = 0; i < 2; i++)
			if (shmdev_acquire(c, SHMDEV_NEXT, SHM_PATIENCE, &f))
				_exit(2);
		if (write(pipefd[1], "h", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	ASSERT_EQ(1, read(pipefd[0], &b, 1));
	ASSERT_EQ(1, shmdev_write(s, "1", 1, 0));
	ASSERT_EQ(1, shmdev_write(s, "2", 1, 0));
	ASSERT_EQ(1, read(pipefd[0], &b, 1));
	EXPECT_EQ(-EAGAIN, shmdev_begin(s, 0, &slot));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	EXPECT_EQ(0, shmdev_begin(s, SHMDEV_MS(1000), &slot));
	EXPECT_EQ(0, shmdev_discard(s, &slot));
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_HARNESS_MAIN
