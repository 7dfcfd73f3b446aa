// SPDX-License-Identifier: GPL-2.0-only
/*
 * list, create, destroy, info, watch.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"

#define DEBUGFS_STREAMS "/sys/kernel/debug/shmstream/streams"

static bool want_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(text, stdout);
			return true;
		}
	return false;
}

static bool want_json(int *argc, char **argv)
{
	for (int i = 1; i < *argc; i++)
		if (!strcmp(argv[i], "--json")) {
			memmove(&argv[i], &argv[i + 1], (*argc - i) * sizeof(*argv));
			(*argc)--;
			return true;
		}
	return false;
}

int cmd_list(int argc, char **argv)
{
	char (*names)[SHMSTREAM_NAME_MAX] = NULL;
	struct shmdev *dev;
	size_t count = 0, cap = 0;
	bool json = want_json(&argc, argv);
	int ret;

	if (want_help(argc, argv, "Usage: shmstreamctl list [--json]\n\n"
				  "List the streams of the caller's IPC namespace.\n"))
		return EXIT_OK;
	if (argc > 1)
		return ctl_usage("list", "unexpected argument '%s'", argv[1]);
	if (ctl_open("list", &dev))
		return EXIT_RUNTIME;
	do {
		cap = count + 16;
		free(names);
		names = calloc(cap, sizeof(*names));
		if (!names)
			return ctl_fail("list", "memory", -ENOMEM);
		ret = shmdev_list(dev, names, cap, &count);
	} while (ret == -ENOSPC);
	shmdev_unref(dev);
	if (ret)
		return free(names), ctl_fail("list", "list", ret);
	if (json)
		printf("[");
	for (size_t i = 0; i < count; i++)
		printf(json ? "%s\"%s\"" : "%.0s%s\n", i ? ", " : "", names[i]);
	if (json)
		printf("]\n");
	free(names);
	return EXIT_OK;
}

int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "slots", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'f' },
		{ "width", required_argument, NULL, 'W' },
		{ "height", required_argument, NULL, 'H' },
		{ "mode", required_argument, NULL, 'm' },
		{ "max-consumers", required_argument, NULL, 'C' },
		{ "user-consumers", required_argument, NULL, 'U' },
		{ "user-holds", required_argument, NULL, 'L' },
		{ "producers", required_argument, NULL, 'P' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ "contiguous", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct shmdev_create_params p = { .mode = 0660 };
	struct shmdev_create_limits lim = { 0 };
	const struct ctl_format *fmt = NULL;
	struct shmdev_stream *s = NULL;
	struct shmdev *dev;
	int c, ret;

	while ((c = getopt_long(argc, argv, "n:s:f:W:H:m:C:U:L:P:S:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (ctl_parse_u32(optarg, &p.slot_count))
				return ctl_usage("create", "bad --slots '%s'", optarg);
			break;
		case 's':
			if (ctl_parse_u32(optarg, &p.slot_size))
				return ctl_usage("create", "bad --size '%s'", optarg);
			break;
		case 'f':
			fmt = ctl_format_by_name(optarg);
			if (!fmt)
				return ctl_usage("create", "unknown --format '%s' (RGB24, BGR24, "
						 "GREY, YUYV, NV12)", optarg);
			break;
		case 'W':
			if (ctl_parse_u32(optarg, &p.format.width))
				return ctl_usage("create", "bad --width '%s'", optarg);
			break;
		case 'H':
			if (ctl_parse_u32(optarg, &p.format.height))
				return ctl_usage("create", "bad --height '%s'", optarg);
			break;
		case 'm':
			if (ctl_parse_u32(optarg, &p.mode) || p.mode > 0777)
				return ctl_usage("create", "bad --mode '%s'", optarg);
			break;
		case 'C':
			if (ctl_parse_u32(optarg, &lim.max_consumers))
				return ctl_usage("create", "bad --max-consumers '%s'", optarg);
			break;
		case 'U':
			if (ctl_parse_u32(optarg, &lim.user_consumers))
				return ctl_usage("create", "bad --user-consumers '%s'", optarg);
			break;
		case 'L':
			if (ctl_parse_u32(optarg, &lim.user_holds))
				return ctl_usage("create", "bad --user-holds '%s'", optarg);
			break;
		case 'P':
			if (ctl_parse_u32(optarg, &lim.max_producers) || !lim.max_producers)
				return ctl_usage("create", "bad --producers '%s'", optarg);
			p.flags |= SHMSTREAM_CREATE_MULTI_PRODUCER;
			break;
		case 'S':
			if (ctl_parse_u32(optarg, &lim.stall_ms))
				return ctl_usage("create", "bad --stall-ms '%s'", optarg);
			break;
		case 'K':
			p.flags |= SHMSTREAM_CREATE_CONTIGUOUS;
			break;
		case 'h':
			printf("Usage: shmstreamctl create NAME --slots N --size BYTES\n"
			       "                          [--format FOURCC --width W --height H]"
			       " [--mode 0660]\n"
			       "                          [--max-consumers N] [--user-consumers N]"
			       " [--user-holds N]\n"
			       "                          [--producers N] [--stall-ms MS] [--contiguous]\n\n"
			       "Create a stream that stays until destroyed. The limits bound the\n"
			       "consumers of users other than the owner (0: the module's defaults;\n"
			       "README.md, \"Security model\"). --producers N lets N producers\n"
			       "attach at once, their frames in one sequence; --stall-ms is how long\n"
			       "a reliable consumer may hold the producer back before it is demoted\n"
			       "(README.md, \"Delivery\"). --contiguous makes each slot physically\n"
			       "contiguous (at most 4 MiB), for devices that import its dma-buf\n"
			       "without an IOMMU (README.md, \"dma-buf\").\n");
			return EXIT_OK;
		default:
			return ctl_usage("create", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ctl_usage("create", "need exactly one NAME");
	if (!p.slot_count || !p.slot_size)
		return ctl_usage("create", "--slots and --size are required");
	if (fmt) {
		p.format.fourcc = fmt->fourcc;
		p.format.stride = ctl_stride(fmt, p.format.width);
	}
	if (ctl_open("create", &dev))
		return EXIT_RUNTIME;
	ret = shmdev_create_limited(dev, argv[optind], &p, &lim, &s);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	if (ret)
		return ctl_fail("create", argv[optind], ret);
	printf("created %s: %u slots of %u bytes%s\n", argv[optind], p.slot_count, p.slot_size,
	       p.flags & SHMSTREAM_CREATE_CONTIGUOUS ? ", physically contiguous" : "");
	return EXIT_OK;
}

int cmd_destroy(int argc, char **argv)
{
	struct shmdev *dev;
	int ret;

	if (want_help(argc, argv, "Usage: shmstreamctl destroy NAME\n\nRemove a stream's "
				  "name; its memory goes when its last user does.\n"))
		return EXIT_OK;
	if (argc != 2)
		return ctl_usage("destroy", "need exactly one NAME");
	if (ctl_open("destroy", &dev))
		return EXIT_RUNTIME;
	ret = shmdev_destroy(dev, argv[1]);
	shmdev_unref(dev);
	if (ret)
		return ctl_fail("destroy", argv[1], ret);
	printf("destroyed %s\n", argv[1]);
	return EXIT_OK;
}

/* A producer or consumer of a stream, as debugfs lists it (root only). */
struct ctl_file {
	bool consumer;
	uint64_t missed; /* consumer */
	const char *kind; /* consumer: "", "reliable" or "demoted" */
	uint64_t committed; /* producer */
	unsigned int pending; /* producer */
	int dmabufs; /* slots it exported as dma-bufs; -1: not said (ABI < 2.3) */
};

