// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delivery semantics (ABI 2.2, SHMSTREAM_FEAT_DELIVERY):
 *  - a reliable consumer loses no frame, however slow, and the producer
 *    waits for it (GET_SLOT, poll) instead;
 *  - one that stops is demoted after the stream's stall limit, is told so
 *    (EPOLLERR, ACQUIRE's event, STATS, INFO), and the producer goes on;
 *  - a reliable consumer needs write permission;
 *  - a late joiner asks for the last N frames and gets them in order;
 *  - several producers commit into one sequence, and EPOLLPRI means none
 *    is attached.
 *
 * Every frame's bytes are checked (shm_fill()/shm_check()); the counts
 * taken + missed == cursor - attach_seq are checked wherever a test ends.
 */
#include <poll.h>
#include <sys/socket.h>

#include "common.h"

#include "kselftest_harness.h"

#define DOC SHMSTREAM_CREATE_DESTROY_ON_CLOSE
#define MULTI SHMSTREAM_CREATE_MULTI_PRODUCER
#define CONS SHMSTREAM_ATTACH_CONSUMER
#define PROD SHMSTREAM_ATTACH_PRODUCER
#define RELIABLE SHMSTREAM_ATTACH_RELIABLE
#define GUEST 1000 /* a user other than the owner */

static int create_dl(int fd, const char *name, uint32_t slots, uint32_t size,
		     uint32_t mode, uint32_t flags, uint32_t stall_ms,
		     uint32_t max_producers)
{
	struct shmstream_create c = {
		.size = sizeof(c), .flags = flags, .slot_count = slots,
		.slot_size = size, .mode = mode, .stall_ms = stall_ms,
		.max_producers = max_producers,
	};

	shm_setname(c.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_CREATE, &c);
}

static int attach_dl(int fd, const char *name, uint32_t flags, uint32_t history)
{
	struct shmstream_attach a = {
		.size = sizeof(a), .flags = flags, .history = history,
	};

	shm_setname(a.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_ATTACH, &a);
}

/* A new file attached with @flags and @history: the fd, or -errno. */
static int open_attached(const char *name, uint32_t flags, uint32_t history)
{
	int fd = shm_open_dev(), ret;

	if (fd < 0)
		return -errno;
	ret = attach_dl(fd, name, flags, history);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

static short poll_events(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/*
 * Take the next frame within SHM_PATIENCE, check its bytes against the tag
 * in its first 8 bytes and release it: the tag, or 0 on any failure.
 * *@missed and *@events get what ACQUIRE said, when not NULL.
 */
static uint64_t take_checked(int fd, const uint8_t *map, uint64_t stride,
			     uint64_t *seq, uint64_t *missed, uint32_t *events)
{
	struct shmstream_acquire a;
	uint64_t tag;

	if (shm_acquire(fd, SHMSTREAM_ACQUIRE_NEXT, SHM_PATIENCE, &a))
		return 0;
	memcpy(&tag, map + a.frame.slot * stride, 8);
	if (shm_check(map + a.frame.slot * stride, a.frame.bytes_used, tag))
		tag = 0;
	if (seq)
		*seq = a.frame.seq;
	if (missed)
		*missed = a.missed;
	if (events)
		*events = a.events;
	if (shm_release(fd, a.frame.slot))
		return 0;
	return tag;
}

/* taken + missed == cursor - attach_seq for consumer @fd. */
static int counts_add_up(int fd)
{
	struct shmstream_stats st;

	if (shm_stats(fd, &st))
		return 0;
	return st.taken + st.missed == st.cursor - st.attach_seq;
}

FIXTURE(dl) {
	int fd; /* a producer, once created */
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
	uint8_t *slots; /* the producer's mapping */
};

FIXTURE_SETUP(dl)
{
	struct shmstream_version v = { .size = sizeof(v) };

	self->slots = NULL;
	shm_name(self->name, "dl");
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	ASSERT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	if (!(v.features & SHMSTREAM_FEAT_DELIVERY))
		SKIP(return, "the module has no SHMSTREAM_FEAT_DELIVERY (ABI %u.%u)",
		     v.abi_major, v.abi_minor);
}

FIXTURE_TEARDOWN(dl)
{
	if (self->slots)
		munmap(self->slots, self->in.slot_count * self->in.slot_stride);
	if (self->fd >= 0)
		close(self->fd);
	EXPECT_NOTHING_LEFT();
}

/* Create the stream (destroyed on close) and map its slots writable. */
static int make_stream(struct __test_metadata *_metadata, FIXTURE_DATA(dl) *self,
		       uint32_t slots, uint32_t size, uint32_t mode, uint32_t flags,
		       uint32_t stall_ms, uint32_t max_producers)
{
	int ret = create_dl(self->fd, self->name, slots, size, mode, DOC | flags,
			    stall_ms, max_producers);

	if (ret)
		return ret;
	EXPECT_EQ(0, shm_info(self->fd, NULL, &self->in));
	self->slots = shm_map_slots(self->fd, &self->in, PROT_READ | PROT_WRITE);
	EXPECT_NE(NULL, self->slots);
	return self->slots ? 0 : -ENOMEM;
}

/* A consumer's read-only mapping of every slot. */
static const uint8_t *map_ro(int fd, const struct shmstream_info *in)
{
	return shm_map_slots(fd, in, PROT_READ);
}

TEST_F(dl, create_and_attach_rules)
{
	struct shmstream_info in;
	struct shmstream_attach a = { .size = sizeof(a), .flags = CONS };
	struct shmstream_acquire acq;
	int c;

	/* max_producers needs the flag, and both limits have a maximum. */
	EXPECT_EQ(-EINVAL, create_dl(self->fd, self->name, 2, 64, 0600, DOC, 0, 2));
	EXPECT_EQ(-EINVAL, create_dl(self->fd, self->name, 2, 64, 0600, DOC | MULTI, 0,
				     SHMSTREAM_MAX_PRODUCERS + 1));
	EXPECT_EQ(-EINVAL, create_dl(self->fd, self->name, 2, 64, 0600, DOC,
				     SHMSTREAM_MAX_STALL_MS + 1, 0));
	EXPECT_EQ(0, shm_counter("streams"));

	/* Defaults: one producer, the module's stall limit. */
	ASSERT_EQ(0, create_dl(self->fd, self->name, 4, 64, 0600, DOC, 0, 0));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(1, in.max_producers);
	EXPECT_EQ(1, in.producers);
	if (shm_param_get("stall_ms") > 0)
		EXPECT_EQ(shm_param_get("stall_ms"), in.stall_ms);
	EXPECT_EQ(0, in.reliable_consumers);
	EXPECT_EQ(0, in.demotions);

	c = shm_open_dev();
	ASSERT_LE(0, c);
	/* RELIABLE and history are a consumer's; history is not NEWEST's. */
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, PROD | RELIABLE, 0));
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, RELIABLE, 0));
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, PROD, 1));
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, CONS | SHMSTREAM_ATTACH_NEWEST, 1));
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, CONS | (1U << 4), 0));
	EXPECT_EQ(-EINVAL, attach_dl(c, self->name, CONS, 5)); /* > slot_count */
	shm_setname(a.name, self->name);
	a.reserved0 = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(c, SHMSTREAM_IOC_ATTACH, &a));
	a.reserved0 = 0;
	a.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(c, SHMSTREAM_IOC_ATTACH, &a));
	/* Nothing of those bound the file. */
	EXPECT_EQ(0, attach_dl(c, self->name, CONS | RELIABLE, 4));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(1, in.consumers);
	EXPECT_EQ(1, in.reliable_consumers);

	/* ACQUIRE's new tail must be zero; its first size still works. */
	memset(&acq, 0, sizeof(acq));
	acq.size = sizeof(acq);
	acq.flags = SHMSTREAM_ACQUIRE_NEXT;
	acq.reserved0 = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(c, SHMSTREAM_IOC_ACQUIRE, &acq));
	acq.reserved0 = 0;
	acq.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(c, SHMSTREAM_IOC_ACQUIRE, &acq));
	acq.reserved[0] = 0;
	acq.size = SHMSTREAM_ACQUIRE_SIZE_VER0;
	EXPECT_EQ(-EAGAIN, shm_ioctl(c, SHMSTREAM_IOC_ACQUIRE, &acq));
	close(c);
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(0, in.reliable_consumers);
}

