// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmfuzz: hostile users of /dev/shmstream. Worker processes, as root and
 * as two other uids, issue random and mutated sequences of every ioctl,
 * mmap/munmap/mprotect and touching the mappings, poll, epoll, read/write,
 * dup, fork, close and kill, over a few stream names, and of the slots'
 * dma-bufs (SLOT_DMABUF, then mmap, DMA_BUF_IOCTL_SYNC, dup and close of
 * the fds, kept across the close of their stream's file), until the syscall
 * budget is spent. Every worker's sequence follows from the seed printed
 * first (scheduling does not), so a failure is replayed with --seed.
 *
 * It judges nothing itself but that it ran: the kernel log (the guest
 * runner fails on any warning, KASAN, lockdep or kmemleak report) and the
 * module's counters afterwards (tests/fuzz/fuzz.sh) are the verdict. At
 * the end it kills every process it made and destroys the streams left.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/dma-buf.h>
#include <linux/shmstream.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NFDS 8
#define NDBUFS 8 /* dma-buf fds kept, apart from the stream files */
#define NMAPS 16
#define NKIDS 4
/*
 * Forked processes alive at once, all workers together. Every process can
 * fork NKIDS more, so without a bound the tree grows until the guest runs
 * out of memory: each process copies the page tables of up to NMAPS
 * prefaulted rings (a CI run lost a worker to the OOM killer that way).
 */
#define MAXKIDS 64
#define NNAMES 4
#define PAGE 4096UL
/*
 * LIST writes as many names as there are streams, up to the capacity the
 * fuzzer claims: a buffer with a guard page makes a lie an EFAULT, not a
 * write over the fuzzer's own memory.
 */
#define NAMES_LEN (16 * PAGE)

/*
 * The workers' shared counters. Mutated ioctl arguments carry pointers that
 * the module writes through (LIST's names): sh lives alone in the middle of
 * a PROT_NONE moat, so a pointer a few bytes off from the workers' buffers
 * gets EFAULT instead of writing over it, and its canaries and counts are
 * checked at the end so that an overwrite fails the run instead of ending
 * it early with a budget "spent".
 */
#define SH_MAGIC 0x73686d66757a7a31ULL /* "shmfuzz1" */
#define SH_MOAT ((17ULL << 30) + (123ULL << 20)) /* not a power of two */

struct shared {
	uint64_t magic_head;
	_Atomic uint64_t syscalls;
	_Atomic uint64_t ops[32];
	_Atomic int stop;
	_Atomic int kids; /* forked and not yet reaped: by its parent or main() */
	_Atomic int kids_peak;
	uint64_t magic_tail;
};

static struct shared *sh;
static uint64_t budget = 1000000;
static const char *dev = "/dev/shmstream";

/* xorshift64*: the whole of a worker's randomness. */
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return below(100) < pct;
}

static struct {
	int fd[NFDS];
	int dbuf[NDBUFS];
	struct {
		void *addr;
		size_t len;
	} map[NMAPS];
	pid_t kid[NKIDS];
	int ep;
	char *guard; /* a page, then a PROT_NONE page */
	char *names; /* LIST's buffer: NAMES_LEN, then a PROT_NONE page */
	uint64_t local;
} w;

static sigjmp_buf touch_env;
static volatile sig_atomic_t touching;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char msg[96];
	int n;

	if (touching)
		siglongjmp(touch_env, 1);
	n = snprintf(msg, sizeof(msg), "shmfuzz: pid %d: signal %d at %p, pc %llx\n",
		     getpid(), sig, si->si_addr, (unsigned long long)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP]);
	(void)!write(2, msg, (size_t)n);
	_exit(3);
}

static void count(int op)
{
	w.local++;
	atomic_fetch_add_explicit(&sh->ops[op], 1, memory_order_relaxed);
	if (!(w.local % 64))
		atomic_fetch_add(&sh->syscalls, 64);
}

/* Canaries in place, and counts that add up: syscalls are the ops counted. */
static bool shared_intact(void)
{
	uint64_t ops = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sh->ops); i++) {
		if (atomic_load(&sh->ops[i]) >= 1ULL << 40) /* more than anyone can run */
			return false;
		ops += atomic_load(&sh->ops[i]);
	}
	return sh->magic_head == SH_MAGIC && sh->magic_tail == SH_MAGIC &&
	       atomic_load(&sh->syscalls) <= ops && atomic_load(&sh->kids_peak) <= MAXKIDS &&
	       atomic_load(&sh->kids) >= 0;
}

