/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * shmstreamctl: shared declarations.
 */
#ifndef SHMSTREAMCTL_H
#define SHMSTREAMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shmdev.h>

/* Exit statuses */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

struct ctl_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

/* Each command: argv[0] is the command name; returns an exit status. */
int cmd_load(int argc, char **argv);
int cmd_unload(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_feed(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_pattern(int argc, char **argv);
int cmd_ingest_v4l2(int argc, char **argv);
int cmd_v4l2_out(int argc, char **argv);
int cmd_pipewire(int argc, char **argv);
int cmd_gpu_info(int argc, char **argv);
int cmd_gpu_mirror(int argc, char **argv);

/* Print "shmstreamctl CMD: what: reason" and return EXIT_RUNTIME. */
int ctl_fail(const char *cmd, const char *what, int err);
/* Print a usage error with a hint to --help, return EXIT_USAGE. */
int ctl_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Open the device or print why not. */
int ctl_open(const char *cmd, struct shmdev **dev);

/* Pixel formats the tools understand. */
struct ctl_format {
	const char *name;
	uint32_t fourcc;
	uint32_t bpp_num, bpp_den; /* bytes per pixel as a fraction */
};
const struct ctl_format *ctl_format_by_name(const char *name);
const struct ctl_format *ctl_format_by_fourcc(uint32_t fourcc);
void ctl_fourcc_str(uint32_t fourcc, char out[5]);
int ctl_parse_size(const char *s, uint32_t *w, uint32_t *h);
int ctl_parse_u32(const char *s, uint32_t *out);
size_t ctl_frame_bytes(const struct ctl_format *f, uint32_t w, uint32_t h);
uint32_t ctl_stride(const struct ctl_format *f, uint32_t w);

/* pattern.c: the test pattern of frame @n as RGB24, and conversions. */
void ctl_pattern_rgb(uint8_t *rgb, uint32_t w, uint32_t h, uint64_t n);
int ctl_from_rgb(const struct ctl_format *f, const uint8_t *rgb, uint8_t *out,
		 uint32_t w, uint32_t h);
int ctl_to_rgb(const struct ctl_format *f, const uint8_t *in, size_t len,
	       uint8_t *rgb, uint32_t w, uint32_t h, uint32_t stride);
int ctl_write_image(const char *path, const uint8_t *rgb, uint32_t w, uint32_t h);

int64_t ctl_now_ns(void);
extern volatile int ctl_stop; /* set by SIGINT/SIGTERM */
void ctl_catch_signals(void);

#endif /* SHMSTREAMCTL_H */
