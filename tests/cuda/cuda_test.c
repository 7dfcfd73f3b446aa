// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The libshmdev CUDA bridge against the module and a CUDA driver.
 *
 * One file, built for each lane (make cuda-tests):
 *  - cuda_test, cuda_test-asan (LANE_FAKE): the whole bridge against
 *    tests/cuda/fake_cuda.c as libcuda.so.1 (LD_LIBRARY_PATH);
 *  - cuda_test-nocuda (LANE_NOCUDA): no libcuda.so.1 anywhere: every bridge
 *    call is -ENOSYS and the rest of the library works;
 *  - cuda_test-stubs (LANE_STUBS): a library built without cuda.h, with the
 *    fake driver on the path all the same: the same -ENOSYS;
 *  - tests/gpu/gpu_test (REAL_GPU): the bridge tests on a real GPU, plus
 *    figures; they SKIP with the reason where the machine has none.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include <cuda.h>
#include <shmdev.h>

#include "../common.h"

#include "kselftest_harness.h"

#define DOC SHMSTREAM_CREATE_DESTROY_ON_CLOSE

static char self_exe[4096]; /* this binary, to exec a role */

struct fake_live {
	int contexts, registrations, device_allocs, host_allocs, ipc_mappings;
	int vmm_handles, reservations, events, streams;
	long copies;
};

/* The driver, for the test's own CUDA calls. */
static struct tcu {
	void *lib;
	void (*live)(struct fake_live *out);
	CUcontext ctx;
	CUdevice dev;
	__typeof__(cuInit) *Init;
	__typeof__(cuDeviceGet) *DeviceGet;
	__typeof__(cuDevicePrimaryCtxRetain) *Retain;
	__typeof__(cuDevicePrimaryCtxRelease) *Release;
	__typeof__(cuCtxPushCurrent) *Push;
	__typeof__(cuCtxPopCurrent) *Pop;
	__typeof__(cuMemAlloc) *MemAlloc;
	__typeof__(cuMemFree) *MemFree;
	__typeof__(cuMemAllocHost) *MemAllocHost;
	__typeof__(cuMemFreeHost) *MemFreeHost;
	__typeof__(cuMemcpyDtoH) *MemcpyDtoH;
	__typeof__(cuMemcpyHtoDAsync) *MemcpyHtoDAsync;
	__typeof__(cuMemHostRegister) *HostRegister;
	__typeof__(cuMemHostUnregister) *HostUnregister;
	__typeof__(cuStreamCreate) *StreamCreate;
	__typeof__(cuStreamDestroy) *StreamDestroy;
	__typeof__(cuStreamSynchronize) *StreamSynchronize;
	__typeof__(cuLaunchHostFunc) *LaunchHostFunc;
	__typeof__(cuEventCreate) *EventCreate;
	__typeof__(cuEventRecord) *EventRecord;
	__typeof__(cuEventSynchronize) *EventSynchronize;
	__typeof__(cuEventElapsedTime) *EventElapsedTime;
	__typeof__(cuEventDestroy) *EventDestroy;
} cu;

typedef CUresult (*getproc_fn)(const char *, void **, int, cuuint64_t,
			       CUdriverProcAddressQueryResult *);

/* Load the driver the bridge will load; 0, or why not in @why. */
static int __attribute__((unused)) tcu_load(const char **why)
{
	getproc_fn gp;
	bool ok = true;

	cu.lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!cu.lib) {
		*why = "no libcuda.so.1";
		return -1;
	}
	*(void **)&cu.live = dlsym(cu.lib, "fake_cuda_live");
	*(void **)&gp = dlsym(cu.lib, "cuGetProcAddress_v2");
	if (!gp) {
		*why = "libcuda.so.1 older than CUDA 12";
		return -1;
	}
#define GET(field, name) ok = ok && !gp(name, (void **)&cu.field, 12000, 0, NULL) && cu.field
	GET(Init, "cuInit");
	GET(DeviceGet, "cuDeviceGet");
	GET(Retain, "cuDevicePrimaryCtxRetain");
	GET(Release, "cuDevicePrimaryCtxRelease");
	GET(Push, "cuCtxPushCurrent");
	GET(Pop, "cuCtxPopCurrent");
	GET(MemAlloc, "cuMemAlloc");
	GET(MemFree, "cuMemFree");
	GET(MemAllocHost, "cuMemAllocHost");
	GET(MemFreeHost, "cuMemFreeHost");
	GET(MemcpyDtoH, "cuMemcpyDtoH");
	GET(MemcpyHtoDAsync, "cuMemcpyHtoDAsync");
	GET(HostRegister, "cuMemHostRegister");
	GET(HostUnregister, "cuMemHostUnregister");
	GET(StreamCreate, "cuStreamCreate");
	GET(StreamDestroy, "cuStreamDestroy");
	GET(StreamSynchronize, "cuStreamSynchronize");
	GET(LaunchHostFunc, "cuLaunchHostFunc");
	GET(EventCreate, "cuEventCreate");
	GET(EventRecord, "cuEventRecord");
	GET(EventSynchronize, "cuEventSynchronize");
	GET(EventDestroy, "cuEventDestroy");
