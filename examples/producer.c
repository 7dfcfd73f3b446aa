// SPDX-License-Identifier: LGPL-2.1-or-later
/* A minimal producer: producer NAME COUNT */
#include <shmdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	struct shmdev_create_params p = { .slot_count = 8, .slot_size = 4096,
					  .flags = SHMSTREAM_CREATE_DESTROY_ON_CLOSE };
	struct shmdev *dev = NULL;
	struct shmdev_stream *s = NULL;
	struct shmstream_info info;
	int ret, count = argc > 2 ? atoi(argv[2]) : 100;

	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME [COUNT]\n", argv[0]);
		return 2;
	}
	ret = shmdev_open(&dev);
	if (!ret)
		ret = shmdev_create(dev, argv[1], &p, &s);
	/* Wait (up to 60 s) for a consumer, so that it sees every frame. */
	for (int i = 0; !ret && i < 6000; i++) {
		ret = shmdev_stream_info(s, &info);
		if (ret || info.consumers)
			break;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	for (int i = 1; !ret && i <= count; i++) {
		struct shmdev_slot slot;
		struct shmdev_commit_params c = { .bytes = 64 };

		ret = shmdev_begin(s, SHMDEV_FOREVER, &slot);
		if (ret)
			break;
		snprintf(slot.data, slot.size, "frame %d", i);
		ret = shmdev_commit(s, &slot, &c);
	}
	if (ret)
		fprintf(stderr, "producer: %s %s\n", shmdev_strerror(ret), shmdev_errmsg());
	shmdev_stream_unref(s);
	shmdev_unref(dev);
	return ret ? 1 : 0;
}
