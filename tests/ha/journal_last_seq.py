#!/usr/bin/env python3
"""Prints the seq of the last whole record in an acdd journal directory (0: none).

Reads the segment files (journal-<first seq>.log: a 24-byte header, then records of u32 length,
u32 checksum, u64 seq and the payload) in order and stops at a torn record, as acdd's recovery
does; the checksum is not checked. Read only.

  journal_last_seq.py DIR
"""
import os
import struct
import sys


def last_seq(directory):
    last = 0
    names = sorted(n for n in os.listdir(directory)
                   if n.startswith("journal-") and n.endswith(".log"))
    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if len(data) < 24 or data[:8] != b"ACDJRNL1":
            break
        at = 24
        while len(data) - at >= 16:
            length, _crc, seq = struct.unpack_from("<IIQ", data, at)
            if length > len(data) - at - 16:
                break
            last = seq
            at += 16 + length
    return last


if __name__ == "__main__":
    print(last_seq(sys.argv[1]))