#undef GET
	if (!ok) {
		*why = "libcuda.so.1 lacks a function the test needs";
		return -1;
	}
	if (!cu.live)
		gp("cuEventElapsedTime", (void **)&cu.EventElapsedTime, 12000, 0, NULL);
	if (cu.Init(0) || cu.DeviceGet(&cu.dev, 0)) {
		*why = "the CUDA driver sees no GPU";
		return -1;
	}
	if (cu.Retain(&cu.ctx, cu.dev) || cu.Push(cu.ctx)) {
		*why = "cannot make device 0's primary context current";
		return -1;
	}
	return 0;
}

static struct shmdev *dev_open(struct __test_metadata *_metadata)
{
	struct shmdev *dev = NULL;

	if (access(SHMDEV_DEFAULT_PATH, F_OK))
		return NULL;
	EXPECT_EQ(0, shmdev_open(&dev));
	return dev;
}

/* A producer (create) and a consumer of a fresh stream. */
static void pair(struct __test_metadata *_metadata, struct shmdev *dev, char *name,
		 const char *tag, uint32_t slots, uint32_t size, struct shmdev_stream **p,
		 struct shmdev_stream **c)
{
	struct shmdev_create_params cp = { .slot_count = slots, .slot_size = size, .flags = DOC };

	shm_name(name, tag);
	ASSERT_EQ(0, shmdev_create(dev, name, &cp, p));
	ASSERT_EQ(0, shmdev_open_consumer(dev, name, c));
}

static int produce(struct shmdev_stream *p, uint64_t tag, int64_t timeout_ns)
{
	struct shmdev_commit_params cp = { 0 };
	struct shmdev_slot slot;
	int ret = shmdev_begin(p, timeout_ns, &slot);

	if (ret)
		return ret;
	cp.bytes = shm_frame_len(tag, slot.size);
	shm_fill(slot.data, cp.bytes, tag);
	return shmdev_commit(p, &slot, &cp);
}