static bool done(void)
{
	return atomic_load(&sh->stop) || atomic_load(&sh->syscalls) >= budget;
}

static int pick_fd(void)
{
	int fd = w.fd[below(NFDS)];

	/* Now and then a descriptor that is not ours, or not a stream. */
	if (chance(3))
		return chance(50) ? -1 : 3 + (int)below(61);
	/* ... or a dma-buf of a stream. */
	if (chance(2))
		return w.dbuf[below(NDBUFS)];
	return fd;
}

/*
 * A new dma-buf fd from SLOT_DMABUF, kept in a random place of w.dbuf (the
 * one there is closed): what the workers do with dma-bufs, and a bound on
 * the fds they make.
 */
static void keep_dbuf(int fd)
{
	int i = (int)below(NDBUFS);

	if (fd < 3 || fcntl(fd, F_GETFD) < 0)
		return;
	for (int j = 0; j < NDBUFS; j++)
		if (w.dbuf[j] == fd)
			return; /* a stale value in a fuzzed buffer: ours already */
	if (w.dbuf[i] >= 0)
		close(w.dbuf[i]);
	w.dbuf[i] = fd;
	count(22); /* fcntl's; and fuzz.sh sees that dma-bufs were made */
}

static void fuzz_name(char *name)
{
	size_t i;

	memset(name, 0, SHMSTREAM_NAME_MAX);
	switch (below(10)) {
	case 0: /* no terminator */
		memset(name, 'a' + (int)below(26), SHMSTREAM_NAME_MAX);
		break;
	case 1: /* bytes of any value */
		for (i = 0; i < below(SHMSTREAM_NAME_MAX); i++)
			name[i] = (char)rnd();
		break;
	case 2: /* empty, or a path */
		strcpy(name, chance(50) ? "" : chance(50) ? "../fz" : "fz/0");
		break;
	default:
		snprintf(name, SHMSTREAM_NAME_MAX, "fz%d", (int)below(NNAMES));
	}
}

/* Flip, set or clear a few bytes of @p (the valid struct as a start). */
static void mutate(void *p, size_t len)
{
	uint8_t *b = p;
	int n;

	if (chance(60))
		return;
	for (n = (int)below(4) + 1; n; n--) {
		size_t i = below(len);

		switch (below(4)) {
		case 0:
			b[i] ^= (uint8_t)(1 << below(8));
			break;
		case 1:
			b[i] = (uint8_t)rnd();
			break;
		case 2:
			b[i] = 0xff;
			break;
		default:
			b[i] = 0;
		}
	}
}

/* The size field every argument starts with: right, short, long, absurd. */
static uint32_t fuzz_size(uint32_t real)
{
	switch (below(12)) {
	case 0:
		return (uint32_t)below(real);
	case 1:
		return real + 8 * (uint32_t)below(16);
	case 2:
		return (uint32_t)rnd();
	default:
		return real;
	}
}

/*
 * Where the argument goes: a good buffer, NULL, an unmapped address, or
 * straddling the end of a page into a PROT_NONE one.
 */
static void *place(void *arg, size_t len)
{
	switch (below(20)) {
	case 0:
		return NULL;
	case 1:
		return (void *)(uintptr_t)(below(2) ? 16 : 0xffffffffffff0000ULL);
	case 2: { /* at most a page before the guard */
		char *p = w.guard + PAGE - below((len < PAGE ? len : PAGE) + 1);

		memcpy(p, arg, (size_t)(w.guard + PAGE - p));
		return p;
	}
	default:
		return arg;
	}
}

static uint64_t fuzz_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* An absolute deadline: no wait, forever, soon, past, or anything. */
static uint64_t fuzz_deadline(int fd)
{
	int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;

	/* Never a long wait on a blocking file: the budget is syscalls. */
	if (fl >= 0 && (fl & O_NONBLOCK) && chance(20))
		return SHMSTREAM_DEADLINE_NEVER;
	if (chance(60))
		return SHMSTREAM_DEADLINE_NOWAIT;
	if (chance(20))
		return below(fuzz_now_ns()); /* already past */
	return fuzz_now_ns() + below(2000000);
}