/*
 * The files of @name from debugfs, at most @max: its consumers in their
 * order, and its producers (listed by modules of ABI 2.3 and later). The
 * count, or -1 without debugfs.
 */
static int stream_files(const char *name, struct ctl_file *files, int max)
{
	char line[256];
	size_t len = strlen(name);
	int n = -1, in = 0;
	FILE *f = fopen(DEBUGFS_STREAMS, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != ' ') {
			in = !strncmp(line, name, len) && line[len] == ' ';
			if (in)
				n = 0;
		} else if (in && n < max) {
			struct ctl_file *file = &files[n];
			char *m = strstr(line, "missed="), *d = strstr(line, " dmabufs=");
			char *c = strstr(line, "committed="), *p = strstr(line, "pending=");

			if (m) {
				file->consumer = true;
				file->kind = strstr(line, " reliable") ? "reliable" :
					     strstr(line, " demoted") ? "demoted" : "";
				file->missed = strtoull(m + 7, NULL, 10);
			} else if (c && p) {
				file->consumer = false;
				file->kind = "";
				file->committed = strtoull(c + 10, NULL, 10);
				file->pending = strtoul(p + 8, NULL, 10);
			} else {
				continue;
			}
			file->dmabufs = d ? (int)strtol(d + 9, NULL, 10) : -1;
			n++;
		}
	}
	fclose(f);
	return n;
}