/* A second user may read the stream, and write it only with mode 0666. */
TEST_F(dl, reliable_needs_write_permission)
{
	char other[SHMSTREAM_NAME_MAX + 8];
	int p2 = shm_open_dev(), status;
	pid_t pid;

	struct stat st;

	if (geteuid())
		SKIP(return, "needs root: it becomes another user");
	if (stat(SHMSTREAM_DEV, &st) || !(st.st_mode & 0060))
		SKIP(return, "%s is its owner's only: no udev rule gives its group access",
		     SHMSTREAM_DEV);
	ASSERT_LE(0, p2);
	snprintf(other, sizeof(other), "%s-w", self->name);
	ASSERT_EQ(0, create_dl(self->fd, self->name, 4, 64, 0644, DOC, 0, 0));
	ASSERT_EQ(0, create_dl(p2, other, 4, 64, 0666, DOC, 0, 0));

	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int c;

		if (shm_become(GUEST, GUEST))
			_exit(10);
		c = open_attached(self->name, CONS | RELIABLE, 0);
		if (c != -EACCES)
			_exit(11);
		c = open_attached(self->name, CONS | RELIABLE, 2);
		if (c != -EACCES)
			_exit(12);
		/* Read permission is enough for an ordinary consumer. */
		c = open_attached(self->name, CONS, 0);
		if (c < 0)
			_exit(13);
		close(c);
		c = open_attached(other, CONS | RELIABLE, 0);
		if (c < 0)
			_exit(14);
		close(c);
		_exit(0);
	}
	status = shm_reap(pid);
	EXPECT_EQ(0, status);
	close(p2);
}