#define IOC(c, t) { SHMSTREAM_IOC_##c, sizeof(struct shmstream_##t) }

static const struct {
	unsigned long cmd;
	size_t len;
} iocs[] = {
	IOC(VERSION, version), IOC(CREATE, create),	IOC(ATTACH, attach),
	IOC(DESTROY, destroy), IOC(LIST, list),		IOC(INFO, info),
	IOC(STATS, stats),     IOC(GET_SLOT, get_slot), IOC(COMMIT, commit),
	IOC(ACQUIRE, acquire), IOC(RELEASE, release),	IOC(SLOT_DMABUF, slot_dmabuf),
};

static void do_ioctl(void)
{
	union {
		struct shmstream_version v;
		struct shmstream_create c;
		struct shmstream_attach a;
		struct shmstream_destroy d;
		struct shmstream_list l;
		struct shmstream_info i;
		struct shmstream_stats s;
		struct shmstream_get_slot g;
		struct shmstream_commit m;
		struct shmstream_acquire q;
		struct shmstream_release r;
		struct shmstream_slot_dmabuf b;
		uint8_t raw[512];
	} u;
	unsigned long cmd;
	size_t len, k;
	void *arg;
	int fd = pick_fd(), ret;

	memset(&u, 0, sizeof(u));
	k = below(ARRAY_SIZE(iocs) + 1);
	if (k == ARRAY_SIZE(iocs)) {
		/* Any command: other numbers, directions, sizes and types. */
		len = below(sizeof(u.raw));
		for (size_t i = 0; i < len; i++)
			u.raw[i] = (uint8_t)rnd();
		cmd = _IOC(below(4), chance(80) ? SHMSTREAM_IOC_MAGIC : (unsigned int)below(256),
			   (unsigned int)below(16), (unsigned int)below(512));
	} else {
		cmd = iocs[k].cmd;
		len = iocs[k].len;
	}
	switch (cmd) {
	case SHMSTREAM_IOC_CREATE:
		fuzz_name(u.c.name);
		u.c.slot_count = chance(90) ? (uint32_t)below(8) + 1 : (uint32_t)rnd();
		u.c.slot_size = chance(90) ? (uint32_t)(below(64 * 1024) + 1) : (uint32_t)rnd();
		u.c.mode = chance(80) ? (const uint32_t[]){ 0600, 0660, 0666, 0640 }[below(4)] :
					(uint32_t)rnd();
		/* DESTROY_ON_CLOSE, MULTI_PRODUCER, CONTIGUOUS (2.3), or any */
		u.c.flags = chance(80) ? (uint32_t)below(8) : (uint32_t)rnd();
		/* Several producers, and a stall limit short enough to demote. */
		if (u.c.flags & SHMSTREAM_CREATE_MULTI_PRODUCER)
			u.c.max_producers = chance(90) ? (uint32_t)below(5) : (uint32_t)rnd();
		u.c.stall_ms = chance(70) ? (uint32_t)below(50) : (uint32_t)rnd();
		u.c.format.fourcc = (uint32_t)rnd();
		u.c.format.width = (uint32_t)below(4096);
		u.c.format.height = (uint32_t)below(4096);
		break;
	case SHMSTREAM_IOC_ATTACH:
		fuzz_name(u.a.name);
		u.a.flags = chance(90) ? (const uint32_t[]){ SHMSTREAM_ATTACH_PRODUCER,
							     SHMSTREAM_ATTACH_CONSUMER,
							     SHMSTREAM_ATTACH_CONSUMER |
								     SHMSTREAM_ATTACH_NEWEST,
							     SHMSTREAM_ATTACH_CONSUMER |
								     SHMSTREAM_ATTACH_RELIABLE }[below(4)] :
					 (uint32_t)rnd();
		if (chance(30))
			u.a.history = chance(90) ? (uint32_t)below(10) : (uint32_t)rnd();
		break;
	case SHMSTREAM_IOC_DESTROY:
		fuzz_name(u.d.name);
		break;
	case SHMSTREAM_IOC_LIST:
		u.l.capacity = (uint32_t)(chance(80) ? below(9) : rnd());
		u.l.names = (uintptr_t)(chance(80) ? w.names + NAMES_LEN -
							     SHMSTREAM_NAME_MAX * below(NAMES_LEN / SHMSTREAM_NAME_MAX + 1) :
						     place(w.names, SHMSTREAM_NAME_MAX));
		break;
	case SHMSTREAM_IOC_GET_SLOT:
		u.g.deadline_ns = fuzz_deadline(fd);
		break;
	case SHMSTREAM_IOC_COMMIT:
		u.m.slot = (uint32_t)below(10);
		u.m.flags = (uint32_t)below(8);
		u.m.bytes_used = (uint32_t)(chance(80) ? below(65536) : rnd());
		u.m.meta_len = (uint32_t)below(80);
		u.m.timestamp_ns = rnd();
		break;
	case SHMSTREAM_IOC_ACQUIRE:
		u.q.flags = chance(90) ? (uint32_t)below(2) + 1 : (uint32_t)rnd();
		u.q.deadline_ns = fuzz_deadline(fd);
		break;
	case SHMSTREAM_IOC_RELEASE:
		u.r.slot = (uint32_t)below(10);
		break;
	case SHMSTREAM_IOC_SLOT_DMABUF:
		u.b.slot = chance(90) ? (uint32_t)below(10) : (uint32_t)rnd();
		u.b.flags = chance(90) ? (uint32_t)below(2) : (uint32_t)rnd();
		u.b.fd = (int32_t)rnd();
		break;
	}
	if (len >= 4 &&
	    _IOC_NR(cmd) <= 0x0b && _IOC_TYPE(cmd) == SHMSTREAM_IOC_MAGIC)
		*(uint32_t *)&u = fuzz_size((uint32_t)len);
	mutate(&u, len);
	/* The size bits of a known command: the kernel must ignore them. */
	if (k < ARRAY_SIZE(iocs) && chance(10)) {
		len = iocs[k].len + 8 * below(8);
		cmd = _IOC(_IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), len);
	}
	if (fd >= 0 && (_IOC_NR(cmd) == _IOC_NR(SHMSTREAM_IOC_GET_SLOT) ||
			_IOC_NR(cmd) == _IOC_NR(SHMSTREAM_IOC_ACQUIRE)) &&
	    _IOC_TYPE(cmd) == SHMSTREAM_IOC_MAGIC && len >= 16) {
		/*
		 * A mutated deadline must not block a blocking file for long
		 * (any size of the command reaches the kernel's GET_SLOT and
		 * ACQUIRE; both have the deadline at offset 8).
		 */
		__u64 *t = &u.g.deadline_ns;
		int fl = fcntl(fd, F_GETFL);
		uint64_t now = fuzz_now_ns();

		if (fl >= 0 && !(fl & O_NONBLOCK) && *t > now + 2000000)
			*t = now + 1000000;
	}
	arg = place(&u, len ? len : 1);
	ret = ioctl(fd, cmd, arg);
	count(0);
	/*
	 * SLOT_DMABUF (whatever the size bits, and any direction the module
	 * dispatches) made an fd: keep it, as the fuzzer's own.
	 */
	if (!ret && arg && _IOC_TYPE(cmd) == SHMSTREAM_IOC_MAGIC &&
	    _IOC_NR(cmd) == _IOC_NR(SHMSTREAM_IOC_SLOT_DMABUF)) {
		int32_t got;

		memcpy(&got, (char *)arg + offsetof(struct shmstream_slot_dmabuf, fd), sizeof(got));
		keep_dbuf(got);
	}
}

