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
	F(shmstream_info, max_consumers);
	F(shmstream_info, guest_consumers);
	F(shmstream_info, producers);
	F(shmstream_info, max_producers);
	F(shmstream_info, reliable_consumers);
	F(shmstream_info, stall_ms);
	F(shmstream_info, demotions);
	F(shmstream_info, dmabufs);
	F(shmstream_info, reserved0);
	S(shmstream_stats);
	F(shmstream_stats, missed);
	F(shmstream_stats, state);
	F(shmstream_stats, dmabufs);
	F(shmstream_stats, reserved);
	S(shmdev_create_limits);
	F(shmdev_create_limits, stall_ms);
	F(shmdev_create_limits, max_producers);
	F(shmdev_create_limits, reserved);
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
	F(shmstream_attach, history);
	F(shmstream_attach, reserved);
	printf("IOC_ATTACH %lu\n", (unsigned long)SHMSTREAM_IOC_ATTACH);
	printf("ATTACH_PRODUCER %lu\n", (unsigned long)SHMSTREAM_ATTACH_PRODUCER);
	printf("ATTACH_CONSUMER %lu\n", (unsigned long)SHMSTREAM_ATTACH_CONSUMER);
	printf("ATTACH_NEWEST %lu\n", (unsigned long)SHMSTREAM_ATTACH_NEWEST);
	printf("CREATE_MULTI_PRODUCER %lu\n", (unsigned long)SHMSTREAM_CREATE_MULTI_PRODUCER);
	printf("FEAT_DELIVERY %lu\n", (unsigned long)SHMSTREAM_FEAT_DELIVERY);
	printf("CREATE_CONTIGUOUS %lu\n", (unsigned long)SHMSTREAM_CREATE_CONTIGUOUS);
	printf("FEAT_DMABUF %lu\n", (unsigned long)SHMSTREAM_FEAT_DMABUF);
	printf("INFO_STATE_CONTIGUOUS %lu\n", (unsigned long)SHMSTREAM_STATE_CONTIGUOUS);
	printf("STATS_RELIABLE %lu\n", (unsigned long)SHMSTREAM_STATS_RELIABLE);
	printf("STATS_DEMOTED %lu\n", (unsigned long)SHMSTREAM_STATS_DEMOTED);
	printf("OPEN_RELIABLE %lu\n", (unsigned long)SHMDEV_OPEN_RELIABLE);
	printf("STATE_DEMOTED %lu\n", (unsigned long)SHMDEV_STATE_DEMOTED);
	S(shmdev_cuda_device);
	F(shmdev_cuda_device, total_mem);
	F(shmdev_cuda_device, name);
	return 0;
}
