// SPDX-License-Identifier: GPL-2.0-only
/*
 * SHMSTREAM_IOC_SLOT_DMABUF (ABI 2.3): slots exported as dma-bufs, their
 * direction rules, their lifetime, and import by another driver (DRM PRIME
 * with vgem, which maps the sg_table). The V4L2 importers (vivid) are
 * tested by dmabuf_v4l2_test.c.
 */
#include <dirent.h>
#include <linux/dma-buf.h>

#include "common.h"
#include "kselftest_harness.h"

#define MODULE_REFCNT "/sys/module/shmstream/refcnt"

static int dmabuf_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return shm_ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
}

static ino_t fd_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

FIXTURE(dmabuf) {
	char name[SHMSTREAM_NAME_MAX];
	int p, c;
	struct shmstream_info in;
};

FIXTURE_SETUP(dmabuf)
{
	self->p = self->c = -1;
	if (!shm_has_feature(SHMSTREAM_FEAT_DMABUF))
		SKIP(return, "the module has no SHMSTREAM_FEAT_DMABUF (ABI < 2.3)");
	self->p = shm_open_dev();
	ASSERT_LE(0, self->p);
	ASSERT_EQ(0, shm_make_pair(self->name, "dmabuf", 4, 3 * 4096 + 100,
				   self->p, &self->c));
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
}

FIXTURE_TEARDOWN(dmabuf)
{
	if (self->c >= 0)
		close(self->c);
	if (self->p >= 0)
		close(self->p);
	EXPECT_NOTHING_LEFT();
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(0, shm_counter("dmabufs"));
}

/* Every bad argument, each with its errno, and nothing made by any. */
TEST_F(dmabuf, bad_arguments)
{
	struct shmstream_slot_dmabuf d;
	struct shmstream_stats st;
	int u = shm_open_dev();

	ASSERT_LE(0, u);
	EXPECT_EQ(-ENOTCONN, shm_slot_dmabuf(u, 0, 0, NULL));
	close(u);

	EXPECT_EQ(-EINVAL, shm_slot_dmabuf(self->p, 4, 0, NULL));
	EXPECT_EQ(-EINVAL, shm_slot_dmabuf(self->c, UINT32_MAX, 0, NULL));
	EXPECT_EQ(-EINVAL, shm_slot_dmabuf(self->c, 0, 2, NULL));
	EXPECT_EQ(-EINVAL, shm_slot_dmabuf(self->c, 0, 1u << 31, NULL));

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.reserved[1] = 1;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->c, SHMSTREAM_IOC_SLOT_DMABUF, &d));
	d.reserved[1] = 0;
	d.size = SHMSTREAM_SLOT_DMABUF_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, shm_ioctl(self->c, SHMSTREAM_IOC_SLOT_DMABUF, &d));
	EXPECT_EQ(-EFAULT, shm_ioctl(self->c, SHMSTREAM_IOC_SLOT_DMABUF,
				     (void *)16));

	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(0, st.dmabufs);
	ASSERT_EQ(0, shm_info(self->c, NULL, &self->in));
	EXPECT_EQ(0, self->in.dmabufs);
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(0, shm_counter("dmabufs"));
}

/*
 * One dma-buf per slot and file, for the file's life: the same st_ino on
 * every call, another for another slot or file; the access mode follows
 * the role; CLOEXEC on request; the counters add up.
 */