int cmd_info(int argc, char **argv)
{
	struct shmstream_info a, b;
	struct shmdev *dev;
	struct ctl_file files[256];
	char fourcc[5];
	bool json = want_json(&argc, argv);
	double fps;
	int ret, n, k;

	if (want_help(argc, argv, "Usage: shmstreamctl info NAME [--json]\n\nGeometry, format, "
				  "frames, frame rate (over 0.5 s), producer,\nconsumers, dma-bufs "
				  "exported and whether slots are contiguous;\nfrom debugfs (as root) "
				  "each consumer's missed frames and each file's\ndma-bufs.\n"))
		return EXIT_OK;
	if (argc != 2)
		return ctl_usage("info", "need exactly one NAME");
	if (ctl_open("info", &dev))
		return EXIT_RUNTIME;
	ret = shmdev_info(dev, argv[1], &a);
	if (!ret) {
		usleep(500 * 1000);
		ret = shmdev_info(dev, argv[1], &b);
	}
	shmdev_unref(dev);
	if (ret)
		return ctl_fail("info", argv[1], ret);
	fps = (b.frames - a.frames) / 0.5;
	ctl_fourcc_str(b.format.fourcc, fourcc);
	n = stream_files(argv[1], files, 256);
	if (json) {
		printf("{\"name\": \"%s\", \"slots\": %u, \"slot_size\": %u, \"fourcc\": \"%s\", "
		       "\"width\": %u, \"height\": %u, \"stride\": %u, \"mode\": \"0%o\", "
		       "\"frames\": %llu, \"bytes\": %llu, \"fps\": %.1f, \"producer\": %s, "
		       "\"destroyed\": %s, \"consumers\": %u, \"guest_consumers\": %u, "
		       "\"max_consumers\": %u, \"user_consumers\": %u, \"user_holds\": %u, "
		       "\"producers\": %u, \"max_producers\": %u, \"reliable_consumers\": %u, "
		       "\"demotions\": %u, \"stall_ms\": %u, \"dmabufs\": %u, \"contiguous\": %s, "
		       "\"missed\": [",
		       b.name, b.slot_count, b.slot_size, fourcc, b.format.width, b.format.height,
		       b.format.stride, b.mode, (unsigned long long)b.frames,
		       (unsigned long long)b.bytes, fps,
		       b.state & SHMSTREAM_STATE_PRODUCER ? "true" : "false",
		       b.state & SHMSTREAM_STATE_DESTROYED ? "true" : "false", b.consumers,
		       b.guest_consumers, b.max_consumers, b.user_consumers, b.user_holds,
		       b.producers, b.max_producers, b.reliable_consumers, b.demotions,
		       b.stall_ms, b.dmabufs,
		       b.state & SHMSTREAM_STATE_CONTIGUOUS ? "true" : "false");
		/* Consumers' lists in their order, then producers'; -1: not said. */
		k = 0;
		for (int i = 0; i < n; i++)
			if (files[i].consumer)
				printf("%s%llu", k++ ? ", " : "",
				       (unsigned long long)files[i].missed);
		printf("], \"delivery\": [");
		k = 0;
		for (int i = 0; i < n; i++)
			if (files[i].consumer)
				printf("%s\"%s\"", k++ ? ", " : "",
				       *files[i].kind ? files[i].kind : "ordinary");
		printf("], \"consumer_dmabufs\": [");
		k = 0;
		for (int i = 0; i < n; i++)
			if (files[i].consumer)
				printf("%s%d", k++ ? ", " : "", files[i].dmabufs);
		printf("], \"producer_dmabufs\": [");
		k = 0;
		for (int i = 0; i < n; i++)
			if (!files[i].consumer)
				printf("%s%d", k++ ? ", " : "", files[i].dmabufs);
		printf("]}\n");
		return EXIT_OK;
	}
	printf("name:      %s\nslots:     %u x %u bytes (stride %llu in the mapping)\n",
	       b.name, b.slot_count, b.slot_size, (unsigned long long)b.slot_stride);
	printf("format:    %s %ux%u stride %u\n", fourcc, b.format.width, b.format.height,
	       b.format.stride);
	printf("mode:      0%o uid %u gid %u\n", b.mode, b.uid, b.gid);
	printf("frames:    %llu (%llu bytes), %.1f frames/s\n", (unsigned long long)b.frames,
	       (unsigned long long)b.bytes, fps);
	if (b.max_producers > 1)
		printf("producers: %u attached, at most %u\n", b.producers, b.max_producers);
	else
		printf("producer:  %s\n",
		       b.state & SHMSTREAM_STATE_PRODUCER ? "attached" : "none");
	printf("consumers: %u (%u of other users), %u reliable\n", b.consumers,
	       b.guest_consumers, b.reliable_consumers);
	printf("reliable:  demoted after %u ms holding the producer back; %u demoted so far\n",
	       b.stall_ms, b.demotions);
	printf("limits:    %u consumers of the owner, %u of other users together;\n"
	       "           per other user %u consumers holding %u frames\n",
	       b.max_consumers, b.max_consumers, b.user_consumers, b.user_holds);
	printf("dma-bufs:  %u exported; slots %sphysically contiguous\n", b.dmabufs,
	       b.state & SHMSTREAM_STATE_CONTIGUOUS ? "" : "not ");
	k = 0;
	for (int i = 0; i < n; i++) {
		if (!files[i].consumer)
			continue;
		printf("  consumer %d: %llu missed%s%s", k++, (unsigned long long)files[i].missed,
		       *files[i].kind ? ", " : "", files[i].kind);
		if (files[i].dmabufs >= 0)
			printf(", %d dma-buf%s", files[i].dmabufs, files[i].dmabufs == 1 ? "" : "s");
		printf("\n");
	}
	k = 0;
	for (int i = 0; i < n; i++)
		if (!files[i].consumer)
			printf("  producer %d: %llu committed, %u pending, %d dma-buf%s\n", k++,
			       (unsigned long long)files[i].committed, files[i].pending,
			       files[i].dmabufs, files[i].dmabufs == 1 ? "" : "s");
	return EXIT_OK;
}

