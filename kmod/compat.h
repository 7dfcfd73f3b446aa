/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Differences between the kernels shmstream supports, in one place.
 */
#ifndef _SHMSTREAM_COMPAT_H
#define _SHMSTREAM_COMPAT_H

#include <linux/ipc_namespace.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/version.h>

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
 * dies, which tells us its names are unreachable and may be reaped.
 * Without POSIX mqueues the namespace pointer is the key and names of dead
 * namespaces stay until the module is unloaded.
 */
struct shmstream_ns {
	void *key;
	struct vfsmount *mnt;
};

static inline void *shmstream_ns_current_key(void)
{
	struct ipc_namespace *ipc = current->nsproxy->ipc_ns;

#ifdef CONFIG_POSIX_MQUEUE
	return ipc->mq_mnt;
#else
	return ipc;
#endif
}

static inline void shmstream_ns_get_current(struct shmstream_ns *ns)
{
	ns->key = shmstream_ns_current_key();
#ifdef CONFIG_POSIX_MQUEUE
	ns->mnt = mntget(ns->key);
#else
	ns->mnt = NULL;
#endif
}

static inline void shmstream_ns_put(struct shmstream_ns *ns)
{
	mntput(ns->mnt); /* NULL-safe */
}

static inline bool shmstream_ns_dead(const struct shmstream_ns *ns)
{
#ifdef CONFIG_POSIX_MQUEUE
	return !READ_ONCE(ns->mnt->mnt_sb->s_fs_info);
#else
	return false;
#endif
}

#endif /* _SHMSTREAM_COMPAT_H */
