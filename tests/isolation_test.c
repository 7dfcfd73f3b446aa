// SPDX-License-Identifier: GPL-2.0-only
/*
 * Isolation between users and containers (ABI 2.1):
 *  - a guest (a user other than the owner, with read permission only)
 *    cannot stall the producer, keep the owner's consumers out, or stop
 *    the owner's reader from getting its frames, with every file it can
 *    get and threads racing;
 *  - one user, or one IPC namespace, at its pinned budget leaves room for
 *    the others;
 *  - root of a container (a user namespace owning an IPC namespace)
 *    manages the streams of its own namespace, and nothing outside it;
 *  - a dead namespace's streams are freed within seconds, with no call;
 *  - the device node's mode is udev's to set, not the module's;
 *  - the container recipe of the README: two containers, one stream, a
 *    bound file passed over a Unix socket.
 *
 * Needs root (it becomes other users) and the module's parameters; the
 * container cases need unprivileged user namespaces (SKIP without them).
 */
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define PAGE 4096UL
#define DOC SHMSTREAM_CREATE_DESTROY_ON_CLOSE
#define CONS SHMSTREAM_ATTACH_CONSUMER
#define GUEST 1000 /* a user with read permission only */
#define GUEST2 1001
#define CTR_BASE 100000 /* a container's uid 0, outside it */

/* shm_become(), then tied again: a change of credentials unties. */
static int become(uid_t uid)
{
	int ret = shm_become(uid, uid);

	if (!ret && prctl(PR_SET_PDEATHSIG, SIGKILL))
		ret = -errno;
	return ret;
}

/* Block until one byte comes on @fd (or it closes). */
static void wait_byte(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

/* One byte from @fd within SHM_PATIENCE: 0, or -1 (gone, or too late). */
static int read_byte_within(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, SHM_PATIENCE / MS) != 1)
		return -1;
	return read(fd, &c, 1) == 1 ? 0 : -1;
}

static void send_byte(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		_exit(250);
}

static int create_ex(int fd, const char *name, uint32_t slots, uint32_t size,
		     uint32_t mode, uint32_t flags, uint32_t max_consumers,
		     uint32_t user_consumers, uint32_t user_holds)
{
	struct shmstream_create c = {
		.size = sizeof(c), .flags = flags, .slot_count = slots,
		.slot_size = size, .mode = mode, .max_consumers = max_consumers,
		.user_consumers = user_consumers, .user_holds = user_holds,
	};

	shm_setname(c.name, name);
	return shm_ioctl(fd, SHMSTREAM_IOC_CREATE, &c);
}

FIXTURE(iso) {
	int fd; /* the owner's producer, root */
	char name[SHMSTREAM_NAME_MAX];
	struct shmstream_info in;
	uint8_t *slots; /* the producer's mapping, once made */
	long user_mb, ns_mb;
};

