/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels shmstream supports, in one place.
 */
#ifndef _SHMSTREAM_COMPAT_H
#define _SHMSTREAM_COMPAT_H

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ipc_namespace.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/user.h>
#include <linux/time_namespace.h>
#include <linux/version.h>
#include <linux/vmalloc.h>

/*
 * RLIMIT_MEMLOCK accounting of a stream's pages for a caller without
 * CAP_IPC_LOCK. Where free_uid() is exported (the Kbuild probe in
 * kmod/Kbuild defines SHMSTREAM_HAVE_FREE_UID), the creating user's
 * locked_vm is charged, like io_uring does, since a stream outlives the
 * process that made it. Older kernels (5.10) do not export it: there the
 * creating process's mm is charged, like vfio does, and kept (mmgrab())
 * until the stream goes.
 */
struct shmstream_memlock {
#ifdef SHMSTREAM_HAVE_FREE_UID
	struct user_struct *user;
#else
	struct mm_struct *mm;
#endif
};

static inline int shmstream_memlock_charge(struct shmstream_memlock *ml,
					   unsigned long pages)
{
#ifdef SHMSTREAM_HAVE_FREE_UID
	struct user_struct *user = get_uid(current_user());
	unsigned long rlim = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
	unsigned long cur = atomic_long_read(&user->locked_vm), new;

	do {
		new = cur + pages;
		if (new > rlim || new < cur) {
			free_uid(user);
			return -ENOMEM;
		}
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, new));
	ml->user = user;
	return 0;
#else
	int ret = account_locked_vm(current->mm, pages, true);

	if (ret)
		return ret;
	mmgrab(current->mm);
	ml->mm = current->mm;
	return 0;
#endif
}

static inline void shmstream_memlock_uncharge(struct shmstream_memlock *ml,
					      unsigned long pages)
{
#ifdef SHMSTREAM_HAVE_FREE_UID
	if (ml->user) {
		atomic_long_sub(pages, &ml->user->locked_vm);
		free_uid(ml->user);
		ml->user = NULL;
	}
#else
	if (ml->mm) {
		account_locked_vm(ml->mm, pages, false);
		mmdrop(ml->mm);
		ml->mm = NULL;
	}
#endif
}