/* Every bridge call answers -ENOSYS; the rest of the library works. */
static void __attribute__((unused)) expect_enosys(struct __test_metadata *_metadata, const char *msg)
{
	struct shmdev_gpu_mirror_params mp = { 0 };
	struct shmdev_stream *p = NULL, *c = NULL;
	struct shmdev_gpu_mirror *m = NULL;
	struct shmdev_cuda_device info;
	struct shmdev_gpu *g = NULL;
	struct shmdev_frame f;
	struct shmdev *dev;
	uint64_t dptr;
	char name[SHMSTREAM_NAME_MAX];
	int v;

	EXPECT_EQ(-ENOSYS, shmdev_cuda_driver_version(&v));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), msg)) TH_LOG("errmsg: %s", shmdev_errmsg());
	EXPECT_EQ(-ENOSYS, shmdev_cuda_device_count(&v));
	EXPECT_EQ(-ENOSYS, shmdev_cuda_device_info(0, &info));
	EXPECT_EQ(-EINVAL, shmdev_cuda_device_count(NULL));
	EXPECT_EQ(-ENOSYS, shmdev_gpu_open("x", 0, &g));
	EXPECT_EQ(NULL, g);
	dev = dev_open(_metadata);
	if (!dev)
		SKIP(return, "%s missing: the stream calls are not checked", SHMDEV_DEFAULT_PATH);
	EXPECT_EQ(-ENOSYS, shmdev_gpu_mirror_start(dev, "x", &mp, &m));
	EXPECT_EQ(NULL, m);
	pair(_metadata, dev, name, "nocuda", 4, 4096, &p, &c);
	EXPECT_EQ(-ENOSYS, shmdev_cuda_register(c, 0));
	EXPECT_EQ(-ENOSYS, shmdev_cuda_unregister(c));
	EXPECT_EQ(-ENOSYS, shmdev_cuda_drain(c, 0));
	ASSERT_EQ(0, produce(p, 1, 0));
	ASSERT_EQ(0, shmdev_acquire(c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(0, shm_check(f.data, f.len, 1));
	EXPECT_EQ(-ENOSYS, shmdev_cuda_frame_ptr(c, &f, &dptr));
	EXPECT_EQ(-ENOSYS, shmdev_cuda_upload(c, &f, 4096, 4096, NULL));
	EXPECT_EQ(0, shmdev_release(c, &f));
	shmdev_stream_unref(c);
	shmdev_stream_unref(p);
	shmdev_unref(dev);
}

#ifdef LANE_NOCUDA
TEST(no_cuda_driver)
{
	if (dlopen("libcuda.so.1", RTLD_NOW))
		SKIP(return, "a CUDA driver is installed here");
	expect_enosys(_metadata, "no CUDA driver");
}
#endif

#ifdef LANE_STUBS
TEST(built_without_cuda_h)
{
	/* Whatever driver there is, the stubs do not look for it. */
	expect_enosys(_metadata, "built without the CUDA bridge");
}
#endif

#if defined(LANE_FAKE) || defined(REAL_GPU)
FIXTURE(bridge) {
	struct shmdev *dev;
	struct shmdev_stream *p, *c;
	char name[SHMSTREAM_NAME_MAX];
};

FIXTURE_SETUP(bridge)
{
	const char *why = NULL;

	self->dev = NULL;
	self->p = self->c = NULL;
#ifdef REAL_GPU
	if (tcu_load(&why))
		SKIP(return, "no GPU: %s", why);
	if (cu.live)
		SKIP(return, "libcuda.so.1 is the test's fake driver, not a GPU's");
#else
	ASSERT_EQ(0, tcu_load(&why)) TH_LOG("%s", why);
	ASSERT_NE(NULL, cu.live) TH_LOG("libcuda.so.1 is not the fake driver");
#endif
	self->dev = dev_open(_metadata);
}

/* A SKIP in the setup does not stop the test body in this harness. */
#define SETUP_OK()								\
	do {									\
		if (_metadata->skip)						\
			return;							\
	} while (0)

/* For tests that need streams. */
#define NEED_DEV()								\
	do {									\
		SETUP_OK();							\
		if (!self->dev)							\
			SKIP(return, "%s missing (module not loaded?)",	\
			     SHMDEV_DEFAULT_PATH);				\
	} while (0)

FIXTURE_TEARDOWN(bridge)
{
	struct fake_live l;

	if (_metadata->skip)
		return;
	shmdev_stream_unref(self->c);
	shmdev_stream_unref(self->p);
	shmdev_unref(self->dev);
	if (cu.live) {
		/* All the bridge took is back; the test holds one context. */
		cu.live(&l);
		EXPECT_EQ(1, l.contexts);
		EXPECT_EQ(0, l.registrations);
		EXPECT_EQ(0, l.host_allocs);
		EXPECT_EQ(0, l.ipc_mappings);
		EXPECT_EQ(0, l.vmm_handles);
		EXPECT_EQ(0, l.reservations);
		EXPECT_EQ(0, l.events);
		EXPECT_EQ(0, l.streams);
	}
	EXPECT_NOTHING_LEFT();
}

static uint32_t holds(struct shmdev_stream *c)
{
	struct shmstream_stats st;

	return shmdev_stream_stats(c, &st) ? ~0u : st.holds;
}

TEST_F(bridge, devices)
{
	struct shmdev_cuda_device d;
	int v = 0, n = 0;

	SETUP_OK();

	ASSERT_EQ(0, shmdev_cuda_driver_version(&v));
	EXPECT_LE(12000, v);
	ASSERT_EQ(0, shmdev_cuda_device_count(&n));
	EXPECT_LE(1, n);
	ASSERT_EQ(0, shmdev_cuda_device_info(0, &d));
	EXPECT_EQ(0, d.ordinal);
	EXPECT_NE(0, d.name[0]);
	EXPECT_LT(0, d.total_mem);
	EXPECT_NE(0, d.paths & SHMDEV_CUDA_IPC_LEGACY);
	TH_LOG("device 0: %s, cc %d.%d, paths 0x%x", d.name, d.cc_major, d.cc_minor, d.paths);
	if (cu.live)
		EXPECT_EQ(SHMDEV_CUDA_HOST_REGISTER | SHMDEV_CUDA_HOST_READONLY |
			  SHMDEV_CUDA_IPC_FD | SHMDEV_CUDA_IPC_LEGACY | SHMDEV_CUDA_IPC_EVENT,
			  d.paths);
	EXPECT_EQ(-ENODEV, shmdev_cuda_device_info(n, &d));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "no CUDA device"));
	EXPECT_EQ(-ENODEV, shmdev_cuda_device_info(-1, &d));
	EXPECT_EQ(-EINVAL, shmdev_cuda_device_info(0, NULL));
	EXPECT_EQ(-EINVAL, shmdev_cuda_driver_version(NULL));
}

/* Register, device pointers, idempotence, unregister, errors. */
TEST_F(bridge, register_ring)
{
	struct shmdev_frame f;
	uint8_t *buf;
	uint64_t dptr;
	int n;

	NEED_DEV();

	pair(_metadata, self->dev, self->name, "reg", 4, 65536, &self->p, &self->c);
	ASSERT_EQ(0, produce(self->p, 7, 0));
	ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(-ENOTCONN, shmdev_cuda_frame_ptr(self->c, &f, &dptr));
	EXPECT_EQ(-ENOTCONN, shmdev_cuda_upload(self->c, &f, 4096, f.len, NULL));
	EXPECT_EQ(-ENOTCONN, shmdev_cuda_drain(self->c, 0));
	EXPECT_EQ(-ENOENT, shmdev_cuda_unregister(self->c));
	EXPECT_EQ(-ENODEV, shmdev_cuda_register(self->c, 99));
	/* The consumer's read-only mapping registers read-only: zero copy. */
	ASSERT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->c, 0));
	EXPECT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->c, 0));
	/* One device per ring: the fake lanes run with two devices. */
	ASSERT_EQ(0, shmdev_cuda_device_count(&n));
	if (cu.live)
		EXPECT_EQ(2, n);
	if (n >= 2)
		EXPECT_EQ(-EBUSY, shmdev_cuda_register(self->c, 1));
	/* The producer's read-write mapping too. */
	EXPECT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->p, 0));
	ASSERT_EQ(0, shmdev_cuda_frame_ptr(self->c, &f, &dptr));
	buf = malloc(f.len);
	ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, dptr, f.len));
	EXPECT_EQ(0, shm_check(buf, f.len, 7)) TH_LOG("device view of the frame differs");
	free(buf);
	if (cu.live) {
		struct fake_live l;

		cu.live(&l);
		EXPECT_EQ(2, l.registrations);
		EXPECT_EQ(3, l.contexts);
	}
	f.slot++;
	EXPECT_EQ(-EINVAL, shmdev_cuda_frame_ptr(self->c, &f, &dptr));
	f.slot--;
	EXPECT_EQ(0, shmdev_cuda_unregister(self->p));
	EXPECT_EQ(0, shmdev_cuda_unregister(self->c));
	EXPECT_EQ(-ENOENT, shmdev_cuda_unregister(self->c));
	EXPECT_EQ(0, shmdev_release(self->c, &f));
	/* Registered at close: the handle's last unref unregisters. */
	EXPECT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->c, 0));
}

