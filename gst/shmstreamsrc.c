// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * shmstreamsrc: pushes the frames of a shmstream stream as buffers that wrap
 * the mapped slot (no copy); the hold on the frame is released when the
 * buffer is freed. Caps come from the stream's format. It waits for the
 * stream to appear and for a producer to come back, or ends (EOS) when the
 * producer detaches (eos-on-detach) and when the stream is destroyed.
 * Frames the reader missed are counted (the "missed" property) and posted
 * as QoS messages.
 *
 * With a module that exports slots as dma-bufs (ABI 2.3) the buffers are
 * the slot's read-only dma-buf (slotmem.c) unless dmabuf=false: importers
 * (v4l2sink io-mode=dmabuf-import) hand it to a device without a copy, and
 * elements that map it read the slot's mapping, as before. The caps carry
 * memory:DMABuf when downstream asks for that feature, and are plain raw
 * video otherwise (mappable dma-bufs need no feature: gstdmabuf.h).
 */
#include <errno.h>
#include <string.h>

#include "gstshmstream.h"

#define GST_CAT_DEFAULT gst_shmstream_debug

typedef enum { MODE_NEXT, MODE_LATEST } GstShmstreamMode;

struct _GstShmstreamSrc {
	GstPushSrc parent;

	/* Properties; the object lock guards them and the counters. */
	gchar *stream_name;
	GstShmstreamMode mode;
	gboolean eos_on_detach;
	gboolean reliable; /* a reliable consumer: fail rather than lose a frame */
	guint history; /* the last frames still in the ring come first */
	gint fps_n, fps_d; /* announced in the caps */
	guint64 missed;
	guint64 frames;
	guint64 copied; /* of them, copied: downstream held max_holds - 1 (or all slots but 2) */
	guint64 dmabufs; /* of them, pushed as the slot's dma-buf */
	gboolean dmabuf; /* property: push dma-bufs when the module exports them */

	/* Streaming thread state. */
	struct shmdev *dev;
	struct shmdev_stream *stream;
	guint max_holds;
	gint outstanding; /* buffers out that hold a frame (atomic) */
	struct shmstream_format format; /* of the caps set */
	GstVideoInfo info;
	gboolean have_caps;
	gboolean can_dmabuf; /* dmabuf, and the module exports slots (2.3) */
	gboolean dmabuf_caps; /* the caps set carry memory:DMABuf */
	guint32 slot_size;
	gboolean packed; /* info is GStreamer's default layout: no video meta needed */
	gboolean saw_producer; /* a producer was attached since start */
	volatile gint flushing;
};

enum { PROP_0, PROP_STREAM, PROP_MODE, PROP_EOS_ON_DETACH, PROP_FRAMERATE, PROP_MISSED,
       PROP_FRAMES, PROP_RELIABLE, PROP_HISTORY, PROP_DMABUF };

G_DEFINE_TYPE(GstShmstreamSrc, gst_shmstream_src, GST_TYPE_PUSH_SRC)

static GstStaticPadTemplate src_template =
	GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS,
				GST_STATIC_CAPS(SHMSTREAM_GST_CAPS "; " SHMSTREAM_GST_CAPS_DMABUF));

#define GST_TYPE_SHMSTREAM_MODE (gst_shmstream_mode_get_type())
static GType gst_shmstream_mode_get_type(void)
{
	static GType type;
	static const GEnumValue values[] = {
		{ MODE_NEXT, "Every frame in order (the oldest not read yet)", "next" },
		{ MODE_LATEST, "The newest frame, skipping older ones", "latest" },
		{ 0, NULL, NULL },
	};

	if (g_once_init_enter(&type))
		g_once_init_leave(&type, g_enum_register_static("GstShmstreamMode", values));
	return type;
}

/* A pushed buffer's hold on its frame, released with the buffer. */
struct hold {
	GstShmstreamSrc *src;
	struct shmdev_stream *stream;
	struct shmdev_frame frame;
};

static void hold_release(gpointer data)
{
	struct hold *h = data;

	shmdev_release(h->stream, &h->frame);
	shmdev_stream_unref(h->stream);
	g_atomic_int_add(&h->src->outstanding, -1);
	gst_object_unref(h->src);
	g_free(h);
}

