/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CUDA bridge internals: the driver API table loaded from libcuda.so.1 and
 * the helpers the host path and the mirror share. Built only when cuda.h
 * was found (SHMDEV_HAVE_CUDA); cuda_stubs.c answers -ENOSYS otherwise.
 */
#ifndef SHMDEV_BRIDGE_H
#define SHMDEV_BRIDGE_H

#include <cuda.h>
#include <time.h>

#include "internal.h"

/* The driver version whose function signatures we ask cuGetProcAddress for. */
#define SHMDEV_CUDA_API_VERSION 12000

/* Every driver function the bridge uses: X(header name, table field). */
#define SHMDEV_CU_FUNCS(X)                                               \
	X(cuInit, Init)                                                  \
	X(cuDriverGetVersion, DriverGetVersion)                          \
	X(cuGetErrorName, GetErrorName)                                  \
	X(cuGetErrorString, GetErrorString)                              \
	X(cuDeviceGetCount, DeviceGetCount)                              \
	X(cuDeviceGet, DeviceGet)                                        \
	X(cuDeviceGetName, DeviceGetName)                                \
	X(cuDeviceGetAttribute, DeviceGetAttribute)                      \
	X(cuDeviceTotalMem, DeviceTotalMem)                              \
	X(cuDevicePrimaryCtxRetain, DevicePrimaryCtxRetain)              \
	X(cuDevicePrimaryCtxRelease, DevicePrimaryCtxRelease)            \
	X(cuCtxPushCurrent, CtxPushCurrent)                              \
	X(cuCtxPopCurrent, CtxPopCurrent)                                \
	X(cuMemHostRegister, MemHostRegister)                            \
	X(cuMemHostUnregister, MemHostUnregister)                        \
	X(cuMemHostGetDevicePointer, MemHostGetDevicePointer)            \
	X(cuMemAllocHost, MemAllocHost)                                  \
	X(cuMemFreeHost, MemFreeHost)                                    \
	X(cuMemAlloc, MemAlloc)                                          \
	X(cuMemFree, MemFree)                                            \
	X(cuMemcpyHtoDAsync, MemcpyHtoDAsync)                            \
	X(cuMemcpyDtoDAsync, MemcpyDtoDAsync)                            \
	X(cuStreamCreate, StreamCreate)                                  \
	X(cuStreamDestroy, StreamDestroy)                                \
	X(cuStreamSynchronize, StreamSynchronize)                        \
	X(cuStreamWaitEvent, StreamWaitEvent)                            \
	X(cuLaunchHostFunc, LaunchHostFunc)                              \
	X(cuEventCreate, EventCreate)                                    \
	X(cuEventRecord, EventRecord)                                    \
	X(cuEventSynchronize, EventSynchronize)                          \
	X(cuEventDestroy, EventDestroy)                                  \
	X(cuIpcGetEventHandle, IpcGetEventHandle)                        \
	X(cuIpcOpenEventHandle, IpcOpenEventHandle)                      \
	X(cuIpcGetMemHandle, IpcGetMemHandle)                            \
	X(cuIpcOpenMemHandle, IpcOpenMemHandle)                          \
	X(cuIpcCloseMemHandle, IpcCloseMemHandle)                        \
	X(cuMemGetAllocationGranularity, MemGetAllocationGranularity)    \
	X(cuMemCreate, MemCreate)                                        \
	X(cuMemRelease, MemRelease)                                      \
	X(cuMemAddressReserve, MemAddressReserve)                        \
	X(cuMemAddressFree, MemAddressFree)                              \
	X(cuMemMap, MemMap)                                              \
	X(cuMemUnmap, MemUnmap)                                          \
	X(cuMemSetAccess, MemSetAccess)                                  \
	X(cuMemExportToShareableHandle, MemExportToShareableHandle)      \
	X(cuMemImportFromShareableHandle, MemImportFromShareableHandle)

struct shmdev_cu {
#define SHMDEV_CU_FIELD(sym, field) __typeof__(sym) *field;
	SHMDEV_CU_FUNCS(SHMDEV_CU_FIELD)
#undef SHMDEV_CU_FIELD
};

/*
 * The loaded table, or NULL with *err set (-ENOSYS: no usable libcuda,
 * -ENODEV: no GPU) and the thread's message saying why.
 */
const struct shmdev_cu *shmdev_cu(int *err);

/* Map a CUDA result to -errno and set the message "what: NAME (text)". */
int shmdev_cu_err(CUresult r, const char *what);

/* Check @device's ordinal (-ENODEV) and get its handle. */
int shmdev_cu_device(int device, CUdevice *dev);
/* ... and retain its primary context. */
int shmdev_cu_retain(int device, CUdevice *dev, CUcontext *ctx);
void shmdev_cu_release(CUdevice dev);
/* Make a retained context current around a call sequence. */
int shmdev_cu_push(CUcontext ctx);
void shmdev_cu_pop(void);

/* CLOCK_MONOTONIC now + @timeout_ns (> 0), for timed waits. */
void shmdev_deadline(int64_t timeout_ns, struct timespec *end);

/* SHMDEV_CUDA_* paths of a device. */
uint32_t shmdev_cu_paths(CUdevice d);

#endif /* SHMDEV_BRIDGE_H */
