// SPDX-License-Identifier: GPL-2.0-only
/*
 * Streams: names, CREATE/ATTACH/DESTROY/LIST/INFO/STATS, roles,
 * permissions, IPC namespaces and limits. After every test the module's
 * global counters are back to zero.
 */
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define DOC SHMSTREAM_CREATE_DESTROY_ON_CLOSE
#define PROD SHMSTREAM_ATTACH_PRODUCER
#define CONS SHMSTREAM_ATTACH_CONSUMER

FIXTURE(st) {
	int fd;
	char name[SHMSTREAM_NAME_MAX];
};

FIXTURE_SETUP(st)
{
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	shm_name(self->name, "st");
}

FIXTURE_TEARDOWN(st)
{
	if (self->fd < 0)
		return;
	close(self->fd);
	/* Nothing this test made may outlive it. */
	EXPECT_NOTHING_LEFT();
}

TEST_F(st, name_empty_einval)
{
	EXPECT_EQ(-EINVAL, shm_create(self->fd, "", 2, 4096, 0600, DOC));
}

TEST_F(st, name_64_chars_einval)
{
	char name[SHMSTREAM_NAME_MAX + 1];
	struct shmstream_create c = { .size = sizeof(c), .slot_count = 2,
				      .slot_size = 4096, .mode = 0600 };

	memset(name, 'a', sizeof(name));
	name[64] = 0;
	/* 64 characters leave no room for the NUL: refused. */
	memcpy(c.name, name, sizeof(c.name));
	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_CREATE, &c));
	/* 63 characters are the most a name may have. */
	name[63] = 0;
	EXPECT_EQ(0, shm_create(self->fd, name, 2, 4096, 0600, DOC));
}

TEST_F(st, name_slash_einval)
{
	EXPECT_EQ(-EINVAL, shm_create(self->fd, "a/b", 2, 4096, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, "..", 2, 4096, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, "a b", 2, 4096, 0600, DOC));
}

TEST_F(st, name_non_ascii_einval)
{
	EXPECT_EQ(-EINVAL, shm_create(self->fd, "caf\xc3\xa9", 2, 4096, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_attach(self->fd, "caf\xc3\xa9", CONS));
}

/* Names are ASCII: every byte 0x80-0xff is refused (Latin-1 letters too). */
TEST_F(st, name_high_bytes_einval)
{
	char name[SHMSTREAM_NAME_MAX] = "caf?";

	for (int b = 0x80; b <= 0xff; b++) {
		name[3] = (char)b;
		EXPECT_EQ(-EINVAL, shm_create(self->fd, name, 2, 4096, 0600, DOC))
			TH_LOG("byte 0x%02x accepted", b);
		EXPECT_EQ(-EINVAL, shm_attach(self->fd, name, CONS))
			TH_LOG("byte 0x%02x looked up", b);
	}
}

/* A line "KEY: VALUE" of /proc/self/fdinfo/FD into @val; 0 or -1. */
static int fdinfo(int fd, const char *key, char *val, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(val, len, "%s", line + klen + 2);
		ret = 0;
	}
	fclose(f);
	return ret;
}

#define EXPECT_FDINFO(fd, key, want)						\
	do {									\
		char v_[128] = "(absent)";					\
		fdinfo(fd, key, v_, sizeof(v_));				\
		EXPECT_STREQ(want, v_) TH_LOG("fdinfo %s", key);		\
	} while (0)

