// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmstreamctl gpu-info and gpu-mirror: the libshmdev CUDA bridge.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char *mode_str(uint32_t mode)
{
	return mode == SHMDEV_CUDA_ZERO_COPY ? "zero-copy (the ring is registered)" :
	       mode == SHMDEV_CUDA_STAGED ? "staged copies (pinned staging buffers)" : "?";
}

static void paths_str(uint32_t paths, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s",
		 paths & SHMDEV_CUDA_HOST_REGISTER ? " host-register" : "",
		 paths & SHMDEV_CUDA_HOST_READONLY ? " host-register-readonly" : "",
		 paths & SHMDEV_CUDA_IPC_FD ? " ipc-fd" : "",
		 paths & SHMDEV_CUDA_IPC_LEGACY ? " ipc-legacy" : "",
		 paths & SHMDEV_CUDA_IPC_EVENT ? " ipc-event" : "");
}

int cmd_gpu_info(int argc, char **argv)
{
	struct shmdev_cuda_device d;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	int ver, n, ret, i;
	char paths[128];

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: shmstreamctl gpu-info [--json]\n\nThe CUDA driver version, each "
		       "device, and which bridge paths work\non it: host-register (zero-copy "
		       "upload from the producer's ring),\nhost-register-readonly (... from "
		       "a consumer's read-only ring; else\nstaged copies), ipc-fd and "
		       "ipc-legacy (device mirrors), ipc-event.\nExit status 1 without a "
		       "CUDA driver or GPU.\n");
		return EXIT_OK;
	}
	if (argc > 2 || (argc == 2 && !json))
		return ctl_usage("gpu-info", "unexpected argument '%s'", argv[1]);
	ret = shmdev_cuda_driver_version(&ver);
	if (!ret)
		ret = shmdev_cuda_device_count(&n);
	if (ret) {
		if (json)
			printf("{\"available\": false, \"error\": \"%s\"}\n", shmdev_errmsg());
		fprintf(stderr, "shmstreamctl gpu-info: %s: %s\n", shmdev_strerror(ret),
			shmdev_errmsg());
		return EXIT_RUNTIME;
	}
	if (json)
		printf("{\"available\": true, \"driver_version\": %d, \"devices\": [", ver);
	else
		printf("CUDA driver %d.%d, %d device%s\n", ver / 1000, ver % 1000 / 10, n,
		       n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		ret = shmdev_cuda_device_info(i, &d);
		if (ret)
			return ctl_fail("gpu-info", "device", ret);
		paths_str(d.paths, paths, sizeof(paths));
		if (json) {
			printf("%s{\"ordinal\": %d, \"name\": \"%s\", \"cc\": \"%d.%d\", "
			       "\"total_mem\": %llu, \"host_zero_copy_producer\": %s, "
			       "\"host_zero_copy_consumer\": %s, \"mirror_fd\": %s, "
			       "\"mirror_legacy\": %s, \"ipc_events\": %s}",
			       i ? ", " : "", i, d.name, d.cc_major, d.cc_minor,
			       (unsigned long long)d.total_mem,
			       d.paths & SHMDEV_CUDA_HOST_REGISTER ? "true" : "false",
			       d.paths & SHMDEV_CUDA_HOST_READONLY ? "true" : "false",
			       d.paths & SHMDEV_CUDA_IPC_FD ? "true" : "false",
			       d.paths & SHMDEV_CUDA_IPC_LEGACY ? "true" : "false",
			       d.paths & SHMDEV_CUDA_IPC_EVENT ? "true" : "false");
			continue;
		}
		printf("device %d: %s, compute %d.%d, %.1f GiB\n", i, d.name, d.cc_major,
		       d.cc_minor, d.total_mem / (1024.0 * 1024 * 1024));
		printf("  paths:%s\n", paths);
		printf("  pinned host path: producer %s, consumer %s\n",
		       d.paths & SHMDEV_CUDA_HOST_REGISTER ? "zero-copy" : "staged",
		       d.paths & SHMDEV_CUDA_HOST_READONLY ? "zero-copy" : "staged");
		printf("  device mirror: %s%s\n",
		       d.paths & SHMDEV_CUDA_IPC_FD ? "fd export (cuMemCreate)" : "no fd export",
		       d.paths & SHMDEV_CUDA_IPC_LEGACY ? ", legacy cuIpcMemHandle" : "");
	}
	if (json)
		printf("]}\n");
	return EXIT_OK;
}

