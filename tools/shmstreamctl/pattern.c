// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pixel formats, the test pattern (moving colour bars with the frame
 * number drawn in), conversions to and from RGB24, and image files.
 */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

#define FOURCC(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | \
			    ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

static const struct ctl_format ctl_formats[] = {
	{ "RGB24", FOURCC('R', 'G', 'B', '3'), 3, 1 },
	{ "BGR24", FOURCC('B', 'G', 'R', '3'), 3, 1 },
	{ "GREY", FOURCC('G', 'R', 'E', 'Y'), 1, 1 },
	{ "YUYV", FOURCC('Y', 'U', 'Y', 'V'), 2, 1 },
	{ "NV12", FOURCC('N', 'V', '1', '2'), 3, 2 },
};

#define NFORMATS (sizeof(ctl_formats) / sizeof(ctl_formats[0]))

const struct ctl_format *ctl_format_by_name(const char *name)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (!strcasecmp(name, ctl_formats[i].name))
			return &ctl_formats[i];
	return NULL;
}

const struct ctl_format *ctl_format_by_fourcc(uint32_t fourcc)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (ctl_formats[i].fourcc == fourcc)
			return &ctl_formats[i];
	return NULL;
}

void ctl_fourcc_str(uint32_t fourcc, char out[5])
{
	for (int i = 0; i < 4; i++) {
		char c = (fourcc >> (8 * i)) & 0xff;

		out[i] = c >= 0x20 && c < 0x7f ? c : '.';
	}
	out[4] = 0;
	if (!fourcc)
		strcpy(out, "none");
}

int ctl_parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char x;

	if (sscanf(s, "%u%c%u", w, &x, h) != 3 || (x != 'x' && x != 'X') ||
	    !*w || !*h || *w > 16384 || *h > 16384 || *w % 2 || *h % 2)
		return -EINVAL;
	return 0;
}

size_t ctl_frame_bytes(const struct ctl_format *f, uint32_t w, uint32_t h)
{
	return (size_t)w * h * f->bpp_num / f->bpp_den;
}

uint32_t ctl_stride(const struct ctl_format *f, uint32_t w)
{
	return f->bpp_den == 1 ? w * f->bpp_num : w; /* NV12: the Y plane */
}

/* 5x7 digits, one byte a row, bit 4 leftmost. */
static const uint8_t ctl_font[10][7] = {
	{ 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e }, { 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e },
	{ 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f }, { 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e },
	{ 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 }, { 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e },
	{ 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e }, { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 },
	{ 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e }, { 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c },
};

static const uint8_t ctl_bars[8][3] = {
	{ 255, 255, 255 }, { 255, 255, 0 }, { 0, 255, 255 }, { 0, 255, 0 },
	{ 255, 0, 255 }, { 255, 0, 0 }, { 0, 0, 255 }, { 0, 0, 0 },
};

void ctl_pattern_rgb(uint8_t *rgb, uint32_t w, uint32_t h, uint64_t n)
{
	uint32_t bar = w / 8 ? w / 8 : 1, shift = (n * 4) % w;
	uint32_t scale = h >= 120 ? 4 : 1;
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);

	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			memcpy(rgb + 3 * ((size_t)y * w + x), ctl_bars[((x + shift) / bar) % 8], 3);
	/* The number, black on a white box, top left. */
	for (uint32_t y = 0; y < 9 * scale && y < h; y++) {
		for (uint32_t x = 0; x < (6 * nd + 1) * scale && x < w; x++) {
			uint32_t cx = x / scale, cy = y / scale, d = cx / 6, col = cx % 6;
			bool ink = cy >= 1 && cy <= 7 && cx >= 1 && col >= 1 && (int)d < nd &&
				   (ctl_font[digits[d] - '0'][cy - 1] >> (5 - col)) & 1;
			uint8_t v = ink ? 0 : 255;

			memset(rgb + 3 * ((size_t)y * w + x), v, 3);
		}
	}
}

