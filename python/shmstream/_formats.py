# SPDX-License-Identifier: LGPL-2.1-or-later
"""How a stream's format (fourcc, width, height, stride) becomes a NumPy shape and dtype.

Two kinds of format:
- image fourccs (V4L2 codes, as shmstreamctl writes them): RGB3, BGR3, GREY, YUYV,
  NV12 and YU12 (I420); the array is (height, width[, channels]) uint8, or
  (height * 3 / 2, width) for the two planar 4:2:0 formats;
- NumPy arrays created with shape= and dtype=: the fourcc is 'N', the dtype's kind
  ('b', 'i', 'u', 'f' or 'c'), its item size and the number of dimensions as four
  bytes; the dimensions are width, height and stride (up to three dimensions of
  up to 2**32 - 1), or packed 16 bits each for four to six dimensions (the top bit
  of the ndim byte set).
Anything else (or a frame shorter than its format says) is a 1-D uint8 array of
the frame's bytes.
"""

import numpy as np


def fourcc(code):
    """The 32-bit code of a four-character string (or the int itself)."""
    if isinstance(code, int):
        return code
    raw = code.encode("ascii") if isinstance(code, str) else bytes(code)
    if len(raw) != 4:
        raise ValueError(f"a fourcc has four characters, not {code!r}")
    return int.from_bytes(raw, "little")


def fourcc_str(code):
    raw = code.to_bytes(4, "little")
    arr = decode_array(code, 0, 0, 0)
    if arr is not None:
        return f"array of {arr[1]}"
    return raw.decode("latin-1") if all(32 <= c < 127 for c in raw) else f"0x{code:08x}"


# fourcc: (channels, planar 4:2:0)
IMAGE_FORMATS = {
    fourcc("RGB3"): (3, False),
    fourcc("BGR3"): (3, False),
    fourcc("GREY"): (1, False),
    fourcc("YUYV"): (2, False),
    fourcc("NV12"): (1, True),
    fourcc("YU12"): (1, True),
}

_PACKED = 0x80
_KINDS = "biufc"


def image_geometry(code, width, height, stride=0):
    """(stride, bytes) of an image format; ValueError for an unknown fourcc."""
    code = fourcc(code)
    if code not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fourcc_str(code)}; "
                         f"known: {', '.join(fourcc_str(c) for c in IMAGE_FORMATS)}")
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    channels, planar = IMAGE_FORMATS[code]
    stride = stride or width * channels
    if stride < width * channels:
        raise ValueError(f"stride {stride} is less than a line ({width * channels} bytes)")
    if planar:
        if width % 2 or height % 2:
            raise ValueError("4:2:0 formats need an even width and height")
        return stride, stride * height * 3 // 2
    return stride, stride * height


def encode_array(shape, dtype):
    """The shmstream_format fields (fourcc, width, height, stride) of an array type."""
    dtype = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"dtype {dtype} is not a plain bool, integer, float or complex type")
    if not dtype.isnative:
        raise ValueError(f"dtype {dtype} is not in the machine's byte order")
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    ndim = len(shape)
    if ndim <= 3:
        if any(d >= 1 << 32 for d in shape):
            raise ValueError(f"dimension too large in shape {shape}")
        dims = list(shape) + [0] * (3 - ndim)
        flag = 0
    elif ndim <= 6:
        if any(d >= 1 << 16 for d in shape):
            raise ValueError(f"shapes of {ndim} dimensions take dimensions below 65536")
        d = list(shape) + [0] * (6 - ndim)
        dims = [d[0] | d[1] << 16, d[2] | d[3] << 16, d[4] | d[5] << 16]
        flag = _PACKED
    else:
        raise ValueError(f"at most 6 dimensions, not {ndim}")
    code = (ord("N") | ord(dtype.kind) << 8 | dtype.itemsize << 16 | (ndim | flag) << 24)
    return code, dims[0], dims[1], dims[2]


def decode_array(code, width, height, stride):
    """(shape, dtype) of a NumPy-array format, or None for any other fourcc."""
    raw = code.to_bytes(4, "little")
    if raw[0] != ord("N") or chr(raw[1]) not in _KINDS:
        return None
    try:
        dtype = np.dtype(f"{chr(raw[1])}{raw[2]}")
    except TypeError:
        return None
    ndim = raw[3] & ~_PACKED
    if raw[3] & _PACKED:
        if not 4 <= ndim <= 6:
            return None
        words = [width, height, stride]
        dims = [(w >> s) & 0xFFFF for w in words for s in (0, 16)]
    else:
        if ndim > 3:
            return None
        dims = [width, height, stride]
    return tuple(dims[:ndim]), dtype


def layout(fmt, nbytes):
    """(shape, dtype, strides) for a frame of nbytes in format fmt (a shmstream_format)."""
    byte = np.dtype(np.uint8)
    arr = decode_array(fmt.fourcc, fmt.width, fmt.height, fmt.stride)
    if arr is not None:
        shape, dtype = arr
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize == nbytes:
            return shape, dtype, None
    elif fmt.fourcc in IMAGE_FORMATS and fmt.width and fmt.height:
        channels, planar = IMAGE_FORMATS[fmt.fourcc]
        stride = fmt.stride or fmt.width * channels
        if planar:
            if stride == fmt.width and nbytes == stride * fmt.height * 3 // 2:
                return (fmt.height * 3 // 2, fmt.width), byte, None
        elif nbytes == stride * fmt.height and stride >= fmt.width * channels:
            if channels == 1:
                return (fmt.height, fmt.width), byte, (stride, 1)
            return (fmt.height, fmt.width, channels), byte, (stride, channels, 1)
    return (nbytes,), byte, None
