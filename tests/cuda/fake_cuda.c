// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A FAKE CUDA driver for tests: libcuda.so.1 look-alike that implements,
 * over host memory, just the driver API calls the libshmdev bridge and its
 * tests use. "Device memory" is memfd-backed host memory whose device
 * pointer is its address; streams are worker threads that run their
 * operations in order; events are counters in a shared page, so
 * interprocess handles (memory and events) work across processes through
 * /proc/PID/fd. It checks what a real driver checks where the bridge could
 * get it wrong: a current context, device pointers that belong to an
 * allocation, access rights of mappings, registration overlaps.
 *
 * Knobs (environment; FAKE_CUDA_DEVICES is read by cuInit, the others at
 * each use, so a test may set them after initialising):
 *   FAKE_CUDA_DEVICES=N      devices (default 1; 0: CUDA_ERROR_NO_DEVICE)
 *   FAKE_CUDA_NO_READONLY=1  no CU_MEMHOSTREGISTER_READ_ONLY support
 *   FAKE_CUDA_NO_REGISTER=1  no host registration at all
 *   FAKE_CUDA_NO_VMM=1       no cuMemCreate / POSIX fd export
 *   FAKE_CUDA_COPY_US=N      every copy takes N more microseconds
 *   FAKE_CUDA_MISSING=name   cuGetProcAddress does not know this function
 * fake_cuda_live() (not a CUDA call) counts what is still allocated.
 */
#include <cuda.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define GRAN (2UL << 20)
#define MAX_RANGES 1024
#define FAKE_MAGIC 0x46414b45u /* "FAKE" */

struct fake_live {
	int contexts; /* primary context retains */
	int registrations;
	int device_allocs;
	int host_allocs;
	int ipc_mappings;
	int vmm_handles;
	int reservations;
	int events;
	int streams;
	long copies;
};

static struct {
	bool init;
	int devices;
} cfg;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_live live;
static int ctx_refs[16];
static __thread int ctx_stack[8], ctx_depth;

enum kind { DEV_ALLOC = 1, DEV_IPC, VMM_RES, HOST_REG, HOST_ALLOC };

struct range {
	enum kind kind;
	uintptr_t base;
	size_t size;
	int fd; /* DEV_ALLOC: the memfd behind it */
	bool mapped; /* VMM_RES: cuMemMap done */
	int prot; /* VMM_RES: from cuMemSetAccess; HOST_REG: PROT_READ or both */
	bool devmap; /* HOST_REG: CU_MEMHOSTREGISTER_DEVICEMAP */
};

static struct range ranges[MAX_RANGES];

struct vmm {
	int fd;
	size_t size;
	bool exportable; /* POSIX fd requested at cuMemCreate */
};

struct shared_ev {
	_Atomic uint32_t recorded;
	_Atomic uint32_t completed;
};

struct CUevent_st {
	struct shared_ev *sh;
	int fd; /* interprocess: the memfd, else -1 */
	bool opened; /* from an IPC handle */
};

struct ipc_wire {
	uint32_t magic;
	pid_t pid;
	int fd;
	uint64_t size;
};

enum op_kind { OP_COPY, OP_HOST, OP_RECORD, OP_WAIT };

struct op {
	enum op_kind kind;
	void *dst;
	const void *src;
	size_t n;
	CUhostFn fn;
	void *data;
	struct CUevent_st *ev;
	uint32_t value;
	struct op *next;
};

struct CUstream_st {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct op *head, *tail;
	bool busy, stop;
};

