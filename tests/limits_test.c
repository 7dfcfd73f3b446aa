// SPDX-License-Identifier: GPL-2.0-only
/*
 * Limits, up to and past each one: the pinned-memory budget (which is
 * also what bounds the number of streams), the geometry, consumers per
 * stream, holds and pending slots, RLIMIT_MEMLOCK, and memory pressure
 * (a memory cgroup smaller than the streams asked for). At each limit the
 * refusal has its errno, the refused call leaves nothing behind, the
 * counts add up, and what was given back can be taken again.
 *
 * Needs root and the module's parameters in sysfs (the guest suite); it
 * sets them and puts them back.
 */
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define CGROUP "/sys/fs/cgroup/shmstream-limits"
#define PAGE 4096UL
#define MAXS 256

/* Pages a stream of @slots x @size costs: its slots and its control area. */
static unsigned long stream_pages(uint32_t slots, uint32_t size)
{
	size_t ctrl = sizeof(struct shmstream_ctrl) + slots * sizeof(struct shmstream_frame);

	return (ctrl + PAGE - 1) / PAGE + slots * ((size + PAGE - 1) / PAGE);
}

/* Streams made by a test: created on their own files, destroyed at the end. */
FIXTURE(lim) {
	int fd;
	int fds[MAXS];
	int n;
	long pinned_mb, consumers, holds;
};

FIXTURE_SETUP(lim)
{
	self->n = 0;
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	self->pinned_mb = shm_param_get("max_pinned_mb");
	self->consumers = shm_param_get("max_consumers");
	self->holds = shm_param_get("max_holds");
	if (self->pinned_mb < 0 || self->consumers < 0 || self->holds < 0 || geteuid())
		SKIP(return, "needs root and %s (run by tests/limits/limits.sh)", SHM_PARAMS);
	if (shm_counter("streams") != 0)
		SKIP(return, "other streams exist: the counts here need a quiet module");
}

/* Close every stream's file: each is destroyed with it. */
static void drop_all(FIXTURE_DATA(lim) *self)
{
	while (self->n > 0)
		close(self->fds[--self->n]);
}

FIXTURE_TEARDOWN(lim)
{
	if (self->fd < 0)
		return;
	drop_all(self);
	close(self->fd);
	if (self->pinned_mb >= 0) {
		shm_param_set("max_pinned_mb", self->pinned_mb);
		shm_param_set("max_consumers", self->consumers);
		shm_param_set("max_holds", self->holds);
	}
	EXPECT_NOTHING_LEFT();
}

/* Create stream "lim-N" (destroyed when its file closes); 0 or -errno. */
static int make(struct __test_metadata *_metadata, FIXTURE_DATA(lim) *self,
		uint32_t slots, uint32_t size)
{
	char name[SHMSTREAM_NAME_MAX];
	int fd = shm_open_dev(), ret;

	ASSERT_LE(0, fd);
	ASSERT_GT(MAXS, self->n);
	snprintf(name, sizeof(name), "lim-%d", self->n);
	ret = shm_create(fd, name, slots, size, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE);
	if (ret) {
		close(fd);
		/* Refused: the name is not there. */
		EXPECT_EQ(-ENOENT, shm_info(self->fd, name, &(struct shmstream_info){ 0 }));
		return ret;
	}
	self->fds[self->n++] = fd;
	return 0;
}

/*
 * The budget bounds how many streams exist: as many as fit, exactly; the
 * last page of it can be used; one page more is -ENOSPC; and all of it
 * comes back.
 */
TEST_F(lim, budget_bounds_streams_exactly)
{
	const unsigned long budget = 16UL << 20 >> 12, each = stream_pages(3, 1 << 20);
	unsigned long fit = budget / each, left;
	struct shmstream_list l = { .size = sizeof(l) };

	ASSERT_EQ(0, shm_param_set("max_pinned_mb", 16));
	while (make(_metadata, self, 3, 1 << 20) == 0)
		;
	EXPECT_EQ(fit, (unsigned long)self->n);
	EXPECT_EQ(-ENOSPC, make(_metadata, self, 3, 1 << 20));
	EXPECT_EQ((long)(fit * each * PAGE), shm_counter("pinned_bytes"));
	EXPECT_EQ((long)fit, shm_counter("streams"));
	ASSERT_EQ(-ENOSPC, shm_ioctl(self->fd, SHMSTREAM_IOC_LIST, &l));
	EXPECT_EQ(fit, l.count);

	/* What is left, to the page: one stream of it fits, then nothing. */
	left = budget - fit * each;
	ASSERT_LT(1UL, left);
	EXPECT_EQ(0, make(_metadata, self, 1, (left - 1) * PAGE));
	EXPECT_EQ((long)(budget * PAGE), shm_counter("pinned_bytes"));
	EXPECT_EQ(-ENOSPC, make(_metadata, self, 1, 1));

	/* All given back: the whole budget in one stream. */
	drop_all(self);
	EXPECT_EQ(0, shm_counter("pinned_bytes"));
	EXPECT_EQ(0, make(_metadata, self, 1, (budget - 1) * PAGE));
	EXPECT_EQ(-ENOSPC, make(_metadata, self, 1, 1));
}

