// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring protocol: frames and their integrity, NEXT and LATEST, missed
 * counts, holds, read(2)/write(2), and crash safety.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define PROD SHMSTREAM_ATTACH_PRODUCER
#define CONS SHMSTREAM_ATTACH_CONSUMER
#define NEXT SHMSTREAM_ACQUIRE_NEXT
#define LATEST SHMSTREAM_ACQUIRE_LATEST

FIXTURE(ring) {
	int p, c;
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
	uint8_t *pmap, *cmap;
};

FIXTURE_VARIANT(ring) {
	uint32_t slots;
	uint32_t size;
};

FIXTURE_VARIANT_ADD(ring, small) { .slots = 4, .size = 3000 };
FIXTURE_VARIANT_ADD(ring, vga) { .slots = 8, .size = 640 * 480 * 3 };

FIXTURE_SETUP(ring)
{
	self->pmap = self->cmap = NULL;
	self->p = shm_open_dev();
	if (self->p < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	ASSERT_EQ(0, shm_make_pair(self->name, "ring", variant->slots, variant->size,
				   self->p, &self->c));
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
	self->pmap = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->pmap);
	self->cmap = shm_map_slots(self->c, &self->in, PROT_READ);
	ASSERT_NE(NULL, self->cmap);
}

FIXTURE_TEARDOWN(ring)
{
	size_t len = self->in.slot_count * self->in.slot_stride;

	if (self->p < 0)
		return;
	if (self->pmap)
		munmap(self->pmap, len);
	if (self->cmap)
		munmap(self->cmap, len);
	close(self->c);
	close(self->p);
	/* Nothing this test made may outlive it. */
	EXPECT_NOTHING_LEFT();
}

/* Acquire, verify the frame's bytes through the mapping, release. */
static int take(struct __test_metadata *_metadata, FIXTURE_DATA(ring) *self,
		uint32_t mode, int64_t timeout, struct shmstream_acquire *a)
{
	int ret = shm_acquire(self->c, mode, timeout, a);

	if (ret)
		return ret;
	EXPECT_EQ(a->offset, self->in.slots_offset + a->frame.slot * self->in.slot_stride);
	EXPECT_EQ(shm_frame_len(a->frame.seq, self->in.slot_size), a->frame.bytes_used);
	EXPECT_EQ(0, shm_check(self->cmap + a->frame.slot * self->in.slot_stride,
			       a->frame.bytes_used, a->frame.seq));
	EXPECT_EQ(0, shm_release(self->c, a->frame.slot));
	return 0;
}

/*
 * The long runs (every byte of hundreds of VGA frames written and checked):
 * a TCG guest on a loaded machine, or a debug kernel, takes more than the
 * harness's default 30 s for them.
 */
TEST_F_TIMEOUT(ring, keeping_up_reader_sees_every_frame_in_order, 300)
{
	struct shmstream_acquire a;
	struct shmstream_stats st;
	uint64_t seq, want = 1;

	/* Batches the ring can hold: a reader that drains them misses none. */
	for (int batch = 0; batch < 300; batch++) {
		uint32_t n = 1 + batch % self->in.slot_count;

		for (uint32_t i = 0; i < n; i++) {
			ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, want + i, 0, &seq));
			ASSERT_EQ(want + i, seq);
		}
		for (uint32_t i = 0; i < n; i++) {
			ASSERT_EQ(0, take(_metadata, self, NEXT, 0, &a));
			ASSERT_EQ(want, a.frame.seq);
			ASSERT_EQ(0, a.missed);
			want++;
		}
		ASSERT_EQ(-EAGAIN, shm_acquire(self->c, NEXT, 0, &a));
	}
	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(want - 1, st.taken);
	EXPECT_EQ(0, st.missed);
	EXPECT_EQ(want - 1, st.cursor);
}

TEST_F(ring, latest_skips_and_counts_missed)
{
	struct shmstream_acquire a;
	struct shmstream_stats st;

	for (uint64_t s = 1; s <= 3; s++)
		ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, s, 0, NULL));
	ASSERT_EQ(0, take(_metadata, self, LATEST, 0, &a));
	EXPECT_EQ(3, a.frame.seq);
	EXPECT_EQ(2, a.missed);
	/* Nothing newer: LATEST does not hand out the same frame again. */
	EXPECT_EQ(-EAGAIN, shm_acquire(self->c, LATEST, 0, &a));
	EXPECT_EQ(-EAGAIN, shm_acquire(self->c, NEXT, 0, &a));
	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(1, st.taken);
	EXPECT_EQ(2, st.missed);
}

TEST_F(ring, overwritten_frames_are_missed_by_next)
{
	struct shmstream_acquire a;
	uint32_t n = self->in.slot_count;
	uint64_t total = 3 * n + 1;

	for (uint64_t s = 1; s <= total; s++)
		ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, s, 0, NULL));
	/* The oldest frame still in the ring is total - n + 1. */
	ASSERT_EQ(0, take(_metadata, self, NEXT, 0, &a));
	EXPECT_EQ(total - n + 1, a.frame.seq);
	EXPECT_EQ(total - n, a.missed);
}