FIXTURE_SETUP(iso)
{
	struct stat st;

	self->slots = NULL;
	self->user_mb = self->ns_mb = -1;
	shm_name(self->name, "iso");
	self->fd = shm_open_dev();
	if (self->fd < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	if (geteuid())
		SKIP(return, "needs root: it becomes other users");
	if (stat(SHMSTREAM_DEV, &st) || !(st.st_mode & 0060))
		SKIP(return, "%s is its owner's only: no udev rule gives its group access",
		     SHMSTREAM_DEV);
	self->user_mb = shm_param_get("max_user_pinned_mb");
	self->ns_mb = shm_param_get("max_ns_pinned_mb");
}

FIXTURE_TEARDOWN(iso)
{
	if (self->fd < 0)
		return;
	if (self->slots)
		munmap(self->slots, self->in.slot_count * self->in.slot_stride);
	close(self->fd);
	if (self->user_mb >= 0)
		shm_param_set("max_user_pinned_mb", self->user_mb);
	if (self->ns_mb >= 0)
		shm_param_set("max_ns_pinned_mb", self->ns_mb);
	EXPECT_NOTHING_LEFT();
}

/* Create the fixture's stream (the owner's, read for all) and map it. */
static int owner_stream(FIXTURE_DATA(iso) *self, uint32_t slots, uint32_t mc,
			uint32_t uc, uint32_t uh)
{
	int ret = create_ex(self->fd, self->name, slots, 4096, 0644, DOC, mc, uc, uh);

	if (ret)
		return ret;
	ret = shm_info(self->fd, NULL, &self->in);
	if (ret)
		return ret;
	self->slots = shm_map_slots(self->fd, &self->in, PROT_READ | PROT_WRITE);
	return self->slots ? 0 : -errno;
}

/* Commit frame @tag; NOWAIT: the producer must never have to wait. */
static int produce(FIXTURE_DATA(iso) *self, uint64_t tag, uint64_t *seq)
{
	return shm_produce(self->fd, self->slots, &self->in, tag, 0, seq);
}

/*
 * A guest that takes all it can, as user @uid: consumers on every file it
 * can get (until -EUSERS, at most @files); it reports how many and why it
 * stopped on @rep. Once a byte comes on @go, as many frames on each as it
 * may hold; it reports how many, and keeps them until it is killed.
 */
static int hog(const char *name, uid_t uid, int files, int rep, int go)
{
	int fds[256], n, err = 0, holds = 0, i, r[2];
	struct shmstream_acquire a;

	if (files > 256 || become(uid))
		return 10;
	for (n = 0; n < files; n++) {
		fds[n] = shm_open_dev();
		if (fds[n] < 0)
			return 11;
		err = shm_attach(fds[n], name, CONS);
		if (err) {
			close(fds[n]);
			break;
		}
	}
	r[0] = n;
	r[1] = err;
	if (write(rep, r, sizeof(r)) != sizeof(r))
		return 12;
	wait_byte(go);
	for (i = 0; i < n; i++)
		while (!shm_acquire(fds[i], SHMSTREAM_ACQUIRE_NEXT, 0, &a))
			holds++;
	if (write(rep, &holds, sizeof(holds)) != sizeof(holds))
		return 13;
	for (;;)
		pause();
}

struct hogger {
	pid_t pid;
	int files, err, holds;
	int rep, go;
};

/* Start a hog: its consumers are attached when this returns 0. */
static int start_hog(struct hogger *h, const char *name, uid_t uid, int files)
{
	int rep[2], go[2], r[2];

	if (pipe(rep) || pipe(go))
		return -1;
	h->pid = shm_fork_tied();
	if (h->pid < 0)
		return -1;
	if (h->pid == 0) {
		close(rep[0]);
		close(go[1]);
		_exit(hog(name, uid, files, rep[1], go[0]));
	}
	close(rep[1]);
	close(go[0]);
	h->rep = rep[0];
	h->go = go[1];
	if (read(h->rep, r, sizeof(r)) != sizeof(r))
		return -1;
	h->files = r[0];
	h->err = r[1];
	return 0;
}

/* Let the hog take frames; 0 once it holds all it could. */
static int hog_take(struct hogger *h)
{
	send_byte(h->go);
	return read(h->rep, &h->holds, sizeof(h->holds)) == sizeof(h->holds) ? 0 : -1;
}

/* 0 when the hog was still there, holding, to be killed. */
static int stop_hog(struct hogger *h)
{
	int ret;

	kill(h->pid, SIGKILL);
	ret = shm_reap(h->pid);
	close(h->rep);
	close(h->go);
	return ret == 300 + SIGKILL ? 0 : ret;
}

/*
 * Every file a guest can get, every frame it may hold: the producer still
 * takes a slot at once, every time; the guest holds only its user's share.
 */
TEST_F(iso, guest_cannot_stall_the_producer)
{
	struct hogger h;
	uint64_t seq;
	int i;

	ASSERT_EQ(0, owner_stream(self, 4, 0, 0, 0));
	ASSERT_EQ(0, start_hog(&h, self->name, GUEST, 200));
	/* One user: its share of consumers, then -EUSERS. */
	EXPECT_EQ(16, h.files);
	EXPECT_EQ(-EUSERS, h.err);
	for (i = 1; i <= 4; i++)
		ASSERT_EQ(0, produce(self, i, &seq));
	ASSERT_EQ(0, hog_take(&h));
	/* Its share of holds, on the three slots it may reach. */
	EXPECT_EQ(8, h.holds);
	EXPECT_EQ(8, shm_counter("holds"));
	for (i = 5; i < 100; i++) {
		ASSERT_EQ(0, produce(self, i, &seq)) TH_LOG("frame %d", i);
		ASSERT_EQ((uint64_t)i, seq);
	}
	ASSERT_EQ(0, shm_info(self->fd, NULL, &self->in));
	EXPECT_EQ(16, self->in.consumers);
	EXPECT_EQ(16, self->in.guest_consumers);
	EXPECT_EQ(0, stop_hog(&h));
}

/*
 * Guests take every consumer they may: the owner's consumers are counted
 * apart, up to the stream's max_consumers; guests share theirs.
 */
TEST_F(iso, guests_cannot_keep_the_owner_out)
{
	struct hogger g1, g2;
	int own[21], i;

	ASSERT_EQ(0, owner_stream(self, 4, 20, 16, 0));
	ASSERT_EQ(0, start_hog(&g1, self->name, GUEST, 200));
	ASSERT_EQ(0, start_hog(&g2, self->name, GUEST2, 200));
	EXPECT_EQ(16, g1.files);
	EXPECT_EQ(-EUSERS, g1.err);
	/* Guests together: 20. */
	EXPECT_EQ(4, g2.files);
	EXPECT_EQ(-EUSERS, g2.err);
	for (i = 0; i < 21; i++) {
		own[i] = shm_open_dev();
		ASSERT_LE(0, own[i]);
		EXPECT_EQ(i < 20 ? 0 : -EUSERS, shm_attach(own[i], self->name, CONS))
			TH_LOG("consumer %d", i);
	}
	ASSERT_EQ(0, shm_info(self->fd, NULL, &self->in));
	EXPECT_EQ(40, self->in.consumers);
	EXPECT_EQ(20, self->in.guest_consumers);
	EXPECT_EQ(20, self->in.max_consumers);
	EXPECT_EQ(16, self->in.user_consumers);
	for (i = 0; i < 21; i++)
		close(own[i]);
	EXPECT_EQ(0, stop_hog(&g1));
	EXPECT_EQ(0, stop_hog(&g2));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &self->in));
	EXPECT_EQ(0, self->in.consumers);
	EXPECT_EQ(0, self->in.guest_consumers);
}

