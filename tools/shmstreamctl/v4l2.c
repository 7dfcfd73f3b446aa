// SPDX-License-Identifier: GPL-2.0-only
/*
 * ingest-v4l2: capture from a V4L2 camera into a stream, with the camera's
 * format and timestamps, in one of two ways:
 *  - mmap (the default): the camera fills its own buffers (V4L2 mmap
 *    streaming I/O) and each frame is copied into a slot;
 *  - dmabuf: the camera fills the slots themselves. Each slot the producer
 *    takes (GET_SLOT) is queued on the camera as the slot's dma-buf
 *    (V4L2_MEMORY_DMABUF, SHMSTREAM_IOC_SLOT_DMABUF) and committed when the
 *    camera hands it back: no copy of frame data in this process.
 * v4l2-out: a stream's frames to a V4L2 output device (below).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ctl.h"

/* Buffers the camera fills at once, at most. */
#define NBUF 4
/* --ctrl options, at most. */
#define MAX_CTRLS 16

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR && !ctl_stop);
	return ret < 0 ? -errno : 0;
}

/* One buffer of the camera's capture queue. */
struct ingest_buf {
	void *map; /* mmap: the camera's buffer, mapped */
	size_t len;
	struct shmdev_slot slot; /* dmabuf: the slot it was queued with */
	bool pending; /* dmabuf: @slot is taken and not yet committed */
	bool queued; /* dmabuf: the camera has it */
	int64_t last_slot; /* dmabuf: the slot whose dma-buf it had last, or -1 */
};

struct ingest {
	const char *path, *name;
	int fd;
	bool dmabuf, contiguous;
	struct shmdev_stream *s;
	struct ingest_buf bufs[VIDEO_MAX_FRAME];
	unsigned int nbufs; /* the camera's buffers */
	unsigned int depth; /* dmabuf: slots queued on the camera at once */
};

static const enum v4l2_buf_type cap_type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

/* A control's name as v4l2-ctl spells it: "OSD Text Mode" is osd_text_mode. */
static void ctrl_var_name(const char *name, char *out, size_t len)
{
	bool sep = false;
	size_t n = 0;

	for (; *name && n + 2 < len; name++) {
		if (!isalnum((unsigned char)*name)) {
			sep = n > 0;
			continue;
		}
		if (sep)
			out[n++] = '_';
		sep = false;
		out[n++] = tolower((unsigned char)*name);
	}
	out[n] = 0;
}

/* --ctrl NAME=VALUE's syntax: a name of [a-z0-9_] and a whole number. */
static int ctrl_parse(const char *arg, long long *value)
{
	const char *eq = strchr(arg, '=');
	char *end;

	if (!eq || eq == arg || strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
				(size_t)(eq - arg))
		return -EINVAL;
	errno = 0;
	*value = strtoll(eq + 1, &end, 0);
	return errno || !eq[1] || *end ? -EINVAL : 0;
}

/* The camera's controls, by name, for an error message. */
static void ctrl_list(int fd)
{
	struct v4l2_query_ext_ctrl q = { .id = V4L2_CTRL_FLAG_NEXT_CTRL };
	const char *sep = "";
	char var[64];

	fprintf(stderr, "shmstreamctl ingest-v4l2: the camera's controls:");
	while (!xioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q)) {
		if (q.type != V4L2_CTRL_TYPE_CTRL_CLASS && !(q.flags & V4L2_CTRL_FLAG_DISABLED)) {
			ctrl_var_name(q.name, var, sizeof(var));
			fprintf(stderr, "%s %s", sep, var);
			sep = ",";
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
	}
	fputc('\n', stderr);
}

