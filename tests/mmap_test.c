// SPDX-License-Identifier: GPL-2.0-only
/*
 * mmap rules: who may write, exact offsets and lengths, and mappings that
 * outlive close() and DESTROY.
 */
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define CONS SHMSTREAM_ATTACH_CONSUMER
#define NEXT SHMSTREAM_ACQUIRE_NEXT

FIXTURE(m) {
	int p, c;
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
};

FIXTURE_SETUP(m)
{
	self->p = shm_open_dev();
	if (self->p < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	ASSERT_EQ(0, shm_make_pair(self->name, "m", 3, 5000, self->p, &self->c));
	ASSERT_EQ(0, shm_info(self->c, NULL, &self->in));
}

FIXTURE_TEARDOWN(m)
{
	if (self->p < 0)
		return;
	close(self->c);
	close(self->p);
	/* Nothing this test made may outlive it. */
	EXPECT_NOTHING_LEFT();
}

static int map_err(int fd, size_t len, int prot, int flags, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

TEST_F(m, consumer_cannot_write)
{
	size_t len = self->in.slot_stride;
	uint8_t *p;

	EXPECT_EQ(-EACCES, map_err(self->c, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->in.slots_offset));
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, self->c, self->in.slots_offset);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, len, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, len);
	/* The producer may write slots. */
	EXPECT_EQ(0, map_err(self->p, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			     self->in.slots_offset));
}

TEST_F(m, control_area_read_only_for_all)
{
	EXPECT_EQ(-EACCES, map_err(self->p, self->in.ctrl_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, 0));
	EXPECT_EQ(0, map_err(self->p, self->in.ctrl_size, PROT_READ, MAP_SHARED, 0));
}

TEST_F(m, wrong_offset_or_length_einval)
{
	size_t pg = getpagesize(), st = self->in.slot_stride;
	off_t s0 = self->in.slots_offset;

	EXPECT_EQ(-EINVAL, map_err(self->c, pg, PROT_READ, MAP_SHARED, s0 + pg));
	EXPECT_EQ(-EINVAL, map_err(self->c, st - pg, PROT_READ, MAP_SHARED, s0));
	EXPECT_EQ(-EINVAL, map_err(self->c, st * 4, PROT_READ, MAP_SHARED, s0));
	EXPECT_EQ(-EINVAL, map_err(self->c, st, PROT_READ, MAP_SHARED, s0 + 3 * st));
	EXPECT_EQ(-EINVAL, map_err(self->c, self->in.ctrl_size + st, PROT_READ,
				   MAP_SHARED, 0));
	EXPECT_EQ(-EINVAL, map_err(self->c, st, PROT_READ, MAP_PRIVATE, s0));
	/* Every whole-slot range is fine. */
	EXPECT_EQ(0, map_err(self->c, 2 * st, PROT_READ, MAP_SHARED, s0 + st));
	int u = shm_open_dev();

	EXPECT_EQ(-ENOTCONN, map_err(u, pg, PROT_READ, MAP_SHARED, 0));
	close(u);
}

TEST_F(m, mapping_outlives_close_and_destroy)
{
	struct shmstream_acquire a;
	size_t len = self->in.slot_count * self->in.slot_stride;
	uint8_t *map, buf[4000];

	shm_fill(buf, sizeof(buf), 9);
	ASSERT_EQ(sizeof(buf), write(self->p, buf, sizeof(buf)));
	map = shm_map_slots(self->c, &self->in, PROT_READ);
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_EQ(1, shm_counter("mappings"));
	close(self->p);
	close(self->c);
	self->p = shm_open_dev();
	self->c = shm_open_dev();
	/* Name gone, files gone: the mapping still reads the frame. */
	EXPECT_EQ(-ENOENT, shm_attach(self->c, self->name, CONS));
	EXPECT_EQ(1, shm_counter("streams"));
	EXPECT_EQ(0, shm_check(map + a.frame.slot * self->in.slot_stride, sizeof(buf), 9));
	munmap(map, len);
	EXPECT_EQ(0, shm_counter("streams"));
}