TEST_F(dmabuf, one_dmabuf_per_slot_and_file)
{
	int a, b, other, prod, c2;
	struct shmstream_stats st;
	uint64_t size = 0;

	a = shm_slot_dmabuf(self->c, 1, 0, &size);
	ASSERT_LE(0, a);
	EXPECT_EQ(self->in.slot_stride, size);
	EXPECT_EQ(4 * 4096, size);
	EXPECT_EQ(O_RDONLY, fcntl(a, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(0, fcntl(a, F_GETFD) & FD_CLOEXEC);

	b = shm_slot_dmabuf(self->c, 1, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, b);
	EXPECT_NE(a, b);
	EXPECT_EQ(fd_ino(a), fd_ino(b));
	EXPECT_EQ(FD_CLOEXEC, fcntl(b, F_GETFD) & FD_CLOEXEC);
	/* Closing every fd does not end it: the file keeps it. */
	close(a);
	close(b);
	a = shm_slot_dmabuf(self->c, 1, 0, NULL);
	ASSERT_LE(0, a);

	other = shm_slot_dmabuf(self->c, 2, 0, NULL);
	ASSERT_LE(0, other);
	EXPECT_NE(fd_ino(a), fd_ino(other));

	prod = shm_slot_dmabuf(self->p, 1, 0, &size);
	ASSERT_LE(0, prod);
	EXPECT_NE(fd_ino(a), fd_ino(prod));
	EXPECT_EQ(O_RDWR, fcntl(prod, F_GETFL) & O_ACCMODE);

	c2 = shm_open_dev();
	ASSERT_LE(0, c2);
	ASSERT_EQ(0, shm_attach(c2, self->name, SHMSTREAM_ATTACH_CONSUMER));
	b = shm_slot_dmabuf(c2, 1, 0, NULL);
	ASSERT_LE(0, b);
	EXPECT_NE(fd_ino(a), fd_ino(b));

	ASSERT_EQ(0, shm_stats(self->c, &st));
	EXPECT_EQ(2, st.dmabufs);
	ASSERT_EQ(0, shm_stats(self->p, &st));
	EXPECT_EQ(1, st.dmabufs);
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
	EXPECT_EQ(4, self->in.dmabufs);
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(4, shm_counter("dmabufs"));

	/* c2's file is gone, and so is its dma-buf once b is closed. */
	close(c2);
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
	EXPECT_EQ(4, self->in.dmabufs);
	close(b);
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
	EXPECT_EQ(3, self->in.dmabufs);
	close(a);
	close(other);
	close(prod);
}

/*
 * Zero copy both ways: the producer writes a frame through its slot's
 * dma-buf, the consumer reads it through its own, byte for byte, and sees
 * a second frame written through the producer's mmap of the ring.
 */
TEST_F(dmabuf, producer_writes_consumer_reads)
{
	size_t len = self->in.slot_stride;
	struct shmstream_acquire acq;
	uint32_t slot, bytes;
	uint8_t *pw, *cr, *ring;
	int pd, cd, round;

	ring = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	for (round = 0; round < 2; round++) {
		ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
		bytes = shm_frame_len(round + 1, self->in.slot_size);
		pd = shm_slot_dmabuf(self->p, slot, SHMSTREAM_DMABUF_CLOEXEC, NULL);
		ASSERT_LE(0, pd);
		pw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, pd, 0);
		ASSERT_NE(MAP_FAILED, pw);
		if (round == 0) {
			ASSERT_EQ(0, dmabuf_sync(pd, DMA_BUF_SYNC_START |
							     DMA_BUF_SYNC_WRITE));
			shm_fill(pw, bytes, round + 1);
			ASSERT_EQ(0, dmabuf_sync(pd, DMA_BUF_SYNC_END |
							     DMA_BUF_SYNC_WRITE));
			/* The ring's mapping shows the same pages. */
			EXPECT_EQ(0, shm_check(ring + slot * len, bytes,
					       round + 1));
		} else {
			shm_fill(ring + slot * len, bytes, round + 1);
			EXPECT_EQ(0, shm_check(pw, bytes, round + 1));
		}
		ASSERT_EQ(0, shm_commit(self->p, slot, bytes, NULL));

		ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0,
					 &acq));
		EXPECT_EQ(slot, acq.frame.slot);
		cd = shm_slot_dmabuf(self->c, acq.frame.slot, 0, NULL);
		ASSERT_LE(0, cd);
		cr = mmap(NULL, len, PROT_READ, MAP_SHARED, cd, 0);
		ASSERT_NE(MAP_FAILED, cr);
		ASSERT_EQ(0, dmabuf_sync(cd, DMA_BUF_SYNC_START |
						     DMA_BUF_SYNC_READ));
		EXPECT_EQ(0, shm_check(cr, acq.frame.bytes_used, round + 1));
		ASSERT_EQ(0, dmabuf_sync(cd, DMA_BUF_SYNC_END |
						     DMA_BUF_SYNC_READ));
		ASSERT_EQ(0, shm_release(self->c, acq.frame.slot));
		munmap(cr, len);
		munmap(pw, len);
		close(cd);
		close(pd);
	}
	munmap(ring, self->in.slot_count * len);
}

