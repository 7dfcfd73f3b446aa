// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmstreamsink: writes raw video buffers into a shmstream stream as its
 * producer. The stream is created at the first caps (slot size: one frame)
 * or attached when it exists; each buffer becomes a frame whose capture
 * timestamp is its PTS on the pipeline clock (CLOCK_MONOTONIC ns with the
 * default system clock) and whose format is the buffer's.
 *
 * Upstream gets buffers that live in the slots (a buffer pool over
 * shmdev_begin/commit) when it takes the pool this element proposes: such a
 * buffer is committed in place, without a copy. Other buffers are copied.
 * With a module that exports slots as dma-bufs (ABI 2.3) the pool's
 * buffers are the slots' dma-bufs (slotmem.c): a device fills them itself
 * (v4l2src io-mode=dmabuf-import), and elements that map them write
 * through the slot's mapping as before. contiguous=true creates the stream
 * with physically contiguous slots, for devices that need them.
 */
#include <errno.h>

#include "gstshmstream.h"

#define GST_CAT_DEFAULT gst_shmstream_debug

struct _GstShmstreamSink {
	GstBaseSink parent;

	/* Properties; the object lock guards them. */
	gchar *stream_name;
	guint slots;
	guint producers; /* of a stream this element creates */
	gboolean destroy_on_stop;
	gboolean contiguous; /* of a stream this element creates */

	/* Streaming state: set in start()/set_caps(), used by the streaming thread. */
	struct shmdev *dev;
	struct shmdev_stream *stream;
	gboolean created;
	gboolean dmabuf; /* the module exports slots as dma-bufs (2.3) */
	GstVideoInfo info;
	struct shmstream_format format;
	guint64 frames;
	guint64 in_place; /* of them, committed from the pool without a copy */
	guint64 dmabufs; /* pool buffers handed out as the slot's dma-buf */
	GstBufferPool *pool;
	volatile gint flushing;
};

enum { PROP_0, PROP_STREAM, PROP_SLOTS, PROP_DESTROY_ON_STOP, PROP_FRAMES, PROP_IN_PLACE,
       PROP_PRODUCERS, PROP_CONTIGUOUS };

G_DEFINE_TYPE(GstShmstreamSink, gst_shmstream_sink, GST_TYPE_BASE_SINK)

static GstStaticPadTemplate sink_template =
	GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
				GST_STATIC_CAPS(SHMSTREAM_GST_CAPS));

/* ---- a pool of buffers that are slots ---------------------------------- */

/*
 * Every buffer the pool hands out is a freshly begun slot (never reused: a
 * committed slot belongs to the readers). The qdata below says which slot a
 * buffer is; render() commits it, and a buffer dropped uncommitted gives its
 * slot back (discard). Its memory is the slot's dma-buf where the module
 * exports one, else the slot's mapping as plain memory.
 */
static GQuark slot_quark;

struct slot_ref {
	struct shmdev_stream *stream;
	struct shmdev_slot slot;
	gboolean done; /* committed or discarded */
};

/* A slot memory's hold: the stream, whose handle owns the dma-buf fd. */
static void stream_unref(gpointer stream)
{
	shmdev_stream_unref(stream);
}

static void slot_ref_free(gpointer data)
{
	struct slot_ref *r = data;

	if (!r->done)
		shmdev_discard(r->stream, &r->slot);
	shmdev_stream_unref(r->stream);
	g_free(r);
}

#define GST_TYPE_SHMSTREAM_POOL (gst_shmstream_pool_get_type())
G_DECLARE_FINAL_TYPE(GstShmstreamPool, gst_shmstream_pool, GST, SHMSTREAM_POOL, GstBufferPool)

struct _GstShmstreamPool {
	GstBufferPool parent;
	GstShmstreamSink *sink; /* not a reference: the sink owns the pool */
};

G_DEFINE_TYPE(GstShmstreamPool, gst_shmstream_pool, GST_TYPE_BUFFER_POOL)

