// SPDX-License-Identifier: GPL-2.0-only
/*
 * killany: the kill-anywhere test. In every round a producer and one to
 * three readers stream frames through one stream; after a random delay
 * some of them are SIGKILLed wherever they are: between GET_SLOT and
 * COMMIT, inside a blocking GET_SLOT or ACQUIRE, while holding frames,
 * while attaching or mapping. Then a new producer (when the old one died)
 * and a new reader (when one died) must attach at once, and the producer
 * must commit two rings' worth of frames: slots that dead readers held or
 * that a dead producer left pending must have come back.
 *
 * Every frame any reader acquires is checked whole: its length, every
 * byte of its pattern, its metadata, its sequence (strictly increasing)
 * and the missed count (the gap from the previous one). After each round,
 * with every process gone, the stream has no producer and no consumers and
 * the module holds no hold and no pending slot, and a new producer takes
 * every slot at once. Prints TAP; the tally of where the kills landed
 * shows that each kind of point was hit.
 *
 * Usage: killany [--rounds N] [--seed S] [--slots N] [--slot-size BYTES]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "../common.h"

enum phase {
	PH_START,	/* forked: opening, attaching, mapping */
	PH_IDLE,	/* between frames */
	PH_GET_SLOT,	/* producer: inside GET_SLOT */
	PH_PENDING,	/* producer: has a slot, filling it */
	PH_COMMIT,	/* producer: inside COMMIT */
	PH_WAIT,	/* reader: waiting in ACQUIRE or poll */
	PH_HOLD,	/* reader: holds frames */
	PH_NR,
};

static const char *const phase_name[PH_NR] = {
	"starting", "between frames", "in GET_SLOT", "between GET_SLOT and COMMIT",
	"in COMMIT", "waiting", "holding",
};

/* Process slots of a round. */
enum { P_PROD, P_READ1, P_READ2, P_READ3, P_PROD2, P_READ4, NPROC };
#define is_producer(i) ((i) == P_PROD || (i) == P_PROD2)
/* Seconds without progress that make a round wedged (a slow machine is not). */
#define WEDGED_S 60
#define WEDGED_STR "60"

struct proc {
	_Atomic int phase;
	_Atomic int ready;	/* attached and mapped */
	_Atomic uint64_t frames;	/* committed or checked */
	_Atomic uint64_t bad;	/* frames or calls that went wrong */
	char why[160];		/* the first thing that went wrong */
};

struct shared {
	_Atomic int stop;
	struct proc p[NPROC];
};

static struct shared *sh;
static char name[SHMSTREAM_NAME_MAX];
static uint32_t slots = 4, slot_size = 64 << 10;
static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
	return n ? shm_rand(&rng) % n : 0;
}

static void fail(struct proc *me, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct proc *me, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&me->bad, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(me->why, sizeof(me->why), fmt, ap);
		va_end(ap);
	}
}

static void meta_of(uint64_t seq, uint8_t *meta)
{
	uint64_t inv = ~seq;

	memcpy(meta, &seq, 8);
	memcpy(meta + 8, &inv, 8);
}

/* Open, attach in @role, map; the file or -1 (the failure recorded). */
static int join(struct proc *me, uint32_t role, struct shmstream_info *in, uint8_t **map)
{
	int fd = shm_open_dev(), ret;

	if (fd < 0) {
		fail(me, "open: %s", strerror(errno));
		return -1;
	}
	ret = shm_attach(fd, name, role);
	if (!ret)
		ret = shm_info(fd, NULL, in);
	if (ret) {
		fail(me, "attach/info: %s", strerror(-ret));
		return -1;
	}
	*map = shm_map_slots(fd, in, role == SHMSTREAM_ATTACH_PRODUCER ?
			     PROT_READ | PROT_WRITE : PROT_READ);
	if (!*map) {
		fail(me, "mmap: %s", strerror(errno));
		return -1;
	}
	return fd;
}