/* Set --ctrl NAME=VALUE on the camera: 0, or -errno after saying why. */
static int ctrl_set(int fd, const char *arg)
{
	struct v4l2_query_ext_ctrl q = { .id = V4L2_CTRL_FLAG_NEXT_CTRL };
	struct v4l2_ext_control c = { 0 };
	struct v4l2_ext_controls cs = { .which = V4L2_CTRL_WHICH_CUR_VAL, .count = 1,
					.controls = &c };
	size_t len = strchr(arg, '=') - arg;
	long long v = 0;
	char var[64];
	int ret;

	ctrl_parse(arg, &v); /* checked with the options */
	while (!(ret = xioctl(fd, VIDIOC_QUERY_EXT_CTRL, &q))) {
		if (q.type != V4L2_CTRL_TYPE_CTRL_CLASS && !(q.flags & V4L2_CTRL_FLAG_DISABLED)) {
			ctrl_var_name(q.name, var, sizeof(var));
			if (strlen(var) == len && !strncmp(var, arg, len))
				break;
		}
		q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
	}
	if (ret) {
		fprintf(stderr, "shmstreamctl ingest-v4l2: --ctrl %.*s: the camera has no such "
			"control\n", (int)len, arg);
		ctrl_list(fd);
		return -ENOENT;
	}
	switch (q.type) {
	case V4L2_CTRL_TYPE_INTEGER:
	case V4L2_CTRL_TYPE_BOOLEAN:
	case V4L2_CTRL_TYPE_MENU:
	case V4L2_CTRL_TYPE_INTEGER_MENU:
	case V4L2_CTRL_TYPE_INTEGER64:
		/* The driver would clamp some: out of range is an error here. */
		if (v < q.minimum || v > q.maximum) {
			fprintf(stderr, "shmstreamctl ingest-v4l2: --ctrl %s: out of range "
				"(%lld..%lld)\n", arg, (long long)q.minimum, (long long)q.maximum);
			return -ERANGE;
		}
		break;
	case V4L2_CTRL_TYPE_BITMASK:
	case V4L2_CTRL_TYPE_BUTTON:
		break;
	default:
		fprintf(stderr, "shmstreamctl ingest-v4l2: --ctrl %s: not a control that takes a "
			"number\n", arg);
		return -EINVAL;
	}
	c.id = q.id;
	if (q.type == V4L2_CTRL_TYPE_INTEGER64)
		c.value64 = v;
	else
		c.value = v;
	ret = xioctl(fd, VIDIOC_S_EXT_CTRLS, &cs);
	if (ret)
		ctl_fail("ingest-v4l2", arg, ret);
	return ret;
}

/*
 * The camera's input (@input, or as it is when negative) and format: its
 * current one, or the nearest to @w x @h it accepts, in @fourcc (0: any) at
 * @fps (0: as it is). 0 or -errno, and why.
 */
static int ingest_format(int fd, int64_t input, uint32_t fourcc, uint32_t w, uint32_t h,
			 uint32_t fps, struct v4l2_format *vf, const char **what)
{
	struct v4l2_capability cap;
	int ret;

	*what = "VIDIOC_QUERYCAP";
	ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
	if (ret)
		return ret;
	if (!(cap.device_caps & V4L2_CAP_VIDEO_CAPTURE && cap.device_caps & V4L2_CAP_STREAMING)) {
		*what = "not a streaming capture device";
		return -ENOTTY;
	}
	if (input >= 0) {
		int i = input;

		*what = "VIDIOC_S_INPUT (--input)";
		ret = xioctl(fd, VIDIOC_S_INPUT, &i);
		if (ret)
			return ret;
	}
	memset(vf, 0, sizeof(*vf));
	vf->type = cap_type;
	*what = "VIDIOC_G_FMT";
	ret = xioctl(fd, VIDIOC_G_FMT, vf);
	if (!ret && (w || fourcc)) {
		/* The driver answers with the nearest size it supports. */
		if (w) {
			vf->fmt.pix.width = w;
			vf->fmt.pix.height = h;
		}
		if (fourcc)
			vf->fmt.pix.pixelformat = fourcc;
		*what = "VIDIOC_S_FMT";
		ret = xioctl(fd, VIDIOC_S_FMT, vf);
		if (!ret && fourcc && vf->fmt.pix.pixelformat != fourcc) {
			*what = "the camera does not offer --format at that size";
			ret = -EINVAL;
		}
	}
	if (!ret && fps) {
		struct v4l2_streamparm parm = { .type = cap_type };

		parm.parm.capture.timeperframe.numerator = 1;
		parm.parm.capture.timeperframe.denominator = fps;
		*what = "VIDIOC_S_PARM";
		ret = xioctl(fd, VIDIOC_S_PARM, &parm);
	}
	return ret;
}

/* mmap: the camera's own buffers, mapped and queued. 0 or -errno, and why. */
static int ingest_mmap_start(struct ingest *in, const char **what)
{
	struct v4l2_requestbuffers req = { .count = NBUF, .type = cap_type,
					   .memory = V4L2_MEMORY_MMAP };
	int ret;

	*what = "VIDIOC_REQBUFS";
	ret = xioctl(in->fd, VIDIOC_REQBUFS, &req);
	for (unsigned int i = 0; !ret && i < req.count && i < NBUF; i++) {
		struct v4l2_buffer b = { .type = cap_type, .memory = V4L2_MEMORY_MMAP, .index = i };
		struct ingest_buf *ib = &in->bufs[i];

		*what = "VIDIOC_QUERYBUF";
		ret = xioctl(in->fd, VIDIOC_QUERYBUF, &b);
		if (ret)
			break;
		ib->map = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, in->fd,
			       b.m.offset);
		if (ib->map == MAP_FAILED) {
			ib->map = NULL;
			*what = "mmap";
			ret = -errno;
			break;
		}
		ib->len = b.length;
		in->nbufs = i + 1;
		*what = "VIDIOC_QBUF";
		ret = xioctl(in->fd, VIDIOC_QBUF, &b);
	}
	return ret;
}

