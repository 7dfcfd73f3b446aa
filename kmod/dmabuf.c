// SPDX-License-Identifier: GPL-2.0-only
/*
 * dma-buf export of slots (SHMSTREAM_IOC_SLOT_DMABUF).
 *
 * A bound file exports each slot at most once: the dma-buf is made on the
 * first request and kept in the file's table until the file is released,
 * and every request returns a new fd of that same dma-buf, so importers
 * that cache buffers (vb2, GStreamer pools) see the one they know. The
 * dma-buf is backed by the slot's own pages, with no copy, and holds a
 * reference on the stream: it may outlive the file, DESTROY and the
 * process. dma_buf_export() takes a reference on the module (the export
 * info's owner), so the module cannot be unloaded while one exists.
 *
 * Direction: a consumer's dma-buf is for reading. A device may map it for
 * DMA_TO_DEVICE only; user space maps it read-only and may not sync it for
 * writing. A kernel mapping (vmap) carries no direction, and the core
 * warns when an exporter refuses one, so a consumer's vmap never fails:
 * while a device has the dma-buf mapped for DMA_TO_DEVICE (a reading
 * importer, such as a vb2-dma-contig output queue, maps before it vmaps)
 * the slot's pages are mapped read-only; otherwise (vb2-vmalloc queues
 * import with vmap alone, capture queues included) the importer gets a
 * private zeroed buffer of the slot's size: it reads a blank frame, and
 * what it writes reaches no slot.
 *
 * The ring protocol still says who may touch a slot and when; the kernel
 * does not follow a device's accesses (see struct shmstream_slot_dmabuf).
 */

#include <linux/dma-buf.h>
#include <linux/dma-mapping.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "shmstream.h"

/* One exported slot: the dma-buf's priv. */
struct shmstream_dmabuf {
	struct shmstream_stream *stream; /* a reference */
	u32 slot;
	bool writable; /* the producer's: devices and users may write */
	struct mutex lock; /* guards @maps, @to_device and @blank */
	struct list_head maps; /* struct shmstream_dmabuf_map.node */
	unsigned int to_device; /* maps for DMA_TO_DEVICE */
	void *blank; /* a consumer's vmap with no reading device: vzalloc() */
};

/* One device mapping, for the CPU access syncs. */
struct shmstream_dmabuf_map {
	struct list_head node;
	struct device *dev;
	struct sg_table sgt;
	enum dma_data_direction dir;
};

static struct page **shmstream_dmabuf_pages(struct shmstream_dmabuf *db)
{
	struct shmstream_stream *s = db->stream;

	return &s->pages[s->ctrl_pages +
			 (unsigned long)db->slot * s->slot_pages];
}

static struct sg_table *shmstream_map_dma_buf(struct dma_buf_attachment *attach,
					      enum dma_data_direction dir)
{
	struct shmstream_dmabuf *db = attach->dmabuf->priv;
	unsigned long n = db->stream->slot_pages;
	struct shmstream_dmabuf_map *m;
	int ret;

	if (!db->writable && dir != DMA_TO_DEVICE)
		return ERR_PTR(-EACCES);

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(&m->sgt, shmstream_dmabuf_pages(db), n,
					0, n << PAGE_SHIFT, GFP_KERNEL);
	if (ret)
		goto out_free;
	ret = dma_map_sgtable(attach->dev, &m->sgt, dir, 0);
	if (ret)
		goto out_table;
	m->dev = attach->dev;
	m->dir = dir;

	mutex_lock(&db->lock);
	list_add(&m->node, &db->maps);
	if (dir == DMA_TO_DEVICE)
		db->to_device++;
	mutex_unlock(&db->lock);
	atomic_long_inc(&shmstream_counters.dmabuf_maps);
	return &m->sgt;

out_table:
	sg_free_table(&m->sgt);
out_free:
	kfree(m);
	return ERR_PTR(ret);
}

static void shmstream_unmap_dma_buf(struct dma_buf_attachment *attach,
				    struct sg_table *sgt,
				    enum dma_data_direction dir)
{
	struct shmstream_dmabuf *db = attach->dmabuf->priv;
	struct shmstream_dmabuf_map *m =
		container_of(sgt, struct shmstream_dmabuf_map, sgt);

	mutex_lock(&db->lock);
	list_del(&m->node);
	if (m->dir == DMA_TO_DEVICE)
		db->to_device--;
	mutex_unlock(&db->lock);

	dma_unmap_sgtable(m->dev, &m->sgt, m->dir, 0);
	sg_free_table(&m->sgt);
	kfree(m);
	atomic_long_dec(&shmstream_counters.dmabuf_maps);
}

/*
 * CPU access from user space (DMA_BUF_IOCTL_SYNC) or a kernel importer:
 * the pages are ordinary cached memory, but a device that is not coherent
 * needs its mappings synced, for the CPU or back for the device.
 */
