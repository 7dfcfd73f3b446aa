/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the shmstream selftests.
 */
#ifndef SHMSTREAM_TEST_COMMON_H
#define SHMSTREAM_TEST_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/shmstream.h>

#define SHMSTREAM_DEV "/dev/" SHMSTREAM_DEVICE_NAME
#define SHM_STATS "/sys/kernel/debug/shmstream/stats"

/* Poison output structs so a field the kernel never wrote shows up. */
#define POISON(x) memset(&(x), 0xcc, sizeof(x))

/*
 * Become user @uid, group @gid, without capabilities, and a member of the
 * device node's group (the udev rule's: the users allowed to use the
 * device), as a user of an installed machine is. 0 or -errno.
 */
static inline int shm_become(uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(SHMSTREAM_DEV, &st))
		return -errno;
	if (setgroups(1, &st.st_gid) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	return 0;
}

/*
 * fork(), with the child killed when its parent goes: a test that stops at
 * a failed assertion leaves no helper holding frames behind it.
 */
static inline pid_t shm_fork_tied(void)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent))
		_exit(249);
	return pid;
}

/* The exit status of child @pid: 0..255, or 300 + signal. */
static inline int shm_reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 300 + WTERMSIG(status);
}

static inline int shm_open_dev(void)
{
	return open(SHMSTREAM_DEV, O_RDWR | O_CLOEXEC);
}

/* ioctl() returning 0 or -errno. */
static inline int shm_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

/* Copy @src into a zeroed name field, at most 63 characters. */
static inline void shm_setname(char *dst, const char *src)
{
	memcpy(dst, src, strnlen(src, SHMSTREAM_NAME_MAX - 1));
}

/* A name unique to this test process. */
static inline void shm_name(char *buf, const char *tag)
{
	snprintf(buf, SHMSTREAM_NAME_MAX, "t-%s-%d", tag, getpid());
}

static inline int shm_create(int fd, const char *name, uint32_t slots,
			     uint32_t size, uint32_t mode, uint32_t flags)
{
	struct shmstream_create c = {
		.size = sizeof(c), .flags = flags,
		.slot_count = slots, .slot_size = size, .mode = mode,
	};

	shm_setname(c.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_CREATE, &c);
}

static inline int shm_attach(int fd, const char *name, uint32_t role)
{
	struct shmstream_attach a = { .size = sizeof(a), .flags = role };

	shm_setname(a.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_ATTACH, &a);
}

/*
 * Create a destroy-on-close stream named after @tag with producer file @p,
 * and open a consumer for it into *@c (-1 when it could not be opened).
 */
static inline int shm_make_pair(char *name, const char *tag, uint32_t slots,
				uint32_t size, int p, int *c)
{
	int ret;

	*c = -1;
	shm_name(name, tag);
	ret = shm_create(p, name, slots, size, 0600, SHMSTREAM_CREATE_DESTROY_ON_CLOSE);
	if (ret)
		return ret;
	*c = shm_open_dev();
	if (*c < 0)
		return -errno;
	return shm_attach(*c, name, SHMSTREAM_ATTACH_CONSUMER);
}

static inline int shm_destroy(int fd, const char *name)
{
	struct shmstream_destroy d = { .size = sizeof(d) };

	shm_setname(d.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_DESTROY, &d);
}

/* INFO of the bound stream (name NULL) or of a stream by name. */
static inline int shm_info(int fd, const char *name, struct shmstream_info *in)
{
	memset(in, 0, sizeof(*in));
	in->size = sizeof(*in);
	if (name)
		shm_setname(in->name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_INFO, in);
}

static inline int shm_stats(int fd, struct shmstream_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return shm_ioctl(fd, SHMSTREAM_IOC_STATS, st);
}

static inline int64_t shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * The tests think in relative timeouts (0: no wait, < 0: forever); the
 * ABI takes an absolute CLOCK_MONOTONIC deadline.
 */
static inline uint64_t shm_deadline(int64_t timeout_ns)
{
	if (timeout_ns == 0)
		return SHMSTREAM_DEADLINE_NOWAIT;
	if (timeout_ns < 0)
		return SHMSTREAM_DEADLINE_NEVER;
	return (uint64_t)(shm_now_ns() + timeout_ns);
}

static inline int shm_get_slot(int fd, int64_t timeout_ns, uint32_t *slot)
{
	struct shmstream_get_slot g = { .size = sizeof(g),
					.deadline_ns = shm_deadline(timeout_ns) };
	int ret = shm_ioctl(fd, SHMSTREAM_IOC_GET_SLOT, &g);

	if (!ret && slot)
		*slot = g.slot;
	return ret;
}

