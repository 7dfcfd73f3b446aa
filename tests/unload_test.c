// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unloading: refused while a file or a mapping is open, clean after, and
 * the module loads again. Needs SHMSTREAM_KO (the module to reload), set
 * by the guest runner; SKIPs otherwise. Runs last.
 */
#include <sys/syscall.h>

#include "common.h"

#include "kselftest_harness.h"

static int unload(void)
{
	return syscall(SYS_delete_module, "shmstream", O_NONBLOCK) ? -errno : 0;
}

static int load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

/* The module to load again (SHMSTREAM_KO) and a file of the loaded one. */
FIXTURE(unload) {
	const char *ko;
	int fd;
};

FIXTURE_SETUP(unload)
{
	self->ko = getenv("SHMSTREAM_KO");
	self->fd = -1;
	if (!self->ko)
		SKIP(return, "SHMSTREAM_KO not set (run in the guest runner)");
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
}

/* Each test closes the file itself: the module goes with it. */
FIXTURE_TEARDOWN(unload)
{
}

TEST_F(unload, refused_in_use_clean_after)
{
	if (_metadata->skip)
		return; /* the setup skipped */
	const char *ko = self->ko;
	struct shmstream_info in;
	int fd = self->fd;
	void *map;

	ASSERT_EQ(0, shm_create(fd, "t-unload", 2, 4096, 0600, 0));
	ASSERT_EQ(0, shm_info(fd, NULL, &in));
	map = mmap(NULL, in.ctrl_size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_EQ(-EWOULDBLOCK, unload());
	close(fd);
	/* The mapping still holds the file, and so the module. */
	EXPECT_EQ(-EWOULDBLOCK, unload());
	munmap(map, in.ctrl_size);
	/* The named stream does not pin it: unloading frees it. */
	EXPECT_EQ(0, unload());
	EXPECT_NE(0, access(SHMSTREAM_DEV, F_OK));
	ASSERT_EQ(0, load(ko));
	fd = shm_open_dev();
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOENT, shm_attach(fd, "t-unload", SHMSTREAM_ATTACH_CONSUMER));
	EXPECT_EQ(0, shm_counter("streams"));
	close(fd);
}

/*
 * A slot's dma-buf holds the module (ABI 2.3): unloading is refused while
 * one exists, past its file, its mapping and its stream's DESTROY; its
 * mapping stays readable; it goes when the dma-buf does.
 */
TEST_F(unload, refused_while_a_dmabuf_lives)
{
	if (_metadata->skip)
		return; /* the setup skipped */
	struct shmstream_slot_dmabuf d = { .size = sizeof(d), .slot = 1,
					   .flags = SHMSTREAM_DMABUF_CLOEXEC };
	struct shmstream_version v = { .size = sizeof(v) };
	const char *ko = self->ko;
	struct shmstream_info in;
	int fd = self->fd;
	uint8_t *ring, *m;

	ASSERT_EQ(0, shm_ioctl(fd, SHMSTREAM_IOC_VERSION, &v));
	if (!(v.features & SHMSTREAM_FEAT_DMABUF)) {
		close(fd);
		SKIP(return, "the module has no SHMSTREAM_FEAT_DMABUF (ABI < 2.3)");
	}
	ASSERT_EQ(0, shm_create(fd, "t-unload-dmabuf", 2, 4096, 0600, 0));
	ASSERT_EQ(0, shm_info(fd, NULL, &in));
	ring = shm_map_slots(fd, &in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	shm_fill(ring + in.slot_stride, 4096, 99);
	munmap(ring, in.slot_count * in.slot_stride);
	ASSERT_EQ(0, shm_ioctl(fd, SHMSTREAM_IOC_SLOT_DMABUF, &d));
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, d.fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, shm_destroy(fd, "t-unload-dmabuf"));
	close(fd);
	EXPECT_EQ(-EWOULDBLOCK, unload());
	munmap(m, 4096);
	EXPECT_EQ(-EWOULDBLOCK, unload());
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, d.fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(0, shm_check(m, 4096, 99));
	munmap(m, 4096);
	EXPECT_EQ(1, shm_counter("dmabufs"));
	EXPECT_EQ(1, shm_counter("streams"));
	close(d.fd);
	EXPECT_EQ(0, shm_counter("dmabufs"));
	EXPECT_EQ(0, shm_counter("streams"));
	EXPECT_EQ(0, unload());
	ASSERT_EQ(0, load(ko));
}

TEST_HARNESS_MAIN