static void producer(struct proc *me)
{
	struct shmstream_info in;
	uint8_t *map;
	uint64_t seq;
	int fd = join(me, SHMSTREAM_ATTACH_PRODUCER, &in, &map);

	if (fd < 0)
		return;
	seq = in.head_seq;
	atomic_store(&me->ready, 1);
	while (!atomic_load(&sh->stop)) {
		struct shmstream_commit c = { .size = sizeof(c), .meta_len = 16 };
		uint32_t slot;
		int ret;

		atomic_store(&me->phase, PH_GET_SLOT);
		ret = shm_get_slot(fd, 100 * MS, &slot);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret) {
			fail(me, "GET_SLOT: %s", strerror(-ret));
			return;
		}
		atomic_store(&me->phase, PH_PENDING);
		seq++;
		c.slot = slot;
		c.bytes_used = shm_frame_len(seq, in.slot_size);
		meta_of(seq, c.meta);
		shm_fill(map + slot * in.slot_stride, c.bytes_used, seq);
		/* Dawdle with the slot pending, so kills land here often. */
		if (rnd(2))
			usleep(rnd(1000));
		atomic_store(&me->phase, PH_COMMIT);
		ret = shm_ioctl(fd, SHMSTREAM_IOC_COMMIT, &c);
		if (ret) {
			fail(me, "COMMIT: %s", strerror(-ret));
			return;
		}
		if (c.seq != seq) {
			fail(me, "COMMIT gave seq %" PRIu64 ", expected %" PRIu64, (uint64_t)c.seq, seq);
			return;
		}
		atomic_store(&me->phase, PH_IDLE);
		atomic_fetch_add(&me->frames, 1);
		usleep(rnd(300));
	}
}

/* Check frame @a whole; 0 or the failure recorded. */
static int check_frame(struct proc *me, const struct shmstream_info *in, const uint8_t *map,
		       const struct shmstream_acquire *a, uint64_t *last)
{
	const struct shmstream_frame *f = &a->frame;
	uint8_t meta[16];
	uint64_t seq = f->seq;

	if (seq <= *last) {
		fail(me, "seq %" PRIu64 " after %" PRIu64, seq, *last);
		return -1;
	}
	if (a->missed != seq - *last - 1) {
		fail(me, "seq %" PRIu64 " after %" PRIu64 ": missed %" PRIu64, seq, *last,
		     (uint64_t)a->missed);
		return -1;
	}
	*last = seq;
	if (f->slot >= in->slot_count ||
	    a->offset != in->slots_offset + f->slot * in->slot_stride) {
		fail(me, "seq %" PRIu64 ": slot %u at offset %" PRIu64, seq, f->slot,
		     (uint64_t)a->offset);
		return -1;
	}
	meta_of(seq, meta);
	if (f->bytes_used != shm_frame_len(seq, in->slot_size) || f->meta_len != 16 ||
	    memcmp(f->meta, meta, 16)) {
		fail(me, "seq %" PRIu64 ": length %u or metadata wrong", seq, f->bytes_used);
		return -1;
	}
	if (shm_check(map + f->slot * in->slot_stride, f->bytes_used, seq)) {
		fail(me, "seq %" PRIu64 ": the pattern is not intact", seq);
		return -1;
	}
	return 0;
}

/*
 * A reader: NEXT or LATEST, waiting in a blocking ACQUIRE or in poll(),
 * holding one or two frames for a while before releasing them.
 */
static void reader(struct proc *me)
{
	uint32_t mode = rnd(3) ? SHMSTREAM_ACQUIRE_NEXT : SHMSTREAM_ACQUIRE_LATEST;
	bool use_poll = rnd(2), two = rnd(2);
	struct shmstream_acquire a[2];
	struct shmstream_stats st;
	struct shmstream_info in;
	uint64_t last;
	uint8_t *map;
	int fd = join(me, SHMSTREAM_ATTACH_CONSUMER, &in, &map), n, i, ret;

	if (fd < 0)
		return;
	ret = shm_stats(fd, &st);
	if (ret) {
		fail(me, "STATS: %s", strerror(-ret));
		return;
	}
	last = st.attach_seq;
	atomic_store(&me->ready, 1);
	while (!atomic_load(&sh->stop)) {
		for (n = 0; n < (two ? 2 : 1); n++) {
			atomic_store(&me->phase, PH_WAIT);
			if (use_poll) {
				struct pollfd p = { .fd = fd, .events = POLLIN };

				if (poll(&p, 1, 100) <= 0)
					break;
				ret = shm_acquire(fd, mode, 0, &a[n]);
			} else {
				ret = shm_acquire(fd, mode, 100 * MS, &a[n]);
			}
			if (ret == -ETIMEDOUT || ret == -EAGAIN)
				break;
			if (ret) {
				fail(me, "ACQUIRE: %s", strerror(-ret));
				return;
			}
			atomic_store(&me->phase, PH_HOLD);
			if (check_frame(me, &in, map, &a[n], &last))
				return;
			atomic_fetch_add(&me->frames, 1);
		}
		if (n && rnd(2))
			usleep(rnd(500));
		for (i = 0; i < n; i++) {
			/* Still intact just before it is given back. */
			if (shm_check(map + a[i].frame.slot * in.slot_stride,
				      a[i].frame.bytes_used, a[i].frame.seq)) {
				fail(me, "seq %" PRIu64 " changed while held",
				     (uint64_t)a[i].frame.seq);
				return;
			}
			ret = shm_release(fd, a[i].frame.slot);
			if (ret) {
				fail(me, "RELEASE: %s", strerror(-ret));
				return;
			}
		}
		atomic_store(&me->phase, PH_IDLE);
	}
}