/* A consumer's dma-buf cannot be written, by mmap or by a sync for writing. */
TEST_F(dmabuf, consumer_dmabuf_is_read_only)
{
	size_t len = self->in.slot_stride;
	void *m;
	int cd;

	cd = shm_slot_dmabuf(self->c, 0, 0, NULL);
	ASSERT_LE(0, cd);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED, cd, 0));
	EXPECT_EQ(EACCES, errno);
	/* Past the fd's O_RDONLY: the module refuses too (checked below). */
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, cd, 0);
	ASSERT_NE(MAP_FAILED, m);
	EXPECT_EQ(-1, mprotect(m, len, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(m, len);
	/* A private mapping would not be the slot's: refused. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ, MAP_PRIVATE, cd, 0));
	EXPECT_EQ(EINVAL, errno);
	/* Past the end of the slot. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, len + 4096, PROT_READ, MAP_SHARED,
				   cd, 0));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-EACCES, dmabuf_sync(cd, DMA_BUF_SYNC_START |
						   DMA_BUF_SYNC_WRITE));
	EXPECT_EQ(-EACCES, dmabuf_sync(cd, DMA_BUF_SYNC_START |
						   DMA_BUF_SYNC_RW));
	EXPECT_EQ(0, dmabuf_sync(cd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
	EXPECT_EQ(0, dmabuf_sync(cd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
	close(cd);
}

/*
 * A dma-buf outlives its file, its stream's DESTROY and its name: the frame
 * stays readable, the stream and the module stay referenced, and all of it
 * goes when the last dma-buf fd and mapping do.
 */
TEST_F(dmabuf, outlives_file_and_destroy)
{
	size_t len = self->in.slot_stride;
	long refs = shm_read_long(MODULE_REFCNT);
	struct shmstream_acquire acq;
	uint32_t slot, bytes;
	uint8_t *ring, *cr;
	int cd, pd;

	ring = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	bytes = shm_frame_len(42, self->in.slot_size);
	shm_fill(ring + slot * len, bytes, 42);
	ASSERT_EQ(0, shm_commit(self->p, slot, bytes, NULL));
	munmap(ring, self->in.slot_count * len);
	ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0, &acq));
	cd = shm_slot_dmabuf(self->c, acq.frame.slot, 0, NULL);
	ASSERT_LE(0, cd);
	pd = shm_slot_dmabuf(self->p, 3, 0, NULL);
	ASSERT_LE(0, pd);
	cr = mmap(NULL, len, PROT_READ, MAP_SHARED, cd, 0);
	ASSERT_NE(MAP_FAILED, cr);
	/* The producer closes (destroy-on-close), then the consumer. */
	close(self->p);
	self->p = -1;
	close(self->c);
	self->c = -1;
	/* The two files' references on the module are now the dma-bufs'. */
	if (refs >= 0)
		EXPECT_EQ(refs, shm_read_long(MODULE_REFCNT));
	{
		int f = shm_open_dev();

		ASSERT_LE(0, f);
		EXPECT_EQ(-ENOENT, shm_attach(f, self->name,
					      SHMSTREAM_ATTACH_CONSUMER));
		close(f);
	}
	if (shm_counter("streams") >= 0) {
		EXPECT_EQ(1, shm_counter("streams"));
		EXPECT_EQ(2, shm_counter("dmabufs"));
		EXPECT_LT(0, shm_counter("pinned_bytes"));
	}
	EXPECT_EQ(0, shm_check(cr, bytes, 42));

	close(cd);
	/* The mapping keeps the dma-buf. */
	EXPECT_EQ(0, shm_check(cr, bytes, 42));
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(2, shm_counter("dmabufs"));
	munmap(cr, len);
	if (shm_counter("dmabufs") >= 0)
		EXPECT_EQ(1, shm_counter("dmabufs"));
	close(pd);
	if (refs >= 0)
		EXPECT_EQ(refs - 2, shm_read_long(MODULE_REFCNT));
}

/*
 * A dma-buf passed to another process (SCM_RIGHTS, or fork as here) is a
 * reference like any other: the child reads the frame after the parent
 * closed everything.
 */
TEST_F(dmabuf, survives_its_process)
{
	size_t len = self->in.slot_stride;
	struct shmstream_acquire acq;
	uint32_t slot, bytes;
	int cd, go[2], status;
	uint8_t *ring;
	pid_t pid;

	ring = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	bytes = shm_frame_len(7, self->in.slot_size);
	shm_fill(ring + slot * len, bytes, 7);
	ASSERT_EQ(0, shm_commit(self->p, slot, bytes, NULL));
	munmap(ring, self->in.slot_count * len);
	ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0, &acq));
	cd = shm_slot_dmabuf(self->c, acq.frame.slot, 0, NULL);
	ASSERT_LE(0, cd);
	ASSERT_EQ(0, pipe(go));

	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char c;
		uint8_t *m;

		close(go[1]);
		close(self->p);
		close(self->c);
		if (read(go[0], &c, 1) != 0)
			_exit(2);
		m = mmap(NULL, len, PROT_READ, MAP_SHARED, cd, 0);
		if (m == MAP_FAILED)
			_exit(3);
		_exit(shm_check(m, bytes, 7) ? 4 : 0);
	}
	close(go[0]);
	close(cd);
	close(self->c);
	self->c = -1;
	close(self->p);
	self->p = -1;
	close(go[1]);
	status = shm_reap(pid);
	EXPECT_EQ(0, status);
}