/* The application registered the ring itself first: still zero copy. */
TEST_F(bridge, already_registered)
{
	struct shmdev_frame f;
	struct shmstream_info in;
	uint64_t dptr;
	void *base;

	NEED_DEV();

	pair(_metadata, self->dev, self->name, "areg", 2, 8192, &self->p, &self->c);
	ASSERT_EQ(0, produce(self->p, 3, 0));
	ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
	ASSERT_EQ(0, shmdev_stream_info(self->c, &in));
	base = (uint8_t *)f.data - (size_t)f.slot * in.slot_stride;
	ASSERT_EQ(CUDA_SUCCESS, cu.HostRegister(base, (size_t)in.slot_count * in.slot_stride,
						CU_MEMHOSTREGISTER_DEVICEMAP |
						CU_MEMHOSTREGISTER_READ_ONLY));
	ASSERT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->c, 0));
	EXPECT_EQ(0, shmdev_cuda_frame_ptr(self->c, &f, &dptr));
	EXPECT_EQ(0, shmdev_cuda_unregister(self->c));
	/* Not ours to unregister: the application's registration stays. */
	EXPECT_EQ(CUDA_SUCCESS, cu.HostUnregister(base));
	EXPECT_EQ(0, shmdev_release(self->c, &f));
}

static sem_t gate;

static void CUDA_CB gate_fn(void *arg)
{
	(void)arg;
	sem_wait(&gate);
}

/*
 * Asynchronous uploads: the hold stays until the copy has run (a gate on
 * the stream keeps it from running), then every frame is byte-exact.
 */
TEST_F(bridge, upload_holds_until_copied)
{
	const uint32_t size = 65536, n = 200;
	struct shmdev_frame f;
	CUdeviceptr dst;
	CUstream st;
	uint8_t *buf;
	uint32_t i, bad = 0;

	NEED_DEV();

	pair(_metadata, self->dev, self->name, "upl", 8, size, &self->p, &self->c);
	ASSERT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->c, 0));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemAlloc(&dst, (size_t)size * n));
	ASSERT_EQ(CUDA_SUCCESS, cu.StreamCreate(&st, CU_STREAM_NON_BLOCKING));
	sem_init(&gate, 0, 0);
	ASSERT_EQ(CUDA_SUCCESS, cu.LaunchHostFunc(st, gate_fn, NULL));
	ASSERT_EQ(0, produce(self->p, 1, 0));
	ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(-EMSGSIZE, shmdev_cuda_upload(self->c, &f, dst, f.len - 1, st));
	EXPECT_EQ(-EPERM, shmdev_cuda_upload(self->p, &f, dst, size, st));
	ASSERT_EQ(0, shmdev_cuda_upload(self->c, &f, dst, size, st));
	usleep(20000);
	EXPECT_EQ(1, holds(self->c)) TH_LOG("released before the copy ran");
	EXPECT_EQ(-ETIMEDOUT, shmdev_cuda_drain(self->c, 0));
	EXPECT_EQ(-ETIMEDOUT, shmdev_cuda_drain(self->c, 10 * MS));
	sem_post(&gate);
	EXPECT_EQ(0, shmdev_cuda_drain(self->c, SHMDEV_FOREVER));
	EXPECT_EQ(0, holds(self->c));
	/* Many frames in order, each into its own place. */
	for (i = 2; i <= n; i++) {
		ASSERT_EQ(0, produce(self->p, i, SHMDEV_FOREVER));
		ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
		ASSERT_EQ(i, f.seq);
		ASSERT_EQ(0, shmdev_cuda_upload(self->c, &f, dst + (CUdeviceptr)(i - 1) * size,
						size, st));
		/* Holds are bounded: let the copies catch up now and then. */
		if (i % 4 == 0)
			ASSERT_EQ(0, shmdev_cuda_drain(self->c, SHMDEV_FOREVER));
	}
	ASSERT_EQ(CUDA_SUCCESS, cu.StreamSynchronize(st));
	ASSERT_EQ(0, shmdev_cuda_drain(self->c, SHMDEV_FOREVER));
	EXPECT_EQ(0, holds(self->c));
	buf = malloc((size_t)size * n);
	ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, dst, (size_t)size * n));
	for (i = 1; i <= n; i++)
		bad += !!shm_check(buf + (size_t)(i - 1) * size, shm_frame_len(i, size), i);
	EXPECT_EQ(0, bad);
	free(buf);
	cu.StreamDestroy(st);
	cu.MemFree(dst);
	sem_destroy(&gate);
}