static pid_t pids[NPROC];

static void spawn(int i)
{
	struct proc *me = &sh->p[i];
	pid_t pid;

	memset(me, 0, sizeof(*me));
	pid = fork();
	if (pid < 0) {
		perror("killany: fork");
		exit(1);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		rng ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
		if (is_producer(i))
			producer(me);
		else
			reader(me);
		_exit(atomic_load(&me->bad) ? 1 : 0);
	}
	pids[i] = pid;
}

/* Wait (up to @ms) until every live process in @mask is attached and mapped. */
static bool wait_ready(unsigned int mask, int ms)
{
	int64_t end = shm_now_ns() + ms * MS;
	int i;

	for (;;) {
		bool all = true;

		for (i = 0; i < NPROC; i++)
			if ((mask & (1U << i)) && pids[i] && !atomic_load(&sh->p[i].ready))
				all = false;
		if (all)
			return true;
		if (shm_now_ns() > end)
			return false;
		usleep(200);
	}
}

/* Reap process @i; its wait status. */
static int reap(int i)
{
	int status = 0;

	waitpid(pids[i], &status, 0);
	pids[i] = 0;
	return status;
}

static struct {
	uint64_t kills[2][PH_NR];	/* [producer?][phase] */
	uint64_t checked, committed, rounds_failed;
	int64_t worst_recovery_ns;
} tally;

static bool report(int round, const char *what)
{
	int i;

	printf("# round %d: %s\n", round, what);
	for (i = 0; i < NPROC; i++)
		if (sh->p[i].why[0])
			printf("#   process %d: %s\n", i, sh->p[i].why);
	tally.rounds_failed++;
	return false;
}

/*
 * With nobody attached, a new producer takes every slot without waiting
 * (and gives them back unseen as its file closes).
 */