/*
 * dmabuf: the camera buffer to queue slot @slot on: one that had this
 * slot's dma-buf last if it is free, else one that never had any, else any
 * free one. Given as many buffers as slots, each slot keeps its own, and
 * the camera's driver keeps its import (vb2 attaches and maps a dma-buf
 * again only when a buffer's changes).
 */
static int ingest_pick_buf(const struct ingest *in, uint32_t slot)
{
	int best = -1;

	for (unsigned int i = 0; i < in->nbufs; i++) {
		const struct ingest_buf *ib = &in->bufs[i];

		if (ib->pending)
			continue;
		if (ib->last_slot == slot)
			return i;
		if (best < 0 || (in->bufs[best].last_slot >= 0 && ib->last_slot < 0))
			best = i;
	}
	return best;
}

/*
 * dmabuf: take a slot and queue its dma-buf on the camera. Waits for a
 * slot while readers hold every other (or a reliable reader has not read
 * them). 0, or -errno after saying why (not for -EINTR on a stop signal).
 */
static int ingest_dmabuf_queue(struct ingest *in)
{
	struct v4l2_buffer b = { .type = cap_type, .memory = V4L2_MEMORY_DMABUF };
	struct shmdev_slot slot;
	const char *what = in->name;
	int i = -1, dfd, ret;

	ret = shmdev_begin(in->s, SHMDEV_FOREVER, &slot);
	if (ret) {
		if (ret != -EINTR || !ctl_stop)
			ctl_fail("ingest-v4l2", in->name, ret);
		return ret;
	}
	what = "the slot's dma-buf";
	ret = shmdev_slot_dmabuf(in->s, slot.index, &dfd);
	if (!ret) {
		i = ingest_pick_buf(in, slot.index);
		ret = i < 0 ? -ENOBUFS : 0;
		what = "no free camera buffer";
	}
	if (!ret) {
		b.index = i;
		b.m.fd = dfd;
		b.length = slot.size;
		ret = xioctl(in->fd, VIDIOC_QBUF, &b);
		what = "VIDIOC_QBUF";
	}
	if (ret) {
		shmdev_discard(in->s, &slot);
		if (ret == -EINTR && ctl_stop)
			return ret;
		ctl_fail("ingest-v4l2", what, ret);
		if (!strcmp(what, "VIDIOC_QBUF"))
			fprintf(stderr, "shmstreamctl ingest-v4l2: %s did not take slot %u's "
				"dma-buf: %s\n", in->path, slot.index, in->contiguous ?
				"use --io mmap" : "a camera that needs physically contiguous "
				"buffers takes them with --contiguous; or use --io mmap");
		return ret;
	}
	in->bufs[i].slot = slot;
	in->bufs[i].pending = true;
	in->bufs[i].queued = true;
	in->bufs[i].last_slot = slot.index;
	return 0;
}

/*
 * dmabuf: the camera's buffers for slots' dma-bufs, and the first slots
 * queued on them. 0, or -errno after saying why.
 */
static int ingest_dmabuf_start(struct ingest *in, uint32_t slots)
{
	struct v4l2_requestbuffers req = { .type = cap_type, .memory = V4L2_MEMORY_DMABUF };
	struct shmstream_info info;
	int dfd, ret;

	/* The module's dma-buf export (ABI 2.3), before the camera's buffers. */
	ret = shmdev_slot_dmabuf(in->s, 0, &dfd);
	if (!ret)
		ret = shmdev_stream_info(in->s, &info);
	if (ret) {
		fprintf(stderr, "shmstreamctl ingest-v4l2: %s: %s; use --io mmap\n", in->name,
			*shmdev_errmsg() ? shmdev_errmsg() : shmdev_strerror(ret));
		return ret;
	}
	req.count = slots < VIDEO_MAX_FRAME ? slots : VIDEO_MAX_FRAME;
	ret = xioctl(in->fd, VIDIOC_REQBUFS, &req);
	if (ret == -EINVAL) {
		fprintf(stderr, "shmstreamctl ingest-v4l2: %s: the camera does not import "
			"dma-bufs (V4L2_MEMORY_DMABUF): use --io mmap\n", in->path);
		return ret;
	}
	if (ret) {
		ctl_fail("ingest-v4l2", "VIDIOC_REQBUFS", ret);
		return ret;
	}
	in->nbufs = req.count < VIDEO_MAX_FRAME ? req.count : VIDEO_MAX_FRAME;
	for (unsigned int i = 0; i < in->nbufs; i++)
		in->bufs[i].last_slot = -1;
	/* Readers keep a slot at least; no more than the module lets us hold. */
	in->depth = NBUF;
	if (in->depth > in->nbufs)
		in->depth = in->nbufs;
	if (in->depth > slots - 1)
		in->depth = slots - 1;
	if (in->depth > info.max_holds)
		in->depth = info.max_holds;
	if (!in->depth) {
		fprintf(stderr, "shmstreamctl ingest-v4l2: %s: the camera gave no buffers\n",
			in->path);
		return -ENOBUFS;
	}
	for (unsigned int i = 0; i < in->depth; i++) {
		ret = ingest_dmabuf_queue(in);
		if (ret)
			return ret;
	}
	return 0;
}

