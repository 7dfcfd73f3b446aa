// SPDX-License-Identifier: GPL-2.0-only
/*
 * feed: a producer of test patterns or of raw/PPM file frames;
 * dump: frames to PNG/PPM/raw files; pattern: the expected test pattern.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* Read a binary PPM (P6, maxval 255) of exactly @w x @h into @rgb. */
static int read_ppm(FILE *f, uint8_t *rgb, uint32_t w, uint32_t h)
{
	unsigned int pw, ph, max;

	if (fscanf(f, "P6 %u %u %u", &pw, &ph, &max) != 3 || max != 255 || fgetc(f) == EOF)
		return -EINVAL;
	if (pw != w || ph != h)
		return -EMSGSIZE;
	return fread(rgb, 3, (size_t)w * h, f) == (size_t)w * h ? 0 : -EIO;
}

int cmd_feed(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "fps", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'F' },
		{ "slots", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const struct ctl_format *fmt = ctl_format_by_name("RGB24");
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	uint32_t w = 640, h = 480, slots = 8, count = 0;
	double fps = 30;
	unsigned long long n;
	const char *file = NULL;
	uint8_t *rgb = NULL, *frame = NULL;
	FILE *in = NULL;
	size_t bytes;
	int64_t start, last_report = 0;
	int c, ret = 0, status = EXIT_OK;

	while ((c = getopt_long(argc, argv, "s:f:r:c:F:n:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (ctl_parse_size(optarg, &w, &h))
				return ctl_usage("feed", "bad --size '%s' (WxH, even)", optarg);
			break;
		case 'f':
			fmt = ctl_format_by_name(optarg);
			if (!fmt)
				return ctl_usage("feed", "unknown --format '%s' (RGB24, BGR24, "
						 "GREY, YUYV, NV12)", optarg);
			break;
		case 'r':
			fps = strtod(optarg, NULL);
			if (fps <= 0 || fps > 100000)
				return ctl_usage("feed", "bad --fps '%s'", optarg);
			break;
		case 'c':
			if (ctl_parse_u32(optarg, &count) || !count)
				return ctl_usage("feed", "bad --count '%s'", optarg);
			break;
		case 'F':
			file = optarg;
			break;
		case 'n':
			if (ctl_parse_u32(optarg, &slots) || !slots || slots > SHMSTREAM_MAX_SLOTS)
				return ctl_usage("feed", "bad --slots '%s'", optarg);
			break;
		case 'h':
			printf("Usage: shmstreamctl feed NAME [--size WxH] [--format FOURCC] [--fps N]\n"
			       "                        [--count N] [--file FILE.{ppm,raw}] "
			       "[--slots N]\n\n"
			       "Produce frames into NAME (created, for as long as feed runs, if it\n"
			       "does not exist): moving colour bars with the frame number drawn in,\n"
			       "or FILE (a PPM image, or raw frames of the format, looped).\n"
			       "Formats: RGB24 (default), BGR24, GREY, YUYV, NV12. Defaults:\n"
			       "640x480, 30 fps, until Ctrl-C. Frame numbers start at 1 and travel\n"
			       "in the first 8 bytes of each frame's metadata.\n");
			return EXIT_OK;
		default:
			return ctl_usage("feed", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ctl_usage("feed", "need exactly one NAME");
	bytes = ctl_frame_bytes(fmt, w, h);
	rgb = malloc((size_t)w * h * 3);
	frame = malloc(bytes);
	if (!rgb || !frame) {
		status = ctl_fail("feed", "memory", -ENOMEM);
		goto out;
	}
	if (file) {
		in = fopen(file, "rb");
		if (!in) {
			status = ctl_fail("feed", file, -errno);
			goto out;
		}
	}
	if (ctl_open("feed", &dev)) {
		status = EXIT_RUNTIME;
		goto out;
	}
	ret = shmdev_open_producer(dev, argv[optind], &s);
	if (ret == -ENOENT) {
		struct shmdev_create_params p = {
			.slot_count = slots, .slot_size = bytes, .mode = 0660,
			.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE,
			.format = { fmt->fourcc, w, h, ctl_stride(fmt, w) },
		};

		ret = shmdev_create(dev, argv[optind], &p, &s);
	}
	if (ret) {
		status = ctl_fail("feed", argv[optind], ret);
		goto out;
	}
	ctl_catch_signals();
	start = ctl_now_ns();
	for (n = 1; !ctl_stop && (!count || n <= count); n++) {
		struct shmstream_format f = { fmt->fourcc, w, h, ctl_stride(fmt, w) };
		struct shmdev_commit_params cp = { .bytes = bytes, .format = &f,
						   .meta = &n, .meta_len = sizeof(n) };
		struct shmdev_slot slot;
		int64_t due = start + (int64_t)((n - 1) * 1e9 / fps), now = ctl_now_ns();

		if (due > now)
			nanosleep(&(struct timespec){ (due - now) / 1000000000,
						      (due - now) % 1000000000 }, NULL);
		if (ctl_stop)
			break;
		if (in && strstr(file, ".ppm")) {
			if (n == 1 && (ret = read_ppm(in, rgb, w, h)))
				break;
			ctl_from_rgb(fmt, rgb, frame, w, h);
		} else if (in) {
			if (fread(frame, 1, bytes, in) != bytes) {
				rewind(in);
				if (fread(frame, 1, bytes, in) != bytes) {
					ret = -EMSGSIZE;
					break;
				}
			}
		} else {
			ctl_pattern_rgb(rgb, w, h, n);
			ctl_from_rgb(fmt, rgb, frame, w, h);
		}
		ret = shmdev_begin(s, SHMDEV_FOREVER, &slot);
		if (ret)
			break;
		if (slot.size < bytes) {
			shmdev_discard(s, &slot);
			ret = -EMSGSIZE;
			break;
		}
		memcpy(slot.data, frame, bytes);
		ret = shmdev_commit(s, &slot, &cp);
		if (ret)
			break;
		if (isatty(STDERR_FILENO) && ctl_now_ns() - last_report > 1000000000) {
			last_report = ctl_now_ns();
			fprintf(stderr, "\rfeed %s: frame %llu, %.1f frames/s   ", argv[optind], n,
				n / ((last_report - start) / 1e9));
		}
	}
	if (isatty(STDERR_FILENO) && last_report)
		fputc('\n', stderr);
	if (ret == -EINTR)
		ret = 0;
	if (ret)
		status = ctl_fail("feed", file && ret != -ENOMEM ? file : argv[optind], ret);
	else
		printf("fed %llu frames to %s\n", n - 1, argv[optind]);
out:
	if (in)
		fclose(in);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	free(rgb);
	free(frame);
	return status;
}

/* FILE.png with N > 1: FILE-0001.png, ... */
static void numbered(char *out, size_t len, const char *path, unsigned long i, bool many)
{
	const char *dot = strrchr(path, '.');

	if (!many || !dot)
		snprintf(out, len, "%s", path);
	else
		snprintf(out, len, "%.*s-%04lu%s", (int)(dot - path), path, i, dot);
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "latest", no_argument, NULL, 'l' },
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "reliable", no_argument, NULL, 'r' },
		{ "history", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	const char *out = NULL, *ext;
	enum shmdev_mode mode = SHMDEV_NEXT;
	uint32_t count = 1, flags = 0, history = 0;
	uint64_t lost = 0;
	double timeout = 5;
	int c, ret, status = EXIT_OK;

	while ((c = getopt_long(argc, argv, "o:lc:t:rH:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'l':
			mode = SHMDEV_LATEST;
			break;
		case 'c':
			if (ctl_parse_u32(optarg, &count) || !count)
				return ctl_usage("dump", "bad --count '%s'", optarg);
			break;
		case 't':
			timeout = strtod(optarg, NULL);
			if (timeout < 0)
				return ctl_usage("dump", "bad --timeout '%s'", optarg);
			break;
		case 'r':
			flags |= SHMDEV_OPEN_RELIABLE;
			break;
		case 'H':
			if (ctl_parse_u32(optarg, &history))
				return ctl_usage("dump", "bad --history '%s'", optarg);
			break;
		case 'h':
			printf("Usage: shmstreamctl dump NAME -o FILE.{png,ppm,raw} [--latest] "
			       "[--count N]\n                        [--timeout S] [--reliable]"
			       " [--history N]\n\n"
			       "Write the next frames (or the newest with --latest) committed\n"
			       "after attaching. PNG and PPM are converted to RGB from the frame's\n"
			       "format; raw is the frame's bytes. With --count N > 1 the files are\n"
			       "FILE-0001.png, ... Waits up to S seconds (default 5) per frame.\n"
			       "--history N starts with the last N frames still in the ring.\n"
			       "--reliable makes the producer wait for each frame to be written\n"
			       "(it needs write permission); if the stream demotes the dump for\n"
			       "holding the producer back too long, frames are lost: the dump\n"
			       "says how many and exits with status 1.\n");
			return EXIT_OK;
		default:
			return ctl_usage("dump", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ctl_usage("dump", "need exactly one NAME");
	if (!out)
		return ctl_usage("dump", "-o FILE is required");
	ext = strrchr(out, '.');
	if (!ext || (strcmp(ext, ".png") && strcmp(ext, ".ppm") && strcmp(ext, ".raw")))
		return ctl_usage("dump", "-o takes a .png, .ppm or .raw file");
	if (mode == SHMDEV_LATEST && (flags || history))
		return ctl_usage("dump", "--latest skips frames: not with --reliable or --history");
	if (ctl_open("dump", &dev))
		return EXIT_RUNTIME;
	ret = shmdev_open_consumer_history(dev, argv[optind], flags, history, &s);
	if (ret) {
		status = ctl_fail("dump", argv[optind], ret);
		goto out;
	}
	for (uint32_t i = 1; i <= count; i++) {
		struct shmdev_frame f;
		const struct ctl_format *fmt;
		char path[4096];
		uint64_t number = 0;
		uint8_t *rgb;

		ret = shmdev_acquire(s, mode, (int64_t)(timeout * 1e9), &f);
		if (ret) {
			status = ctl_fail("dump", argv[optind], ret);
			break;
		}
		if (f.meta_len >= sizeof(number))
			memcpy(&number, f.meta, sizeof(number));
		lost += f.missed;
		numbered(path, sizeof(path), out, i, count > 1);
		if (!strcmp(ext, ".raw")) {
			FILE *o = fopen(path, "wb");

			ret = !o ? -errno : fwrite(f.data, 1, f.len, o) == f.len ? 0 : -EIO;
			if (o && fclose(o) && !ret)
				ret = -errno;
		} else {
			fmt = ctl_format_by_fourcc(f.format.fourcc);
			rgb = malloc((size_t)f.format.width * f.format.height * 3 + 1);
			ret = !fmt || !f.format.width || !f.format.height ? -EPROTONOSUPPORT :
			      !rgb ? -ENOMEM :
			      ctl_to_rgb(fmt, f.data, f.len, rgb, f.format.width, f.format.height,
					 f.format.stride);
			if (!ret)
				ret = ctl_write_image(path, rgb, f.format.width, f.format.height);
			free(rgb);
		}
		shmdev_release(s, &f);
		if (ret) {
			status = ctl_fail("dump", path, ret);
			break;
		}
		printf("frame %llu (seq %llu, %zu bytes) -> %s\n", (unsigned long long)number,
		       (unsigned long long)f.seq, f.len, path);
	}
	if ((flags & SHMDEV_OPEN_RELIABLE) && lost) {
		fprintf(stderr, "shmstreamctl dump: %s: %llu frames lost: demoted for holding "
			"the producer back past the stream's stall limit\n", argv[optind],
			(unsigned long long)lost);
		if (status == EXIT_OK)
			status = EXIT_RUNTIME;
	}
out:
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	return status;
}

int cmd_pattern(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "frame", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint32_t w = 640, h = 480, n = 1;
	const char *out = NULL;
	uint8_t *rgb;
	int c, ret;

	while ((c = getopt_long(argc, argv, "s:n:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (ctl_parse_size(optarg, &w, &h))
				return ctl_usage("pattern", "bad --size '%s'", optarg);
			break;
		case 'n':
			if (ctl_parse_u32(optarg, &n))
				return ctl_usage("pattern", "bad --frame '%s'", optarg);
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			printf("Usage: shmstreamctl pattern [--size WxH] --frame N -o FILE.{png,ppm}\n\n"
			       "Write the RGB test pattern feed makes for frame N.\n");
			return EXIT_OK;
		default:
			return ctl_usage("pattern", "bad option");
		}
	}
	if (!out || optind != argc)
		return ctl_usage("pattern", "need -o FILE and no other argument");
	rgb = malloc((size_t)w * h * 3);
	if (!rgb)
		return ctl_fail("pattern", "memory", -ENOMEM);
	ctl_pattern_rgb(rgb, w, h, n);
	ret = ctl_write_image(out, rgb, w, h);
	free(rgb);
	return ret ? ctl_fail("pattern", out, ret) : EXIT_OK;
}
