// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CUDA bridge on a real GPU: every bridge test of tests/cuda against
 * the machine's libcuda.so.1, plus 1,000 frames copied byte-exact from the
 * registered ring and the upload bandwidth against cuMemcpyHtoD from a
 * plain pinned buffer. Every test SKIPs with its reason without a GPU.
 */
#define REAL_GPU
#include "../cuda/cuda_test.c"

/* 1,000 frames from the registered ring to the device, byte-exact. */
TEST_F(bridge, real_1000_frames)
{
	const uint32_t size = 1920 * 1080 * 3, n = 1000, ring = 8;
	struct shmdev_frame f;
	CUdeviceptr dst;
	CUstream st;
	uint8_t *buf;
	uint32_t i, bad = 0;

	NEED_DEV();
	pair(_metadata, self->dev, self->name, "g1000", ring, size, &self->p, &self->c);
	ASSERT_LT(0, shmdev_cuda_register(self->c, 0));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemAlloc(&dst, (size_t)size * ring));
	ASSERT_EQ(CUDA_SUCCESS, cu.StreamCreate(&st, CU_STREAM_NON_BLOCKING));
	buf = malloc(size);
	for (i = 1; i <= n; i++) {
		CUdeviceptr d = dst + (CUdeviceptr)(i % ring) * size;

		ASSERT_EQ(0, produce(self->p, i, SHMDEV_FOREVER));
		ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
		ASSERT_EQ(0, shmdev_cuda_upload(self->c, &f, d, size, st));
		ASSERT_EQ(CUDA_SUCCESS, cu.StreamSynchronize(st));
		ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, d, f.len));
		bad += !!shm_check(buf, f.len, i);
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, shmdev_cuda_drain(self->c, SHMDEV_FOREVER));
	EXPECT_EQ(0, holds(self->c));
	free(buf);
	cu.StreamDestroy(st);
	cu.MemFree(dst);
}

static double gbps(size_t bytes, float ms)
{
	return ms > 0 ? bytes / (ms * 1e6) : 0;
}

/* Figures: ring upload vs cuMemcpyHtoD from a plain pinned buffer. */
TEST_F(bridge, real_upload_bandwidth)
{
	const uint32_t size = 3840 * 2160 * 3, reps = 200;
	struct shmdev_frame f;
	CUevent t0, t1;
	CUdeviceptr dst;
	CUstream st;
	void *pinned;
	float ms_ring = 0, ms_plain = 0;
	uint32_t i;
	int mode;

	NEED_DEV();
	if (!cu.EventElapsedTime)
		SKIP(return, "the driver has no cuEventElapsedTime");
	pair(_metadata, self->dev, self->name, "gbw", 4, size, &self->p, &self->c);
	mode = shmdev_cuda_register(self->c, 0);
	ASSERT_LT(0, mode);
	ASSERT_EQ(CUDA_SUCCESS, cu.MemAlloc(&dst, size));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemAllocHost(&pinned, size));
	memset(pinned, 0x5a, size);
	ASSERT_EQ(CUDA_SUCCESS, cu.StreamCreate(&st, CU_STREAM_NON_BLOCKING));
	ASSERT_EQ(CUDA_SUCCESS, cu.EventCreate(&t0, 0));
	ASSERT_EQ(CUDA_SUCCESS, cu.EventCreate(&t1, 0));
	ASSERT_EQ(0, produce(self->p, 1, 0));
	ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, SEC, &f));
	/* One frame, uploaded again and again: the ring's bandwidth. */
	cu.EventRecord(t0, st);
	for (i = 0; i < reps; i++)
		cu.MemcpyHtoDAsync(dst, f.data, f.len, st);
	cu.EventRecord(t1, st);
	cu.EventSynchronize(t1);
	cu.EventElapsedTime(&ms_ring, t0, t1);
	ASSERT_EQ(0, shmdev_release(self->c, &f));
	cu.EventRecord(t0, st);
	for (i = 0; i < reps; i++)
		cu.MemcpyHtoDAsync(dst, pinned, size, st);
	cu.EventRecord(t1, st);
	cu.EventSynchronize(t1);
	cu.EventElapsedTime(&ms_plain, t0, t1);
	printf("# upload %u x %u bytes: registered ring (%s) %.2f GB/s, plain pinned buffer %.2f GB/s\n",
	       reps, size, mode == SHMDEV_CUDA_ZERO_COPY ? "zero copy" : "staged",
	       gbps((size_t)reps * f.len, ms_ring), gbps((size_t)reps * size, ms_plain));
	cu.EventDestroy(t0);
	cu.EventDestroy(t1);
	cu.StreamDestroy(st);
	cu.MemFreeHost(pinned);
	cu.MemFree(dst);
}