/* /proc/PID/fdinfo/N says who holds what: role, stream, cursor, holds. */
TEST_F(st, fdinfo_role_stream_holds)
{
	int c = shm_open_dev();
	struct shmstream_acquire a;
	uint32_t slot[2], lo, hi;
	char want[64];

	ASSERT_LE(0, c);
	EXPECT_FDINFO(self->fd, "shmstream-role", "none");
	ASSERT_EQ(0, shm_create(self->fd, self->name, 4, 4096, 0600, DOC));
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));
	EXPECT_FDINFO(self->fd, "shmstream-role", "producer");
	EXPECT_FDINFO(self->fd, "shmstream-stream", self->name);
	EXPECT_FDINFO(self->fd, "shmstream-pending", "0");
	ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot[0]));
	ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot[1]));
	EXPECT_FDINFO(self->fd, "shmstream-pending", "2");
	/* A bitmap list, as the kernel prints CPU lists: "0-1", "0,2". */
	lo = slot[0] < slot[1] ? slot[0] : slot[1];
	hi = slot[0] < slot[1] ? slot[1] : slot[0];
	snprintf(want, sizeof(want), "%u%c%u", lo, hi == lo + 1 ? '-' : ',', hi);
	EXPECT_FDINFO(self->fd, "shmstream-slots", want);
	ASSERT_EQ(0, shm_commit(self->fd, slot[0], 10, NULL));
	ASSERT_EQ(0, shm_commit(self->fd, slot[1], 10, NULL));
	EXPECT_FDINFO(self->fd, "shmstream-committed", "2");
	EXPECT_FDINFO(self->fd, "shmstream-pending", "0");

	EXPECT_FDINFO(c, "shmstream-role", "consumer");
	EXPECT_FDINFO(c, "shmstream-stream", self->name);
	EXPECT_FDINFO(c, "shmstream-cursor", "0");
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_LATEST, 0, &a));
	EXPECT_FDINFO(c, "shmstream-cursor", "2");
	EXPECT_FDINFO(c, "shmstream-taken", "1");
	EXPECT_FDINFO(c, "shmstream-missed", "1");
	EXPECT_FDINFO(c, "shmstream-holds", "1");
	snprintf(want, sizeof(want), "%u", a.frame.slot);
	EXPECT_FDINFO(c, "shmstream-slots", want);
	EXPECT_FDINFO(c, "shmstream-destroyed", "0");
	ASSERT_EQ(0, shm_release(c, a.frame.slot));
	EXPECT_FDINFO(c, "shmstream-holds", "0");
	EXPECT_FDINFO(c, "shmstream-slots", "");
	ASSERT_EQ(0, shm_destroy(self->fd, self->name));
	EXPECT_FDINFO(c, "shmstream-destroyed", "1");
	close(c);
}

/*
 * CREATE against ATTACH PRODUCER and against DESTROY of the same name, from
 * two threads, round after round: the racer sees no stream (ENOENT, and
 * tries again) or a whole one whose creator is its producer. CREATE answers
 * 0 every time, the racing ATTACH gets EBUSY, the racing DESTROY 0, and the
 * creator's stream is destroyed only by that DESTROY.
 */
#define RACE_ROUNDS 2000

struct create_race {
	pthread_barrier_t go;
	char name[SHMSTREAM_NAME_MAX];
	int destroy; /* race DESTROY, else ATTACH PRODUCER */
	int result;
};

static void *create_racer(void *arg)
{
	struct create_race *r = arg;
	int fd = shm_open_dev();

	pthread_barrier_wait(&r->go);
	do {
		r->result = r->destroy ? shm_destroy(fd, r->name) :
					 shm_attach(fd, r->name, PROD);
	} while (r->result == -ENOENT);
	pthread_barrier_wait(&r->go); /* the creator has looked */
	close(fd);
	return NULL;
}