static GstFlowReturn pool_acquire(GstBufferPool *bpool, GstBuffer **out,
				  GstBufferPoolAcquireParams *params)
{
	GstShmstreamPool *pool = GST_SHMSTREAM_POOL(bpool);
	GstShmstreamSink *sink = pool->sink;
	struct slot_ref *r;
	GstMemory *mem;
	GstBuffer *buf;
	int ret, fd;

	(void)params;
	r = g_new0(struct slot_ref, 1);
	do {
		if (g_atomic_int_get(&sink->flushing)) {
			g_free(r);
			return GST_FLOW_FLUSHING;
		}
		ret = shmdev_begin(sink->stream, SHMDEV_MS(100), &r->slot);
	} while (ret == -ETIMEDOUT || ret == -ENOBUFS);
	if (ret) {
		g_free(r);
		GST_ELEMENT_ERROR(sink, RESOURCE, WRITE, ("no slot: %s", shmdev_strerror(ret)),
				  (NULL));
		return GST_FLOW_ERROR;
	}
	r->stream = shmdev_stream_ref(sink->stream);
	buf = gst_buffer_new();
	mem = NULL;
	if (sink->dmabuf && !shmdev_slot_dmabuf(sink->stream, r->slot.index, &fd))
		mem = gst_shmstream_slot_memory_new(fd, r->slot.data, r->slot.size,
						    sink->info.size, FALSE,
						    shmdev_stream_ref(sink->stream), stream_unref);
	if (mem) {
		GST_OBJECT_LOCK(sink);
		sink->dmabufs++;
		GST_OBJECT_UNLOCK(sink);
	} else {
		if (sink->dmabuf) {
			GST_WARNING_OBJECT(sink, "slot %u: no dma-buf (%s): plain memory from now on",
					   r->slot.index, shmdev_errmsg());
			sink->dmabuf = FALSE;
		}
		mem = gst_memory_new_wrapped(0, r->slot.data, r->slot.size, 0, sink->info.size,
					     NULL, NULL);
	}
	gst_buffer_append_memory(buf, mem);
	gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE,
				       GST_VIDEO_INFO_FORMAT(&sink->info),
				       GST_VIDEO_INFO_WIDTH(&sink->info),
				       GST_VIDEO_INFO_HEIGHT(&sink->info),
				       GST_VIDEO_INFO_N_PLANES(&sink->info), sink->info.offset,
				       sink->info.stride);
	gst_mini_object_set_qdata(GST_MINI_OBJECT(buf), slot_quark, r, slot_ref_free);
	*out = buf;
	return GST_FLOW_OK;
}

static void pool_release(GstBufferPool *bpool, GstBuffer *buf)
{
	(void)bpool;
	/* Never back into the pool: its slot is committed or is discarded now. */
	gst_buffer_unref(buf);
}

/* Nothing to allocate ahead: acquire() begins a slot (or waits for one). */
static gboolean pool_start(GstBufferPool *bpool)
{
	(void)bpool;
	return TRUE;
}

static void gst_shmstream_pool_class_init(GstShmstreamPoolClass *klass)
{
	GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS(klass);

	pool_class->start = pool_start;
	pool_class->acquire_buffer = pool_acquire;
	pool_class->release_buffer = pool_release;
}

static void gst_shmstream_pool_init(GstShmstreamPool *pool)
{
	(void)pool;
}

/* ---- the sink ---------------------------------------------------------- */