/* A guest racing: threads on their own files acquire and release at random. */
struct racer {
	const char *name;
	volatile int *stop;
	long ops;
	int err;
};

static void *race_fn(void *arg)
{
	struct racer *r = arg;
	struct shmstream_acquire a;
	uint32_t held[8];
	int fd = shm_open_dev(), n = 0, err;
	uint64_t x = (uintptr_t)arg | 1;

	err = fd < 0 ? -errno : shm_attach(fd, r->name, CONS);
	if (err) {
		__atomic_store_n(&r->err, err, __ATOMIC_RELAXED);
		return NULL;
	}
	while (!*r->stop) {
		if (n < 8 && (shm_rand(&x) & 1)) {
			if (!shm_acquire(fd, shm_rand(&x) & 1 ? SHMSTREAM_ACQUIRE_NEXT :
						 SHMSTREAM_ACQUIRE_LATEST, 0, &a))
				held[n++] = a.frame.slot;
		} else if (n) {
			shm_release(fd, held[--n]);
		}
		__atomic_fetch_add(&r->ops, 1, __ATOMIC_RELAXED);
	}
	close(fd);
	return NULL;
}

/* Race until *@stop (shared with the parent); 0, or what went wrong. */
static int racing_guest(const char *name, volatile int *stop, int ready)
{
	struct racer r[4];
	pthread_t t[4];
	int i;

	if (become(GUEST2))
		return 20;
	for (i = 0; i < 4; i++) {
		r[i] = (struct racer){ .name = name, .stop = stop };
		if (pthread_create(&t[i], NULL, race_fn, &r[i]))
			return 21;
	}
	/* Racing for real before the producer starts, on a loaded machine too. */
	for (i = 0; i < 4; i++)
		while (!__atomic_load_n(&r[i].ops, __ATOMIC_RELAXED) &&
		       !__atomic_load_n(&r[i].err, __ATOMIC_RELAXED) && !*stop)
			usleep(1000);
	send_byte(ready);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 4; i++) {
		if (r[i].err)
			return 30 + (-r[i].err % 50);
		if (!r[i].ops)
			return 22;
	}
	return 0;
}

/*
 * The owner's reader gets every frame it asks for, intact, while a guest
 * hogs what it may and another races for frames on four threads: the
 * producer never waits, the reader never misses.
 */
TEST_F_TIMEOUT(iso, owner_reader_gets_every_frame, 600)
{
	volatile int *stop = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct shmstream_acquire a;
	int ready[2], c = shm_open_dev(), i;
	struct hogger h;
	uint64_t seq;
	pid_t pid;

	ASSERT_EQ(0, owner_stream(self, 4, 0, 0, 0));
	ASSERT_LE(0, c);
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));
	ASSERT_NE(MAP_FAILED, stop);
	ASSERT_EQ(0, start_hog(&h, self->name, GUEST, 12));
	ASSERT_EQ(12, h.files);
	for (i = 1; i <= 4; i++) {
		ASSERT_EQ(0, produce(self, i, &seq));
		ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
		ASSERT_EQ(0, shm_release(c, a.frame.slot));
	}
	ASSERT_EQ(0, hog_take(&h));
	ASSERT_EQ(0, pipe(ready));
	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(racing_guest(self->name, stop, ready[1]));
	close(ready[1]);
	wait_byte(ready[0]);
	close(ready[0]);
	for (i = 5; i <= 300; i++) {
		ASSERT_EQ(0, produce(self, i, &seq)) TH_LOG("frame %d", i);
		ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a)) TH_LOG("frame %d", i);
		ASSERT_EQ((uint64_t)i, a.frame.seq);
		ASSERT_EQ(0, a.missed);
		ASSERT_EQ(0, shm_check(self->slots + a.frame.slot * self->in.slot_stride,
				       a.frame.bytes_used, i));
		ASSERT_EQ(0, shm_release(c, a.frame.slot));
	}
	*stop = 1;
	EXPECT_EQ(0, shm_reap(pid));
	EXPECT_EQ(0, stop_hog(&h));
	/* The hog held all it may through it all. */
	EXPECT_EQ(8, h.holds);
	close(c);
	munmap((void *)stop, PAGE);
}

