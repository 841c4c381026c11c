"""Reading DICOM files for the index: the header only, plus a check that the file is whole.

pydicom reads the header values (`stop_before_pixels`); the whole file is then walked element
by element with seeks, so a truncated file is caught without loading its pixel data. pydicom
alone accepts a file cut short inside a value or a sequence.
"""

from __future__ import annotations

import logging
import re
import struct
import warnings
from datetime import date
from pathlib import Path
from typing import IO

from pydicom import DataElement, Dataset, config, dcmread
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID
from pydicom.valuerep import VR, validate_value

from services.records.identity import DicomPatient
from services.records.imaging import InstanceHeader

PREAMBLE_LENGTH = 128
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
DEFLATED = "1.2.840.10008.1.2.1.99"
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
# Explicit VRs with a 4-byte length (PS3.5 7.1.2).
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
MAX_DEPTH = 16
VALID_VRS = frozenset(vr.value.encode() for vr in VR)
# Bytes per value of the binary VRs: a length that is not a multiple was cut or shifted.
VALUE_SIZE = {b"AT": 4, b"FD": 8, b"FL": 4, b"OD": 8, b"OF": 4, b"OL": 4, b"OV": 8, b"OW": 2,
              b"SL": 4, b"SS": 2, b"SV": 8, b"UL": 4, b"US": 2, b"UV": 8}  # fmt: skip
STANDARD_ROOT = "1.2.840.10008."


class NotDicom(Exception):
    """The file is not a readable, complete DICOM Part 10 file; the message names no values."""

    code = "not_dicom"


class InvalidDicom(NotDicom):
    """A whole DICOM file whose header breaks the standard: a UID, a VR or the file meta."""

    code = "invalid_dicom"


class MediaDirectory(Exception):
    """The file is a DICOMDIR (an index of a CD), not an instance."""


def quiet_pydicom() -> None:
    """pydicom's warnings and log lines quote element values (a name, a birth date): off.

    Values are not validated on reading either; the index checks what it uses itself.
    """
    config.settings.reading_validation_mode = config.IGNORE
    warnings.filterwarnings("ignore", module="pydicom")
    logging.getLogger("pydicom").setLevel(logging.CRITICAL + 1)


def has_preamble(head: bytes) -> bool:
    """A Part 10 file: 128-byte preamble, then `DICM`."""
    return head[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] == b"DICM"


def read_header(path: Path) -> InstanceHeader:
    """The index entry of one file; raises NotDicom or MediaDirectory."""
    size = path.stat().st_size
    with path.open("rb") as fp:
        try:
            ds = dcmread(fp, stop_before_pixels=True)
        except InvalidDicomError:
            raise NotDicom("it has no DICOM preamble and file meta information") from None
        except Exception:
            raise NotDicom("its header cannot be read") from None
        try:
            return _checked_header(ds, fp, size)
        except (NotDicom, MediaDirectory, OSError):
            raise
        except Exception:
            # pydicom decodes a value when it is first used, the file meta's included.
            raise NotDicom("its header holds values that cannot be decoded") from None


