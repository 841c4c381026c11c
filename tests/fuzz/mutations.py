"""Byte-level mutations of real files, shared by the DICOM and zip fuzz tests."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import strategies as st
from pydicom.data import get_testdata_file

# CT, MR in several encodings, RGB, JPEG and JPEG 2000, a deflated file, sequences, a DICOMDIR.
DICOM_NAMES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_small_odd.dcm",
    "SC_rgb_jpeg.dcm",
    "JPEG2000.dcm",
    "image_dfl.dcm",
    "rtplan.dcm",
    "UN_sequence.dcm",
)


def dicom_bytes(name: str) -> bytes:
    found = get_testdata_file(name)
    assert found is not None, name
    return Path(str(found)).read_bytes()


SAMPLES = {name: dicom_bytes(name) for name in DICOM_NAMES}

# Values a parser trusts: undefined length, item and delimiter tags, huge and zero lengths.
INTERESTING = [
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\x7f",
    b"\xfe\xff\x00\xe0",
    b"\xfe\xff\xdd\xe0",
    b"\xfe\xff\x0d\xe0",
    b"\xe0\x7f\x10\x00",
    b"SQ\x00\x00",
    b"UN\x00\x00",
    b"OB\x00\x00",
    b"DICM",
    b"1.2.840.10008.1.2.1.99\x00",
    b"1.2.840.10008.1.2.2\x00",
    struct.pack("<I", 2**31),
    struct.pack("<H", 0xFFFF),
]


@st.composite
def mutated(draw: st.DrawFn, data: bytes, *, focus: int | None = None) -> bytes:
    """`data` with one to eight edits: bit flips, cuts, garbage, deletions, repeats and
    trusted values (lengths, tags) written over it; `focus` biases edits to the first bytes."""
    raw = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if not raw:
            break
        limit = min(len(raw), focus) if focus and draw(st.booleans()) else len(raw)
        at = draw(st.integers(0, limit - 1))
        action = draw(
            st.sampled_from(["flip", "cut", "insert", "delete", "repeat", "overwrite", "value"])
        )
        if action == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del raw[at:]
        elif action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 256))]
        elif action == "repeat":
            raw[at:at] = raw[at : at + draw(st.integers(1, 256))] * draw(st.integers(1, 20))
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            raw[at : at + len(chunk)] = chunk
        else:
            value = draw(st.sampled_from(INTERESTING))
            raw[at : at + len(value)] = value
    return bytes(raw)