/*
 * One guest user's consumers hold user_holds frames together; another
 * guest user has a share of its own.
 */
TEST_F(iso, guest_holds_are_per_user)
{
	struct hogger g1, g2;
	uint64_t seq;
	int i;

	ASSERT_EQ(0, owner_stream(self, 8, 0, 4, 2));
	ASSERT_EQ(0, shm_info(self->fd, NULL, &self->in));
	EXPECT_EQ(2, self->in.user_holds);
	EXPECT_EQ(4, self->in.user_consumers);
	ASSERT_EQ(0, start_hog(&g1, self->name, GUEST, 200));
	ASSERT_EQ(0, start_hog(&g2, self->name, GUEST2, 200));
	EXPECT_EQ(4, g1.files);
	EXPECT_EQ(4, g2.files);
	for (i = 1; i <= 8; i++)
		ASSERT_EQ(0, produce(self, i, &seq));
	ASSERT_EQ(0, hog_take(&g1));
	ASSERT_EQ(0, hog_take(&g2));
	EXPECT_EQ(2, g1.holds);
	EXPECT_EQ(2, g2.holds);
	EXPECT_EQ(4, shm_counter("holds"));
	EXPECT_EQ(0, stop_hog(&g1));
	EXPECT_EQ(0, stop_hog(&g2));
	EXPECT_EQ(0, shm_counter("holds"));
}

/*
 * As guest @uid, attached to the newest frame: -EAGAIN at once, then the
 * next frame within SHM_PATIENCE, as its seq (or -errno). *@polled: what
 * poll() said before.
 */
static int guest_take(const char *name, uid_t uid, int ready, int *polled)
{
	struct pollfd p = { .events = POLLIN };
	struct shmstream_acquire a;
	int fd, ret;

	if (become(uid))
		return -200;
	fd = shm_open_dev();
	if (fd < 0 || shm_attach(fd, name, CONS | SHMSTREAM_ATTACH_NEWEST))
		return -201;
	p.fd = fd;
	*polled = poll(&p, 1, 0);
	ret = shm_acquire(fd, SHMSTREAM_ACQUIRE_NEXT, 0, &a);
	if (ret != -EAGAIN)
		return ret ? ret : -202;
	send_byte(ready);
	ret = shm_acquire(fd, SHMSTREAM_ACQUIRE_NEXT, SHM_PATIENCE, &a);
	return ret ? ret : (int)a.frame.seq;
}

/*
 * Two slots, one held by a guest: another guest, holding nothing, whose
 * next frame is in the other slot, waits (poll says nothing to read) until
 * the guests hold a slot fewer, then takes it. The owner's consumer takes
 * it at once all along.
 */
TEST_F(iso, guest_waits_for_the_guests_to_hold_less)
{
	struct shmstream_acquire a;
	int ready[2], shared[2], c = shm_open_dev(), polled = -1;
	struct hogger h;
	uint64_t seq;
	pid_t pid;

	ASSERT_EQ(0, owner_stream(self, 2, 0, 0, 0));
	ASSERT_EQ(0, shm_attach(c, self->name, CONS));
	ASSERT_EQ(0, start_hog(&h, self->name, GUEST, 1));
	ASSERT_EQ(0, produce(self, 1, &seq));
	ASSERT_EQ(0, produce(self, 2, &seq));
	/* The hog takes frame 1; frame 2 is in the last slot. */
	ASSERT_EQ(0, hog_take(&h));
	ASSERT_EQ(1, h.holds);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(shared));
	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int ret = guest_take(self->name, GUEST2, ready[1], &polled);

		if (write(shared[1], &polled, sizeof(polled)) != sizeof(polled))
			_exit(251);
		_exit(ret == 2 ? 0 : 100 + (ret < 0 ? -ret : 99) % 100);
	}
	close(ready[1]);
	close(shared[1]);
	/* The guest's NOWAIT try is -EAGAIN, or it says why not and exits. */
	wait_byte(ready[0]);
	ASSERT_EQ(0, shm_wait_asleep(pid, SYS_ioctl, SHM_PATIENCE));
	/* The owner's consumer is not held up. */
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(1, a.frame.seq);
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(2, a.frame.seq);
	EXPECT_EQ(3, shm_counter("holds"));
	/* The hog goes with its hold: the waiting guest takes frame 2. */
	EXPECT_EQ(0, stop_hog(&h));
	EXPECT_EQ(0, shm_reap(pid));
	ASSERT_EQ(sizeof(polled), read(shared[0], &polled, sizeof(polled)));
	EXPECT_EQ(0, polled);
	close(c);
	close(ready[0]);
	close(shared[0]);
}