static bool all_slots_free(uint32_t max_holds)
{
	int fd = shm_open_dev();
	uint32_t i, slot;
	bool ok;

	ok = fd >= 0 && !shm_attach(fd, name, SHMSTREAM_ATTACH_PRODUCER);
	/* A producer may have at most max_holds slots pending. */
	for (i = 0; ok && i < slots && i < max_holds; i++)
		ok = !shm_get_slot(fd, 0, &slot);
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool round_run(int round, int dev)
{
	int nreaders = 1 + rnd(3), i, status;
	unsigned int live = 0, killed = 0, mask;
	uint64_t base, last, n, need = 2 * slots;
	struct shmstream_info in;
	int prod = P_PROD;
	int64_t t0, end;
	bool ok = true;

	atomic_store(&sh->stop, 0);
	spawn(P_PROD);
	live |= 1U << P_PROD;
	for (i = 0; i < nreaders; i++) {
		spawn(P_READ1 + i);
		live |= 1U << (P_READ1 + i);
	}
	/*
	 * Mostly once everyone streams; now and then at once, while they
	 * open, attach and map (a 20 ms sleep outlasted that: starting was
	 * hit 0 to 5 times in 1,000 rounds).
	 */
	if (rnd(10)) {
		wait_ready(live, 5000);
		usleep(rnd(20000));
	} else {
		usleep(rnd(500));
	}

	do {
		mask = 0;
		for (i = 0; i < NPROC; i++)
			if ((live & (1U << i)) && rnd(2))
				mask |= 1U << i;
	} while (!mask);
	for (i = 0; i < NPROC; i++) {
		if (!(mask & (1U << i)))
			continue;
		tally.kills[is_producer(i)][atomic_load(&sh->p[i].phase)]++;
		kill(pids[i], SIGKILL);
		status = reap(i);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			/* It had stopped by itself: only a failure does that. */
			ok = report(round, "a process ended before its kill");
		}
		live &= ~(1U << i);
		killed |= 1U << i;
	}
	/* Whatever the dead left behind, the living and the new must get on. */
	t0 = shm_now_ns();
	if (killed & (1U << P_PROD)) {
		spawn(P_PROD2);
		live |= 1U << P_PROD2;
		prod = P_PROD2;
	}
	if (killed & ~(1U << P_PROD)) {
		spawn(P_READ4);
		live |= 1U << P_READ4;
	}
	/*
	 * A wedge never ends; a slow machine (a loaded TCG guest, a debug
	 * kernel) only takes longer: the limits are generous, and the one on
	 * the producer counts from its last frame, not from the kill.
	 */
	if (!wait_ready(live, WEDGED_S * 1000))
		ok = report(round, "a new producer or reader could not attach");
	base = last = atomic_load(&sh->p[prod].frames);
	end = shm_now_ns() + WEDGED_S * SEC;
	while ((n = atomic_load(&sh->p[prod].frames)) < base + need &&
	       !atomic_load(&sh->p[prod].bad)) {
		if (n != last) {
			last = n;
			end = shm_now_ns() + WEDGED_S * SEC;
		}
		if (shm_now_ns() > end) {
			ok = report(round, "the producer is wedged: no progress for "
				    WEDGED_STR " s");
			break;
		}
		usleep(200);
	}
	if (shm_now_ns() - t0 > tally.worst_recovery_ns)
		tally.worst_recovery_ns = shm_now_ns() - t0;

	atomic_store(&sh->stop, 1);
	for (i = 0; i < NPROC; i++) {
		if (!(live & (1U << i)))
			continue;
		status = reap(i);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			ok = report(round, "a survivor failed");
	}
	for (i = 0; i < NPROC; i++) {
		if (atomic_load(&sh->p[i].bad) && ok)
			ok = report(round, "a frame or a call went wrong");
		if (is_producer(i))
			tally.committed += atomic_load(&sh->p[i].frames);
		else
			tally.checked += atomic_load(&sh->p[i].frames);
		memset(&sh->p[i], 0, sizeof(sh->p[i]));
	}

	/* Every process is gone: so are its roles, holds and pending slots. */
	if (shm_info(dev, name, &in))
		return report(round, "INFO failed");
	if (in.consumers || (in.state & SHMSTREAM_STATE_PRODUCER)) {
		printf("# consumers %u, state %#x\n", in.consumers, in.state);
		ok = report(round, "a dead process still holds its role");
	}
	if (!all_slots_free(in.max_holds)) {
		printf("# a new producer cannot take every slot at once\n");
		ok = report(round, "a slot is still held or pending");
	}
	if (shm_counter("holds") > 0 || shm_counter("pending") > 0) {
		printf("# holds %ld, pending %ld\n", shm_counter("holds"), shm_counter("pending"));
		ok = report(round, "holds or pending slots left behind");
	}
	return ok;
}

static int tap_n, tap_failed, tap_skipped;

