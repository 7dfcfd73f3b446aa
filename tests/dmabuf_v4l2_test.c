// SPDX-License-Identifier: GPL-2.0-only
/*
 * Slot dma-bufs imported by V4L2 (ABI 2.3), with the kernel's vivid
 * driver: the direction rule as a device sees it.
 *
 * vivid is loaded with vb2-dma-contig queues (allocators=1), which attach
 * and map an imported dma-buf for the queue's direction, and an HDMI input
 * and output, which vivid can loop: the capture device then shows the
 * frames queued on the output device. dma-contig needs each buffer in one
 * contiguous block, so the streams are made SHMSTREAM_CREATE_CONTIGUOUS.
 *   - capture (the device writes): a consumer's slot is refused, the
 *     producer's pending slot is accepted and filled;
 *   - output (the device reads): a consumer's slot (a frame it holds) is
 *     accepted, and the looped capture shows that frame, byte for byte.
 * The vb2-vmalloc queues (vivid's default), which map by vmap alone, are
 * covered by tools_test.sh (ingest-v4l2 --io dmabuf) and gst_test.sh.
 */
#include <dirent.h>
#include <poll.h>
#include <sys/utsname.h>
#include <linux/videodev2.h>

#include "common.h"
#include "kselftest_harness.h"

#define VIVID_ARGS                                                         \
	"n_devs=1 node_types=0x101 num_inputs=1 input_types=0x3 "         \
	"num_outputs=1 output_types=0x1"