/* A failed upload leaves the hold with the caller and nothing queued. */
TEST_F(bridge, upload_errors)
{
	struct shmdev_frame f, bad;
	static uint8_t not_device[4096];

	NEED_DEV();

	pair(_metadata, self->dev, self->name, "uerr", 4, 4096, &self->p, &self->c);
	ASSERT_EQ(0, shmdev_cuda_register(self->c, 0) > 0 ? 0 : -1);
	ASSERT_EQ(0, produce(self->p, 1, 0));
	ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(-EINVAL, shmdev_cuda_upload(self->c, &f, 0, 4096, NULL));
	EXPECT_EQ(-EINVAL, shmdev_cuda_upload(NULL, &f, 4096, 4096, NULL));
	bad = f;
	bad.slot = 4;
	EXPECT_EQ(-EINVAL, shmdev_cuda_upload(self->c, &bad, 4096, 4096, NULL));
	bad = f;
	bad.data = not_device;
	EXPECT_EQ(-EINVAL, shmdev_cuda_upload(self->c, &bad, 4096, 4096, NULL));
	if (cu.live) {
		/* Host memory that is no device allocation: the driver says no. */
		EXPECT_EQ(-EINVAL, shmdev_cuda_upload(self->c, &f, (uintptr_t)not_device,
						      sizeof(not_device), NULL));
		EXPECT_NE(NULL, strstr(shmdev_errmsg(), "CUDA_ERROR_INVALID_VALUE"));
	}
	EXPECT_EQ(1, holds(self->c));
	EXPECT_EQ(0, shmdev_release(self->c, &f));
	EXPECT_EQ(0, holds(self->c));
}

#ifndef REAL_GPU
/* No read-only registration: frames go through pinned staging buffers. */
TEST_F(bridge, staged_fallback)
{
	const uint32_t size = 16384;
	struct shmdev_frame f;
	CUdeviceptr dst;
	uint64_t dptr;
	uint8_t *buf;
	uint32_t i, bad = 0;

	NEED_DEV();

	setenv("FAKE_CUDA_NO_READONLY", "1", 1);
	pair(_metadata, self->dev, self->name, "stg", 4, size, &self->p, &self->c);
	ASSERT_EQ(SHMDEV_CUDA_STAGED, shmdev_cuda_register(self->c, 0));
	/* The producer's mapping is writable: it still registers. */
	EXPECT_EQ(SHMDEV_CUDA_ZERO_COPY, shmdev_cuda_register(self->p, 0));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemAlloc(&dst, (size_t)size * 50));
	for (i = 1; i <= 50; i++) {
		ASSERT_EQ(0, produce(self->p, i, SHMDEV_FOREVER));
		ASSERT_EQ(0, shmdev_acquire(self->c, SHMDEV_NEXT, 0, &f));
		if (i == 1)
			EXPECT_EQ(-EOPNOTSUPP, shmdev_cuda_frame_ptr(self->c, &f, &dptr));
		ASSERT_EQ(0, shmdev_cuda_upload(self->c, &f, dst + (CUdeviceptr)(i - 1) * size,
						size, NULL));
		/* The bytes left the ring at once: so did the hold. */
		ASSERT_EQ(0, holds(self->c));
	}
	EXPECT_EQ(0, shmdev_cuda_drain(self->c, SHMDEV_FOREVER));
	buf = malloc((size_t)size * 50);
	ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, dst, (size_t)size * 50));
	for (i = 1; i <= 50; i++)
		bad += !!shm_check(buf + (size_t)(i - 1) * size, shm_frame_len(i, size), i);
	EXPECT_EQ(0, bad);
	free(buf);
	cu.MemFree(dst);
}

/* Where the driver cannot register at all, producers stage too. */
TEST_F(bridge, no_registration)
{
	NEED_DEV();
	setenv("FAKE_CUDA_NO_REGISTER", "1", 1);
	pair(_metadata, self->dev, self->name, "noreg", 2, 4096, &self->p, &self->c);
	EXPECT_EQ(SHMDEV_CUDA_STAGED, shmdev_cuda_register(self->p, 0));
	EXPECT_EQ(SHMDEV_CUDA_STAGED, shmdev_cuda_register(self->c, 0));
}

/* A driver without a function the bridge needs is no driver: -ENOSYS. */
TEST_F(bridge, driver_lacks_a_function)
{
	int n;

	SETUP_OK();

	setenv("FAKE_CUDA_MISSING", "cuMemCreate", 1);
	EXPECT_EQ(-ENOSYS, shmdev_cuda_device_count(&n));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "lacks cuMemCreate"));
	unsetenv("FAKE_CUDA_MISSING");
}

/* A driver with no device: -ENODEV, said why. */
TEST(fake_without_gpu)
{
	struct shmdev_gpu *g = NULL;
	int n;

	setenv("FAKE_CUDA_DEVICES", "0", 1);
	EXPECT_EQ(-ENODEV, shmdev_cuda_device_count(&n));
	EXPECT_NE(NULL, strstr(shmdev_errmsg(), "no GPU"));
	EXPECT_EQ(-ENODEV, shmdev_gpu_open("x", 0, &g));
}
#endif