static void gst_shmstream_src_set_property(GObject *object, guint id, const GValue *value,
					   GParamSpec *pspec)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(object);

	GST_OBJECT_LOCK(src);
	switch (id) {
	case PROP_STREAM:
		g_free(src->stream_name);
		src->stream_name = g_value_dup_string(value);
		break;
	case PROP_MODE:
		src->mode = g_value_get_enum(value);
		break;
	case PROP_EOS_ON_DETACH:
		src->eos_on_detach = g_value_get_boolean(value);
		break;
	case PROP_RELIABLE:
		src->reliable = g_value_get_boolean(value);
		break;
	case PROP_HISTORY:
		src->history = g_value_get_uint(value);
		break;
	case PROP_DMABUF:
		src->dmabuf = g_value_get_boolean(value);
		break;
	case PROP_FRAMERATE:
		src->fps_n = gst_value_get_fraction_numerator(value);
		src->fps_d = gst_value_get_fraction_denominator(value);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(src);
}

static void gst_shmstream_src_get_property(GObject *object, guint id, GValue *value,
					   GParamSpec *pspec)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(object);

	GST_OBJECT_LOCK(src);
	switch (id) {
	case PROP_STREAM:
		g_value_set_string(value, src->stream_name);
		break;
	case PROP_MODE:
		g_value_set_enum(value, src->mode);
		break;
	case PROP_EOS_ON_DETACH:
		g_value_set_boolean(value, src->eos_on_detach);
		break;
	case PROP_RELIABLE:
		g_value_set_boolean(value, src->reliable);
		break;
	case PROP_HISTORY:
		g_value_set_uint(value, src->history);
		break;
	case PROP_DMABUF:
		g_value_set_boolean(value, src->dmabuf);
		break;
	case PROP_FRAMERATE:
		gst_value_set_fraction(value, src->fps_n, src->fps_d);
		break;
	case PROP_MISSED:
		g_value_set_uint64(value, src->missed);
		break;
	case PROP_FRAMES:
		g_value_set_uint64(value, src->frames);
		break;
	default:
		G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
	}
	GST_OBJECT_UNLOCK(src);
}

static GstFlowReturn attach(GstShmstreamSrc *src, gboolean wait);

static gboolean gst_shmstream_src_start(GstBaseSrc *bsrc)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(bsrc);
	struct shmstream_version v;
	int ret;

	if (!src->stream_name || !*src->stream_name) {
		GST_ELEMENT_ERROR(src, RESOURCE, SETTINGS, ("no stream name (stream=NAME)"), (NULL));
		return FALSE;
	}
	if (src->mode == MODE_LATEST && (src->reliable || src->history)) {
		GST_ELEMENT_ERROR(src, RESOURCE, SETTINGS,
				  ("mode=latest skips frames: not with reliable or history"), (NULL));
		return FALSE;
	}
	ret = shmdev_open(&src->dev);
	if (!ret)
		ret = shmdev_module_version(src->dev, &v);
	if (ret) {
		GST_ELEMENT_ERROR(src, RESOURCE, OPEN_READ,
				  ("cannot open %s: %s", SHMDEV_DEFAULT_PATH, shmdev_strerror(ret)),
				  ("%s", shmdev_errmsg()));
		src->dev = shmdev_unref(src->dev);
		return FALSE;
	}
	src->max_holds = v.max_holds;
	src->missed = src->frames = src->copied = src->dmabufs = 0;
	src->can_dmabuf = src->dmabuf && (v.features & SHMSTREAM_FEAT_DMABUF);
	src->have_caps = FALSE;
	src->dmabuf_caps = FALSE;
	src->saw_producer = FALSE;
	g_atomic_int_set(&src->flushing, 0);
	/* Attached from the start when the stream is there: no frame is lost
	 * between PAUSED and PLAYING. */
	return attach(src, FALSE) == GST_FLOW_OK;
}