/* The frame in the camera's buffer @b into the stream. 0 or -errno. */
static int ingest_commit(struct ingest *in, const struct v4l2_buffer *b)
{
	struct ingest_buf *ib = &in->bufs[b->index];
	uint64_t seq = b->sequence;
	struct shmdev_commit_params cp = { .meta = &seq, .meta_len = sizeof(seq) };
	struct shmdev_slot slot;
	int ret;

	/* V4L2 timestamps are CLOCK_MONOTONIC for most drivers. */
	if ((b->flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
		cp.timestamp_ns = b->timestamp.tv_sec * 1000000000ULL +
				  b->timestamp.tv_usec * 1000ULL;
	if (in->dmabuf) {
		/* The camera wrote the frame into the slot itself. */
		ib->queued = false;
		cp.bytes = b->bytesused < ib->slot.size ? b->bytesused : ib->slot.size;
		ret = shmdev_commit(in->s, &ib->slot, &cp);
		if (!ret)
			ib->pending = false;
		return ret;
	}
	ret = shmdev_begin(in->s, SHMDEV_FOREVER, &slot);
	if (ret)
		return ret;
	cp.bytes = b->bytesused < slot.size ? b->bytesused : slot.size;
	memcpy(slot.data, ib->map, cp.bytes);
	return shmdev_commit(in->s, &slot, &cp);
}

static double tv_us(const struct timeval *a, const struct timeval *b)
{
	return (b->tv_sec - a->tv_sec) * 1e6 + (b->tv_usec - a->tv_usec);
}

int cmd_ingest_v4l2(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "slots", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "fps", required_argument, NULL, 'r' },
		{ "io", required_argument, NULL, 'i' },
		{ "format", required_argument, NULL, 'f' },
		{ "ctrl", required_argument, NULL, 'C' },
		{ "contiguous", no_argument, NULL, 'g' },
		{ "stats", no_argument, NULL, 'S' },
		{ "input", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct ingest in = { .fd = -1 };
	enum v4l2_buf_type type = cap_type;
	struct v4l2_format vf;
	struct rusage ru0 = { 0 }, ru1;
	struct shmdev *dev = NULL;
	const char *ctrls[MAX_CTRLS];
	unsigned long long n = 0, n0 = 0;
	uint32_t count = 0, slots = 8, w = 0, h = 0, fps = 0, fourcc = 0, input;
	int64_t input_arg = -1;
	unsigned int nctrls = 0;
	const char *what = "";
	long long v;
	bool stats = false;
	int c, ret = 0, streaming = 0;

	while ((c = getopt_long(argc, argv, "c:n:s:r:i:f:C:gSI:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ctl_parse_u32(optarg, &count) || !count)
				return ctl_usage("ingest-v4l2", "bad --count '%s'", optarg);
			break;
		case 'n':
			if (ctl_parse_u32(optarg, &slots) || !slots || slots > SHMSTREAM_MAX_SLOTS)
				return ctl_usage("ingest-v4l2", "bad --slots '%s'", optarg);
			break;
		case 's':
			if (ctl_parse_size(optarg, &w, &h))
				return ctl_usage("ingest-v4l2", "bad --size '%s'", optarg);
			break;
		case 'r':
			if (ctl_parse_u32(optarg, &fps) || !fps || fps > 1000)
				return ctl_usage("ingest-v4l2", "bad --fps '%s'", optarg);
			break;
		case 'i':
			if (strcmp(optarg, "mmap") && strcmp(optarg, "dmabuf"))
				return ctl_usage("ingest-v4l2", "bad --io '%s' (mmap or dmabuf)",
						 optarg);
			in.dmabuf = !strcmp(optarg, "dmabuf");
			break;
		case 'f':
			if (ctl_format_by_name(optarg))
				fourcc = ctl_format_by_name(optarg)->fourcc;
			else if (strlen(optarg) == 4)
				fourcc = v4l2_fourcc(optarg[0], optarg[1], optarg[2], optarg[3]);
			else
				return ctl_usage("ingest-v4l2", "bad --format '%s' (RGB24, BGR24, "
						 "GREY, YUYV, NV12 or a FOURCC)", optarg);
			break;
		case 'C':
			if (ctrl_parse(optarg, &v))
				return ctl_usage("ingest-v4l2", "bad --ctrl '%s' (NAME=NUMBER)",
						 optarg);
			if (nctrls == MAX_CTRLS)
				return ctl_usage("ingest-v4l2", "more than %d --ctrl", MAX_CTRLS);
			ctrls[nctrls++] = optarg;
			break;
		case 'g':
			in.contiguous = true;
			break;
		case 'S':
			stats = true;
			break;
		case 'I':
			if (ctl_parse_u32(optarg, &input) || input > INT32_MAX)
				return ctl_usage("ingest-v4l2", "bad --input '%s'", optarg);
			input_arg = input;
			break;
		case 'h':
			printf("Usage: shmstreamctl ingest-v4l2 /dev/videoN NAME [--io mmap|dmabuf] "
			       "[--count N]\n"
			       "         [--slots N] [--input N] [--size WxH] [--format FORMAT]\n"
			       "         [--fps N] [--ctrl NAME=VALUE]... [--contiguous] [--stats]\n\n"
			       "Capture from a V4L2 camera into NAME, created with the camera's "
			       "format\n(its current one, or the nearest to --size and --fps it "
			       "accepts) for\nas long as this runs, or --count N frames. Frames "
			       "carry the driver's\ntimestamps and sequence numbers (in the "
			       "metadata).\n\n"
			       "--io mmap      the default: the camera fills its own buffers (V4L2 "
			       "mmap\n               streaming I/O); each frame is copied into a "
			       "slot.\n"
			       "--io dmabuf    the camera fills the slots themselves, with no copy: "
			       "each\n               slot taken is queued on the camera as its "
			       "dma-buf\n               (V4L2_MEMORY_DMABUF) and committed when the "
			       "camera hands it\n               back. Needs a camera that imports "
			       "dma-bufs and a module\n               with dma-buf export (ABI "
			       "2.3); the camera holds up to 4\n               slots at once, so "
			       "--slots must be 3 or more (default 8).\n"
			       "--input N      the camera's input N (VIDIOC_S_INPUT), for devices "
			       "with\n               several (capture cards); default: as it is.\n"
			       "--format       RGB24, BGR24, GREY, YUYV, NV12 or a FOURCC (MJPG); "
			       "the\n               camera must offer it at that size.\n"
			       "--ctrl N=V     set the camera's control N to the number V first, "
			       "named as\n               v4l2-ctl names them (brightness, "
			       "osd_text_mode; a menu's\n               item by its index). "
			       "Repeatable.\n"
			       "--contiguous   each slot physically contiguous (at most 4 MiB), for "
			       "devices\n               that import dma-bufs without an IOMMU: a "
			       "vb2-dma-contig\n               camera with --io dmabuf, or readers' "
			       "encoders.\n"
			       "--stats        at the end, this process's CPU time per frame after "
			       "the\n               first (getrusage: user and system).\n");
			return EXIT_OK;
		default:
			return ctl_usage("ingest-v4l2", "bad option");
		}
	}
	if (optind + 2 != argc)
		return ctl_usage("ingest-v4l2", "need a device and a NAME");
	if (in.dmabuf && slots < 3)
		return ctl_usage("ingest-v4l2", "--io dmabuf needs --slots 3 or more");
	in.path = argv[optind];
	in.name = argv[optind + 1];
	in.fd = open(in.path, O_RDWR | O_CLOEXEC);
	if (in.fd < 0)
		return ctl_fail("ingest-v4l2", in.path, -errno);
	ret = ingest_format(in.fd, input_arg, fourcc, w, h, fps, &vf, &what);
	if (ret) {
		ctl_fail("ingest-v4l2", what, ret);
		goto out;
	}
	for (unsigned int i = 0; !ret && i < nctrls; i++)
		ret = ctrl_set(in.fd, ctrls[i]);
	if (ret)
		goto out;
	if (ctl_open("ingest-v4l2", &dev)) {
		ret = -ENODEV;
		goto out;
	}
	{
		struct shmdev_create_params p = {
			.slot_count = slots, .slot_size = vf.fmt.pix.sizeimage, .mode = 0660,
			.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE |
				 (in.contiguous ? SHMSTREAM_CREATE_CONTIGUOUS : 0),
			.format = { vf.fmt.pix.pixelformat, vf.fmt.pix.width, vf.fmt.pix.height,
				    vf.fmt.pix.bytesperline },
		};

		ret = shmdev_create(dev, in.name, &p, &in.s);
		if (ret) {
			ctl_fail("ingest-v4l2", in.name, ret);
			goto out;
		}
	}
	if (in.dmabuf) {
		ret = ingest_dmabuf_start(&in, slots);
	} else {
		ret = ingest_mmap_start(&in, &what);
		if (ret)
			ctl_fail("ingest-v4l2", what, ret);
	}
	if (ret)
		goto out;
	ret = xioctl(in.fd, VIDIOC_STREAMON, &type);
	if (ret) {
		ctl_fail("ingest-v4l2", "VIDIOC_STREAMON", ret);
		goto out;
	}
	streaming = 1;
	ctl_catch_signals();
	while (!ctl_stop && (!count || n < count)) {
		struct v4l2_buffer b = { .type = cap_type, .memory = in.dmabuf ?
					 V4L2_MEMORY_DMABUF : V4L2_MEMORY_MMAP };
		struct pollfd pfd = { .fd = in.fd, .events = POLLIN };

		if (poll(&pfd, 1, 5000) <= 0) {
			ret = ctl_stop ? 0 : -ETIMEDOUT;
			if (ret)
				ctl_fail("ingest-v4l2", "no frame from the camera in 5 s", ret);
			break;
		}
		ret = xioctl(in.fd, VIDIOC_DQBUF, &b);
		if (!ret && (b.index >= in.nbufs || (in.dmabuf && !in.bufs[b.index].queued)))
			ret = -EPROTO;
		if (ret) {
			ctl_fail("ingest-v4l2", "VIDIOC_DQBUF", ret);
			break;
		}
		ret = ingest_commit(&in, &b);
		if (ret) {
			if (ret == -EINTR && ctl_stop)
				ret = 0;
			else
				ctl_fail("ingest-v4l2", in.name, ret);
			break;
		}
		if (!n++)
			getrusage(RUSAGE_SELF, &ru0);
		if (in.dmabuf) {
			ret = ingest_dmabuf_queue(&in);
			if (ret == -EINTR && ctl_stop)
				ret = 0;
		} else {
			ret = xioctl(in.fd, VIDIOC_QBUF, &b);
			if (ret)
				ctl_fail("ingest-v4l2", "VIDIOC_QBUF", ret);
		}
		if (ret)
			break;
	}
	n0 = n ? 1 : 0;
	if (!ret)
		printf("ingested %llu frames from %s into %s\n", n, in.path, in.name);
	if (!ret && stats && n > n0) {
		getrusage(RUSAGE_SELF, &ru1);
		printf("cpu: %.1f us a frame (user %.1f, system %.1f) over %llu frames after the "
		       "first, --io %s\n",
		       (tv_us(&ru0.ru_utime, &ru1.ru_utime) + tv_us(&ru0.ru_stime, &ru1.ru_stime)) /
			       (n - n0),
		       tv_us(&ru0.ru_utime, &ru1.ru_utime) / (n - n0),
		       tv_us(&ru0.ru_stime, &ru1.ru_stime) / (n - n0), n - n0,
		       in.dmabuf ? "dmabuf" : "mmap");
	}
out:
	if (streaming)
		xioctl(in.fd, VIDIOC_STREAMOFF, &type);
	for (unsigned int i = 0; i < in.nbufs; i++) {
		if (in.bufs[i].map)
			munmap(in.bufs[i].map, in.bufs[i].len);
		if (in.bufs[i].pending)
			shmdev_discard(in.s, &in.bufs[i].slot);
	}
	if (in.dmabuf && in.nbufs) {
		/* The camera lets go of the slots' dma-bufs. */
		struct v4l2_requestbuffers req = { .type = cap_type,
						   .memory = V4L2_MEMORY_DMABUF };

		xioctl(in.fd, VIDIOC_REQBUFS, &req);
	}
	shmdev_stream_unref(in.s);
	shmdev_unref(dev);
	close(in.fd);
	return ret ? EXIT_RUNTIME : EXIT_OK;
}

/*
 * v4l2-out: the frames of a stream written to a V4L2 output device, such
 * as a v4l2loopback device, whose capture side V4L2 applications (ffmpeg,
 * OpenCV, browsers) read as a camera. The device takes the format of the
 * stream's first frame; each write() is one frame.
 */

/* Bytes a line of the first plane holds, and the size of a whole frame. */
static int v4l2_out_geometry(const struct shmstream_format *f, uint32_t *line, size_t *size)
{
	const struct ctl_format *cf = ctl_format_by_fourcc(f->fourcc);
	uint64_t w = f->width, h = f->height;

	switch (f->fourcc) {
	case V4L2_PIX_FMT_NV12:
	case V4L2_PIX_FMT_YUV420:
		*line = w;
		*size = w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2);
		return 0;
	}
	if (!cf || cf->bpp_den != 1)
		return -EINVAL;
	*line = w * cf->bpp_num;
	*size = (size_t)*line * h;
	return 0;
}

/* Set the device's output format to the frame's; 0 or -errno, and why. */
static int v4l2_out_set_format(int fd, const struct shmstream_format *f, uint32_t fps,
			       struct v4l2_format *vf, const char **what)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_OUTPUT };
	int ret;

	memset(vf, 0, sizeof(*vf));
	vf->type = V4L2_BUF_TYPE_VIDEO_OUTPUT;
	vf->fmt.pix.width = f->width;
	vf->fmt.pix.height = f->height;
	vf->fmt.pix.pixelformat = f->fourcc;
	vf->fmt.pix.field = V4L2_FIELD_NONE;
	vf->fmt.pix.colorspace = V4L2_COLORSPACE_SRGB;
	*what = "VIDIOC_S_FMT";
	ret = xioctl(fd, VIDIOC_S_FMT, vf);
	if (ret)
		return ret;
	if (vf->fmt.pix.pixelformat != f->fourcc || vf->fmt.pix.width != f->width ||
	    vf->fmt.pix.height != f->height) {
		*what = "the device does not take the stream's format and size";
		return -EINVAL;
	}
	parm.parm.output.timeperframe.numerator = 1;
	parm.parm.output.timeperframe.denominator = fps;
	/* Only what the device announces to its readers: not every one has it. */
	if (xioctl(fd, VIDIOC_S_PARM, &parm) == -ENOTTY)
		fprintf(stderr, "shmstreamctl v4l2-out: the device sets no frame rate\n");
	return 0;
}