static void gst_shmstream_sink_set_property(GObject *object, guint id, const GValue *value,
					    GParamSpec *pspec)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(object);

	GST_OBJECT_LOCK(sink);
	switch (id) {
	case PROP_STREAM:
		g_free(sink->stream_name);
		sink->stream_name = g_value_dup_string(value);
		break;
	case PROP_SLOTS:
		sink->slots = g_value_get_uint(value);
		break;
	case PROP_PRODUCERS:
		sink->producers = g_value_get_uint(value);
		break;
	case PROP_DESTROY_ON_STOP:
		sink->destroy_on_stop = g_value_get_boolean(value);
		break;
	case PROP_CONTIGUOUS:
		sink->contiguous = g_value_get_boolean(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(sink);
}

static void gst_shmstream_sink_get_property(GObject *object, guint id, GValue *value,
					    GParamSpec *pspec)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(object);

	GST_OBJECT_LOCK(sink);
	switch (id) {
	case PROP_STREAM:
		g_value_set_string(value, sink->stream_name);
		break;
	case PROP_SLOTS:
		g_value_set_uint(value, sink->slots);
		break;
	case PROP_PRODUCERS:
		g_value_set_uint(value, sink->producers);
		break;
	case PROP_DESTROY_ON_STOP:
		g_value_set_boolean(value, sink->destroy_on_stop);
		break;
	case PROP_CONTIGUOUS:
		g_value_set_boolean(value, sink->contiguous);
		break;
	case PROP_FRAMES:
		g_value_set_uint64(value, sink->frames);
		break;
	case PROP_IN_PLACE:
		g_value_set_uint64(value, sink->in_place);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(sink);
}

static gboolean gst_shmstream_sink_start(GstBaseSink *bsink)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(bsink);
	struct shmstream_version v;
	int ret;

	if (!sink->stream_name || !*sink->stream_name) {
		GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS, ("no stream name (stream=NAME)"),
				  (NULL));
		return FALSE;
	}
	ret = shmdev_open(&sink->dev);
	if (!ret)
		ret = shmdev_module_version(sink->dev, &v);
	if (ret) {
		GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_READ_WRITE,
				  ("cannot open %s: %s", SHMDEV_DEFAULT_PATH, shmdev_strerror(ret)),
				  ("%s", shmdev_errmsg()));
		sink->dev = shmdev_unref(sink->dev);
		return FALSE;
	}
	sink->dmabuf = !!(v.features & SHMSTREAM_FEAT_DMABUF);
	if (sink->contiguous && !sink->dmabuf) {
		GST_ELEMENT_ERROR(sink, RESOURCE, SETTINGS,
				  ("contiguous=true: the module (ABI %u.%u) has no contiguous slots "
				   "(2.3)", v.abi_major, v.abi_minor), (NULL));
		sink->dev = shmdev_unref(sink->dev);
		return FALSE;
	}
	sink->frames = sink->in_place = sink->dmabufs = 0;
	g_atomic_int_set(&sink->flushing, 0);
	return TRUE;
}

static gboolean gst_shmstream_sink_stop(GstBaseSink *bsink)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(bsink);

	GST_INFO_OBJECT(sink, "%" G_GUINT64_FORMAT " frames committed, %" G_GUINT64_FORMAT
			" of them in place (no copy), %" G_GUINT64_FORMAT " copied; %" G_GUINT64_FORMAT
			" slots handed upstream as dma-bufs", sink->frames, sink->in_place,
			sink->frames - sink->in_place, sink->dmabufs);
	if (sink->pool) {
		gst_buffer_pool_set_active(sink->pool, FALSE);
		gst_clear_object(&sink->pool);
	}
	if (sink->stream && sink->destroy_on_stop)
		shmdev_destroy(sink->dev, sink->stream_name);
	sink->stream = shmdev_stream_unref(sink->stream);
	sink->dev = shmdev_unref(sink->dev);
	sink->created = FALSE;
	return TRUE;
}