static gboolean gst_shmstream_src_stop(GstBaseSrc *bsrc)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(bsrc);

	GST_INFO_OBJECT(src, "%" G_GUINT64_FORMAT " frames pushed, %" G_GUINT64_FORMAT
			" of them wrapping the slot (no copy), %" G_GUINT64_FORMAT " missed; %"
			G_GUINT64_FORMAT " as the slot's dma-buf", src->frames,
			src->frames - src->copied, src->missed, src->dmabufs);
	/* Buffers still out keep their own reference on the stream. */
	src->stream = shmdev_stream_unref(src->stream);
	src->dev = shmdev_unref(src->dev);
	return TRUE;
}

static gboolean gst_shmstream_src_unlock(GstBaseSrc *bsrc)
{
	g_atomic_int_set(&GST_SHMSTREAM_SRC(bsrc)->flushing, 1);
	return TRUE;
}

static gboolean gst_shmstream_src_unlock_stop(GstBaseSrc *bsrc)
{
	g_atomic_int_set(&GST_SHMSTREAM_SRC(bsrc)->flushing, 0);
	return TRUE;
}

/* Whether structure @i of @caps has the memory:DMABuf feature. */
static gboolean is_dmabuf_caps(GstCaps *caps, guint i)
{
	GstCapsFeatures *f = gst_caps_get_features(caps, i);

	return f && !gst_caps_features_is_any(f) &&
	       gst_caps_features_contains(f, GST_CAPS_FEATURE_MEMORY_DMABUF);
}

/* @caps (of one structure) with the memory:DMABuf feature. */
static GstCaps *with_dmabuf(GstCaps *caps)
{
	GstCaps *d = gst_caps_copy(caps);

	gst_caps_set_features_simple(d, gst_caps_features_new(GST_CAPS_FEATURE_MEMORY_DMABUF,
							      NULL));
	return d;
}

/*
 * The caps of src->info: memory:DMABuf when downstream asks for that
 * feature, first in its order of preference (a capsfilter, an importer
 * that takes nothing else); plain raw video otherwise, ANY included.
 */
static GstCaps *frame_caps(GstShmstreamSrc *src)
{
	GstCaps *caps = gst_video_info_to_caps(&src->info), *dcaps, *ours, *peer, *both;
	gboolean dmabuf = FALSE;

	if (src->can_dmabuf) {
		dcaps = with_dmabuf(caps);
		ours = gst_caps_merge(gst_caps_ref(caps), gst_caps_ref(dcaps));
		peer = gst_pad_peer_query_caps(GST_BASE_SRC_PAD(src), NULL);
		if (peer && !gst_caps_is_any(peer)) {
			both = gst_caps_intersect_full(peer, ours, GST_CAPS_INTERSECT_FIRST);
			dmabuf = !gst_caps_is_empty(both) && is_dmabuf_caps(both, 0);
			gst_caps_unref(both);
		}
		if (peer)
			gst_caps_unref(peer);
		gst_caps_unref(ours);
		if (dmabuf)
			gst_caps_replace(&caps, dcaps);
		gst_caps_unref(dcaps);
	}
	src->dmabuf_caps = dmabuf;
	return caps;
}

/*
 * Caps come from the frames: until the first one, there is nothing to
 * negotiate (GstBaseSrc would fixate the template to 1x1 RGB first).
 */
static gboolean gst_shmstream_src_negotiate(GstBaseSrc *bsrc)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(bsrc);
	GstCaps *caps;
	gboolean ok;

	if (!src->have_caps)
		return TRUE;
	caps = frame_caps(src);
	ok = gst_base_src_set_caps(bsrc, caps);
	gst_caps_unref(caps);
	return ok;
}

/*
 * Every buffer wraps a slot or is a copy of one: no pool is used. GstBaseSrc
 * would activate the first pool downstream offers, as the query left it
 * configured, and pipewiresink (0.3.65) sizes the buffers it asks PipeWire
 * for when its pool is activated: with the query's size, 0, the buffers
 * had no bytes and it crashed copying the first frame into one. Keep no
 * pool, and such a sink sizes its pool from the first buffer instead.
 */
static gboolean gst_shmstream_src_decide_allocation(GstBaseSrc *bsrc, GstQuery *query)
{
	(void)bsrc;
	while (gst_query_get_n_allocation_pools(query))
		gst_query_remove_nth_allocation_pool(query, 0);
	return TRUE;
}