int cmd_v4l2_out(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "fps", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct shmstream_format fmt = { 0 };
	struct v4l2_format vf;
	struct v4l2_capability cap;
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	unsigned long long n = 0, missed = 0;
	uint32_t count = 0, fps = 30, line = 0, caps;
	size_t size = 0;
	uint8_t *packed = NULL;
	size_t out_len = 0; /* bytes a write() gives the device */
	bool saw_producer = false;
	const char *what = "", *name, *path;
	int c, fd = -1, ret;

	while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ctl_parse_u32(optarg, &count) || !count)
				return ctl_usage("v4l2-out", "bad --count '%s'", optarg);
			break;
		case 'r':
			if (ctl_parse_u32(optarg, &fps) || !fps || fps > 1000)
				return ctl_usage("v4l2-out", "bad --fps '%s'", optarg);
			break;
		case 'h':
			printf("Usage: shmstreamctl v4l2-out NAME /dev/videoN [--count N] "
			       "[--fps N]\n\n"
			       "Write the frames of stream NAME to a V4L2 output device, such as "
			       "a\nv4l2loopback device, whose capture side V4L2 applications "
			       "(ffmpeg,\nOpenCV, browsers) read as a camera. The device takes "
			       "the format and\nsize of the first frame (RGB24, BGR24, GREY, "
			       "YUYV, NV12, YU12). Waits\nfor the stream; ends when its producer "
			       "detaches and every frame is\nwritten, or after --count N frames. "
			       "--fps: the frame rate the device\nannounces to its readers "
			       "(default 30; frames go out as they come).\n");
			return EXIT_OK;
		default:
			return ctl_usage("v4l2-out", "bad option");
		}
	}
	if (optind + 2 != argc)
		return ctl_usage("v4l2-out", "need a stream NAME and a device");
	name = argv[optind];
	path = argv[optind + 1];
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return ctl_fail("v4l2-out", path, -errno);
	ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
	if (ret) {
		ctl_fail("v4l2-out", path, ret);
		goto out;
	}
	caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
	if (!(caps & V4L2_CAP_VIDEO_OUTPUT) || !(caps & V4L2_CAP_READWRITE)) {
		fprintf(stderr, "shmstreamctl v4l2-out: %s: not a video output device that "
			"takes write() (a v4l2loopback device is)\n", path);
		ret = -ENOTTY;
		goto out;
	}
	if (ctl_open("v4l2-out", &dev)) {
		ret = -ENODEV;
		goto out;
	}
	ctl_catch_signals();
	while ((ret = shmdev_open_consumer(dev, name, &s)) == -ENOENT && !ctl_stop)
		usleep(50000);
	if (ret) {
		if (!ctl_stop)
			ctl_fail("v4l2-out", name, ret);
		goto out;
	}
	while (!ctl_stop && (!count || n < count)) {
		struct shmdev_frame f;
		const uint8_t *data;
		int state;

		ret = shmdev_acquire(s, SHMDEV_NEXT, SHMDEV_MS(100), &f);
		if (ret == -EIDRM) {
			ret = 0; /* destroyed, every frame written */
			break;
		}
		if (ret == -ETIMEDOUT || ret == -EAGAIN || ret == -EINTR) {
			state = shmdev_stream_state(s);
			if (state < 0) {
				ret = state;
				ctl_fail("v4l2-out", name, ret);
				break;
			}
			if (!(state & SHMDEV_STATE_NO_PRODUCER))
				saw_producer = true;
			ret = 0;
			/* A producer was here and left, and nothing is left to write. */
			if (saw_producer && (state & SHMDEV_STATE_NO_PRODUCER) &&
			    !(state & SHMDEV_STATE_READABLE))
				break;
			continue;
		}
		if (ret) {
			ctl_fail("v4l2-out", name, ret);
			break;
		}
		saw_producer = true;
		if (!n) {
			fmt = f.format;
			what = "the stream's frames carry no format (shmstreamctl create --format)";
			ret = -EINVAL;
			if (fmt.fourcc) {
				what = "a format v4l2-out cannot lay out";
				ret = v4l2_out_geometry(&fmt, &line, &size);
			}
			if (!ret)
				ret = v4l2_out_set_format(fd, &fmt, fps, &vf, &what);
			/*
			 * A frame is the format's bytes, not the device's sizeimage:
			 * v4l2loopback rounds that up to whole pages, and passes on
			 * what was written as bytesused, which readers such as
			 * ffmpeg want to be the image's size exactly.
			 */
			out_len = size;
			if (!ret && fmt.stride != vf.fmt.pix.bytesperline) {
				/* Lines copied into the device's layout: packed formats only. */
				out_len = (size_t)vf.fmt.pix.bytesperline * fmt.height;
				packed = calloc(1, out_len);
				what = "a planar format whose stride is not the device's";
				ret = !packed ? -ENOMEM : line != size / fmt.height ? -EINVAL : 0;
			}
			if (!ret && vf.fmt.pix.sizeimage < out_len) {
				what = "the device's frame is smaller than the format's";
				ret = -EINVAL;
			}
			if (ret) {
				shmdev_release(s, &f);
				ctl_fail("v4l2-out", what, ret);
				break;
			}
		} else if (f.format.fourcc != fmt.fourcc || f.format.width != fmt.width ||
			   f.format.height != fmt.height || f.format.stride != fmt.stride) {
			shmdev_release(s, &f);
			ret = -EINVAL;
			ctl_fail("v4l2-out", "the stream's format changed (a V4L2 device "
				 "keeps one while it is read)", ret);
			break;
		}
		if (f.len < (size_t)fmt.stride * (fmt.height - 1) + line ||
		    (!packed && f.len < size)) {
			shmdev_release(s, &f);
			ret = -EINVAL;
			ctl_fail("v4l2-out", "a frame shorter than its format", ret);
			break;
		}
		data = f.data;
		if (packed) {
			for (uint32_t y = 0; y < fmt.height; y++)
				memcpy(packed + (size_t)y * vf.fmt.pix.bytesperline,
				       data + (size_t)y * fmt.stride, line);
			data = packed;
		}
		/* v4l2loopback takes a whole frame per write(), copied at once. */
		do
			ret = write(fd, data, out_len);
		while (ret < 0 && errno == EINTR && !ctl_stop);
		ret = ret < 0 ? -errno : (size_t)ret < out_len ? -EIO : 0;
		missed += f.missed;
		shmdev_release(s, &f);
		if (ret) {
			ctl_fail("v4l2-out", path, ret);
			break;
		}
		if (!n++)
			fprintf(stderr, "shmstreamctl v4l2-out: %s -> %s: %.4s %ux%u, %zu bytes a "
				"frame\n", name, path, (const char *)&fmt.fourcc, fmt.width,
				fmt.height, out_len);
	}
	if (!ret)
		printf("wrote %llu frames of %s to %s (%llu missed)\n", n, name, path, missed);
out:
	free(packed);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	close(fd);
	return ret ? EXIT_RUNTIME : EXIT_OK;
}
