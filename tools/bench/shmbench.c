// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmbench: what a frame handoff costs with shmstream, side by side with
 * the transports a user would pick instead, measured in one run.
 *
 * Every figure comes from separate processes: one producer and its
 * readers, forked from this one, sharing results through an anonymous
 * shared mapping. Frames carry a header (sequence, send time, checksum of
 * the body); readers check it, so a figure never counts a wrong frame.
 *
 * - Latency: the producer stamps CLOCK_MONOTONIC right before the call
 *   that publishes a frame, the reader stamps it when it has the frame.
 *   One frame at a time: the reader acknowledges each frame on an eventfd
 *   and the producer lets it fall asleep (--gap-us) before the next one,
 *   so every figure includes a wake-up.
 * - Throughput: one shmstream producer, R readers that sum every byte of
 *   every frame. The producer never overwrites a frame a reader has yet to
 *   read (it waits for the slowest reader), so no frame is lost and every
 *   reader reads all of them; it writes only the header of each frame
 *   (slot bodies are filled once), so the figures are the readers'.
 * - CPU: getrusage() of each reader; idle readers wait for a 1 fps
 *   producer.
 * - Memory: /proc/PID/smaps_rollup of every reader mid-run.
 * - Scale: what commit, acquire and release cost with 1,024 slots and 128
 *   consumers against 4 slots and 1 consumer: the thread CPU time inside
 *   the calls, consumers that keep up (SCALE_BATCH frames at a time, all
 *   taken and released before the next batch), every frame checked. The
 *   producer and consumers are threads of one process (each consumer with
 *   its own handle), so that switching between them switches no address
 *   space: under TCG that flushes the whole soft TLB, a cost of the
 *   emulator that would swamp the module's.
 * - Spin: a consumer that spins (shmdev_stream_set_spin()) before it
 *   sleeps, against the 10 us poller and a sleeping reader, with frames
 *   paced closer than the spin budget; and its CPU at 1 fps (idle).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <shmdev.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_READERS 16
#define TPUT_SLOTS 8 /* throughput ring; at most the module's max_holds */
#define LAT_SLOTS 4
#define LAT_MAX_FRAMES 10000000UL /* latency samples: 80 MB */

/* At the start of every frame. */
struct hdr {
	uint64_t seq;
	uint64_t t0; /* send time, where the transport carries no timestamp */
	uint64_t sum; /* checksum of the body (the rest of the frame) */
	uint64_t stop; /* the producer's last word: no frame, end */
};

enum transport {
	T_SHM_EPOLL,
	T_SHM_ACQUIRE,
	T_EVENTFD,
	T_FUTEX,
	T_POLL,
	T_PIPE,
	T_UNIX,
	T_SHM_SPIN, /* in the spin and idle tables only */
	T_COUNT
};

/* The latency table's transports: all but the spinning reader. */
#define NLAT T_SHM_SPIN

static const char *const tname[T_COUNT] = {
	[T_SHM_EPOLL] = "shmstream-epoll",
	[T_SHM_ACQUIRE] = "shmstream-acquire",
	[T_EVENTFD] = "eventfd-ping",
	[T_FUTEX] = "shm-futex",
	[T_POLL] = "shm-poll-10us",
	[T_PIPE] = "pipe-copy",
	[T_UNIX] = "unix-socket-copy",
	[T_SHM_SPIN] = "shmstream-spin",
};

static const char *const tdesc[T_COUNT] = {
	[T_SHM_EPOLL] = "shmstream, reader in epoll_wait then ACQUIRE",
	[T_SHM_ACQUIRE] = "shmstream, reader in a blocking ACQUIRE",
	[T_EVENTFD] = "eventfd write/read between two processes: the wake-up floor, no data",
	[T_FUTEX] = "shared memory (memfd), sequence word with futex wait/wake",
	[T_POLL] = "shared memory (memfd), reader checks the sequence every 10 us",
	[T_PIPE] = "a pipe (1 MiB) carrying a copy of the frame",
	[T_UNIX] = "a Unix stream socket (default buffers) carrying a copy of the frame",
	[T_SHM_SPIN] = "shmstream, blocking ACQUIRE after shmdev_stream_set_spin(): the library "
		       "spins on the control area before it sleeps",
};

static bool is_shm(enum transport t)
{
	return t == T_SHM_EPOLL || t == T_SHM_ACQUIRE || t == T_SHM_SPIN;
}

/* Results and handshakes, in memory shared by all processes of a run. */
struct reader_result {
	uint64_t frames;
	uint64_t bytes;
	uint64_t bad; /* wrong sequence or checksum */
	uint64_t missed;
	uint64_t t_last;
	uint64_t cpu_ns;
	uint64_t wall_ns;
	uint64_t wait_cpu_ns; /* idle runs: CPU spent waiting for frames */
	uint64_t wait_wall_ns;
	int err;
};

struct shared {
	_Atomic uint32_t ready; /* processes set up */
	_Atomic uint32_t seq; /* shm transports: the published frame */
	_Atomic uint32_t waiters; /* shm-futex: the reader sleeps */
	_Atomic uint32_t progress; /* throughput: bumped per frame read */
	_Atomic uint32_t prod_waiting;
	_Atomic uint64_t done[MAX_READERS];
	uint64_t t_first;
	uint64_t produced;
	uint64_t prod_wait_ns; /* throughput: the producer waited for a slot */
	int prod_err;
	struct reader_result r[MAX_READERS];
	uint64_t samples[]; /* latency, ns */
};

struct opts {
	unsigned long frames; /* latency frames per case */
	double budget_s; /* latency: time limit per case */
	double tput_s; /* throughput: seconds per case */
	unsigned int gap_us;
	int idle_frames;
	size_t sizes[8];
	const char *size_names[8];
	int nsizes;
	const char *json;
	bool quick;
	unsigned int parts; /* PART_* */
	unsigned long scale_frames;
	unsigned int spin_us; /* shmdev_stream_set_spin() of the spinning reader */
	unsigned int spin_gap_us; /* spin table: pause before each frame */
	int serve_fd; /* --serve: the outside reader's eventfd, else -1 */
	int read_fd; /* --read: the outside producer's eventfd, else -1 */
	const char *read_name; /* --read: its stream */
};

#define PART_LATENCY (1 << 0)
#define PART_THROUGHPUT (1 << 1) /* with bandwidth and memory */
#define PART_IDLE (1 << 2)
#define PART_SCALE (1 << 3)
#define PART_SPIN (1 << 4) /* with the spinning reader's idle row */
#define PART_ALL (PART_LATENCY | PART_THROUGHPUT | PART_IDLE | PART_SCALE | PART_SPIN)