/* Create the stream for @info, or attach to the one there as its producer. */
static gboolean attach(GstShmstreamSink *sink, const GstVideoInfo *info)
{
	struct shmdev_create_params p = {
		.slot_count = sink->slots,
		.slot_size = (uint32_t)info->size,
		.mode = 0666,
		.format = sink->format,
	};
	struct shmdev_create_limits lim = { .max_producers = sink->producers };
	struct shmstream_info si;
	int ret;

	/* Room for other producers, this element's peers, to join (2.2). */
	if (sink->producers > 1)
		p.flags |= SHMSTREAM_CREATE_MULTI_PRODUCER;
	else
		lim.max_producers = 0;
	if (sink->contiguous)
		p.flags |= SHMSTREAM_CREATE_CONTIGUOUS;
	ret = shmdev_create_limited(sink->dev, sink->stream_name, &p, &lim, &sink->stream);
	if (!ret) {
		sink->created = TRUE;
		GST_INFO_OBJECT(sink, "created stream %s: %u slots of %u bytes%s",
				sink->stream_name, p.slot_count, p.slot_size,
				sink->contiguous ? ", each physically contiguous" : "");
		return TRUE;
	}
	if (ret == -ENOMEM && sink->contiguous) {
		GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE,
				  ("stream %s: no %u physically contiguous slots of %u bytes",
				   sink->stream_name, p.slot_count, p.slot_size),
				  ("a contiguous slot is one block of at most the kernel's largest "
				   "page order (4 MiB on x86-64), and memory may be too fragmented: "
				   "%s", shmdev_errmsg()));
		return FALSE;
	}
	/* There: join it as its producer, or as one of its producers. */
	if (ret == -EEXIST)
		ret = shmdev_open_producer(sink->dev, sink->stream_name, &sink->stream);
	if (ret) {
		GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE,
				  ("stream %s: %s", sink->stream_name, shmdev_strerror(ret)),
				  ("%s", shmdev_errmsg()));
		return FALSE;
	}
	ret = shmdev_stream_info(sink->stream, &si);
	if (ret || si.slot_size < info->size) {
		GST_ELEMENT_ERROR(sink, RESOURCE, OPEN_WRITE,
				  ("stream %s: slots of %u bytes, frames of %" G_GSIZE_FORMAT,
				   sink->stream_name, ret ? 0 : si.slot_size, info->size),
				  (NULL));
		sink->stream = shmdev_stream_unref(sink->stream);
		return FALSE;
	}
	if (sink->contiguous && !(si.state & SHMSTREAM_STATE_CONTIGUOUS))
		GST_ELEMENT_WARNING(sink, RESOURCE, SETTINGS,
				    ("stream %s exists and its slots are not contiguous "
				     "(contiguous=true applies to a stream this element creates)",
				     sink->stream_name), (NULL));
	GST_INFO_OBJECT(sink, "attached to stream %s as its producer", sink->stream_name);
	return TRUE;
}

static gboolean gst_shmstream_sink_set_caps(GstBaseSink *bsink, GstCaps *caps)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(bsink);
	GstVideoInfo info;

	if (!gst_video_info_from_caps(&info, caps))
		return FALSE;
	sink->format.fourcc = gst_shmstream_fourcc(GST_VIDEO_INFO_FORMAT(&info));
	sink->format.width = GST_VIDEO_INFO_WIDTH(&info);
	sink->format.height = GST_VIDEO_INFO_HEIGHT(&info);
	sink->format.stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
	if (!sink->format.fourcc || info.size > SHMSTREAM_MAX_SLOT_SIZE)
		return FALSE;
	if (!sink->stream) {
		if (!attach(sink, &info)) /* which checks that a frame fits a slot */
			return FALSE;
	} else {
		/* New caps on an attached stream: the frames must still fit. */
		struct shmstream_info si;

		if (shmdev_stream_info(sink->stream, &si) || si.slot_size < info.size) {
			GST_ELEMENT_ERROR(sink, CORE, NEGOTIATION,
					  ("frames of %" G_GSIZE_FORMAT " bytes do not fit the "
					   "stream's slots", info.size), (NULL));
			return FALSE;
		}
	}
	sink->info = info;
	return TRUE;
}

static gboolean gst_shmstream_sink_propose_allocation(GstBaseSink *bsink, GstQuery *query)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(bsink);
	GstStructure *config;
	GstCaps *caps;
	gboolean need_pool;
	GstVideoInfo info;

	gst_query_parse_allocation(query, &caps, &need_pool);
	gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, NULL);
	if (!caps || !need_pool || !sink->stream || !gst_video_info_from_caps(&info, caps) ||
	    info.size != sink->info.size)
		return TRUE;
	if (!sink->pool) {
		GstShmstreamPool *pool = g_object_new(GST_TYPE_SHMSTREAM_POOL, NULL);

		pool->sink = sink;
		sink->pool = GST_BUFFER_POOL(pool);
		config = gst_buffer_pool_get_config(sink->pool);
		gst_buffer_pool_config_set_params(config, caps, (guint)info.size, 0, 0);
		gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
		if (!gst_buffer_pool_set_config(sink->pool, config))
			return TRUE;
	}
	gst_query_add_allocation_pool(query, sink->pool, (guint)info.size, 0, 0);
	return TRUE;
}

