// SPDX-License-Identifier: GPL-2.0-only
/*
 * copycount.so, an LD_PRELOAD interposer for tools_test.sh: counts the
 * copies of at least COPYCOUNT_MIN bytes (a frame's size) that the process
 * asks for, and writes the counts to the file COPYCOUNT_OUT when it exits:
 *
 *	copies N bytes B largest L
 *
 * Counted: memcpy, memmove, mempcpy and their _FORTIFY_SOURCE forms (every
 * call from the program or its libraries, such as libshmdev, goes through
 * the dynamic linker to these, so a copy of a frame into a slot is seen
 * whoever makes it), and read/pread/write/pwrite of that many bytes (a
 * copy made by the kernel on the process's behalf: a camera's read() I/O,
 * or a frame written to the stream with write(2)). A copy the compiler
 * inlines is not seen, but only copies of a size known when compiling are
 * inlined, and no frame's size is.
 *
 * With COPYCOUNT_NO_DMABUF=1 it also plays a camera that does not import
 * dma-bufs: VIDIOC_REQBUFS for V4L2_MEMORY_DMABUF fails with EINVAL, as
 * vb2 answers for a queue without VB2_DMABUF.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <unistd.h>

static size_t min_bytes = SIZE_MAX;
static unsigned long long copies, copied, largest;
static int no_dmabuf;

static void *(*real_memcpy)(void *, const void *, size_t);
static void *(*real_memmove)(void *, const void *, size_t);
static void *(*real_mempcpy)(void *, const void *, size_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int (*real_ioctl)(int, unsigned long, ...);

/*
 * Until the real ones are known (dlsym itself may copy, so the copies are
 * resolved once, by the constructor; the others when first called).
 */
static void *slow_move(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;

	if (d < s)
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	else
		for (size_t i = n; i > 0; i--)
			d[i - 1] = s[i - 1];
	return dst;
}

static void note(size_t n)
{
	unsigned long long was;

	if (n < min_bytes)
		return;
	__atomic_add_fetch(&copies, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&copied, n, __ATOMIC_RELAXED);
	was = __atomic_load_n(&largest, __ATOMIC_RELAXED);
	while (n > was && !__atomic_compare_exchange_n(&largest, &was, n, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

__attribute__((constructor)) static void copycount_init(void)
{
	const char *min = getenv("COPYCOUNT_MIN"), *nd = getenv("COPYCOUNT_NO_DMABUF");

	real_memcpy = dlsym(RTLD_NEXT, "memcpy");
	real_memmove = dlsym(RTLD_NEXT, "memmove");
	real_mempcpy = dlsym(RTLD_NEXT, "mempcpy");
	real_read = dlsym(RTLD_NEXT, "read");
	real_pread = dlsym(RTLD_NEXT, "pread");
	real_write = dlsym(RTLD_NEXT, "write");
	real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	if (min && *min)
		min_bytes = strtoull(min, NULL, 0);
	no_dmabuf = nd && !strcmp(nd, "1");
}

__attribute__((destructor)) static void copycount_fini(void)
{
	const char *out = getenv("COPYCOUNT_OUT");
	char line[128];
	int fd, len;

	if (!out || !*out)
		return;
	len = snprintf(line, sizeof(line), "copies %llu bytes %llu largest %llu\n", copies,
		       copied, largest);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (real_write && real_write(fd, line, len) != len)
		fprintf(stderr, "copycount: %s: short write\n", out);
	close(fd);
}

void *memcpy(void *dst, const void *src, size_t n)
{
	note(n);
	return real_memcpy ? real_memcpy(dst, src, n) : slow_move(dst, src, n);
}

void *memmove(void *dst, const void *src, size_t n)
{
	note(n);
	return real_memmove ? real_memmove(dst, src, n) : slow_move(dst, src, n);
}

void *mempcpy(void *dst, const void *src, size_t n)
{
	note(n);
	return real_mempcpy ? real_mempcpy(dst, src, n) : (char *)slow_move(dst, src, n) + n;
}

void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		abort();
	return memcpy(dst, src, n);
}

void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen);
void *__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		abort();
	return memmove(dst, src, n);
}

void *__mempcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);
void *__mempcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		abort();
	return mempcpy(dst, src, n);
}

/* @ret, what read(2) and its kind return, counted when bytes moved. */
static ssize_t noted(ssize_t ret)
{
	if (ret > 0)
		note(ret);
	return ret;
}

ssize_t read(int fd, void *buf, size_t n)
{
	if (!real_read)
		real_read = dlsym(RTLD_NEXT, "read");
	return noted(real_read(fd, buf, n));
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (!real_pread)
		real_pread = dlsym(RTLD_NEXT, "pread");
	return noted(real_pread(fd, buf, n, off));
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (!real_write)
		real_write = dlsym(RTLD_NEXT, "write");
	return noted(real_write(fd, buf, n));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (!real_pwrite)
		real_pwrite = dlsym(RTLD_NEXT, "pwrite");
	return noted(real_pwrite(fd, buf, n, off));
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	if (no_dmabuf && req == VIDIOC_REQBUFS &&
	    ((struct v4l2_requestbuffers *)arg)->memory == V4L2_MEMORY_DMABUF) {
		errno = EINVAL;
		return -1;
	}
	return real_ioctl(fd, req, arg);
}