/* The vivid node whose name ends with @suffix, opened; -1 when none. */
static int open_vivid(const char *suffix)
{
	char path[300], name[64];
	struct dirent *de;
	int fd = -1;
	DIR *d = opendir("/sys/class/video4linux");

	while (d && fd < 0 && (de = readdir(d))) {
		FILE *f;
		size_t n;

		if (strncmp(de->d_name, "video", 5))
			continue;
		snprintf(path, sizeof(path), "/sys/class/video4linux/%s/name",
			 de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(name, 1, sizeof(name) - 1, f);
		fclose(f);
		name[n] = 0;
		name[strcspn(name, "\n")] = 0;
		if (strncmp(name, "vivid-", 6) || strlen(name) < strlen(suffix) ||
		    strcmp(name + strlen(name) - strlen(suffix), suffix))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	}
	if (d)
		closedir(d);
	return fd;
}

/*
 * Set the menu control whose name ends with @name to its item whose name
 * starts with @item.
 */
static int set_menu_by_name(int fd, const char *name, const char *item)
{
	struct v4l2_query_ext_ctrl q = { .id = V4L2_CTRL_FLAG_NEXT_CTRL };
	size_t n = strlen(name);

	while (!ioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q)) {
		size_t len = strlen(q.name);

		if (q.type == V4L2_CTRL_TYPE_MENU && len >= n &&
		    !strcmp(q.name + len - n, name)) {
			struct v4l2_querymenu m = { .id = q.id };
			struct v4l2_control c = { .id = q.id };

			for (m.index = q.minimum; m.index <= q.maximum; m.index++)
				if (!ioctl(fd, VIDIOC_QUERYMENU, &m) &&
				    !strncmp((char *)m.name, item, strlen(item))) {
					c.value = m.index;
					return shm_ioctl(fd, VIDIOC_S_CTRL, &c);
				}
			return -ENOENT;
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
	}
	return -ENOENT;
}

/* Set the control named @name (vivid's private ones have no fixed id). */
static int set_ctrl_by_name(int fd, const char *name, int64_t value)
{
	struct v4l2_query_ext_ctrl q = { .id = V4L2_CTRL_FLAG_NEXT_CTRL };

	while (!ioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q)) {
		if (!strcmp(q.name, name)) {
			struct v4l2_ext_control c = { .id = q.id, .value64 = value };
			struct v4l2_ext_controls cs = { .which = V4L2_CTRL_WHICH_CUR_VAL,
							.count = 1, .controls = &c };

			if (q.type != V4L2_CTRL_TYPE_INTEGER64)
				c.value = (int32_t)value;
			return shm_ioctl(fd, VIDIOC_S_EXT_CTRLS, &cs);
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
	}
	return -ENOENT;
}

static int reqbufs(int fd, uint32_t type, uint32_t memory, uint32_t count)
{
	struct v4l2_requestbuffers r = { .count = count, .type = type,
					 .memory = memory };

	return shm_ioctl(fd, VIDIOC_REQBUFS, &r);
}

static int qbuf_dmabuf(int fd, uint32_t type, uint32_t index, int dmabuf,
		       uint32_t length, uint32_t bytesused)
{
	struct v4l2_buffer b = { .index = index, .type = type,
				 .memory = V4L2_MEMORY_DMABUF,
				 .length = length, .bytesused = bytesused,
				 .field = V4L2_FIELD_NONE };

	b.m.fd = dmabuf;
	return shm_ioctl(fd, VIDIOC_QBUF, &b);
}

/*
 * vivid on 5.10 never completes a DMABUF buffer, of a dma-contig or a
 * vmalloc queue (MMAP buffers of the same queues do): a wait for one ends after
 * DQBUF_PATIENCE there, and the test SKIPs with that reason. Newer kernels
 * complete them within a frame; there the same wait failing is a FAIL.
 */
#define DQBUF_PATIENCE (20 * SEC)

static int old_vivid(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major < 5 || (major == 5 && minor < 15);
}

/* DQBUF, waiting up to @patience for it. */
static int dqbuf_wait(int fd, uint32_t type, uint32_t memory,
		      struct v4l2_buffer *b, int64_t patience)
{
	struct pollfd p = { .fd = fd,
			    .events = type == V4L2_BUF_TYPE_VIDEO_OUTPUT ?
					      POLLOUT : POLLIN };
	int ret;

	memset(b, 0, sizeof(*b));
	b->type = type;
	b->memory = memory;
	for (;;) {
		ret = shm_ioctl(fd, VIDIOC_DQBUF, b);
		if (ret != -EAGAIN)
			return ret;
		if (poll(&p, 1, patience / MS) <= 0)
			return -ETIMEDOUT;
	}
}

static int dqbuf(int fd, uint32_t type, uint32_t memory, struct v4l2_buffer *b)
{
	return dqbuf_wait(fd, type, memory, b, SHM_PATIENCE);
}

/*
 * STREAMON @fd's capture queue (its DMABUF buffer queued) and DQBUF the
 * first buffer into @b: 0 or -errno. vivid before 5.15 completes no DMABUF
 * buffer: there, after DQBUF_PATIENCE, the queue is stopped and its buffer
 * freed, and -ETIMEDOUT is for the caller to SKIP on.
 */
static int capture_first(int fd, struct v4l2_buffer *b)
{
	int ret = shm_ioctl(fd, VIDIOC_STREAMON, &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE });

	if (ret)
		return ret;
	ret = dqbuf_wait(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_DMABUF, b,
			 old_vivid() ? DQBUF_PATIENCE : SHM_PATIENCE);
	if (ret == -ETIMEDOUT && old_vivid()) {
		shm_ioctl(fd, VIDIOC_STREAMOFF, &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE });
		reqbufs(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_DMABUF, 0);
	}
	return ret;
}

FIXTURE(vivid) {
	int cap, out;
	struct v4l2_format fmt; /* the capture format; output set the same */
	int p, c;
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
};

static void vivid_open(struct __test_metadata *_metadata,
			struct _test_data_vivid *self, const char *args,
			uint32_t create_flags);
static void vivid_close(struct __test_metadata *_metadata,
			   struct _test_data_vivid *self);

FIXTURE_SETUP(vivid)
{
	vivid_open(_metadata, self, VIVID_ARGS " allocators=1",
		    SHMSTREAM_CREATE_CONTIGUOUS);
}

FIXTURE_TEARDOWN(vivid)
{
	vivid_close(_metadata, self);
}