static struct opts o = {
	.frames = 10000,
	.budget_s = 6,
	.tput_s = 2,
	.gap_us = 100,
	.idle_frames = 3,
	.parts = PART_ALL,
	.scale_frames = 1000,
	.spin_us = 50,
	.spin_gap_us = 20,
	.serve_fd = -1,
	.read_fd = -1,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/* This thread's CPU time: what a call costs, whatever else runs. */
static uint64_t thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static long futex(_Atomic uint32_t *w, int op, uint32_t v)
{
	return syscall(SYS_futex, w, op, v, NULL, NULL, 0);
}

/* Sleep while *w == v. */
static void futex_wait(_Atomic uint32_t *w, uint32_t v)
{
	futex(w, FUTEX_WAIT, v);
}

static void futex_wake(_Atomic uint32_t *w)
{
	futex(w, FUTEX_WAKE, INT32_MAX);
}

static void wait_count(_Atomic uint32_t *c, uint32_t n)
{
	uint32_t v;

	while ((v = atomic_load(c)) < n)
		futex_wait(c, v);
}

static void post_count(_Atomic uint32_t *c)
{
	atomic_fetch_add(c, 1);
	futex_wake(c);
}

static void wait_ready(struct shared *sh, uint32_t n)
{
	wait_count(&sh->ready, n);
}

static void post_ready(struct shared *sh)
{
	post_count(&sh->ready);
}

/* The checksum every reader computes: every byte is read. */
static uint64_t checksum(const void *p, size_t n)
{
	const uint64_t *w = p;
	uint64_t a = 0, b = 0;
	size_t i, words = n / 8;

	for (i = 0; i + 1 < words; i += 2) {
		a += w[i];
		b += w[i + 1];
	}
	if (i < words)
		a += w[i];
	for (i = words * 8; i < n; i++)
		b += ((const uint8_t *)p)[i];
	return a ^ (b * 0x9e3779b97f4a7c15ULL);
}

static uint64_t fill_pattern(void *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1, *w = p;
	size_t i;

	for (i = 0; i < n / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
	memset((uint8_t *)p + i * 8, (int)seed, n - i * 8);
	return checksum(p, n);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			return -EPIPE;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void *map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "shmbench: %s: %s %s\n", what, strerror(err < 0 ? -err : err),
		err < 0 ? shmdev_errmsg() : "");
	exit(2);
}

/*
 * The calling thread on the first (@last false) or the last CPU it may run
 * on, where it may run on two or more; best effort: the figures only.
 */
static void pin_cpu(bool last)
{
	cpu_set_t set;
	int cpu, pick = -1;

	if (sched_getaffinity(0, sizeof(set), &set) || CPU_COUNT(&set) < 2)
		return;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		pick = cpu;
		if (!last)
			break;
	}
	CPU_ZERO(&set);
	CPU_SET(pick, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static pid_t spawn(void (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork", errno);
	if (!pid) {
		fn(arg);
		_exit(0);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- latency ---------------------------------------------------------- */

struct lat {
	enum transport t;
	size_t size;
	unsigned long frames; /* at most */
	double budget_s;
	uint64_t gap_ns;
	bool idle; /* measure the CPU a reader uses while it waits */
	/*
	 * The producer paces the frames itself: it spins until the reader has
	 * acknowledged (a word in shared memory, not the eventfd) and then for
	 * gap_ns, so that the next frame comes gap_ns after the reader's last,
	 * not after the producer's wake-up and a sleep's timer slack. The two
	 * are pinned to two CPUs, so that the reader never waits for the CPU
	 * that the spinning producer holds.
	 */
	bool pace;
	bool serve; /* --serve: the reader is outside shmbench; say the name */
	uint64_t spin_ns; /* T_SHM_SPIN: shmdev_stream_set_spin() */
	char name[SHMSTREAM_NAME_MAX];
	struct shared *sh;
	int ack; /* eventfd: reader -> producer, one per frame */
	int efd; /* eventfd transport */
	int fds[2]; /* pipe / socketpair: [0] reader, [1] producer */
	struct hdr *mem; /* shm transports: the frame (memfd, shared) */
	struct shmdev *dev;
	struct shmdev_stream *s;
};

/* Paced runs: the producer on one CPU, the reader on another (where there are two). */
static void pace_pin(const struct lat *l, bool last)
{
	if (l->pace)
		pin_cpu(last);
}

/* Producer: publish frame @seq (or the stop word). */
static int lat_send(struct lat *l, uint64_t seq, bool stop, void *buf)
{
	struct shmdev_commit_params cp = { .bytes = (uint32_t)l->size };
	struct shmdev_slot slot;
	struct hdr *h;
	uint64_t one = 1;
	int ret;

	switch (l->t) {
	case T_SHM_EPOLL:
	case T_SHM_ACQUIRE:
	case T_SHM_SPIN:
		ret = shmdev_begin(l->s, SHMDEV_FOREVER, &slot);
		if (ret)
			return ret;
		h = slot.data;
		h->seq = seq;
		h->stop = stop;
		cp.timestamp_ns = now_ns();
		return shmdev_commit(l->s, &slot, &cp);
	case T_EVENTFD:
	case T_FUTEX:
	case T_POLL:
		l->mem->seq = seq;
		l->mem->stop = stop;
		l->mem->t0 = now_ns();
		atomic_store(&l->sh->seq, (uint32_t)seq);
		if (l->t == T_EVENTFD)
			return write(l->efd, &one, 8) == 8 ? 0 : -errno;
		if (l->t == T_FUTEX && atomic_exchange(&l->sh->waiters, 0))
			futex_wake(&l->sh->seq);
		return 0;
	case T_PIPE:
	case T_UNIX:
		h = buf;
		h->seq = seq;
		h->stop = stop;
		h->t0 = now_ns();
		return write_all(l->fds[1], buf, l->size);
	default:
		return -EINVAL;
	}
}

/*
 * The reader's count for a frame (or its being set up). Under --serve the
 * reader is another program: it has --budget seconds, and a closed or
 * silent one ends the run with a message instead of a producer that waits
 * for ever.
 */
static void lat_ack(const struct lat *l)
{
	struct pollfd p = { .fd = l->ack, .events = POLLIN };
	uint64_t v;
	ssize_t n;
	int ret;

	if (l->serve) {
		ret = poll(&p, 1, (int)(l->budget_s > INT_MAX / 1000 ? INT_MAX : l->budget_s * 1000));
		if (ret < 0)
			die("ack: poll", errno);
		if (!ret)
			die("ack: no count from the reader within --budget", ETIMEDOUT);
	}
	n = read(l->ack, &v, 8);
	if (n != 8)
		die("ack", n < 0 ? errno : EIO);
}

static void lat_producer(void *arg)
{
	struct lat *l = arg;
	struct shmdev_create_params cp = {
		.slot_count = LAT_SLOTS,
		.slot_size = (uint32_t)l->size,
		.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE,
	};
	uint64_t seq, start;
	void *buf = NULL;
	int ret = 0;

	pace_pin(l, false);
	if (is_shm(l->t)) {
		ret = shmdev_open(&l->dev);
		if (!ret)
			ret = shmdev_create(l->dev, l->name, &cp, &l->s);
	} else if (l->t == T_PIPE || l->t == T_UNIX) {
		buf = malloc(l->size);
		if (!buf)
			ret = -ENOMEM;
		else
			fill_pattern(buf, l->size, 1);
	}
	if (ret) {
		l->sh->prod_err = ret;
		post_ready(l->sh);
		die("latency producer setup", ret);
	}
	post_ready(l->sh);
	if (l->serve) /* stdout is line buffered */
		printf("%s\n", l->name);
	lat_ack(l); /* the reader is set up */
	start = now_ns();
	for (seq = 1;; seq++) {
		bool stop = seq > l->frames || (now_ns() - start) / 1e9 > l->budget_s;

		if (l->pace) {
			uint64_t t = now_ns() + l->gap_ns;

			while (now_ns() < t)
				cpu_relax();
		} else {
			sleep_ns(l->gap_ns);
		}
		ret = lat_send(l, seq, stop, buf);
		if (ret)
			die("send", ret);
		if (stop)
			break;
		if (l->pace) {
			while (atomic_load(&l->sh->progress) < (uint32_t)seq)
				cpu_relax();
		} else {
			lat_ack(l);
		}
	}
	l->sh->produced = seq - 1;
	free(buf);
	shmdev_stream_unref(l->s);
	shmdev_unref(l->dev);
}

/* Reader: wait for frame @seq; *t0 its send time, *stop the end. */
static int lat_recv(struct lat *l, uint64_t seq, int ep, void *buf, uint64_t *t0, bool *stop,
		    uint64_t *t1)
{
	struct epoll_event ev;
	struct shmdev_frame f;
	const struct hdr *h;
	uint64_t e;
	uint32_t v;
	int ret;

	switch (l->t) {
	case T_SHM_EPOLL:
	case T_SHM_ACQUIRE:
	case T_SHM_SPIN:
		if (l->t != T_SHM_EPOLL) {
			/* T_SHM_SPIN: the library spins first, then sleeps. */
			ret = shmdev_acquire(l->s, SHMDEV_NEXT, SHMDEV_FOREVER, &f);
		} else {
			do {
				if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR)
					return -errno;
				ret = shmdev_acquire(l->s, SHMDEV_NEXT, 0, &f);
			} while (ret == -EAGAIN);
		}
		*t1 = now_ns();
		if (ret)
			return ret;
		h = f.data;
		*t0 = f.timestamp_ns;
		*stop = h->stop;
		ret = h->seq == seq && f.seq == seq ? 0 : -EBADMSG;
		shmdev_release(l->s, &f);
		return ret;
	case T_EVENTFD:
		if (read(l->efd, &e, 8) != 8)
			return -errno;
		break;
	case T_FUTEX:
		while ((v = atomic_load(&l->sh->seq)) != (uint32_t)seq) {
			atomic_store(&l->sh->waiters, 1);
			if (atomic_load(&l->sh->seq) == v)
				futex_wait(&l->sh->seq, v);
		}
		break;
	case T_POLL:
		while (atomic_load(&l->sh->seq) != (uint32_t)seq)
			sleep_ns(10000);
		break;
	case T_PIPE:
	case T_UNIX:
		ret = read_all(l->fds[0], buf, l->size);
		*t1 = now_ns();
		if (ret)
			return ret;
		h = buf;
		*t0 = h->t0;
		*stop = h->stop;
		return h->seq == seq ? 0 : -EBADMSG;
	default:
		return -EINVAL;
	}
	*t1 = now_ns();
	*t0 = l->mem->t0;
	*stop = l->mem->stop;
	return l->mem->seq == seq ? 0 : -EBADMSG;
}

static void lat_reader(void *arg)
{
	struct lat *l = arg;
	struct reader_result *r = &l->sh->r[0];
	struct epoll_event ev = { .events = EPOLLIN };
	uint64_t seq, t0 = 0, t1 = 0, one = 1, c0, w0, ca = 0, wa = 0;
	void *buf = NULL;
	int ep = -1, ret = 0;
	bool stop = false;

	pace_pin(l, true);
	if (is_shm(l->t)) {
		ret = shmdev_open(&l->dev);
		if (!ret)
			ret = shmdev_open_consumer(l->dev, l->name, &l->s);
		if (!ret && l->t == T_SHM_SPIN)
			ret = shmdev_stream_set_spin(l->s, l->spin_ns);
		if (!ret && l->t == T_SHM_EPOLL) {
			ep = epoll_create1(0);
			if (epoll_ctl(ep, EPOLL_CTL_ADD, shmdev_stream_fd(l->s), &ev))
				ret = -errno;
		}
	} else if (l->t == T_PIPE || l->t == T_UNIX) {
		buf = malloc(l->size);
		if (!buf)
			ret = -ENOMEM;
	}
	if (ret) {
		r->err = ret;
		die("latency reader setup", ret);
	}
	c0 = cpu_ns();
	w0 = now_ns();
	if (write(l->ack, &one, 8) != 8)
		die("ack", errno);
	for (seq = 1;; seq++) {
		if (l->idle) {
			ca = cpu_ns();
			wa = now_ns();
		}
		ret = lat_recv(l, seq, ep, buf, &t0, &stop, &t1);
		/* From the second wait: the first includes the reader's start. */
		if (l->idle && seq > 1) {
			r->wait_cpu_ns += cpu_ns() - ca;
			r->wait_wall_ns += now_ns() - wa;
		}
		if (ret == -EBADMSG) {
			r->bad++;
		} else if (ret) {
			r->err = ret;
			break;
		}
		if (stop)
			break;
		if (r->frames >= l->frames) { /* --read: more than --frames came */
			r->err = -EOVERFLOW;
			break;
		}
		l->sh->samples[r->frames++] = t1 - t0;
		r->bytes += l->size;
		if (l->pace)
			atomic_store(&l->sh->progress, (uint32_t)seq);
		else if (write(l->ack, &one, 8) != 8)
			die("ack", errno);
	}
	r->cpu_ns = cpu_ns() - c0;
	r->wall_ns = now_ns() - w0;
	free(buf);
	if (ep >= 0)
		close(ep);
	shmdev_stream_unref(l->s);
	shmdev_unref(l->dev);
}

struct lat_result {
	enum transport t;
	size_t size;
	unsigned long frames;
	uint64_t bad;
	double p50, p99, p999, max, mean; /* us */
	double cpu_us_per_frame;
	double cpu_us_per_s; /* all of it, frames included */
	double wait_cpu_us_per_s; /* idle runs: while waiting for a frame */
	int err;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, unsigned long n, double q)
{
	unsigned long i = (unsigned long)ceil(q * (double)n);

	if (!n)
		return NAN;
	return v[i ? i - 1 : 0] / 1e3;
}

/* @res's figures from a latency run's samples and its reader's result @r. */
static void lat_figures(struct shared *sh, const struct reader_result *r,
			struct lat_result *res)
{
	double sum = 0;
	unsigned long i;

	qsort(sh->samples, r->frames, sizeof(uint64_t), cmp_u64);
	for (i = 0; i < r->frames; i++)
		sum += sh->samples[i];
	res->mean = r->frames ? sum / r->frames / 1e3 : NAN;
	res->p50 = pct(sh->samples, r->frames, 0.50);
	res->p99 = pct(sh->samples, r->frames, 0.99);
	res->p999 = pct(sh->samples, r->frames, 0.999);
	res->max = r->frames ? sh->samples[r->frames - 1] / 1e3 : NAN;
	res->cpu_us_per_frame = r->frames ? r->cpu_ns / 1e3 / r->frames : NAN;
	res->wait_cpu_us_per_s =
		r->wait_wall_ns ? r->wait_cpu_ns / 1e3 / (r->wait_wall_ns / 1e9) : NAN;
	res->cpu_us_per_s = r->wall_ns ? r->cpu_ns / 1e3 / (r->wall_ns / 1e9) : NAN;
}

static void run_latency(enum transport t, size_t size, unsigned long frames, double budget_s,
			uint64_t gap_ns, bool idle, bool pace, struct lat_result *res)
{
	struct lat l = { .t = t, .size = size, .frames = frames, .budget_s = budget_s,
			 .gap_ns = gap_ns, .idle = idle, .pace = pace,
			 .spin_ns = o.spin_us * 1000ULL, .efd = -1, .fds = { -1, -1 } };
	size_t shlen = sizeof(struct shared) + (frames + 1) * sizeof(uint64_t);
	struct reader_result *r;
	pid_t prod, rd;
	int memfd, a, b;
	unsigned long i;

	memset(res, 0, sizeof(*res));
	res->t = t;
	res->size = size;
	snprintf(l.name, sizeof(l.name), "shmbench-%d", getpid());
	l.sh = map_shared(shlen);
	l.ack = eventfd(0, EFD_CLOEXEC);
	if (!l.sh || l.ack < 0)
		die("latency setup", errno);
	switch (t) {
	case T_EVENTFD:
	case T_FUTEX:
	case T_POLL:
		memfd = memfd_create("shmbench", MFD_CLOEXEC);
		if (memfd < 0 || ftruncate(memfd, (off_t)size))
			die("memfd", errno);
		l.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
		if (l.mem == MAP_FAILED)
			die("mmap", errno);
		close(memfd);
		if (t == T_EVENTFD) {
			l.efd = eventfd(0, EFD_CLOEXEC);
			if (l.efd < 0)
				die("eventfd", errno);
		}
		break;
	case T_PIPE:
		if (pipe2(l.fds, O_CLOEXEC))
			die("pipe", errno);
		/* fds[0] reads, fds[1] writes; 1 MiB, the unprivileged limit. */
		fcntl(l.fds[1], F_SETPIPE_SZ, 1 << 20);
		break;
	case T_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, l.fds))
			die("socketpair", errno);
		break;
	default:
		break;
	}

	prod = spawn(lat_producer, &l);
	wait_ready(l.sh, 1);
	if (l.sh->prod_err) {
		res->err = l.sh->prod_err;
		reap(prod);
		goto out;
	}
	rd = spawn(lat_reader, &l);
	a = reap(rd);
	if (a || l.sh->r[0].err) /* a reader gone: let the producer go too */
		kill(prod, SIGKILL);
	b = reap(prod);
	r = &l.sh->r[0];
	res->err = r->err ? r->err : a ? -ECHILD : b ? -ECHILD : 0;
	res->frames = r->frames;
	res->bad = r->bad;
	if (r->frames != l.sh->produced && !res->err)
		res->bad++;
	lat_figures(l.sh, r, res);
out:
	if (l.mem)
		munmap(l.mem, size);
	for (i = 0; i < 2; i++)
		if (l.fds[i] >= 0)
			close(l.fds[i]);
	if (l.efd >= 0)
		close(l.efd);
	close(l.ack);
	munmap(l.sh, shlen);
}

/* ---- throughput --------------------------------------------------------- */

struct tput {
	size_t size;
	int readers;
	double seconds;
	bool reliable; /* reliable readers: the kernel paces the producer */
	char name[SHMSTREAM_NAME_MAX];
	struct shared *sh;
	int index; /* reader */
};

static uint64_t min_done(struct shared *sh, int n)
{
	uint64_t m = UINT64_MAX;
	int i;

	for (i = 0; i < n; i++) {
		uint64_t d = atomic_load(&sh->done[i]);

		if (d < m)
			m = d;
	}
	return m;
}

static void tput_producer(void *arg)
{
	struct tput *tp = arg;
	struct shared *sh = tp->sh;
	struct shmdev_create_params cp = {
		.slot_count = TPUT_SLOTS,
		.slot_size = (uint32_t)tp->size,
		.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE,
	};
	/* A loaded guest's pause must not demote a reliable reader. */
	struct shmdev_create_limits lim = { .stall_ms = 60000 };
	struct shmdev_commit_params c = { .bytes = (uint32_t)tp->size };
	struct shmdev_slot slots[TPUT_SLOTS], slot;
	uint64_t sums[TPUT_SLOTS], seq, end, t0, wait = 0;
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	int i, ret;

	ret = shmdev_open(&dev);
	if (!ret)
		ret = shmdev_create_limited(dev, tp->name, &cp, tp->reliable ? &lim : NULL, &s);
	/* Fill every slot's body once, then give the slots back. */
	for (i = 0; !ret && i < TPUT_SLOTS; i++) {
		ret = shmdev_begin(s, 0, &slots[i]);
		if (!ret)
			sums[slots[i].index] = fill_pattern((char *)slots[i].data + sizeof(struct hdr),
							     tp->size - sizeof(struct hdr),
							     slots[i].index + 1);
	}
	while (!ret && i--)
		ret = shmdev_discard(s, &slots[i]);
	if (ret) {
		sh->prod_err = ret;
		post_ready(sh);
		die("throughput producer setup", ret);
	}
	post_ready(sh);
	wait_ready(sh, 1 + tp->readers);

	sh->t_first = now_ns();
	end = sh->t_first + (uint64_t)(tp->seconds * 1e9);
	for (seq = 1; (t0 = now_ns()) < end; seq++) {
		/*
		 * Frame seq overwrites seq - TPUT_SLOTS: all readers are past it.
		 * Reliable readers: the kernel sees to that, in shmdev_begin().
		 */
		while (!tp->reliable && seq > TPUT_SLOTS &&
		       min_done(sh, tp->readers) < seq - TPUT_SLOTS) {
			uint32_t p = atomic_load(&sh->progress);

			atomic_store(&sh->prod_waiting, 1);
			if (min_done(sh, tp->readers) >= seq - TPUT_SLOTS)
				break;
			futex_wait(&sh->progress, p);
		}
		atomic_store(&sh->prod_waiting, 0);
		ret = shmdev_begin(s, SHMDEV_FOREVER, &slot);
		if (ret)
			die("begin", ret);
		wait += now_ns() - t0;
		((struct hdr *)slot.data)->seq = seq;
		((struct hdr *)slot.data)->sum = sums[slot.index];
		ret = shmdev_commit(s, &slot, &c);
		if (ret)
			die("commit", ret);
	}
	sh->produced = seq - 1;
	sh->prod_wait_ns = wait;
	shmdev_stream_unref(s); /* destroys it: readers drain, then -EIDRM */
	shmdev_unref(dev);
}

static void tput_reader(void *arg)
{
	struct tput *tp = arg;
	struct shared *sh = tp->sh;
	struct reader_result *r = &sh->r[tp->index];
	struct shmdev_stream *s = NULL;
	struct shmdev *dev = NULL;
	struct shmdev_frame f;
	uint64_t c0;
	int ret;

	ret = shmdev_open(&dev);
	if (!ret)
		ret = shmdev_open_consumer_flags(dev, tp->name,
						 tp->reliable ? SHMDEV_OPEN_RELIABLE : 0, &s);
	if (ret) {
		r->err = ret;
		post_ready(sh);
		die("throughput reader setup", ret);
	}
	c0 = cpu_ns();
	post_ready(sh);
	/*
	 * No timeout: the next frame or the end certainly comes, however slow
	 * the machine. The stream is the producer's (destroy on close), so its
	 * end, even killed, is -EIDRM here once the frames are drained.
	 */
	while ((ret = shmdev_acquire(s, SHMDEV_NEXT, SHMDEV_FOREVER, &f)) == 0) {
		const struct hdr *h = f.data;
		uint64_t sum = checksum((const char *)f.data + sizeof(*h), f.len - sizeof(*h));

		if (h->seq != f.seq || sum != h->sum || f.len != tp->size)
			r->bad++;
		r->missed += f.missed;
		r->frames++;
		r->bytes += f.len;
		ret = shmdev_release(s, &f);
		if (ret)
			break;
		r->t_last = now_ns();
		atomic_store(&sh->done[tp->index], f.seq);
		atomic_fetch_add(&sh->progress, 1);
		if (atomic_load(&sh->prod_waiting))
			futex_wake(&sh->progress);
	}
	r->err = ret == -EIDRM ? 0 : ret;
	r->cpu_ns = cpu_ns() - c0;
	shmdev_stream_unref(s);
	shmdev_unref(dev);
}

struct mem_use {
	uint64_t rss_kb, pss_kb, private_kb; /* summed over readers */
};

static void smaps(pid_t pid, struct mem_use *m)
{
	char path[64], line[256];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu kB", &v) == 1)
			m->rss_kb += v;
		else if (sscanf(line, "Pss: %llu kB", &v) == 1)
			m->pss_kb += v;
		else if (sscanf(line, "Private_Clean: %llu kB", &v) == 1 ||
			 sscanf(line, "Private_Dirty: %llu kB", &v) == 1)
			m->private_kb += v;
	}
	fclose(f);
}

struct tput_result {
	size_t size;
	int readers;
	uint64_t produced, frames_read, bytes_read, bad, missed;
	double seconds;
	double fps; /* frames published (each read by every reader) */
	double gbps; /* all readers together */
	double limit_gbps; /* min(readers, CPUs) x one thread's read bandwidth */
	double cpu_us_per_frame; /* per reader, per frame */
	double wait_us_per_frame; /* the producer's, for a slot */
	struct mem_use mem;
	int err;
};

static void run_tput(size_t size, int readers, double seconds, bool reliable,
		     struct tput_result *res)
{
	struct tput tp = { .size = size, .readers = readers, .seconds = seconds,
			   .reliable = reliable };
	pid_t prod, rd[MAX_READERS];
	uint64_t t_last = 0, cpu = 0;
	int i, st, failed = 0;