/*
 * A budget so large that shifting it into pages or bytes overflows is no
 * limit at all: it must not wrap to a small one (2^56 MiB << 8 pages per
 * MiB wrapped to 0, and every CREATE got ENOSPC).
 */
TEST_F(lim, huge_budget_does_not_wrap)
{
	static const long huge[] = { 1L << 44, 1L << 56, LONG_MAX };

	for (unsigned int i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		ASSERT_EQ(0, shm_param_set("max_pinned_mb", huge[i]));
		EXPECT_EQ(0, make(_metadata, self, 2, 1 << 20))
			TH_LOG("max_pinned_mb=%ld refused a 2 MiB stream", huge[i]);
		/* Saturated at ULONG_MAX bytes when the shift by 20 overflows. */
		EXPECT_NE(0, shm_counter("pinned_limit_bytes"));
		drop_all(self);
	}
}

/* A budget lowered under what is pinned keeps the streams, refuses more. */
TEST_F(lim, budget_lowered_below_use)
{
	ASSERT_EQ(0, shm_param_set("max_pinned_mb", 16));
	ASSERT_EQ(0, make(_metadata, self, 4, 1 << 20));
	ASSERT_EQ(0, shm_param_set("max_pinned_mb", 2));
	EXPECT_EQ(-ENOSPC, make(_metadata, self, 1, 1));
	EXPECT_EQ(1, shm_counter("streams"));
	drop_all(self);
	EXPECT_EQ(0, make(_metadata, self, 1, 1 << 20));
}

/* Geometry at its largest works; one past it is -EINVAL; too much is -ENOSPC. */
TEST_F(lim, geometry_at_and_past_the_maximum)
{
	struct shmstream_info in;

	ASSERT_EQ(0, shm_param_set("max_pinned_mb", 300));
	EXPECT_EQ(0, make(_metadata, self, SHMSTREAM_MAX_SLOTS, 1));
	ASSERT_EQ(0, shm_info(self->fds[0], NULL, &in));
	EXPECT_EQ(SHMSTREAM_MAX_SLOTS, in.slot_count);
	EXPECT_EQ((long)(stream_pages(SHMSTREAM_MAX_SLOTS, 1) * PAGE), shm_counter("pinned_bytes"));
	EXPECT_EQ(-EINVAL, make(_metadata, self, SHMSTREAM_MAX_SLOTS + 1, 1));
	drop_all(self);

	EXPECT_EQ(0, make(_metadata, self, 1, SHMSTREAM_MAX_SLOT_SIZE));
	EXPECT_EQ((long)(stream_pages(1, SHMSTREAM_MAX_SLOT_SIZE) * PAGE),
		  shm_counter("pinned_bytes"));
	EXPECT_EQ(-EINVAL, make(_metadata, self, 1, SHMSTREAM_MAX_SLOT_SIZE + 1));
	drop_all(self);

	/* 1024 x 256 MiB: legal geometry, far past the budget. */
	EXPECT_EQ(-ENOSPC, make(_metadata, self, SHMSTREAM_MAX_SLOTS, SHMSTREAM_MAX_SLOT_SIZE));
	EXPECT_EQ(0, shm_counter("pinned_bytes"));
	EXPECT_EQ(-EINVAL, make(_metadata, self, 0, 4096));
	EXPECT_EQ(-EINVAL, make(_metadata, self, 4, 0));
}

/* Consumers up to the limit, -EUSERS past it, the count back to 0, again. */
TEST_F(lim, consumers_to_the_limit_and_again)
{
	struct shmstream_info in;
	int c[33], i, round;

	ASSERT_EQ(0, shm_param_set("max_consumers", 32));
	ASSERT_EQ(0, make(_metadata, self, 2, 4096));
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 33; i++) {
			c[i] = shm_open_dev();
			ASSERT_LE(0, c[i]);
		}
		for (i = 0; i < 32; i++)
			ASSERT_EQ(0, shm_attach(c[i], "lim-0", SHMSTREAM_ATTACH_CONSUMER));
		EXPECT_EQ(-EUSERS, shm_attach(c[32], "lim-0", SHMSTREAM_ATTACH_CONSUMER));
		ASSERT_EQ(0, shm_info(self->fd, "lim-0", &in));
		EXPECT_EQ(32, in.consumers);
		for (i = 0; i < 33; i++)
			close(c[i]);
		ASSERT_EQ(0, shm_info(self->fd, "lim-0", &in));
		EXPECT_EQ(0, in.consumers);
	}
}