/* vivid's default allocator: vb2-vmalloc queues; a plain stream. */
FIXTURE(vivid_vmalloc) {
	struct _test_data_vivid v;
};

FIXTURE_SETUP(vivid_vmalloc)
{
	vivid_open(_metadata, &self->v, VIVID_ARGS, 0);
}

FIXTURE_TEARDOWN(vivid_vmalloc)
{
	vivid_close(_metadata, &self->v);
}

static void vivid_open(struct __test_metadata *_metadata,
			struct _test_data_vivid *self, const char *args,
			uint32_t create_flags)
{
	char cmd[256];

	self->cap = self->out = self->p = self->c = -1;
	if (!shm_has_feature(SHMSTREAM_FEAT_DMABUF))
		SKIP(return, "the module has no SHMSTREAM_FEAT_DMABUF (ABI < 2.3)");
	snprintf(cmd, sizeof(cmd),
		 "modprobe -r vivid 2>/dev/null; modprobe vivid %s 2>/dev/null",
		 args);
	if (system(cmd))
		SKIP(return, "no vivid driver (CONFIG_VIDEO_VIVID) in this kernel");
	self->cap = open_vivid("vid-cap");
	self->out = open_vivid("vid-out");
	ASSERT_LE(0, self->cap);
	ASSERT_LE(0, self->out);

	/* The output takes the capture's format, for the loop. */
	self->fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_G_FMT, &self->fmt));
	ASSERT_EQ(V4L2_FIELD_NONE, self->fmt.fmt.pix.field);
	{
		struct v4l2_format of = self->fmt;

		of.type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
		ASSERT_EQ(0, shm_ioctl(self->out, VIDIOC_S_FMT, &of));
		ASSERT_EQ(self->fmt.fmt.pix.sizeimage, of.fmt.pix.sizeimage);
	}
	TH_LOG("vivid: %ux%u, %u bytes a frame", self->fmt.fmt.pix.width,
	       self->fmt.fmt.pix.height, self->fmt.fmt.pix.sizeimage);

	self->p = shm_open_dev();
	ASSERT_LE(0, self->p);
	shm_name(self->name, "v4l2");
	ASSERT_EQ(0, shm_create(self->p, self->name, 4,
				self->fmt.fmt.pix.sizeimage, 0600,
				SHMSTREAM_CREATE_DESTROY_ON_CLOSE |
					create_flags));
	self->c = shm_open_dev();
	ASSERT_LE(0, self->c);
	ASSERT_EQ(0, shm_attach(self->c, self->name, SHMSTREAM_ATTACH_CONSUMER));
	ASSERT_EQ(0, shm_info(self->p, NULL, &self->in));
}

static void vivid_close(struct __test_metadata *_metadata,
			   struct _test_data_vivid *self)
{
	if (self->cap >= 0)
		close(self->cap);
	if (self->out >= 0)
		close(self->out);
	if (self->c >= 0)
		close(self->c);
	if (self->p >= 0)
		close(self->p);
	if (system("modprobe -r vivid 2>/dev/null"))
		TH_LOG("vivid did not unload");
	EXPECT_NOTHING_LEFT();
	if (shm_counter("dmabufs") >= 0) {
		EXPECT_EQ(0, shm_counter("dmabufs"));
		EXPECT_EQ(0, shm_counter("dmabuf_maps"));
	}
}

/*
 * Capture, where the device writes: the consumer's slot is refused (vb2
 * asks to map it DMA_FROM_DEVICE), the producer's pending slot, the same
 * size in the same stream, is accepted and holds vivid's frame after DQBUF.
 */