	memset(res, 0, sizeof(*res));
	res->size = size;
	res->readers = readers;
	snprintf(tp.name, sizeof(tp.name), "shmbench-%d", getpid());
	tp.sh = map_shared(sizeof(struct shared));
	if (!tp.sh)
		die("mmap", errno);
	prod = spawn(tput_producer, &tp);
	wait_ready(tp.sh, 1);
	if (tp.sh->prod_err) {
		res->err = tp.sh->prod_err;
		reap(prod);
		goto out;
	}
	for (i = 0; i < readers; i++) {
		tp.index = i;
		rd[i] = spawn(tput_reader, &tp);
	}
	wait_ready(tp.sh, 1 + readers);
	sleep_ns((uint64_t)(seconds * 0.5e9));
	for (i = 0; i < readers; i++)
		smaps(rd[i], &res->mem);
	/*
	 * Reap in the order they end. The producer waits for the slowest
	 * reader: one that failed would hold it (and so the others) for ever,
	 * so it goes, and its stream with it (the others then see -EIDRM).
	 */
	for (int left = readers + 1, prod_live = 1; left > 0; left--) {
		pid_t pid = waitpid(-1, &st, 0);

		if (pid < 0) {
			if (errno == EINTR) {
				left++;
				continue;
			}
			die("waitpid", errno);
		}
		st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		failed |= st;
		if (pid == prod)
			prod_live = 0;
		else if (st && prod_live)
			kill(prod, SIGKILL);
	}
	for (i = 0; i < readers; i++) {
		struct reader_result *r = &tp.sh->r[i];

		res->frames_read += r->frames;
		res->bytes_read += r->bytes;
		res->bad += r->bad;
		res->missed += r->missed;
		cpu += r->cpu_ns;
		if (r->t_last > t_last)
			t_last = r->t_last;
		if (r->err && !res->err)
			res->err = r->err;
		/* Every reader reads every frame. */
		if (r->frames != tp.sh->produced)
			res->bad++;
	}
	if (failed && !res->err)
		res->err = -ECHILD;
	res->produced = tp.sh->produced;
	res->seconds = t_last > tp.sh->t_first ? (t_last - tp.sh->t_first) / 1e9 : NAN;
	res->fps = res->produced / res->seconds;
	res->gbps = res->bytes_read / res->seconds / 1e9;
	res->cpu_us_per_frame = res->frames_read ? cpu / 1e3 / res->frames_read : NAN;
	res->wait_us_per_frame = res->produced ? tp.sh->prod_wait_ns / 1e3 / res->produced : NAN;
out:
	munmap(tp.sh, sizeof(struct shared));
}

/* ---- scale: many slots, many consumers ---------------------------------- */

#define SCALE_SLOTS 1024
#define SCALE_CONSUMERS 128 /* at most; the module's max_consumers */
#define SCALE_BASE_SLOTS 4
#define SCALE_BATCH 4 /* frames committed at a time; at most SCALE_BASE_SLOTS */
#define SCALE_BYTES 256 /* a header and a checksummed body */
#define SCALE_END UINT32_MAX /* published: the producer is done */
#define SCALE_MAX_FRAMES 100000 /* --scale-frames: samples of 129 threads */

/* One thread of a scale run; [0] the producer. */
struct scale_proc {
	uint64_t ops; /* producer: begin + commit; consumer: acquire + release */
	uint64_t timer_ns; /* what two reads of the timer measure (median) */
	uint64_t frames, bad, missed;
	int err;
};

struct scale_shared {
	_Atomic uint32_t ready;
	_Atomic uint32_t published; /* frames committed, SCALE_END after the last */
	_Atomic uint32_t progress; /* a consumer woke the producer */
	_Atomic uint32_t prod_waiting;
	_Atomic uint32_t need; /* the frame every consumer must be done with */
	uint32_t base; /* frames committed before the consumers came: the ring full */
	uint32_t produced; /* frames after those */
	int prod_err;
	_Atomic uint32_t done[SCALE_CONSUMERS]; /* each consumer's last frame */
	struct scale_proc p[1 + SCALE_CONSUMERS];
	uint32_t samples[]; /* ns per operation, timer included: frames per thread */
};

struct scale {
	unsigned int slots, consumers;
	unsigned long frames;
	char name[SHMSTREAM_NAME_MAX];
	struct scale_shared *sh;
	struct shmdev *dev;
	struct shmdev_stream *s; /* the producer's */
};

struct scale_consumer_arg {
	struct scale *sc;
	unsigned int index; /* from 0 */
};

/*
 * Per operation, thread CPU time less the timer's: the median (the figure;
 * under emulation a call that the host preempts counts the preemption as
 * the guest's CPU time, ms at a time) and the mean.
 */
struct scale_result {
	unsigned int slots, consumers;
	uint64_t produced, frames_read, bad, missed;
	double commit_ns, commit_mean_ns; /* producer: begin + commit */
	double consume_ns, consume_mean_ns; /* consumer: acquire + release */
	double cost_ns; /* the figure: commit_ns + consume_ns */
	double timer_ns;
	double seconds;
	int err;
};

/* Two reads of thread_ns() back to back: what each timed call carries. */
static uint64_t timer_overhead(void)
{
	uint64_t v[101], t;
	int i;

	for (i = 0; i < 101; i++) {
		t = thread_ns();
		v[i] = thread_ns() - t;
	}
	qsort(v, 101, sizeof(v[0]), cmp_u64);
	return v[50];
}

/* Median and mean of @n samples, sorted in place, less @timer_ns. */
static void scale_stats(uint32_t *v, size_t n, double timer_ns, double *median, double *mean)
{
	double sum = 0;
	size_t i;

	if (!n) {
		*median = *mean = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	for (i = 0; i < n; i++)
		sum += v[i];
	*median = v[n / 2] - timer_ns;
	*mean = sum / n - timer_ns;
}

static uint32_t scale_min_done(struct scale_shared *sh, unsigned int n)
{
	uint32_t m = UINT32_MAX;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint32_t d = atomic_load(&sh->done[i]);

		if (d < m)
			m = d;
	}
	return m;
}

/* Frame @seq into a slot: its header and a checksummed body. */
static void scale_fill(struct hdr *h, uint32_t seq)
{
	h->seq = seq;
	h->t0 = 0;
	h->stop = 0;
	h->sum = fill_pattern(h + 1, SCALE_BYTES - sizeof(*h), seq);
}

/* Before the consumers: a frame in every slot, as in a ring that has run a while. */
static int scale_prefill(struct scale *sc)
{
	struct shmdev_commit_params c = { .bytes = SCALE_BYTES };
	struct shmdev_slot slot;
	uint32_t seq;
	int ret;

	for (seq = 1; seq <= sc->slots; seq++) {
		ret = shmdev_begin(sc->s, 0, &slot);
		if (ret)
			return ret;
		scale_fill(slot.data, seq);
		ret = shmdev_commit(sc->s, &slot, &c);
		if (ret)
			return ret;
	}
	sc->sh->base = sc->slots;
	atomic_store(&sc->sh->published, sc->slots);
	return 0;
}

/* The producer: the process's first thread, once the consumers are there. */
static void scale_produce(struct scale *sc)
{
	struct scale_shared *sh = sc->sh;
	struct scale_proc *me = &sh->p[0];
	struct shmdev_commit_params c = { .bytes = SCALE_BYTES };
	uint32_t seq, base = sh->base;
	struct shmdev_slot slot;
	uint64_t t0, t1, t2, t3;
	int ret;

	pin_cpu(false);
	me->timer_ns = timer_overhead();
	wait_count(&sh->ready, sc->consumers);
	for (seq = base + 1; seq <= base + sc->frames; seq++) {
		/*
		 * A batch at a time: every consumer has taken and released
		 * every frame before the next batch, so that the producer's
		 * calls and the consumers' never meet on the stream's lock.
		 */
		if (seq > base + 1 && (seq - base - 1) % SCALE_BATCH == 0) {
			atomic_store(&sh->published, seq - 1);
			futex_wake(&sh->published);
			atomic_store(&sh->need, seq - 1);
			while (scale_min_done(sh, sc->consumers) < seq - 1) {
				uint32_t p = atomic_load(&sh->progress);

				atomic_store(&sh->prod_waiting, 1);
				if (scale_min_done(sh, sc->consumers) >= seq - 1)
					break;
				futex_wait(&sh->progress, p);
			}
			atomic_store(&sh->prod_waiting, 0);
		}
		t0 = thread_ns();
		ret = shmdev_begin(sc->s, SHMDEV_MS(10000), &slot);
		t1 = thread_ns();
		if (ret)
			die("scale begin", ret);
		scale_fill(slot.data, seq);
		t2 = thread_ns();
		ret = shmdev_commit(sc->s, &slot, &c);
		t3 = thread_ns();
		if (ret)
			die("scale commit", ret);
		if (c.seq != seq)
			me->bad++;
		sh->samples[me->ops++] = (uint32_t)((t1 - t0) + (t3 - t2));
		me->frames++;
	}
	sh->produced = seq - 1 - base;
	atomic_store(&sh->published, SCALE_END);
	futex_wake(&sh->published);
}

static void *scale_consume(void *arg)
{
	struct scale_consumer_arg *a = arg;
	struct scale *sc = a->sc;
	struct scale_shared *sh = sc->sh;
	struct scale_proc *me = &sh->p[1 + a->index];
	struct shmdev_stream *s = NULL;
	struct shmdev_frame f;
	uint64_t t0, t1, t2, t3, last = sh->base;
	uint32_t next, v;
	const struct hdr *h;
	int ret;

	/* All on one CPU: consumers never meet on the stream's lock either. */
	pin_cpu(true);
	ret = shmdev_open_consumer(sc->dev, sc->name, &s);
	if (ret) {
		me->err = ret;
		die("scale consumer setup", ret);
	}
	me->timer_ns = timer_overhead();
	post_count(&sh->ready);
	for (next = last + 1;; next = (uint32_t)last + 1) {
		/*
		 * Wait for the frame on a futex, outside the module and the
		 * timed calls: the figure is the calls, not the wake-ups of
		 * many threads on few CPUs. The frame is committed when
		 * published says so, so the ACQUIRE does not wait.
		 */
		while ((v = atomic_load(&sh->published)) < next)
			futex_wait(&sh->published, v);
		if (v == SCALE_END && next > sh->base + sh->produced)
			break;
		t0 = thread_ns();
		ret = shmdev_acquire(s, SHMDEV_NEXT, 0, &f);
		t1 = thread_ns();
		if (ret)
			break;
		h = f.data;
		/* Strictly increasing, whole, its own; a skipped one counts as missed. */
		if (f.seq <= last || h->seq != f.seq || f.len != SCALE_BYTES ||
		    checksum(h + 1, SCALE_BYTES - sizeof(*h)) != h->sum)
			me->bad++;
		me->missed += f.missed;
		me->frames++;
		last = f.seq > last ? f.seq : last + 1;
		t2 = thread_ns();
		ret = shmdev_release(s, &f);
		t3 = thread_ns();
		if (ret)
			break;
		if (me->ops < sc->frames)
			sh->samples[(1 + a->index) * sc->frames + me->ops] =
				(uint32_t)((t1 - t0) + (t3 - t2));
		me->ops++;
		atomic_store(&sh->done[a->index], (uint32_t)last);
		if (atomic_load(&sh->prod_waiting) &&
		    scale_min_done(sh, sc->consumers) >= atomic_load(&sh->need)) {
			atomic_fetch_add(&sh->progress, 1);
			futex_wake(&sh->progress);
		}
	}
	if (ret) {
		/* The producer would wait for this one for ever: all go. */
		me->err = ret;
		fprintf(stderr, "shmbench: scale consumer %u: %s\n", a->index, strerror(-ret));
		_exit(1);
	}
	shmdev_stream_unref(s);
	return NULL;
}

/* The forked process of a scale run: the producer and its consumer threads. */
static void scale_process(void *arg)
{
	static struct scale_consumer_arg args[SCALE_CONSUMERS];
	struct scale *sc = arg;
	struct shmdev_create_params cp = {
		.slot_count = sc->slots,
		.slot_size = SCALE_BYTES,
		.flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE,
	};
	pthread_t th[SCALE_CONSUMERS];
	pthread_attr_t attr;
	unsigned int i;
	int ret;

	ret = shmdev_open(&sc->dev);
	if (!ret)
		ret = shmdev_create(sc->dev, sc->name, &cp, &sc->s);
	if (!ret)
		ret = scale_prefill(sc);
	if (ret) {
		sc->sh->prod_err = ret;
		die("scale producer setup", ret);
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (i = 0; i < sc->consumers; i++) {
		args[i].sc = sc;
		args[i].index = i;
		ret = pthread_create(&th[i], &attr, scale_consume, &args[i]);
		if (ret)
			die("pthread_create", ret);
	}
	scale_produce(sc);
	for (i = 0; i < sc->consumers; i++)
		pthread_join(th[i], NULL);
	shmdev_stream_unref(sc->s);
	shmdev_unref(sc->dev);
}

static void run_scale(unsigned int slots, unsigned int consumers, unsigned long frames,
		      struct scale_result *res)
{
	struct scale sc = { .slots = slots, .consumers = consumers, .frames = frames };
	uint64_t cons_ops = 0, t0;
	double timer = 0;
	struct scale_shared *sh;
	struct scale_proc *p;
	unsigned int i;
	size_t shlen;
	int st;

	memset(res, 0, sizeof(*res));
	res->slots = slots;
	res->consumers = consumers;
	snprintf(sc.name, sizeof(sc.name), "shmbench-%d", getpid());
	shlen = sizeof(*sh) + (1 + consumers) * frames * sizeof(uint32_t);
	sh = sc.sh = map_shared(shlen);
	if (!sh)
		die("mmap", errno);
	t0 = now_ns();
	st = reap(spawn(scale_process, &sc));
	res->seconds = (now_ns() - t0) / 1e9;
	res->produced = sh->produced;
	p = &sh->p[0];
	res->bad = p->bad;
	res->err = sh->prod_err;
	res->timer_ns = p->timer_ns;
	scale_stats(sh->samples, p->ops, p->timer_ns, &res->commit_ns, &res->commit_mean_ns);
	for (i = 0; i < consumers; i++) {
		p = &sh->p[1 + i];
		res->frames_read += p->frames;
		res->bad += p->bad;
		res->missed += p->missed;
		timer += p->timer_ns;
		/* Gather the consumers' samples after the producer's. */
		memmove(sh->samples + frames + cons_ops, sh->samples + (1 + i) * frames,
			(p->ops < frames ? p->ops : frames) * sizeof(uint32_t));
		cons_ops += p->ops < frames ? p->ops : frames;
		if (p->err && !res->err)
			res->err = p->err;
		/* Every consumer reads every frame. */
		if (p->frames != sh->produced)
			res->bad++;
	}
	if (sh->produced != frames && !res->err)
		res->bad++;
	if (st && !res->err)
		res->err = -ECHILD;
	scale_stats(sh->samples + frames, cons_ops, consumers ? timer / consumers : 0,
		    &res->consume_ns, &res->consume_mean_ns);
	res->cost_ns = res->commit_ns + res->consume_ns;
	munmap(sh, shlen);
}

/* ---- single-thread bandwidth ------------------------------------------- */

static volatile uint64_t sink;

/*
 * One thread reading (checksum) or copying frames in turn from a buffer as
 * large as the throughput ring, so that it meets the caches as a reader
 * of the ring does: the limit for a reader that touches every byte.
 */
static void bandwidth(size_t size, double *read_gbps, double *copy_gbps)
{
	size_t i, n = 0, batch = size < (1 << 20) ? (1 << 20) / size : 1;
	char *ring = malloc(size * TPUT_SLOTS), *b = malloc(size);
	uint64_t t0, t, bytes = 0;

	if (!ring || !b)
		die("malloc", ENOMEM);
	for (i = 0; i < TPUT_SLOTS; i++)
		fill_pattern(ring + i * size, size, i + 1);
	memset(b, 0, size);
	t0 = now_ns();
	do {
		for (i = 0; i < batch; i++, n++)
			sink += checksum(ring + n % TPUT_SLOTS * size, size);
		bytes += size * batch;
	} while ((t = now_ns()) - t0 < 300000000ULL);
	*read_gbps = bytes / ((t - t0) / 1e9) / 1e9;
	bytes = 0;
	t0 = now_ns();
	do {
		for (i = 0; i < batch; i++, n++) {
			memcpy(b, ring + n % TPUT_SLOTS * size, size);
			sink += b[n % size];
		}
		bytes += size * batch;
	} while ((t = now_ns()) - t0 < 300000000ULL);
	*copy_gbps = bytes / ((t - t0) / 1e9) / 1e9;
	free(ring);
	free(b);
}

/* ---- report ------------------------------------------------------------ */

static const size_t default_sizes[] = { 64, 640 * 480 * 3, 1920 * 1080 * 3, 3840 * 2160 * 3 };
static const char *const default_names[] = { "64 B", "640x480x3", "1920x1080x3", "3840x2160x3" };
static const int reader_counts[] = { 1, 4, 16 };
#define NREADERS (int)(sizeof(reader_counts) / sizeof(reader_counts[0]))
/* The last, the spinning reader, runs with the spin part. */
static const enum transport idle_transports[] = { T_SHM_EPOLL, T_SHM_ACQUIRE, T_FUTEX, T_POLL,
						  T_SHM_SPIN };
#define NIDLE (int)(sizeof(idle_transports) / sizeof(idle_transports[0]))
#define IDLE_SLEEPING 1 /* idle_transports[]: shmstream-acquire */
#define IDLE_SPIN (NIDLE - 1)
/* Spin table: the spinning reader, the 10 us poller, a sleeping reader. */
static const enum transport spin_transports[] = { T_SHM_SPIN, T_POLL, T_SHM_ACQUIRE };
#define NSPIN (int)(sizeof(spin_transports) / sizeof(spin_transports[0]))

struct env {
	char kernel[160];
	char cpu[128];
	const char *accel;
	long cpus;
	char module[64];
	char date[32];
	unsigned int max_consumers; /* the module's; 0: unknown */
};

static void read_env(struct env *e)
{
	struct shmstream_version v;
	struct utsname u;
	struct shmdev *dev;
	char line[256];
	time_t now = time(NULL);
	FILE *f;

	memset(e, 0, sizeof(*e));
	uname(&u);
	snprintf(e->kernel, sizeof(e->kernel), "%s %s", u.release, u.machine);
	strcpy(e->cpu, "unknown");
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *c = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && c) {
			snprintf(e->cpu, sizeof(e->cpu), "%s", c + 2);
			e->cpu[strcspn(e->cpu, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	e->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	/* Set by the guest runner (tools/vm/run): kvm or tcg. */
	e->accel = getenv("SHMSTREAM_VM_ACCEL");
	if (!e->accel)
		e->accel = "none (not in the guest runner)";
	strcpy(e->module, "unknown");
	if (!shmdev_open(&dev)) {
		if (!shmdev_module_version(dev, &v)) {
			snprintf(e->module, sizeof(e->module), "ABI %u.%u", v.abi_major,
				 v.abi_minor);
			e->max_consumers = v.max_consumers;
		}
		shmdev_unref(dev);
	}
	strftime(e->date, sizeof(e->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

static void json_str(FILE *f, const char *k, const char *v, const char *end)
{
	fprintf(f, "\"%s\": \"", k);
	for (; *v; v++)
		fprintf(f, *v == '"' || *v == '\\' ? "\\%c" : "%c", *v);
	fprintf(f, "\"%s", end);
}

static void json_num(FILE *f, const char *k, double v, const char *end)
{
	if (isfinite(v))
		fprintf(f, "\"%s\": %.6g%s", k, v, end);
	else
		fprintf(f, "\"%s\": null%s", k, end);
}

static void json_lat(FILE *j, const char *frame, const struct lat_result *r)
{
	fprintf(j, "    {");
	json_str(j, "frame", frame, ", ");
	fprintf(j, "\"bytes\": %zu, ", r->size);
	json_str(j, "transport", tname[r->t], ", ");
	fprintf(j, "\"frames\": %lu, \"bad\": %" PRIu64 ", \"error\": %d, ", r->frames, r->bad,
		r->err);
	json_num(j, "p50_us", r->p50, ", ");
	json_num(j, "p99_us", r->p99, ", ");
	json_num(j, "p999_us", r->p999, ", ");
	json_num(j, "max_us", r->max, ", ");
	json_num(j, "mean_us", r->mean, ", ");
	json_num(j, "reader_cpu_us_per_frame", r->cpu_us_per_frame, "}");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmbench [OPTIONS]\n"
		"Handoff latency, throughput, CPU and memory of shmstream against eventfd,\n"
		"futex and polled shared memory, a pipe and a Unix socket, in one run; the\n"
		"cost of commit, acquire and release with 1024 slots and 128 consumers\n"
		"against 4 slots and 1 consumer (scale); a spinning consumer against the\n"
		"10 us poller and a sleeping reader (spin).\n"
		"Needs /dev/shmstream (the module loaded).\n\n"
		"  --frames N     latency frames per case (default 10000, at most 10000000)\n"
		"  --budget S     latency: seconds per case at most (default 6); a case\n"
		"                 that hits it reports the frames it got\n"
		"  --seconds S    throughput: seconds per case (default 2)\n"
		"  --gap-us N     latency: pause before each frame so the reader sleeps\n"
		"                 (default 100)\n"
		"  --idle-frames N  idle CPU: frames at 1 per second, at least 2 (default 3)\n"
		"  --sizes LIST   frame sizes in bytes, comma separated\n"
		"                 (default 64,921600,6220800,24883200)\n"
		"  --scale-frames N  scale: frames per case, 8 to 100000 (default 1000)\n"
		"  --spin-us N    spin: the spinning reader's shmdev_stream_set_spin() budget\n"
		"                 (default 50)\n"
		"  --spin-gap-us N  spin: the producer's pause before each frame, spun, not\n"
		"                 slept (default 20)\n"
		"  --only PARTS   latency, throughput (with bandwidth and memory), idle,\n"
		"                 scale, spin (with the spinning reader's idle row);\n"
		"                 comma separated (default: all)\n"
		"  --skip PARTS   leave these out (of all, or of --only's)\n"
		"  --json FILE    write every figure and the environment to FILE\n"
		"  --quick        a short run to check that everything works\n"
		"  --serve FD     only the shm-acquire latency producer, for a reader outside\n"
		"                 shmbench (pybench's Python consumer, so that it and the C\n"
		"                 reader have the same producer): creates a stream of the\n"
		"                 first of --sizes, prints its name on a line, then publishes\n"
		"                 frame 1 after the reader's first count on the eventfd FD\n"
		"                 (it is attached) and each next one --gap-us after the\n"
		"                 count for the one before, the frame's timestamp_ns the\n"
		"                 clock right before COMMIT; the frame after the last\n"
		"                 (--frames, or --budget spent) has the header's stop word\n"
		"                 set (header: u64 seq, t0, sum, stop; only seq, the stream's,\n"
		"                 and stop are written); it ends when a count does not come\n"
		"                 within --budget, and with its parent\n"
		"  --read FD:NAME  only the shm-acquire latency reader, against --serve's\n"
		"                 stream NAME in another shmbench (a C consumer in a process\n"
		"                 of its own, as the Python one is): counts once attached and\n"
		"                 after each frame on the eventfd FD, takes frames until the\n"
		"                 stop word (at most --frames), and prints one line: frames,\n"
		"                 bad, p50, p99, p99.9 and max (us); exit status 1 when a\n"
		"                 frame was wrong or more than --frames came (fewer, when\n"
		"                 the producer stops early, is not an error: compare the\n"
		"                 count); --sizes, --gap-us and --budget are the producer's,\n"
		"                 not read here\n"
		"  -h, --help     this text\n"
		"Exit status: 0, or 1 when a frame was wrong or lost, 2 on a setup error.\n");
}

/* PART_* of a comma separated list, 0 for a wrong one. */
static unsigned int parse_parts(char *arg)
{
	static const char *const names[] = { "latency", "throughput", "idle", "scale", "spin" };
	unsigned int parts = 0, i;
	char *tok, *save;

	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (!strcmp(tok, names[i]))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			return 0;
		parts |= 1U << i;
	}
	return parts;
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "frames", required_argument, NULL, 'f' },
		{ "budget", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "gap-us", required_argument, NULL, 'g' },
		{ "idle-frames", required_argument, NULL, 'i' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "json", required_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "skip", required_argument, NULL, 'k' },
		{ "scale-frames", required_argument, NULL, 'S' },
		{ "spin-us", required_argument, NULL, 'p' },
		{ "spin-gap-us", required_argument, NULL, 'G' },
		{ "quick", no_argument, NULL, 'q' },
		{ "serve", required_argument, NULL, 'e' },
		{ "read", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end, *tok, *save;
	unsigned int skip = 0;
	int c, i;

	for (i = 0; i < 4; i++) {
		o.sizes[i] = default_sizes[i];
		o.size_names[i] = default_names[i];
	}
	o.nsizes = 4;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 'f':
			o.frames = strtoul(optarg, &end, 10);
			break;
		case 'b':
			o.budget_s = strtod(optarg, &end);
			break;
		case 's':
			o.tput_s = strtod(optarg, &end);
			break;
		case 'g':
			o.gap_us = (unsigned int)strtoul(optarg, &end, 10);
			break;
		case 'i':
			o.idle_frames = (int)strtol(optarg, &end, 10);
			break;
		case 'z':
			o.nsizes = 0;
			for (tok = strtok_r(optarg, ",", &save); tok && o.nsizes < 8;
			     tok = strtok_r(NULL, ",", &save)) {
				unsigned long v = strtoul(tok, &end, 10);

				if (*end || v < sizeof(struct hdr) || v > (1UL << 30) || v % 8) {
					fprintf(stderr, "shmbench: --sizes: %s: a multiple of 8 from %zu\n",
						tok, sizeof(struct hdr));
					exit(2);
				}
				o.sizes[o.nsizes] = v;
				o.size_names[o.nsizes] = strdup(tok);
				o.nsizes++;
			}
			end = NULL;
			if (!o.nsizes)
				goto bad;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'o':
			o.parts = parse_parts(optarg);
			if (!o.parts)
				goto bad;
			break;
		case 'k':
			skip |= parse_parts(optarg);
			if (!skip)
				goto bad;
			break;
		case 'S':
			o.scale_frames = strtoul(optarg, &end, 10);
			break;
		case 'p':
			o.spin_us = (unsigned int)strtoul(optarg, &end, 10);
			break;
		case 'G':
			o.spin_gap_us = (unsigned int)strtoul(optarg, &end, 10);
			break;
		case 'q':
			o.quick = true;
			break;
		case 'e': {
			long fd = strtol(optarg, &end, 10);

			if (end == optarg || fd < 0 || fd > INT_MAX)
				goto bad;
			o.serve_fd = (int)fd;
			break;
		}
		case 'R': {
			long fd = strtol(optarg, &end, 10);

			if (end == optarg || *end != ':' || fd < 0 || fd > INT_MAX || !end[1] ||
			    strlen(end + 1) >= SHMSTREAM_NAME_MAX)
				goto bad;
			o.read_fd = (int)fd;
			o.read_name = end + 1;
			end = NULL;
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
		if (end && (*end || errno))
			goto bad;
	}
	o.parts &= ~skip;
	if (optind < argc || !o.frames || o.frames > LAT_MAX_FRAMES || o.budget_s <= 0 ||
	    o.tput_s <= 0 || o.idle_frames < 2 || !o.parts || o.scale_frames < 2 * SCALE_BATCH ||
	    o.scale_frames > SCALE_MAX_FRAMES || !o.spin_us || (o.serve_fd >= 0 && o.read_fd >= 0))
		goto bad;
	if (o.quick) {
		o.frames = 200;
		o.budget_s = 2;
		o.tput_s = 0.5;
		o.idle_frames = 2;
		o.scale_frames = 200;
	}
	return;
bad:
	usage(stderr);
	exit(2);
}

/* Whether @fd is an open eventfd (else says so, for @opt). */
static bool is_eventfd(int fd, const char *opt)
{
	char path[64], target[64] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n >= 0)
		target[n] = '\0';
	if (strcmp(target, "anon_inode:[eventfd]")) {
		fprintf(stderr, "shmbench: %s %d: not an open eventfd\n", opt, fd);
		return false;
	}
	return true;
}

/* --serve FD: the shm-acquire latency producer alone (usage()). */
static int serve(void)
{
	struct lat l = { .t = T_SHM_ACQUIRE, .size = o.sizes[0], .frames = o.frames,
			 .budget_s = o.budget_s, .gap_ns = o.gap_us * 1000ULL, .serve = true,
			 .ack = o.serve_fd, .efd = -1, .fds = { -1, -1 } };

	if (!is_eventfd(o.serve_fd, "--serve"))
		return 2;
	/* Its reader waits on it, it on the reader: it goes with its parent. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		die("prctl", errno);
	snprintf(l.name, sizeof(l.name), "shmbench-%d", getpid());
	l.sh = map_shared(sizeof(struct shared));
	if (!l.sh)
		die("mmap", errno);
	lat_producer(&l);
	return 0;
}

/*
 * --read FD:NAME: the shm-acquire latency reader alone, against --serve's
 * stream NAME in another shmbench (usage()). 0 when every frame came whole.
 */
static int read_served(void)
{
	size_t shlen = sizeof(struct shared) + (o.frames + 1) * sizeof(uint64_t);
	struct lat l = { .t = T_SHM_ACQUIRE, .size = o.sizes[0], .frames = o.frames,
			 .budget_s = o.budget_s, .ack = o.read_fd, .efd = -1, .fds = { -1, -1 } };
	struct lat_result res = { .t = T_SHM_ACQUIRE, .size = o.sizes[0] };
	struct reader_result *r;
	int err;

	if (!is_eventfd(o.read_fd, "--read"))
		return 2;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		die("prctl", errno);
	snprintf(l.name, sizeof(l.name), "%s", o.read_name);
	l.sh = map_shared(shlen);
	if (!l.sh)
		die("mmap", errno);
	lat_reader(&l);
	r = &l.sh->r[0];
	res.frames = r->frames;
	res.bad = r->bad;
	lat_figures(l.sh, r, &res);
	if (r->err)
		fprintf(stderr, "shmbench: --read: %s after %lu frames\n", strerror(-r->err),
			res.frames);
	printf("frames %lu bad %" PRIu64 " p50 %.1f p99 %.1f p99.9 %.1f max %.1f\n", res.frames,
	       res.bad, res.p50, res.p99, res.p999, res.max);
	err = r->err;
	munmap(l.sh, shlen);
	return err || res.bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct lat_result lat[8][T_COUNT], idle[NIDLE], spin[NSPIN];
	static struct tput_result tput[8][NREADERS], rel[8];
	static struct scale_result scale[2];
	double rbw[8], cbw[8], scale_ratio = NAN, spin_poll = NAN, spin_sleep = NAN,
	       idle_ratio = NAN;
	unsigned int consumers = SCALE_CONSUMERS;
	bool spin_idle;
	struct env e;
	FILE *j = NULL;
	int i, k, bad = 0;

	parse(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/shmstream", R_OK | W_OK)) {
		fprintf(stderr, "shmbench: /dev/shmstream: %s (is the module loaded?)\n",
			strerror(errno));
		return 2;
	}
	if (o.serve_fd >= 0)
		return serve();
	if (o.read_fd >= 0)
		return read_served();
	read_env(&e);
	printf("shmbench: %s, %ld CPUs (%s), guest acceleration: %s, module %s\n", e.kernel,
	       e.cpus, e.cpu, e.accel, e.module);
	printf("latency: up to %lu frames or %.0f s per case, %u us between frames\n\n", o.frames,
	       o.budget_s, o.gap_us);
	if (e.max_consumers && e.max_consumers < consumers)
		consumers = e.max_consumers; /* the module's max_consumers= */
	spin_idle = (o.parts & PART_IDLE) && (o.parts & PART_SPIN);

	printf("Handoff latency, producer publishes -> reader has the frame (us)\n");
	printf("%-12s %-18s %7s %9s %9s %9s %9s %10s\n", "frame", "transport", "frames", "p50",
	       "p99", "p99.9", "max", "cpu/frame");
	for (i = 0; i < o.nsizes && (o.parts & PART_LATENCY); i++) {
		for (k = 0; k < NLAT; k++) {
			struct lat_result *r = &lat[i][k];

			run_latency(k, o.sizes[i], o.frames, o.budget_s, o.gap_us * 1000ULL, false,
				    false, r);
			if (r->err || r->bad)
				bad = 1;
			printf("%-12s %-18s %7lu %9.1f %9.1f %9.1f %9.1f %10.2f%s\n", o.size_names[i],
			       tname[k], r->frames, r->p50, r->p99, r->p999, r->max,
			       r->cpu_us_per_frame,
			       r->err ? "  ERROR" : r->bad ? "  BAD FRAMES" : "");
		}
	}

	printf("\nSingle-thread bandwidth, frames in turn from a ring-sized buffer (GB/s)\n"
	       "%-12s %10s %10s\n", "frame", "read", "memcpy");
	for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
		bandwidth(o.sizes[i], &rbw[i], &cbw[i]);
		printf("%-12s %10.2f %10.2f\n", o.size_names[i], rbw[i], cbw[i]);
	}

	printf("\nThroughput, one producer, every reader sums every byte of every frame\n");
	printf("%-12s %7s %10s %10s %10s %8s %10s %12s\n", "frame", "readers", "frames/s",
	       "GB/s", "limit", "of limit", "cpu/frame", "private/rdr");
	for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
		for (k = 0; k < NREADERS; k++) {
			struct tput_result *r = &tput[i][k];
			int n = reader_counts[k];

			run_tput(o.sizes[i], n, o.tput_s, false, r);
			r->limit_gbps = (n < e.cpus ? n : e.cpus) * rbw[i];
			if (r->err || r->bad || r->missed)
				bad = 1;
			printf("%-12s %7d %10.0f %10.2f %10.2f %7.0f%% %10.2f %9.0f KiB%s\n",
			       o.size_names[i], n, r->fps, r->gbps, r->limit_gbps,
			       100 * r->gbps / r->limit_gbps,
			       r->cpu_us_per_frame, (double)r->mem.private_kb / n,
			       r->err ? "  ERROR" : r->bad || r->missed ? "  BAD/LOST FRAMES" : "");
		}
	}

	printf("\nA reliable reader (the kernel paces the producer) against an ordinary one\n"
	       "(the producer paces itself, in user space, by the reader's progress)\n");
	printf("%-12s %-10s %10s %10s %16s %8s\n", "frame", "reader", "frames/s", "GB/s",
	       "producer wait/fr", "missed");
	for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
		struct tput_result *r = &rel[i];

		run_tput(o.sizes[i], 1, o.tput_s, true, r);
		if (r->err || r->bad || r->missed)
			bad = 1;
		printf("%-12s %-10s %10.0f %10.2f %13.2f us %8" PRIu64 "\n", o.size_names[i],
		       "ordinary", tput[i][0].fps, tput[i][0].gbps, tput[i][0].wait_us_per_frame,
		       tput[i][0].missed);
		printf("%-12s %-10s %10.0f %10.2f %13.2f us %8" PRIu64 "%s\n", o.size_names[i],
		       "reliable", r->fps, r->gbps, r->wait_us_per_frame, r->missed,
		       r->err ? "  ERROR" : r->bad || r->missed ? "  BAD/LOST FRAMES" : "");
	}

	printf("\nIdle reader: a 1 fps producer, %d frames; CPU while it waits, and in all\n",
	       o.idle_frames);
	printf("%-18s %14s %12s %14s\n", "transport", "waiting us/s", "all us/s", "all us/frame");
	for (k = 0; k < NIDLE && (o.parts & PART_IDLE); k++) {
		struct lat_result *r = &idle[k];

		if (k == IDLE_SPIN && !spin_idle)
			continue;
		run_latency(idle_transports[k], 4096, o.idle_frames, o.idle_frames + 5.0,
			    1000000000ULL, true, false, r);
		if (r->err || r->bad)
			bad = 1;
		printf("%-18s %14.1f %12.1f %14.1f%s\n", tname[idle_transports[k]],
		       r->wait_cpu_us_per_s, r->cpu_us_per_s, r->cpu_us_per_frame,
		       r->err ? "  ERROR" : "");
	}

	printf("\nMemory of the readers (throughput run, sampled mid-run)\n");
	printf("%-12s %7s %12s %12s %14s\n", "frame", "readers", "RSS", "PSS", "private total");
	for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
		for (k = 0; k < NREADERS; k += NREADERS - 1) {
			struct mem_use *m = &tput[i][k].mem;

			printf("%-12s %7d %8" PRIu64 " KiB %8" PRIu64 " KiB %10" PRIu64 " KiB\n",
			       o.size_names[i], reader_counts[k], m->rss_kb, m->pss_kb,
			       m->private_kb);
		}
	}

	for (k = 0; k < 2 && (o.parts & PART_SCALE); k++) {
		struct scale_result *r = &scale[k];

		if (!k) {
			printf("\nScale: commit + acquire + release, %d slots x %u consumers against "
			       "%d slots x 1;\nconsumers keep up (%d frames at a time, each taken and "
			       "released by all before\nthe next), every frame checked; thread CPU "
			       "time inside the calls, ns per\noperation, median (mean)\n",
			       SCALE_SLOTS, consumers, SCALE_BASE_SLOTS, SCALE_BATCH);
			printf("%-9s %6s %9s %7s %17s %17s %10s %8s\n", "case", "slots", "consumers",
			       "frames", "begin+commit", "acquire+release", "sum", "seconds");
			run_scale(SCALE_BASE_SLOTS, 1, o.scale_frames, r);
		} else {
			run_scale(SCALE_SLOTS, consumers, o.scale_frames, r);
		}
		if (r->err || r->bad || r->missed)
			bad = 1;
		printf("%-9s %6u %9u %7" PRIu64 " %8.0f (%6.0f) %8.0f (%6.0f) %10.0f %8.1f%s\n",
		       k ? "scale" : "baseline", r->slots, r->consumers, r->produced, r->commit_ns,
		       r->commit_mean_ns, r->consume_ns, r->consume_mean_ns, r->cost_ns, r->seconds,
		       r->err ? "  ERROR" : r->bad || r->missed ? "  BAD/LOST FRAMES" : "");
	}
	if (o.parts & PART_SCALE) {
		scale_ratio = scale[1].cost_ns / scale[0].cost_ns;
		printf("%-9s %6s %9s %7s %7.2fx %9s %7.2fx %9s %9.2fx   (timer %.0f ns, removed)\n",
		       "ratio", "", "", "", scale[1].commit_ns / scale[0].commit_ns, "",
		       scale[1].consume_ns / scale[0].consume_ns, "", scale_ratio,
		       scale[0].timer_ns);
	}

	for (k = 0; k < NSPIN && (o.parts & PART_SPIN); k++) {
		struct lat_result *r = &spin[k];

		if (!k) {
			printf("\nSpin: a reader that spins %u us before it sleeps, against the 10 us "
			       "poller and\na sleeping reader; %s frames, %u us apart (spun by the "
			       "producer) after the\nreader's last (us)\n", o.spin_us, o.size_names[0],
			       o.spin_gap_us);
			printf("%-18s %7s %9s %9s %9s %9s %10s\n", "transport", "frames", "p50", "p99",
			       "p99.9", "max", "cpu/frame");
		}
		run_latency(spin_transports[k], o.sizes[0], o.frames, o.budget_s,
			    o.spin_gap_us * 1000ULL, false, true, r);
		if (r->err || r->bad)
			bad = 1;
		printf("%-18s %7lu %9.1f %9.1f %9.1f %9.1f %10.2f%s\n", tname[spin_transports[k]],
		       r->frames, r->p50, r->p99, r->p999, r->max, r->cpu_us_per_frame,
		       r->err ? "  ERROR" : r->bad ? "  BAD FRAMES" : "");
	}
	if (o.parts & PART_SPIN) {
		spin_poll = spin[0].p50 / spin[1].p50;
		spin_sleep = spin[0].p50 / spin[2].p50;
	}
	if (spin_idle)
		idle_ratio = idle[IDLE_SPIN].wait_cpu_us_per_s / idle[IDLE_SLEEPING].wait_cpu_us_per_s;

	/* The targets, computed from this run. */
	printf("\nTargets\n");
	for (i = 0; i < o.nsizes && (o.parts & PART_LATENCY); i++) {
		double floor = lat[i][T_EVENTFD].p50;

		printf("%-12s shmstream p50 / eventfd p50: epoll %.2fx, acquire %.2fx (target <= 1.5x); "
		       "unix socket p50 / shmstream p50: %.1fx (target >= 10x at 1920x1080x3)\n",
		       o.size_names[i], lat[i][T_SHM_EPOLL].p50 / floor,
		       lat[i][T_SHM_ACQUIRE].p50 / floor,
		       lat[i][T_UNIX].p50 / lat[i][T_SHM_EPOLL].p50);
	}
	for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
		struct tput_result *r = &tput[i][NREADERS - 1];

		printf("%-12s 16 readers: %.2f GB/s = %.0f%% of %ld CPU(s) x %.2f GB/s read bandwidth "
		       "(target >= 80%% at 1920x1080x3)\n",
		       o.size_names[i], r->gbps, 100 * r->gbps / r->limit_gbps, e.cpus, rbw[i]);
	}
	if (o.parts & PART_IDLE)
		printf("idle shmstream reader: %.1f us CPU per second while waiting, %.1f in all at "
		       "1 fps (target 0: no polling)\n",
		       idle[0].wait_cpu_us_per_s, idle[0].cpu_us_per_s);
	if (o.parts & PART_SCALE)
		printf("scale: commit + acquire + release, 1024 slots x %u consumers / 4 slots x 1 "
		       "consumer: %.2fx (target <= 1.2x)\n", consumers, scale_ratio);
	if (o.parts & PART_SPIN)
		printf("spin: p50 spin %u us / p50 poll-10us: %.2fx (target <= 1.0x); "
		       "p50 spin / p50 sleeping reader: %.2fx\n", o.spin_us, spin_poll, spin_sleep);
	if (spin_idle)
		printf("idle CPU spin / sleeping reader: %.2fx (target <= 2x; %.1f / %.1f us per "
		       "second while waiting)\n", idle_ratio, idle[IDLE_SPIN].wait_cpu_us_per_s,
		       idle[IDLE_SLEEPING].wait_cpu_us_per_s);