TEST_F(iso, one_slot_stream_owner_only)
{
	struct shmstream_acquire a;
	int c = shm_open_dev(), status;
	uint64_t seq;
	pid_t pid;

	ASSERT_EQ(0, owner_stream(self, 1, 0, 0, 0));
	ASSERT_EQ(0, produce(self, 1, &seq));
	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct shmstream_acquire ga;
		int fd;

		if (become(GUEST))
			_exit(100);
		fd = shm_open_dev();
		if (shm_attach(fd, self->name, CONS | SHMSTREAM_ATTACH_NEWEST))
			_exit(101);
		_exit(-shm_acquire(fd, SHMSTREAM_ACQUIRE_NEXT, 0, &ga));
	}
	status = shm_reap(pid);
	EXPECT_EQ(EAGAIN, status);
	ASSERT_EQ(0, shm_attach(c, self->name, CONS | SHMSTREAM_ATTACH_NEWEST));
	ASSERT_EQ(0, shm_acquire(c, SHMSTREAM_ACQUIRE_NEXT, 0, &a));
	EXPECT_EQ(1, a.frame.seq);
	close(c);
}

/* CREATE's limits: defaults, bounds, and the module's maximum. */
TEST_F(iso, create_limits)
{
	long max = shm_param_get("max_consumers");

	ASSERT_LT(0, max);
	EXPECT_EQ(-EINVAL, create_ex(self->fd, self->name, 2, 4096, 0600, DOC, max + 1, 0, 0));
	EXPECT_EQ(-EINVAL, create_ex(self->fd, self->name, 2, 4096, 0600, DOC, 8, 9, 0));
	EXPECT_EQ(-EINVAL, create_ex(self->fd, self->name, 2, 4096, 0600, DOC, 0, max + 1, 0));
	EXPECT_EQ(-EINVAL, create_ex(self->fd, self->name, 2, 4096, 0600, DOC, 0, 0,
				     SHMSTREAM_MAX_SLOTS + 1));
	EXPECT_EQ(0, shm_counter("streams"));
	ASSERT_EQ(0, owner_stream(self, 2, 0, 0, 0));
	EXPECT_EQ(max, self->in.max_consumers);
	EXPECT_EQ(shm_param_get("max_user_consumers") < max ? shm_param_get("max_user_consumers") : max,
		  self->in.user_consumers);
	EXPECT_EQ(shm_param_get("max_user_holds"), self->in.user_holds);
	EXPECT_EQ(0, self->in.guest_consumers);
}

/* Streams of 1 MiB (control page included) as @uid, until refused. */
static int fill_budget(uid_t uid, int max, int rep)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char name[SHMSTREAM_NAME_MAX];
	int n, fd, ret = 0;

	/* As on a GPU host: ulimit -l unlimited. */
	if (setrlimit(RLIMIT_MEMLOCK, &rl) || become(uid))
		return -200;
	for (n = 0; n < max; n++) {
		fd = shm_open_dev();
		snprintf(name, sizeof(name), "iso-b-%d-%d", uid, n);
		ret = shm_create(fd, name, 1, 255 * PAGE, 0600, DOC);
		if (ret) {
			close(fd);
			break;
		}
	}
	if (write(rep, &n, sizeof(n)) != sizeof(n) || write(rep, &ret, sizeof(ret)) != 4)
		return -201;
	pause(); /* the streams stay until the parent kills us */
	return 0;
}

static pid_t start_fill(uid_t uid, int max, int *n, int *err, bool newipc)
{
	int rep[2];
	pid_t pid;

	if (pipe(rep))
		return -1;
	pid = shm_fork_tied();
	if (pid == 0) {
		close(rep[0]);
		if (newipc && unshare(CLONE_NEWIPC))
			_exit(202);
		_exit(-fill_budget(uid, max, rep[1]));
	}
	close(rep[1]);
	if (read(rep[0], n, sizeof(*n)) != sizeof(*n) ||
	    read(rep[0], err, sizeof(*err)) != sizeof(*err))
		*n = *err = INT_MIN;
	close(rep[0]);
	return pid;
}

static void kill_fill(pid_t pid)
{
	kill(pid, SIGKILL);
	shm_reap(pid);
}

/*
 * A user with ulimit -l unlimited fills its own budget, and no more: the
 * next user still creates. Root (CAP_SYS_RESOURCE) is not held to it.
 */
TEST_F(iso, user_budget_leaves_room_for_another)
{
	int n1, e1, n2, e2;
	pid_t p1, p2;

	ASSERT_EQ(0, shm_param_set("max_user_pinned_mb", 4));
	p1 = start_fill(GUEST, 64, &n1, &e1, false);
	ASSERT_LT(0, p1);
	EXPECT_EQ(4, n1);
	EXPECT_EQ(-ENOSPC, e1);
	p2 = start_fill(GUEST2, 2, &n2, &e2, false);
	ASSERT_LT(0, p2);
	EXPECT_EQ(2, n2);
	EXPECT_EQ(0, e2);
	EXPECT_EQ(6, shm_counter("streams"));
	/* One entry per user. */
	EXPECT_EQ(2, shm_counter("budgets"));
	EXPECT_EQ(0, create_ex(self->fd, self->name, 1, 8 << 20, 0600, DOC, 0, 0, 0));
	kill_fill(p1);
	kill_fill(p2);
	EXPECT_EQ(1, shm_counter("streams"));
}