TEST_F(ring, held_slot_never_handed_to_producer)
{
	struct shmstream_acquire a;
	uint8_t *copy;
	size_t len;

	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 1, 0, NULL));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	len = a.frame.bytes_used;
	copy = malloc(len);
	memcpy(copy, self->cmap + a.frame.slot * self->in.slot_stride, len);
	for (uint64_t s = 2; s < 2 + 10 * self->in.slot_count; s++) {
		uint32_t slot;

		ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
		ASSERT_NE(a.frame.slot, slot);
		memset(self->pmap + slot * self->in.slot_stride, 0x5a, 64);
		ASSERT_EQ(0, shm_commit(self->p, slot, 64, NULL));
	}
	EXPECT_EQ(0, memcmp(copy, self->cmap + a.frame.slot * self->in.slot_stride, len));
	EXPECT_EQ(0, shm_check(self->cmap + a.frame.slot * self->in.slot_stride, len, 1));
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	free(copy);
}

TEST_F(ring, hold_limit_enobufs)
{
	struct shmstream_version v = { .size = sizeof(v) };
	struct shmstream_acquire a;
	char name[SHMSTREAM_NAME_MAX];
	uint32_t held = 0, slot;
	int p = shm_open_dev(), c = shm_open_dev();

	/* A stream with more slots than one consumer may hold. */
	ASSERT_EQ(0, shm_ioctl(p, SHMSTREAM_IOC_VERSION, &v));
	shm_name(name, "holds");
	ASSERT_EQ(0, shm_create(p, name, v.max_holds + 4, 4096, 0600,
				SHMSTREAM_CREATE_DESTROY_ON_CLOSE));
	ASSERT_EQ(0, shm_attach(c, name, CONS));
	for (uint32_t i = 0; i < v.max_holds + 4; i++)
		ASSERT_EQ(1, write(p, "f", 1));
	while (!shm_acquire(c, NEXT, 0, &a))
		held++;
	EXPECT_EQ(v.max_holds, held);
	EXPECT_EQ(-ENOBUFS, shm_acquire(c, NEXT, 0, &a));
	EXPECT_EQ(v.max_holds, shm_counter("holds"));
	/* Releasing one allows one more. */
	EXPECT_EQ(0, shm_release(c, a.frame.slot));
	EXPECT_EQ(0, shm_acquire(c, NEXT, 0, &a));
	/* The producer's pending slots are bounded the same way. */
	for (held = 0; !shm_get_slot(p, 0, &slot); held++)
		;
	EXPECT_EQ(4, held); /* the slots nobody holds */
	close(c);
	close(p);
}

TEST_F(ring, release_not_held_einval)
{
	struct shmstream_acquire a;

	EXPECT_EQ(-EINVAL, shm_release(self->c, 0));
	EXPECT_EQ(-EINVAL, shm_release(self->c, self->in.slot_count));
	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 1, 0, NULL));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	EXPECT_EQ(-EINVAL, shm_release(self->c, a.frame.slot));
	/* Another consumer's hold is not ours to drop. */
	int c2 = shm_open_dev();

	ASSERT_EQ(0, shm_attach(c2, self->name, CONS));
	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 2, 0, NULL));
	ASSERT_EQ(0, shm_acquire(c2, NEXT, 0, &a));
	EXPECT_EQ(-EINVAL, shm_release(self->c, a.frame.slot));
	close(c2);
}

/* Have a new consumer hold every slot; SKIP when its hold limit is lower. */
static int hold_all(struct __test_metadata *_metadata, FIXTURE_DATA(ring) *self)
{
	struct shmstream_acquire a;
	uint32_t held = 0;
	int c2 = shm_open_dev();

	EXPECT_EQ(0, shm_attach(c2, self->name, CONS));
	for (uint64_t s = 1; s <= self->in.slot_count; s++)
		EXPECT_EQ(0, shm_produce(self->p, self->pmap, &self->in, s, 0, NULL));
	while (!shm_acquire(c2, NEXT, 0, &a))
		held++;
	if (held != self->in.slot_count) {
		close(c2);
		return -1;
	}
	return c2;
}

TEST_F(ring, all_slots_held_eagain_then_close_frees)
{
	uint32_t slot;
	int c2 = hold_all(_metadata, self);
	int fl;

	if (c2 < 0)
		SKIP(return, "max_holds below %u slots", self->in.slot_count);
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->p, 0, &slot));
	EXPECT_EQ(-ETIMEDOUT, shm_get_slot(self->p, 20 * MS, &slot));
	fl = fcntl(self->p, F_GETFL);
	fcntl(self->p, F_SETFL, fl | O_NONBLOCK);
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->p, -1, &slot));
	fcntl(self->p, F_SETFL, fl);
	/* Closing the consumer drops its holds: the producer gets a slot. */
	close(c2);
	EXPECT_EQ(0, shm_get_slot(self->p, 0, &slot));
	EXPECT_EQ(0, shm_commit(self->p, slot, 1, NULL));
}