	if (o.json) {
		j = fopen(o.json, "w");
		if (!j)
			die(o.json, errno);
		fprintf(j, "{\n  \"environment\": {");
		json_str(j, "kernel", e.kernel, ", ");
		json_str(j, "cpu", e.cpu, ", ");
		fprintf(j, "\"cpus\": %ld, ", e.cpus);
		json_str(j, "acceleration", e.accel, ", ");
		json_str(j, "module", e.module, ", ");
		json_str(j, "date", e.date, "},\n");
		fprintf(j, "  \"parameters\": {\"frames\": %lu, \"budget_s\": %g, \"seconds\": %g, "
			   "\"gap_us\": %u, \"idle_frames\": %d, \"scale_frames\": %lu, "
			   "\"spin_us\": %u, \"spin_gap_us\": %u, \"quick\": %s},\n",
			o.frames, o.budget_s, o.tput_s, o.gap_us, o.idle_frames, o.scale_frames,
			o.spin_us, o.spin_gap_us, o.quick ? "true" : "false");
		fprintf(j, "  \"transports\": {");
		for (k = 0; k < T_COUNT; k++) {
			json_str(j, tname[k], tdesc[k], k + 1 < T_COUNT ? ", " : "},\n");
		}
		fprintf(j, "  \"latency\": [\n");
		for (i = 0; i < o.nsizes && (o.parts & PART_LATENCY); i++) {
			for (k = 0; k < NLAT; k++) {
				json_lat(j, o.size_names[i], &lat[i][k]);
				fprintf(j, i + 1 < o.nsizes || k + 1 < NLAT ? ",\n" : "\n");
			}
		}
		fprintf(j, "  ],\n  \"bandwidth\": [\n");
		for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
			fprintf(j, "    {");
			json_str(j, "frame", o.size_names[i], ", ");
			fprintf(j, "\"bytes\": %zu, ", o.sizes[i]);
			json_num(j, "read_gbps", rbw[i], ", ");
			json_num(j, "memcpy_gbps", cbw[i], "}");
			fprintf(j, i + 1 < o.nsizes ? ",\n" : "\n");
		}
		fprintf(j, "  ],\n  \"throughput\": [\n");
		for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
			for (k = 0; k < NREADERS; k++) {
				struct tput_result *r = &tput[i][k];

				fprintf(j, "    {");
				json_str(j, "frame", o.size_names[i], ", ");
				fprintf(j, "\"bytes\": %zu, \"readers\": %d, \"frames\": %" PRIu64
					   ", \"frames_read\": %" PRIu64 ", \"bad\": %" PRIu64
					   ", \"missed\": %" PRIu64 ", \"error\": %d, ",
					r->size, r->readers, r->produced, r->frames_read, r->bad,
					r->missed, r->err);
				json_num(j, "seconds", r->seconds, ", ");
				json_num(j, "frames_per_s", r->fps, ", ");
				json_num(j, "gbps", r->gbps, ", ");
				json_num(j, "limit_gbps", r->limit_gbps, ", ");
				json_num(j, "reader_cpu_us_per_frame", r->cpu_us_per_frame, ", ");
				json_num(j, "producer_wait_us_per_frame", r->wait_us_per_frame, ", ");
				fprintf(j, "\"readers_rss_kb\": %" PRIu64 ", \"readers_pss_kb\": %" PRIu64
					   ", \"readers_private_kb\": %" PRIu64 "}",
					r->mem.rss_kb, r->mem.pss_kb, r->mem.private_kb);
				fprintf(j, i + 1 < o.nsizes || k + 1 < NREADERS ? ",\n" : "\n");
			}
		}
		fprintf(j, "  ],\n  \"reliable\": [\n");
		for (i = 0; i < o.nsizes && (o.parts & PART_THROUGHPUT); i++) {
			struct tput_result *r = &rel[i];

			fprintf(j, "    {");
			json_str(j, "frame", o.size_names[i], ", ");
			fprintf(j, "\"bytes\": %zu, \"frames\": %" PRIu64 ", \"missed\": %" PRIu64
				   ", \"bad\": %" PRIu64 ", \"error\": %d, ",
				r->size, r->produced, r->missed, r->bad, r->err);
			json_num(j, "frames_per_s", r->fps, ", ");
			json_num(j, "gbps", r->gbps, ", ");
			json_num(j, "producer_wait_us_per_frame", r->wait_us_per_frame, ", ");
			json_num(j, "ordinary_frames_per_s", tput[i][0].fps, ", ");
			json_num(j, "ordinary_producer_wait_us_per_frame", tput[i][0].wait_us_per_frame,
				 "}");
			fprintf(j, i + 1 < o.nsizes ? ",\n" : "\n");
		}
		fprintf(j, "  ],\n  \"idle\": [\n");
		for (k = 0; k < NIDLE && (o.parts & PART_IDLE); k++) {
			if (k == IDLE_SPIN && !spin_idle)
				continue;
			fprintf(j, "%s    {", k ? ",\n" : "");
			json_str(j, "transport", tname[idle_transports[k]], ", ");
			fprintf(j, "\"frames\": %lu, \"error\": %d, ", idle[k].frames, idle[k].err);
			json_num(j, "reader_cpu_us_per_s_waiting", idle[k].wait_cpu_us_per_s, ", ");
			json_num(j, "reader_cpu_us_per_s", idle[k].cpu_us_per_s, ", ");
			json_num(j, "reader_cpu_us_per_frame", idle[k].cpu_us_per_frame, "}");
		}
		fprintf(j, "%s  ],\n  \"scale\": ", o.parts & PART_IDLE ? "\n" : "");
		if (o.parts & PART_SCALE) {
			fprintf(j, "{\"frame_bytes\": %d, \"batch\": %d, "
				   "\"figure\": \"thread CPU ns inside the calls, timer removed, "
				   "median per operation\", \"cases\": [\n", SCALE_BYTES, SCALE_BATCH);
			for (k = 0; k < 2; k++) {
				struct scale_result *r = &scale[k];

				fprintf(j, "    {");
				json_str(j, "case", k ? "scale" : "baseline", ", ");
				fprintf(j, "\"slots\": %u, \"consumers\": %u, \"frames\": %" PRIu64
					   ", \"frames_read\": %" PRIu64 ", \"bad\": %" PRIu64
					   ", \"missed\": %" PRIu64 ", \"error\": %d, ",
					r->slots, r->consumers, r->produced, r->frames_read, r->bad,
					r->missed, r->err);
				json_num(j, "begin_commit_ns", r->commit_ns, ", ");
				json_num(j, "begin_commit_mean_ns", r->commit_mean_ns, ", ");
				json_num(j, "acquire_release_ns", r->consume_ns, ", ");
				json_num(j, "acquire_release_mean_ns", r->consume_mean_ns, ", ");
				json_num(j, "cost_ns", r->cost_ns, ", ");
				json_num(j, "timer_ns", r->timer_ns, ", ");
				json_num(j, "seconds", r->seconds, "}");
				fprintf(j, k ? "\n" : ",\n");
			}
			fprintf(j, "  ], ");
			json_num(j, "ratio", scale_ratio, ", ");
			json_num(j, "target_ratio", 1.2, "},\n");
		} else {
			fprintf(j, "null,\n");
		}
		fprintf(j, "  \"spin\": ");
		if (o.parts & PART_SPIN) {
			fprintf(j, "{\"spin_us\": %u, \"gap_us\": %u, \"latency\": [\n", o.spin_us,
				o.spin_gap_us);
			for (k = 0; k < NSPIN; k++) {
				json_lat(j, o.size_names[0], &spin[k]);
				fprintf(j, k + 1 < NSPIN ? ",\n" : "\n");
			}
			fprintf(j, "  ], ");
			json_num(j, "p50_spin_over_poll", spin_poll, ", ");
			json_num(j, "target_p50_spin_over_poll", 1.0, ", ");
			json_num(j, "p50_spin_over_sleeping", spin_sleep, ", ");
			json_num(j, "idle_cpu_spin_over_sleeping", idle_ratio, ", ");
			json_num(j, "target_idle_cpu_spin_over_sleeping", 2.0, "},\n");
		} else {
			fprintf(j, "null,\n");
		}
		fprintf(j, "  \"ok\": %s\n}\n", bad ? "false" : "true");
		if (fclose(j))
			die(o.json, errno);
	}
	return bad;
}