/*
 * A container (an IPC namespace of its own) fills its namespace's budget
 * with two users: the third is refused there, and creates in the initial
 * namespace.
 */
TEST_F(iso, namespace_budget_leaves_room_for_the_host)
{
	int n1, e1, n2, e2, n3, e3, ready[2], quit[2];
	pid_t ns_init, p1, p2, p3;

	ASSERT_EQ(0, shm_param_set("max_ns_pinned_mb", 3));
	/* A process holding a new IPC namespace; users are forked inside it. */
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(quit));
	ns_init = shm_fork_tied();
	ASSERT_LE(0, ns_init);
	if (ns_init == 0) {
		int rep[2];

		close(ready[0]);
		close(quit[1]);
		if (unshare(CLONE_NEWIPC))
			_exit(100);
		p1 = start_fill(GUEST, 2, &n1, &e1, false);
		p2 = start_fill(GUEST2, 64, &n2, &e2, false);
		rep[0] = n1 * 1000 + n2;
		rep[1] = e2;
		if (write(ready[1], rep, sizeof(rep)) != sizeof(rep))
			_exit(101);
		wait_byte(quit[0]);
		kill_fill(p1);
		kill_fill(p2);
		_exit(0);
	}
	close(ready[1]);
	close(quit[0]);
	{
		int rep[2];

		ASSERT_EQ(sizeof(rep), read(ready[0], rep, sizeof(rep)));
		EXPECT_EQ(2 * 1000 + 1, rep[0]);
		EXPECT_EQ(-ENOSPC, rep[1]);
	}
	close(ready[0]);
	/* The host: the same user creates in its own namespace. */
	p3 = start_fill(GUEST2, 2, &n3, &e3, false);
	EXPECT_EQ(2, n3);
	EXPECT_EQ(0, e3);
	/* Two users and a namespace. */
	EXPECT_EQ(3, shm_counter("budgets"));
	kill_fill(p3);
	close(quit[1]);
	EXPECT_EQ(0, shm_reap(ns_init));
}

/* A user namespace mapping 0..65535 to CTR_BASE.., for a forked child. */
struct ctr {
	pid_t pid;
	int go[2], done[2];
};

static int map_ids(pid_t pid)
{
	char path[64], map[64];

	snprintf(map, sizeof(map), "0 %d 65536\n", CTR_BASE);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (shm_write_file(path, map))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	return shm_write_file(path, map) ? -1 : 0;
}

/*
 * Run @fn as root of a new container: CTR_BASE outside, with the device
 * node's group, unshared into a user namespace (and @flags) of its own,
 * mapped by the parent (real root) as a container engine does. Returns
 * @fn's status, or 150-157 when the container could not be made (the
 * caller SKIPs at 150: unshare refused).
 */
static int in_container(int flags, int (*fn)(void *), void *arg)
{
	int go[2], up[2], ok;
	char c;
	pid_t pid;

	if (pipe(go) || pipe(up))
		return 151;
	pid = shm_fork_tied();
	if (pid < 0)
		return 152;
	if (pid == 0) {
		/* As an engine sets its ulimits (5.10's default is 64 KiB). */
		struct rlimit rl = { 64 << 20, 64 << 20 };

		close(go[1]);
		close(up[0]);
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || become(CTR_BASE))
			_exit(153);
		ok = unshare(CLONE_NEWUSER | flags) ? 0 : 1;
		if (write(up[1], &ok, sizeof(ok)) != sizeof(ok) || !ok)
			_exit(150);
		if (read(go[0], &c, 1) != 1)
			_exit(154);
		_exit(fn(arg));
	}
	close(go[0]);
	close(up[1]);
	if (read(up[0], &ok, sizeof(ok)) != sizeof(ok))
		ok = 0;
	if (ok && map_ids(pid))
		ok = 0;
	if (ok)
		send_byte(go[1]);
	close(go[1]);
	close(up[0]);
	return shm_reap(pid);
}

/* In a container: run @fn as user @uid of the container, in a child. */
static int as_ctr_user(uid_t uid, int (*fn)(void *), void *arg)
{
	pid_t pid = shm_fork_tied();

	if (pid == 0) {
		/* The device node's group comes along: no setgroups here. */
		if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
			_exit(160);
		_exit(fn(arg));
	}
	return shm_reap(pid);
}

/* On the host: run @fn as user @uid, a member of the node's group. */
static int as_host_user(uid_t uid, int (*fn)(void *), void *arg)
{
	pid_t pid = shm_fork_tied();

	if (pid == 0)
		_exit(become(uid) ? 163 : fn(arg));
	return shm_reap(pid);
}