static GstFlowReturn commit(GstShmstreamSink *sink, const struct shmdev_slot *slot,
			    GstBuffer *buf)
{
	GstClockTime pts = GST_BUFFER_PTS(buf), rt;
	struct shmdev_commit_params cp = {
		.bytes = (uint32_t)sink->info.size,
		.format = &sink->format,
	};
	int ret;

	/* The capture timestamp: the PTS as a time of the pipeline clock. */
	if (GST_CLOCK_TIME_IS_VALID(pts)) {
		rt = gst_segment_to_running_time(&GST_BASE_SINK(sink)->segment, GST_FORMAT_TIME,
						 pts);
		if (GST_CLOCK_TIME_IS_VALID(rt))
			cp.timestamp_ns = rt + gst_element_get_base_time(GST_ELEMENT(sink));
	}
	ret = shmdev_commit(sink->stream, slot, &cp);
	if (ret) {
		GST_ELEMENT_ERROR(sink, RESOURCE, WRITE, ("commit: %s", shmdev_strerror(ret)),
				  (NULL));
		return GST_FLOW_ERROR;
	}
	GST_OBJECT_LOCK(sink);
	sink->frames++;
	GST_OBJECT_UNLOCK(sink);
	return GST_FLOW_OK;
}

static GstFlowReturn gst_shmstream_sink_render(GstBaseSink *bsink, GstBuffer *buf)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(bsink);
	struct slot_ref *r = gst_mini_object_get_qdata(GST_MINI_OBJECT(buf), slot_quark);
	GstVideoFrame src, dst;
	struct shmdev_slot slot;
	GstBuffer *wrap;
	GstFlowReturn flow;
	int ret;

	/* A buffer of our pool: the frame is in the slot already. */
	if (r && r->stream == sink->stream && !r->done) {
		flow = commit(sink, &r->slot, buf);
		r->done = TRUE;
		if (flow == GST_FLOW_OK) {
			GST_OBJECT_LOCK(sink);
			sink->in_place++;
			GST_OBJECT_UNLOCK(sink);
		}
		return flow;
	}
	do {
		if (g_atomic_int_get(&sink->flushing))
			return GST_FLOW_FLUSHING;
		ret = shmdev_begin(sink->stream, SHMDEV_MS(100), &slot);
	} while (ret == -ETIMEDOUT);
	if (ret) {
		GST_ELEMENT_ERROR(sink, RESOURCE, WRITE, ("no slot: %s", shmdev_strerror(ret)),
				  (NULL));
		return GST_FLOW_ERROR;
	}
	/* Copy plane by plane: upstream's strides may differ from the slot's. */
	wrap = gst_buffer_new_wrapped_full(0, slot.data, slot.size, 0, sink->info.size, NULL,
					   NULL);
	if (!gst_video_frame_map(&src, &sink->info, buf, GST_MAP_READ)) {
		gst_buffer_unref(wrap);
		shmdev_discard(sink->stream, &slot);
		GST_ELEMENT_ERROR(sink, STREAM, FORMAT, ("cannot map the buffer"), (NULL));
		return GST_FLOW_ERROR;
	}
	if (!gst_video_frame_map(&dst, &sink->info, wrap, GST_MAP_WRITE)) {
		gst_video_frame_unmap(&src);
		gst_buffer_unref(wrap);
		shmdev_discard(sink->stream, &slot);
		GST_ELEMENT_ERROR(sink, STREAM, FAILED, ("cannot map the slot"), (NULL));
		return GST_FLOW_ERROR;
	}
	gst_video_frame_copy(&dst, &src);
	gst_video_frame_unmap(&dst);
	gst_video_frame_unmap(&src);
	gst_buffer_unref(wrap);
	return commit(sink, &slot, buf);
}