/* A map slot to fill: the mapping in it is unmapped first. */
static int free_map(void)
{
	int i = (int)below(NMAPS);

	if (w.map[i].addr) {
		munmap(w.map[i].addr, w.map[i].len);
		w.map[i].addr = NULL;
		count(3);
	}
	return i;
}

/*
 * The slots' dma-bufs: export one with sane arguments (and now and then
 * close the stream file at once: the dma-buf outlives it), map one with
 * any protection, flags, offset and length (the mapping joins the others,
 * which do_map_op() touches, mprotects and unmaps), sync it for any
 * access, name it, poll, seek and read it, take a sync file from it, dup
 * or close it.
 */
static void do_dmabuf(void)
{
	int i = (int)below(NDBUFS), fd = w.dbuf[i];

	if (fd < 0 || chance(25)) { /* export */
		struct shmstream_info info = { .size = sizeof(info) };
		struct shmstream_slot_dmabuf d = { .size = sizeof(d) };
		int k = (int)below(NFDS), n;

		/* Most files are not bound: look for one that is (INFO). */
		for (n = 0; n < NFDS; n++, k = (k + 1) % NFDS)
			if (w.fd[k] >= 0 && !ioctl(w.fd[k], SHMSTREAM_IOC_INFO, &info))
				break;
		if (n == NFDS)
			return;
		if (info.slot_count)
			d.slot = (uint32_t)below(info.slot_count + (chance(5) ? 2 : 0));
		d.flags = chance(50) ? SHMSTREAM_DMABUF_CLOEXEC : 0;
		if (!ioctl(w.fd[k], SHMSTREAM_IOC_SLOT_DMABUF, &d))
			keep_dbuf(d.fd);
		count(16);
		if (chance(20)) {
			close(w.fd[k]);
			w.fd[k] = -1;
			count(2);
		}
		return;
	}
	switch (below(8)) {
	case 0: { /* mmap */
		off_t size = lseek(fd, 0, SEEK_END);
		int m = free_map(), prot = (const int[]){ PROT_READ, PROT_READ | PROT_WRITE,
							  PROT_WRITE, PROT_NONE,
							  PROT_READ | PROT_EXEC }[below(5)];
		size_t len = size > 0 && chance(70) ? (size_t)size : (below(8) + 1) * PAGE;
		off_t off = chance(80) ? 0 : (off_t)(below(8) * PAGE);
		void *p;

		if (chance(10))
			len += below(PAGE);
		p = mmap(NULL, len, prot, chance(90) ? MAP_SHARED : MAP_PRIVATE, fd, off);
		count(17);
		if (p != MAP_FAILED) {
			w.map[m].addr = p;
			w.map[m].len = len;
		}
		break;
	}
	case 1:
	case 2: { /* DMA_BUF_IOCTL_SYNC: mostly a valid start or end, any access */
		struct dma_buf_sync sync = {
			.flags = chance(85) ? (chance(50) ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) |
						      (below(3) + 1) :
					      rnd(),
		};

		ioctl(fd, DMA_BUF_IOCTL_SYNC, place(&sync, sizeof(sync)));
		count(18);
		break;
	}
	case 3: { /* a name, or a bad pointer */
		char name[40];

		snprintf(name, sizeof(name), "fz%" PRIu64, below(1000));
		ioctl(fd, DMA_BUF_SET_NAME, place(name, sizeof(name)));
		count(19);
		break;
	}
	case 4: { /* a sync file of its fences (none), closed at once */
		struct dma_buf_export_sync_file ex = {
			.flags = chance(90) ? (uint32_t)below(3) + 1 : (uint32_t)rnd(),
			.fd = -1,
		};

		if (!ioctl(fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &ex) && ex.fd >= 0)
			close(ex.fd);
		count(19);
		break;
	}
	case 5: { /* poll, seek, read */
		struct pollfd pfd = { .fd = fd, .events = (short)rnd() };
		char b[16];

		poll(&pfd, 1, 0);
		lseek(fd, (off_t)below(3 * PAGE), (int)below(4));
		(void)!read(fd, b, sizeof(b));
		count(19);
		break;
	}
	case 6: { /* dup into another place */
		int j = (int)below(NDBUFS), nfd;

		if (j == i)
			break;
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (nfd >= 0) {
			if (w.dbuf[j] >= 0)
				close(w.dbuf[j]);
			w.dbuf[j] = nfd;
		}
		count(20);
		break;
	}
	default: /* close */
		close(fd);
		w.dbuf[i] = -1;
		count(21);
	}
}

