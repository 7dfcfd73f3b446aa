// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CUDA driver API, loaded at run time: dlopen("libcuda.so.1") once
 * (pthread_once), every function through cuGetProcAddress, results mapped
 * to -errno. Nothing links libcuda; without it every call is -ENOSYS.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"

/* Written once under cu_once, read-only afterwards. */
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static struct shmdev_cu cu_table;
static int cu_status;
static char cu_why[200];

typedef CUresult (*getproc_fn)(const char *symbol, void **pfn, int version,
			       cuuint64_t flags, CUdriverProcAddressQueryResult *status);

static void cu_load(void)
{
	static const struct {
		const char *name;
		size_t offset;
	} syms[] = {
#define SHMDEV_CU_SYM(sym, field) { #sym, offsetof(struct shmdev_cu, field) },
		SHMDEV_CU_FUNCS(SHMDEV_CU_SYM)
#undef SHMDEV_CU_SYM
	};
	CUdriverProcAddressQueryResult found;
	getproc_fn getproc;
	int count = 0;
	CUresult r;
	void *lib;
	size_t i;

	cu_status = -ENOSYS;
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(cu_why, sizeof(cu_why), "no CUDA driver: %s", dlerror());
		return;
	}
	*(void **)&getproc = dlsym(lib, "cuGetProcAddress_v2");
	if (!getproc) {
		snprintf(cu_why, sizeof(cu_why),
			 "libcuda.so.1 has no cuGetProcAddress_v2 (driver older than CUDA 12)");
		return; /* the library stays loaded: it may be in use elsewhere */
	}
	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void **slot = (void **)((char *)&cu_table + syms[i].offset);

		r = getproc(syms[i].name, slot, SHMDEV_CUDA_API_VERSION, CU_GET_PROC_ADDRESS_DEFAULT,
			    &found);
		if (r != CUDA_SUCCESS || !*slot) {
			snprintf(cu_why, sizeof(cu_why), "the CUDA driver lacks %s", syms[i].name);
			return;
		}
	}
	r = cu_table.Init(0);
	if (r == CUDA_SUCCESS)
		r = cu_table.DeviceGetCount(&count);
	if (r == CUDA_ERROR_NO_DEVICE || (r == CUDA_SUCCESS && count == 0)) {
		cu_status = -ENODEV;
		snprintf(cu_why, sizeof(cu_why), "the CUDA driver sees no GPU");
		return;
	}
	if (r != CUDA_SUCCESS) {
		const char *name = "?";

		cu_table.GetErrorName(r, &name);
		cu_status = -ENODEV;
		snprintf(cu_why, sizeof(cu_why), "cuInit: %s", name);
		return;
	}
	cu_status = 0;
}

const struct shmdev_cu *shmdev_cu(int *err)
{
	pthread_once(&cu_once, cu_load);
	*err = cu_status;
	if (cu_status)
		shmdev_set_errmsg(cu_status, "%s", cu_why);
	return cu_status ? NULL : &cu_table;
}

int shmdev_cu_err(CUresult r, const char *what)
{
	const char *name = "CUDA_ERROR_UNKNOWN", *text = "";
	int err;

	switch (r) {
	case CUDA_SUCCESS:
		return 0;
	case CUDA_ERROR_INVALID_VALUE:
	case CUDA_ERROR_INVALID_HANDLE:
		err = -EINVAL;
		break;
	case CUDA_ERROR_OUT_OF_MEMORY:
		err = -ENOMEM;
		break;
	case CUDA_ERROR_NO_DEVICE:
	case CUDA_ERROR_INVALID_DEVICE:
	case CUDA_ERROR_DEINITIALIZED:
	case CUDA_ERROR_NOT_INITIALIZED:
		err = -ENODEV;
		break;
	case CUDA_ERROR_NOT_SUPPORTED:
		err = -EOPNOTSUPP;
		break;
	case CUDA_ERROR_NOT_PERMITTED:
		err = -EPERM;
		break;
	case CUDA_ERROR_NOT_READY:
		err = -EAGAIN;
		break;
	case CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED:
		err = -EEXIST;
		break;
	case CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED:
		err = -ENOENT;
		break;
	case CUDA_ERROR_TOO_MANY_PEERS:
	case CUDA_ERROR_MAP_FAILED:
		err = -ENOSPC;
		break;
	default:
		err = -EIO;
		break;
	}
	cu_table.GetErrorName(r, &name);
	cu_table.GetErrorString(r, &text);
	return shmdev_set_errmsg(err, "%s: %s (%s)", what, name, text ? text : "");
}