/* The page frame number behind @addr (root reads /proc/self/pagemap). */
static uint64_t pfn_of(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t off = (uintptr_t)addr / 4096 * 8;

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, off) != 8)
		e = 0;
	close(fd);
	return (e & (1ULL << 63)) ? e & ((1ULL << 55) - 1) : 0;
}

/*
 * SHMSTREAM_CREATE_CONTIGUOUS: every slot is one run of physical pages
 * (seen through /proc/self/pagemap, as root), INFO says so; a slot past
 * the largest block is -ENOMEM and leaves nothing behind.
 */
TEST(contiguous_slots)
{
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
	uint32_t slot, pg, runs = 0;
	uint8_t *m;
	int p;

	if (!shm_has_feature(SHMSTREAM_FEAT_DMABUF))
		SKIP(return, "the module has no SHMSTREAM_FEAT_DMABUF (ABI < 2.3)");
	p = shm_open_dev();
	ASSERT_LE(0, p);
	shm_name(name, "contig");
	EXPECT_EQ(-ENOMEM, shm_create(p, name, 2, 64 << 20, 0600,
				      SHMSTREAM_CREATE_DESTROY_ON_CLOSE |
					      SHMSTREAM_CREATE_CONTIGUOUS));
	if (shm_counter("streams") >= 0) {
		EXPECT_EQ(0, shm_counter("streams"));
		EXPECT_EQ(0, shm_counter("pinned_bytes"));
	}
	ASSERT_EQ(0, shm_create(p, name, 4, 5 * 4096 + 1, 0600,
				SHMSTREAM_CREATE_DESTROY_ON_CLOSE |
					SHMSTREAM_CREATE_CONTIGUOUS));
	ASSERT_EQ(0, shm_info(p, NULL, &in));
	EXPECT_TRUE(in.state & SHMSTREAM_STATE_CONTIGUOUS);
	EXPECT_EQ(6 * 4096, in.slot_stride);
	m = shm_map_slots(p, &in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, m);
	for (slot = 0; slot < 4; slot++) {
		uint8_t *base = m + slot * in.slot_stride;
		uint64_t first;

		base[0] = 1;
		for (pg = 1; pg < 6; pg++)
			base[pg * 4096] = 1;
		first = pfn_of(base);
		if (!first)
			continue; /* not root: no PFNs */
		runs++;
		for (pg = 1; pg < 6; pg++)
			EXPECT_EQ(first + pg, pfn_of(base + pg * 4096));
	}
	munmap(m, in.slot_count * in.slot_stride);
	close(p);
	if (!runs)
		SKIP(return, "no page frame numbers in /proc/self/pagemap (not root)");

	/* Without the flag, no such state. */
	p = shm_open_dev();
	ASSERT_LE(0, p);
	ASSERT_EQ(0, shm_create(p, name, 2, 4096, 0600,
				SHMSTREAM_CREATE_DESTROY_ON_CLOSE));
	ASSERT_EQ(0, shm_info(p, NULL, &in));
	EXPECT_FALSE(in.state & SHMSTREAM_STATE_CONTIGUOUS);
	close(p);
	EXPECT_NOTHING_LEFT();
}

/* DRM PRIME: vgem imports the producer's dma-buf; a consumer's is refused. */

/*
 * The DRM ioctls this test uses, from the kernel's include/uapi/drm/drm.h
 * and drm_mode.h (stable ABI), which Debian ships in libdrm-dev only.
 */
struct t_drm_version {
	int major, minor, patchlevel;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};

struct t_drm_prime_handle {
	uint32_t handle, flags;
	int32_t fd;
};

struct t_drm_gem_close {
	uint32_t handle, pad;
};

#define T_DRM_IOCTL_VERSION _IOWR('d', 0x00, struct t_drm_version)
#define T_DRM_IOCTL_GEM_CLOSE _IOW('d', 0x09, struct t_drm_gem_close)
#define T_DRM_IOCTL_PRIME_HANDLE_TO_FD _IOWR('d', 0x2d, struct t_drm_prime_handle)
#define T_DRM_IOCTL_PRIME_FD_TO_HANDLE _IOWR('d', 0x2e, struct t_drm_prime_handle)