/* Pending slots and holds up to max_holds, -ENOBUFS past it. */
TEST_F(lim, holds_and_pending_to_the_limit)
{
	struct shmstream_acquire a;
	struct shmstream_stats st;
	uint32_t slot[9];
	int c = shm_open_dev(), i;

	ASSERT_EQ(0, shm_param_set("max_holds", 4));
	ASSERT_EQ(0, make(_metadata, self, 8, 4096));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, shm_get_slot(self->fds[0], 0, &slot[i]));
	EXPECT_EQ(-ENOBUFS, shm_get_slot(self->fds[0], 0, &slot[4]));
	EXPECT_EQ(4, shm_counter("pending"));
	ASSERT_EQ(0, shm_attach(c, "lim-0", SHMSTREAM_ATTACH_CONSUMER));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, shm_commit(self->fds[0], slot[i], 8, NULL));
	EXPECT_EQ(0, shm_counter("pending"));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	/* A fifth frame is there to take, but four are held. */
	ASSERT_EQ(0, shm_get_slot(self->fds[0], 0, &slot[4]));
	ASSERT_EQ(0, shm_commit(self->fds[0], slot[4], 8, NULL));
	EXPECT_EQ(-ENOBUFS, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	ASSERT_EQ(0, shm_stats(c, &st));
	EXPECT_EQ(4, st.holds);
	EXPECT_EQ(4, shm_counter("holds"));
	close(c);
	EXPECT_EQ(0, shm_counter("holds"));
}

/* As a user without CAP_IPC_LOCK: RLIMIT_MEMLOCK, to the page. */
static int memlock_child(void)
{
	const unsigned long each = stream_pages(1, 64 << 10), limit = 256;
	struct rlimit rl = { limit * PAGE, limit * PAGE };
	char name[SHMSTREAM_NAME_MAX];
	int fds[64], n = 0, fd, ret;

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || shm_become(1000, 1000))
		return 100;
	for (;;) {
		fd = shm_open_dev();
		snprintf(name, sizeof(name), "lim-ml-%d", n);
		if (fd < 0 || n == 64)
			return 101;
		ret = shm_create(fd, name, 1, 64 << 10, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE);
		if (ret)
			break;
		fds[n++] = fd;
	}
	if (ret != -ENOMEM)
		return 102;
	if ((unsigned long)n != limit / each)
		return 103;
	/* One given back makes room for one. */
	close(fds[--n]);
	if (shm_create(fd, "lim-ml-y", 1, 64 << 10, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE))
		return 104;
	close(fd);
	while (n > 0)
		close(fds[--n]);
	/* All given back: the whole limit in one stream. */
	fd = shm_open_dev();
	if (shm_create(fd, "lim-ml-z", 1, (limit - 1) * PAGE, 0600,
		       SHMSTREAM_CREATE_DESTROY_ON_CLOSE))
		return 105;
	return 0;
}

TEST_F(lim, memlock_to_the_page)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(memlock_child());
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * In a memory cgroup of 32 MiB: a 64 MiB stream is -ENOMEM and the caller
 * lives on (no OOM kill: the module does not retry hard for user memory);
 * 4 MiB streams fit until the cgroup is full, then -ENOMEM; nothing is
 * left of the refused ones.
 */
static int memcg_child(void)
{
	char name[SHMSTREAM_NAME_MAX];
	int fds[16], n = 0, fd, ret;

	fd = shm_open_dev();
	ret = shm_create(fd, "lim-cg-big", 1, 64 << 20, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE);
	if (ret != -ENOMEM)
		return 110;
	if (shm_counter("streams") != 0 || shm_counter("pinned_bytes") != 0)
		return 111;
	for (;;) {
		snprintf(name, sizeof(name), "lim-cg-%d", n);
		ret = shm_create(fd, name, 1, 4 << 20, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE);
		if (ret)
			break;
		fds[n++] = fd;
		fd = shm_open_dev();
		if (n == 16)
			return 112;
	}
	if (ret != -ENOMEM || n < 1 || n > 7)
		return 113;
	if (shm_counter("streams") != n)
		return 114;
	while (n > 0)
		close(fds[--n]);
	return shm_counter("pinned_bytes") ? 115 : 0;
}

TEST_F(lim, memcg_pressure_enomem_not_oom)
{
	char pid_s[32];
	int status;
	pid_t pid;

	if (access("/sys/fs/cgroup/cgroup.subtree_control", W_OK))
		SKIP(return, "no writable cgroup v2 hierarchy at /sys/fs/cgroup");
	shm_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	rmdir(CGROUP);
	ASSERT_EQ(0, mkdir(CGROUP, 0755));
	if (shm_write_file(CGROUP "/memory.max", "32M")) {
		rmdir(CGROUP);
		SKIP(return, "no memory controller in the cgroup v2 hierarchy");
	}
	shm_write_file(CGROUP "/memory.swap.max", "0");
	ASSERT_EQ(0, shm_param_set("max_pinned_mb", 1024));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		snprintf(pid_s, sizeof(pid_s), "%d", getpid());
		if (shm_write_file(CGROUP "/cgroup.procs", pid_s))
			_exit(120);
		_exit(memcg_child());
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	rmdir(CGROUP);
	if (WIFSIGNALED(status))
		TH_LOG("killed by signal %d (the OOM killer?)", WTERMSIG(status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