struct waiter {
	int fd;
	int ret;
	uint32_t slot;
	pid_t tid;
};

static void *wait_slot(void *arg)
{
	struct waiter *w = arg;
	uint32_t slot = 0;
	int ret;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	ret = shm_get_slot(w->fd, -1, &slot);
	w->slot = slot;
	__atomic_store_n(&w->ret, ret, __ATOMIC_SEQ_CST);
	return NULL;
}

TEST_F(ring, close_wakes_producer_waiting_for_slot)
{
	struct waiter w = { .fd = self->p, .ret = 1 };
	int c2 = hold_all(_metadata, self);
	pthread_t t;

	if (c2 < 0)
		SKIP(return, "max_holds below %u slots", self->in.slot_count);
	ASSERT_EQ(0, pthread_create(&t, NULL, wait_slot, &w));
	/* It is asleep in GET_SLOT (however long it took to get there). */
	while (!__atomic_load_n(&w.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	EXPECT_EQ(0, shm_wait_asleep(w.tid, SYS_ioctl, SHM_PATIENCE));
	EXPECT_EQ(1, __atomic_load_n(&w.ret, __ATOMIC_SEQ_CST)); /* still waiting */
	close(c2);
	pthread_join(t, NULL);
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(0, shm_commit(self->p, w.slot, 1, NULL));
}

TEST_F(ring, commit_errors)
{
	struct shmstream_commit c = { .size = sizeof(c) };
	struct shmstream_acquire a;
	uint32_t slot;

	/* Not pending. */
	EXPECT_EQ(-EINVAL, shm_commit(self->p, 0, 1, NULL));
	EXPECT_EQ(-EINVAL, shm_commit(self->p, self->in.slot_count, 1, NULL));
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	EXPECT_EQ(-EINVAL, shm_commit(self->p, slot, self->in.slot_size + 1, NULL));
	c.slot = slot;
	c.meta_len = SHMSTREAM_META_MAX + 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &c));
	c.meta_len = 0;
	c.flags = 1U << 9;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &c));
	/* Discard: the slot goes back unseen. */
	c.flags = SHMSTREAM_COMMIT_DISCARD;
	EXPECT_EQ(0, shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &c));
	EXPECT_EQ(-EAGAIN, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_EQ(-EINVAL, shm_commit(self->p, slot, 1, NULL));
	EXPECT_EQ(0, shm_counter("pending"));
}

TEST_F(ring, descriptor_fields_round_trip)
{
	struct shmstream_commit c = { .size = sizeof(c) };
	struct shmstream_acquire a;
	int64_t before, after;
	uint32_t slot;

	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	c.slot = slot;
	c.bytes_used = 100;
	c.flags = SHMSTREAM_COMMIT_TIMESTAMP | SHMSTREAM_COMMIT_FORMAT;
	c.timestamp_ns = 123456789;
	c.frame_flags = 0xabcd;
	c.format = (struct shmstream_format){ 0x34325247, 640, 480, 1920 };
	c.meta_len = SHMSTREAM_META_MAX;
	for (int i = 0; i < SHMSTREAM_META_MAX; i++)
		c.meta[i] = i * 3;
	ASSERT_EQ(0, shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &c));
	EXPECT_EQ(1, c.seq);
	POISON(a);
	a.size = sizeof(a);
	a.flags = NEXT;
	a.deadline_ns = SHMSTREAM_DEADLINE_NOWAIT;
	a.reserved0 = 0;
	memset(a.reserved, 0, sizeof(a.reserved));
	ASSERT_EQ(0, shm_ioctl(self->c, SHMSTREAM_IOC_ACQUIRE, &a));
	EXPECT_EQ(0, a.events);
	EXPECT_EQ(1, a.frame.seq);
	EXPECT_EQ(0, a.missed);
	EXPECT_EQ(123456789, a.frame.timestamp_ns);
	EXPECT_EQ(100, a.frame.bytes_used);
	EXPECT_EQ(0xabcd, a.frame.frame_flags);
	EXPECT_EQ(640, a.frame.format.width);
	EXPECT_EQ(1920, a.frame.format.stride);
	EXPECT_EQ(slot, a.frame.slot);
	EXPECT_EQ(SHMSTREAM_META_MAX, a.frame.meta_len);
	EXPECT_EQ(0, memcmp(c.meta, a.frame.meta, SHMSTREAM_META_MAX));
	EXPECT_EQ(0, a.frame.gen);
	EXPECT_EQ(0, a.frame.reserved0);
	EXPECT_EQ(0, a.frame.reserved);
	EXPECT_EQ(0, shm_release(self->c, slot));
	/* Without the flag, the timestamp is taken at commit. */
	before = shm_now_ns();
	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 2, 0, NULL));
	after = shm_now_ns();
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_GE(a.frame.timestamp_ns, before);
	EXPECT_LE(a.frame.timestamp_ns, after);
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
}

