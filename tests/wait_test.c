// SPDX-License-Identifier: GPL-2.0-only
/*
 * Waiting: poll/epoll events, blocking waits, timeouts, signals and
 * destruction during a wait.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#include "kselftest_harness.h"

#define PROD SHMSTREAM_ATTACH_PRODUCER
#define CONS SHMSTREAM_ATTACH_CONSUMER
#define NEXT SHMSTREAM_ACQUIRE_NEXT

FIXTURE(w) {
	int p, c;
	char name[SHMSTREAM_NAME_MAX];
};

FIXTURE_SETUP(w)
{
	self->p = shm_open_dev();
	if (self->p < 0)
		SKIP(return, "%s: %s (module not loaded?)", SHMSTREAM_DEV, strerror(errno));
	ASSERT_EQ(0, shm_make_pair(self->name, "w", 2, 4096, self->p, &self->c));
}

FIXTURE_TEARDOWN(w)
{
	if (self->p < 0)
		return;
	close(self->c);
	close(self->p);
	/* Nothing this test made may outlive it. */
	EXPECT_NOTHING_LEFT();
}

static short revents(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	return poll(&pfd, 1, 0) == 1 ? pfd.revents : 0;
}

TEST_F(w, no_wakeup_without_commit)
{
	struct shmstream_acquire a;
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(0);
	int64_t t0 = shm_now_ns();

	EXPECT_EQ(-ETIMEDOUT, shm_acquire(self->c, NEXT, 200 * MS, &a));
	EXPECT_GE(shm_now_ns() - t0, 200 * MS);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->c, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 100));
	EXPECT_EQ(0, revents(self->c, POLLIN) & POLLIN);
	/* One commit: readable, level-triggered until taken. */
	EXPECT_EQ(1, write(self->p, "x", 1));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, 1000));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	close(ep);
}

/* 64 processes: more than the harness's default 30 s on a loaded TCG guest. */
TEST_F_TIMEOUT(w, one_commit_wakes_64_epoll_readers, 300)
{
	const int n = 64;
	int ready[2], done[2];
	pid_t pids[64];
	char b;
	int woke = 0;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	for (int i = 0; i < n; i++) {
		pids[i] = fork();
		ASSERT_GE(pids[i], 0);
		if (pids[i] == 0) {
			struct epoll_event ev = { .events = EPOLLIN };
			struct shmstream_acquire a;
			int fd = shm_open_dev(), ep = epoll_create1(0);

			if (shm_attach(fd, self->name, CONS) ||
			    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
				_exit(1);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			/* The commit comes once all 64 sleep, however long that takes. */
			if (epoll_wait(ep, &ev, 1, (int)(SHM_PATIENCE / MS)) != 1 ||
			    !(ev.events & EPOLLIN))
				_exit(3);
			if (shm_acquire(fd, NEXT, 0, &a) || a.frame.seq != 1)
				_exit(4);
			if (write(done[1], "d", 1) != 1)
				_exit(5);
			_exit(0);
		}
	}
	for (int i = 0; i < n; i++)
		ASSERT_EQ(1, read(ready[0], &b, 1));
	/* Every one of them asleep in epoll_wait, the one call left to it. */
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, shm_wait_asleep(pids[i], -1, SHM_PATIENCE));
	ASSERT_EQ(1, write(self->p, "f", 1));
	for (int i = 0; i < n; i++) {
		int status;

		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			woke++;
	}
	EXPECT_EQ(n, woke);
	close(ready[0]);
	close(ready[1]);
	close(done[0]);
	close(done[1]);
}

TEST_F(w, epollout_for_producer)
{
	struct shmstream_acquire a;
	uint32_t slot;

	EXPECT_EQ(POLLOUT, revents(self->p, POLLOUT | POLLIN));
	/* The consumer holds both slots: nothing to write into. */
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(1, write(self->p, "x", 1));
		ASSERT_EQ(0, shm_acquire(self->c, NEXT, 0, &a));
	}
	EXPECT_EQ(0, revents(self->p, POLLOUT));
	EXPECT_EQ(-EAGAIN, shm_get_slot(self->p, 0, &slot));
	ASSERT_EQ(0, shm_release(self->c, a.frame.slot));
	EXPECT_EQ(POLLOUT, revents(self->p, POLLOUT));
}

