#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""frames.py RAW FRAME_BYTES COUNT REFS: RAW, what a client read, is COUNT
frames of FRAME_BYTES bytes each, every one of them byte for byte a frame
that was fed, in the order they were fed. REFS is a directory of N.ppm
(shmstreamctl pattern's frame N) or a file of raw frames (frame N the Nth).
Prints what it found; exit 0 when all of that holds."""
import glob
import hashlib
import os
import sys


def main():
    raw, size, count, refdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    refs = {}
    if os.path.isfile(refdir):
        with open(refdir, "rb") as f:
            data = f.read()
        for n in range(len(data) // size, 0, -1):  # the first of equal frames wins
            refs[hashlib.md5(data[(n - 1) * size:n * size]).hexdigest()] = n
    for path in glob.glob(os.path.join(refdir, "*.ppm")):
        with open(path, "rb") as f:
            data = f.read()
        # P6, width, height, maxval, one whitespace byte: the pixels follow.
        fields, pos = [], 0
        while len(fields) < 4:
            while data[pos:pos + 1].isspace():
                pos += 1
            end = pos
            while not data[end:end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        pixels = data[pos + 1:]
        if len(pixels) != size:
            print(f"# {path}: {len(pixels)} bytes of pixels, not {size}")
            return 1
        refs[hashlib.md5(pixels).hexdigest()] = int(os.path.basename(path)[:-4])
    with open(raw, "rb") as f:
        got = f.read()
    frames = [got[i:i + size] for i in range(0, len(got), size)]
    numbers = [refs.get(hashlib.md5(fr).hexdigest()) for fr in frames]
    unknown = sum(1 for n in numbers if n is None)
    known = [n for n in numbers if n is not None]
    ordered = all(a < b for a, b in zip(known, known[1:]))
    print(f"# {len(got)} bytes: {len(frames)} frames of {size} (want {count}); "
          f"{len(known)} are fed frames {known[0] if known else '-'}..{known[-1] if known else '-'}"
          f" of the {len(refs)} references, {unknown} match none; "
          f"{'in' if ordered else 'NOT in'} the order fed")
    ok = len(got) == count * size and unknown == 0 and ordered
    return 0 if ok else 1


sys.exit(main())