TEST_F(ring, control_area_mirrors_descriptors)
{
	struct shmstream_acquire a;
	const struct shmstream_ctrl *ctrl;
	const struct shmstream_frame *desc;

	ctrl = mmap(NULL, self->in.ctrl_size, PROT_READ, MAP_SHARED, self->c, 0);
	ASSERT_NE(MAP_FAILED, ctrl);
	EXPECT_EQ(SHMSTREAM_CTRL_MAGIC, ctrl->magic);
	EXPECT_EQ(self->in.slot_count, ctrl->slot_count);
	EXPECT_EQ(0, ctrl->head_seq);
	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 1, 0, NULL));
	EXPECT_EQ(1, ctrl->head_seq);
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	desc = (const void *)((const char *)ctrl + ctrl->desc_offset);
	EXPECT_EQ(a.frame.slot, ctrl->head_slot);
	/* Written once, whole: the count went odd and back to even. */
	EXPECT_EQ(2, desc[a.frame.slot].gen);
	{
		struct shmstream_frame copy = desc[a.frame.slot];

		copy.gen = 0; /* a copy from ACQUIRE carries none */
		EXPECT_EQ(0, memcmp(&a.frame, &copy, sizeof(a.frame)));
	}
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	munmap((void *)ctrl, self->in.ctrl_size);
}

