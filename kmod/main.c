// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmstream: zero-copy frame rings shared between processes.
 *
 * Module init, parameters, the misc device, file open/release and the
 * ioctl dispatcher. The dispatcher only dispatches: one helper a command.
 */

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shmstream.h"

struct shmstream_counters shmstream_counters;
DEFINE_PER_CPU(struct shmstream_hot, shmstream_hot);

/* The sum over all CPUs of the shmstream_hot field at @offset. */
long shmstream_hot_sum(size_t offset)
{
	long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *(long *)((char *)per_cpu_ptr(&shmstream_hot, cpu) +
				 offset);
	return sum;
}

unsigned long shmstream_max_pinned_mb = 1024;
module_param_named(max_pinned_mb, shmstream_max_pinned_mb, ulong, 0644);
MODULE_PARM_DESC(max_pinned_mb,
		 "Pinned memory of all streams together, in MiB (default 1024)");

unsigned int shmstream_max_consumers = 128;
module_param_named(max_consumers, shmstream_max_consumers, uint, 0644);
MODULE_PARM_DESC(max_consumers,
		 "Consumers per stream, of the owner and of guests (128)");

unsigned int shmstream_max_user_consumers = 16;
module_param_named(max_user_consumers, shmstream_max_user_consumers, uint,
		   0644);
MODULE_PARM_DESC(max_user_consumers,
		 "Consumers of one guest user per stream (16)");

unsigned int shmstream_max_user_holds = 8;
module_param_named(max_user_holds, shmstream_max_user_holds, uint, 0644);
MODULE_PARM_DESC(max_user_holds, "Frames one guest user holds per stream (8)");

unsigned int shmstream_stall_ms = 2000;
module_param_named(stall_ms, shmstream_stall_ms, uint, 0644);
MODULE_PARM_DESC(stall_ms,
		 "Default stall limit of reliable consumers, in ms (2000)");

unsigned int shmstream_max_producers = 8;
module_param_named(max_producers, shmstream_max_producers, uint, 0644);
MODULE_PARM_DESC(max_producers,
		 "Default producers of a multi-producer stream (8)");

unsigned int shmstream_max_holds = 8;
module_param_named(max_holds, shmstream_max_holds, uint, 0644);
MODULE_PARM_DESC(max_holds,
		 "Frames held per consumer, pending per producer (default 8)");

/*
 * Copy an extensible argument structure in. Its first field is the
 * caller's size; @minsize is the first published size. A smaller struct is
 * -EINVAL, a larger one with non-zero bytes past ours -E2BIG. On success
 * the size field holds the size to answer with (never past the caller's).
 */
int shmstream_copy_args(void *karg, size_t ksize, size_t minsize,
			void __user *uarg)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize)
		return -EINVAL;
	/* No structure will grow that far: refuse without scanning a tail. */
	if (usize > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(karg, ksize, uarg, usize);
	if (ret)
		return ret;
	*(u32 *)karg = min_t(u32, usize, ksize);
	return 0;
}

/* Copy an answer out, in the size shmstream_copy_args() settled on. */
int shmstream_copy_out(void __user *uarg, const void *karg)
{
	return copy_to_user(uarg, karg, *(const u32 *)karg) ? -EFAULT : 0;
}

/* The stream @sf is bound to, or NULL; the binding never changes. */
struct shmstream_stream *shmstream_bound(struct shmstream_file *sf)
{
	/* Pairs with smp_store_release() in shmstream_file_bind(). */
	return smp_load_acquire(&sf->stream);
}

#define SHMSTREAM_FEATURES                                                 \
	(SHMSTREAM_FEAT_RING | SHMSTREAM_FEAT_RW | SHMSTREAM_FEAT_IPC_NS | \
	 SHMSTREAM_FEAT_MEMLOCK | SHMSTREAM_FEAT_ATTACH_NEWEST |           \
	 SHMSTREAM_FEAT_PEEK | SHMSTREAM_FEAT_ISOLATION |                  \
	 SHMSTREAM_FEAT_DELIVERY | SHMSTREAM_FEAT_DMABUF_IF)

