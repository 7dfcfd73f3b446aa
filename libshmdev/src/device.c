// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The device context: opening /dev/shmstream with the ABI handshake, and
 * the calls that need no bound stream (list, info, destroy).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ABI 1.x's handshake, kept only to say that a module is that old. */
#define SHMDEV_ABI1_IOC_VERSION _IOWR(0xB8, 0x00, struct shmstream_version)

SHMDEV_EXPORT int shmdev_open_path(const char *path, struct shmdev **out)
{
	struct shmdev *dev;
	int ret;

	if (!path || !out)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->path = strdup(path);
	if (!dev->path) {
		ret = -ENOMEM;
		goto out_free;
	}
	dev->fd = open(path, O_RDWR | O_CLOEXEC);
	if (dev->fd < 0) {
		ret = shmdev_set_errmsg(-errno, "%s: %s%s", path, strerrordesc_np(errno),
					errno == ENOENT ? " (is the shmstream module loaded?)" : "");
		goto out_free_path;
	}
	dev->version.size = sizeof(dev->version);
	ret = shmdev_ioctl(dev->fd, SHMSTREAM_IOC_VERSION, &dev->version);
	if (ret == -ENOTTY &&
	    !shmdev_ioctl(dev->fd, SHMDEV_ABI1_IOC_VERSION, &dev->version))
		ret = 0; /* an ABI 1.x module (magic 0xB8): told below */
	if (ret) {
		shmdev_set_errmsg(-EPROTO, "%s: no shmstream API handshake (%s)", path,
				  strerrordesc_np(-ret));
		ret = -EPROTO;
		goto out_close;
	}
	if (dev->version.abi_major != SHMSTREAM_ABI_MAJOR) {
		ret = shmdev_set_errmsg(-EPROTO,
					"%s: the shmstream module speaks ABI %u.%u, %s than "
					"libshmdev %s (ABI %u.x): %s",
					path, dev->version.abi_major,
					dev->version.abi_minor,
					dev->version.abi_major < SHMSTREAM_ABI_MAJOR ?
						"older" : "newer",
					SHMDEV_VERSION, SHMSTREAM_ABI_MAJOR,
					dev->version.abi_major < SHMSTREAM_ABI_MAJOR ?
						"load the module that came with this libshmdev "
						"(make install, or the shmstream-dkms package)" :
						"install the libshmdev that came with the module");
		goto out_close;
	}
	atomic_init(&dev->refs, 1);
	*out = dev;
	return 0;

out_close:
	close(dev->fd);
out_free_path:
	free(dev->path);
out_free:
	free(dev);
	return ret;
}

SHMDEV_EXPORT int shmdev_open(struct shmdev **out)
{
	const char *path = getenv("SHMDEV_PATH");

	return shmdev_open_path(path && *path ? path : SHMDEV_DEFAULT_PATH, out);
}

SHMDEV_EXPORT struct shmdev *shmdev_ref(struct shmdev *dev)
{
	if (dev)
		atomic_fetch_add(&dev->refs, 1);
	return dev;
}

SHMDEV_EXPORT struct shmdev *shmdev_unref(struct shmdev *dev)
{
	if (!dev || atomic_fetch_sub(&dev->refs, 1) > 1)
		return NULL;
	close(dev->fd);
	free(dev->path);
	free(dev);
	return NULL;
}

SHMDEV_EXPORT int shmdev_fd(const struct shmdev *dev)
{
	return dev ? dev->fd : -EINVAL;
}

SHMDEV_EXPORT int shmdev_module_version(const struct shmdev *dev,
					struct shmstream_version *out)
{
	if (!dev || !out)
		return -EINVAL;
	*out = dev->version;
	return 0;
}

SHMDEV_EXPORT int shmdev_destroy(struct shmdev *dev, const char *name)
{
	struct shmstream_destroy d = { .size = sizeof(d) };

	if (!dev || shmdev_copy_name(d.name, name))
		return -EINVAL;
	return shmdev_ioctl(dev->fd, SHMSTREAM_IOC_DESTROY, &d);
}

SHMDEV_EXPORT int shmdev_list(struct shmdev *dev, char (*names)[SHMSTREAM_NAME_MAX],
			      size_t capacity, size_t *count)
{
	struct shmstream_list l = { .size = sizeof(l) };
	int ret;

	if (!dev || !count || (capacity && !names) || capacity > UINT32_MAX)
		return -EINVAL;
	l.names = (uintptr_t)names;
	l.capacity = capacity;
	ret = shmdev_ioctl(dev->fd, SHMSTREAM_IOC_LIST, &l);
	if (!ret || ret == -ENOSPC)
		*count = l.count;
	return ret;
}

SHMDEV_EXPORT int shmdev_info(struct shmdev *dev, const char *name,
			      struct shmstream_info *out)
{
	if (!dev || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	if (shmdev_copy_name(out->name, name))
		return -EINVAL;
	return shmdev_ioctl(dev->fd, SHMSTREAM_IOC_INFO, out);
}