static int ctr_make_private(void *arg)
{
	int fd = shm_open_dev();

	if (fd < 0)
		return 161;
	/* No DESTROY_ON_CLOSE: the stream outlives this process. */
	return -shm_create(fd, arg, 2, 4096, 0600, 0) ? 162 : 0;
}

/*
 * Root of the container: the 0600 stream of the container's user 1000 is
 * its to read (CAP_IPC_OWNER) and destroy (CAP_SYS_ADMIN), in its own
 * user namespace; the host's streams are not there at all.
 */
static int ctr_root_manages(void *arg)
{
	const char *host_name = arg;
	struct shmstream_info in;
	int fd, ret;

	ret = as_ctr_user(1000, ctr_make_private, "ctr-own");
	if (ret)
		return ret;
	fd = shm_open_dev();
	if (fd < 0)
		return 170;
	if (shm_info(fd, "ctr-own", &in))
		return 171;
	/* The owner, as the container sees it. */
	if (in.uid != 1000)
		return 172;
	if (shm_attach(fd, "ctr-own", CONS))
		return 173;
	close(fd);
	fd = shm_open_dev();
	if (shm_destroy(fd, "ctr-own"))
		return 174;
	if (shm_destroy(fd, host_name) != -ENOENT)
		return 175;
	return 0;
}

/* Root of a user namespace that shares the host's IPC namespace. */
static int userns_root_outside(void *arg)
{
	int fd = shm_open_dev();

	if (fd < 0)
		return 180;
	if (shm_attach(fd, arg, CONS) != -EACCES)
		return 181;
	if (shm_destroy(fd, arg) != -EPERM)
		return 182;
	return 0;
}

TEST_F(iso, container_root_manages_its_own_streams_only)
{
	int ret;

	/* A host user's private stream, which no container may touch. */
	ASSERT_EQ(0, as_host_user(GUEST, ctr_make_private, self->name));
	ret = in_container(CLONE_NEWIPC | CLONE_NEWNS, ctr_root_manages, self->name);
	if (ret == 150)
		SKIP(goto out, "unshare(CLONE_NEWUSER) refused: no unprivileged user namespaces");
	EXPECT_EQ(0, ret);
	/* Root of a user namespace alone still has the host's IPC namespace. */
	EXPECT_EQ(0, in_container(0, userns_root_outside, self->name));
out:
	EXPECT_EQ(0, shm_destroy(self->fd, self->name));
}

/*
 * The README's container recipe: container A makes a stream and passes a
 * bound consumer file to container B over a Unix socket (SCM_RIGHTS); a
 * process that shares A's IPC namespace (--ipc container:A) attaches by
 * name. B and the host do not see the name. Every frame arrives intact.
 */