static void create_race(struct __test_metadata *_metadata, const char *tag, int destroy)
{
	int created = 0, raced = 0, idrm = 0;
	struct create_race r = { .destroy = destroy };
	pthread_t t;

	ASSERT_EQ(0, pthread_barrier_init(&r.go, NULL, 2));
	for (int i = 0; i < RACE_ROUNDS; i++) {
		int fd = shm_open_dev(), ret;
		uint32_t slot;

		ASSERT_LE(0, fd);
		shm_name(r.name, tag);
		ASSERT_EQ(0, pthread_create(&t, NULL, create_racer, &r));
		pthread_barrier_wait(&r.go);
		ret = shm_create(fd, r.name, 2, 4096, 0600, DOC);
		pthread_barrier_wait(&r.go); /* the racer is done */
		pthread_join(t, NULL);
		EXPECT_EQ(0, ret) TH_LOG("round %d: CREATE %d", i, ret);
		EXPECT_EQ(destroy ? 0 : -EBUSY, r.result) TH_LOG("round %d: racer %d", i, r.result);
		/* The stream is whole: destroyed by the racer, or ours to fill. */
		ret = shm_get_slot(fd, 0, &slot);
		if (destroy) {
			EXPECT_EQ(-EIDRM, ret) TH_LOG("round %d: GET_SLOT %d", i, ret);
		} else {
			EXPECT_EQ(0, ret) TH_LOG("round %d: GET_SLOT %d", i, ret);
		}
		created += !ret || ret == -EIDRM;
		raced += r.result == (destroy ? 0 : -EBUSY);
		idrm += ret == -EIDRM;
		close(fd);
		if (!_metadata->passed)
			break;
	}
	TH_LOG("%d rounds: %d created, %d raced as documented, %d destroyed by the racer",
	       RACE_ROUNDS, created, raced, idrm);
	pthread_barrier_destroy(&r.go);
}

TEST_F(st, create_races_attach_producer)
{
	create_race(_metadata, "cra", 0);
}

TEST_F(st, create_races_destroy)
{
	create_race(_metadata, "crd", 1);
}

TEST_F(st, duplicate_eexist)
{
	int fd2 = shm_open_dev();

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	EXPECT_EQ(-EEXIST, shm_create(fd2, self->name, 2, 4096, 0600, DOC));
	/* The failed create left fd2 unbound: it can still attach. */
	EXPECT_EQ(0, shm_attach(fd2, self->name, CONS));
	close(fd2);
}

TEST_F(st, attach_missing_enoent)
{
	EXPECT_EQ(-ENOENT, shm_attach(self->fd, self->name, CONS));
	EXPECT_EQ(-ENOENT, shm_destroy(self->fd, self->name));
	struct shmstream_info in;

	EXPECT_EQ(-ENOENT, shm_info(self->fd, self->name, &in));
}

TEST_F(st, second_producer_ebusy)
{
	int fd2 = shm_open_dev();

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	EXPECT_EQ(-EBUSY, shm_attach(fd2, self->name, PROD));
	close(fd2);
}

TEST_F(st, attach_twice_eisconn)
{
	int fd2 = shm_open_dev();

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	EXPECT_EQ(-EISCONN, shm_attach(self->fd, self->name, CONS));
	EXPECT_EQ(-EISCONN, shm_create(self->fd, "other", 2, 4096, 0600, DOC));
	ASSERT_EQ(0, shm_attach(fd2, self->name, CONS));
	EXPECT_EQ(-EISCONN, shm_attach(fd2, self->name, CONS));
	close(fd2);
}

TEST_F(st, attach_bad_role_einval)
{
	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	int fd2 = shm_open_dev();

	EXPECT_EQ(-EINVAL, shm_attach(fd2, self->name, 0));
	EXPECT_EQ(-EINVAL, shm_attach(fd2, self->name, PROD | CONS));
	EXPECT_EQ(-EINVAL, shm_attach(fd2, self->name, 1U << 7));
	/* NEWEST is a consumer's option, never a role of its own. */
	EXPECT_EQ(-EINVAL, shm_attach(fd2, self->name, SHMSTREAM_ATTACH_NEWEST));
	EXPECT_EQ(-EINVAL, shm_attach(fd2, self->name, PROD | SHMSTREAM_ATTACH_NEWEST));
	close(fd2);
}

/*
 * ATTACH_NEWEST: the newest frame committed before the attach is the first
 * one seen (a plain consumer waits for the next commit); on an empty stream
 * the two are the same.
 */