static void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tap(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d killany: ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	tap_failed += !ok;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: killany [OPTIONS]\n"
		"SIGKILL producers and readers of a stream at random points, round after\n"
		"round, and check that survivors see only intact frames and that the\n"
		"producer always gets going again. Prints TAP. Needs /dev/shmstream.\n\n"
		"  --rounds N         rounds (default 1000)\n"
		"  --seed S           random seed (default: from the clock; printed)\n"
		"  --slots N          slots of the stream (default 4)\n"
		"  --slot-size BYTES  bytes per slot (default 65536)\n"
		"  -h, --help         this help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },
		{ "slots", required_argument, NULL, 'n' },
		{ "slot-size", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t seed = (uint64_t)shm_now_ns() ^ getpid(), n;
	long rounds = 1000, r, ran = 0, failed_rounds = 0;
	int c, dev, ret;
	char *end;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == '?') {
			usage(stderr);
			return 2;
		}
		errno = 0;
		n = strtoull(optarg, &end, 0);
		if (errno || *end || !*optarg || optarg[0] == '-') {
			fprintf(stderr, "killany: --%s: not a number: '%s'\n",
				opts[c == 'r' ? 0 : c == 's' ? 1 : c == 'n' ? 2 : 3].name, optarg);
			return 2;
		}
		if (c == 'r')
			rounds = n;
		else if (c == 's')
			seed = n;
		else if (c == 'n')
			slots = n;
		else
			slot_size = n;
	}
	if (optind < argc || rounds < 1 || slots < 1 || slots > SHMSTREAM_MAX_SLOTS ||
	    slot_size < 8 + 1 || slot_size > (64U << 20)) {
		fprintf(stderr, "killany: bad arguments (--rounds >= 1, --slots 1..%u, "
			"--slot-size 9..64 MiB)\n", SHMSTREAM_MAX_SLOTS);
		return 2;
	}
	rng = seed | 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# killany: seed %" PRIu64 ", %ld rounds, %u slots of %u bytes\n",
	       seed, rounds, slots, slot_size);

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("killany: mmap");
		return 1;
	}
	dev = shm_open_dev();
	if (dev < 0) {
		printf("1..0 # SKIP %s: %s\n", SHMSTREAM_DEV, strerror(errno));
		return 4;
	}
	/* The stream outlives its producers: created, then left without one. */
	snprintf(name, sizeof(name), "killany-%d", getpid());
	c = shm_open_dev();
	ret = c < 0 ? -errno : shm_create(c, name, slots, slot_size, 0600, 0);
	if (ret) {
		printf("not ok 1 killany: create %s: %s\n", name, strerror(-ret));
		return 1;
	}
	close(c);

	for (r = 1; r <= rounds; r++) {
		ran++;
		if (!round_run(r, dev))
			failed_rounds++;
		/* The first failures tell the story; the rest would take long. */
		if (failed_rounds == 3) {
			printf("# stopping after 3 failed rounds\n");
			break;
		}
	}
	ret = shm_destroy(dev, name);
	close(dev);

	printf("# %" PRIu64 " frames committed, %" PRIu64 " checked by readers; "
	       "slowest recovery after a kill %.1f ms\n", tally.committed, tally.checked,
	       tally.worst_recovery_ns / 1e6);
	for (c = 0; c < PH_NR; c++)
		printf("# kills %-28s producer %5" PRIu64 ", reader %5" PRIu64 "\n",
		       phase_name[c], tally.kills[1][c], tally.kills[0][c]);
	tap(ran == rounds, "%ld of %ld rounds ran (seed %" PRIu64 ")", ran, rounds, seed);
	tap(!failed_rounds, "every round intact (frames whole, producer never wedged, roles, "
	    "holds and pending slots released): %ld failed", failed_rounds);
	tap(tally.checked, "readers checked %" PRIu64 " frames", tally.checked);
	/* Each kind of point is hit in a run of 100 rounds or more. */
	if (rounds >= 100) {
		tap(tally.kills[1][PH_PENDING] && tally.kills[1][PH_GET_SLOT] &&
		    tally.kills[0][PH_WAIT] && tally.kills[0][PH_HOLD] &&
		    tally.kills[1][PH_START] + tally.kills[0][PH_START],
		    "kills landed between GET_SLOT and COMMIT (%" PRIu64 "), in GET_SLOT (%"
		    PRIu64 "), holding (%" PRIu64 "), waiting (%" PRIu64 "), starting (%" PRIu64
		    ")", tally.kills[1][PH_PENDING], tally.kills[1][PH_GET_SLOT],
		    tally.kills[0][PH_HOLD], tally.kills[0][PH_WAIT],
		    tally.kills[1][PH_START] + tally.kills[0][PH_START]);
	} else {
		printf("ok %d killany: kill points # SKIP fewer than 100 rounds\n", ++tap_n);
		tap_skipped++;
	}
	tap(!ret, "the stream destroyed at the end");
	printf("1..%d\n", tap_n);
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       tap_n - tap_failed - tap_skipped, tap_failed, tap_skipped);
	return tap_failed ? 1 : 0;
}