static gboolean gst_shmstream_sink_unlock(GstBaseSink *bsink)
{
	g_atomic_int_set(&GST_SHMSTREAM_SINK(bsink)->flushing, 1);
	return TRUE;
}

static gboolean gst_shmstream_sink_unlock_stop(GstBaseSink *bsink)
{
	g_atomic_int_set(&GST_SHMSTREAM_SINK(bsink)->flushing, 0);
	return TRUE;
}

static void gst_shmstream_sink_finalize(GObject *object)
{
	GstShmstreamSink *sink = GST_SHMSTREAM_SINK(object);

	g_free(sink->stream_name);
	G_OBJECT_CLASS(gst_shmstream_sink_parent_class)->finalize(object);
}

static void gst_shmstream_sink_class_init(GstShmstreamSinkClass *klass)
{
	GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
	GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
	GstBaseSinkClass *bsink_class = GST_BASE_SINK_CLASS(klass);

	slot_quark = g_quark_from_static_string("GstShmstreamSlot");
	gobject_class->set_property = gst_shmstream_sink_set_property;
	gobject_class->get_property = gst_shmstream_sink_get_property;
	gobject_class->finalize = gst_shmstream_sink_finalize;

	g_object_class_install_property(
		gobject_class, PROP_STREAM,
		g_param_spec_string("stream", "Stream",
				    "Name of the stream to create, or to attach to as its "
				    "producer when it exists", NULL,
				    G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					    GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_SLOTS,
		g_param_spec_uint("slots", "Slots",
				  "Slots of a stream this element creates (one frame each)", 2,
				  SHMSTREAM_MAX_SLOTS, 4,
				  G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					  GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_PRODUCERS,
		g_param_spec_uint("producers", "Producers",
				  "Producers a stream this element creates admits at once (its "
				  "frames and theirs get one sequence); a sink that finds the "
				  "stream there joins it as one of them",
				  1, SHMSTREAM_MAX_PRODUCERS, 1,
				  G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					  GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_DESTROY_ON_STOP,
		g_param_spec_boolean("destroy-on-stop", "Destroy on stop",
				     "Remove the stream's name when the element stops (readers "
				     "drain the frames left, then see the stream end)", FALSE,
				     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					     GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_CONTIGUOUS,
		g_param_spec_boolean("contiguous", "Contiguous",
				     "Create the stream with physically contiguous slots (ABI "
				     "2.3; a slot of at most 4 MiB on x86-64), for devices that "
				     "import its dma-bufs without an IOMMU (V4L2 vb2-dma-contig "
				     "queues, many encoders and display controllers)", FALSE,
				     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					     GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_FRAMES,
		g_param_spec_uint64("frames", "Frames", "Frames committed since start", 0,
				    G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

	g_object_class_install_property(
		gobject_class, PROP_IN_PLACE,
		g_param_spec_uint64("in-place", "In place",
				    "Frames committed in place: upstream wrote them into a slot "
				    "from this element's buffer pool (the slot's dma-buf with a "
				    "module of ABI 2.3: a device can fill it), no copy", 0,
				    G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

	gst_element_class_add_static_pad_template(element_class, &sink_template);
	gst_element_class_set_static_metadata(
		element_class, "shmstream sink", "Sink/Video",
		"Writes raw video frames into a shmstream stream (/dev/shmstream) as its "
		"producer, in place when upstream takes its pool of slots (dma-bufs)",
		"shmstream developers");

	bsink_class->start = gst_shmstream_sink_start;
	bsink_class->stop = gst_shmstream_sink_stop;
	bsink_class->set_caps = gst_shmstream_sink_set_caps;
	bsink_class->propose_allocation = gst_shmstream_sink_propose_allocation;
	bsink_class->render = gst_shmstream_sink_render;
	bsink_class->unlock = gst_shmstream_sink_unlock;
	bsink_class->unlock_stop = gst_shmstream_sink_unlock_stop;
}

static void gst_shmstream_sink_init(GstShmstreamSink *sink)
{
	sink->slots = 4;
	sink->producers = 1;
}