TEST_F(st, attach_newest_sees_the_last_frame)
{
	int plain = shm_open_dev(), newest = shm_open_dev(), empty = shm_open_dev();
	struct shmstream_acquire a;
	struct shmstream_stats st;
	uint32_t slot;
	uint64_t seq;
	int i;

	ASSERT_EQ(0, shm_create(self->fd, self->name, 4, 4096, 0600, DOC));
	ASSERT_EQ(0, shm_attach(empty, self->name, CONS | SHMSTREAM_ATTACH_NEWEST));
	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot));
		ASSERT_EQ(0, shm_commit(self->fd, slot, 100 + i, &seq));
		ASSERT_EQ((uint64_t)i, seq);
	}
	ASSERT_EQ(0, shm_attach(plain, self->name, CONS));
	ASSERT_EQ(0, shm_attach(newest, self->name, CONS | SHMSTREAM_ATTACH_NEWEST));

	EXPECT_EQ(-EAGAIN, shm_acquire(plain, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	ASSERT_EQ(0, shm_acquire(newest, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(3, a.frame.seq);
	EXPECT_EQ(103, a.frame.bytes_used);
	EXPECT_EQ(0, a.missed);
	EXPECT_EQ(0, shm_release(newest, a.frame.slot));
	EXPECT_EQ(-EAGAIN, shm_acquire(newest, SHMSTREAM_ACQUIRE_LATEST, 0, &a));
	ASSERT_EQ(0, shm_stats(newest, &st));
	EXPECT_EQ(2, st.attach_seq); /* counting starts just before the head */
	EXPECT_EQ(3, st.cursor);
	EXPECT_EQ(1, st.taken);
	EXPECT_EQ(0, st.missed);
	EXPECT_EQ(st.taken + st.missed, st.cursor - st.attach_seq);

	/* Attached before any frame: it sees frame 1 first, like NEXT always does. */
	ASSERT_EQ(0, shm_acquire(empty, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(1, a.frame.seq);
	EXPECT_EQ(0, a.missed);
	EXPECT_EQ(0, shm_release(empty, a.frame.slot));
	close(plain);
	close(newest);
	close(empty);
}

TEST_F(st, geometry_limits_einval)
{
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, 0, 4096, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, SHMSTREAM_MAX_SLOTS + 1,
				      4096, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, 2, 0, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, 2,
				      SHMSTREAM_MAX_SLOT_SIZE + 1, 0600, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, 2, 4096, 01000, DOC));
	EXPECT_EQ(-EINVAL, shm_create(self->fd, self->name, 2, 4096, 0600, 1U << 5));
	EXPECT_EQ(0, shm_counter("streams"));
}

TEST_F(st, create_reserved_einval)
{
	struct shmstream_create c = { .size = sizeof(c), .slot_count = 2,
				      .slot_size = 4096, .mode = 0600 };

	strcpy(c.name, self->name);
	c.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_CREATE, &c));
	c.reserved[1] = 0;
	c.reserved[0] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->fd, SHMSTREAM_IOC_CREATE, &c));
}

TEST_F(st, pinned_limit_enospc_nothing_created)
{
	/* 1024 slots of 2 MiB: over the module's default 1 GiB budget. */
	EXPECT_EQ(-ENOSPC, shm_create(self->fd, self->name, 1024, 2 << 20, 0600, DOC));
	EXPECT_EQ(0, shm_counter("streams"));
	EXPECT_EQ(0, shm_counter("pinned_bytes"));
	EXPECT_EQ(-ENOENT, shm_attach(self->fd, self->name, CONS));
	/* The file is still unbound and usable. */
	EXPECT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
}