TEST_F(w, producer_detach_event)
{
	int p2;

	EXPECT_EQ(0, revents(self->c, POLLPRI));
	close(self->p);
	self->p = shm_open_dev();
	/* The creator was destroy-on-close; use a second stream. */
	ASSERT_EQ(0, shm_create(self->p, "t-w-detach", 2, 4096, 0600, 0));
	close(self->c);
	self->c = shm_open_dev();
	ASSERT_EQ(0, shm_attach(self->c, "t-w-detach", CONS));
	EXPECT_EQ(0, revents(self->c, POLLPRI));
	close(self->p);
	EXPECT_EQ(POLLPRI, revents(self->c, POLLPRI | POLLIN));
	/* A new producer attaches: the event clears. */
	p2 = shm_open_dev();
	ASSERT_EQ(0, shm_attach(p2, "t-w-detach", PROD));
	EXPECT_EQ(0, revents(self->c, POLLPRI));
	ASSERT_EQ(0, shm_destroy(p2, "t-w-detach"));
	self->p = p2;
}

TEST_F(w, epollhup_after_destroy)
{
	struct shmstream_acquire a;

	EXPECT_EQ(0, revents(self->c, POLLIN) & POLLHUP);
	ASSERT_EQ(0, shm_destroy(self->c, self->name));
	EXPECT_EQ(POLLHUP, revents(self->c, POLLIN) & POLLHUP);
	EXPECT_EQ(POLLHUP, revents(self->p, POLLOUT) & POLLHUP);
	EXPECT_EQ(-EIDRM, shm_acquire(self->c, NEXT, -1, &a));
	EXPECT_EQ(-EIDRM, shm_get_slot(self->p, -1, NULL));
	EXPECT_EQ(-1, write(self->p, "x", 1));
	EXPECT_EQ(EIDRM, errno);
}

TEST_F(w, destroyed_stream_drains_then_eidrm)
{
	struct shmstream_acquire a;
	char buf[8];

	ASSERT_EQ(2, write(self->p, "a", 2));
	ASSERT_EQ(2, write(self->p, "b", 2));
	ASSERT_EQ(0, shm_destroy(self->p, self->name));
	/* Frames committed before the destroy are still handed out. */
	EXPECT_EQ(POLLIN | POLLHUP, revents(self->c, POLLIN));
	ASSERT_EQ(0, shm_acquire(self->c, NEXT, -1, &a));
	EXPECT_EQ(1, a.frame.seq);
	EXPECT_EQ(0, shm_release(self->c, a.frame.slot));
	EXPECT_EQ(2, read(self->c, buf, sizeof(buf)));
	/* Then the end. */
	EXPECT_EQ(POLLHUP, revents(self->c, POLLIN));
	EXPECT_EQ(-EIDRM, shm_acquire(self->c, NEXT, -1, &a));
	EXPECT_EQ(-1, read(self->c, buf, sizeof(buf)));
	EXPECT_EQ(EIDRM, errno);
}

struct acq {
	int fd;
	int64_t timeout;
	int ret;
	pid_t tid;
};

