// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Error strings, the per-thread detail message and the library version.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#ifndef SHMDEV_VERSION
#error "SHMDEV_VERSION must be defined by the build"
#endif

/* Per thread, like dlerror(): no lock, no state shared between threads. */
static _Thread_local char shmdev_msg[256];

int shmdev_set_errmsg(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(shmdev_msg, sizeof(shmdev_msg), fmt, ap);
	va_end(ap);
	return err;
}

SHMDEV_EXPORT const char *shmdev_errmsg(void)
{
	return shmdev_msg;
}

SHMDEV_EXPORT const char *shmdev_strerror(int err)
{
	switch (err) {
	case 0:
		return "Success";
	case -EPROTO:
		return "Incompatible shmstream module ABI version";
	case -ENOTCONN:
		return "Handle is not bound to a stream";
	case -EIDRM:
		return "Stream was destroyed";
	case -ENOBUFS:
		return "Too many frames held or slots pending";
	case -EUSERS:
		return "Too many consumers on the stream";
	case -EMSGSIZE:
		return "Frame does not fit the buffer or slot";
	default:
		/* strerror() is not thread-safe; strerrordesc_np() needs glibc 2.32. */
		return err < 0 ? strerrordesc_np(-err) ?: "Unknown error" :
				 "Unknown error";
	}
}

SHMDEV_EXPORT const char *shmdev_version(void)
{
	return SHMDEV_VERSION;
}

int shmdev_copy_name(char *dst, const char *name)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, SHMSTREAM_NAME_MAX);
	if (len == 0 || len == SHMSTREAM_NAME_MAX)
		return -EINVAL;
	memcpy(dst, name, len);
	return 0;
}
