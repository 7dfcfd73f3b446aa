// SPDX-License-Identifier: GPL-2.0-only
/*
 * ingest-v4l2: capture from a V4L2 camera (mmap streaming I/O) into a
 * stream, with the camera's format and timestamps.
 */
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
#include <unistd.h>

#include "ctl.h"

#define NBUF 4

static int xioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do
		ret = ioctl(fd, req, arg);
	while (ret < 0 && errno == EINTR && !ctl_stop);
	return ret < 0 ? -errno : 0;
}

int cmd_ingest_v4l2(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "slots", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "fps", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct v4l2_requestbuffers req = { .count = NBUF, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					   .memory = V4L2_MEMORY_MMAP };
	struct v4l2_format vf = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	struct v4l2_capability cap;
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	void *bufs[NBUF] = { NULL };
	size_t lens[NBUF] = { 0 };
	unsigned long long n = 0;
	uint32_t count = 0, slots = 8, w = 0, h = 0, fps = 0;
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	const char *what = "";
	int c, fd = -1, ret = 0, streaming = 0;

	while ((c = getopt_long(argc, argv, "c:n:s:r:h", opts, NULL)) != -1) {
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
		case 'h':
			printf("Usage: shmstreamctl ingest-v4l2 /dev/videoN NAME [--count N] "
			       "[--slots N]\n                               [--size WxH] "
			       "[--fps N]\n\nCapture from a V4L2 camera (mmap streaming I/O) "
			       "into NAME, created\nwith the camera's format (its current one, "
			       "or the nearest to --size\nand --fps it accepts) for as long as "
			       "this runs. Frames carry the\ndriver's timestamps and sequence "
			       "numbers (in the metadata).\n");
			return EXIT_OK;
		default:
			return ctl_usage("ingest-v4l2", "bad option");
		}
	}
	if (optind + 2 != argc)
		return ctl_usage("ingest-v4l2", "need a device and a NAME");
	fd = open(argv[optind], O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return ctl_fail("ingest-v4l2", argv[optind], -errno);
	what = "VIDIOC_QUERYCAP";
	ret = xioctl(fd, VIDIOC_QUERYCAP, &cap);
	if (!ret && !(cap.device_caps & V4L2_CAP_VIDEO_CAPTURE && cap.device_caps & V4L2_CAP_STREAMING))
		ret = -ENOTTY, what = "not a streaming capture device";
	if (!ret)
		what = "VIDIOC_G_FMT", ret = xioctl(fd, VIDIOC_G_FMT, &vf);
	if (!ret && w) {
		/* The driver answers with the nearest size it supports. */
		vf.fmt.pix.width = w;
		vf.fmt.pix.height = h;
		what = "VIDIOC_S_FMT", ret = xioctl(fd, VIDIOC_S_FMT, &vf);
	}
	if (!ret && fps) {
		struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

		parm.parm.capture.timeperframe.numerator = 1;
		parm.parm.capture.timeperframe.denominator = fps;
		what = "VIDIOC_S_PARM", ret = xioctl(fd, VIDIOC_S_PARM, &parm);
	}
	if (!ret)
		what = "VIDIOC_REQBUFS", ret = xioctl(fd, VIDIOC_REQBUFS, &req);
	for (unsigned int i = 0; !ret && i < req.count && i < NBUF; i++) {
		struct v4l2_buffer b = { .type = type, .memory = V4L2_MEMORY_MMAP, .index = i };

		what = "VIDIOC_QUERYBUF";
		ret = xioctl(fd, VIDIOC_QUERYBUF, &b);
		if (ret)
			break;
		bufs[i] = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, b.m.offset);
		if (bufs[i] == MAP_FAILED) {
			bufs[i] = NULL;
			ret = -errno, what = "mmap";
			break;
		}
		lens[i] = b.length;
		what = "VIDIOC_QBUF";
		ret = xioctl(fd, VIDIOC_QBUF, &b);
	}
	if (ret) {
		ctl_fail("ingest-v4l2", what, ret);
		goto out;
	}
	if (ctl_open("ingest-v4l2", &dev)) {
		ret = -ENODEV;
		goto out;
	}
	{
		struct shmdev_create_params p = {
			.slot_count = slots, .slot_size = vf.fmt.pix.sizeimage, .mode = 0660,
			.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE,
			.format = { vf.fmt.pix.pixelformat, vf.fmt.pix.width, vf.fmt.pix.height,
				    vf.fmt.pix.bytesperline },
		};

		ret = shmdev_create(dev, argv[optind + 1], &p, &s);
		if (ret) {
			ctl_fail("ingest-v4l2", argv[optind + 1], ret);
			goto out;
		}
	}
	ret = xioctl(fd, VIDIOC_STREAMON, &type);
	if (ret) {
		ctl_fail("ingest-v4l2", "VIDIOC_STREAMON", ret);
		goto out;
	}
	streaming = 1;
	ctl_catch_signals();
	while (!ctl_stop && (!count || n < count)) {
		struct v4l2_buffer b = { .type = type, .memory = V4L2_MEMORY_MMAP };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct shmdev_slot slot;
		uint64_t seq;

		if (poll(&pfd, 1, 5000) <= 0) {
			ret = ctl_stop ? 0 : -ETIMEDOUT;
			if (ret)
				ctl_fail("ingest-v4l2", "no frame from the camera in 5 s", ret);
			break;
		}
		ret = xioctl(fd, VIDIOC_DQBUF, &b);
		if (ret) {
			ctl_fail("ingest-v4l2", "VIDIOC_DQBUF", ret);
			break;
		}
		seq = b.sequence;
		ret = shmdev_begin(s, SHMDEV_FOREVER, &slot);
		if (!ret) {
			struct shmdev_commit_params cp = {
				.bytes = b.bytesused < slot.size ? b.bytesused : slot.size,
				.meta = &seq, .meta_len = sizeof(seq),
			};

			/* V4L2 timestamps are CLOCK_MONOTONIC for most drivers. */
			if ((b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) ==
			    V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC)
				cp.timestamp_ns = b.timestamp.tv_sec * 1000000000ULL +
						  b.timestamp.tv_usec * 1000ULL;
			memcpy(slot.data, bufs[b.index], cp.bytes);
			ret = shmdev_commit(s, &slot, &cp);
		}
		if (ret) {
			ctl_fail("ingest-v4l2", argv[optind + 1], ret);
			break;
		}
		n++;
		ret = xioctl(fd, VIDIOC_QBUF, &b);
		if (ret) {
			ctl_fail("ingest-v4l2", "VIDIOC_QBUF", ret);
			break;
		}
	}
	if (!ret)
		printf("ingested %llu frames from %s into %s\n", n, argv[optind], argv[optind + 1]);
out:
	if (streaming)
		xioctl(fd, VIDIOC_STREAMOFF, &type);
	for (int i = 0; i < NBUF; i++)
		if (bufs[i])
			munmap(bufs[i], lens[i]);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	close(fd);
	return ret ? EXIT_RUNTIME : EXIT_OK;
}