TEST_F(st, info_and_stats)
{
	struct shmstream_info in;
	struct shmstream_stats stt;
	int c = shm_open_dev();

	EXPECT_EQ(-ENOTCONN, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(-ENOTCONN, shm_stats(self->fd, &stt));
	ASSERT_EQ(0, shm_create(self->fd, self->name, 3, 5000, 0640, DOC));
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));

	POISON(in);
	memset(in.name, 0, sizeof(in.name));
	in.size = sizeof(in);
	in.flags = 0;
	ASSERT_EQ(0, shm_ioctl(c, SHMSTREAM_IOC_INFO, &in));
	EXPECT_STREQ(self->name, in.name);
	EXPECT_EQ(3, in.slot_count);
	EXPECT_EQ(5000, in.slot_size);
	EXPECT_EQ(0, in.ctrl_offset);
	EXPECT_EQ(0, in.ctrl_size % getpagesize());
	EXPECT_EQ(in.ctrl_size, in.slots_offset);
	EXPECT_EQ(2 * getpagesize(), in.slot_stride);
	EXPECT_EQ(0640, in.mode);
	EXPECT_EQ(getuid(), in.uid);
	EXPECT_EQ(SHMSTREAM_STATE_PRODUCER, in.state);
	EXPECT_EQ(1, in.consumers);
	EXPECT_EQ(0, in.frames);
	EXPECT_EQ(0, in.head_seq);
	EXPECT_EQ(0, in.producer_detaches);

	/* By name, from an unbound file. */
	int u = shm_open_dev();

	ASSERT_EQ(0, shm_info(u, self->name, &in));
	EXPECT_EQ(1, in.consumers);

	ASSERT_EQ(0, shm_stats(c, &stt));
	EXPECT_EQ(CONS, stt.role);
	EXPECT_EQ(0, stt.holds);
	ASSERT_EQ(0, shm_stats(self->fd, &stt));
	EXPECT_EQ(PROD, stt.role);
	close(u);
	close(c);
}