static GstCaps *gst_shmstream_src_get_caps(GstBaseSrc *bsrc, GstCaps *filter)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(bsrc);
	GstCaps *caps;

	if (src->have_caps) {
		caps = gst_video_info_to_caps(&src->info);
		if (src->can_dmabuf)
			caps = gst_caps_merge(caps, with_dmabuf(caps));
	} else {
		caps = gst_pad_get_pad_template_caps(GST_BASE_SRC_PAD(bsrc));
		if (!src->dmabuf) { /* the template's plain structures only */
			GstCaps *plain = gst_caps_new_empty();

			for (guint i = 0; i < gst_caps_get_size(caps); i++)
				if (!is_dmabuf_caps(caps, i))
					gst_caps_append(plain, gst_caps_copy_nth(caps, i));
			gst_caps_unref(caps);
			caps = plain;
		}
	}
	if (filter) {
		GstCaps *tmp = gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST);

		gst_caps_unref(caps);
		caps = tmp;
	}
	return caps;
}

/* Caps for the format of @f (the stream's, or a frame's own). */
static gboolean set_format(GstShmstreamSrc *src, const struct shmstream_format *f)
{
	GstVideoInfo info;
	GstCaps *caps;
	gboolean ok;

	if (src->have_caps && !memcmp(f, &src->format, sizeof(*f)))
		return TRUE;
	if (!gst_shmstream_video_info(f, &info)) {
		GST_ELEMENT_ERROR(src, STREAM, FORMAT,
				  ("stream %s: frames of fourcc 0x%08x %ux%u stride %u are not "
				   "raw video this element knows", src->stream_name, f->fourcc,
				   f->width, f->height, f->stride), (NULL));
		return FALSE;
	}
	GST_OBJECT_LOCK(src);
	GST_VIDEO_INFO_FPS_N(&info) = src->fps_n;
	GST_VIDEO_INFO_FPS_D(&info) = src->fps_d;
	GST_OBJECT_UNLOCK(src);
	GST_INFO_OBJECT(src, "frames are %s %ux%u", gst_video_format_to_string(info.finfo->format),
			f->width, f->height);
	src->info = info;
	src->format = *f;
	src->have_caps = TRUE;
	{
		GstVideoInfo def;

		gst_video_info_set_format(&def, GST_VIDEO_INFO_FORMAT(&info), f->width, f->height);
		src->packed = !memcmp(def.stride, info.stride, sizeof(info.stride)) &&
			      !memcmp(def.offset, info.offset, sizeof(info.offset));
	}
	caps = frame_caps(src);
	ok = gst_base_src_set_caps(GST_BASE_SRC(src), caps);
	gst_caps_unref(caps);
	if (ok && src->dmabuf_caps)
		GST_INFO_OBJECT(src, "downstream takes memory:DMABuf");
	return ok;
}

/* Attach as a consumer; @wait: (interruptibly) until the stream exists. */
static GstFlowReturn attach(GstShmstreamSrc *src, gboolean wait)
{
	struct shmstream_info si;
	int ret;

	for (;;) {
		if (g_atomic_int_get(&src->flushing))
			return GST_FLOW_FLUSHING;
		if (src->reliable || src->history)
			ret = shmdev_open_consumer_history(
				src->dev, src->stream_name,
				src->reliable ? SHMDEV_OPEN_RELIABLE : 0, src->history,
				&src->stream);
		else
			ret = shmdev_open_consumer_flags(
				src->dev, src->stream_name,
				src->mode == MODE_LATEST ? SHMDEV_OPEN_NEWEST : 0, &src->stream);
		if (ret == -EOPNOTSUPP && !src->reliable && !src->history)
			ret = shmdev_open_consumer(src->dev, src->stream_name, &src->stream);
		if (ret != -ENOENT || !wait)
			break;
		g_usleep(50000);
	}
	if (ret == -ENOENT)
		return GST_FLOW_OK; /* not yet: create() waits for it */
	if (ret) {
		GST_ELEMENT_ERROR(src, RESOURCE, OPEN_READ,
				  ("stream %s: %s", src->stream_name, shmdev_strerror(ret)),
				  ("%s", shmdev_errmsg()));
		return GST_FLOW_ERROR;
	}
	ret = shmdev_stream_info(src->stream, &si);
	if (!ret && (si.state & SHMSTREAM_STATE_PRODUCER))
		src->saw_producer = TRUE;
	/*
	 * Frames downstream keeps (filesink queues 64 KiB of buffers) hold
	 * their slots: a slot at least must stay the producer's, or it stops.
	 */
	if (!ret && si.slot_count - 1 < src->max_holds)
		src->max_holds = si.slot_count - 1;
	if (!ret)
		src->slot_size = si.slot_size;
	GST_INFO_OBJECT(src, "attached to stream %s", src->stream_name);
	return GST_FLOW_OK;
}