static inline int shm_commit(int fd, uint32_t slot, uint32_t bytes, uint64_t *seq)
{
	struct shmstream_commit c = { .size = sizeof(c), .slot = slot, .bytes_used = bytes };
	int ret = shm_ioctl(fd, SHMSTREAM_IOC_COMMIT, &c);

	if (!ret && seq)
		*seq = c.seq;
	return ret;
}

static inline int shm_acquire(int fd, uint32_t mode, int64_t timeout_ns,
			      struct shmstream_acquire *a)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->flags = mode;
	a->deadline_ns = shm_deadline(timeout_ns);
	return shm_ioctl(fd, SHMSTREAM_IOC_ACQUIRE, a);
}

static inline int shm_release(int fd, uint32_t slot)
{
	struct shmstream_release r = { .size = sizeof(r), .slot = slot };

	return shm_ioctl(fd, SHMSTREAM_IOC_RELEASE, &r);
}

/* Map every slot of the bound stream; slot i at base + i * slot_stride. */
static inline uint8_t *shm_map_slots(int fd, const struct shmstream_info *in, int prot)
{
	void *p = mmap(NULL, in->slot_count * in->slot_stride, prot, MAP_SHARED,
		       fd, in->slots_offset);

	return p == MAP_FAILED ? NULL : p;
}

/* The pattern of frame @seq: a header with the sequence, then noise. */
static inline uint64_t shm_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static inline uint32_t shm_frame_len(uint64_t seq, uint32_t slot_size)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1;

	return 8 + shm_rand(&x) % (slot_size - 8);
}

static inline void shm_fill(uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t x = seq * 0x2545f4914f6cdd1dULL + 7;
	uint32_t i;

	memcpy(p, &seq, 8);
	for (i = 8; i < len; i++)
		p[i] = (uint8_t)shm_rand(&x);
}

/* 0 when @p holds exactly frame @seq's @len bytes. */
static inline int shm_check(const uint8_t *p, uint32_t len, uint64_t seq)
{
	uint64_t x = seq * 0x2545f4914f6cdd1dULL + 7;
	uint64_t got;
	uint32_t i;

	memcpy(&got, p, 8);
	if (got != seq)
		return -1;
	for (i = 8; i < len; i++)
		if (p[i] != (uint8_t)shm_rand(&x))
			return -1;
	return 0;
}

/* Produce frame @seq through a producer mapping of all slots. */
static inline int shm_produce(int fd, uint8_t *slots, const struct shmstream_info *in,
			      uint64_t tag, int64_t timeout_ns, uint64_t *seq)
{
	uint32_t slot, len = shm_frame_len(tag, in->slot_size);
	int ret = shm_get_slot(fd, timeout_ns, &slot);

	if (ret)
		return ret;
	shm_fill(slots + slot * in->slot_stride, len, tag);
	return shm_commit(fd, slot, len, seq);
}

/*
 * SLOT_DMABUF (ABI 2.3): a new fd of slot @slot's dma-buf, or -errno;
 * *@size, when not NULL, gets the dma-buf's size.
 */
static inline int shm_slot_dmabuf(int fd, uint32_t slot, uint32_t flags,
				  uint64_t *size)
{
	struct shmstream_slot_dmabuf d = { .size = sizeof(d), .flags = flags,
					   .slot = slot };
	int ret;

	d.fd = -7;
	ret = shm_ioctl(fd, SHMSTREAM_IOC_SLOT_DMABUF, &d);
	if (ret)
		return ret;
	if (size)
		*size = d.dmabuf_size;
	return d.fd;
}

/* Does the loaded module report feature @bit (SHMSTREAM_FEAT_*)? */
static inline int shm_has_feature(uint64_t bit)
{
	struct shmstream_version v = { .size = sizeof(v) };
	int fd = shm_open_dev(), ret;

	if (fd < 0)
		return 0;
	ret = shm_ioctl(fd, SHMSTREAM_IOC_VERSION, &v);
	close(fd);
	return !ret && (v.features & bit);
}

/* The module's parameters, in sysfs (root): a value, or -1 when unreadable. */
#define SHM_PARAMS "/sys/module/shmstream/parameters/"

/* The number in the file at @path (sysfs), or -1 when unreadable. */
static inline long shm_read_long(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] ? strtol(buf, NULL, 10) : -1;
}