static void do_open(void)
{
	int i = (int)below(NFDS), flags = O_RDWR | O_CLOEXEC;

	if (w.fd[i] >= 0)
		close(w.fd[i]);
	if (chance(40))
		flags |= O_NONBLOCK;
	if (chance(5))
		flags = (flags & ~O_RDWR) | O_RDONLY;
	w.fd[i] = open(dev, flags);
	count(1);
}

static void do_close(void)
{
	int i = (int)below(NFDS);

	if (w.fd[i] >= 0) {
		close(w.fd[i]);
		w.fd[i] = -1;
		count(2);
	}
}

static void do_mmap(void)
{
	int i = (int)below(NMAPS), prot = PROT_READ;
	struct shmstream_info info = { .size = sizeof(info) };
	int fd = pick_fd();
	size_t len, off;
	void *p;

	if (w.map[i].addr) {
		munmap(w.map[i].addr, w.map[i].len);
		w.map[i].addr = NULL;
		count(3);
	}
	/* Mostly the geometry INFO gives; else anything. */
	if (!ioctl(fd, SHMSTREAM_IOC_INFO, &info) && chance(80)) {
		switch (below(3)) {
		case 0:
			off = 0;
			len = info.ctrl_size;
			break;
		case 1:
			off = info.slots_offset + info.slot_stride * below(info.slot_count + 1);
			len = info.slot_stride * (below(info.slot_count) + 1);
			break;
		default:
			off = info.slots_offset;
			len = info.slot_stride * info.slot_count;
		}
	} else {
		off = below(64) * PAGE;
		len = (below(64) + 1) * PAGE;
	}
	if (chance(10))
		len += below(PAGE);
	if (chance(50))
		prot |= PROT_WRITE;
	p = mmap(NULL, len, prot, chance(95) ? MAP_SHARED : MAP_PRIVATE, fd, (off_t)off);
	count(4);
	if (p != MAP_FAILED) {
		w.map[i].addr = p;
		w.map[i].len = len;
	}
}

