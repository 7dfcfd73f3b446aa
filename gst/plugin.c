// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shmstream plugin: registers shmstreamsrc and shmstreamsink, and maps
 * raw video formats to the stream format's V4L2 fourcc codes.
 */
#include "gstshmstream.h"

GST_DEBUG_CATEGORY(gst_shmstream_debug);

#define FOURCC(a, b, c, d) \
	((guint32)(a) | ((guint32)(b) << 8) | ((guint32)(c) << 16) | ((guint32)(d) << 24))

static const struct {
	GstVideoFormat format;
	guint32 fourcc;
} formats[] = {
	{ GST_VIDEO_FORMAT_RGB, FOURCC('R', 'G', 'B', '3') },
	{ GST_VIDEO_FORMAT_BGR, FOURCC('B', 'G', 'R', '3') },
	{ GST_VIDEO_FORMAT_GRAY8, FOURCC('G', 'R', 'E', 'Y') },
	{ GST_VIDEO_FORMAT_YUY2, FOURCC('Y', 'U', 'Y', 'V') },
	{ GST_VIDEO_FORMAT_NV12, FOURCC('N', 'V', '1', '2') },
	{ GST_VIDEO_FORMAT_I420, FOURCC('Y', 'U', '1', '2') },
};

guint32 gst_shmstream_fourcc(GstVideoFormat format)
{
	for (gsize i = 0; i < G_N_ELEMENTS(formats); i++)
		if (formats[i].format == format)
			return formats[i].fourcc;
	return 0;
}

GstVideoFormat gst_shmstream_video_format(guint32 fourcc)
{
	for (gsize i = 0; i < G_N_ELEMENTS(formats); i++)
		if (formats[i].fourcc == fourcc)
			return formats[i].format;
	return GST_VIDEO_FORMAT_UNKNOWN;
}

gboolean gst_shmstream_video_info(const struct shmstream_format *f, GstVideoInfo *info)
{
	GstVideoFormat format = gst_shmstream_video_format(f->fourcc);
	GstVideoInfo packed;
	guint i;

	if (format == GST_VIDEO_FORMAT_UNKNOWN || !f->width || !f->height)
		return FALSE;
	if (!gst_video_info_set_format(&packed, format, f->width, f->height))
		return FALSE;
	*info = packed;
	/*
	 * shmstreamctl and libshmdev producers write the planes one after the
	 * other, the first at the format's stride; the 4:2:0 chroma planes at
	 * GStreamer's strides for that (which match the tools' for even widths).
	 */
	if (f->stride && f->stride != (guint32)GST_VIDEO_INFO_PLANE_STRIDE(&packed, 0)) {
		if (GST_VIDEO_INFO_N_PLANES(&packed) > 1)
			return FALSE;
		GST_VIDEO_INFO_PLANE_STRIDE(info, 0) = (gint)f->stride;
		info->size = (gsize)f->stride * f->height;
	}
	for (i = 1; i < GST_VIDEO_INFO_N_PLANES(info); i++)
		if (GST_VIDEO_INFO_PLANE_OFFSET(info, i) < GST_VIDEO_INFO_PLANE_OFFSET(info, i - 1))
			return FALSE;
	return TRUE;
}

static gboolean plugin_init(GstPlugin *plugin)
{
	GST_DEBUG_CATEGORY_INIT(gst_shmstream_debug, "shmstream", 0,
				"zero-copy frame streams over /dev/shmstream");
	return gst_element_register(plugin, "shmstreamsrc", GST_RANK_NONE,
				    GST_TYPE_SHMSTREAM_SRC) &&
	       gst_element_register(plugin, "shmstreamsink", GST_RANK_NONE,
				    GST_TYPE_SHMSTREAM_SINK);
}

#ifndef PACKAGE
#define PACKAGE "shmstream"
#endif

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, shmstream,
		  "Zero-copy frame streams between processes (/dev/shmstream)", plugin_init,
		  SHMDEV_GST_VERSION, "LGPL", "shmstream", "the shmstream source tree")