struct slow_reader {
	int fd;
	const uint8_t *map;
	uint64_t stride;
	uint64_t frames; /* to take */
	int every; /* sleep 50 ms after every this many frames */
	uint64_t taken, missed, bad, out_of_order;
};

static void *slow_reader_fn(void *arg)
{
	struct slow_reader *r = arg;
	uint64_t last = 0, seq, missed, tag;

	while (r->taken + r->missed < r->frames) {
		tag = take_checked(r->fd, r->map, r->stride, &seq, &missed, NULL);
		if (!tag) {
			r->bad++;
			break;
		}
		/* The producer tags frame n with n + 1000000. */
		if (seq <= last || tag != seq + 1000000)
			r->out_of_order++;
		last = seq;
		r->taken++;
		r->missed += missed;
		if (r->every && r->taken % r->every == 0)
			usleep(50000);
	}
	return NULL;
}

/*
 * A reliable reader sleeps 50 ms every 10 frames while the producer
 * commits 2,000 frames as fast as it can: it gets all of them, checked.
 * An ordinary reader, slower still (50 ms every 5), misses frames, which
 * shows that the producer ran ahead of the readers it did not wait for.
 */
TEST_F_TIMEOUT(dl, reliable_slow_reader_loses_nothing, 600)
{
	struct slow_reader rel = { .frames = 2000, .every = 10 };
	struct slow_reader ord = { .frames = 2000, .every = 5 };
	pthread_t t1, t2;
	struct shmstream_info in;
	uint64_t n, seq;
	int ret = 0;

	ASSERT_EQ(0, make_stream(_metadata, self, 4, 4096, 0600, 0, 0, 0));
	rel.fd = open_attached(self->name, CONS | RELIABLE, 0);
	ord.fd = open_attached(self->name, CONS, 0);
	ASSERT_LE(0, rel.fd);
	ASSERT_LE(0, ord.fd);
	rel.map = map_ro(rel.fd, &self->in);
	ord.map = map_ro(ord.fd, &self->in);
	ASSERT_NE(NULL, rel.map);
	ASSERT_NE(NULL, ord.map);
	rel.stride = ord.stride = self->in.slot_stride;
	ASSERT_EQ(0, pthread_create(&t1, NULL, slow_reader_fn, &rel));
	ASSERT_EQ(0, pthread_create(&t2, NULL, slow_reader_fn, &ord));

	for (n = 1; n <= 2000 && !ret; n++) {
		ret = shm_produce(self->fd, self->slots, &self->in, n + 1000000,
				  SHM_PATIENCE, &seq);
		EXPECT_EQ(0, ret);
		EXPECT_EQ(n, seq);
	}
	pthread_join(t1, NULL);
	/* The ordinary reader ends when its counts reach the last frame. */
	pthread_join(t2, NULL);

	EXPECT_EQ(2000, rel.taken);
	EXPECT_EQ(0, rel.missed);
	EXPECT_EQ(0, rel.bad);
	EXPECT_EQ(0, rel.out_of_order);
	EXPECT_EQ(0, ord.bad);
	EXPECT_EQ(0, ord.out_of_order);
	EXPECT_EQ(2000, ord.taken + ord.missed);
	EXPECT_LT(0, ord.missed);
	EXPECT_TRUE(counts_add_up(rel.fd));
	EXPECT_TRUE(counts_add_up(ord.fd));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(0, in.demotions);
	EXPECT_EQ(1, in.reliable_consumers);
	TH_LOG("ordinary reader: %llu taken, %llu missed; reliable: %llu taken",
	       (unsigned long long)ord.taken, (unsigned long long)ord.missed,
	       (unsigned long long)rel.taken);
	munmap((void *)rel.map, self->in.slot_count * self->in.slot_stride);
	munmap((void *)ord.map, self->in.slot_count * self->in.slot_stride);
	close(rel.fd);
	close(ord.fd);
}