static int shmstream_cpu_access(struct dma_buf *dmabuf,
				enum dma_data_direction dir, bool begin)
{
	struct shmstream_dmabuf *db = dmabuf->priv;
	struct shmstream_dmabuf_map *m;

	/* DMA_BUF_SYNC_WRITE asks for DMA_TO_DEVICE, _RW for bidirectional. */
	if (!db->writable && dir != DMA_FROM_DEVICE)
		return -EACCES;
	mutex_lock(&db->lock);
	list_for_each_entry(m, &db->maps, node) {
		if (begin)
			dma_sync_sgtable_for_cpu(m->dev, &m->sgt, m->dir);
		else
			dma_sync_sgtable_for_device(m->dev, &m->sgt, m->dir);
	}
	mutex_unlock(&db->lock);
	return 0;
}

static int shmstream_begin_cpu_access(struct dma_buf *dmabuf,
				      enum dma_data_direction dir)
{
	return shmstream_cpu_access(dmabuf, dir, true);
}

static int shmstream_end_cpu_access(struct dma_buf *dmabuf,
				    enum dma_data_direction dir)
{
	return shmstream_cpu_access(dmabuf, dir, false);
}

/* The VMA's file is the dma-buf's, which keeps @db and its pages. */
static vm_fault_t shmstream_dmabuf_fault(struct vm_fault *vmf)
{
	struct shmstream_dmabuf *db = vmf->vma->vm_private_data;

	if (vmf->pgoff >= db->stream->slot_pages)
		return VM_FAULT_SIGBUS;
	vmf->page = shmstream_dmabuf_pages(db)[vmf->pgoff];
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct shmstream_dmabuf_vm_ops = {
	.fault = shmstream_dmabuf_fault,
};

/* dma_buf_mmap_internal() and dma_buf_mmap() checked the range. */
static int shmstream_dmabuf_mmap(struct dma_buf *dmabuf,
				 struct vm_area_struct *vma)
{
	struct shmstream_dmabuf *db = dmabuf->priv;
	unsigned long num = vma_pages(vma);

	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (!db->writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		shmstream_vm_flags_mod(vma, 0, VM_MAYWRITE);
	}
	shmstream_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
	vma->vm_ops = &shmstream_dmabuf_vm_ops;
	vma->vm_private_data = db;
	/* What cannot be inserted now is left to the fault handler. */
	vm_insert_pages(vma, vma->vm_start,
			shmstream_dmabuf_pages(db) + vma->vm_pgoff, &num);
	return 0;
}

/*
 * The kernel mapping behind compat.h's vmap callbacks: the slot's pages,
 * read-only for a consumer, or for a consumer without a reading device
 * mapping a private zeroed buffer (see the top of this file). The core
 * calls it once for all the dma-buf's vmap users, and the unmap below when
 * the last one is done.
 */
void *shmstream_dmabuf_vmap_pages(struct dma_buf *dmabuf)
{
	struct shmstream_dmabuf *db = dmabuf->priv;
	unsigned long n = db->stream->slot_pages;
	void *vaddr;
	bool reading;

	if (db->writable) {
		vaddr = vmap(shmstream_dmabuf_pages(db), n, VM_MAP,
			     PAGE_KERNEL);
		return vaddr ?: ERR_PTR(-ENOMEM);
	}
	mutex_lock(&db->lock);
	reading = db->to_device;
	if (reading) {
		vaddr = vmap(shmstream_dmabuf_pages(db), n, VM_MAP,
			     PAGE_KERNEL_RO);
	} else {
		vaddr = vzalloc(n << PAGE_SHIFT);
		db->blank = vaddr;
		if (vaddr)
			atomic_long_inc(&shmstream_counters.dmabuf_blanks);
	}
	mutex_unlock(&db->lock);
	return vaddr ?: ERR_PTR(-ENOMEM);
}

void shmstream_dmabuf_vunmap_pages(struct dma_buf *dmabuf, void *vaddr)
{
	struct shmstream_dmabuf *db = dmabuf->priv;
	bool blank;

	mutex_lock(&db->lock);
	blank = vaddr && vaddr == db->blank;
	if (blank)
		db->blank = NULL;
	mutex_unlock(&db->lock);
	if (blank) {
		vfree(vaddr);
		atomic_long_dec(&shmstream_counters.dmabuf_blanks);
	} else {
		vunmap(vaddr);
	}
}

static void shmstream_dmabuf_release(struct dma_buf *dmabuf)
{
	struct shmstream_dmabuf *db = dmabuf->priv;

	WARN_ON(!list_empty(&db->maps));
	atomic_dec(&db->stream->dmabufs);
	shmstream_stream_put(db->stream);
	mutex_destroy(&db->lock);
	kfree(db);
	atomic_long_dec(&shmstream_counters.dmabufs);
}

static const struct dma_buf_ops shmstream_dmabuf_ops = {
	.map_dma_buf = shmstream_map_dma_buf,
	.unmap_dma_buf = shmstream_unmap_dma_buf,
	.release = shmstream_dmabuf_release,
	.begin_cpu_access = shmstream_begin_cpu_access,
	.end_cpu_access = shmstream_end_cpu_access,
	.mmap = shmstream_dmabuf_mmap,
	.vmap = shmstream_compat_dmabuf_vmap,
	.vunmap = shmstream_compat_dmabuf_vunmap,
};

static struct dma_buf *shmstream_dmabuf_export(struct shmstream_file *sf,
					       struct shmstream_stream *s,
					       u32 slot)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct shmstream_dmabuf *db;
	struct dma_buf *dmabuf;

	db = kzalloc(sizeof(*db), GFP_KERNEL_ACCOUNT);
	if (!db)
		return ERR_PTR(-ENOMEM);
	mutex_init(&db->lock);
	INIT_LIST_HEAD(&db->maps);
	db->slot = slot;
	db->writable = sf->role == SHMSTREAM_ATTACH_PRODUCER;
	kref_get(&s->ref);
	db->stream = s;

	info.ops = &shmstream_dmabuf_ops;
	info.size = s->slot_pages << PAGE_SHIFT;
	info.flags = db->writable ? O_RDWR : O_RDONLY;
	info.priv = db;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		shmstream_stream_put(s);
		mutex_destroy(&db->lock);
		kfree(db);
		return dmabuf;
	}
	atomic_inc(&s->dmabufs);
	atomic_long_inc(&shmstream_counters.dmabufs);
	return dmabuf;
}