TEST_F_TIMEOUT(vivid, capture_refuses_a_consumers_slot, 180)
{
	if (_metadata->skip)
		return; /* vivid_open() skipped */
	uint32_t size = self->fmt.fmt.pix.sizeimage, slot, i, nonzero = 0;
	long maps = shm_counter("dmabuf_maps");
	struct v4l2_buffer b;
	uint8_t *ring;
	int cd, pd, ret;

	ASSERT_EQ(0, reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 1));
	cd = shm_slot_dmabuf(self->c, 0, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, cd);
	ret = qbuf_dmabuf(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, cd, size,
			  0);
	EXPECT_NE(0, ret);
	TH_LOG("QBUF of a consumer's slot on a capture queue: %s",
	       strerror(-ret));
	if (maps >= 0)
		EXPECT_EQ(maps, shm_counter("dmabuf_maps"));
	/* A fresh queue for the producer's slot. */
	ASSERT_EQ(0, reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 0));
	ASSERT_EQ(0, reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 1));

	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	pd = shm_slot_dmabuf(self->p, slot, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, pd);
	ASSERT_EQ(0, qbuf_dmabuf(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, pd,
				 size, 0));
	if (maps >= 0)
		EXPECT_EQ(maps + 1, shm_counter("dmabuf_maps"));
	ret = capture_first(self->cap, &b);
	if (ret == -ETIMEDOUT && old_vivid()) {
		shm_commit(self->p, slot, 0, NULL);
		close(pd);
		close(cd);
		SKIP(return, "this kernel's vivid completes no DMABUF buffer of a queue (the refusal above passed)");
	}
	ASSERT_EQ(0, ret);
	EXPECT_EQ(size, b.bytesused);
	EXPECT_EQ(0, shm_ioctl(self->cap, VIDIOC_STREAMOFF,
			       &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE }));
	EXPECT_EQ(0, reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 0));
	if (maps >= 0)
		EXPECT_EQ(maps, shm_counter("dmabuf_maps"));

	/* vivid drew its test pattern into the slot: the pages were zero. */
	ring = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	for (i = 0; i < size; i++)
		nonzero += ring[slot * self->in.slot_stride + i] != 0;
	EXPECT_LT(size / 2, nonzero);
	EXPECT_EQ(0, shm_commit(self->p, slot, b.bytesused, NULL));
	munmap(ring, self->in.slot_count * self->in.slot_stride);
	close(pd);
	close(cd);
}

/*
 * Output, where the device reads: the consumer's slot, holding a frame, is
 * accepted; with vivid's loop on, the capture device shows that frame.
 */