/*
 * A producer held back by a reliable consumer: GET_SLOT without waiting
 * is -EAGAIN and poll shows no EPOLLOUT; once the consumer takes the
 * frame, EPOLLOUT comes and GET_SLOT succeeds.
 */
TEST_F(dl, reliable_holds_the_producer_back)
{
	struct shmstream_acquire a;
	uint64_t seq;
	uint32_t slot;
	int c, i;

	ASSERT_EQ(0, make_stream(_metadata, self, 3, 4096, 0600, 0, 60000, 0));
	c = open_attached(self->name, CONS | RELIABLE, 0);
	ASSERT_LE(0, c);
	for (i = 1; i <= 3; i++)
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, i, 0, &seq));
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->fd, 0, NULL));
	EXPECT_EQ(0, poll_events(self->fd, POLLOUT));
	EXPECT_EQ(-ETIMEDOUT, shm_get_slot(self->fd, 20 * MS, NULL));

	/* Held is not taken-and-gone: the slot is free only after RELEASE. */
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(1, a.frame.seq);
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->fd, 0, NULL));
	ASSERT_EQ(0, shm_release(c, a.frame.slot));
	EXPECT_EQ(POLLOUT, poll_events(self->fd, POLLOUT));
	ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot));
	EXPECT_EQ(a.frame.slot, slot);
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->fd, 0, NULL));

	/* LATEST skips, by choice: the skipped frames no longer hold it. */
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_LATEST, 0, &a));
	EXPECT_EQ(3, a.frame.seq);
	EXPECT_EQ(1, a.missed);
	EXPECT_EQ(0, a.events);
	EXPECT_EQ(0, shm_get_slot(self->fd, 0, NULL));
	EXPECT_EQ(0, shm_release(c, a.frame.slot));
	EXPECT_TRUE(counts_add_up(c));
	close(c);
}

struct blocked_get {
	int fd;
	int ret;
	volatile pid_t tid;
};

static void *blocked_get_fn(void *arg)
{
	struct blocked_get *b = arg;

	b->tid = (pid_t)syscall(SYS_gettid);
	b->ret = shm_get_slot(b->fd, SHM_PATIENCE, NULL);
	return NULL;
}