def readable_uids(path: Path) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) of a file that was refused, for STOW's report: each
    only if it can be read and is valid, else empty."""
    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
        found = (_text(ds, "SOPClassUID"), _text(ds, "SOPInstanceUID"))
        for uid in found:
            validate_value("UI", uid, config.RAISE)
        return found
    except Exception:
        return "", ""


def _checked_header(ds: Dataset, fp: IO[bytes], size: int) -> InstanceHeader:
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        raise MediaDirectory
    encoding = _encoding(ds)
    if encoding is not None:  # a deflated data set was inflated and read whole by pydicom
        walker = _Walker(fp, size)
        walker.walk(encoding)
        if not walker.pixels_seen and _is_image(ds):
            raise NotDicom("it is an image but ends before its pixel data")
    _check_uids(ds.file_meta, 0)
    _check_uids(ds, 0)
    _check_file_meta(ds)
    return _header(ds)


def _check_uids(ds: Dataset, depth: int) -> None:
    """Every element the dictionary calls a UID is written as one, with valid UIDs in it."""
    for raw in ds.elements():
        if raw.tag.is_private or raw.tag in PIXEL_TAGS:
            continue
        element = ds[raw.tag]  # converted: the VR of an implicit VR file comes from here
        known = _dictionary_vr(element.tag)
        if element.VR == "SQ" and depth < MAX_DEPTH:
            for item in element.value:
                _check_uids(item, depth + 1)
        elif known == "UI" or element.VR == "UI":
            _check_uid_element(element, known)


def _check_uid_element(element: DataElement, known: str | None) -> None:
    name = element.keyword or str(element.tag)
    if element.VR not in ("UI", "UN") or known not in ("UI", None):
        raise InvalidDicom(f"its {name} is not written as a UID (VR {element.VR})")
    values = element.value if element.VM > 1 else [element.value]
    for value in values:
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
        text = text.rstrip("\x00 ")
        if not text:
            continue
        try:
            validate_value("UI", text, config.RAISE)
        except ValueError:  # its message quotes the value: not passed on
            raise InvalidDicom(f"its {name} is not a valid UID") from None


def _dictionary_vr(tag: int) -> str | None:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def _check_file_meta(ds: Dataset) -> None:
    """PS3.10 7.1: the file meta names the kind of instance the data set holds, and its
    transfer syntax. A Media Storage SOP Instance UID that differs from the data set's is
    tolerated: anonymizers often rewrite one and not the other, and the index uses the data
    set's."""
    for meta in ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
        if not str(ds.file_meta.get(meta, "")).rstrip("\x00 "):
            raise InvalidDicom(f"its file meta has no {meta}")
    if str(ds.file_meta.MediaStorageSOPClassUID).rstrip("\x00 ") != _text(ds, "SOPClassUID"):
        raise InvalidDicom("its MediaStorageSOPClassUID is not the SOPClassUID of its data set")
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")).rstrip("\x00 "))
    if not syntax:
        raise InvalidDicom("its file meta has no TransferSyntaxUID")
    if syntax.startswith(STANDARD_ROOT) and not syntax.is_transfer_syntax:
        raise InvalidDicom("its TransferSyntaxUID is not a transfer syntax")


def _is_image(ds: Dataset) -> bool:
    sop_class = UID(
        _text(ds, "SOPClassUID") or str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
    )
    return "Rows" in ds or "Image Storage" in sop_class.name


def _header(ds: Dataset) -> InstanceHeader:
    return InstanceHeader(
        sop_instance_uid=_uid(ds, "SOPInstanceUID"),
        sop_class_uid=_uid(ds, "SOPClassUID"),
        study_instance_uid=_uid(ds, "StudyInstanceUID"),
        series_instance_uid=_uid(ds, "SeriesInstanceUID"),
        transfer_syntax_uid=str(ds.file_meta.get("TransferSyntaxUID", "")),
        modality=_text(ds, "Modality")[:16],
        body_part=_text(ds, "BodyPartExamined")[:16],
        study_date=_date(_text(ds, "StudyDate")),
        study_description=_text(ds, "StudyDescription")[:64],
        series_description=_text(ds, "SeriesDescription")[:64],
        series_number=_integer(_text(ds, "SeriesNumber")),
        instance_number=_integer(_text(ds, "InstanceNumber")),
        patient=DicomPatient(
            name=_text(ds, "PatientName"),
            birth_date=_text(ds, "PatientBirthDate"),
            patient_id=_text(ds, "PatientID"),
            other_ids=_other_ids(ds),
        ),
    )


def _uid(ds: Dataset, keyword: str) -> str:
    value = _text(ds, keyword)
    if not value:
        raise NotDicom(f"it has no {keyword}")
    try:
        validate_value("UI", value, config.RAISE)
    except ValueError:
        raise InvalidDicom(f"its {keyword} is not a valid UID") from None
    return value


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value).strip()