TEST_F_TIMEOUT(vivid, output_shows_a_consumers_frame, 180)
{
	if (_metadata->skip)
		return; /* vivid_open() skipped */
	uint32_t size = self->fmt.fmt.pix.sizeimage, slot, i, got = 0, outs = 0;
	uint32_t starts;
	struct shmstream_acquire acq;
	struct v4l2_buffer b;
	uint8_t *ring, *cm[2];
	int cd, ret;

	/*
	 * The loop: a "Loop Video" control until 6.8 or so, then a menu of
	 * what each HDMI input is connected to.
	 */
	ret = set_ctrl_by_name(self->cap, "Loop Video", 1);
	if (ret == -ENOENT)
		ret = set_menu_by_name(self->cap, " Is Connected To",
				       "Output HDMI");
	ASSERT_EQ(0, ret);
	/* No text over the looped picture. */
	ASSERT_EQ(0, set_ctrl_by_name(self->cap, "OSD Text Mode", 2));

	/* A frame of noise in a slot, committed, held by the consumer. */
	ring = shm_map_slots(self->p, &self->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	shm_fill(ring + slot * self->in.slot_stride, size, 1234);
	ASSERT_EQ(0, shm_commit(self->p, slot, size, NULL));
	ASSERT_EQ(0, shm_acquire(self->c, SHMSTREAM_ACQUIRE_NEXT, 0, &acq));
	cd = shm_slot_dmabuf(self->c, acq.frame.slot, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, cd);

	ASSERT_EQ(0, reqbufs(self->out, V4L2_BUF_TYPE_VIDEO_OUTPUT,
			     V4L2_MEMORY_DMABUF, 1));
	ASSERT_EQ(0, qbuf_dmabuf(self->out, V4L2_BUF_TYPE_VIDEO_OUTPUT, 0, cd,
				 size, size));
	ASSERT_EQ(0, shm_ioctl(self->out, VIDIOC_STREAMON,
			       &(int){ V4L2_BUF_TYPE_VIDEO_OUTPUT }));

	/*
	 * Capture with vivid's own buffers, until one shows the frame. vivid
	 * decides whether the capture loops at its STREAMON; since 6.8 or so
	 * the connection set above takes effect in a work item of vivid's,
	 * which a loaded guest may run after that STREAMON (the capture then
	 * shows the test pattern for as long as it streams: 5 runs in 40 on
	 * 7.2 under TCG). A capture that showed no looped frame is restarted.
	 */
	{
		struct v4l2_requestbuffers r = {
			.count = 2, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
			.memory = V4L2_MEMORY_MMAP
		};

		ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_REQBUFS, &r));
		ASSERT_EQ(2, r.count);
	}
	for (i = 0; i < 2; i++) {
		struct v4l2_buffer qb = { .index = i,
					  .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = V4L2_MEMORY_MMAP };

		ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_QUERYBUF, &qb));
		cm[i] = mmap(NULL, qb.length, PROT_READ, MAP_SHARED, self->cap,
			     qb.m.offset);
		ASSERT_NE(MAP_FAILED, cm[i]);
	}
	for (starts = 0; starts < 4 && !got; starts++) {
		if (starts) {
			ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_STREAMOFF,
					       &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE }));
			usleep(200 * 1000);
		}
		for (i = 0; i < 2; i++) {
			struct v4l2_buffer qb = { .index = i,
						  .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
						  .memory = V4L2_MEMORY_MMAP };

			ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_QBUF, &qb));
		}
		ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_STREAMON,
				       &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE }));
		for (i = 0; i < (old_vivid() ? 4 : 16) && !got; i++) {
			struct v4l2_buffer ob = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT,
						  .memory = V4L2_MEMORY_DMABUF };

			ASSERT_EQ(0, dqbuf(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
					   V4L2_MEMORY_MMAP, &b));
			got = b.bytesused == size &&
			      !shm_check(cm[b.index], size, 1234);
			ASSERT_EQ(0, shm_ioctl(self->cap, VIDIOC_QBUF, &b));
			/* Shown and given back: show it again, until captured. */
			ret = shm_ioctl(self->out, VIDIOC_DQBUF, &ob);
			if (ret == -EAGAIN)
				continue;
			ASSERT_EQ(0, ret);
			outs++;
			if (!got)
				ASSERT_EQ(0, qbuf_dmabuf(self->out,
							 V4L2_BUF_TYPE_VIDEO_OUTPUT,
							 0, cd, size, size));
		}
		if (old_vivid())
			break;
	}
	if (!got && !outs && old_vivid()) {
		shm_ioctl(self->cap, VIDIOC_STREAMOFF,
			  &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE });
		shm_ioctl(self->out, VIDIOC_STREAMOFF,
			  &(int){ V4L2_BUF_TYPE_VIDEO_OUTPUT });
		munmap(cm[0], size);
		munmap(cm[1], size);
		reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_MEMORY_MMAP, 0);
		reqbufs(self->out, V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_MEMORY_DMABUF, 0);
		shm_release(self->c, acq.frame.slot);
		munmap(ring, self->in.slot_count * self->in.slot_stride);
		close(cd);
		SKIP(return, "this kernel's vivid completes no DMABUF buffer of a queue (QBUF of the consumer's slot was accepted)");
	}
	EXPECT_TRUE(got);
	TH_LOG("the looped capture showed the consumer's frame in frame %u of capture start %u; the output gave it back %u times",
	       i, starts, outs);
	EXPECT_EQ(0, shm_ioctl(self->cap, VIDIOC_STREAMOFF,
			       &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE }));
	EXPECT_EQ(0, shm_ioctl(self->out, VIDIOC_STREAMOFF,
			       &(int){ V4L2_BUF_TYPE_VIDEO_OUTPUT }));
	munmap(cm[0], size);
	munmap(cm[1], size);
	EXPECT_EQ(0, reqbufs(self->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_MMAP, 0));
	EXPECT_EQ(0, reqbufs(self->out, V4L2_BUF_TYPE_VIDEO_OUTPUT,
			     V4L2_MEMORY_DMABUF, 0));
	EXPECT_EQ(0, shm_release(self->c, acq.frame.slot));
	munmap(ring, self->in.slot_count * self->in.slot_stride);
	close(cd);
}