/* Closing a reliable consumer lets a producer waiting for it go on. */
TEST_F(dl, reliable_close_wakes_the_producer)
{
	struct blocked_get b = { .ret = 1 };
	pthread_t t;
	uint64_t seq;
	int c, i;

	ASSERT_EQ(0, make_stream(_metadata, self, 2, 4096, 0600, 0, 600000, 0));
	c = open_attached(self->name, CONS | RELIABLE, 0);
	ASSERT_LE(0, c);
	for (i = 1; i <= 2; i++)
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, i, 0, &seq));
	b.fd = self->fd;
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_get_fn, &b));
	while (!b.tid)
		usleep(1000);
	EXPECT_EQ(0, shm_wait_asleep(b.tid, SYS_ioctl, SHM_PATIENCE));
	EXPECT_EQ(1, b.ret);
	close(c);
	pthread_join(t, NULL);
	EXPECT_EQ(0, b.ret);
}

/*
 * A reliable reader that stops (SIGSTOP) is demoted once it has held the
 * producer back for the stall limit; a second reliable reader that keeps
 * up is not, and loses nothing. The stopped one, continued, sees EPOLLERR,
 * then the DEMOTED event once, with its lost frames in missed.
 */
TEST_F_TIMEOUT(dl, reliable_stopped_reader_is_demoted, 300)
{
	int sv[2], keeper, status, i;
	struct shmstream_info in;
	const uint8_t *map;
	int64_t t0, longest = 0;
	uint64_t seq, got, missed, lost = 0;
	char byte;
	pid_t pid;

	ASSERT_EQ(0, make_stream(_metadata, self, 4, 4096, 0600, 0, 300, 0));
	keeper = open_attached(self->name, CONS | RELIABLE, 0);
	ASSERT_LE(0, keeper);
	map = map_ro(keeper, &self->in);
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmstream_stats st;
		uint32_t events = 0;
		int c = open_attached(self->name, CONS | RELIABLE, 0);
		const uint8_t *m;

		if (c < 0)
			_exit(10);
		m = map_ro(c, &self->in);
		if (!m)
			_exit(11);
		if (write(sv[1], "a", 1) != 1)
			_exit(12);
		/* Three frames, then stop. */
		for (i = 0; i < 3; i++)
			if (!take_checked(c, m, self->in.slot_stride, NULL, NULL, &events) ||
			    events)
				_exit(13);
		raise(SIGSTOP);
		/* Continued: told once, by poll, ACQUIRE, and STATS. */
		if (!(poll_events(c, POLLIN) & POLLERR))
			_exit(14);
		if (shm_stats(c, &st) || st.state != SHMSTREAM_STATS_DEMOTED)
			_exit(15);
		if (!take_checked(c, m, self->in.slot_stride, &seq, &missed, &events))
			_exit(16);
		if (events != SHMSTREAM_ACQUIRE_EV_DEMOTED || !missed)
			_exit(17);
		if (poll_events(c, POLLIN) & POLLERR)
			_exit(18);
		if (!take_checked(c, m, self->in.slot_stride, NULL, NULL, &events) || events)
			_exit(19);
		if (!counts_add_up(c))
			_exit(20);
		if (write(sv[1], &missed, sizeof(missed)) != sizeof(missed))
			_exit(21);
		_exit(0);
	}
	ASSERT_EQ(1, read(sv[0], &byte, 1));

	/* 40 frames; the keeper takes each one as it comes. */
	for (i = 1; i <= 40; i++) {
		t0 = shm_now_ns();
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, i,
					 SHM_PATIENCE, &seq));
		if (shm_now_ns() - t0 > longest)
			longest = shm_now_ns() - t0;
		got = take_checked(keeper, map, self->in.slot_stride, &seq, &missed, NULL);
		EXPECT_EQ((uint64_t)i, got);
		EXPECT_EQ((uint64_t)i, seq);
		EXPECT_EQ(0, missed);
		if (i == 3) {
			/* The child has taken three: wait until it stopped. */
			ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
			ASSERT_TRUE(WIFSTOPPED(status));
		}
	}
	/* Held back until the stall limit, not a moment less. */
	EXPECT_LE(300 * MS, longest);
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(1, in.demotions);
	EXPECT_EQ(1, in.reliable_consumers);
	EXPECT_EQ(2, in.consumers);
	EXPECT_EQ(300, in.stall_ms);

	kill(pid, SIGCONT);
	ASSERT_EQ(sizeof(lost), read(sv[0], &lost, sizeof(lost)));
	status = shm_reap(pid);
	EXPECT_EQ(0, status);
	TH_LOG("producer held back %lld ms at most; the stopped reader lost %llu",
	       (long long)(longest / MS), (unsigned long long)lost);
	EXPECT_TRUE(counts_add_up(keeper));
	munmap((void *)map, self->in.slot_count * self->in.slot_stride);
	close(keeper);
	close(sv[0]);
	close(sv[1]);
}

