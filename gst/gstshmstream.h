/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmstream GStreamer plugin: shmstreamsrc and shmstreamsink, and the map
 * between GStreamer's raw video formats and the stream format's fourcc.
 */
#ifndef GST_SHMSTREAM_H
#define GST_SHMSTREAM_H

#include <gst/allocators/allocators.h>
#include <gst/base/base.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <shmdev.h>

G_BEGIN_DECLS

#define SHMSTREAM_GST_FORMATS "{ RGB, BGR, GRAY8, YUY2, NV12, I420 }"
#define SHMSTREAM_GST_CAPS GST_VIDEO_CAPS_MAKE(SHMSTREAM_GST_FORMATS)
/* The same, as dma-bufs (the slots' own, ABI 2.3) */
#define SHMSTREAM_GST_CAPS_DMABUF \
	GST_VIDEO_CAPS_MAKE_WITH_FEATURES(GST_CAPS_FEATURE_MEMORY_DMABUF, SHMSTREAM_GST_FORMATS)

GST_DEBUG_CATEGORY_EXTERN(gst_shmstream_debug);

/* V4L2 fourcc of a GStreamer format, 0 when the stream cannot carry it. */
guint32 gst_shmstream_fourcc(GstVideoFormat format);
/* GStreamer format of a fourcc, GST_VIDEO_FORMAT_UNKNOWN for others. */
GstVideoFormat gst_shmstream_video_format(guint32 fourcc);
/*
 * Video info of a stream format: the planes laid out as the producer wrote
 * them (the first plane's stride from the format, the others after it at
 * the strides GStreamer derives). FALSE when the format is not video.
 */
gboolean gst_shmstream_video_info(const struct shmstream_format *f, GstVideoInfo *info);

/*
 * Slot memory (slotmem.c): the slot's dma-buf @fd (the stream handle's own,
 * not closed with the memory) as dma-buf GstMemory of @maxsize bytes, @size
 * of them used, that maps to @data, the process's mapping of the same
 * slot. @notify(@user) runs when the memory is freed (it must keep @fd and
 * @data valid until then). @readonly: a consumer's.
 */
GstMemory *gst_shmstream_slot_memory_new(int fd, gpointer data, gsize maxsize, gsize size,
					 gboolean readonly, gpointer user, GDestroyNotify notify);
/* Whether @mem is slot memory (of either element). */
gboolean gst_shmstream_is_slot_memory(GstMemory *mem);

#define GST_TYPE_SHMSTREAM_SRC (gst_shmstream_src_get_type())
G_DECLARE_FINAL_TYPE(GstShmstreamSrc, gst_shmstream_src, GST, SHMSTREAM_SRC, GstPushSrc)
#define GST_TYPE_SHMSTREAM_SINK (gst_shmstream_sink_get_type())
G_DECLARE_FINAL_TYPE(GstShmstreamSink, gst_shmstream_sink, GST, SHMSTREAM_SINK, GstBaseSink)

G_END_DECLS

#endif /* GST_SHMSTREAM_H */
