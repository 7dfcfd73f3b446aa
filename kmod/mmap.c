// SPDX-License-Identifier: GPL-2.0-only
/*
 * mmap: the control area (read-only for everyone) and whole slots
 * (read-only for consumers, read-write for the producer).
 *
 * Stream memory is ordinary zeroed pages, inserted with their page
 * references when the mapping is made and handed out again by a fault
 * handler after a zap (no remap_pfn_range, no VM_IO/VM_PFNMAP), so drivers
 * can pin it again with pin_user_pages() (cuMemHostRegister, RDMA).
 * Every VMA holds a reference on the stream: the memory outlives close()
 * and DESTROY while mapped.
 */

#include <linux/mm.h>

#include "shmstream.h"

static void shmstream_vm_open(struct vm_area_struct *vma)
{
	struct shmstream_stream *s = vma->vm_private_data;

	kref_get(&s->ref);
	atomic_long_inc(&shmstream_counters.mappings);
}

static void shmstream_vm_close(struct vm_area_struct *vma)
{
	struct shmstream_stream *s = vma->vm_private_data;

	atomic_long_dec(&shmstream_counters.mappings);
	shmstream_stream_put(s);
}

static vm_fault_t shmstream_vm_fault(struct vm_fault *vmf)
{
	struct shmstream_stream *s = vmf->vma->vm_private_data;

	if (vmf->pgoff >= s->nr_pages)
		return VM_FAULT_SIGBUS;
	vmf->page = s->pages[vmf->pgoff];
	get_page(vmf->page);
	return 0;
}

/*
 * Map every page of the new VMA now: readers touch all of them, frame
 * after frame, and one batch here costs far less than a fault per page in
 * every process. What cannot be inserted (no memory for page tables) is
 * left to the fault handler.
 */
static void shmstream_prefault(struct vm_area_struct *vma,
			       struct shmstream_stream *s)
{
	unsigned long num = vma_pages(vma);

	vm_insert_pages(vma, vma->vm_start, s->pages + vma->vm_pgoff, &num);
}

static const struct vm_operations_struct shmstream_vm_ops = {
	.open = shmstream_vm_open,
	.close = shmstream_vm_close,
	.fault = shmstream_vm_fault,
};

int shmstream_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmstream_file *sf = file->private_data;
	struct shmstream_stream *s = shmstream_bound(sf);
	unsigned long pgoff = vma->vm_pgoff;
	unsigned long pages = vma_pages(vma);
	bool writable;

	if (!s)
		return -ENOTCONN;
	/*
	 * A shared mapping: do_mmap() clears VM_SHARED (and keeps
	 * VM_MAYSHARE) for a file not open for writing, so that an O_RDONLY
	 * consumer can map too. MAP_PRIVATE has neither and is refused.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;

	if (pgoff == 0 && pages == s->ctrl_pages) {
		writable = false;
	} else if (pgoff >= s->ctrl_pages && pgoff < s->nr_pages &&
		   !((pgoff - s->ctrl_pages) % s->slot_pages) && pages &&
		   !(pages % s->slot_pages) && pages <= s->nr_pages - pgoff) {
		/* One or more whole slots. */
		writable = sf->role == SHMSTREAM_ATTACH_PRODUCER;
	} else {
		return -EINVAL;
	}

	if (!writable) {
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		shmstream_vm_flags_mod(vma, 0, VM_MAYWRITE);
	}
	shmstream_vm_flags_mod(vma, VM_DONTEXPAND | VM_DONTDUMP, 0);
	vma->vm_ops = &shmstream_vm_ops;
	vma->vm_private_data = s;
	shmstream_prefault(vma, s);
	shmstream_vm_open(vma);
	return 0;
}