/*
 * The stall clock starts again after a demotion: a producer that gave up
 * once (no wait) and is held back again, by another reliable consumer,
 * waits for that one's stall limit, not for ever.
 */
TEST_F(dl, stall_limit_holds_after_a_demotion)
{
	struct shmstream_info in;
	uint64_t seq;
	int c, c2, i;

	ASSERT_EQ(0, make_stream(_metadata, self, 2, 4096, 0600, 0, 200, 0));
	c = open_attached(self->name, CONS | RELIABLE, 0);
	ASSERT_LE(0, c);
	for (i = 1; i <= 2; i++)
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, i, 0, &seq));
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->fd, 0, NULL));
	/* c is demoted within the limit and a bit; the producer does not ask. */
	for (i = 0; i < SHM_PATIENCE / MS && !(poll_events(c, POLLIN) & POLLERR); i++)
		usleep(1000);
	EXPECT_EQ(POLLERR, poll_events(c, POLLIN) & POLLERR);
	/* A reliable late joiner keeps both frames: held back again. */
	c2 = open_attached(self->name, CONS | RELIABLE, 2);
	ASSERT_LE(0, c2);
	EXPECT_EQ(0, shm_get_slot(self->fd, SHM_PATIENCE, NULL));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(2, in.demotions);
	EXPECT_EQ(0, in.reliable_consumers);
	close(c);
	close(c2);
}

