// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Prints the size of every structure the ctypes layer (shmstream/_lib.py)
 * mirrors, and the offset of each field, as the C compiler lays them out:
 * "struct SIZE" and "struct.field OFFSET" lines for test_host.py, and
 * "CONSTANT VALUE" lines for the uapi constants it uses directly.
 */
#include <stddef.h>
#include <stdio.h>

#include <shmdev.h>

#define S(t) printf("%s %zu\n", #t, sizeof(struct t))
#define F(t, f) printf("%s.%s %zu\n", #t, #f, offsetof(struct t, f))

int main(void)
{
	S(shmstream_format);
	F(shmstream_format, stride);
	S(shmstream_version);
	F(shmstream_version, features);
	F(shmstream_version, max_holds);
	S(shmstream_info);
	F(shmstream_info, slot_count);
	F(shmstream_info, ctrl_offset);
	F(shmstream_info, format);
	F(shmstream_info, frames);
	F(shmstream_info, producer_detaches);
	S(shmstream_stats);
	F(shmstream_stats, missed);
	S(shmstream_frame);
	F(shmstream_frame, timestamp_ns);
	F(shmstream_frame, format);
	F(shmstream_frame, meta);
	F(shmstream_frame, gen);
	F(shmstream_frame, reserved);
	S(shmdev_create_params);
	F(shmdev_create_params, format);
	S(shmdev_slot);
	F(shmdev_slot, index);
	S(shmdev_commit_params);
	F(shmdev_commit_params, timestamp_ns);
	F(shmdev_commit_params, format);
	F(shmdev_commit_params, meta);
	F(shmdev_commit_params, meta_len);
	F(shmdev_commit_params, seq);
	S(shmdev_frame);
	F(shmdev_frame, seq);
	F(shmdev_frame, slot);
	F(shmdev_frame, format);
	F(shmdev_frame, meta_len);
	F(shmdev_frame, meta);
	S(shmdev_gpu_info);
	F(shmdev_gpu_info, slot_size);
	F(shmdev_gpu_info, legacy_handle);
	S(shmdev_gpu_frame);
	F(shmdev_gpu_frame, len);
	F(shmdev_gpu_frame, format);
	F(shmdev_gpu_frame, meta);
	S(shmstream_attach);
	F(shmstream_attach, name);
	F(shmstream_attach, reserved);
	printf("IOC_ATTACH %lu\n", (unsigned long)SHMSTREAM_IOC_ATTACH);
	printf("ATTACH_PRODUCER %lu\n", (unsigned long)SHMSTREAM_ATTACH_PRODUCER);
	printf("ATTACH_CONSUMER %lu\n", (unsigned long)SHMSTREAM_ATTACH_CONSUMER);
	printf("ATTACH_NEWEST %lu\n", (unsigned long)SHMSTREAM_ATTACH_NEWEST);
	S(shmdev_cuda_device);
	F(shmdev_cuda_device, total_mem);
	F(shmdev_cuda_device, name);
	return 0;
}
