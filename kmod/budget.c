// SPDX-License-Identifier: GPL-2.0-only
/*
 * The pinned-memory budgets, in three levels like ucounts: a stream's pages
 * count against the module's max_pinned_mb, against its creating user's
 * max_user_pinned_mb and, in an IPC namespace other than the initial one,
 * against that namespace's max_ns_pinned_mb. One user at its limit, or one
 * container, leaves the rest of the module's budget to the others.
 *
 * A user's or a namespace's entry exists while it has pages charged: the
 * first charge makes it, the last uncharge frees it, so that nothing is
 * left once every stream is gone.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "shmstream.h"

unsigned long shmstream_max_user_pinned_mb = 512;
module_param_named(max_user_pinned_mb, shmstream_max_user_pinned_mb, ulong,
		   0644);
MODULE_PARM_DESC(max_user_pinned_mb, "Pinned MiB of one user's streams (512)");

unsigned long shmstream_max_ns_pinned_mb = 512;
module_param_named(max_ns_pinned_mb, shmstream_max_ns_pinned_mb, ulong, 0644);
MODULE_PARM_DESC(max_ns_pinned_mb,
		 "Pinned MiB of an IPC namespace not the first (512)");

/*
 * One user's or one IPC namespace's charge. A user is keyed by its kuid
 * (global across user namespaces, like RLIMIT_MEMLOCK's user_struct), a
 * namespace by shmstream_ns.key, which cannot be reused while a stream
 * pins it.
 */
struct shmstream_budget {
	struct hlist_node node;
	unsigned long key;
	unsigned long pages;
};

/* Guards both tables and every entry's @pages. */
static DEFINE_SPINLOCK(shmstream_budget_lock);
static DEFINE_HASHTABLE(shmstream_user_budgets, 6);
static DEFINE_HASHTABLE(shmstream_ns_budgets, 6);

/* Entries that exist: each user and namespace with pages charged. */
atomic_long_t shmstream_budget_entries;

static struct shmstream_budget *
shmstream_budget_find(struct hlist_head *table, unsigned int bits,
		      unsigned long key, struct shmstream_budget **spare)
{
	struct shmstream_budget *b;

	lockdep_assert_held(&shmstream_budget_lock);

	hlist_for_each_entry(b, &table[hash_long(key, bits)], node)
		if (b->key == key)
			return b;
	b = *spare;
	*spare = NULL;
	b->key = key;
	b->pages = 0;
	hlist_add_head(&b->node, &table[hash_long(key, bits)]);
	atomic_long_inc(&shmstream_budget_entries);
	return b;
}

/* Take @pages off @b; @b goes when nothing is left on it. */
static void shmstream_budget_drop(struct shmstream_budget *b,
				  unsigned long pages)
{
	lockdep_assert_held(&shmstream_budget_lock);

	b->pages -= pages;
	if (!b->pages) {
		hash_del(&b->node);
		atomic_long_dec(&shmstream_budget_entries);
		kfree(b);
	}
}

/*
 * Charge @pages to the caller's user and, outside the initial IPC
 * namespace, to @ns; -ENOSPC when either is over its limit (lifted by
 * CAP_SYS_RESOURCE), -ENOMEM. On success @c records what to uncharge.
 */
int shmstream_budget_charge(struct shmstream_charge *c,
			    const struct shmstream_ns *ns, unsigned long pages)
{
	struct shmstream_budget *spare[2], *user, *nsb = NULL;
	bool limited = !capable(CAP_SYS_RESOURCE);
	bool in_ns = !shmstream_ns_initial(ns);
	unsigned long ulimit, nslimit;
	int ret = 0;

	spare[0] = kzalloc(sizeof(*spare[0]), GFP_KERNEL_ACCOUNT);
	spare[1] = kzalloc(sizeof(*spare[1]), GFP_KERNEL_ACCOUNT);
	if (!spare[0] || !spare[1]) {
		ret = -ENOMEM;
		goto out_free;
	}
	ulimit = shmstream_mb_shift(READ_ONCE(shmstream_max_user_pinned_mb),
				    20 - PAGE_SHIFT);
	nslimit = shmstream_mb_shift(READ_ONCE(shmstream_max_ns_pinned_mb),
				     20 - PAGE_SHIFT);

	spin_lock(&shmstream_budget_lock);
	user = shmstream_budget_find(shmstream_user_budgets,
				     HASH_BITS(shmstream_user_budgets),
				     __kuid_val(current_euid()), &spare[0]);
	if (in_ns)
		nsb = shmstream_budget_find(shmstream_ns_budgets,
					    HASH_BITS(shmstream_ns_budgets),
					    (unsigned long)ns->key, &spare[1]);
	/* The module's budget bounds every sum here: none can wrap. */
	if (limited && (user->pages + pages > ulimit ||
			(nsb && nsb->pages + pages > nslimit))) {
		/* Entries made for this call alone go again. */
		if (nsb)
			shmstream_budget_drop(nsb, 0);
		shmstream_budget_drop(user, 0);
		ret = -ENOSPC;
	} else {
		user->pages += pages;
		if (nsb)
			nsb->pages += pages;
		c->user = user;
		c->ns = nsb;
		c->pages = pages;
	}
	spin_unlock(&shmstream_budget_lock);
out_free:
	kfree(spare[0]);
	kfree(spare[1]);
	return ret;
}

void shmstream_budget_uncharge(struct shmstream_charge *c)
{
	if (!c->user)
		return;
	spin_lock(&shmstream_budget_lock);
	shmstream_budget_drop(c->user, c->pages);
	if (c->ns)
		shmstream_budget_drop(c->ns, c->pages);
	spin_unlock(&shmstream_budget_lock);
	c->user = NULL;
	c->ns = NULL;
}