static long shmstream_ioc_version(void __user *uarg)
{
	struct shmstream_version v;
	int ret;

	ret = shmstream_copy_args(&v, sizeof(v), SHMSTREAM_VERSION_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (v.flags || memchr_inv(v.reserved, 0, sizeof(v.reserved)))
		return -EINVAL;

	v.abi_major = SHMSTREAM_ABI_MAJOR;
	v.abi_minor = SHMSTREAM_ABI_MINOR;
	v.features = SHMSTREAM_FEATURES;
	v.max_slots = SHMSTREAM_MAX_SLOTS;
	v.max_slot_size = SHMSTREAM_MAX_SLOT_SIZE;
	v.max_consumers = READ_ONCE(shmstream_max_consumers);
	v.max_holds = READ_ONCE(shmstream_max_holds);
	return shmstream_copy_out(uarg, &v);
}

/*
 * A command without its size bits: a structure that grows changes the size
 * in the command number, and the size that counts is the structure's own
 * @size, so the dispatcher compares type, number and direction only.
 */
#define SHMSTREAM_IOC_BASE(cmd) ((cmd) & ~(_IOC_SIZEMASK << _IOC_SIZESHIFT))

static long shmstream_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct shmstream_file *sf = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (SHMSTREAM_IOC_BASE(cmd)) {
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_VERSION):
		return shmstream_ioc_version(uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_CREATE):
		return shmstream_ioc_create(sf, file->f_mode, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_ATTACH):
		return shmstream_ioc_attach(sf, file->f_mode, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_DESTROY):
		return shmstream_ioc_destroy(uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_LIST):
		return shmstream_ioc_list(uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_INFO):
		return shmstream_ioc_info(sf, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_STATS):
		return shmstream_ioc_stats(sf, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_GET_SLOT):
		return shmstream_ioc_get_slot(sf, file, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_COMMIT):
		return shmstream_ioc_commit(sf, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_ACQUIRE):
		return shmstream_ioc_acquire(sf, file, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_RELEASE):
		return shmstream_ioc_release(sf, uarg);
	case SHMSTREAM_IOC_BASE(SHMSTREAM_IOC_SLOT_DMABUF):
		return shmstream_ioc_slot_dmabuf(sf, uarg);
	default:
		return -ENOTTY;
	}
}

static int shmstream_open(struct inode *inode, struct file *file)
{
	struct shmstream_file *sf;

	sf = kzalloc(sizeof(*sf), GFP_KERNEL_ACCOUNT);
	if (!sf)
		return -ENOMEM;
	mutex_init(&sf->bind_lock);
	INIT_LIST_HEAD(&sf->node);
	INIT_LIST_HEAD(&sf->reliable_node);
	init_waitqueue_head(&sf->poll_wq);
	file->private_data = sf;
	atomic_long_inc(&shmstream_counters.files);
	return stream_open(inode, file);
}

static int shmstream_release(struct inode *inode, struct file *file)
{
	struct shmstream_file *sf = file->private_data;

	shmstream_dmabuf_release_file(sf);
	shmstream_file_unbind(sf);
	mutex_destroy(&sf->bind_lock);
	kfree(sf);
	atomic_long_dec(&shmstream_counters.files);
	return 0;
}

static const struct file_operations shmstream_fops = {
	.owner = THIS_MODULE,
	.open = shmstream_open,
	.release = shmstream_release,
	.read = shmstream_read,
	.write = shmstream_write,
	.poll = shmstream_poll,
	.mmap = shmstream_mmap,
	.unlocked_ioctl = shmstream_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.show_fdinfo = shmstream_show_fdinfo,
	/* No .llseek: lseek() is -ESPIPE (no_llseek itself is gone in 6.12). */
};

/*
 * No .mode: the node is root's, 0600, until udev applies the policy (one
 * place for it: tools/udev/60-shmstream.rules, root:video 0660).
 */
static struct miscdevice shmstream_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = SHMSTREAM_DEVICE_NAME,
	.fops = &shmstream_fops,
};

static int __init shmstream_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct shmstream_version) !=
		     SHMSTREAM_VERSION_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_create) !=
		     SHMSTREAM_CREATE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_attach) !=
		     SHMSTREAM_ATTACH_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_destroy) !=
		     SHMSTREAM_DESTROY_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_list) != SHMSTREAM_LIST_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_info) != SHMSTREAM_INFO_SIZE_VER1);
	BUILD_BUG_ON(sizeof(struct shmstream_stats) !=
		     SHMSTREAM_STATS_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_get_slot) !=
		     SHMSTREAM_GET_SLOT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_commit) !=
		     SHMSTREAM_COMMIT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_acquire) !=
		     SHMSTREAM_ACQUIRE_SIZE_VER1);
	BUILD_BUG_ON(sizeof(struct shmstream_release) !=
		     SHMSTREAM_RELEASE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_slot_dmabuf) !=
		     SHMSTREAM_SLOT_DMABUF_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct shmstream_frame) != 128);
	BUILD_BUG_ON(sizeof(struct shmstream_ctrl) != 64);

	shmstream_debugfs_init();
	ret = misc_register(&shmstream_misc);
	if (ret)
		goto out_debugfs;
	return 0;

out_debugfs:
	shmstream_debugfs_exit();
	return ret;
}

static void __exit shmstream_exit(void)
{
	misc_deregister(&shmstream_misc);
	shmstream_debugfs_exit();
	/* No file or mapping is left (they pin the module): free the names. */
	shmstream_registry_exit();
	WARN_ON(atomic_long_read(&shmstream_counters.streams));
	WARN_ON(atomic_long_read(&shmstream_counters.pinned_pages));
	WARN_ON(atomic_long_read(&shmstream_counters.dmabufs));
}

module_init(shmstream_init);
module_exit(shmstream_exit);

MODULE_AUTHOR("shmstream developers");
MODULE_DESCRIPTION("Zero-copy frame rings shared between processes");
MODULE_LICENSE("GPL");
MODULE_VERSION(SHMSTREAM_VERSION);
#ifdef CONFIG_DMA_SHARED_BUFFER
SHMSTREAM_IMPORT_NS_DMA_BUF();
#endif
