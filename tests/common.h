/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the shmstream selftests.
 */
#ifndef SHMSTREAM_TEST_COMMON_H
#define SHMSTREAM_TEST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/shmstream.h>

#define SHMSTREAM_DEV "/dev/" SHMSTREAM_DEVICE_NAME

/* Poison output structs so a field the kernel never wrote shows up. */
#define POISON(x) memset(&(x), 0xcc, sizeof(x))

/* Open the device; a missing device is the caller's SKIP. */
static inline int shm_open_dev(void)
{
	return open(SHMSTREAM_DEV, O_RDWR | O_CLOEXEC);
}

/* ioctl() returning 0 or -errno. */
static inline int shm_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

#endif /* SHMSTREAM_TEST_COMMON_H */
