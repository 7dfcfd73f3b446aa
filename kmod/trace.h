/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Tracepoints of the ring, in tracefs as events/shmstream/: usable with
 * perf (-e shmstream:shmstream_commit), trace-cmd and bpftrace.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM shmstream

#if !defined(_SHMSTREAM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SHMSTREAM_TRACE_H

#include <linux/tracepoint.h>

#include "shmstream.h"

TRACE_EVENT(shmstream_commit,
	    TP_PROTO(const struct shmstream_stream *s, u32 slot, u64 seq,
		     u32 bytes),
	    TP_ARGS(s, slot, seq, bytes),
	    TP_STRUCT__entry(__string(name, s->name) __field(u32, slot)
				     __field(u64, seq) __field(u32, bytes)),
	    TP_fast_assign(shmstream_assign_str(name, s->name);
			   __entry->slot = slot; __entry->seq = seq;
			   __entry->bytes = bytes;),
	    TP_printk("stream=%s slot=%u seq=%llu bytes=%u", __get_str(name),
		      __entry->slot, __entry->seq, __entry->bytes));

TRACE_EVENT(shmstream_acquire,
	    TP_PROTO(const struct shmstream_stream *s, u32 slot, u64 seq,
		     u64 missed),
	    TP_ARGS(s, slot, seq, missed),
	    TP_STRUCT__entry(__string(name, s->name) __field(u32, slot)
				     __field(u64, seq) __field(u64, missed)),
	    TP_fast_assign(shmstream_assign_str(name, s->name);
			   __entry->slot = slot; __entry->seq = seq;
			   __entry->missed = missed;),
	    TP_printk("stream=%s slot=%u seq=%llu missed=%llu", __get_str(name),
		      __entry->slot, __entry->seq, __entry->missed));

TRACE_EVENT(shmstream_release,
	    TP_PROTO(const struct shmstream_stream *s, u32 slot, bool freed),
	    TP_ARGS(s, slot, freed),
	    TP_STRUCT__entry(__string(name, s->name) __field(u32, slot)
				     __field(bool, freed)),
	    TP_fast_assign(shmstream_assign_str(name, s->name);
			   __entry->slot = slot; __entry->freed = freed;),
	    TP_printk("stream=%s slot=%u freed=%d", __get_str(name),
		      __entry->slot, __entry->freed));

/* A GET_SLOT, ACQUIRE, read or write that found nothing and waits. */
TRACE_EVENT(shmstream_wait,
	    TP_PROTO(const struct shmstream_stream *s, bool producer,
		     u64 deadline_ns),
	    TP_ARGS(s, producer, deadline_ns),
	    TP_STRUCT__entry(__string(name, s->name) __field(bool, producer)
				     __field(u64, deadline_ns)),
	    TP_fast_assign(shmstream_assign_str(name, s->name);
			   __entry->producer = producer;
			   __entry->deadline_ns = deadline_ns;),
	    TP_printk("stream=%s role=%s deadline_ns=%llu", __get_str(name),
		      __entry->producer ? "producer" : "consumer",
		      __entry->deadline_ns));

/* A reliable consumer at @cursor held back the producer too long. */
TRACE_EVENT(shmstream_demote,
	    TP_PROTO(const struct shmstream_stream *s, u64 cursor, u64 kept),
	    TP_ARGS(s, cursor, kept),
	    TP_STRUCT__entry(__string(name, s->name) __field(u64, cursor)
				     __field(u64, kept)),
	    TP_fast_assign(shmstream_assign_str(name, s->name);
			   __entry->cursor = cursor; __entry->kept = kept;),
	    TP_printk("stream=%s cursor=%llu kept=%llu", __get_str(name),
		      __entry->cursor, __entry->kept));

#endif /* _SHMSTREAM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