TEST_F(st, list_counts_and_enospc)
{
	char names[2][SHMSTREAM_NAME_MAX];
	char mine[3][SHMSTREAM_NAME_MAX + 8];
	int fds[3];
	struct shmstream_list l = { .size = sizeof(l) };

	for (int i = 0; i < 3; i++) {
		fds[i] = shm_open_dev();
		snprintf(mine[i], sizeof(mine[i]), "%s-%d", self->name, i);
		ASSERT_EQ(0, shm_create(fds[i], mine[i], 1, 4096, 0600, DOC));
	}
	/* Capacity 0: only the count. */
	ASSERT_EQ(-ENOSPC, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(3, l.count);
	/* Too small: the first names, the count, -ENOSPC. */
	memset(names, 0, sizeof(names));
	l.names = (uintptr_t)names;
	l.capacity = 2;
	EXPECT_EQ(-ENOSPC, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(3, l.count);
	EXPECT_STREQ(mine[0], names[0]);
	EXPECT_STREQ(mine[1], names[1]);
	/* Large enough. */
	char all[8][SHMSTREAM_NAME_MAX];

	l.names = (uintptr_t)all;
	l.capacity = 8;
	EXPECT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(3, l.count);
	EXPECT_STREQ(mine[2], all[2]);
	/* A bad buffer. */
	l.names = 8;
	EXPECT_EQ(-EFAULT, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	l.capacity = 0;
	EXPECT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(0, l.count);
}

/*
 * LIST copies a page of names at a time: 200 names take four passes, come
 * in the order they were created, each once, and a capacity that ends
 * inside a pass writes exactly that many.
 */
TEST_F(st, list_in_chunks_keeps_order)
{
	enum { N = 200, CAP = 130 };
	static char names[N + 1][SHMSTREAM_NAME_MAX];
	struct shmstream_list l = { .size = sizeof(l) };
	int fds[N];

	for (int i = 0; i < N; i++) {
		char name[SHMSTREAM_NAME_MAX];

		fds[i] = shm_open_dev();
		ASSERT_LE(0, fds[i]);
		snprintf(name, sizeof(name), "%.40s-%03d", self->name, i);
		ASSERT_EQ(0, shm_create(fds[i], name, 1, 1, 0600, DOC));
	}
	memset(names, 0x5a, sizeof(names));
	l.names = (uintptr_t)names;
	l.capacity = N + 1;
	ASSERT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(N, l.count);
	for (int i = 0; i < N; i++) {
		char want[SHMSTREAM_NAME_MAX];

		snprintf(want, sizeof(want), "%.40s-%03d", self->name, i);
		EXPECT_STREQ(want, names[i]);
	}
	EXPECT_EQ(0x5a, (unsigned char)names[N][0]);
	memset(names, 0x5a, sizeof(names));
	l.capacity = CAP;
	EXPECT_EQ(-ENOSPC, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(N, l.count);
	for (int i = 0; i < CAP; i++) {
		char want[SHMSTREAM_NAME_MAX];

		snprintf(want, sizeof(want), "%.40s-%03d", self->name, i);
		EXPECT_STREQ(want, names[i]);
	}
	EXPECT_EQ(0x5a, (unsigned char)names[CAP][0]);
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

/*
 * What close does: a role, with its holds or pending slots, belongs to the
 * open file, which a mapping keeps open. close() of the last descriptor
 * while the file is mapped drops nothing; munmap() of the last mapping
 * then releases the file, and with it the role.
 */
TEST_F(st, close_keeps_role_while_mapped)
{
	struct shmstream_info in;
	struct shmstream_acquire a;
	int p2 = shm_open_dev(), c = shm_open_dev(), c2 = shm_open_dev();
	void *pmap, *cmap;
	uint32_t slot;

	ASSERT_EQ(0, shm_create(self->fd, self->name, 1, 4096, 0600, 0));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	/* A producer's file: mapped, closed, still the producer. */
	pmap = mmap(NULL, in.slot_stride, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		    in.slots_offset);
	ASSERT_NE(MAP_FAILED, pmap);
	ASSERT_EQ(0, shm_get_slot(self->fd, 0, &slot));
	ASSERT_EQ(0, shm_commit(self->fd, slot, 10, NULL));
	close(self->fd);
	self->fd = shm_open_dev();
	ASSERT_EQ(0, shm_info(self->fd, self->name, &in));
	EXPECT_EQ(SHMSTREAM_STATE_PRODUCER, in.state & SHMSTREAM_STATE_PRODUCER);
	EXPECT_EQ(-EBUSY, shm_attach(p2, self->name, PROD));
	/* A consumer's file: holding the only slot, mapped, closed. */
	ASSERT_EQ(0, shm_attach(c, self->name, CONS | SHMSTREAM_ATTACH_NEWEST));
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	cmap = mmap(NULL, in.ctrl_size, PROT_READ, MAP_SHARED, c, 0);
	ASSERT_NE(MAP_FAILED, cmap);
	close(c);
	ASSERT_EQ(0, shm_attach(c2, self->name, CONS));
	ASSERT_EQ(0, shm_info(c2, NULL, &in));
	EXPECT_EQ(2, in.consumers);
	EXPECT_EQ(1, shm_counter("holds"));
	/* munmap() releases the files: roles and holds go. */
	munmap(pmap, in.slot_stride);
	ASSERT_EQ(0, shm_info(c2, NULL, &in));
	EXPECT_EQ(0, in.state & SHMSTREAM_STATE_PRODUCER);
	EXPECT_EQ(1, in.producer_detaches);
	munmap(cmap, in.ctrl_size);
	ASSERT_EQ(0, shm_info(c2, NULL, &in));
	EXPECT_EQ(1, in.consumers);
	EXPECT_EQ(0, shm_counter("holds"));
	/* The slot is free again for a new producer. */
	ASSERT_EQ(0, shm_attach(p2, self->name, PROD));
	EXPECT_EQ(0, shm_get_slot(p2, 0, &slot));
	EXPECT_EQ(0, shm_destroy(p2, self->name));
	close(p2);
	close(c2);
}

TEST_F(st, destroy_removes_name_at_once)
{
	int c = shm_open_dev();
	struct shmstream_info in;

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, 0));
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));
	ASSERT_EQ(0, shm_destroy(c, self->name));
	EXPECT_EQ(-ENOENT, shm_attach(shm_open_dev(), self->name, CONS));
	/* The attached files still see it, marked destroyed. */
	ASSERT_EQ(0, shm_info(c, NULL, &in));
	EXPECT_EQ(SHMSTREAM_STATE_DESTROYED, in.state & SHMSTREAM_STATE_DESTROYED);
	/* The name can be used again at once. */
	int fd2 = shm_open_dev();

	EXPECT_EQ(0, shm_create(fd2, self->name, 2, 4096, 0600, DOC));
	close(fd2);
	close(c);
}

TEST_F(st, destroy_on_close)
{
	int fd2 = shm_open_dev();

	ASSERT_EQ(0, shm_create(fd2, self->name, 2, 4096, 0600, DOC));
	close(fd2);
	EXPECT_EQ(-ENOENT, shm_attach(self->fd, self->name, CONS));
	/* Without the flag the stream outlives its creator. */
	fd2 = shm_open_dev();
	ASSERT_EQ(0, shm_create(fd2, self->name, 2, 4096, 0600, 0));
	close(fd2);
	EXPECT_EQ(1, shm_counter("streams"));
	EXPECT_EQ(0, shm_attach(self->fd, self->name, PROD));
	EXPECT_EQ(0, shm_destroy(self->fd, self->name));
}

/* Run @fn in a child as uid/gid 65534 without capabilities (shm_become()). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		if (shm_become(65534, 65534))
			_exit(200);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int try_attach(void *arg)
{
	const char *spec = arg; /* "P:name" or "C:name" or "D:name" */
	int fd = shm_open_dev();

	if (spec[0] == 'D')
		return -shm_destroy(fd, spec + 2);
	return -shm_attach(fd, spec + 2, spec[0] == 'P' ? PROD : CONS);
}