static void do_map_op(void)
{
	int i = (int)below(NMAPS);
	volatile uint8_t *p = w.map[i].addr;
	size_t off;

	if (!p)
		return;
	off = below(w.map[i].len);
	switch (below(5)) {
	case 0: /* give back part of it */
		if (w.map[i].len > PAGE && chance(50)) {
			munmap((void *)p, PAGE);
			w.map[i].addr = (void *)(p + PAGE);
			w.map[i].len -= PAGE;
		} else {
			munmap((void *)p, w.map[i].len);
			w.map[i].addr = NULL;
		}
		count(5);
		break;
	case 1:
		mprotect((void *)p, w.map[i].len,
			 (const int[]){ PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
					PROT_READ | PROT_EXEC }[below(4)]);
		count(6);
		break;
	case 2:
		madvise((void *)p, w.map[i].len, chance(50) ? MADV_DONTNEED : MADV_WILLNEED);
		count(7);
		break;
	default: /* read or write it; a fault is an answer too */
		touching = 1;
		if (!sigsetjmp(touch_env, 1)) {
			if (chance(50))
				p[off] = (uint8_t)rnd();
			else
				(void)p[off];
		}
		touching = 0;
		count(8);
	}
}

static void do_io(void)
{
	static uint8_t buf[70000];
	int fd = pick_fd(), fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	size_t len = chance(80) ? below(sizeof(buf)) : sizeof(buf);
	struct pollfd pfd = { .fd = fd, .events = (short)rnd() };
	struct epoll_event ev = { .events = (uint32_t)rnd() };

	switch (below(4)) {
	case 0:
		if (fl >= 0 && (fl & O_NONBLOCK))
			(void)!read(fd, place(buf, len), len);
		count(9);
		break;
	case 1:
		if (fl >= 0 && (fl & O_NONBLOCK))
			(void)!write(fd, place(buf, len), len);
		count(10);
		break;
	case 2:
		poll(&pfd, 1, 0);
		count(11);
		break;
	default:
		if (chance(50))
			epoll_ctl(w.ep, (int)below(3) + 1, fd, &ev);
		else
			epoll_wait(w.ep, &ev, 1, 0);
		count(12);
	}
}