#define RECIPE_FRAMES 100

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, c = 'f';
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	struct timeval tv = { SHM_PATIENCE / SEC, 0 };
	char cbuf[CMSG_SPACE(sizeof(int))], c;
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	/* The sender may have failed: do not wait for ever. */
	if (setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    recvmsg(sock, &m, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* Read RECIPE_FRAMES frames on consumer @fd, acking each on @ack. */
static int read_frames(int fd, int ack)
{
	struct shmstream_acquire a;
	struct shmstream_info in;
	uint8_t *map;
	int i;

	if (shm_info(fd, NULL, &in))
		return 190;
	map = shm_map_slots(fd, &in, PROT_READ);
	if (!map)
		return 191;
	for (i = 1; i <= RECIPE_FRAMES; i++) {
		if (shm_acquire(fd, SHMSTREAM_ACQUIRE_NEXT, SHM_PATIENCE, &a))
			return 192;
		if (a.frame.seq != (uint64_t)i || a.missed)
			return 193;
		if (shm_check(map + a.frame.slot * in.slot_stride, a.frame.bytes_used, i))
			return 194;
		if (shm_release(fd, a.frame.slot))
			return 195;
		send_byte(ack);
	}
	return 0;
}

struct recipe {
	int sock; /* A's end of the socket to B */
	int ack; /* both readers ack each frame here */
	int acks; /* A's end */
};

static int ctr_b(void *arg)
{
	struct recipe *r = arg;
	struct shmstream_list l = { .size = sizeof(l) };
	int fd = shm_open_dev(), got;

	if (fd < 0)
		return 200;
	/* Another IPC namespace: nothing by that name, nothing listed. */
	if (shm_attach(fd, "cam", CONS) != -ENOENT)
		return 201;
	if (shm_ioctl(fd, SHMSTREAM_IOC_LIST, &l) || l.count)
		return 202;
	got = recv_fd(r->sock);
	if (got < 0)
		return 203;
	return read_frames(got, r->ack);
}

static int ctr_a(void *arg)
{
	struct recipe *r = arg;
	struct shmstream_info in;
	int p = shm_open_dev(), c = shm_open_dev(), i, j, ret;
	uint8_t *map;
	pid_t peer;

	if (p < 0 || c < 0)
		return 210;
	if (shm_create(p, "cam", 8, 16384, 0640, DOC) || shm_attach(c, "cam", CONS))
		return 211;
	if (send_fd(r->sock, c))
		return 212;
	close(c);
	/* --ipc container:A: the same IPC namespace, by name. */
	peer = shm_fork_tied();
	if (peer == 0) {
		int fd = shm_open_dev();

		if (fd < 0 || shm_attach(fd, "cam", CONS))
			_exit(213);
		send_byte(r->ack);
		_exit(read_frames(fd, r->ack));
	}
	if (read_byte_within(r->acks)) /* the peer is attached */
		return 214;
	if (shm_info(p, NULL, &in))
		return 215;
	map = shm_map_slots(p, &in, PROT_READ | PROT_WRITE);
	if (!map)
		return 216;
	for (i = 1; i <= RECIPE_FRAMES; i++) {
		if (shm_produce(p, map, &in, i, SHM_PATIENCE, NULL))
			return 217;
		/* Both readers took it. */
		for (j = 0; j < 2; j++)
			if (read_byte_within(r->acks))
				return 218;
	}
	ret = shm_reap(peer);
	return ret;
}

TEST_F_TIMEOUT(iso, container_recipe, 600)
{
	struct recipe ra, rb;
	int sv[2], ack[2], status;
	pid_t a;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, pipe(ack));
	ra = (struct recipe){ .sock = sv[0], .ack = ack[1], .acks = ack[0] };
	rb = (struct recipe){ .sock = sv[1], .ack = ack[1], .acks = ack[0] };
	a = shm_fork_tied();
	ASSERT_LE(0, a);
	if (a == 0)
		_exit(in_container(CLONE_NEWIPC | CLONE_NEWNS, ctr_a, &ra));
	status = in_container(CLONE_NEWIPC | CLONE_NEWNS, ctr_b, &rb);
	if (status == 150) {
		kill(a, SIGKILL);
		shm_reap(a);
		SKIP(return, "unshare(CLONE_NEWUSER) refused: no unprivileged user namespaces");
	}
	EXPECT_EQ(0, status);
	EXPECT_EQ(0, shm_reap(a));
	/* The host never saw the name. */
	EXPECT_EQ(-ENOENT, shm_attach(self->fd, "cam", CONS));
	close(sv[0]);
	close(sv[1]);
	close(ack[0]);
	close(ack[1]);
}

/*
 * A namespace that dies with a named stream in it: the stream is freed
 * within seconds, with no call to the module from anyone meanwhile.
 */
TEST_F(iso, dead_namespace_streams_freed_promptly)
{
	int64_t start, end;
	pid_t pid;

	ASSERT_EQ(0, shm_counter("streams"));
	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		if (unshare(CLONE_NEWIPC))
			_exit(100);
		fd = shm_open_dev();
		/* Named, outliving its file: only the namespace's end frees it. */
		_exit(shm_create(fd, "left", 4, 1 << 20, 0600, 0) ? 101 : 0);
	}
	ASSERT_EQ(0, shm_reap(pid));
	start = shm_now_ns();
	/* Generous for a loaded TCG guest; the module's period is a second. */
	end = start + 30 * SEC;
	while (shm_counter("streams") && shm_now_ns() < end)
		usleep(20000);
	EXPECT_EQ(0, shm_counter("streams"));
	EXPECT_EQ(0, shm_counter("pinned_bytes"));
	TH_LOG("freed %.2f s after the namespace's last process exited",
	       (shm_now_ns() - start) / 1e9);
}

/*
 * The module leaves the node's mode to udev (tools/udev/60-shmstream.rules):
 * it asks for none (0600, root's), and no one outside the node's owner and
 * group may open it.
 */
TEST_F(iso, device_node_mode_is_udevs)
{
	char line[128];
	struct stat st;
	FILE *f = fopen("/sys/class/misc/" SHMSTREAM_DEVICE_NAME "/uevent", "r");
	pid_t pid;

	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		EXPECT_NE(0, strncmp(line, "DEVMODE=", 8)) TH_LOG("the module sets %s", line);
	fclose(f);
	ASSERT_EQ(0, stat(SHMSTREAM_DEV, &st));
	EXPECT_EQ(0, st.st_mode & 0007);
	pid = shm_fork_tied();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* A user in no group of the node's. */
		if (setgroups(0, NULL) || setresgid(GUEST2, GUEST2, GUEST2) ||
		    setresuid(GUEST2, GUEST2, GUEST2))
			_exit(100);
		_exit(open(SHMSTREAM_DEV, O_RDONLY) < 0 ? errno : 0);
	}
	EXPECT_EQ(EACCES, shm_reap(pid));
}

TEST_HARNESS_MAIN