static void *acquire_thread(void *arg)
{
	struct acq *q = arg;
	struct shmstream_acquire a;

	__atomic_store_n(&q->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	__atomic_store_n(&q->ret, shm_acquire(q->fd, NEXT, q->timeout, &a), __ATOMIC_SEQ_CST);
	return NULL;
}

TEST_F(w, eidrm_when_destroyed_during_wait)
{
	struct acq q = { .fd = self->c, .timeout = -1, .ret = 1 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, acquire_thread, &q));
	/* Destroyed while it sleeps in ACQUIRE, not before it gets there. */
	while (!__atomic_load_n(&q.tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	EXPECT_EQ(0, shm_wait_asleep(q.tid, SYS_ioctl, SHM_PATIENCE));
	EXPECT_EQ(1, __atomic_load_n(&q.ret, __ATOMIC_SEQ_CST));
	ASSERT_EQ(0, shm_destroy(self->p, self->name));
	pthread_join(t, NULL);
	EXPECT_EQ(-EIDRM, q.ret);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(w, eintr_on_signal)
{
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART */
	struct shmstream_acquire a;
	struct shm_interrupter in;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	/* A timed wait (far longer than the signal takes to come), ... */
	ASSERT_EQ(0, shm_interrupt_when_asleep(&in, SYS_ioctl, SIGALRM));
	EXPECT_EQ(-EINTR, shm_acquire(self->c, NEXT, SHM_PATIENCE, &a));
	pthread_join(in.thread, NULL);
	EXPECT_EQ(0, in.asleep);
	/* ... one without a timeout, ... */
	ASSERT_EQ(0, shm_interrupt_when_asleep(&in, SYS_ioctl, SIGALRM));
	EXPECT_EQ(-EINTR, shm_acquire(self->c, NEXT, -1, &a));
	pthread_join(in.thread, NULL);
	EXPECT_EQ(0, in.asleep);
	/* ... and a blocking read(2). */
	ASSERT_EQ(0, shm_interrupt_when_asleep(&in, SYS_read, SIGALRM));
	EXPECT_EQ(-1, read(self->c, &a, sizeof(a)));
	EXPECT_EQ(EINTR, errno);
	pthread_join(in.thread, NULL);
	EXPECT_EQ(0, in.asleep);
}

static int acquire_until(int fd, uint64_t deadline_ns)
{
	struct shmstream_acquire a = { .size = sizeof(a), .flags = NEXT,
				       .deadline_ns = deadline_ns };

	return shm_ioctl(fd, SHMSTREAM_IOC_ACQUIRE, &a);
}

/* Waits end at an absolute CLOCK_MONOTONIC time; two values are special. */
TEST_F(w, absolute_deadlines)
{
	struct shmstream_get_slot g = { .size = sizeof(g) };
	int64_t t0, now;
	uint32_t s1, s2;

	/* NOWAIT is -EAGAIN; a deadline in the past is -ETIMEDOUT at once. */
	EXPECT_EQ(-EAGAIN, acquire_until(self->c, SHMSTREAM_DEADLINE_NOWAIT));
	EXPECT_EQ(-ETIMEDOUT, acquire_until(self->c, 1));
	EXPECT_EQ(-ETIMEDOUT, acquire_until(self->c, (uint64_t)shm_now_ns() - 1));
	/* A deadline 300 ms away ends no sooner than that. */
	t0 = shm_now_ns();
	EXPECT_EQ(-ETIMEDOUT, acquire_until(self->c, (uint64_t)t0 + 300000000));
	now = shm_now_ns();
	EXPECT_GE(now - t0, 300000000);
	EXPECT_LT(now - t0, SHM_PATIENCE);
	/* The same for the producer, once every slot is pending. */
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &s1));
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &s2));
	g.deadline_ns = SHMSTREAM_DEADLINE_NOWAIT;
	EXPECT_EQ(-EAGAIN, shm_ioctl(self->p, SHMSTREAM_IOC_GET_SLOT, &g));
	g.deadline_ns = (uint64_t)shm_now_ns() - 1;
	EXPECT_EQ(-ETIMEDOUT, shm_ioctl(self->p, SHMSTREAM_IOC_GET_SLOT, &g));
	t0 = shm_now_ns();
	g.deadline_ns = (uint64_t)t0 + 200000000;
	EXPECT_EQ(-ETIMEDOUT, shm_ioctl(self->p, SHMSTREAM_IOC_GET_SLOT, &g));
	EXPECT_GE(shm_now_ns() - t0, 200000000);
	/* A deadline past any clock (but not NEVER) waits like NEVER would. */
	EXPECT_EQ(0, shm_commit(self->p, s1, 1, NULL));
	EXPECT_EQ(0, acquire_until(self->c, SHMSTREAM_DEADLINE_NEVER - 1));
}

struct nagger {
	pthread_t thread;
	pid_t tid;
	int sent;
};

/* Three SIGALRMs, each once the caller sleeps in ioctl() again. */
static void *nag(void *arg)
{
	struct nagger *n = arg;

	for (int i = 0; i < 3; i++) {
		if (shm_wait_asleep(n->tid, SYS_ioctl, SHM_PATIENCE))
			break;
		syscall(SYS_tgkill, getpid(), n->tid, SIGALRM);
		n->sent++;
		usleep(500000);
	}
	return NULL;
}

/*
 * A signal with SA_RESTART in the middle of a timed wait: the call is
 * restarted with the same absolute deadline, so it ends at that deadline.
 * A relative timeout restarted from its beginning after each of three
 * signals half a second apart would end a second or more past it.
 */
TEST_F(w, restarted_wait_keeps_its_deadline)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct nagger n = { .tid = (pid_t)syscall(SYS_gettid) };
	int64_t end;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	end = shm_now_ns() + 2500000000LL;
	ASSERT_EQ(0, pthread_create(&n.thread, NULL, nag, &n));
	EXPECT_EQ(-ETIMEDOUT, acquire_until(self->c, (uint64_t)end));
	pthread_join(n.thread, NULL);
	EXPECT_EQ(3, n.sent);
	EXPECT_GE(shm_now_ns(), end);
	/* Less than one whole timeout again past the deadline. */
	EXPECT_LT(shm_now_ns() - end, 2500000000LL);
	signal(SIGALRM, SIG_DFL);
}

/*
 * Deadlines are read in the caller's time namespace: a child in a new one,
 * whose CLOCK_MONOTONIC is 1000 s ahead of the host's, waits 200 ms for a
 * deadline 200 ms ahead of its own clock (a kernel reading it as host time
 * would wait 1000 s).
 */