TEST_F(m, forked_child_reads_parent_mapping)
{
	struct shmstream_acquire a;
	uint8_t *map, buf[3000];
	pid_t pid;
	int status;

	shm_fill(buf, sizeof(buf), 5);
	ASSERT_EQ(sizeof(buf), write(self->p, buf, sizeof(buf)));
	map = shm_map_slots(self->c, &self->in, PROT_READ);
	ASSERT_NE(NULL, map);
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(shm_check(map + a.frame.slot * self->in.slot_stride, sizeof(buf), 5) ? 1 : 0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	munmap(map, self->in.slot_count * self->in.slot_stride);
}

/*
 * An O_RDONLY file can be a consumer: attach, map the control area and the
 * slots (do_mmap() clears VM_SHARED for it, VM_MAYSHARE stays) and acquire.
 * Producing is writing: CREATE and ATTACH of a producer need write access.
 */
TEST_F(m, rdonly_file_consumes_and_maps)
{
	int r = open(SHMSTREAM_DEV, O_RDONLY | O_CLOEXEC);
	struct shmstream_acquire a;
	uint8_t *pmap, *cmap;
	const struct shmstream_ctrl *ctrl;
	size_t len = self->in.slot_count * self->in.slot_stride;

	ASSERT_LE(0, r);
	ASSERT_EQ(0, shm_attach(r, self->name, CONS));
	ctrl = mmap(NULL, self->in.ctrl_size, PROT_READ, MAP_SHARED, r, 0);
	ASSERT_NE(MAP_FAILED, ctrl);
	EXPECT_EQ(SHMSTREAM_CTRL_MAGIC, ctrl->magic);
	cmap = mmap(NULL, len, PROT_READ, MAP_SHARED, r, self->in.slots_offset);
	ASSERT_NE(MAP_FAILED, cmap);
	/* Still never writable, and still never private. */
	EXPECT_EQ(-EACCES, map_err(r, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->in.slots_offset));
	EXPECT_EQ(-EINVAL, map_err(r, len, PROT_READ, MAP_PRIVATE, self->in.slots_offset));
	pmap = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, pmap);
	ASSERT_EQ(0, shm_produce(self->p, pmap, &self->in, 41, 0, NULL));
	ASSERT_EQ(0, shm_acquire(r, NEXT, 0, &a));
	EXPECT_EQ(0, shm_check(cmap + a.frame.slot * self->in.slot_stride,
			       a.frame.bytes_used, 41));
	EXPECT_EQ(a.frame.seq, ctrl->head_seq);
	EXPECT_EQ(0, shm_release(r, a.frame.slot));
	munmap(pmap, len);
	munmap(cmap, len);
	munmap((void *)ctrl, self->in.ctrl_size);
	close(r);
}

TEST_F(m, rdonly_file_cannot_produce_ebadf)
{
	char name[SHMSTREAM_NAME_MAX];
	int r = open(SHMSTREAM_DEV, O_RDONLY | O_CLOEXEC);
	int w = open(SHMSTREAM_DEV, O_WRONLY | O_CLOEXEC);

	ASSERT_LE(0, r);
	ASSERT_LE(0, w);
	shm_name(name, "ro");
	EXPECT_EQ(-EBADF, shm_create(r, name, 1, 100, 0600,
				     SHMSTREAM_CREATE_DESTROY_ON_CLOSE));
	/* Nothing was created by the refusal. */
	EXPECT_EQ(-ENOENT, shm_attach(r, name, CONS));
	/* Before anything else: not -EBUSY for the role being taken. */
	EXPECT_EQ(-EBADF, shm_attach(r, self->name, SHMSTREAM_ATTACH_PRODUCER));
	/* It may still consume. */
	EXPECT_EQ(0, shm_attach(r, self->name, CONS));
	/* Write access is what counts: O_WRONLY may create and produce. */
	EXPECT_EQ(0, shm_create(w, name, 1, 100, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE));
	EXPECT_EQ(0, shm_get_slot(w, 0, NULL));
	close(w);
	close(r);
}

TEST_HARNESS_MAIN
