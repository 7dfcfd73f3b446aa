#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Compare a PNG (decoded here with zlib alone) with a PPM image.

Usage: pngcmp.py FILE.png EXPECTED.ppm [--grey] [--tolerance N]
Exits 0 when every pixel is within N (mean and max are printed), 1 if not.
--grey compares against the luma of the expected image (a GREY stream).
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError("bad CRC in " + kind.decode())
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype != 2:
                raise ValueError("expected 8-bit RGB")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, out, prev = zlib.decompress(idat), width * 3, bytearray(), bytearray(width * 3)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return width, height, bytes(out)


def read_ppm(path):
    data = open(path, "rb").read()
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6" or parts[3] != b"255":
        raise ValueError("expected a binary PPM")
    return int(parts[1]), int(parts[2]), parts[4]


def main():
    args = sys.argv[1:]
    grey = "--grey" in args
    tol = int(args[args.index("--tolerance") + 1]) if "--tolerance" in args else 0
    w, h, got = read_png(args[0])
    ew, eh, want = read_ppm(args[1])
    if (w, h) != (ew, eh):
        print(f"size {w}x{h}, expected {ew}x{eh}")
        return 1
    total, worst = 0, 0
    for i in range(0, len(want), 3):
        e = want[i:i + 3]
        if grey:
            y = (77 * e[0] + 150 * e[1] + 29 * e[2] + 128) >> 8
            e = bytes((y, y, y))
        for k in range(3):
            d = abs(got[i + k] - e[k])
            total += d
            worst = max(worst, d)
    mean = total / len(want)
    print(f"{w}x{h}: mean difference {mean:.2f}, max {worst} (tolerance {tol})")
    return 0 if worst <= tol else 1


sys.exit(main())