TEST_F(w, deadline_in_a_time_namespace)
{
	int status;
	pid_t pid;
	int fd;

	if (unshare(CLONE_NEWTIME))
		SKIP(return, "unshare(CLONE_NEWTIME): %s", strerror(errno));
	fd = open("/proc/self/timens_offsets", O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, dprintf(fd, "monotonic 1000 0\n"));
	close(fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int64_t t0 = shm_now_ns();
		int ret;

		alarm(60); /* the bug this looks for waits 1000 s */
		ret = acquire_until(self->c, (uint64_t)t0 + 200000000);
		_exit(ret == -ETIMEDOUT && shm_now_ns() - t0 >= 200000000 ? 0 :
		      ret == -ETIMEDOUT ? 2 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/*
 * A file added to epoll before it is bound: its poll registered on the
 * file's own queue, and the commits of the stream it binds to reach it.
 */
TEST_F(w, epoll_added_before_attach_wakes)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct shmstream_acquire a;
	int u = shm_open_dev(), ep = epoll_create1(0);
	uint32_t slot;

	ASSERT_LE(0, u);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev));
	/* Unbound: an error to report, once. */
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLERR, ev.events & EPOLLERR);
	ASSERT_EQ(0, shm_attach(u, self->name, CONS));
	/* Bound, nothing yet: the ready list drains. */
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	ASSERT_EQ(0, shm_commit(self->p, slot, 1, NULL));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, SHM_PATIENCE / 1000000));
	EXPECT_EQ(EPOLLIN, ev.events & (EPOLLIN | EPOLLERR));
	ASSERT_EQ(0, shm_acquire(u, NEXT, 0, &a));
	EXPECT_EQ(0, shm_release(u, a.frame.slot));
	/* And the next commit too (the forward stays for the file's life). */
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	ASSERT_EQ(0, shm_get_slot(self->p, 0, &slot));
	ASSERT_EQ(0, shm_commit(self->p, slot, 1, NULL));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, SHM_PATIENCE / 1000000));
	close(ep);
	close(u);
}

struct slot_waiter {
	int p;
	int how; /* 0 GET_SLOT, 1 write(2) */
	int ret;
	_Atomic pid_t tid;
};

static void *wait_for_slot(void *arg)
{
	struct slot_waiter *sw = arg;
	char byte = 1;

	sw->tid = (pid_t)syscall(SYS_gettid);
	if (sw->how)
		sw->ret = write(sw->p, &byte, 1) == 1 ? 0 : -errno;
	else
		sw->ret = shm_get_slot(sw->p, SHM_PATIENCE, NULL);
	return NULL;
}

/*
 * Every slot pending, a second thread of the producer waits for one, and
 * the first commits one: the slot is free now, and the waiter gets it
 * (found by an outside black-box run: COMMIT woke only the readers).
 */
TEST_F(w, commit_wakes_a_producer_waiting_for_a_slot)
{
	for (int how = 0; how < 3; how++) {
		struct slot_waiter sw = { .p = self->p, .how = how == 1 };
		uint32_t s1, s2;
		pthread_t t;

		ASSERT_EQ(0, shm_get_slot(self->p, 0, &s1));
		ASSERT_EQ(0, shm_get_slot(self->p, 0, &s2));
		if (how == 2) {
			/* poll(POLLOUT) of the producer. */
			struct pollfd pfd = { .fd = self->p, .events = POLLOUT };

			EXPECT_EQ(0, poll(&pfd, 1, 0));
			ASSERT_EQ(0, shm_commit(self->p, s1, 1, NULL));
			EXPECT_EQ(1, poll(&pfd, 1, (int)(SHM_PATIENCE / 1000000)));
			EXPECT_EQ(POLLOUT, pfd.revents & POLLOUT);
		} else {
			ASSERT_EQ(0, pthread_create(&t, NULL, wait_for_slot, &sw));
			while (!sw.tid)
				usleep(1000);
			EXPECT_EQ(0, shm_wait_asleep(sw.tid, how ? SYS_write : SYS_ioctl,
						     SHM_PATIENCE));
			ASSERT_EQ(0, shm_commit(self->p, s1, 1, NULL));
			pthread_join(t, NULL);
			EXPECT_EQ(0, sw.ret);
		}
		/* Give everything back for the next round. */
		ASSERT_EQ(0, shm_commit(self->p, s2, 1, NULL));
		if (how == 0) {
			struct shmstream_commit c = { .size = sizeof(c),
						      .flags = SHMSTREAM_COMMIT_DISCARD };

			for (c.slot = 0; c.slot < 2; c.slot++)
				shm_ioctl(self->p, SHMSTREAM_IOC_COMMIT, &c);
		}
	}
}

TEST_F(w, unbound_file_polls_error)
{
	int u = shm_open_dev();

	EXPECT_EQ(POLLERR, revents(u, POLLIN | POLLOUT));
	close(u);
}

TEST_HARNESS_MAIN