static int envnum(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

#define NO_READONLY envnum("FAKE_CUDA_NO_READONLY", 0)
#define NO_REGISTER envnum("FAKE_CUDA_NO_REGISTER", 0)
#define NO_VMM envnum("FAKE_CUDA_NO_VMM", 0)

#define NEED_INIT()                                                        \
	do {                                                               \
		if (!cfg.init)                                             \
			return CUDA_ERROR_NOT_INITIALIZED;                 \
	} while (0)
#define NEED_CTX()                                                         \
	do {                                                               \
		NEED_INIT();                                               \
		if (!ctx_depth)                                            \
			return CUDA_ERROR_INVALID_CONTEXT;                 \
	} while (0)

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void ev_wait(struct shared_ev *sh, uint32_t target)
{
	uint32_t c;

	while ((int32_t)((c = atomic_load(&sh->completed)) - target) < 0)
		syscall(SYS_futex, &sh->completed, FUTEX_WAIT, c, NULL, NULL, 0);
}

static void ev_complete(struct shared_ev *sh, uint32_t v)
{
	uint32_t c = atomic_load(&sh->completed);

	while ((int32_t)(v - c) > 0 && !atomic_compare_exchange_weak(&sh->completed, &c, v))
		;
	futex_wake(&sh->completed);
}

/* ranges[], under lock */
static struct range *range_find(uintptr_t p, size_t n)
{
	int i;

	for (i = 0; i < MAX_RANGES; i++)
		if (ranges[i].kind && p >= ranges[i].base &&
		    p + n <= ranges[i].base + ranges[i].size && p + n >= p)
			return &ranges[i];
	return NULL;
}

static struct range *range_add(enum kind k, uintptr_t base, size_t size)
{
	int i;

	for (i = 0; i < MAX_RANGES; i++)
		if (!ranges[i].kind) {
			ranges[i] = (struct range){ .kind = k, .base = base, .size = size, .fd = -1 };
			return &ranges[i];
		}
	return NULL;
}

/* May the device touch [p, p+n) (write: store into it)? */
static bool dev_ok(uintptr_t p, size_t n, bool write)
{
	struct range *r;
	bool ok = false;

	pthread_mutex_lock(&lock);
	r = range_find(p, n);
	if (r) {
		switch (r->kind) {
		case DEV_ALLOC:
		case DEV_IPC:
			ok = true;
			break;
		case VMM_RES:
			ok = r->mapped && (r->prot & (write ? PROT_WRITE : PROT_READ));
			break;
		case HOST_REG:
			ok = r->devmap && (!write || (r->prot & PROT_WRITE));
			break;
		case HOST_ALLOC:
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

static void do_copy(void *dst, const void *src, size_t n)
{
	int us = envnum("FAKE_CUDA_COPY_US", 0);

	if (us > 0)
		usleep(us);
	memcpy(dst, src, n);
	pthread_mutex_lock(&lock);
	live.copies++;
	pthread_mutex_unlock(&lock);
}

static void run_op(struct op *o)
{
	switch (o->kind) {
	case OP_COPY:
		do_copy(o->dst, o->src, o->n);
		break;
	case OP_HOST:
		o->fn(o->data);
		break;
	case OP_RECORD:
		ev_complete(o->ev->sh, o->value);
		break;
	case OP_WAIT:
		ev_wait(o->ev->sh, o->value);
		break;
	}
}

static void *stream_main(void *arg)
{
	struct CUstream_st *s = arg;
	struct op *o;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		if (!s->head)
			break;
		o = s->head;
		s->head = o->next;
		if (!s->head)
			s->tail = NULL;
		s->busy = true;
		pthread_mutex_unlock(&s->lock);
		run_op(o);
		free(o);
		pthread_mutex_lock(&s->lock);
		s->busy = false;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Queue @o on @s, or run it now on the (synchronous) default stream. */
static CUresult submit(CUstream s, struct op o)
{
	struct op *n;

	if (!s) {
		run_op(&o);
		return CUDA_SUCCESS;
	}
	n = malloc(sizeof(*n));
	if (!n)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*n = o;
	n->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = n;
	else
		s->head = n;
	s->tail = n;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}


static CUresult f_cuInit(unsigned int flags)
{
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	cfg.devices = envnum("FAKE_CUDA_DEVICES", 1);
	if (cfg.devices > 16)
		cfg.devices = 16;
	if (cfg.devices <= 0)
		return CUDA_ERROR_NO_DEVICE;
	cfg.init = true;
	return CUDA_SUCCESS;
}

static CUresult f_cuDriverGetVersion(int *v)
{
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	*v = 12080;
	return CUDA_SUCCESS;
}

static const struct {
	CUresult r;
	const char *name, *text;
} errs[] = {
	{ CUDA_SUCCESS, "CUDA_SUCCESS", "no error" },
	{ CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
	{ CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
	{ CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error" },
	{ CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected" },
	{ CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal" },
	{ CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context" },
	{ CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready" },
	{ CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported" },
	{ CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found" },
	{ CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
	  "part or all of the requested memory range is already mapped" },
	{ CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	  "pointer does not correspond to a registered memory region" },
	{ CUDA_ERROR_MAP_FAILED, "CUDA_ERROR_MAP_FAILED", "mapping of buffer object failed" },
};

static CUresult f_cuGetErrorName(CUresult r, const char **s)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].r == r) {
			*s = errs[i].name;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

static CUresult f_cuGetErrorString(CUresult r, const char **s)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].r == r) {
			*s = errs[i].text;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

static CUresult f_cuDeviceGetCount(int *n)
{
	NEED_INIT();
	*n = cfg.devices;
	return CUDA_SUCCESS;
}

static CUresult f_cuDeviceGet(CUdevice *d, int ordinal)
{
	NEED_INIT();
	if (ordinal < 0 || ordinal >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	*d = ordinal;
	return CUDA_SUCCESS;
}

static CUresult f_cuDeviceGetName(char *name, int len, CUdevice d)
{
	NEED_INIT();
	if (d < 0 || d >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	snprintf(name, len, "shmstream FAKE CUDA device %d", d);
	return CUDA_SUCCESS;
}

static CUresult f_cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d)
{
	NEED_INIT();
	if (d < 0 || d >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
		*v = 9;
		break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
		*v = 0;
		break;
	case CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY:
	case CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED:
		*v = !NO_REGISTER;
		break;
	case CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED:
		*v = !NO_REGISTER && !NO_READONLY;
		break;
	case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
	case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED:
		*v = !NO_VMM;
		break;
	case CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED:
		*v = 1;
		break;
	default:
		*v = 0;
		break;
	}
	return CUDA_SUCCESS;
}

static CUresult f_cuDeviceTotalMem(size_t *bytes, CUdevice d)
{
	NEED_INIT();
	if (d < 0 || d >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	*bytes = 16UL << 30;
	return CUDA_SUCCESS;
}

/* A context is its device ordinal + 1, as a pointer. */
static CUresult f_cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
	NEED_INIT();
	if (d < 0 || d >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&lock);
	ctx_refs[d]++;
	live.contexts++;
	pthread_mutex_unlock(&lock);
	*ctx = (CUcontext)(uintptr_t)(d + 1);
	return CUDA_SUCCESS;
}

static CUresult f_cuDevicePrimaryCtxRelease(CUdevice d)
{
	CUresult r = CUDA_SUCCESS;

	NEED_INIT();
	if (d < 0 || d >= cfg.devices)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&lock);
	if (ctx_refs[d] > 0) {
		ctx_refs[d]--;
		live.contexts--;
	} else {
		r = CUDA_ERROR_INVALID_CONTEXT;
	}
	pthread_mutex_unlock(&lock);
	return r;
}

static CUresult f_cuCtxPushCurrent(CUcontext ctx)
{
	int d = (int)(uintptr_t)ctx - 1;

	NEED_INIT();
	if (d < 0 || d >= cfg.devices || !ctx_refs[d] || ctx_depth == 8)
		return CUDA_ERROR_INVALID_CONTEXT;
	ctx_stack[ctx_depth++] = d;
	return CUDA_SUCCESS;
}

static CUresult f_cuCtxPopCurrent(CUcontext *ctx)
{
	NEED_CTX();
	ctx_depth--;
	if (ctx)
		*ctx = (CUcontext)(uintptr_t)(ctx_stack[ctx_depth] + 1);
	return CUDA_SUCCESS;
}

/* Is all of [p, p+n) mapped, and writable when @write? (/proc/self/maps) */
static bool host_mapped(uintptr_t p, size_t n, bool write)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long lo, hi;
	uintptr_t at = p;
	char perms[8];
	char line[512];

	if (!f)
		return false;
	while (at < p + n && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if (at >= lo && at < hi) {
			if (perms[0] != 'r' || (write && perms[1] != 'w'))
				break;
			at = hi;
		}
	}
	fclose(f);
	return at >= p + n;
}

static CUresult f_cuMemHostRegister(void *p, size_t n, unsigned int flags)
{
	uintptr_t a = (uintptr_t)p;
	bool ro = flags & CU_MEMHOSTREGISTER_READ_ONLY;
	struct range *r;
	int i;

	NEED_CTX();
	if (NO_REGISTER)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (ro && NO_READONLY)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!p || !n || (flags & ~0xfu))
		return CUDA_ERROR_INVALID_VALUE;
	/* This fake's choice for a read-only mapping without READ_ONLY. */
	if (!host_mapped(a, n, !ro))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	for (i = 0; i < MAX_RANGES; i++) {
		r = &ranges[i];
		if ((r->kind == HOST_REG || r->kind == HOST_ALLOC) && a < r->base + r->size &&
		    r->base < a + n) {
			pthread_mutex_unlock(&lock);
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
		}
	}
	r = range_add(HOST_REG, a, n);
	if (r) {
		r->prot = ro ? PROT_READ : PROT_READ | PROT_WRITE;
		r->devmap = flags & CU_MEMHOSTREGISTER_DEVICEMAP;
		live.registrations++;
	}
	pthread_mutex_unlock(&lock);
	return r ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult f_cuMemHostUnregister(void *p)
{
	struct range *r;
	CUresult ret = CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;

	NEED_CTX();
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)p, 1);
	if (r && r->kind == HOST_REG && r->base == (uintptr_t)p) {
		r->kind = 0;
		live.registrations--;
		ret = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

static CUresult f_cuMemHostGetDevicePointer(CUdeviceptr *d, void *p, unsigned int flags)
{
	struct range *r;
	bool ok;

	NEED_CTX();
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)p, 1);
	ok = r && ((r->kind == HOST_REG && r->devmap) || r->kind == HOST_ALLOC);
	pthread_mutex_unlock(&lock);
	if (!ok)
		return CUDA_ERROR_INVALID_VALUE;
	*d = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

static CUresult f_cuMemAllocHost(void **p, size_t n)
{
	struct range *r;

	NEED_CTX();
	*p = aligned_alloc(4096, (n + 4095) & ~4095UL);
	if (!*p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&lock);
	r = range_add(HOST_ALLOC, (uintptr_t)*p, n);
	if (r)
		live.host_allocs++;
	pthread_mutex_unlock(&lock);
	if (!r) {
		free(*p);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

static CUresult f_cuMemFreeHost(void *p)
{
	struct range *r;

	NEED_CTX();
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)p, 1);
	if (!r || r->kind != HOST_ALLOC || r->base != (uintptr_t)p) {
		pthread_mutex_unlock(&lock);
		return CUDA_ERROR_INVALID_VALUE;
	}
	r->kind = 0;
	live.host_allocs--;
	pthread_mutex_unlock(&lock);
	free(p);
	return CUDA_SUCCESS;
}

static CUresult f_cuMemAlloc(CUdeviceptr *d, size_t n)
{
	struct range *r;
	void *p;
	int fd;

	NEED_CTX();
	if (!n)
		return CUDA_ERROR_INVALID_VALUE;
	fd = memfd_create("fake-cuda-mem", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, n)) {
		if (fd >= 0)
			close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&lock);
	r = range_add(DEV_ALLOC, (uintptr_t)p, n);
	if (r) {
		r->fd = fd;
		live.device_allocs++;
	}
	pthread_mutex_unlock(&lock);
	if (!r) {
		munmap(p, n);
		close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*d = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

/* Remove the range of @kind based at @d; its fd and size come back. */
static bool range_take(enum kind kind, CUdeviceptr d, int *fd, size_t *size)
{
	struct range *r;

	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)d, 1);
	if (!r || r->kind != kind || r->base != (uintptr_t)d) {
		pthread_mutex_unlock(&lock);
		return false;
	}
	*fd = r->fd;
	*size = r->size;
	r->kind = 0;
	pthread_mutex_unlock(&lock);
	return true;
}

static CUresult f_cuMemFree(CUdeviceptr d)
{
	size_t n;
	int fd;

	NEED_CTX();
	if (!range_take(DEV_ALLOC, d, &fd, &n))
		return CUDA_ERROR_INVALID_VALUE;
	munmap((void *)(uintptr_t)d, n);
	close(fd);
	pthread_mutex_lock(&lock);
	live.device_allocs--;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static CUresult f_cuMemcpyHtoDAsync(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	NEED_CTX();
	if (!dev_ok(dst, n, true) || !src)
		return CUDA_ERROR_INVALID_VALUE;
	return submit(s, (struct op){ .kind = OP_COPY, .dst = (void *)(uintptr_t)dst, .src = src,
				      .n = n });
}

static CUresult f_cuMemcpyDtoDAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	NEED_CTX();
	if (!dev_ok(dst, n, true) || !dev_ok(src, n, false))
		return CUDA_ERROR_INVALID_VALUE;
	return submit(s, (struct op){ .kind = OP_COPY, .dst = (void *)(uintptr_t)dst,
				      .src = (const void *)(uintptr_t)src, .n = n });
}

static CUresult f_cuMemcpyHtoD(CUdeviceptr dst, const void *src, size_t n)
{
	return f_cuMemcpyHtoDAsync(dst, src, n, NULL);
}

static CUresult f_cuMemcpyDtoH(void *dst, CUdeviceptr src, size_t n)
{
	NEED_CTX();
	if (!dev_ok(src, n, false) || !dst)
		return CUDA_ERROR_INVALID_VALUE;
	do_copy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

static CUresult f_cuStreamCreate(CUstream *out, unsigned int flags)
{
	struct CUstream_st *s;

	NEED_CTX();
	if (flags & ~CU_STREAM_NON_BLOCKING)
		return CUDA_ERROR_INVALID_VALUE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	if (pthread_create(&s->thread, NULL, stream_main, s)) {
		free(s);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&lock);
	live.streams++;
	pthread_mutex_unlock(&lock);
	*out = s;
	return CUDA_SUCCESS;
}

static CUresult f_cuStreamSynchronize(CUstream s)
{
	NEED_CTX();
	if (!s)
		return CUDA_SUCCESS;
	pthread_mutex_lock(&s->lock);
	while (s->head || s->busy)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

static CUresult f_cuStreamDestroy(CUstream s)
{
	NEED_CTX();
	if (!s)
		return CUDA_ERROR_INVALID_HANDLE;
	/* Like the driver: queued work still completes. */
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	pthread_mutex_lock(&lock);
	live.streams--;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static CUresult f_cuLaunchHostFunc(CUstream s, CUhostFn fn, void *data)
{
	NEED_CTX();
	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	return submit(s, (struct op){ .kind = OP_HOST, .fn = fn, .data = data });
}

static CUresult ev_new(struct CUevent_st **out, int fd, bool opened)
{
	struct CUevent_st *e = calloc(1, sizeof(*e));
	void *p;

	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (fd >= 0)
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(e);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	e->sh = p;
	e->fd = fd;
	e->opened = opened;
	pthread_mutex_lock(&lock);
	live.events++;
	pthread_mutex_unlock(&lock);
	*out = e;
	return CUDA_SUCCESS;
}

static CUresult f_cuEventCreate(CUevent *out, unsigned int flags)
{
	int fd = -1;
	CUresult r;

	NEED_CTX();
	if (flags & ~(CU_EVENT_DISABLE_TIMING | CU_EVENT_INTERPROCESS | CU_EVENT_BLOCKING_SYNC))
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & CU_EVENT_INTERPROCESS) {
		if (!(flags & CU_EVENT_DISABLE_TIMING))
			return CUDA_ERROR_INVALID_VALUE;
		fd = memfd_create("fake-cuda-event", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, 4096)) {
			if (fd >= 0)
				close(fd);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	r = ev_new(out, fd, false);
	if (r && fd >= 0)
		close(fd);
	return r;
}

static CUresult f_cuEventRecord(CUevent e, CUstream s)
{
	uint32_t v;

	NEED_CTX();
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	if (e->opened)
		return CUDA_ERROR_INVALID_HANDLE; /* IPC-opened events are wait-only */
	v = atomic_fetch_add(&e->sh->recorded, 1) + 1;
	return submit(s, (struct op){ .kind = OP_RECORD, .ev = e, .value = v });
}

static CUresult f_cuEventSynchronize(CUevent e)
{
	NEED_CTX();
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	ev_wait(e->sh, atomic_load(&e->sh->recorded));
	return CUDA_SUCCESS;
}

static CUresult f_cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	NEED_CTX();
	if (!e || flags)
		return CUDA_ERROR_INVALID_VALUE;
	return submit(s, (struct op){ .kind = OP_WAIT, .ev = e,
				      .value = atomic_load(&e->sh->recorded) });
}

static CUresult f_cuEventDestroy(CUevent e)
{
	NEED_CTX();
	if (!e)
		return CUDA_ERROR_INVALID_HANDLE;
	munmap(e->sh, 4096);
	if (e->fd >= 0)
		close(e->fd);
	free(e);
	pthread_mutex_lock(&lock);
	live.events--;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static void wire_put(void *handle, int fd, uint64_t size)
{
	struct ipc_wire w = { .magic = FAKE_MAGIC, .pid = getpid(), .fd = fd, .size = size };

	memset(handle, 0, CU_IPC_HANDLE_SIZE);
	memcpy(handle, &w, sizeof(w));
}

/* Open the exporter's fd through /proc, as this process's own. */
static int wire_open(const void *handle, uint64_t *size)
{
	struct ipc_wire w;
	char path[64];

	memcpy(&w, handle, sizeof(w));
	if (w.magic != FAKE_MAGIC)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)w.pid, w.fd);
	*size = w.size;
	return open(path, O_RDWR | O_CLOEXEC);
}

static CUresult f_cuIpcGetEventHandle(CUipcEventHandle *h, CUevent e)
{
	NEED_CTX();
	if (!e || e->fd < 0 || e->opened)
		return CUDA_ERROR_INVALID_HANDLE;
	wire_put(h, e->fd, 4096);
	return CUDA_SUCCESS;
}

static CUresult f_cuIpcOpenEventHandle(CUevent *out, CUipcEventHandle h)
{
	uint64_t size;
	CUresult r;
	int fd;

	NEED_CTX();
	fd = wire_open(&h, &size);
	if (fd < 0)
		return CUDA_ERROR_INVALID_VALUE;
	r = ev_new(out, fd, true);
	if (r)
		close(fd);
	return r;
}

static CUresult f_cuIpcGetMemHandle(CUipcMemHandle *h, CUdeviceptr d)
{
	struct range *r;
	bool ok;

	NEED_CTX();
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)d, 1);
	ok = r && r->kind == DEV_ALLOC && r->base == (uintptr_t)d;
	if (ok)
		wire_put(h, r->fd, r->size);
	pthread_mutex_unlock(&lock);
	return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult f_cuIpcOpenMemHandle(CUdeviceptr *d, CUipcMemHandle h, unsigned int flags)
{
	struct range *r;
	uint64_t size;
	void *p;
	int fd;

	NEED_CTX();
	if (flags & ~CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS)
		return CUDA_ERROR_INVALID_VALUE;
	fd = wire_open(&h, &size);
	if (fd < 0)
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return CUDA_ERROR_MAP_FAILED;
	pthread_mutex_lock(&lock);
	r = range_add(DEV_IPC, (uintptr_t)p, size);
	if (r)
		live.ipc_mappings++;
	pthread_mutex_unlock(&lock);
	if (!r) {
		munmap(p, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*d = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

static CUresult f_cuIpcCloseMemHandle(CUdeviceptr d)
{
	size_t n;
	int fd;

	NEED_CTX();
	if (!range_take(DEV_IPC, d, &fd, &n))
		return CUDA_ERROR_INVALID_VALUE;
	munmap((void *)(uintptr_t)d, n);
	pthread_mutex_lock(&lock);
	live.ipc_mappings--;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static CUresult f_cuMemGetAllocationGranularity(size_t *g, const CUmemAllocationProp *prop,
					       CUmemAllocationGranularity_flags flags)
{
	NEED_INIT();
	(void)flags;
	if (!prop || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    prop->location.id < 0 || prop->location.id >= cfg.devices)
		return CUDA_ERROR_INVALID_VALUE;
	*g = GRAN;
	return CUDA_SUCCESS;
}

static CUresult vmm_new(CUmemGenericAllocationHandle *h, int fd, size_t size, bool exportable)
{
	struct vmm *v = malloc(sizeof(*v));

	if (!v)
		return CUDA_ERROR_OUT_OF_MEMORY;
	v->fd = fd;
	v->size = size;
	v->exportable = exportable;
	pthread_mutex_lock(&lock);
	live.vmm_handles++;
	pthread_mutex_unlock(&lock);
	*h = (CUmemGenericAllocationHandle)(uintptr_t)v;
	return CUDA_SUCCESS;
}

static CUresult f_cuMemCreate(CUmemGenericAllocationHandle *h, size_t size,
			      const CUmemAllocationProp *prop, unsigned long long flags)
{
	CUresult r;
	int fd;

	NEED_CTX();
	if (NO_VMM)
		return CUDA_ERROR_NOT_SUPPORTED;
	if (!prop || flags || !size || size % GRAN || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->location.id < 0 ||
	    prop->location.id >= cfg.devices)
		return CUDA_ERROR_INVALID_VALUE;
	fd = memfd_create("fake-cuda-vmm", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size)) {
		if (fd >= 0)
			close(fd);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	/* Only what was requested at creation can be exported later. */
	r = vmm_new(h, fd, size,
		    prop->requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
	if (r)
		close(fd);
	return r;
}

static CUresult f_cuMemRelease(CUmemGenericAllocationHandle h)
{
	struct vmm *v = (struct vmm *)(uintptr_t)h;

	NEED_CTX();
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	close(v->fd); /* mappings keep the memory, as in the driver */
	free(v);
	pthread_mutex_lock(&lock);
	live.vmm_handles--;
	pthread_mutex_unlock(&lock);
	return CUDA_SUCCESS;
}

static CUresult f_cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t align,
				      CUdeviceptr addr, unsigned long long flags)
{
	struct range *r;
	void *p;

	NEED_CTX();
	if (!size || size % GRAN || addr || flags || (align && align % GRAN))
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&lock);
	r = range_add(VMM_RES, (uintptr_t)p, size);
	if (r)
		live.reservations++;
	pthread_mutex_unlock(&lock);
	if (!r) {
		munmap(p, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*ptr = (CUdeviceptr)(uintptr_t)p;
	return CUDA_SUCCESS;
}

static CUresult f_cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	struct range *r;
	bool ok;

	NEED_CTX();
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)ptr, size);
	ok = r && r->kind == VMM_RES && r->base == (uintptr_t)ptr && r->size == size &&
	     !r->mapped;
	if (ok) {
		r->kind = 0;
		live.reservations--;
	}
	pthread_mutex_unlock(&lock);
	if (!ok)
		return CUDA_ERROR_INVALID_VALUE;
	munmap((void *)(uintptr_t)ptr, size);
	return CUDA_SUCCESS;
}

static CUresult f_cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
			   CUmemGenericAllocationHandle h, unsigned long long flags)
{
	struct vmm *v = (struct vmm *)(uintptr_t)h;
	struct range *r;
	CUresult ret = CUDA_ERROR_INVALID_VALUE;

	NEED_CTX();
	if (!v || flags || offset + size > v->size)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)ptr, size);
	if (r && r->kind == VMM_RES && r->base == (uintptr_t)ptr && r->size == size &&
	    !r->mapped) {
		if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, v->fd,
			 offset) != MAP_FAILED) {
			r->mapped = true;
			r->prot = 0;
			ret = CUDA_SUCCESS;
		} else {
			ret = CUDA_ERROR_OUT_OF_MEMORY;
		}
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

static CUresult f_cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	struct range *r;
	bool ok;

	NEED_CTX();
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)ptr, size);
	ok = r && r->kind == VMM_RES && r->base == (uintptr_t)ptr && r->mapped;
	if (ok) {
		mmap((void *)(uintptr_t)ptr, size, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		r->mapped = false;
	}
	pthread_mutex_unlock(&lock);
	return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult f_cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc,
				 size_t count)
{
	struct range *r;
	int prot;
	bool ok;

	NEED_CTX();
	if (!desc || count != 1 || desc->location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
	    desc->location.id < 0 || desc->location.id >= cfg.devices)
		return CUDA_ERROR_INVALID_VALUE;
	prot = desc->flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE ? PROT_READ | PROT_WRITE :
	       desc->flags == CU_MEM_ACCESS_FLAGS_PROT_READ ? PROT_READ : PROT_NONE;
	pthread_mutex_lock(&lock);
	r = range_find((uintptr_t)ptr, size);
	ok = r && r->kind == VMM_RES && r->mapped &&
	     !mprotect((void *)(uintptr_t)ptr, size, prot);
	if (ok)
		r->prot = prot;
	pthread_mutex_unlock(&lock);
	return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult f_cuMemExportToShareableHandle(void *out, CUmemGenericAllocationHandle h,
					       CUmemAllocationHandleType type,
					       unsigned long long flags)
{
	struct vmm *v = (struct vmm *)(uintptr_t)h;
	int fd;

	NEED_CTX();
	if (!v || flags || type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !v->exportable)
		return CUDA_ERROR_INVALID_VALUE;
	fd = fcntl(v->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*(int *)out = fd;
	return CUDA_SUCCESS;
}

static CUresult f_cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *h, void *os,
						 CUmemAllocationHandleType type)
{
	struct stat st;
	CUresult r;
	int fd;

	NEED_CTX();
	if (type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
		return CUDA_ERROR_INVALID_VALUE;
	fd = fcntl((int)(intptr_t)os, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (fstat(fd, &st) || st.st_size <= 0) {
		close(fd);
		return CUDA_ERROR_INVALID_VALUE;
	}
	r = vmm_new(h, fd, st.st_size, false);
	if (r)
		close(fd);
	return r;
}

static CUresult f_cuCtxSynchronize(void)
{
	NEED_CTX();
	return CUDA_SUCCESS;
}

static const struct {
	const char *name;
	void *fn;
} table[] = {
#define FN(n) { #n, (void *)f_##n }
	FN(cuInit), FN(cuDriverGetVersion), FN(cuGetErrorName), FN(cuGetErrorString),
	FN(cuDeviceGetCount), FN(cuDeviceGet), FN(cuDeviceGetName), FN(cuDeviceGetAttribute),
	FN(cuDeviceTotalMem), FN(cuDevicePrimaryCtxRetain), FN(cuDevicePrimaryCtxRelease),
	FN(cuCtxPushCurrent), FN(cuCtxPopCurrent), FN(cuCtxSynchronize),
	FN(cuMemHostRegister), FN(cuMemHostUnregister), FN(cuMemHostGetDevicePointer),
	FN(cuMemAllocHost), FN(cuMemFreeHost), FN(cuMemAlloc), FN(cuMemFree),
	FN(cuMemcpyHtoDAsync), FN(cuMemcpyDtoDAsync), FN(cuMemcpyHtoD), FN(cuMemcpyDtoH),
	FN(cuStreamCreate), FN(cuStreamDestroy), FN(cuStreamSynchronize), FN(cuStreamWaitEvent),
	FN(cuLaunchHostFunc), FN(cuEventCreate), FN(cuEventRecord), FN(cuEventSynchronize),
	FN(cuEventDestroy), FN(cuIpcGetEventHandle), FN(cuIpcOpenEventHandle),
	FN(cuIpcGetMemHandle), FN(cuIpcOpenMemHandle), FN(cuIpcCloseMemHandle),
	FN(cuMemGetAllocationGranularity), FN(cuMemCreate), FN(cuMemRelease),
	FN(cuMemAddressReserve), FN(cuMemAddressFree), FN(cuMemMap), FN(cuMemUnmap),
	FN(cuMemSetAccess), FN(cuMemExportToShareableHandle),
	FN(cuMemImportFromShareableHandle),
#undef FN
};

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version,
				    cuuint64_t flags, CUdriverProcAddressQueryResult *status)
{
	const char *missing = getenv("FAKE_CUDA_MISSING");
	size_t i;

	(void)flags;
	*pfn = NULL;
	if (status)
		*status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	if (!symbol || version < 12000)
		return CUDA_ERROR_INVALID_VALUE;
	if (missing && !strcmp(missing, symbol))
		return CUDA_ERROR_NOT_FOUND;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, symbol)) {
			*pfn = table[i].fn;
			if (status)
				*status = CU_GET_PROC_ADDRESS_SUCCESS;
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_NOT_FOUND;
}

/* Not CUDA: what this process still has allocated, for leak checks. */
EXPORT void fake_cuda_live(struct fake_live *out)
{
	pthread_mutex_lock(&lock);
	*out = live;
	pthread_mutex_unlock(&lock);
}