static GstFlowReturn gst_shmstream_src_create(GstPushSrc *psrc, GstBuffer **out)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(psrc);
	GstClockTime base, pts = GST_CLOCK_TIME_NONE;
	struct shmdev_frame frame;
	GstFlowReturn flow;
	GstBuffer *buf;
	struct hold *h;
	guint64 missed;
	int ret, state;

	if (!src->stream && (flow = attach(src, TRUE)) != GST_FLOW_OK)
		return flow;
	/*
	 * memory:DMABuf caps admit no copy into plain memory: while downstream
	 * keeps max_holds - 1 frames, wait for it to free one.
	 */
	while (src->dmabuf_caps &&
	       (guint)g_atomic_int_get(&src->outstanding) + 1 >= src->max_holds) {
		if (g_atomic_int_get(&src->flushing))
			return GST_FLOW_FLUSHING;
		g_usleep(1000);
	}
	for (;;) {
		if (g_atomic_int_get(&src->flushing))
			return GST_FLOW_FLUSHING;
		ret = shmdev_acquire(src->stream, src->mode == MODE_LATEST ? SHMDEV_LATEST : SHMDEV_NEXT,
				     SHMDEV_MS(100), &frame);
		if (!ret)
			break;
		if (ret == -EIDRM) {
			GST_INFO_OBJECT(src, "stream %s destroyed: end of stream", src->stream_name);
			return GST_FLOW_EOS;
		}
		if (ret == -ENOBUFS) { /* downstream holds max_holds frames */
			g_usleep(1000);
			continue;
		}
		if (ret != -ETIMEDOUT && ret != -EAGAIN && ret != -EINTR) {
			GST_ELEMENT_ERROR(src, RESOURCE, READ, ("acquire: %s", shmdev_strerror(ret)),
					  (NULL));
			return GST_FLOW_ERROR;
		}
		state = shmdev_stream_state(src->stream);
		if (state >= 0 && !(state & SHMDEV_STATE_NO_PRODUCER))
			src->saw_producer = TRUE;
		/* "Detached": a producer was here and left, and nothing is left to read. */
		if (src->eos_on_detach && src->saw_producer && state >= 0 &&
		    (state & SHMDEV_STATE_NO_PRODUCER) && !(state & SHMDEV_STATE_READABLE)) {
			GST_INFO_OBJECT(src, "producer of %s detached: end of stream",
					src->stream_name);
			return GST_FLOW_EOS;
		}
	}
	src->saw_producer = TRUE;
	if (!set_format(src, &frame.format) || frame.len < src->info.size) {
		shmdev_release(src->stream, &frame);
		if (src->have_caps && frame.len < src->info.size)
			GST_ELEMENT_ERROR(src, STREAM, FORMAT,
					  ("frame %" G_GUINT64_FORMAT " has %zu bytes, its format "
					   "needs %" G_GSIZE_FORMAT, frame.seq, frame.len,
					   src->info.size), (NULL));
		return GST_FLOW_NOT_NEGOTIATED;
	}

	if (!src->dmabuf_caps &&
	    (guint)g_atomic_int_get(&src->outstanding) + 1 >= src->max_holds) {
		/* Downstream keeps frames: copy this one, so holds never run out. */
		buf = gst_buffer_new_memdup(frame.data, src->info.size);
		shmdev_release(src->stream, &frame);
		GST_OBJECT_LOCK(src);
		src->copied++;
		GST_OBJECT_UNLOCK(src);
	} else {
		GstMemory *mem = NULL;
		int fd;

		h = g_new(struct hold, 1);
		h->src = gst_object_ref(src);
		h->stream = shmdev_stream_ref(src->stream);
		h->frame = frame;
		g_atomic_int_add(&src->outstanding, 1);
		/* The hold goes with the memory: a dma-buf importer keeps that. */
		if (src->can_dmabuf && !(ret = shmdev_slot_dmabuf(src->stream, frame.slot, &fd)))
			mem = gst_shmstream_slot_memory_new(fd, (gpointer)frame.data,
							    MAX(src->slot_size, frame.len),
							    src->info.size, TRUE, h, hold_release);
		if (mem) {
			GST_OBJECT_LOCK(src);
			src->dmabufs++;
			GST_OBJECT_UNLOCK(src);
			buf = gst_buffer_new();
			gst_buffer_append_memory(buf, mem);
		} else if (src->dmabuf_caps) {
			hold_release(h);
			GST_ELEMENT_ERROR(src, RESOURCE, READ,
					  ("slot %u: no dma-buf for memory:DMABuf caps: %s",
					   frame.slot, shmdev_strerror(ret)),
					  ("%s", shmdev_errmsg()));
			return GST_FLOW_ERROR;
		} else {
			if (src->can_dmabuf) {
				GST_WARNING_OBJECT(src, "slot %u: no dma-buf (%s): plain memory "
						   "from now on", frame.slot, shmdev_errmsg());
				src->can_dmabuf = FALSE;
			}
			buf = gst_buffer_new_wrapped_full(GST_MEMORY_FLAG_READONLY,
							  (gpointer)frame.data, frame.len, 0,
							  src->info.size, h, hold_release);
		}
	}
	if (!src->packed)
		gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE,
					       GST_VIDEO_INFO_FORMAT(&src->info),
					       GST_VIDEO_INFO_WIDTH(&src->info),
					       GST_VIDEO_INFO_HEIGHT(&src->info),
					       GST_VIDEO_INFO_N_PLANES(&src->info),
					       src->info.offset, src->info.stride);

	/* The capture time (CLOCK_MONOTONIC) as running time on the pipeline clock. */
	base = gst_element_get_base_time(GST_ELEMENT(src));
	if (!gst_base_src_get_do_timestamp(GST_BASE_SRC(src)) && GST_CLOCK_TIME_IS_VALID(base) &&
	    frame.timestamp_ns >= base)
		pts = frame.timestamp_ns - base;
	GST_BUFFER_PTS(buf) = pts;
	GST_BUFFER_OFFSET(buf) = frame.seq;

	GST_OBJECT_LOCK(src);
	src->frames++;
	src->missed += frame.missed;
	missed = src->missed;
	GST_OBJECT_UNLOCK(src);
	if (frame.missed && src->reliable) {
		/* A recording with a hole is not one: fail loudly. */
		gst_buffer_unref(buf);
		GST_ELEMENT_ERROR(src, RESOURCE, READ,
				  ("stream %s: %" G_GUINT64_FORMAT " frames lost before frame %"
				   G_GUINT64_FORMAT, src->stream_name, frame.missed, frame.seq),
				  ("demoted: this reader held the producer back past the stream's "
				   "stall limit (shmstreamctl info %s)", src->stream_name));
		return GST_FLOW_ERROR;
	}
	if (frame.missed) {
		GstMessage *qos = gst_message_new_qos(GST_OBJECT(src), TRUE, GST_CLOCK_TIME_NONE,
						      GST_CLOCK_TIME_NONE, pts,
						      GST_CLOCK_TIME_NONE);

		gst_message_set_qos_stats(qos, GST_FORMAT_BUFFERS, src->frames, missed);
		gst_element_post_message(GST_ELEMENT(src), qos);
	}
	*out = buf;
	return GST_FLOW_OK;
}