static void do_dup(void)
{
	int i = (int)below(NFDS), fd = pick_fd();

	if (fd < 0)
		return;
	if (w.fd[i] >= 0 && w.fd[i] != fd)
		close(w.fd[i]);
	w.fd[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	count(13);
	if (chance(30)) {
		fcntl(w.fd[i], F_SETFL, chance(50) ? O_NONBLOCK : 0);
		count(13);
	}
}

static void run_ops(uint64_t limit);

static void do_fork(void)
{
	int i = (int)below(NKIDS), kids, peak;
	pid_t pid;

	if (w.kid[i] > 0) {
		/* Kill it, or let it finish. */
		if (chance(50))
			kill(w.kid[i], SIGKILL);
		if (waitpid(w.kid[i], NULL, 0) > 0)
			atomic_fetch_sub(&sh->kids, 1);
		w.kid[i] = 0;
		count(14);
		return;
	}
	kids = atomic_fetch_add(&sh->kids, 1) + 1;
	if (kids > MAXKIDS) {
		atomic_fetch_sub(&sh->kids, 1);
		return;
	}
	for (peak = atomic_load(&sh->kids_peak); kids > peak;)
		if (atomic_compare_exchange_weak(&sh->kids_peak, &peak, kids))
			break;
	pid = fork();
	count(15);
	if (pid < 0)
		atomic_fetch_sub(&sh->kids, 1);
	if (!pid) {
		memset(w.kid, 0, sizeof(w.kid));
		w.local = 0; /* its own ops: every 64 of them add 64 to syscalls */
		rng ^= 0x9e3779b97f4a7c15ULL;
		run_ops(below(400));
		_exit(0);
	}
	if (pid > 0)
		w.kid[i] = pid;
}

static void run_ops(uint64_t limit)
{
	uint64_t n;

	for (n = 0; n < limit && !done(); n++) {
		unsigned int r = (unsigned int)below(100);

		if (r < 40)
			do_ioctl();
		else if (r < 47)
			do_dmabuf();
		else if (r < 55)
			do_open();
		else if (r < 60)
			do_close();
		else if (r < 70)
			do_mmap();
		else if (r < 82)
			do_map_op();
		else if (r < 94)
			do_io();
		else if (r < 98)
			do_dup();
		else
			do_fork();
	}
}

static void worker(int index, uint64_t seed)
{
	static const uid_t uids[] = { 0, 1000, 1001 };
	uid_t uid = uids[index % 3];
	struct stat st;
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO };
	int i;

	setpgid(0, 0);
	rng = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)index + 1;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* Users of the device: members of its node's group (the udev rule's). */
	if (uid && (stat("/dev/" SHMSTREAM_DEVICE_NAME, &st) || setgroups(1, &st.st_gid) ||
		    setresgid(uid, uid, uid) || setresuid(uid, uid, uid))) {
		perror("shmfuzz: setresuid");
		_exit(2);
	}
	for (i = 0; i < NFDS; i++)
		w.fd[i] = -1;
	for (i = 0; i < NDBUFS; i++)
		w.dbuf[i] = -1;
	w.ep = epoll_create1(EPOLL_CLOEXEC);
	w.guard = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	w.names = mmap(NULL, NAMES_LEN + PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w.guard == MAP_FAILED || mprotect(w.guard + PAGE, PAGE, PROT_NONE) ||
	    w.names == MAP_FAILED || mprotect(w.names + NAMES_LEN, PAGE, PROT_NONE))
		_exit(2);
	run_ops(UINT64_MAX);
	atomic_fetch_add(&sh->syscalls, w.local % 64);
	_exit(0);
}

