// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Slot memory: a slot's dma-buf (SHMSTREAM_IOC_SLOT_DMABUF, ABI 2.3) as
 * GstMemory that importers recognise (gst_is_dmabuf_memory(),
 * gst_dmabuf_memory_get_fd()), and that maps, for elements that touch the
 * bytes, to the process's own mapping of the slot: no mmap() of the
 * dma-buf per buffer, no page faults, the same pages. A map brackets the
 * access with DMA_BUF_IOCTL_SYNC as GstDmaBufAllocator's does, which
 * syncs a device's mappings of the dma-buf for the CPU where that matters.
 *
 * The fd is the stream handle's own (shmdev_slot_dmabuf()): the memory does
 * not close it, and keeps what @user holds (a reference on the stream, or a
 * consumer's hold on its frame, which itself refs the stream) until it is
 * freed, so the fd and the mapping outlive every user of the memory.
 */
#include <errno.h>
#include <linux/dma-buf.h>
#include <sys/ioctl.h>

#include "gstshmstream.h"

#define GST_CAT_DEFAULT gst_shmstream_debug

#define GST_TYPE_SHMSTREAM_SLOT_ALLOCATOR (gst_shmstream_slot_allocator_get_type())
G_DECLARE_FINAL_TYPE(GstShmstreamSlotAllocator, gst_shmstream_slot_allocator, GST,
		     SHMSTREAM_SLOT_ALLOCATOR, GstDmaBufAllocator)

struct _GstShmstreamSlotAllocator {
	GstDmaBufAllocator parent;
};

G_DEFINE_TYPE(GstShmstreamSlotAllocator, gst_shmstream_slot_allocator,
	      GST_TYPE_DMABUF_ALLOCATOR)

/* What a slot memory maps to and keeps: the qdata of the (root) memory. */
struct slot_mem {
	gpointer data;
	gpointer user;
	GDestroyNotify notify;
};

static GQuark slot_mem_quark;

static void slot_mem_free(gpointer p)
{
	struct slot_mem *m = p;

	if (m->notify)
		m->notify(m->user);
	g_free(m);
}

/* A shared (sub-)memory's parent is the root, which holds the qdata. */
static struct slot_mem *slot_mem_of(GstMemory *mem)
{
	return gst_mini_object_get_qdata(GST_MINI_OBJECT(mem->parent ? mem->parent : mem),
					 slot_mem_quark);
}

static void sync_cpu(GstMemory *mem, guint64 start_end, GstMapFlags flags)
{
	struct dma_buf_sync sync = { .flags = start_end };

	if (flags & GST_MAP_READ)
		sync.flags |= DMA_BUF_SYNC_READ;
	if (flags & GST_MAP_WRITE)
		sync.flags |= DMA_BUF_SYNC_WRITE;
	while (ioctl(gst_fd_memory_get_fd(mem), DMA_BUF_IOCTL_SYNC, &sync) < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			GST_WARNING("dma-buf sync 0x%llx: %s", (unsigned long long)sync.flags,
				    g_strerror(errno));
			break;
		}
	}
}

static gpointer slot_mem_map_full(GstMemory *mem, GstMapInfo *info, gsize maxsize)
{
	struct slot_mem *m = slot_mem_of(mem);

	(void)maxsize;
	if (!m)
		return NULL;
	sync_cpu(mem, DMA_BUF_SYNC_START, info->flags);
	return m->data; /* gst_memory_map() adds the memory's offset */
}

static void slot_mem_unmap_full(GstMemory *mem, GstMapInfo *info)
{
	sync_cpu(mem, DMA_BUF_SYNC_END, info->flags);
}

static void gst_shmstream_slot_allocator_class_init(GstShmstreamSlotAllocatorClass *klass)
{
	(void)klass;
	slot_mem_quark = g_quark_from_static_string("GstShmstreamSlotMemory");
}

static void gst_shmstream_slot_allocator_init(GstShmstreamSlotAllocator *self)
{
	GstAllocator *alloc = GST_ALLOCATOR_CAST(self);

	/* After GstFdAllocator's and GstDmaBufAllocator's: the type stays "dmabuf". */
	alloc->mem_map_full = slot_mem_map_full;
	alloc->mem_unmap_full = slot_mem_unmap_full;
}

GstAllocator *gst_shmstream_slot_allocator_get(void)
{
	static GstAllocator *allocator;

	if (g_once_init_enter(&allocator)) {
		GstAllocator *a = g_object_new(GST_TYPE_SHMSTREAM_SLOT_ALLOCATOR, NULL);

		gst_object_ref_sink(a);
		GST_OBJECT_FLAG_SET(a, GST_OBJECT_FLAG_MAY_BE_LEAKED);
		g_once_init_leave(&allocator, a);
	}
	return allocator;
}

GstMemory *gst_shmstream_slot_memory_new(int fd, gpointer data, gsize maxsize, gsize size,
					 gboolean readonly, gpointer user, GDestroyNotify notify)
{
	GstMemory *mem;
	struct slot_mem *m;

	mem = gst_dmabuf_allocator_alloc_with_flags(gst_shmstream_slot_allocator_get(), fd,
						    maxsize, GST_FD_MEMORY_FLAG_DONT_CLOSE);
	if (!mem)
		return NULL;
	gst_memory_resize(mem, 0, size);
	if (readonly)
		GST_MINI_OBJECT_FLAG_SET(mem, GST_MEMORY_FLAG_READONLY);
	m = g_new(struct slot_mem, 1);
	m->data = data;
	m->user = user;
	m->notify = notify;
	gst_mini_object_set_qdata(GST_MINI_OBJECT(mem), slot_mem_quark, m, slot_mem_free);
	return mem;
}

gboolean gst_shmstream_is_slot_memory(GstMemory *mem)
{
	return mem && GST_IS_SHMSTREAM_SLOT_ALLOCATOR(mem->allocator);
}