static void gst_shmstream_src_finalize(GObject *object)
{
	GstShmstreamSrc *src = GST_SHMSTREAM_SRC(object);

	g_free(src->stream_name);
	G_OBJECT_CLASS(gst_shmstream_src_parent_class)->finalize(object);
}

static void gst_shmstream_src_class_init(GstShmstreamSrcClass *klass)
{
	GObjectClass *gobject_class = G_OBJECT_CLASS(klass);
	GstElementClass *element_class = GST_ELEMENT_CLASS(klass);
	GstBaseSrcClass *bsrc_class = GST_BASE_SRC_CLASS(klass);
	GstPushSrcClass *psrc_class = GST_PUSH_SRC_CLASS(klass);

	gobject_class->set_property = gst_shmstream_src_set_property;
	gobject_class->get_property = gst_shmstream_src_get_property;
	gobject_class->finalize = gst_shmstream_src_finalize;

	g_object_class_install_property(
		gobject_class, PROP_STREAM,
		g_param_spec_string("stream", "Stream",
				    "Name of the stream to read (waits for it to exist)", NULL,
				    G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					    GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_MODE,
		g_param_spec_enum("mode", "Mode", "Which frame to take when several wait",
				  GST_TYPE_SHMSTREAM_MODE, MODE_NEXT,
				  G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					  GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_EOS_ON_DETACH,
		g_param_spec_boolean("eos-on-detach", "EOS on detach",
				     "End the stream (EOS) when the producer detaches and every "
				     "frame is read; else wait for a producer to come back", FALSE,
				     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					     GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_RELIABLE,
		g_param_spec_boolean("reliable", "Reliable",
				     "Lose no frame: the producer waits for this element (it needs "
				     "write permission on the stream), as a recording wants. If it "
				     "holds the producer back past the stream's stall limit it is "
				     "demoted, and the first frame lost is an error", FALSE,
				     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					     GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_HISTORY,
		g_param_spec_uint("history", "History",
				  "Start with the last N frames still in the ring (0: with the "
				  "frames committed after attaching)", 0, SHMSTREAM_MAX_SLOTS, 0,
				  G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					  GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_FRAMERATE,
		gst_param_spec_fraction("framerate", "Frame rate",
					"Frame rate to announce in the caps (a stream does not "
					"carry one; 0/1: variable). Encoders and muxers want one",
					0, 1, G_MAXINT, 1, 0, 1,
					G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
						GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_DMABUF,
		g_param_spec_boolean("dmabuf", "dma-buf",
				     "Push each frame as its slot's read-only dma-buf when the "
				     "module exports them (ABI 2.3): importers such as v4l2sink "
				     "io-mode=dmabuf-import hand it to a device with no copy, and "
				     "elements that map it read the mapped slot as before; the caps "
				     "carry memory:DMABuf when downstream asks for it. false: plain "
				     "memory, never memory:DMABuf", TRUE,
				     G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
					     GST_PARAM_MUTABLE_READY));
	g_object_class_install_property(
		gobject_class, PROP_MISSED,
		g_param_spec_uint64("missed", "Missed",
				    "Frames the producer overwrote before this element read them "
				    "(each loss is also posted as a QoS message)", 0, G_MAXUINT64, 0,
				    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
	g_object_class_install_property(
		gobject_class, PROP_FRAMES,
		g_param_spec_uint64("frames", "Frames", "Frames pushed since start", 0,
				    G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

	gst_element_class_add_static_pad_template(element_class, &src_template);
	gst_element_class_set_static_metadata(
		element_class, "shmstream source", "Source/Video",
		"Reads the frames of a shmstream stream (/dev/shmstream) as buffers that wrap "
		"the mapped slot, without a copy",
		"shmstream developers");

	bsrc_class->start = gst_shmstream_src_start;
	bsrc_class->stop = gst_shmstream_src_stop;
	bsrc_class->unlock = gst_shmstream_src_unlock;
	bsrc_class->unlock_stop = gst_shmstream_src_unlock_stop;
	bsrc_class->get_caps = gst_shmstream_src_get_caps;
	bsrc_class->negotiate = gst_shmstream_src_negotiate;
	bsrc_class->decide_allocation = gst_shmstream_src_decide_allocation;
	psrc_class->create = gst_shmstream_src_create;
}

static void gst_shmstream_src_init(GstShmstreamSrc *src)
{
	src->mode = MODE_NEXT;
	src->fps_n = 0;
	src->fps_d = 1;
	src->dmabuf = TRUE;
	gst_base_src_set_live(GST_BASE_SRC(src), TRUE);
	gst_base_src_set_format(GST_BASE_SRC(src), GST_FORMAT_TIME);
}