/* Destroy every stream left (as root), through LIST and DESTROY. */
static int destroy_all(void)
{
	char names[64][SHMSTREAM_NAME_MAX];
	struct shmstream_list l = { .size = sizeof(l), .capacity = 64 };
	int fd = open(dev, O_RDWR | O_CLOEXEC), n = 0;

	if (fd < 0)
		return -1;
	l.names = (uintptr_t)names;
	if (!ioctl(fd, SHMSTREAM_IOC_LIST, &l)) {
		for (uint32_t i = 0; i < l.count && i < 64; i++) {
			struct shmstream_destroy d = { .size = sizeof(d) };

			memcpy(d.name, names[i], sizeof(d.name));
			n += !ioctl(fd, SHMSTREAM_IOC_DESTROY, &d);
		}
	}
	close(fd);
	return n;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shmfuzz [--seed N] [--syscalls N] [--procs N] [--seconds S]\n"
		   "Hostile, random use of /dev/shmstream by several processes and uids.\n"
		   "  --seed N      the run's seed (default: from the clock; printed)\n"
		   "  --syscalls N  stop after N syscalls in all (default 1000000)\n"
		   "  --procs N     worker processes (default 6: uids 0, 1000, 1001 in turn)\n"
		   "  --seconds S   stop after S seconds anyway (default 540)\n"
		   "  --device PATH the device (default /dev/shmstream)\n"
		   "  -h, --help    this text\n"
		   "Exit status: 0 when the budget was spent, 1 when a worker failed to run,\n"
		   "2 on a usage or setup error.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "syscalls", required_argument, NULL, 'n' },
		{ "procs", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 't' },
		{ "device", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const opname[] = { "ioctl",	  "open",    "close",  "munmap",
					      "mmap",	  "unmap",   "mprotect", "madvise",
					      "touch",	  "read",    "write",  "poll",
					      "epoll",	  "dup",     "reap",   "fork",
					      "dbexport", "dbmmap",  "dbsync", "dbother",
					      "dbdup",	  "dbclose", "dbkept" };
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20), start;
	unsigned long procs = 6, seconds = 540;
	pid_t pids[64];
	int c, status, failed = 0;
	char *end, *moat;
	unsigned long i;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 's':
			seed = strtoull(optarg, &end, 0);
			break;
		case 'n':
			budget = strtoull(optarg, &end, 0);
			break;
		case 'p':
			procs = strtoul(optarg, &end, 0);
			break;
		case 't':
			seconds = strtoul(optarg, &end, 0);
			break;
		case 'd':
			dev = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (end && (*end || errno)) {
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !procs || procs > 64 || !budget || !seconds) {
		usage(stderr);
		return 2;
	}
	if (access(dev, R_OK | W_OK)) {
		fprintf(stderr, "shmfuzz: %s: %s\n", dev, strerror(errno));
		return 2;
	}
	printf("shmfuzz: seed %" PRIu64 " (replay: --seed %" PRIu64 "), %lu workers, "
	       "%" PRIu64 " syscalls\n",
	       seed, seed, procs, budget);
	fflush(stdout);
	moat = mmap(NULL, 2 * SH_MOAT + PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (moat == MAP_FAILED)
		return 2;
	sh = mmap(moat + SH_MOAT, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	sh->magic_head = sh->magic_tail = SH_MAGIC;
	/* Orphans of killed workers come here to be reaped. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	start = (uint64_t)time(NULL);
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 2;
		if (!pids[i])
			worker((int)i, seed);
	}
	while (atomic_load(&sh->syscalls) < budget && (uint64_t)time(NULL) - start < seconds) {
		pid_t pid;
		bool worker_pid;

		/* Orphans first: each one reaped makes room for a fork. */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			worker_pid = false;
			for (i = 0; i < procs; i++)
				if (pids[i] == pid) {
					fprintf(stderr, "shmfuzz: worker %lu ended early (status 0x%x)\n",
						i, status);
					pids[i] = 0;
					failed = 1;
					worker_pid = true;
				}
			if (!worker_pid)
				atomic_fetch_sub(&sh->kids, 1);
		}
		usleep(100000);
	}
	atomic_store(&sh->stop, 1);
	usleep(500000);
	for (i = 0; i < procs; i++)
		if (pids[i] > 0)
			kill(-pids[i], SIGKILL);
	while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
		;
	printf("shmfuzz: %" PRIu64 " syscalls in %" PRIu64 " s; streams left and destroyed: %d; "
	       "forked processes alive at most: %d of %d\n",
	       atomic_load(&sh->syscalls), (uint64_t)time(NULL) - start, destroy_all(),
	       atomic_load(&sh->kids_peak), MAXKIDS);
	for (i = 0; i < sizeof(opname) / sizeof(opname[0]); i++)
		printf("shmfuzz:   %-8s %" PRIu64 "\n", opname[i], atomic_load(&sh->ops[i]));
	if (!shared_intact()) {
		printf("shmfuzz: the shared counters were overwritten (a fuzzed pointer?): "
		       "no verdict from this run\n");
		failed = 1;
	} else if (atomic_load(&sh->syscalls) < budget) {
		printf("shmfuzz: the budget was not spent within %lu s\n", seconds);
		failed = 1;
	}
	return failed;
}