static inline long shm_param_get(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), SHM_PARAMS "%s", name);
	return shm_read_long(path);
}

/* Write @s whole into the file at @path (sysfs, tracefs, cgroupfs): 0 or -errno. */
static inline int shm_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		n = -errno;
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : n < 0 ? (int)n : -EIO;
}

static inline int shm_param_set(const char *name, long val)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), SHM_PARAMS "%s", name);
	snprintf(buf, sizeof(buf), "%ld\n", val);
	return shm_write_file(path, buf);
}

/* A module-wide counter from debugfs, or -1 when unavailable. */
static inline long shm_counter(const char *key)
{
	char line[128];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f = fopen(SHM_STATS, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			val = strtol(line + klen + 1, NULL, 10);
	fclose(f);
	return val;
}

/*
 * In a test's teardown: everything it made is gone. Only where debugfs
 * shows the counters (the suite runs as root in the guest).
 */
#define EXPECT_NOTHING_LEFT()							\
	do {									\
		if (shm_counter("streams") >= 0) {				\
			EXPECT_EQ(0, shm_counter("streams"));			\
			EXPECT_EQ(0, shm_counter("pinned_bytes"));		\
			EXPECT_EQ(0, shm_counter("holds"));			\
			EXPECT_EQ(0, shm_counter("pending"));			\
			EXPECT_EQ(0, shm_counter("mappings"));			\
			if (shm_counter("budgets") >= 0)			\
				EXPECT_EQ(0, shm_counter("budgets"));		\
		}								\
	} while (0)

#define MS 1000000LL
#define SEC 1000000000LL

/*
 * For waits that certainly end (a frame that is coming, a process that is
 * starting): long enough for a debug kernel or a loaded TCG guest. They
 * bound a hang, they do not time anything.
 */
#define SHM_PATIENCE (120 * SEC)

/*
 * Wait until task @tid (a thread of this process or another process) is
 * asleep in system call @nr (-1: any), so that what a test does next
 * happens to a waiter, not to a task that is still on its way to the
 * wait. 0; -ESRCH when the task is gone; -ETIMEDOUT after @timeout_ns.
 * Where /proc/TID/syscall is not readable, asleep is enough.
 */
static inline int shm_wait_asleep(pid_t tid, long nr, int64_t timeout_ns)
{
	int64_t end = shm_now_ns() + timeout_ns;
	char path[64], buf[512];

	for (;;) {
		const char *p;
		long cur = -2; /* unknown */
		FILE *f;
		char state = 0;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
		f = fopen(path, "r");
		if (!f)
			return -ESRCH; /* gone: it will never wait */
		if (fgets(buf, sizeof(buf), f)) {
			p = strrchr(buf, ')'); /* after "pid (comm)" */
			if (p && p[1] == ' ')
				state = p[2];
		}
		fclose(f);
		if (state == 'Z' || state == 'X')
			return -ESRCH;
		snprintf(path, sizeof(path), "/proc/%d/syscall", (int)tid);
		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9')
				cur = strtol(buf, NULL, 10);
			else
				cur = -3; /* "running" */
			fclose(f);
		}
		if (state == 'S' && (nr < 0 || cur == -2 || cur == nr))
			return 0;
		if (shm_now_ns() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/*
 * Signal @sig to the calling thread once it sleeps in system call @nr: a
 * timer could fire before a slow caller got there (and a wait without a
 * timeout would then never end). Start it right before the call; join
 * in->thread after it; in->asleep is then 0 when the signal came to a
 * sleeper. The signal is sent in any case, so that a failed look does not
 * leave the caller waiting.
 */
struct shm_interrupter {
	pthread_t thread;
	pid_t tid;
	long nr;
	int sig;
	int asleep;
};

static inline void *shm_interrupter_fn(void *arg)
{
	struct shm_interrupter *in = arg;

	in->asleep = shm_wait_asleep(in->tid, in->nr, SHM_PATIENCE);
	syscall(SYS_tgkill, getpid(), in->tid, in->sig);
	return NULL;
}

static inline int shm_interrupt_when_asleep(struct shm_interrupter *in, long nr, int sig)
{
	in->tid = (pid_t)syscall(SYS_gettid);
	in->nr = nr;
	in->sig = sig;
	in->asleep = 1;
	return pthread_create(&in->thread, NULL, shm_interrupter_fn, in) ? -1 : 0;
}

#endif /* SHMSTREAM_TEST_COMMON_H */
