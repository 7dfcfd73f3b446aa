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