/*
 * vivid's default vb2-vmalloc queues import with vmap() alone, which says
 * nothing of direction and which an exporter may not refuse (the kernel
 * warns). A consumer's slot is given to them as a private blank buffer:
 * queued for capture, vivid's frame lands there and the slot keeps the
 * producer's frame, byte for byte; the blank buffer goes with the queue.
 * The guest runner fails the run on the kernel's warning.
 */
TEST_F_TIMEOUT(vivid_vmalloc, capture_writes_no_consumers_slot, 180)
{
	if (_metadata->skip)
		return; /* vivid_open() skipped */
	struct _test_data_vivid *t = &self->v;
	uint32_t size = t->fmt.fmt.pix.sizeimage, slot;
	long blanks = shm_counter("dmabuf_blanks");
	struct shmstream_acquire acq;
	struct v4l2_buffer b;
	uint8_t *ring, *cr;
	int cd, ret;

	ring = shm_map_slots(t->p, &t->in, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, ring);
	ASSERT_EQ(0, shm_get_slot(t->p, 0, &slot));
	shm_fill(ring + slot * t->in.slot_stride, size, 4321);
	ASSERT_EQ(0, shm_commit(t->p, slot, size, NULL));
	ASSERT_EQ(0, shm_acquire(t->c, SHMSTREAM_ACQUIRE_NEXT, 0, &acq));
	cd = shm_slot_dmabuf(t->c, acq.frame.slot, SHMSTREAM_DMABUF_CLOEXEC, NULL);
	ASSERT_LE(0, cd);

	ASSERT_EQ(0, reqbufs(t->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 1));
	ASSERT_EQ(0, qbuf_dmabuf(t->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, cd,
				 size, 0));
	if (blanks >= 0)
		EXPECT_EQ(blanks + 1, shm_counter("dmabuf_blanks"));
	ret = capture_first(t->cap, &b);
	if (ret == -ETIMEDOUT && old_vivid()) {
		shm_release(t->c, acq.frame.slot);
		munmap(ring, t->in.slot_count * t->in.slot_stride);
		close(cd);
		SKIP(return, "this kernel's vivid completes no DMABUF buffer of a queue (QBUF of the consumer's slot was accepted, with no warning)");
	}
	ASSERT_EQ(0, ret);
	EXPECT_EQ(size, b.bytesused);
	EXPECT_EQ(0, shm_ioctl(t->cap, VIDIOC_STREAMOFF,
			       &(int){ V4L2_BUF_TYPE_VIDEO_CAPTURE }));
	EXPECT_EQ(0, reqbufs(t->cap, V4L2_BUF_TYPE_VIDEO_CAPTURE,
			     V4L2_MEMORY_DMABUF, 0));
	if (blanks >= 0)
		EXPECT_EQ(blanks, shm_counter("dmabuf_blanks"));

	/* vivid wrote a frame somewhere: not into the consumer's slot. */
	cr = mmap(NULL, t->in.slot_stride, PROT_READ, MAP_SHARED, cd, 0);
	ASSERT_NE(MAP_FAILED, cr);
	EXPECT_EQ(0, shm_check(cr, size, 4321));
	EXPECT_EQ(0, shm_check(ring + slot * t->in.slot_stride, size, 4321));
	munmap(cr, t->in.slot_stride);
	EXPECT_EQ(0, shm_release(t->c, acq.frame.slot));
	munmap(ring, t->in.slot_count * t->in.slot_stride);
	close(cd);
}

TEST_HARNESS_MAIN
