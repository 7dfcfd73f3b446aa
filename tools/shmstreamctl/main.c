// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmstreamctl: load the module, manage, feed, watch and dump streams.
 */
#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#ifndef SHMSTREAM_VERSION
#error "SHMSTREAM_VERSION must be defined by the build"
#endif

static const struct ctl_cmd ctl_cmds[] = {
	{ "load", cmd_load, "load the module through libkmod" },
	{ "unload", cmd_unload, "unload the module (refused while in use)" },
	{ "status", cmd_status, "module state, refcount, parameters, device" },
	{ "list", cmd_list, "list streams" },
	{ "create", cmd_create, "create a stream" },
	{ "destroy", cmd_destroy, "destroy a stream" },
	{ "info", cmd_info, "geometry, format, frames, rate, consumers" },
	{ "watch", cmd_watch, "live view of frames/s, MB/s, consumers, missed" },
	{ "feed", cmd_feed, "produce test patterns or file frames" },
	{ "dump", cmd_dump, "write frames to PNG, PPM or raw files" },
	{ "ingest-v4l2", cmd_ingest_v4l2, "capture a V4L2 camera into a stream" },
	{ "v4l2-out", cmd_v4l2_out, "write a stream to a V4L2 output (v4l2loopback)" },
	{ "pipewire", cmd_pipewire, "publish a stream as a PipeWire camera node" },
	{ "gpu-info", cmd_gpu_info, "CUDA driver, devices and the bridge paths that work" },
	{ "gpu-mirror", cmd_gpu_mirror, "mirror a stream into GPU memory for CUDA IPC consumers" },
	{ "pattern", cmd_pattern, "write the test pattern of a frame (for tests)" },
};

volatile int ctl_stop;

static void ctl_on_signal(int sig)
{
	(void)sig;
	ctl_stop = 1;
}

void ctl_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = ctl_on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int64_t ctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A whole unsigned number (decimal, 0x hex, 0 octal) that fits 32 bits. */
int ctl_parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || !*s || v > UINT32_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

int ctl_fail(const char *cmd, const char *what, int err)
{
	fprintf(stderr, "shmstreamctl %s: %s: %s\n", cmd, what, shmdev_strerror(err));
	return EXIT_RUNTIME;
}

int ctl_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shmstreamctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shmstreamctl %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int ctl_open(const char *cmd, struct shmdev **dev)
{
	int ret = shmdev_open(dev);

	if (ret)
		fprintf(stderr, "shmstreamctl %s: %s\n", cmd,
			*shmdev_errmsg() ? shmdev_errmsg() : shmdev_strerror(ret));
	return ret;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: shmstreamctl [--version] [--help] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		fprintf(out, "  %-12s %s\n", ctl_cmds[i].name, ctl_cmds[i].summary);
	fprintf(out, "\n'shmstreamctl COMMAND --help' describes each command.\n"
		     "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr), EXIT_USAGE;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return usage(stdout), EXIT_OK;
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("shmstreamctl %s (libshmdev %s)\n", SHMSTREAM_VERSION, shmdev_version());
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (!strcmp(argv[1], ctl_cmds[i].name))
			return ctl_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "shmstreamctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