/* The file's dma-buf of @slot, made on first use; a new reference. */
static struct dma_buf *shmstream_dmabuf_get(struct shmstream_file *sf,
					    struct shmstream_stream *s,
					    u32 slot)
{
	struct dma_buf *dmabuf;

	mutex_lock(&sf->bind_lock);
	if (!sf->dmabufs) {
		sf->dmabufs = kcalloc(s->slot_count, sizeof(*sf->dmabufs),
				      GFP_KERNEL_ACCOUNT);
		if (!sf->dmabufs) {
			dmabuf = ERR_PTR(-ENOMEM);
			goto out;
		}
	}
	dmabuf = sf->dmabufs[slot];
	if (!dmabuf) {
		dmabuf = shmstream_dmabuf_export(sf, s, slot);
		if (IS_ERR(dmabuf))
			goto out;
		sf->dmabufs[slot] = dmabuf;
		WRITE_ONCE(sf->nr_dmabufs, sf->nr_dmabufs + 1);
	}
	get_dma_buf(dmabuf);
out:
	mutex_unlock(&sf->bind_lock);
	return dmabuf;
}

long shmstream_ioc_slot_dmabuf(struct shmstream_file *sf, void __user *uarg)
{
	struct shmstream_stream *s = shmstream_bound(sf);
	struct shmstream_slot_dmabuf a;
	struct dma_buf *dmabuf;
	int ret, fd, fd_flags;

	ret = shmstream_copy_args(&a, sizeof(a),
				  SHMSTREAM_SLOT_DMABUF_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (a.flags & ~SHMSTREAM_DMABUF_CLOEXEC ||
	    memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (!s)
		return -ENOTCONN;
	if (a.slot >= s->slot_count)
		return -EINVAL;

	dmabuf = shmstream_dmabuf_get(sf, s, a.slot);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	fd_flags = a.flags & SHMSTREAM_DMABUF_CLOEXEC ? O_CLOEXEC : 0;
	fd = get_unused_fd_flags(fd_flags);
	if (fd < 0) {
		dma_buf_put(dmabuf);
		return fd;
	}
	a.fd = fd;
	a.dmabuf_size = dmabuf->size;
	ret = shmstream_copy_out(uarg, &a);
	if (ret) {
		put_unused_fd(fd);
		dma_buf_put(dmabuf);
		return ret;
	}
	/* The reference from shmstream_dmabuf_get() goes to the fd. */
	fd_install(fd, dmabuf->file);
	return 0;
}

/* At release: the file's references; dma-bufs with fds live on. */
void shmstream_dmabuf_release_file(struct shmstream_file *sf)
{
	struct shmstream_stream *s = sf->stream;
	u32 i;

	if (!sf->dmabufs)
		return;
	for (i = 0; i < s->slot_count; i++)
		if (sf->dmabufs[i])
			dma_buf_put(sf->dmabufs[i]);
	kfree(sf->dmabufs);
	sf->dmabufs = NULL;
}
