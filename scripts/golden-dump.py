#!/usr/bin/python3
"""Prints every attribute and dataset of the .h5 files of a folder, bit-exactly (doubles as hex), in
sorted order, for diffing two builds (scripts/golden-corpus.sh). Left out, because they measure the
machine rather than the algorithm: the metrics columns and attributes named *time_s and the attributes
that hold times. The folder's path is replaced by $OUT so that two folders compare. Each case's
log (stderr) is printed too, so that a refusal or an error is part of the comparison."""
import os
import struct
import sys

import h5py
import numpy as np

TIMING = ("elapsed_s", "started_at", "finished_at")


def timing(name):
    return name in TIMING or name.endswith("time_s")


def fmt(v, root):
    if isinstance(v, bytes):
        return repr(v.decode("utf-8", "replace").replace(root, "$OUT"))
    if isinstance(v, str):
        return repr(v.replace(root, "$OUT"))
    a = np.asarray(v)
    if a.dtype.kind == "f":
        return "f[" + " ".join(struct.pack("<d", float(x)).hex() for x in a.ravel()) + "]" + str(a.shape)
    if a.dtype.kind in "iu":
        return "i[" + " ".join(str(int(x)) for x in a.ravel()) + "]" + str(a.shape)
    if a.dtype.kind in "SO":
        return "s[" + " ".join(fmt(x, root) for x in a.ravel()) + "]"
    return repr(a.tolist())


def dump(path, root):
    lines = []

    def visit(name, obj):
        if timing(os.path.basename(name)):
            return
        kind = "G" if isinstance(obj, h5py.Group) else "D"
        for k in sorted(obj.attrs):
            if timing(k):
                continue
            lines.append(f"{kind} /{name} @{k} = {fmt(obj.attrs[k], root)}")
        if kind == "D":
            # A string's fixed length follows the folder's path length: the kind, not the size.
            dtype = "string" if obj.dtype.kind == "S" else obj.dtype
            lines.append(f"D /{name} {dtype} {obj.shape} = {fmt(obj[()], root)}")

    with h5py.File(path, "r") as f:
        for k in sorted(f.attrs):
            lines.append(f"F @{k} = {fmt(f.attrs[k], root)}")
        f.visititems(visit)
    return sorted(lines)


def main():
    root = os.path.abspath(sys.argv[1])
    for entry in sorted(os.listdir(root)):
        p = os.path.join(root, entry)
        if entry.endswith(".log"):
            with open(p, errors="replace") as f:
                for line in f:
                    print(f"{entry}: {line.rstrip().replace(root, '$OUT')}")
        elif entry.endswith(".h5"):
            try:
                for line in dump(p, root):
                    print(f"{entry}: {line}")
            except OSError as e:
                print(f"{entry}: unreadable: {e}")


if __name__ == "__main__":
    main()