TEST_F(st, other_uid_cannot_attach_0600)
{
	char spec[80];

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	snprintf(spec, sizeof(spec), "C:%s", self->name);
	EXPECT_EQ(EACCES, as_nobody(try_attach, spec));
	snprintf(spec, sizeof(spec), "P:%s", self->name);
	EXPECT_EQ(EACCES, as_nobody(try_attach, spec));
	snprintf(spec, sizeof(spec), "D:%s", self->name);
	EXPECT_EQ(EPERM, as_nobody(try_attach, spec));
}

TEST_F(st, mode_0644_lets_others_read_only)
{
	char spec[80];
	int p;

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0644, 0));
	/* Free the producer role so a refusal can only be the mode. */
	close(self->fd);
	self->fd = shm_open_dev();
	snprintf(spec, sizeof(spec), "C:%s", self->name);
	EXPECT_EQ(0, as_nobody(try_attach, spec));
	snprintf(spec, sizeof(spec), "P:%s", self->name);
	EXPECT_EQ(EACCES, as_nobody(try_attach, spec));
	p = shm_open_dev();
	EXPECT_EQ(0, shm_attach(p, self->name, PROD));
	EXPECT_EQ(0, shm_destroy(p, self->name));
	close(p);
}

static int create_big(void *arg)
{
	struct rlimit rl = { 64 << 10, 64 << 10 };
	int fd = shm_open_dev();
	int fd2 = shm_open_dev();
	int ret;

	(void)arg;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return 201;
	/* 1 MiB is over a 64 KiB RLIMIT_MEMLOCK. */
	ret = shm_create(fd, "t-memlock-big", 16, 64 << 10, 0600, DOC);
	if (ret != -ENOMEM)
		return 202;
	if (shm_counter("streams") > 0)
		return 203;
	/* 2 slots of 16 KiB (+ a control page) fit. */
	ret = shm_create(fd2, "t-memlock-small", 2, 16 << 10, 0600, DOC);
	return ret ? 204 : 0;
}

