// SPDX-License-Identifier: LGPL-2.1-or-later
/* A minimal epoll consumer: consumer NAME (until the producer goes) */
#include <errno.h>
#include <shmdev.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLPRI };
	struct shmdev *dev = NULL;
	struct shmdev_stream *s = NULL;
	struct shmdev_frame f;
	unsigned long frames = 0, missed = 0;
	int ep = epoll_create1(0), ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 2;
	}
	ret = shmdev_open(&dev);
	for (int i = 0; !ret; i++) { /* wait up to 60 s for the stream */
		ret = shmdev_open_consumer(dev, argv[1], &s);
		if (ret != -ENOENT || i == 6000)
			break;
		ret = 0;
		usleep(10000);
	}
	if (!ret)
		ret = epoll_ctl(ep, EPOLL_CTL_ADD, shmdev_stream_fd(s), &ev) ? -errno : 0;
	/* No timeout: the stream's end (EPOLLHUP) or its producer's (EPOLLPRI
	 * once frames came) ends the loop, however slow the machine.
	 */
	while (!ret && epoll_wait(ep, &ev, 1, -1) == 1) {
		while (shmdev_acquire(s, SHMDEV_NEXT, 0, &f) == 0) {
			frames++;
			missed += f.missed;
			shmdev_release(s, &f);
		}
		if (ev.events & EPOLLHUP)
			break; /* stream destroyed, every frame drained */
		if (ev.events & EPOLLPRI) {
			if (frames)
				break; /* producer gone, every frame drained */
			usleep(10000); /* no producer yet: wait for one */
		}
	}
	if (ret)
		fprintf(stderr, "consumer: %s %s\n", shmdev_strerror(ret), shmdev_errmsg());
	printf("consumer: %lu frames, %lu missed\n", frames, missed);
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	return ret ? 1 : 0;
}
