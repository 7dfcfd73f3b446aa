// SPDX-License-Identifier: GPL-2.0-only
/*
 * shmstream: zero-copy frame rings shared between processes.
 *
 * Module init, the misc device and the ioctl dispatcher.
 */

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include <linux/shmstream.h>

#include "shmstream.h"

struct shmstream_counters shmstream_counters;

/*
 * Copy an extensible argument structure in. @usize is the caller's size
 * (the structure's own @size field); @minsize the first published size.
 */
static int shmstream_copy_args(void *karg, size_t ksize, size_t minsize,
			       void __user *uarg)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)uarg))
		return -EFAULT;
	if (usize < minsize)
		return -EINVAL;
	ret = copy_struct_from_user(karg, ksize, uarg, usize);
	if (ret)
		return ret;
	/* Answer in the caller's layout: never write past its size. */
	*(u32 *)karg = min_t(u32, usize, ksize);
	return 0;
}

static int shmstream_ioc_version(void __user *uarg)
{
	struct shmstream_version v;
	int ret;

	ret = shmstream_copy_args(&v, sizeof(v), SHMSTREAM_VERSION_SIZE_VER0,
				  uarg);
	if (ret)
		return ret;
	if (v.flags || v.reserved[0] || v.reserved[1])
		return -EINVAL;

	v.abi_major = SHMSTREAM_ABI_MAJOR;
	v.abi_minor = SHMSTREAM_ABI_MINOR;
	v.features = 0;
	v.max_slots = SHMSTREAM_MAX_SLOTS;
	v.max_slot_size = SHMSTREAM_MAX_SLOT_SIZE;
	v.max_consumers = 0;
	v.max_holds = 0;
	if (copy_to_user(uarg, &v, v.size))
		return -EFAULT;
	return 0;
}

static long shmstream_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case SHMSTREAM_IOC_VERSION:
		return shmstream_ioc_version(uarg);
	default:
		return -ENOTTY;
	}
}

static int shmstream_open(struct inode *inode, struct file *file)
{
	atomic_long_inc(&shmstream_counters.files);
	return 0;
}

static int shmstream_release(struct inode *inode, struct file *file)
{
	atomic_long_dec(&shmstream_counters.files);
	return 0;
}

static const struct file_operations shmstream_fops = {
	.owner = THIS_MODULE,
	.open = shmstream_open,
	.release = shmstream_release,
	.unlocked_ioctl = shmstream_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice shmstream_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = SHMSTREAM_DEVICE_NAME,
	.fops = &shmstream_fops,
	.mode = 0666,
};

static int __init shmstream_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct shmstream_version) !=
		     SHMSTREAM_VERSION_SIZE_VER0);

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
}

module_init(shmstream_init);
module_exit(shmstream_exit);

MODULE_AUTHOR("shmstream developers");
MODULE_DESCRIPTION("Zero-copy frame rings shared between processes");
MODULE_LICENSE("GPL");
MODULE_VERSION(SHMSTREAM_VERSION);