int shmdev_cu_device(int device, CUdevice *dev)
{
	const struct shmdev_cu *cu;
	int count, err;
	CUresult r;

	cu = shmdev_cu(&err);
	if (!cu)
		return err;
	r = cu->DeviceGetCount(&count);
	if (r != CUDA_SUCCESS)
		return shmdev_cu_err(r, "cuDeviceGetCount");
	if (device < 0 || device >= count)
		return shmdev_set_errmsg(-ENODEV, "no CUDA device %d (%d present)", device, count);
	return shmdev_cu_err(cu->DeviceGet(dev, device), "cuDeviceGet");
}

int shmdev_cu_retain(int device, CUdevice *dev, CUcontext *ctx)
{
	int err = shmdev_cu_device(device, dev);

	if (err)
		return err;
	return shmdev_cu_err(cu_table.DevicePrimaryCtxRetain(ctx, *dev),
			     "cuDevicePrimaryCtxRetain");
}

void shmdev_cu_release(CUdevice dev)
{
	cu_table.DevicePrimaryCtxRelease(dev);
}

int shmdev_cu_push(CUcontext ctx)
{
	return shmdev_cu_err(cu_table.CtxPushCurrent(ctx), "cuCtxPushCurrent");
}

void shmdev_cu_pop(void)
{
	CUcontext ctx;

	cu_table.CtxPopCurrent(&ctx);
}

void shmdev_deadline(int64_t timeout_ns, struct timespec *end)
{
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += timeout_ns / 1000000000;
	end->tv_nsec += timeout_ns % 1000000000;
	if (end->tv_nsec >= 1000000000) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000;
	}
}

static int attr(CUdevice d, CUdevice_attribute a)
{
	int v = 0;

	return cu_table.DeviceGetAttribute(&v, a, d) == CUDA_SUCCESS ? v : 0;
}

uint32_t shmdev_cu_paths(CUdevice d)
{
	uint32_t paths = 0;

	if (attr(d, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY) &&
	    attr(d, CU_DEVICE_ATTRIBUTE_HOST_REGISTER_SUPPORTED)) {
		paths |= SHMDEV_CUDA_HOST_REGISTER;
		if (attr(d, CU_DEVICE_ATTRIBUTE_READ_ONLY_HOST_REGISTER_SUPPORTED))
			paths |= SHMDEV_CUDA_HOST_READONLY;
	}
	if (attr(d, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED) &&
	    attr(d, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED))
		paths |= SHMDEV_CUDA_IPC_FD;
	/* Legacy IPC is there on every Linux device the driver supports. */
	paths |= SHMDEV_CUDA_IPC_LEGACY;
	if (attr(d, CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED))
		paths |= SHMDEV_CUDA_IPC_EVENT;
	return paths;
}

SHMDEV_EXPORT int shmdev_cuda_driver_version(int *version)
{
	const struct shmdev_cu *cu;
	int err;

	if (!version)
		return -EINVAL;
	cu = shmdev_cu(&err);
	if (!cu)
		return err;
	return shmdev_cu_err(cu->DriverGetVersion(version), "cuDriverGetVersion");
}

SHMDEV_EXPORT int shmdev_cuda_device_count(int *count)
{
	const struct shmdev_cu *cu;
	int err;

	if (!count)
		return -EINVAL;
	cu = shmdev_cu(&err);
	if (!cu)
		return err;
	return shmdev_cu_err(cu->DeviceGetCount(count), "cuDeviceGetCount");
}

SHMDEV_EXPORT int shmdev_cuda_device_info(int ordinal, struct shmdev_cuda_device *out)
{
	const struct shmdev_cu *cu;
	CUdevice d;
	size_t mem;
	int err;

	if (!out)
		return -EINVAL;
	cu = shmdev_cu(&err);
	if (!cu)
		return err;
	err = shmdev_cu_device(ordinal, &d);
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	out->ordinal = ordinal;
	err = shmdev_cu_err(cu->DeviceGetName(out->name, sizeof(out->name) - 1, d),
			    "cuDeviceGetName");
	if (!err)
		err = shmdev_cu_err(cu->DeviceTotalMem(&mem, d), "cuDeviceTotalMem");
	if (!err) {
		out->total_mem = mem;
		out->cc_major = attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
		out->cc_minor = attr(d, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
		out->paths = shmdev_cu_paths(d);
	}
	return err;
}
