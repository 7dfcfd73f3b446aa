// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CUDA bridge of a library built without cuda.h: every call answers
 * -ENOSYS, exactly as a library with the bridge answers without libcuda.
 */
#include "internal.h"

static int no_bridge(void)
{
	return shmdev_set_errmsg(-ENOSYS, "libshmdev was built without the CUDA bridge (no cuda.h)");
}

void shmdev_cuda_stream_fini(struct shmdev_stream *s)
{
	(void)s;
}

SHMDEV_EXPORT int shmdev_cuda_driver_version(int *version)
{
	return version ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_device_count(int *count)
{
	return count ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_device_info(int ordinal, struct shmdev_cuda_device *out)
{
	(void)ordinal;
	return out ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_register(struct shmdev_stream *s, int device)
{
	(void)device;
	return s ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_unregister(struct shmdev_stream *s)
{
	return s ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_frame_ptr(struct shmdev_stream *s, const struct shmdev_frame *frame,
					uint64_t *dptr)
{
	return s && frame && dptr ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_upload(struct shmdev_stream *s, const struct shmdev_frame *frame,
				     uint64_t dst, size_t dst_size, void *cu_stream)
{
	(void)dst_size;
	(void)cu_stream;
	return s && frame && dst ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_cuda_drain(struct shmdev_stream *s, int64_t timeout_ns)
{
	(void)timeout_ns;
	return s ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_gpu_mirror_start(struct shmdev *dev, const char *name,
					  const struct shmdev_gpu_mirror_params *params,
					  struct shmdev_gpu_mirror **out)
{
	return dev && name && params && out ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT int shmdev_gpu_mirror_run(struct shmdev_gpu_mirror *m, int64_t timeout_ns)
{
	(void)m;
	(void)timeout_ns;
	return -EINVAL; /* no mirror can exist */
}

SHMDEV_EXPORT int shmdev_gpu_mirror_stats(struct shmdev_gpu_mirror *m,
					  struct shmdev_gpu_mirror_stats *out)
{
	(void)m;
	(void)out;
	return -EINVAL;
}

SHMDEV_EXPORT void shmdev_gpu_mirror_stop(struct shmdev_gpu_mirror *m)
{
	(void)m;
}

SHMDEV_EXPORT int shmdev_gpu_open(const char *name, int device, struct shmdev_gpu **out)
{
	(void)device;
	return name && out ? no_bridge() : -EINVAL;
}

SHMDEV_EXPORT void shmdev_gpu_close(struct shmdev_gpu *g)
{
	(void)g;
}

SHMDEV_EXPORT int shmdev_gpu_info(struct shmdev_gpu *g, struct shmdev_gpu_info *out)
{
	(void)g;
	(void)out;
	return -EINVAL;
}

SHMDEV_EXPORT int shmdev_gpu_acquire(struct shmdev_gpu *g, enum shmdev_mode mode,
				     int64_t timeout_ns, struct shmdev_gpu_frame *frame)
{
	(void)g;
	(void)mode;
	(void)timeout_ns;
	(void)frame;
	return -EINVAL;
}

SHMDEV_EXPORT int shmdev_gpu_wait(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame,
				  void *cu_stream)
{
	(void)g;
	(void)frame;
	(void)cu_stream;
	return -EINVAL;
}

SHMDEV_EXPORT int shmdev_gpu_release(struct shmdev_gpu *g, const struct shmdev_gpu_frame *frame)
{
	(void)g;
	(void)frame;
	return -EINVAL;
}