/* A late joiner asks for the last N frames still in the ring. */
TEST_F(dl, history_for_late_joiners)
{
	struct shmstream_stats st;
	const uint8_t *map;
	uint64_t seq, missed, n;
	uint32_t slot;
	int c, r;

	ASSERT_EQ(0, make_stream(_metadata, self, 8, 4096, 0600, 0, 0, 0));
	/* Before any frame: history gives nothing, and counting starts at 0. */
	c = open_attached(self->name, CONS, 8);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, shm_stats(c, &st));
	EXPECT_EQ(0, st.attach_seq);
	close(c);

	for (n = 1; n <= 3; n++)
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, n, 0, &seq));
	/* Fewer frames than asked: all of them, from 1. */
	c = open_attached(self->name, CONS, 8);
	ASSERT_LE(0, c);
	map = map_ro(c, &self->in);
	ASSERT_NE(NULL, map);
	for (n = 1; n <= 3; n++) {
		EXPECT_EQ(n, take_checked(c, map, self->in.slot_stride, &seq, &missed, NULL));
		EXPECT_EQ(n, seq);
		EXPECT_EQ(0, missed);
	}
	munmap((void *)map, self->in.slot_count * self->in.slot_stride);
	close(c);

	for (n = 4; n <= 20; n++)
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, n, 0, &seq));
	/* The last 5, in order, then the next new one. */
	c = open_attached(self->name, CONS, 5);
	r = open_attached(self->name, CONS | RELIABLE, 8);
	ASSERT_LE(0, c);
	ASSERT_LE(0, r);
	map = map_ro(c, &self->in);
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, shm_stats(c, &st));
	EXPECT_EQ(15, st.attach_seq);
	for (n = 16; n <= 20; n++) {
		EXPECT_EQ(n, take_checked(c, map, self->in.slot_stride, &seq, &missed, NULL));
		EXPECT_EQ(n, seq);
		EXPECT_EQ(0, missed);
	}
	EXPECT_EQ(0, poll_events(c, POLLIN));
	/* The reliable joiner's 8 frames of history are kept for it. */
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->fd, 0, NULL));
	EXPECT_EQ(13, take_checked(r, map, self->in.slot_stride, &seq, NULL, NULL));
	ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, 21, 0, &seq));
	EXPECT_EQ(21, seq);
	EXPECT_EQ(21, take_checked(c, map, self->in.slot_stride, &seq, &missed, NULL));
	EXPECT_EQ(0, missed);
	for (n = 14; n <= 21; n++) {
		EXPECT_EQ(n, take_checked(r, map, self->in.slot_stride, &seq, &missed, NULL));
		EXPECT_EQ(0, missed);
	}
	EXPECT_TRUE(counts_add_up(c));
	EXPECT_TRUE(counts_add_up(r));
	close(r);

	/*
	 * The producer took the oldest frame's slot: history starts after
	 * it, and nothing counts as missed.
	 */
	ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot));
	r = open_attached(self->name, CONS, 8);
	ASSERT_LE(0, r);
	ASSERT_EQ(0, shm_stats(r, &st));
	EXPECT_EQ(14, st.attach_seq);
	EXPECT_EQ(15, take_checked(r, map, self->in.slot_stride, &seq, &missed, NULL));
	EXPECT_EQ(0, missed);
	EXPECT_TRUE(counts_add_up(r));
	munmap((void *)map, self->in.slot_count * self->in.slot_stride);
	close(c);
	close(r);
}

/*
 * History is an unbroken run up to the head: a frame held by another
 * consumer while newer ones were overwritten is not part of it, and the
 * late joiner misses nothing.
 */
TEST_F(dl, history_is_an_unbroken_run)
{
	struct shmstream_acquire a;
	struct shmstream_stats st;
	const uint8_t *map;
	uint64_t seq, missed, n;
	int h, r;

	ASSERT_EQ(0, make_stream(_metadata, self, 4, 4096, 0600, 0, 0, 0));
	h = open_attached(self->name, CONS, 0);
	ASSERT_LE(0, h);
	ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, 1, 0, &seq));
	ASSERT_EQ(0, shm_acquire(h, SHMSTREAM_ACQUIRE_NEXT, 0, &a)); /* holds 1 */
	for (n = 2; n <= 6; n++) /* 5 and 6 take the slots of 2 and 3 */
		ASSERT_EQ(0, shm_produce(self->fd, self->slots, &self->in, n, 0, &seq));
	/* In the ring: 1 (held), 4, 5, 6. The run up to the head: 4, 5, 6. */
	r = open_attached(self->name, CONS | RELIABLE, 4);
	ASSERT_LE(0, r);
	map = map_ro(r, &self->in);
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, shm_stats(r, &st));
	EXPECT_EQ(3, st.attach_seq);
	for (n = 4; n <= 6; n++) {
		EXPECT_EQ(n, take_checked(r, map, self->in.slot_stride, &seq, &missed, NULL));
		EXPECT_EQ(n, seq);
		EXPECT_EQ(0, missed);
	}
	EXPECT_TRUE(counts_add_up(r));
	EXPECT_EQ(0, shm_release(h, a.frame.slot));
	munmap((void *)map, self->in.slot_count * self->in.slot_stride);
	close(r);
	close(h);
}

struct producer_arg {
	const char *name;
	int id;
	int frames;
	int err;
};