TEST_F(ring, read_write_shortcuts)
{
	uint32_t len = self->in.slot_size;
	uint8_t *buf = malloc(len + 1), *out = malloc(len + 1);
	int fl;

	shm_fill(buf, len, 77);
	EXPECT_EQ(len, write(self->p, buf, len));
	EXPECT_EQ(0, write(self->p, buf, 0));
	EXPECT_EQ(-1, write(self->p, buf, len + 1));
	EXPECT_EQ(EMSGSIZE, errno);
	/* Too small a buffer: refused, and the frame is still there. */
	EXPECT_EQ(-1, read(self->c, out, len - 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(len, read(self->c, out, len + 1));
	EXPECT_EQ(0, shm_check(out, len, 77));
	fl = fcntl(self->c, F_GETFL);
	fcntl(self->c, F_SETFL, fl | O_NONBLOCK);
	EXPECT_EQ(-1, read(self->c, out, len));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(self->p, out, len));
	EXPECT_EQ(EPERM, errno);
	/* A bad user pointer (the raw syscall: libc would refuse to build it). */
	EXPECT_EQ(-1, syscall(SYS_write, self->p, 8UL, 16UL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(0, shm_counter("pending"));
	EXPECT_EQ(0, shm_counter("holds"));
	free(buf);
	free(out);
}

/*
 * An ACQUIRE whose result cannot be copied out (its struct in a read-only
 * page: read in, not written back) and a read(2) into a read-only buffer
 * fail with EFAULT and take nothing: no hold, counts and cursor unchanged,
 * and the same frame comes next, intact.
 */
TEST_F(ring, efault_gives_the_frame_back)
{
	uint32_t len = self->in.slot_size;
	struct shmstream_acquire *ro, a;
	struct shmstream_stats st;
	uint64_t seq[2];
	uint8_t *buf;

	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 100 + i, 0, &seq[i]));
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ro->size = sizeof(*ro);
	ro->flags = SHMSTREAM_ACQUIRE_NEXT;
	ASSERT_EQ(0, mprotect(ro, 4096, PROT_READ));
	EXPECT_EQ(-EFAULT, shm_ioctl(self->c, SHMSTREAM_IOC_ACQUIRE, ro));
	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(0, st.holds);
	EXPECT_EQ(0, st.taken);
	EXPECT_EQ(0, st.missed);
	EXPECT_EQ(st.attach_seq, st.cursor);
	EXPECT_EQ(0, shm_counter("holds"));

	/* read(2) into a buffer it cannot write: the frame stays unread too. */
	buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	EXPECT_EQ(-1, read(self->c, buf, len));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(0, st.holds);
	EXPECT_EQ(0, st.taken);
	EXPECT_EQ(0, st.missed);

	/* The first frame comes now, intact, and nothing was missed. */
	ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(seq[0], a.frame.seq);
	EXPECT_EQ(0, a.missed);
	EXPECT_EQ(0, shm_check(self->cmap + a.frame.slot * self->in.slot_stride,
			       a.frame.bytes_used, 100));
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(1, st.taken);
	EXPECT_EQ(0, st.missed);
	EXPECT_EQ(st.taken + st.missed, st.cursor - st.attach_seq);
	munmap(buf, len);
	munmap(ro, 4096);
}

/* Producer in a child; two readers (NEXT, LATEST) in children verify. */
static int reader(const char *name, uint32_t mode, uint64_t total)
{
	struct shmstream_info in;
	struct shmstream_acquire a;
	struct shmstream_stats st;
	uint64_t last = 0;
	uint8_t *map;
	int fd = shm_open_dev();

	if (shm_attach(fd, name, CONS) || shm_info(fd, NULL, &in))
		return 10;
	map = shm_map_slots(fd, &in, PROT_READ);
	if (!map)
		return 11;
	if (write(STDOUT_FILENO, "", 0) < 0)
		return 12;
	raise(SIGSTOP); /* attached: let the parent start the producer */
	while (last < total) {
		/* The next frame certainly comes: a slow machine only delays it. */
		int ret = shm_acquire(fd, mode, SHM_PATIENCE, &a);

		if (ret)
			return 13;
		if (a.frame.seq <= last)
			return 14;
		if (a.frame.bytes_used != shm_frame_len(a.frame.seq, in.slot_size) ||
		    shm_check(map + a.frame.slot * in.slot_stride, a.frame.bytes_used,
			      a.frame.seq))
			return 15;
		last = a.frame.seq;
		if (shm_release(fd, a.frame.slot))
			return 16;
	}
	if (shm_stats(fd, &st) || st.taken + st.missed != total || st.cursor != total)
		return 17;
	return 0;
}

TEST_F_TIMEOUT(ring, multi_process_counts_add_up, 300)
{
	const uint64_t total = 3000;
	pid_t r[2], prod;
	int status;

	for (int i = 0; i < 2; i++) {
		r[i] = fork();
		ASSERT_GE(r[i], 0);
		if (r[i] == 0)
			_exit(reader(self->name, i ? LATEST : NEXT, total));
		ASSERT_EQ(r[i], waitpid(r[i], &status, WUNTRACED));
		ASSERT_TRUE(WIFSTOPPED(status));
	}
	prod = fork();
	ASSERT_GE(prod, 0);
	if (prod == 0) {
		for (uint64_t s = 1; s <= total; s++)
			if (shm_produce(self->p, self->pmap, &self->in, s, SHM_PATIENCE, NULL))
				_exit(1);
		_exit(0);
	}
	kill(r[0], SIGCONT);
	kill(r[1], SIGCONT);
	ASSERT_EQ(prod, waitpid(prod, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(r[i], waitpid(r[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	struct shmstream_info in;

	ASSERT_EQ(0, shm_info(self->p, NULL, &in));
	EXPECT_EQ(total, in.frames);
	EXPECT_EQ(total, in.head_seq);
}

TEST_F(ring, killed_reader_frees_its_holds)
{
	int pipefd[2];
	char b;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmstream_acquire a;
		int fd = shm_open_dev();

		if (shm_attach(fd, self->name, CONS))
			_exit(1);
		if (write(pipefd[1], "a", 1) != 1)
			_exit(2);
		for (;;)
			if (!shm_acquire(fd, NEXT, -1, &a) && write(pipefd[1], "h", 1) != 1)
				_exit(3);
	}
	ASSERT_EQ(1, read(pipefd[0], &b, 1));
	for (uint64_t s = 1; s <= 2; s++) {
		ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, s, 0, NULL));
		ASSERT_EQ(1, read(pipefd[0], &b, 1));
	}
	EXPECT_EQ(2, shm_counter("holds"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	EXPECT_EQ(0, shm_counter("holds"));
	/* Every slot is free again. */
	for (uint32_t i = 0; i < self->in.slot_count; i++) {
		uint32_t slot;

		ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	}
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_F(ring, killed_producer_leaves_no_frame)
{
	struct shmstream_acquire a;
	struct shmstream_info in;
	int pipefd[2];
	char b;
	pid_t pid;

	/* Hand the producer role to a child that dies mid-frame. */
	ASSERT_EQ(0, shm_info(self->p, NULL, &in));
	munmap(self->pmap, in.slot_count * in.slot_stride);
	self->pmap = NULL;
	close(self->p);
	/* The creator's close destroyed it; make one that persists. */
	self->p = shm_open_dev();
	ASSERT_EQ(0, shm_create(self->p, "t-ring-persist", 4, 4096, 0600, 0));
	close(self->p);
	close(self->c);
	self->c = shm_open_dev();
	ASSERT_EQ(0, shm_attach(self->c, "t-ring-persist", CONS));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmstream_info ci;
		uint32_t slot;
		uint8_t *m;
		int fd = shm_open_dev();

		if (shm_attach(fd, "t-ring-persist", PROD) || shm_info(fd, NULL, &ci))
			_exit(1);
		m = shm_map_slots(fd, &ci, PROT_READ | PROT_WRITE);
		if (!m || shm_get_slot(fd, 0, &slot))
			_exit(2);
		memset(m + slot * ci.slot_stride, 0xee, 100);
		if (write(pipefd[1], "g", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	ASSERT_EQ(1, read(pipefd[0], &b, 1));
	EXPECT_EQ(1, shm_counter("pending"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	EXPECT_EQ(0, shm_counter("pending"));
	EXPECT_EQ(-EAGAIN, shm_acquire(self->c, NEXT, 0, &a));
	ASSERT_EQ(0, shm_info(self->c, NULL, &in));
	EXPECT_EQ(0, in.frames);
	/* The creator's close, then the killed producer. */
	EXPECT_EQ(2, in.producer_detaches);
	/* A new producer attaches and its frames flow. */
	self->p = shm_open_dev();
	ASSERT_EQ(0, shm_attach(self->p, "t-ring-persist", PROD));
	EXPECT_EQ(5, write(self->p, "hello", 5));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_EQ(1, a.frame.seq);
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	EXPECT_EQ(0, shm_destroy(self->p, "t-ring-persist"));
	close(pipefd[0]);
	close(pipefd[1]);
}

static const struct shmstream_frame *descs(const struct shmstream_ctrl *ctrl)
{
	return (const void *)((const char *)ctrl + ctrl->desc_offset);
}

/* GET_SLOT invalidates the descriptor of the frame it takes back. */
TEST_F(ring, get_slot_invalidates_the_descriptor)
{
	const struct shmstream_ctrl *ctrl;
	uint32_t n = self->in.slot_count, slot;
	uint64_t seq;

	ctrl = mmap(NULL, self->in.ctrl_size, PROT_READ, MAP_SHARED, self->c, 0);
	ASSERT_NE(MAP_FAILED, ctrl);
	for (uint32_t i = 0; i < n; i++)
		ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, i + 1, 0, NULL));
	for (uint32_t i = 0; i < n; i++)
		EXPECT_NE(0, descs(ctrl)[i].seq);
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	/* The oldest frame's slot, and its descriptor says so at once. */
	EXPECT_EQ(0, descs(ctrl)[slot].seq);
	EXPECT_EQ(0, descs(ctrl)[slot].gen & 1);
	EXPECT_EQ(4, descs(ctrl)[slot].gen); /* written, invalidated */
	EXPECT_EQ(n, ctrl->head_seq);
	ASSERT_EQ(0, shm_commit(self->p, slot, 1, &seq));
	EXPECT_EQ(n + 1, seq);
	EXPECT_EQ(seq, descs(ctrl)[slot].seq);
	EXPECT_EQ(slot, ctrl->head_slot);
	EXPECT_EQ(seq, ctrl->head_seq);
	munmap((void *)ctrl, self->in.ctrl_size);
}

/* What a descriptor of frame @seq holds in control_area_reader_never_torn. */
static void torn_fill(struct shmstream_commit *c, uint64_t seq, uint32_t slot_size)
{
	c->flags = SHMSTREAM_COMMIT_TIMESTAMP | SHMSTREAM_COMMIT_FORMAT;
	c->timestamp_ns = seq * 3 + 1;
	c->frame_flags = (uint32_t)(seq * 7);
	c->bytes_used = (uint32_t)(seq % slot_size);
	c->format = (struct shmstream_format){ (uint32_t)seq, (uint32_t)(seq >> 3),
					       (uint32_t)~seq, 5 };
	c->meta_len = SHMSTREAM_META_MAX;
	for (int i = 0; i < SHMSTREAM_META_MAX; i++)
		c->meta[i] = (uint8_t)(seq + i);
}

static int torn_check(const struct shmstream_frame *d, uint32_t slot, uint32_t slot_size)
{
	struct shmstream_commit want = { 0 };

	if (!d->seq)
		return d->slot == slot ? 0 : -1;
	torn_fill(&want, d->seq, slot_size);
	return d->slot != slot || d->timestamp_ns != want.timestamp_ns ||
	       d->frame_flags != want.frame_flags || d->bytes_used != want.bytes_used ||
	       memcmp(&d->format, &want.format, sizeof(want.format)) ||
	       d->meta_len != want.meta_len || memcmp(d->meta, want.meta, sizeof(want.meta)) ?
		-1 : 0;
}

struct torn {
	int p;
	uint32_t slot_size;
	_Atomic int stop;
	uint64_t commits;
	int err;
};

static void *torn_producer(void *arg)
{
	struct torn *t = arg;

	while (!t->stop) {
		struct shmstream_commit c = { .size = sizeof(c) };
		uint32_t slot;

		if (shm_get_slot(t->p, SHM_PATIENCE, &slot)) {
			t->err = 1;
			break;
		}
		c.slot = slot;
		torn_fill(&c, ++t->commits, t->slot_size);
		if (shm_ioctl(t->p, SHMSTREAM_IOC_COMMIT, &c) || c.seq != t->commits) {
			t->err = 2;
			break;
		}
	}
	return NULL;
}

/*
 * The control area's read protocol (uapi: struct shmstream_ctrl): a reader
 * spins on the descriptors and on the newest frame while a producer
 * commits at full speed for 10 s, every field of a frame derived from its
 * seq. No descriptor it accepts is a mix of two frames.
 */
TEST_F_TIMEOUT(ring, control_area_reader_never_torn, 300)
{
	struct torn t = { .p = self->p, .slot_size = self->in.slot_size };
	uint64_t accepted = 0, retries = 0, newest = 0, torn = 0, x = 99;
	const struct shmstream_ctrl *ctrl;
	const struct shmstream_frame *d;
	int64_t end = shm_now_ns() + 10000000000LL;
	pthread_t thread;

	ctrl = mmap(NULL, self->in.ctrl_size, PROT_READ, MAP_SHARED, self->c, 0);
	ASSERT_NE(MAP_FAILED, ctrl);
	d = descs(ctrl);
	ASSERT_EQ(0, pthread_create(&thread, NULL, torn_producer, &t));
	while (shm_now_ns() < end) {
		for (int k = 0; k < 1000; k++) {
			struct shmstream_frame copy;
			uint32_t g1, g2, slot;
			uint64_t head = 0;

			/* Every other read: the newest frame, by the protocol. */
			if (k & 1) {
				head = __atomic_load_n(&ctrl->head_seq, __ATOMIC_ACQUIRE);
				slot = __atomic_load_n(&ctrl->head_slot, __ATOMIC_RELAXED);
			} else {
				slot = (uint32_t)(shm_rand(&x) % self->in.slot_count);
			}
			g1 = __atomic_load_n(&d[slot].gen, __ATOMIC_ACQUIRE);
			if (g1 & 1) {
				retries++;
				continue;
			}
			memcpy(&copy, (const void *)&d[slot], sizeof(copy));
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			g2 = __atomic_load_n(&d[slot].gen, __ATOMIC_RELAXED);
			if (g1 != g2) {
				retries++;
				continue;
			}
			accepted++;
			if (torn_check(&copy, slot, self->in.slot_size))
				torn++;
			if (head && copy.seq == head)
				newest++;
		}
	}
	t.stop = 1;
	pthread_join(thread, NULL);
	TH_LOG("%llu commits, %llu descriptors read whole (%llu the newest), %llu retries",
	       (unsigned long long)t.commits, (unsigned long long)accepted,
	       (unsigned long long)newest, (unsigned long long)retries);
	EXPECT_EQ(0, t.err);
	EXPECT_EQ(0, torn);
	EXPECT_LT(1000, t.commits);
	EXPECT_LT(1000, accepted);
	EXPECT_LT(0, newest);
	munmap((void *)ctrl, self->in.ctrl_size);
}

/*
 * The ring's O(1) indexes against the plain rules they replace, checked by
 * a model that scans every slot: 20,000 random GET_SLOT, COMMIT, DISCARD,
 * ACQUIRE (NEXT and LATEST), RELEASE and poll calls from a producer and
 * three consumers.
 */
struct model_slot {
	uint64_t seq;
	int holders;
	int pending;
};

TEST_F_TIMEOUT(ring, indexes_match_a_full_scan, 300)
{
	enum { NC = 3 };
	struct shmstream_version v = { .size = sizeof(v) };
	struct model_slot m[SHMSTREAM_MAX_SLOTS] = { 0 };
	uint64_t cursor[NC] = { 0 }, head = 0, x = 2026;
	uint32_t n = self->in.slot_count, pending = 0, held[NC] = { 0 };
	int c[NC];

	ASSERT_EQ(0, shm_ioctl(self->p, SHMSTREAM_IOC_VERSION, &v));
	c[0] = self->c;
	for (int i = 1; i < NC; i++) {
		c[i] = shm_open_dev();
		ASSERT_EQ(0, shm_attach(c[i], self->name, CONS));
	}
	for (int op = 0; op < 20000; op++) {
		uint32_t r = (uint32_t)shm_rand(&x), k = r % NC, slot;
		struct shmstream_acquire a;
		int ret, want;

		switch ((r >> 8) % 6) {
		case 0: { /* GET_SLOT: a free slot whose frame is oldest */
			uint64_t best = UINT64_MAX;

			for (uint32_t i = 0; i < n; i++)
				if (!m[i].holders && !m[i].pending && m[i].seq < best)
					best = m[i].seq;
			want = pending >= v.max_holds ? -ENOBUFS :
			       best == UINT64_MAX ? -EAGAIN : 0;
			ret = shm_get_slot(self->p, 0, &slot);
			ASSERT_EQ(want, ret);
			if (ret)
				break;
			ASSERT_EQ(0, m[slot].holders);
			ASSERT_EQ(0, m[slot].pending);
			ASSERT_EQ(best, m[slot].seq);
			m[slot].seq = 0;
			m[slot].pending = 1;
			pending++;
			break;
		}
		case 1: /* COMMIT or DISCARD a pending slot */
			for (slot = 0; slot < n && !m[slot].pending; slot++)
				;
			if (slot == n)
				break;
			if (r & (1 << 20)) {
				struct shmstream_commit cm = { .size = sizeof(cm), .slot = slot,
							       .flags = SHMSTREAM_COMMIT_DISCARD };

				ASSERT_EQ(0, shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &cm));
			} else {
				uint64_t seq;

				ASSERT_EQ(0, shm_commit(self->p, slot, 1, &seq));
				ASSERT_EQ(++head, seq);
				m[slot].seq = seq;
			}
			m[slot].pending = 0;
			pending--;
			break;
		case 2:
		case 3: { /* ACQUIRE NEXT or LATEST */
			uint32_t mode = (r >> 8) % 6 == 2 ? NEXT : LATEST;
			uint64_t best = 0;
			int idx = -1;

			for (uint32_t i = 0; i < n; i++) {
				if (m[i].seq <= cursor[k] || m[i].pending)
					continue;
				if (idx < 0 || (mode == NEXT ? m[i].seq < best : m[i].seq > best)) {
					idx = (int)i;
					best = m[i].seq;
				}
			}
			want = held[k] >= v.max_holds ? -ENOBUFS : idx < 0 ? -EAGAIN : 0;
			ret = shm_acquire(c[k], mode, 0, &a);
			ASSERT_EQ(want, ret);
			if (ret)
				break;
			ASSERT_EQ(idx, (int)a.frame.slot);
			ASSERT_EQ(best, a.frame.seq);
			ASSERT_EQ(best - cursor[k] - 1, a.missed);
			cursor[k] = best;
			m[idx].holders++;
			held[k]++;
			break;
		}
		case 4: { /* RELEASE a frame this consumer holds */
			struct shmstream_stats st;

			ASSERT_EQ(0, shm_stats(c[k], &st));
			ASSERT_EQ(held[k], st.holds);
			if (!held[k])
				break;
			/* The lowest slot it holds: ask by trying each. */
			for (slot = 0; slot < n; slot++) {
				if (!m[slot].holders)
					continue;
				if (!shm_release(c[k], slot))
					break;
			}
			ASSERT_LT(slot, n);
			m[slot].holders--;
			held[k]--;
			break;
		}
		default: { /* poll agrees */
			struct pollfd pfd[2] = { { .fd = c[k], .events = POLLIN },
						 { .fd = self->p, .events = POLLOUT } };
			int in = 0, out = 0;

			for (uint32_t i = 0; i < n; i++) {
				in |= !m[i].pending && m[i].seq > cursor[k];
				out |= !m[i].pending && !m[i].holders;
			}
			out &= pending < v.max_holds;
			ASSERT_LE(0, poll(pfd, 2, 0));
			ASSERT_EQ(in, !!(pfd[0].revents & POLLIN));
			ASSERT_EQ(out, !!(pfd[1].revents & POLLOUT));
			break;
		}
		}
	}
	for (int i = 1; i < NC; i++)
		close(c[i]);
}

/* The tracepoints, through tracefs: commit, acquire, release and wait. */

TEST_F(ring, tracepoints_fire)
{
	const char *t = "/sys/kernel/tracing";
	char path[256], *buf = malloc(1 << 20), line[160];
	struct shmstream_acquire a;
	size_t len = 0;
	ssize_t n;
	int fd;

	ASSERT_NE(NULL, buf);
	snprintf(path, sizeof(path), "%s/events/shmstream/enable", t);
	if (access(path, F_OK) && mount("tracefs", t, "tracefs", 0, NULL) && errno != EBUSY)
		SKIP(return, "tracefs: %s", strerror(errno));
	if (access(path, W_OK))
		SKIP(return, "%s: %s", path, strerror(errno));
	snprintf(line, sizeof(line), "%s/trace", t);
	ASSERT_EQ(0, shm_write_file(line, ""));
	ASSERT_EQ(0, shm_write_file(path, "1"));
	ASSERT_EQ(0, shm_produce(self->p, self->pmap, &self->in, 1, 0, NULL));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	ASSERT_EQ(0, shm_release(self->c, a.frame.slot));
	{
		struct shmstream_acquire none;

		EXPECT_EQ(-ETIMEDOUT, shm_acquire(self->c, NEXT, 1000000, &none));
	}
	ASSERT_EQ(0, shm_write_file(path, "0"));
	fd = open(line, O_RDONLY);
	ASSERT_LE(0, fd);
	while ((n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	{
		char want[4][160];
		int missing = 0;

		snprintf(want[0], sizeof(want[0]),
			 "shmstream_commit: stream=%s slot=%u seq=1 bytes=%u", self->name,
			 a.frame.slot, a.frame.bytes_used);
		snprintf(want[1], sizeof(want[1]),
			 "shmstream_acquire: stream=%s slot=%u seq=1 missed=0", self->name,
			 a.frame.slot);
		snprintf(want[2], sizeof(want[2]), "shmstream_release: stream=%s slot=%u freed=1",
			 self->name, a.frame.slot);
		snprintf(want[3], sizeof(want[3]), "shmstream_wait: stream=%s role=consumer",
			 self->name);
		for (int i = 0; i < 4; i++) {
			if (!strstr(buf, want[i])) {
				TH_LOG("no \"%s\" in the trace", want[i]);
				missing++;
			}
		}
		if (missing)
			TH_LOG("trace:\n%s", buf);
		EXPECT_EQ(0, missing);
	}
	free(buf);
}

TEST_HARNESS_MAIN