/*
 * Mirror: the bridge and the GPU consumers are separate processes, each
 * exec'd afresh (CUDA does not survive fork): this binary with a role.
 */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		execv(self_exe, argv);
		_exit(127);
	}
	return pid;
}

static pid_t start_mirror(const char *name, uint32_t slots, uint32_t flags)
{
	char s[16], f[16];

	snprintf(s, sizeof(s), "%u", slots);
	snprintf(f, sizeof(f), "%u", flags);
	return spawn((char *const[]){ self_exe, "--mirror", (char *)name, s, f, NULL });
}

/* Role --mirror NAME SLOTS FLAGS: run until the stream is gone. */
static int role_mirror(char **argv)
{
	struct shmdev_gpu_mirror_params mp = {
		.device = 0, .slot_count = atoi(argv[1]), .flags = atoi(argv[2]),
	};
	struct shmdev_gpu_mirror_stats st;
	struct shmdev_gpu_mirror *m;
	struct shmdev *dev;
	const char *why;
	int ret;

	if (tcu_load(&why) || shmdev_open(&dev) ||
	    shmdev_gpu_mirror_start(dev, argv[0], &mp, &m)) {
		fprintf(stderr, "# mirror: %s\n", shmdev_errmsg());
		return 2;
	}
	do
		ret = shmdev_gpu_mirror_run(m, SHMDEV_FOREVER);
	while (ret >= 0);
	shmdev_gpu_mirror_stats(m, &st);
	fprintf(stderr, "# mirror: %llu frames, %llu dropped, %llu host missed, host mode %u, paths 0x%x\n",
		(unsigned long long)st.frames, (unsigned long long)st.dropped,
		(unsigned long long)st.host_missed, st.host_mode, st.paths);
	shmdev_gpu_mirror_stop(m);
	shmdev_unref(dev);
	if (cu.live) {
		struct fake_live l;

		cu.live(&l);
		/* Only this process's own test context is left. */
		if (l.contexts != 1 || l.registrations || l.device_allocs || l.host_allocs ||
		    l.vmm_handles || l.reservations || l.events || l.streams) {
			fprintf(stderr, "# mirror leaked driver objects\n");
			return 3;
		}
	}
	return ret == -EIDRM ? 0 : 1;
}

/* The bridge publishes once it has started: a slow machine only delays it. */
static int open_gpu(const char *name, struct shmdev_gpu **g)
{
	int64_t end = shm_now_ns() + SHM_PATIENCE;
	int ret;

	while ((ret = shmdev_gpu_open(name, 0, g)) == -ENOENT && shm_now_ns() < end)
		usleep(10000);
	return ret;
}

/*
 * The bridge (the stream's one host consumer) has read every frame up to
 * @seq and holds none: 1, 0 not yet, -1 where debugfs does not say.
 */
static int bridge_caught_up(const char *name, uint64_t seq)
{
	unsigned long long cursor, taken, missed;
	char line[256];
	size_t len = strlen(name);
	unsigned int h;
	int ours = 0, ret = -1;
	FILE *f = fopen("/sys/kernel/debug/shmstream/streams", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] != ' ')
			ours = !strncmp(line, name, len) && line[len] == ' ';
		else if (ours && sscanf(line, "  consumer cursor=%llu taken=%llu missed=%llu holds=%u",
					&cursor, &taken, &missed, &h) == 4)
			ret = cursor >= seq && !h;
	}
	fclose(f);
	return ret;
}

/*
 * Role --consumer NAME MAPPED TOTAL READY_FD: every frame it takes is
 * byte-exact on the device, in order; frames taken + missed account for
 * every frame after its first. Exit status: 0 good, 1 integrity, 2 setup.
 */
static int role_consumer(char **argv)
{
	const char *name = argv[0], *why;
	uint32_t expect_map = atoi(argv[1]);
	uint64_t total = atoi(argv[2]);
	int ready = atoi(argv[3]);
	struct shmdev_gpu_frame f;
	struct shmdev_gpu_info gi;
	struct shmdev_gpu *g;
	uint64_t first = 0, last = 0, taken = 0, missed = 0;
	uint8_t *buf;
	int ret, bad = 0;

	if (tcu_load(&why) || open_gpu(name, &g)) {
		fprintf(stderr, "# consumer: %s\n", shmdev_errmsg());
		return 2;
	}
	if (shmdev_gpu_info(g, &gi) || gi.mapped != expect_map) {
		fprintf(stderr, "# consumer: mapped 0x%x, expected 0x%x\n", gi.mapped, expect_map);
		return 2;
	}
	if (write(ready, "r", 1) != 1)
		return 2;
	close(ready);
	buf = malloc(gi.slot_size);
	/* A frame or the end certainly comes: a slow machine only delays it. */
	while ((ret = shmdev_gpu_acquire(g, SHMDEV_NEXT, SHM_PATIENCE, &f)) == 0) {
		if (shmdev_gpu_wait(g, &f, NULL) || cu.MemcpyDtoH(buf, f.dptr, f.len) ||
		    shm_check(buf, f.len, f.seq) || f.len != shm_frame_len(f.seq, gi.slot_size) ||
		    f.seq <= last)
			bad++;
		if (!first)
			first = f.seq;
		else
			missed += f.missed;
		last = f.seq;
		taken++;
		if (shmdev_gpu_release(g, &f))
			bad++;
	}
	fprintf(stderr, "# consumer: %llu taken, %llu missed, first %llu, last %llu, %d bad, end %d\n",
		(unsigned long long)taken, (unsigned long long)missed,
		(unsigned long long)first, (unsigned long long)last, bad, ret);
	free(buf);
	shmdev_gpu_close(g);
	if (ret != -EIDRM || !taken || bad || last != total || taken + missed != last - first + 1)
		return 1;
	return 0;
}

