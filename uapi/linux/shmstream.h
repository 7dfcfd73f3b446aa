/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shmstream: zero-copy frame rings shared between processes.
 *
 * /dev/shmstream manages named rings of pinned frame buffers. One producer
 * commits frames; any number of consumers acquire them in place through a
 * read-only mmap and sleep in poll/epoll between frames.
 *
 * Every argument structure starts with @size (the caller's sizeof) and
 * @flags. The kernel accepts any @size from the first published size of
 * the structure up to its own: a smaller, older structure is zero-extended,
 * a larger one is accepted only when the bytes the kernel does not know are
 * zero (-E2BIG otherwise). A @size below the first published size is
 * -EINVAL, a @size above 4096 is -E2BIG (its tail is not read), unknown
 * @flags bits and non-zero reserved fields are -EINVAL and unknown commands
 * are -ENOTTY.
 *
 * The kernel dispatches on the type, number and direction of a command and
 * ignores its size bits: a program built against a newer header, whose
 * structures grew (and whose command numbers changed with them), still
 * reaches an older module, which takes the size from @size.
 *
 * ABI 2 (this header) is not compatible with ABI 1.x: the ioctl magic moved
 * from 0xB8 (registered to other drivers) to 0xB9, waits take absolute
 * deadlines, descriptors in the control area carry a sequence count, and an
 * O_RDONLY file can be a consumer. An ABI 1 program gets -ENOTTY from every
 * command of an ABI 2 module, and the reverse.
 */
#ifndef _UAPI_LINUX_SHMSTREAM_H
#define _UAPI_LINUX_SHMSTREAM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define SHMSTREAM_DEVICE_NAME		"shmstream"

/* ABI version: the major changes only for incompatible changes. */
#define SHMSTREAM_ABI_MAJOR		2
#define SHMSTREAM_ABI_MINOR		3

/* Feature bits reported by SHMSTREAM_IOC_VERSION. */
#define SHMSTREAM_FEAT_RING		_BITULL(0)	/* create/attach/commit/acquire */
#define SHMSTREAM_FEAT_RW		_BITULL(1)	/* read(2)/write(2) shortcuts */
#define SHMSTREAM_FEAT_IPC_NS		_BITULL(2)	/* names per IPC namespace */
#define SHMSTREAM_FEAT_MEMLOCK		_BITULL(3)	/* RLIMIT_MEMLOCK accounting */
#define SHMSTREAM_FEAT_ATTACH_NEWEST	_BITULL(4)	/* SHMSTREAM_ATTACH_NEWEST */
#define SHMSTREAM_FEAT_PEEK		_BITULL(5)	/* the control area's read protocol */
#define SHMSTREAM_FEAT_ISOLATION	_BITULL(6)	/* 2.1: guests' limits, budgets */
#define SHMSTREAM_FEAT_DELIVERY		_BITULL(7)	/* 2.2: reliable, history, producers */
#define SHMSTREAM_FEAT_DMABUF		_BITULL(8)	/* 2.3: SHMSTREAM_IOC_SLOT_DMABUF */

/*
 * Waits (GET_SLOT, ACQUIRE) end at an absolute CLOCK_MONOTONIC time, as
 * seen from the caller's time namespace, so that a call restarted after a
 * signal does not begin its wait again. Two values are special.
 */
#define SHMSTREAM_DEADLINE_NOWAIT	0ULL		/* -EAGAIN at once */
#define SHMSTREAM_DEADLINE_NEVER	(~0ULL)		/* wait without limit */

/* Stream names: 1..63 characters of [A-Za-z0-9._-], NUL-terminated. */
#define SHMSTREAM_NAME_MAX		64

/* Geometry limits; the module may be configured lower, never higher. */
#define SHMSTREAM_MAX_SLOTS		1024
#define SHMSTREAM_MAX_SLOT_SIZE		(256U << 20)

/* Producers of one stream (SHMSTREAM_CREATE_MULTI_PRODUCER), at most. */
#define SHMSTREAM_MAX_PRODUCERS		64

/* A stream's stall limit for reliable consumers, in ms, at most (10 min). */
#define SHMSTREAM_MAX_STALL_MS		600000

/* Size of the user metadata blob carried with every frame. */
#define SHMSTREAM_META_MAX		64

/**
 * struct shmstream_version - API handshake (SHMSTREAM_IOC_VERSION)
 * @size: sizeof(struct shmstream_version), set by the caller
 * @flags: must be 0
 * @abi_major: out: SHMSTREAM_ABI_MAJOR of the running module
 * @abi_minor: out: SHMSTREAM_ABI_MINOR of the running module
 * @features: out: SHMSTREAM_FEAT_* bits
 * @max_slots: out: largest slot count accepted by CREATE
 * @max_slot_size: out: largest slot size accepted by CREATE
 * @max_consumers: out: consumers allowed per stream
 * @max_holds: out: frames one consumer may hold at once
 * @reserved: must be 0
 */
struct shmstream_version {
	__u32 size;
	__u32 flags;
	__u32 abi_major;
	__u32 abi_minor;
	__u64 features;
	__u32 max_slots;
	__u32 max_slot_size;
	__u32 max_consumers;
	__u32 max_holds;
	__u64 reserved[2];
};

#define SHMSTREAM_VERSION_SIZE_VER0	56

/**
 * struct shmstream_format - the format of the frames in a stream
 * @fourcc: V4L2/DRM fourcc code, 0 when unknown
 * @width: width in pixels
 * @height: height in pixels
 * @stride: bytes per line of the first plane
 */
struct shmstream_format {
	__u32 fourcc;
	__u32 width;
	__u32 height;
	__u32 stride;
};

/* CREATE flags */
#define SHMSTREAM_CREATE_DESTROY_ON_CLOSE _BITUL(0) /* destroy when creator closes */
#define SHMSTREAM_CREATE_MULTI_PRODUCER	_BITUL(1)	/* 2.2: several producers */
#define SHMSTREAM_CREATE_CONTIGUOUS	_BITUL(2)	/* 2.3: slots physically contiguous */

/**
 * struct shmstream_create - create a stream (SHMSTREAM_IOC_CREATE)
 * @size: sizeof(struct shmstream_create)
 * @flags: SHMSTREAM_CREATE_* flags
 * @name: stream name, NUL-terminated
 * @slot_count: number of frame slots, 1..max_slots
 * @slot_size: bytes per slot, 1..max_slot_size
 * @mode: permission bits (0..0777) checked on attach, like shm_open()
 * @max_consumers: consumers of the owner, and consumers of all guests
 *	together, each at most this many; 0: the module's max_consumers,
 *	which is also the most accepted (2.1)
 * @user_consumers: consumers one guest user may attach; 0: the module's
 *	max_user_consumers, lowered to @max_consumers when over it; a value
 *	over @max_consumers is -EINVAL (2.1)
 * @user_holds: frames one guest user's consumers may hold together; 0:
 *	the module's max_user_holds, at most SHMSTREAM_MAX_SLOTS (2.1)
 * @format: default format of committed frames
 * @stall_ms: how long a reliable consumer may hold the producer back
 *	without taking a frame before it is demoted; 0: the module's
 *	stall_ms (2000), at most SHMSTREAM_MAX_STALL_MS (2.2)
 * @max_producers: with SHMSTREAM_CREATE_MULTI_PRODUCER, producers that may
 *	be attached at once, 1..SHMSTREAM_MAX_PRODUCERS, 0: the module's
 *	max_producers (8); without the flag it must be 0, and the stream has
 *	one producer at a time (2.2)
 * @reserved: must be 0
 *
 * The creating file becomes the stream's producer: it must be open for
 * writing (-EBADF otherwise). The name is published already bound, so a
 * racing ATTACH of a producer gets -EBUSY and a racing DESTROY destroys the
 * new stream; CREATE itself fails only on its own input, -EEXIST, -ENOSPC,
 * -ENOMEM, -EINTR and -EISCONN.
 *
 * Owners and guests (2.1, SHMSTREAM_FEAT_ISOLATION). A consumer attached by
 * the stream's owner (its effective uid), or by a task with CAP_IPC_OWNER
 * in the user namespace that owns the stream's IPC namespace, is the
 * owner's; any other consumer is a guest's. No guest can stall the
 * producer or keep the owner out (a reliable consumer, which needs write
 * permission, holds the producer back for the stall limit at most, each
 * time it attaches: struct shmstream_attach):
 *  - guests together hold frames in all slots but one at most: a slot is
 *    left that only the owner's consumers and the producer use, so a
 *    producer with no slot pending gets one from GET_SLOT at once unless
 *    the owner's consumers hold it. A guest's ACQUIRE that would hold a
 *    frame in the last slot is -ENOBUFS while its file holds a frame
 *    (release one), and waits as for a frame that has not come while the
 *    file holds none. On a one-slot stream only the owner's consumers
 *    acquire;
 *  - the owner's consumers and all guests' consumers are counted apart,
 *    each up to @max_consumers (-EUSERS past it), and one guest user has
 *    at most @user_consumers consumers (-EUSERS) holding at most
 *    @user_holds frames together (-ENOBUFS), on top of max_holds per file.
 * The owner's consumers are bounded only by max_holds per file: the owner
 * may hold every slot and stall its own producer (a one-slot mailbox).
 *
 * Pinned memory (2.1). A stream's pages count against its creator's
 * RLIMIT_MEMLOCK (without CAP_IPC_LOCK) and against three budgets, each
 * -ENOSPC when full: the module's max_pinned_mb, the creating user's
 * max_user_pinned_mb, and, in an IPC namespace other than the initial one,
 * the namespace's max_ns_pinned_mb. CAP_SYS_RESOURCE in the initial user
 * namespace lifts the user and namespace budgets, not the module's.
 *
 * Several producers (2.2, SHMSTREAM_FEAT_DELIVERY). With
 * SHMSTREAM_CREATE_MULTI_PRODUCER up to @max_producers files are producers
 * at once (the creator is one; ATTACH of one more is -EBUSY). Each takes
 * slots with GET_SLOT and commits them on its own; the frames of all of
 * them get one sequence, in the order of their COMMITs. Consumers see
 * EPOLLPRI when no producer at all is attached.
 *
 * Contiguous slots (2.3, SHMSTREAM_FEAT_DMABUF). With
 * SHMSTREAM_CREATE_CONTIGUOUS each slot is one physically contiguous block
 * of memory, for devices that import dma-bufs without an IOMMU or
 * scatter-gather (vb2-dma-contig queues: many encoders, decoders and
 * display controllers). A block is a power of two of pages, at most the
 * kernel's largest page order (4 MiB on x86-64); a slot larger, or memory
 * too fragmented to find the blocks, is -ENOMEM. INFO reports the stream
 * with SHMSTREAM_STATE_CONTIGUOUS.
 */
struct shmstream_create {
	__u32 size;
	__u32 flags;
	char name[SHMSTREAM_NAME_MAX];
	__u32 slot_count;
	__u32 slot_size;
	__u32 mode;
	__u32 max_consumers;
	struct shmstream_format format;
	__u32 user_consumers;
	__u32 user_holds;
	__u32 stall_ms;
	__u32 max_producers;
	__u64 reserved[2];
};

#define SHMSTREAM_CREATE_SIZE_VER0	136

/* ATTACH flags: exactly one role; NEWEST and RELIABLE only with CONSUMER */
#define SHMSTREAM_ATTACH_PRODUCER	_BITUL(0)
#define SHMSTREAM_ATTACH_CONSUMER	_BITUL(1)
#define SHMSTREAM_ATTACH_NEWEST		_BITUL(2)	/* see the newest frame too */
#define SHMSTREAM_ATTACH_RELIABLE	_BITUL(3)	/* 2.2: lose no frame */

/**
 * struct shmstream_attach - bind this file to a stream (SHMSTREAM_IOC_ATTACH)
 * @size: sizeof(struct shmstream_attach)
 * @flags: SHMSTREAM_ATTACH_PRODUCER or SHMSTREAM_ATTACH_CONSUMER, the latter
 *	optionally with SHMSTREAM_ATTACH_NEWEST and SHMSTREAM_ATTACH_RELIABLE
 * @name: stream name
 * @history: consumer: 1..slot_count, the last @history frames committed
 *	(those still in the ring) come first; 0: none; not with
 *	SHMSTREAM_ATTACH_NEWEST, which is @history 1 (2.2)
 * @reserved0: must be 0
 * @reserved: must be 0
 *
 * A file is bound at most once and keeps its role until it is released:
 * when its last file descriptor is closed *and* its last mapping is gone,
 * for a mapping holds the file (see "What close does" in the README).
 * A producer needs a file open for writing (-EBADF otherwise); a consumer
 * may use an O_RDONLY file, which can mmap the control area and the slots.
 * A new consumer's cursor starts at the newest committed frame: it sees the
 * frames committed after it attached. With SHMSTREAM_ATTACH_NEWEST the cursor
 * starts just before the newest committed frame, so that frame (while it is
 * still in the ring) is the first one the consumer sees: a reader of the
 * latest value gets it without waiting for the next commit. With @history N
 * the cursor starts before the newest frames still in the ring that follow
 * each other up to the head, N of them at most (fewer when frames are gone:
 * a slot taken while an older frame was held ends the run): the consumer
 * takes them in order before any new one, none of them missed.
 *
 * Reliable consumers (2.2, SHMSTREAM_FEAT_DELIVERY). The producer never
 * reuses a slot whose frame a reliable consumer has not taken yet (taken:
 * passed by its cursor, with ACQUIRE or read(2)): GET_SLOT waits, or is
 * -EAGAIN, and EPOLLOUT comes when the consumer takes the frame. Since it
 * can hold the producer back, a reliable consumer needs write permission
 * on the stream as well as read permission (-EACCES), as a producer does,
 * or CAP_IPC_OWNER; guests' limits apply to it as to any consumer. Every
 * stream has a stall limit (struct shmstream_create's @stall_ms): a
 * reliable consumer that holds the producer back and takes no frame for
 * that long (counted from its last ACQUIRE, or from the moment the
 * producer was first held back, whichever is later) is demoted to an
 * ordinary consumer, for good, and the producer goes on. The producer is
 * held back when GET_SLOT or write(2) finds no slot for that reason, and
 * when poll finds none for EPOLLOUT. The demoted file sees EPOLLERR until
 * it next takes a frame; an ACQUIRE of the full size then reports
 * SHMSTREAM_ACQUIRE_EV_DEMOTED (read(2), or an ACQUIRE of the first size,
 * spends the event without a word: STATS still tells); the frames it lost
 * are counted in @missed like any skipped frame; STATS shows
 * SHMSTREAM_STATS_DEMOTED and INFO counts demotions. ACQUIRE_LATEST skips
 * frames by choice, as ever. A file opened again may attach as a reliable
 * consumer again: someone with write permission can hold the producer
 * back for a stall limit each time.
 */
struct shmstream_attach {
	__u32 size;
	__u32 flags;
	char name[SHMSTREAM_NAME_MAX];
	__u32 history;
	__u32 reserved0;
	__u64 reserved[1];
};

#define SHMSTREAM_ATTACH_SIZE_VER0	88

/**
 * struct shmstream_destroy - remove a stream's name (SHMSTREAM_IOC_DESTROY)
 * @size: sizeof(struct shmstream_destroy)
 * @flags: must be 0
 * @name: stream name
 * @reserved: must be 0
 *
 * Like shm_unlink(): the name goes at once, the memory when the last file
 * and mapping are gone. Only the owner or CAP_SYS_ADMIN may destroy.
 */
struct shmstream_destroy {
	__u32 size;
	__u32 flags;
	char name[SHMSTREAM_NAME_MAX];
	__u64 reserved[2];
};

#define SHMSTREAM_DESTROY_SIZE_VER0	88

/**
 * struct shmstream_list - list stream names (SHMSTREAM_IOC_LIST)
 * @size: sizeof(struct shmstream_list)
 * @flags: must be 0
 * @names: user pointer to an array of @capacity char[SHMSTREAM_NAME_MAX]
 * @capacity: entries available at @names
 * @count: out: number of streams in the caller's IPC namespace
 * @reserved: must be 0
 *
 * When @count exceeds @capacity, the first @capacity names are written and
 * the call fails with -ENOSPC (with @count still written back).
 */
struct shmstream_list {
	__u32 size;
	__u32 flags;
	__u64 names;
	__u32 capacity;
	__u32 count;
	__u64 reserved[2];
};

#define SHMSTREAM_LIST_SIZE_VER0	40

/* shmstream_info.state bits */
#define SHMSTREAM_STATE_PRODUCER	_BITUL(0)	/* a producer is attached */
#define SHMSTREAM_STATE_DESTROYED	_BITUL(1)	/* name removed */
#define SHMSTREAM_STATE_CONTIGUOUS	_BITUL(2)	/* SHMSTREAM_CREATE_CONTIGUOUS */

/**
 * struct shmstream_info - a stream's geometry and counters (SHMSTREAM_IOC_INFO)
 * @size: sizeof(struct shmstream_info)
 * @flags: must be 0
 * @name: in: a stream name, or empty for the stream this file is bound to;
 *	out: the stream's name
 * @slot_count: out: number of slots
 * @slot_size: out: bytes per slot
 * @ctrl_offset: out: mmap offset of the control area
 * @ctrl_size: out: bytes of the control area
 * @slots_offset: out: mmap offset of slot 0
 * @slot_stride: out: distance in mmap space between two slots
 * @format: out: the stream's default format
 * @mode: out: permission bits
 * @uid: out: owner uid (in the caller's user namespace)
 * @gid: out: owner gid
 * @state: out: SHMSTREAM_STATE_* bits
 * @consumers: out: attached consumers
 * @max_holds: out: frames one consumer may hold at once
 * @frames: out: frames committed
 * @bytes: out: bytes committed
 * @head_seq: out: sequence number of the newest frame, 0 when none
 * @producer_detaches: out: times a producer detached
 * @max_consumers: out: the stream's limit on the owner's consumers and on
 *	all guests' consumers, each (2.1; see struct shmstream_create)
 * @user_consumers: out: consumers one guest user may attach (2.1)
 * @user_holds: out: frames one guest user may hold together (2.1)
 * @guest_consumers: out: consumers of guests among @consumers (2.1)
 * @producers: out: attached producers (2.2)
 * @max_producers: out: producers allowed at once, 1 without
 *	SHMSTREAM_CREATE_MULTI_PRODUCER (2.2)
 * @reliable_consumers: out: reliable consumers among @consumers (2.2)
 * @stall_ms: out: the stream's stall limit for reliable consumers (2.2)
 * @demotions: out: reliable consumers demoted so far (2.2)
 * @dmabufs: out: the stream's slots exported as dma-bufs that still exist,
 *	by any file (2.3)
 * @reserved0: out: 0
 */
struct shmstream_info {
	__u32 size;
	__u32 flags;
	char name[SHMSTREAM_NAME_MAX];
	__u32 slot_count;
	__u32 slot_size;
	__u64 ctrl_offset;
	__u64 ctrl_size;
	__u64 slots_offset;
	__u64 slot_stride;
	struct shmstream_format format;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 state;
	__u32 consumers;
	__u32 max_holds;
	__u64 frames;
	__u64 bytes;
	__u64 head_seq;
	__u64 producer_detaches;
	__u32 max_consumers;
	__u32 user_consumers;
	__u32 user_holds;
	__u32 guest_consumers;
	__u16 producers;
	__u16 max_producers;
	__u32 reliable_consumers;
	__u32 stall_ms;
	__u32 demotions;
	__u32 dmabufs;
	__u32 reserved0;
};

#define SHMSTREAM_INFO_SIZE_VER0	216
#define SHMSTREAM_INFO_SIZE_VER1	224	/* 2.3: @dmabufs */

/**
 * struct shmstream_stats - this file's own counters (SHMSTREAM_IOC_STATS)
 * @size: sizeof(struct shmstream_stats)
 * @flags: must be 0
 * @role: out: SHMSTREAM_ATTACH_PRODUCER or SHMSTREAM_ATTACH_CONSUMER
 * @holds: out: slots this file holds (consumer) or has pending (producer)
 * @attach_seq: out: where this consumer's counting starts: the head sequence
 *	when it attached, one less with SHMSTREAM_ATTACH_NEWEST (whose first
 *	frame is that head), as many less as the frames of its @history
 * @cursor: out: sequence of the last frame taken (consumer)
 * @taken: out: frames acquired (consumer) or committed (producer)
 * @missed: out: frames committed after attach that this consumer skipped
 * @state: out: SHMSTREAM_STATS_* bits (2.2)
 * @dmabufs: out: slots this file has exported as dma-bufs (2.3)
 * @reserved: must be 0
 *
 * For a consumer, @taken + @missed == @cursor - @attach_seq at all times.
 */
struct shmstream_stats {
	__u32 size;
	__u32 flags;
	__u32 role;
	__u32 holds;
	__u64 attach_seq;
	__u64 cursor;
	__u64 taken;
	__u64 missed;
	__u32 state;
	__u32 dmabufs;
	__u64 reserved[1];
};

/* shmstream_stats.state bits */
#define SHMSTREAM_STATS_RELIABLE	_BITUL(0)	/* a reliable consumer */
#define SHMSTREAM_STATS_DEMOTED		_BITUL(1)	/* was one, demoted */

#define SHMSTREAM_STATS_SIZE_VER0	64

/**
 * struct shmstream_get_slot - take a free slot to fill (SHMSTREAM_IOC_GET_SLOT)
 * @size: sizeof(struct shmstream_get_slot)
 * @flags: must be 0
 * @deadline_ns: SHMSTREAM_DEADLINE_NOWAIT: do not wait (-EAGAIN);
 *	SHMSTREAM_DEADLINE_NEVER: wait without limit; else wait until this
 *	CLOCK_MONOTONIC time (-ETIMEDOUT). O_NONBLOCK on the file acts as
 *	NOWAIT. A signal ends any wait with -ERESTARTSYS: a restarted call
 *	waits for what is left of the same deadline.
 * @slot: out: slot index
 * @reserved0: must be 0
 * @offset: out: mmap offset of the slot
 * @reserved: must be 0
 *
 * The slot is held by no consumer and its old frame is no longer offered:
 * its descriptor in the control area reads seq 0 before the call returns.
 * It stays pending until COMMIT (or COMMIT with SHMSTREAM_COMMIT_DISCARD,
 * or the producer's file closing, which discards it).
 */
struct shmstream_get_slot {
	__u32 size;
	__u32 flags;
	__u64 deadline_ns;
	__u32 slot;
	__u32 reserved0;
	__u64 offset;
	__u64 reserved[2];
};

#define SHMSTREAM_GET_SLOT_SIZE_VER0	48

/* COMMIT flags */
#define SHMSTREAM_COMMIT_TIMESTAMP	_BITUL(0)	/* use @timestamp_ns */
#define SHMSTREAM_COMMIT_FORMAT		_BITUL(1)	/* use @format */
#define SHMSTREAM_COMMIT_DISCARD	_BITUL(2)	/* give the slot back unseen */

/**
 * struct shmstream_commit - publish a filled slot (SHMSTREAM_IOC_COMMIT)
 * @size: sizeof(struct shmstream_commit)
 * @flags: SHMSTREAM_COMMIT_* flags
 * @slot: a slot pending from GET_SLOT
 * @bytes_used: bytes of the frame, 0..slot_size
 * @timestamp_ns: CLOCK_MONOTONIC capture time; taken at commit unless
 *	SHMSTREAM_COMMIT_TIMESTAMP, from the host's clock (the initial time
 *	namespace), which every reader shares
 * @frame_flags: opaque flags passed to consumers
 * @meta_len: bytes used in @meta, 0..SHMSTREAM_META_MAX
 * @format: frame format when SHMSTREAM_COMMIT_FORMAT, else the stream's
 * @meta: user metadata (camera id, frame id, ...)
 * @seq: out: sequence number given to the frame
 * @reserved: must be 0
 */
struct shmstream_commit {
	__u32 size;
	__u32 flags;
	__u32 slot;
	__u32 bytes_used;
	__u64 timestamp_ns;
	__u32 frame_flags;
	__u32 meta_len;
	struct shmstream_format format;
	__u8 meta[SHMSTREAM_META_MAX];
	__u64 seq;
	__u64 reserved[2];
};

#define SHMSTREAM_COMMIT_SIZE_VER0	136

/**
 * struct shmstream_frame - descriptor of a committed frame
 * @seq: sequence number, from 1, strictly increasing per stream; 0 while
 *	the slot holds no frame (never filled, or taken by GET_SLOT)
 * @timestamp_ns: CLOCK_MONOTONIC capture time
 * @bytes_used: bytes of the frame
 * @frame_flags: the producer's flags
 * @format: frame format
 * @slot: slot index
 * @meta_len: bytes used in @meta
 * @meta: user metadata
 * @gen: the descriptor's sequence count in the control area: odd while
 *	the kernel writes the descriptor, even when it is whole (in a copy
 *	returned by ACQUIRE it carries no meaning)
 * @reserved0: 0
 * @reserved: 0
 *
 * The control area holds one descriptor per slot at
 * ctrl_offset + desc_offset + slot * sizeof(descriptor). A descriptor
 * read there without holding its slot must be read with the protocol
 * described at struct shmstream_ctrl.
 */
struct shmstream_frame {
	__u64 seq;
	__u64 timestamp_ns;
	__u32 bytes_used;
	__u32 frame_flags;
	struct shmstream_format format;
	__u32 slot;
	__u32 meta_len;
	__u8 meta[SHMSTREAM_META_MAX];
	__u32 gen;
	__u32 reserved0;
	__u64 reserved;
};

/* ACQUIRE modes (flags) */
#define SHMSTREAM_ACQUIRE_NEXT		_BITUL(0)	/* oldest frame after the cursor */
#define SHMSTREAM_ACQUIRE_LATEST	_BITUL(1)	/* newest frame, if after the cursor */

/* ACQUIRE events (out) */
#define SHMSTREAM_ACQUIRE_EV_DEMOTED	_BITUL(0)	/* no longer reliable */

/**
 * struct shmstream_acquire - hold a frame (SHMSTREAM_IOC_ACQUIRE)
 * @size: sizeof(struct shmstream_acquire)
 * @flags: exactly one of SHMSTREAM_ACQUIRE_NEXT, SHMSTREAM_ACQUIRE_LATEST
 * @deadline_ns: as in struct shmstream_get_slot
 * @missed: out: frames skipped since the previous acquire
 * @offset: out: mmap offset of the frame's slot
 * @frame: out: the frame's descriptor
 * @events: out (ignored on the way in): SHMSTREAM_ACQUIRE_EV_* bits, each
 *	reported once: DEMOTED when this reliable consumer was demoted since
 *	its previous ACQUIRE (2.2; a caller passing the first size does not
 *	get it)
 * @reserved0: must be 0
 * @reserved: must be 0
 *
 * The slot stays held (the producer will not reuse it) until RELEASE or
 * until the file is closed.
 */
struct shmstream_acquire {
	__u32 size;
	__u32 flags;
	__u64 deadline_ns;
	__u64 missed;
	__u64 offset;
	struct shmstream_frame frame;
	__u32 events;
	__u32 reserved0;
	__u64 reserved[1];
};

#define SHMSTREAM_ACQUIRE_SIZE_VER0	160
#define SHMSTREAM_ACQUIRE_SIZE_VER1	176	/* 2.2: @events */

/**
 * struct shmstream_release - drop a hold (SHMSTREAM_IOC_RELEASE)
 * @size: sizeof(struct shmstream_release)
 * @flags: must be 0
 * @slot: a slot this file holds
 * @reserved0: must be 0
 * @reserved: must be 0
 */
struct shmstream_release {
	__u32 size;
	__u32 flags;
	__u32 slot;
	__u32 reserved0;
	__u64 reserved[2];
};

#define SHMSTREAM_RELEASE_SIZE_VER0	32

/* SLOT_DMABUF flags */
#define SHMSTREAM_DMABUF_CLOEXEC	_BITUL(0)	/* the new fd is close-on-exec */

/**
 * struct shmstream_slot_dmabuf - a slot as a dma-buf (SHMSTREAM_IOC_SLOT_DMABUF)
 * @size: sizeof(struct shmstream_slot_dmabuf)
 * @flags: 0 or SHMSTREAM_DMABUF_CLOEXEC
 * @slot: a slot of the stream this file is bound to, below slot_count
 * @fd: out: a new file descriptor of the slot's dma-buf
 * @dmabuf_size: out: bytes of the dma-buf: the slot, rounded up to pages
 * @reserved: must be 0
 *
 * The dma-buf is backed by the slot's own pages, with no copy. A file has
 * one dma-buf per slot for its whole life: every call for the same slot
 * returns a new fd of the same dma-buf (fstat() gives the same st_ino), so
 * importers that cache buffers find the one they know. The dma-buf keeps
 * the stream's memory, and the module, for as long as it exists, past
 * close(), DESTROY and the process.
 *
 * A consumer's dma-buf is read-only: its fd is O_RDONLY, mmap() with
 * PROT_WRITE is -EACCES, DMA_BUF_IOCTL_SYNC with DMA_BUF_SYNC_WRITE is
 * -EACCES, a device may map it for DMA_TO_DEVICE only (-EACCES for any
 * other direction). A kernel vmap() says nothing of direction and may not
 * fail (the kernel warns): while a device has a consumer's dma-buf mapped
 * for DMA_TO_DEVICE, vmap() maps the slot read-only; otherwise (vb2-vmalloc
 * queues import with vmap() alone, capture queues too) it maps a private
 * zeroed buffer of the same size: the importer reads a blank frame, and
 * what it writes reaches no slot. A producer's dma-buf may be read and
 * written.
 *
 * The ring protocol still says who may touch a slot, and when: a consumer
 * hands a device only frames it holds (ACQUIRE to RELEASE), a producer
 * only slots it has pending (GET_SLOT to COMMIT). The kernel does not
 * follow a device's accesses.
 */
struct shmstream_slot_dmabuf {
	__u32 size;
	__u32 flags;
	__u32 slot;
	__s32 fd;
	__u64 dmabuf_size;
	__u64 reserved[2];
};

#define SHMSTREAM_SLOT_DMABUF_SIZE_VER0	40

#define SHMSTREAM_CTRL_MAGIC		0x53484d53	/* "SHMS" */

/**
 * struct shmstream_ctrl - start of the read-only control area
 * @magic: SHMSTREAM_CTRL_MAGIC
 * @abi_major: SHMSTREAM_ABI_MAJOR
 * @slot_count: number of slots
 * @slot_size: bytes per slot
 * @head_seq: sequence of the newest committed frame, 0 when none; one
 *	aligned 64-bit store, read with one 64-bit load-acquire
 * @desc_offset: offset of the descriptor array inside the control area
 * @head_slot: slot of the frame @head_seq names (written before @head_seq)
 * @reserved0: 0
 * @reserved: 0
 *
 * The kernel writes a descriptor as a seqcount writer does:
 *   gen = gen + 1 (odd); write barrier; the fields; gen = gen + 1 (even,
 *   a store-release),
 * and publishes a commit by writing @head_slot and then @head_seq with a
 * store-release, after the descriptor is whole. A reader that holds no
 * slot reads a descriptor so:
 *   g1 = load-acquire(gen); if g1 is odd, start again;
 *   copy the fields; read barrier (acquire fence);
 *   g2 = gen; if g2 != g1, start again.
 * and the newest frame so:
 *   h = load-acquire(head_seq); slot = head_slot; read desc[slot] as
 *   above; if its seq is above h, start again (a newer frame is being
 *   published); if below h (0: the slot was taken for a new frame), the
 *   newest frame is gone; else it is the newest frame.
 * Seeing a descriptor does not hold its slot: the bytes of the frame can
 * be overwritten at any moment. ACQUIRE holds them. shmdev_peek() in
 * libshmdev implements the protocol.
 */
struct shmstream_ctrl {
	__u32 magic;
	__u32 abi_major;
	__u32 slot_count;
	__u32 slot_size;
	__u64 head_seq;
	__u64 desc_offset;
	__u32 head_slot;
	__u32 reserved0;
	__u64 reserved[3];
};

/*
 * 0xB9: free in Documentation/userspace-api/ioctl/ioctl-number.rst (0xB8,
 * ABI 1's magic, belongs to mshv and the Marvell CN10K DPI driver).
 */
#define SHMSTREAM_IOC_MAGIC		0xB9

/* Get ABI version and features. */
#define SHMSTREAM_IOC_VERSION	_IOWR(SHMSTREAM_IOC_MAGIC, 0x00, struct shmstream_version)
/* Create a stream and attach as its producer. */
#define SHMSTREAM_IOC_CREATE	_IOW(SHMSTREAM_IOC_MAGIC, 0x01, struct shmstream_create)
/* Attach to a stream by name as producer or consumer. */
#define SHMSTREAM_IOC_ATTACH	_IOW(SHMSTREAM_IOC_MAGIC, 0x02, struct shmstream_attach)
/* Remove a stream's name. */
#define SHMSTREAM_IOC_DESTROY	_IOW(SHMSTREAM_IOC_MAGIC, 0x03, struct shmstream_destroy)
/* List stream names. */
#define SHMSTREAM_IOC_LIST	_IOWR(SHMSTREAM_IOC_MAGIC, 0x04, struct shmstream_list)
/* Stream geometry, mmap offsets and counters. */
#define SHMSTREAM_IOC_INFO	_IOWR(SHMSTREAM_IOC_MAGIC, 0x05, struct shmstream_info)
/* This file's counters. */
#define SHMSTREAM_IOC_STATS	_IOWR(SHMSTREAM_IOC_MAGIC, 0x06, struct shmstream_stats)
/* Producer: take a free slot. */
#define SHMSTREAM_IOC_GET_SLOT	_IOWR(SHMSTREAM_IOC_MAGIC, 0x07, struct shmstream_get_slot)
/* Producer: publish (or discard) a pending slot. */
#define SHMSTREAM_IOC_COMMIT	_IOWR(SHMSTREAM_IOC_MAGIC, 0x08, struct shmstream_commit)
/* Consumer: hold a frame. */
#define SHMSTREAM_IOC_ACQUIRE	_IOWR(SHMSTREAM_IOC_MAGIC, 0x09, struct shmstream_acquire)
/* Consumer: drop a hold. */
#define SHMSTREAM_IOC_RELEASE	_IOW(SHMSTREAM_IOC_MAGIC, 0x0a, struct shmstream_release)
/* A slot of the bound stream as a dma-buf fd (2.3). */
#define SHMSTREAM_IOC_SLOT_DMABUF _IOWR(SHMSTREAM_IOC_MAGIC, 0x0b, struct shmstream_slot_dmabuf)

#endif /* _UAPI_LINUX_SHMSTREAM_H */