static uint8_t clamp(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/* BT.601 full range; saturated red and blue reach 256 before clamping. */
static void rgb2yuv(const uint8_t *p, int *y, int *u, int *v)
{
	*y = (77 * p[0] + 150 * p[1] + 29 * p[2] + 128) >> 8;
	*u = clamp(((-43 * p[0] - 85 * p[1] + 128 * p[2] + 128) >> 8) + 128);
	*v = clamp(((128 * p[0] - 107 * p[1] - 21 * p[2] + 128) >> 8) + 128);
}

static void yuv2rgb(int y, int u, int v, uint8_t *p)
{
	u -= 128;
	v -= 128;
	p[0] = clamp(y + ((359 * v) >> 8));
	p[1] = clamp(y - ((88 * u + 183 * v) >> 8));
	p[2] = clamp(y + ((454 * u) >> 8));
}

int ctl_from_rgb(const struct ctl_format *f, const uint8_t *rgb, uint8_t *out,
		 uint32_t w, uint32_t h)
{
	size_t n = (size_t)w * h;
	int y, u, v, y2, u2, v2;

	switch (f->fourcc) {
	case FOURCC('R', 'G', 'B', '3'):
		memcpy(out, rgb, 3 * n);
		return 0;
	case FOURCC('B', 'G', 'R', '3'):
		for (size_t i = 0; i < n; i++) {
			out[3 * i] = rgb[3 * i + 2];
			out[3 * i + 1] = rgb[3 * i + 1];
			out[3 * i + 2] = rgb[3 * i];
		}
		return 0;
	case FOURCC('G', 'R', 'E', 'Y'):
		for (size_t i = 0; i < n; i++) {
			rgb2yuv(rgb + 3 * i, &y, &u, &v);
			out[i] = y;
		}
		return 0;
	case FOURCC('Y', 'U', 'Y', 'V'):
		for (size_t i = 0; i < n; i += 2) {
			rgb2yuv(rgb + 3 * i, &y, &u, &v);
			rgb2yuv(rgb + 3 * i + 3, &y2, &u2, &v2);
			out[2 * i] = y;
			out[2 * i + 1] = (u + u2) / 2;
			out[2 * i + 2] = y2;
			out[2 * i + 3] = (v + v2) / 2;
		}
		return 0;
	case FOURCC('N', 'V', '1', '2'):
		for (size_t i = 0; i < n; i++) {
			rgb2yuv(rgb + 3 * i, &y, &u, &v);
			out[i] = y;
		}
		for (uint32_t r = 0; r < h; r += 2)
			for (uint32_t c = 0; c < w; c += 2) {
				rgb2yuv(rgb + 3 * ((size_t)r * w + c), &y, &u, &v);
				out[n + (size_t)r / 2 * w + c] = u;
				out[n + (size_t)r / 2 * w + c + 1] = v;
			}
		return 0;
	}
	return -EINVAL;
}

int ctl_to_rgb(const struct ctl_format *f, const uint8_t *in, size_t len,
	       uint8_t *rgb, uint32_t w, uint32_t h, uint32_t stride)
{
	size_t need = (size_t)stride * (h - 1) + ctl_stride(f, w) +
		      (f->fourcc == FOURCC('N', 'V', '1', '2') ? (size_t)stride * h / 2 : 0);

	if (len < need || stride < ctl_stride(f, w))
		return -EMSGSIZE;
	for (uint32_t r = 0; r < h; r++) {
		const uint8_t *row = in + (size_t)r * stride;
		uint8_t *o = rgb + (size_t)r * w * 3;

		for (uint32_t c = 0; c < w; c++, o += 3) {
			switch (f->fourcc) {
			case FOURCC('R', 'G', 'B', '3'):
				memcpy(o, row + 3 * c, 3);
				break;
			case FOURCC('B', 'G', 'R', '3'):
				o[0] = row[3 * c + 2];
				o[1] = row[3 * c + 1];
				o[2] = row[3 * c];
				break;
			case FOURCC('G', 'R', 'E', 'Y'):
				memset(o, row[c], 3);
				break;
			case FOURCC('Y', 'U', 'Y', 'V'): {
				const uint8_t *q = row + 4 * (c / 2);

				yuv2rgb(q[c % 2 ? 2 : 0], q[1], q[3], o);
				break;
			}
			case FOURCC('N', 'V', '1', '2'): {
				const uint8_t *uv = in + (size_t)stride * h +
						    (size_t)(r / 2) * stride + (c & ~1U);

				yuv2rgb(row[c], uv[0], uv[1], o);
				break;
			}
			default:
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int ctl_write_png(FILE *f, const uint8_t *rgb, uint32_t w, uint32_t h)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -EIO;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (uint32_t y = 0; y < h; y++)
		png_write_row(png, rgb + (size_t)y * w * 3);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int ctl_write_image(const char *path, const uint8_t *rgb, uint32_t w, uint32_t h)
{
	const char *ext = strrchr(path, '.');
	FILE *f;
	int ret = 0;

	if (!ext || (strcasecmp(ext, ".png") && strcasecmp(ext, ".ppm")))
		return -EINVAL;
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	if (!strcasecmp(ext, ".png"))
		ret = ctl_write_png(f, rgb, w, h);
	else if (fprintf(f, "P6\n%u %u\n255\n", w, h) < 0 ||
		 fwrite(rgb, 3, (size_t)w * h, f) != (size_t)w * h)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}