/* An open vgem device, loading the module if need be; -1 when none. */
static int open_vgem(void)
{
	char path[300], name[16];
	struct dirent *de;
	int i, fd;
	DIR *d;

	for (i = 0; i < 2; i++) {
		d = opendir("/dev/dri");
		while (d && (de = readdir(d))) {
			struct t_drm_version v = { .name_len = sizeof(name) - 1,
						   .name = name };

			if (strncmp(de->d_name, "card", 4))
				continue;
			snprintf(path, sizeof(path), "/dev/dri/%s", de->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				continue;
			memset(name, 0, sizeof(name));
			if (!ioctl(fd, T_DRM_IOCTL_VERSION, &v) &&
			    !strcmp(name, "vgem")) {
				closedir(d);
				return fd;
			}
			close(fd);
		}
		if (d)
			closedir(d);
		if (i == 0 && system("modprobe vgem 2>/dev/null"))
			break;
	}
	return -1;
}

/*
 * vgem imports the producer's dma-buf: it attaches and maps the sg_table
 * (bidirectional) at once, which the module counts (up to 6.x); DRM keeps our dma-buf
 * (the handle exports the same one again). DRM does not let user space
 * mmap an imported object (drm_gem_dumb_map_offset() refuses), so the
 * bytes are checked through the V4L2 importers (dmabuf_v4l2_test.c). A consumer's
 * dma-buf is refused: bidirectional includes the device writing.
 */
TEST_F(dmabuf, vgem_prime_import)
{
	struct shmstream_acquire acq;
	struct t_drm_prime_handle ph;
	struct t_drm_gem_close gc;
	long maps = shm_counter("dmabuf_maps");
	uint32_t slot;
	int vgem, pd, cd;
	bool lazy;

	vgem = open_vgem();
	if (vgem < 0)
		SKIP(return, "no vgem driver (CONFIG_DRM_VGEM) in this kernel");

	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	pd = shm_slot_dmabuf(self->p, slot, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, pd);
	memset(&ph, 0, sizeof(ph));
	ph.fd = pd;
	ASSERT_EQ(0, shm_ioctl(vgem, T_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph));
	/*
	 * Newer kernels (7.x) import into vgem without mapping the sg_table
	 * until a device access needs it, which vgem never has: then nothing
	 * is mapped, and a consumer's dma-buf imports the same way (it would
	 * be refused at the first mapping for writing).
	 */
	lazy = maps >= 0 && shm_counter("dmabuf_maps") == maps;
	if (lazy)
		TH_LOG("this kernel's vgem imports without mapping the sg_table");
	gc.handle = ph.handle;
	gc.pad = 0;
	memset(&ph, 0, sizeof(ph));
	ph.handle = gc.handle;
	ph.flags = O_CLOEXEC;
	ph.fd = -1;
	ASSERT_EQ(0, shm_ioctl(vgem, T_DRM_IOCTL_PRIME_HANDLE_TO_FD, &ph));
	EXPECT_EQ(fd_ino(pd), fd_ino(ph.fd));
	close(ph.fd);
	ASSERT_EQ(0, shm_commit(self->p, slot, 64, NULL));

	/* The consumer holds the frame; vgem may not import its dma-buf. */
	ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0, &acq));
	cd = shm_slot_dmabuf(self->c, acq.frame.slot, SHMSTREAM_DMABUF_CLOEXEC,
			 NULL);
	ASSERT_LE(0, cd);
	memset(&ph, 0, sizeof(ph));
	ph.fd = cd;
	if (lazy) {
		struct t_drm_gem_close cc = { 0 };

		ASSERT_EQ(0, shm_ioctl(vgem, T_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph));
		EXPECT_EQ(maps, shm_counter("dmabuf_maps"));
		cc.handle = ph.handle;
		EXPECT_EQ(0, shm_ioctl(vgem, T_DRM_IOCTL_GEM_CLOSE, &cc));
	} else {
		EXPECT_EQ(-EACCES, shm_ioctl(vgem, T_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph));
		if (maps >= 0)
			EXPECT_EQ(maps + 1, shm_counter("dmabuf_maps"));
	}
	ASSERT_EQ(0, shm_release(self->c, acq.frame.slot));

	/* Closing the handle frees the import: the mapping goes. */
	EXPECT_EQ(0, shm_ioctl(vgem, T_DRM_IOCTL_GEM_CLOSE, &gc));
	if (maps >= 0)
		EXPECT_EQ(maps, shm_counter("dmabuf_maps"));
	close(vgem);
	close(cd);
	close(pd);
}

TEST_HARNESS_MAIN