int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct shmstream_info prev[64], cur;
	char names[64][SHMSTREAM_NAME_MAX];
	struct termios old, raw;
	struct shmdev *dev;
	const char *only = NULL;
	bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	uint32_t rounds = 0, max = 0;
	size_t count = 0;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			if (ctl_parse_u32(optarg, &max))
				return ctl_usage("watch", "bad --count '%s'", optarg);
		} else if (c == 'h') {
			printf("Usage: shmstreamctl watch [NAME] [--count N]\n\nEvery second: "
			       "frames/s, MB/s, consumers and missed frames of each\nstream (or "
			       "of NAME). q or Ctrl-C quits; --count stops after N updates.\n");
			return EXIT_OK;
		} else {
			return ctl_usage("watch", "bad option");
		}
	}
	if (optind < argc)
		only = argv[optind++];
	if (optind != argc)
		return ctl_usage("watch", "unexpected argument '%s'", argv[optind]);
	if (ctl_open("watch", &dev))
		return EXIT_RUNTIME;
	ctl_catch_signals();
	if (tty && !tcgetattr(STDIN_FILENO, &old)) {
		raw = old;
		raw.c_lflag &= ~(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	memset(prev, 0, sizeof(prev));
	while (!ctl_stop && (!max || rounds < max)) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int ret;

		if (only) {
			snprintf(names[0], sizeof(names[0]), "%s", only);
			count = 1;
		} else if (shmdev_list(dev, names, 64, &count) && count > 64) {
			count = 64;
		}
		if (tty)
			printf("\033[H\033[J");
		printf("%-24s %8s %9s %9s %8s %s\n", "STREAM", "FRAMES/S", "MB/S", "CONSUMERS",
		       "PRODUCER", "MISSED");
		for (size_t i = 0; i < count; i++) {
			struct ctl_file files[256];
			uint64_t total = 0;
			int n;

			ret = shmdev_info(dev, names[i], &cur);
			if (ret) {
				printf("%-24s %s\n", names[i], shmdev_strerror(ret));
				continue;
			}
			n = stream_files(names[i], files, 256);
			for (int k = 0; k < n; k++)
				total += files[k].consumer ? files[k].missed : 0;
			/* A rate needs the same stream a second ago. */
			bool same = rounds && !strcmp(prev[i].name, cur.name) &&
				    prev[i].frames <= cur.frames;

			printf("%-24s %8llu %9.2f %9u %8s %llu\n", names[i],
			       same ? (unsigned long long)(cur.frames - prev[i].frames) : 0ULL,
			       same ? (cur.bytes - prev[i].bytes) / 1e6 : 0.0,
			       cur.consumers, cur.state & SHMSTREAM_STATE_PRODUCER ? "yes" : "no",
			       (unsigned long long)total);
			prev[i] = cur;
		}
		if (tty)
			printf("\nq or Ctrl-C to quit\n");
		fflush(stdout);
		rounds++;
		if (max && rounds >= max)
			break;
		/* One second, or a key. */
		if (poll(&pfd, tty ? 1 : 0, 1000) > 0 && tty) {
			char key;

			if (read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q'))
				break;
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	shmdev_unref(dev);
	return EXIT_OK;
}