def _other_ids(ds: Dataset) -> tuple[str, ...]:
    ids = [str(v) for v in _as_list(ds.get("OtherPatientIDs"))]
    ids += [str(item.get("PatientID", "")) for item in ds.get("OtherPatientIDsSequence", [])]
    return tuple(i for i in ids if i)


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _date(value: str) -> date | None:
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def _integer(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _encoding(ds: Dataset) -> tuple[bool, bool] | None:
    """(implicit VR, little endian) of the data set, or None when it cannot be walked."""
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if syntax == DEFLATED:
        return None
    if syntax.is_transfer_syntax:
        return syntax.is_implicit_VR, syntax.is_little_endian
    return False, True


class _Walker:
    """Checks the structure of a Part 10 file: every declared length fits in the file and every
    undefined-length sequence, item and fragment list is closed. Values are skipped by seeking."""

    def __init__(self, fp: IO[bytes], size: int) -> None:
        self._fp = fp
        self._size = size
        self.pixels_seen = False

    def walk(self, encoding: tuple[bool, bool]) -> None:
        # File meta information is always explicit VR little endian.
        position = self._elements(PREAMBLE_LENGTH + 4, self._size, (False, True), 0, meta=True)
        implicit, little = encoding
        if not implicit and position + 8 <= self._size:
            # Like pydicom: a data set that claims explicit VR but has no VR is read as implicit.
            vr = self._read(position + 4, 2)
            implicit = not (vr.isalpha() and vr.isupper())
        self._elements(position, self._size, (implicit, little), 0)

    def _elements(
        self, position: int, end: int, encoding: tuple[bool, bool], depth: int, meta: bool = False
    ) -> int:
        """Walk elements up to `end`, or to an item delimiter when `end` is undefined."""
        if depth > MAX_DEPTH:
            raise NotDicom("its sequences are nested too deeply")
        implicit, little = encoding
        order = "<" if little else ">"
        while position < min(end, self._size):
            head = self._read(position, 8)
            group, element = struct.unpack(f"{order}HH", head[:4])
            if meta and group != 0x0002:
                return position
            if group == 0xFFFE and element == 0xE00D and end == UNDEFINED_LENGTH:
                return position + 8
            if group == 0xFFFE:
                raise NotDicom("its header holds a misplaced item")
            vr = b"" if implicit else head[4:6]
            if vr and vr not in VALID_VRS:
                raise InvalidDicom(f"its element ({group:04X},{element:04X}) has no valid VR")
            if implicit:
                (length,), header = struct.unpack(f"{order}I", head[4:]), 8
            elif vr in LONG_VRS:
                (length,), header = struct.unpack(f"{order}I", self._read(position + 8, 4)), 12
            else:
                (length,), header = struct.unpack(f"{order}H", head[6:]), 8
            tag = group << 16 | element
            size = VALUE_SIZE.get(vr)
            if size and length != UNDEFINED_LENGTH and length % size:
                raise InvalidDicom(f"its element ({group:04X},{element:04X}) does not fit its VR")
            self.pixels_seen = self.pixels_seen or tag in PIXEL_TAGS
            position += header
            if length != UNDEFINED_LENGTH:
                position += length
            elif tag in PIXEL_TAGS:
                position = self._fragments(position)
            else:
                # An undefined-length UN holds implicit little endian (PS3.5 6.2.2).
                inner = (True, True) if vr == b"UN" else encoding
                position = self._items(position, inner, depth + 1)
            if position > self._size:
                raise NotDicom("it ends before the end of an element")
        if end == UNDEFINED_LENGTH:
            raise NotDicom("it ends inside a sequence")
        return position

    def _items(self, position: int, encoding: tuple[bool, bool], depth: int) -> int:
        order = "<" if encoding[1] else ">"
        while True:
            group, element, length = struct.unpack(f"{order}HHI", self._read(position, 8))
            position += 8
            if (group, element) == (0xFFFE, 0xE0DD):
                return position
            if (group, element) != (0xFFFE, 0xE000):
                raise NotDicom("its header holds a malformed sequence")
            if length == UNDEFINED_LENGTH:
                position = self._elements(position, UNDEFINED_LENGTH, encoding, depth)
            else:
                position += length

    def _fragments(self, position: int) -> int:
        """Encapsulated pixel data: items up to the sequence delimiter (always little endian)."""
        while True:
            group, element, length = struct.unpack("<HHI", self._read(position, 8))
            position += 8
            if (group, element) == (0xFFFE, 0xE0DD):
                return position
            if (group, element) != (0xFFFE, 0xE000) or length == UNDEFINED_LENGTH:
                raise NotDicom("its encapsulated pixel data is malformed")
            position += length

    def _read(self, position: int, count: int) -> bytes:
        self._fp.seek(position)
        data = self._fp.read(count)
        if len(data) < count:
            raise NotDicom("it ends before the end of an element")
        return data