/* One of several producers: frames tagged (id << 32 | n), n from 1. */
static void *producer_fn(void *arg)
{
	struct producer_arg *p = arg;
	struct shmstream_info in;
	uint8_t *map;
	uint64_t seq;
	int fd = open_attached(p->name, PROD, 0), n;

	if (fd < 0) {
		p->err = fd;
		return NULL;
	}
	if (shm_info(fd, NULL, &in) || !(map = shm_map_slots(fd, &in, PROT_READ | PROT_WRITE))) {
		p->err = -EIO;
		close(fd);
		return NULL;
	}
	for (n = 1; n <= p->frames && !p->err; n++)
		p->err = shm_produce(fd, map, &in, (uint64_t)p->id << 32 | n,
				     SHM_PATIENCE, &seq);
	munmap(map, in.slot_count * in.slot_stride);
	close(fd);
	return NULL;
}

/*
 * Four producers commit 500 checksummed frames each; a reliable reader
 * sees each of the 2,000 once, in seq order, each producer's in its own
 * order. A fifth producer is -EBUSY; EPOLLPRI only once all have gone.
 */
TEST_F_TIMEOUT(dl, four_producers_one_sequence, 600)
{
	struct producer_arg args[4];
	int next[5] = { 0, 1, 1, 1, 1 };
	pthread_t t[4];
	struct shmstream_info in;
	const uint8_t *map;
	uint64_t seq, missed, tag, last = 0, i;
	int c, extra, k, bad = 0, order = 0;

	ASSERT_EQ(0, make_stream(_metadata, self, 8, 4096, 0600, MULTI, 0, 5));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(5, in.max_producers);
	c = open_attached(self->name, CONS | RELIABLE, 0);
	ASSERT_LE(0, c);
	map = map_ro(c, &self->in);
	ASSERT_NE(NULL, map);

	for (k = 0; k < 4; k++) {
		args[k] = (struct producer_arg){ .name = self->name, .id = k + 1,
						 .frames = 500 };
		ASSERT_EQ(0, pthread_create(&t[k], NULL, producer_fn, &args[k]));
	}
	/*
	 * Creator + four: the fifth finds no room. None of the four can be
	 * done yet: the reliable reader has taken nothing.
	 */
	for (i = 0; !shm_info(self->fd, NULL, &in) && in.producers < 5 &&
		    i < SHM_PATIENCE / MS; i++)
		usleep(1000);
	EXPECT_EQ(5, in.producers);
	extra = shm_open_dev();
	ASSERT_LE(0, extra);
	EXPECT_EQ(-EBUSY, attach_dl(extra, self->name, PROD, 0));
	close(extra);
	for (i = 1; i <= 2000; i++) {
		tag = take_checked(c, map, self->in.slot_stride, &seq, &missed, NULL);
		if (!tag) {
			bad++;
			break;
		}
		if (seq != last + 1 || missed)
			order++;
		last = seq;
		k = (int)(tag >> 32);
		if (k < 1 || k > 4 || (tag & 0xffffffff) != (uint64_t)next[k])
			order++;
		else
			next[k]++;
	}
	for (k = 0; k < 4; k++) {
		pthread_join(t[k], NULL);
		EXPECT_EQ(0, args[k].err);
		EXPECT_EQ(501, next[k + 1]);
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, order);
	EXPECT_EQ(2000, last);
	EXPECT_TRUE(counts_add_up(c));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(2000, in.frames);
	EXPECT_EQ(1, in.producers);
	EXPECT_EQ(4, in.producer_detaches);

	/* EPOLLPRI: no producer at all. One joins, the creator goes. */
	EXPECT_EQ(0, poll_events(c, POLLPRI));
	extra = open_attached(self->name, PROD, 0);
	ASSERT_LE(0, extra);
	/* The creator goes (and the stream's name with it: EPOLLHUP). */
	munmap(self->slots, self->in.slot_count * self->in.slot_stride);
	self->slots = NULL;
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(0, poll_events(c, POLLPRI) & POLLPRI);
	close(extra);
	EXPECT_EQ(POLLPRI, poll_events(c, POLLPRI) & POLLPRI);
	munmap((void *)map, self->in.slot_count * self->in.slot_stride);
	close(c);
}

TEST_HARNESS_MAIN