int cmd_gpu_mirror(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "slots", required_argument, NULL, 's' },
		{ "no-fd", no_argument, NULL, 'F' },
		{ "no-legacy", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct shmdev_gpu_mirror_params p = { 0 };
	struct shmdev_gpu_mirror_stats st;
	struct shmdev_cuda_device d;
	struct shmdev_gpu_mirror *m;
	struct shmdev *dev;
	uint32_t u;
	char paths[128];
	int c, ret;

	while ((c = getopt_long(argc, argv, "d:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ctl_parse_u32(optarg, &u) || u > 1024)
				return ctl_usage("gpu-mirror", "bad --device '%s'", optarg);
			p.device = (int)u;
			break;
		case 's':
			if (ctl_parse_u32(optarg, &p.slot_count) || p.slot_count < 2 ||
			    p.slot_count > 64)
				return ctl_usage("gpu-mirror", "--slots: 2 to 64");
			break;
		case 'F':
			p.flags |= SHMDEV_GPU_NO_FD;
			break;
		case 'L':
			p.flags |= SHMDEV_GPU_NO_LEGACY;
			break;
		case 'h':
			printf("Usage: shmstreamctl gpu-mirror NAME [--device N] [--slots K] "
			       "[--no-fd] [--no-legacy]\n\nMirror stream NAME into a ring of K "
			       "(default 4) device slots on GPU N\n(default 0) for GPU consumers in "
			       "other processes (shmdev_gpu_open(3)):\nexported as POSIX fds "
			       "(cuMemCreate) and as a legacy cuIpcMemHandle\nring, with a "
			       "per-slot interprocess event. Runs until the stream is\ndestroyed "
			       "(exit 0) or SIGINT/SIGTERM; prints what it mirrored.\n");
			return EXIT_OK;
		default:
			return ctl_usage("gpu-mirror", "bad option");
		}
	}
	if (optind + 1 != argc)
		return ctl_usage("gpu-mirror", "need exactly one NAME");
	if ((p.flags & SHMDEV_GPU_NO_FD) && (p.flags & SHMDEV_GPU_NO_LEGACY))
		return ctl_usage("gpu-mirror", "--no-fd and --no-legacy leave nothing to export");
	if (ctl_open("gpu-mirror", &dev))
		return EXIT_RUNTIME;
	ret = shmdev_gpu_mirror_start(dev, argv[optind], &p, &m);
	shmdev_unref(dev);
	if (ret) {
		fprintf(stderr, "shmstreamctl gpu-mirror: %s: %s (%s)\n", argv[optind],
			shmdev_strerror(ret), shmdev_errmsg());
		return EXIT_RUNTIME;
	}
	shmdev_gpu_mirror_stats(m, &st);
	if (shmdev_cuda_device_info(p.device, &d))
		snprintf(d.name, sizeof(d.name), "?");
	paths_str(st.paths, paths, sizeof(paths));
	printf("gpu-mirror: %s -> device %d (%s), %u slots\n", argv[optind], p.device, d.name,
	       st.slot_count);
	printf("gpu-mirror: upload from the host ring: %s\n", mode_str(st.host_mode));
	printf("gpu-mirror: device ring exported as:%s\n", paths);
	fflush(stdout);
	ctl_catch_signals();
	do
		ret = shmdev_gpu_mirror_run(m, SHMDEV_MS(200));
	while (ret >= 0 && !ctl_stop);
	shmdev_gpu_mirror_stats(m, &st);
	shmdev_gpu_mirror_stop(m);
	printf("gpu-mirror: %llu frames (%llu bytes) mirrored, %llu dropped (device slots held), "
	       "%llu missed on the host\n", (unsigned long long)st.frames,
	       (unsigned long long)st.bytes, (unsigned long long)st.dropped,
	       (unsigned long long)st.host_missed);
	if (ret < 0 && ret != -EIDRM)
		return ctl_fail("gpu-mirror", argv[optind], ret);
	return EXIT_OK;
}