/* Role --hold-and-die NAME: take a frame and get killed holding it. */
static int role_hold_and_die(char **argv)
{
	struct shmdev_gpu_frame f;
	struct shmdev_gpu *g;
	const char *why;

	if (tcu_load(&why) || open_gpu(argv[0], &g) ||
	    shmdev_gpu_acquire(g, SHMDEV_LATEST, SHM_PATIENCE, &f))
		return 2;
	kill(getpid(), SIGKILL);
	return 1;
}

static void mirror_two_consumers(struct __test_metadata *_metadata,
				 FIXTURE_DATA(bridge) *self, uint32_t flags, uint32_t expect_map)
{
	const uint32_t total = 300, size = 1 << 20;
	struct shmdev_create_params cp = { .slot_count = 4, .slot_size = size };
	char map[16], tot[16], fd[16], c;
	pid_t mirror, cons[2];
	int i, status, ready[2];

	NEED_DEV();
	ASSERT_EQ(0, pipe(ready));
	shm_name(self->name, flags ? "mirl" : "mir");
	ASSERT_EQ(0, shmdev_create(self->dev, self->name, &cp, &self->p));
	mirror = start_mirror(self->name, 4, flags);
	snprintf(map, sizeof(map), "%u", expect_map);
	snprintf(tot, sizeof(tot), "%u", total);
	snprintf(fd, sizeof(fd), "%d", ready[1]);
	for (i = 0; i < 2; i++)
		cons[i] = spawn((char *const[]){ self_exe, "--consumer", self->name, map, tot, fd,
						 NULL });
	close(ready[1]);
	/* Both consumers are connected before the first frame. */
	for (i = 0; i < 2; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	for (i = 1; i <= (int)total; i++) {
		ASSERT_EQ(0, produce(self->p, i, SHM_PATIENCE));
		if (i % 16 == 0)
			usleep(2000); /* a camera's pace, roughly */
	}
	ASSERT_EQ(0, shmdev_destroy(self->dev, self->name));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(cons[i], waitpid(cons[i], &status, 0));
		EXPECT_EQ(0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))
			TH_LOG("consumer %d", i);
	}
	shmdev_stream_unref(self->p);
	self->p = NULL;
	ASSERT_EQ(mirror, waitpid(mirror, &status, 0));
	EXPECT_EQ(0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Three processes and 300 MiB checked: more than 30 s on a loaded TCG guest. */
TEST_F_TIMEOUT(bridge, mirror_fd_two_consumers, 300)
{
	mirror_two_consumers(_metadata, self, 0, SHMDEV_CUDA_IPC_FD);
}

TEST_F_TIMEOUT(bridge, mirror_legacy_two_consumers, 300)
{
	mirror_two_consumers(_metadata, self, SHMDEV_GPU_NO_FD, SHMDEV_CUDA_IPC_LEGACY);
}

/*
 * The bridge never rewrites a held device slot; with every slot held or
 * newest it drops frames; a consumer that dies loses its holds.
 */
TEST_F_TIMEOUT(bridge, mirror_respects_holds, 300)
{
	const uint32_t size = 8192;
	struct shmdev_create_params cp = { .slot_count = 4, .slot_size = size };
	struct shmdev_gpu_frame f, f2;
	struct shmdev_gpu_info gi;
	struct shmdev_gpu *g;
	uint8_t buf[8192];
	pid_t mirror, child;
	int i, status;

	NEED_DEV();

	shm_name(self->name, "mirh");
	ASSERT_EQ(0, shmdev_create(self->dev, self->name, &cp, &self->p));
	mirror = start_mirror(self->name, 2, 0);
	ASSERT_EQ(0, open_gpu(self->name, &g));
	ASSERT_EQ(0, shmdev_gpu_info(g, &gi));
	EXPECT_EQ(2, gi.slot_count);
	EXPECT_EQ(size, gi.slot_size);
	EXPECT_EQ(SHMDEV_CUDA_IPC_FD | SHMDEV_CUDA_IPC_LEGACY | SHMDEV_CUDA_IPC_EVENT, gi.paths);
	EXPECT_EQ(-EAGAIN, shmdev_gpu_acquire(g, SHMDEV_NEXT, 0, &f));
	EXPECT_EQ(-ETIMEDOUT, shmdev_gpu_acquire(g, SHMDEV_NEXT, 20 * MS, &f));
	EXPECT_EQ(-EINVAL, shmdev_gpu_acquire(g, 7, 0, &f));
	ASSERT_EQ(0, produce(self->p, 1, 0));
	ASSERT_EQ(0, shmdev_gpu_acquire(g, SHMDEV_NEXT, SHM_PATIENCE, &f));
	EXPECT_EQ(1, f.seq);
	/* One hold of two slots is all a consumer may have. */
	ASSERT_EQ(0, produce(self->p, 2, 0));
	for (int64_t end = shm_now_ns() + SHM_PATIENCE;
	     (status = shmdev_gpu_acquire(g, SHMDEV_NEXT, 0, &f2)) == -EAGAIN &&
	     shm_now_ns() < end;)
		usleep(10000); /* until the bridge has mirrored frame 2 */
	EXPECT_EQ(-ENOBUFS, status);
	/* Slot of 1 held, slot of 2 newest: frames 3..40 are dropped. */
	for (i = 3; i <= 40; i++)
		ASSERT_EQ(0, produce(self->p, i, SHMDEV_FOREVER));
	/* Once the bridge has been through them all (while 1 is held). */
	{
		int64_t end = shm_now_ns() + SHM_PATIENCE;
		int up;

		while (!(up = bridge_caught_up(self->name, 40)) && shm_now_ns() < end)
			usleep(1000);
		if (up < 0)
			usleep(200000); /* no debugfs to ask: give it a while */
		else
			EXPECT_EQ(1, up) TH_LOG("the bridge did not read frames 3..40");
	}
	EXPECT_EQ(0, shmdev_gpu_wait(g, &f, NULL));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, f.dptr, f.len));
	EXPECT_EQ(0, shm_check(buf, f.len, 1)) TH_LOG("held slot was rewritten");
	EXPECT_EQ(-EINVAL, shmdev_gpu_release(g, &(struct shmdev_gpu_frame){ .slot = 9 }));
	ASSERT_EQ(0, shmdev_gpu_release(g, &f));
	EXPECT_EQ(-EINVAL, shmdev_gpu_release(g, &f));
	/* Mirroring resumes: the next frame comes through intact. */
	ASSERT_EQ(0, produce(self->p, 41, 0));
	ASSERT_EQ(0, shmdev_gpu_acquire(g, SHMDEV_LATEST, SHM_PATIENCE, &f));
	if (f.seq == 2) {
		shmdev_gpu_release(g, &f);
		ASSERT_EQ(0, shmdev_gpu_acquire(g, SHMDEV_LATEST, SHM_PATIENCE, &f));
	}
	EXPECT_EQ(41, f.seq);
	EXPECT_LT(0, f.missed);
	EXPECT_EQ(0, shmdev_gpu_wait(g, &f, NULL));
	ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, f.dptr, f.len));
	EXPECT_EQ(0, shm_check(buf, f.len, 41));
	ASSERT_EQ(0, shmdev_gpu_release(g, &f));

	/* A consumer killed while holding: the bridge takes its holds back. */
	child = spawn((char *const[]){ self_exe, "--hold-and-die", self->name, NULL });
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("exit status %d", WEXITSTATUS(status));
	for (i = 42; i <= 60; i++) {
		ASSERT_EQ(0, produce(self->p, i, SHMDEV_FOREVER));
		ASSERT_EQ(0, shmdev_gpu_acquire(g, SHMDEV_LATEST, SHM_PATIENCE, &f));
		EXPECT_EQ(0, shmdev_gpu_wait(g, &f, NULL));
		ASSERT_EQ(CUDA_SUCCESS, cu.MemcpyDtoH(buf, f.dptr, f.len));
		EXPECT_EQ(0, shm_check(buf, f.len, f.seq));
		ASSERT_EQ(0, shmdev_gpu_release(g, &f));
	}
	EXPECT_EQ(60, f.seq) TH_LOG("frames stopped: the dead consumer's hold stayed");
	shmdev_gpu_close(g);
	/* A second bridge for the same stream and device is refused. */
	{
		struct shmdev_gpu_mirror_params mp = { .device = 0 };
		struct shmdev_gpu_mirror *m2 = NULL;

		EXPECT_EQ(-EADDRINUSE, shmdev_gpu_mirror_start(self->dev, self->name, &mp, &m2));
		mp.slot_count = 1;
		EXPECT_EQ(-EINVAL, shmdev_gpu_mirror_start(self->dev, self->name, &mp, &m2));
	}
	ASSERT_EQ(0, shmdev_destroy(self->dev, self->name));
	shmdev_stream_unref(self->p);
	self->p = NULL;
	ASSERT_EQ(mirror, waitpid(mirror, &status, 0));
	EXPECT_EQ(0, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	EXPECT_EQ(-ENOENT, shmdev_gpu_open(self->name, 0, &g));
}

#endif /* LANE_FAKE || REAL_GPU */

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n <= 0)
		return 2;
	self_exe[n] = 0;
#if defined(LANE_FAKE) || defined(REAL_GPU)
	if (argc == 5 && !strcmp(argv[1], "--mirror"))
		return role_mirror(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "--consumer"))
		return role_consumer(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "--hold-and-die"))
		return role_hold_and_die(argv + 2);
#endif
	return test_harness_run(argc, argv);
}