TEST_F(st, unprivileged_memlock_limit)
{
	EXPECT_EQ(0, as_nobody(create_big, NULL));
}

TEST_F(st, consumer_cannot_produce)
{
	int c = shm_open_dev();
	struct shmstream_acquire a;
	uint32_t slot;

	EXPECT_EQ(-ENOTCONN, shm_get_slot(c, 0, &slot));
	EXPECT_EQ(-ENOTCONN, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));
	EXPECT_EQ(-EPERM, shm_get_slot(c, 0, &slot));
	EXPECT_EQ(-EPERM, shm_commit(c, 0, 1, NULL));
	EXPECT_EQ(-1, write(c, "x", 1));
	EXPECT_EQ(EPERM, errno);
	/* And the producer cannot consume. */
	EXPECT_EQ(-EPERM, shm_acquire(self->fd, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(-EPERM, shm_release(self->fd, 0));
	close(c);
}

TEST_F(st, max_consumers_eusers)
{
	struct shmstream_version v = { .size = sizeof(v) };
	int fds[512], n;

	ASSERT_EQ(0, shm_ioctl(self->fd, SHMSTREAM_IOC_VERSION, &v));
	ASSERT_LT(v.max_consumers, 500);
	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	for (n = 0; n < (int)v.max_consumers; n++) {
		fds[n] = shm_open_dev();
		ASSERT_EQ(0, shm_attach(fds[n], self->name, CONS));
	}
	fds[n] = shm_open_dev();
	EXPECT_EQ(-EUSERS, shm_attach(fds[n], self->name, CONS));
	/* A consumer leaving makes room. */
	close(fds[0]);
	EXPECT_EQ(0, shm_attach(fds[n], self->name, CONS));
	for (int i = 1; i <= n; i++)
		close(fds[i]);
}

/* Its last step waits for a kernel worker: see below. */
TEST_F_TIMEOUT(st, ipc_namespaces_isolated, 300)
{
	int pipefd[2];
	pid_t pid;
	int status;

	ASSERT_EQ(0, shm_create(self->fd, self->name, 2, 4096, 0600, DOC));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct shmstream_list l = { .size = sizeof(l) };
		int fd, fd2;

		if (unshare(CLONE_NEWIPC))
			_exit(100);
		fd = shm_open_dev();
		/* The parent's stream does not exist here. */
		if (shm_attach(fd, self->name, CONS) != -ENOENT)
			_exit(101);
		if (shm_ioctl(fd, SHMSTREAM_IOC_LIST, &l) || l.count)
			_exit(102);
		/* The same name is free here; this one is left behind. */
		if (shm_create(fd, self->name, 2, 4096, 0600, 0))
			_exit(103);
		fd2 = shm_open_dev();
		if (shm_attach(fd2, self->name, CONS))
			_exit(104);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* Ours is untouched, with no consumer from the child's namespace. */
	struct shmstream_info in;

	ASSERT_EQ(0, shm_info(self->fd, NULL, &in));
	EXPECT_EQ(0, in.consumers);
	struct shmstream_list l = { .size = sizeof(l) };

	EXPECT_EQ(-ENOSPC, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(1, l.count);
	/*
	 * The child's namespace is gone, so is its stream's name: the next
	 * registry operation reaps it (the namespace is freed by a worker,
	 * after an RCU grace period: it comes, later on a loaded machine).
	 */
	for (int64_t end = shm_now_ns() + SHM_PATIENCE;
	     shm_counter("streams") != 1 && shm_now_ns() < end;) {
		usleep(10000);
		shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l);
	}
	EXPECT_EQ(1, shm_counter("streams"));
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_HARNESS_MAIN