/* vm_flags became read-only with accessors in 6.3. */
static inline void shmstream_vm_flags_mod(struct vm_area_struct *vma,
					  unsigned long set,
					  unsigned long clear)
{
#if KERNEL_VERSION(6, 3, 0) <= LINUX_VERSION_CODE
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

/*
 * The IPC namespace a stream's name lives in.
 *
 * Modules cannot hold a reference on an ipc_namespace (put_ipc_ns() is not
 * exported), and a bare pointer may be reused by a later namespace. Every
 * IPC namespace owns an mqueue mount, and a mount can be pinned with
 * mntget(): while pinned its address cannot be reused, so it identifies the
 * namespace; and the kernel clears the mount's s_fs_info when the namespace
 * dies, which tells us its names are unreachable and may be reaped. Without
 * POSIX mqueues nothing marks a namespace that cannot be reused or tells
 * that it died, so Kbuild refuses such a kernel, and so does this.
 */
#ifndef CONFIG_POSIX_MQUEUE
#error "shmstream needs CONFIG_POSIX_MQUEUE: it keys IPC namespaces by their mqueue mount"
#endif

struct shmstream_ns {
	void *key;
	struct vfsmount *mnt;
};

static inline void *shmstream_ns_current_key(void)
{
	return current->nsproxy->ipc_ns->mq_mnt;
}

static inline void shmstream_ns_get_current(struct shmstream_ns *ns)
{
	ns->key = shmstream_ns_current_key();
	ns->mnt = mntget(ns->key);
}

static inline void shmstream_ns_put(struct shmstream_ns *ns)
{
	mntput(ns->mnt);
}

static inline bool shmstream_ns_dead(const struct shmstream_ns *ns)
{
	return !READ_ONCE(ns->mnt->mnt_sb->s_fs_info);
}

/* The initial IPC namespace (init_ipc_ns is not exported; init_task is). */
static inline bool shmstream_ns_initial(const struct shmstream_ns *ns)
{
	return ns->key == init_task.nsproxy->ipc_ns->mq_mnt;
}

/*
 * @cap over the caller's IPC namespace, where stream names are looked up:
 * in the user namespace that owns it, as SysV IPC checks, so that root of
 * a container manages the streams of its own IPC namespace only.
 */
static inline bool shmstream_ns_capable(int cap)
{
	return ns_capable(current->nsproxy->ipc_ns->user_ns, cap);
}

/* The same, without an audit record: for a question that refuses nothing. */
static inline bool shmstream_ns_capable_noaudit(int cap)
{
	return ns_capable_noaudit(current->nsproxy->ipc_ns->user_ns, cap);
}

/*
 * An absolute CLOCK_MONOTONIC time of the caller's time namespace, in the
 * host's: timens_ktime_to_host() does this but calls a function modules
 * cannot reach.
 */
static inline ktime_t shmstream_timens_to_host(u64 ns)
{
	ktime_t t = ns > KTIME_MAX ? KTIME_MAX : (ktime_t)ns;
#ifdef CONFIG_TIME_NS
	struct time_namespace *tns = current->nsproxy->time_ns;
	ktime_t off = timespec64_to_ktime(tns->offsets.monotonic);

	t = t < off ? 0 : t - off;
#endif
	return t;
}

/* 6.10 dropped __assign_str()'s source: it comes from __string(). */
#if KERNEL_VERSION(6, 10, 0) <= LINUX_VERSION_CODE
#define shmstream_assign_str(dst, src) __assign_str(dst)
#else
#define shmstream_assign_str(dst, src) __assign_str(dst, src)
#endif

/*
 * dma-buf (dmabuf.c). Its symbols moved into the DMA_BUF namespace in 5.16
 * (importing it before is harmless), and 6.13 made MODULE_IMPORT_NS() take
 * a string. The vmap callbacks returned the address until 5.10, filled a
 * struct dma_buf_map from 5.11, renamed struct iosys_map in 5.18. The
 * reservation lock rules changed in 6.2 (the core now holds the lock
 * around map_dma_buf, vmap and mmap for every importer): the callbacks
 * take no lock of the core's, and only their own mutex, under it.
 */
#ifdef CONFIG_DMA_SHARED_BUFFER
#include <linux/dma-buf.h>

#if KERNEL_VERSION(6, 13, 0) <= LINUX_VERSION_CODE
#define SHMSTREAM_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS("DMA_BUF")
#else
#define SHMSTREAM_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS(DMA_BUF)
#endif

void *shmstream_dmabuf_vmap_pages(struct dma_buf *dmabuf);
void shmstream_dmabuf_vunmap_pages(struct dma_buf *dmabuf, void *vaddr);

#if KERNEL_VERSION(5, 11, 0) <= LINUX_VERSION_CODE
#if KERNEL_VERSION(5, 18, 0) <= LINUX_VERSION_CODE
#include <linux/iosys-map.h>
#define shmstream_vmap_map iosys_map
#define shmstream_vmap_map_set_vaddr iosys_map_set_vaddr
#else
#include <linux/dma-buf-map.h>
#define shmstream_vmap_map dma_buf_map
#define shmstream_vmap_map_set_vaddr dma_buf_map_set_vaddr
#endif

static inline int shmstream_compat_dmabuf_vmap(struct dma_buf *dmabuf,
					       struct shmstream_vmap_map *map)
{
	void *vaddr = shmstream_dmabuf_vmap_pages(dmabuf);

	if (IS_ERR(vaddr))
		return PTR_ERR(vaddr);
	shmstream_vmap_map_set_vaddr(map, vaddr);
	return 0;
}

static inline void
shmstream_compat_dmabuf_vunmap(struct dma_buf *dmabuf,
			       struct shmstream_vmap_map *map)
{
	shmstream_dmabuf_vunmap_pages(dmabuf, map->vaddr);
}
#else
static inline void *shmstream_compat_dmabuf_vmap(struct dma_buf *dmabuf)
{
	void *vaddr = shmstream_dmabuf_vmap_pages(dmabuf);

	return IS_ERR(vaddr) ? NULL : vaddr;
}

static inline void shmstream_compat_dmabuf_vunmap(struct dma_buf *dmabuf,
						  void *vaddr)
{
	shmstream_dmabuf_vunmap_pages(dmabuf, vaddr);
}
#endif
#endif /* CONFIG_DMA_SHARED_BUFFER */

#endif /* _SHMSTREAM_COMPAT_H */
