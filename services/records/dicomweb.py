"""DICOMweb representations (PS3.18): QIDO-RS results as application/dicom+json, WADO-RS bodies
as multipart/related, STOW-RS responses. Pure functions over the index; no I/O.

QIDO study results name the patient (PatientName, PatientID, as the first stored instance
wrote them): everyone who may search a study may also retrieve its files, which hold the same
names. De-identified copies name nobody.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

from services.records.domain import DeidentifiedCopy
from services.records.imaging import (
    DUPLICATE_SOP_INSTANCE,
    FailedInstance,
    InstanceHeader,
    StudySummary,
)
from services.records.store import InstanceRecord

DICOM_JSON = "application/dicom+json"
Attributes = dict[str, dict[str, Any]]


def _attr(tag: str, vr: str, *values: object) -> Attributes:
    present = [v for v in values if v not in (None, "")]
    return {tag: {"vr": vr, "Value": present} if present else {"vr": vr}}


def _da(value: date | None) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def study_result(study: StudySummary, base_url: str) -> Attributes:
    uid = study.study_instance_uid
    name = {"Alphabetic": study.patient_name} if study.patient_name else None
    return {
        **_attr("00080020", "DA", _da(study.study_date)),
        **_attr("00080061", "CS", *study.modalities),
        **_attr("00081030", "LO", study.description),
        **_attr("00081190", "UR", f"{base_url}/dicomweb/studies/{uid}"),
        **_attr("00100010", "PN", name),
        **_attr("00100020", "LO", study.patient_id),
        **_attr("0020000D", "UI", uid),
        **_attr("00201206", "IS", len(study.series)),
        **_attr("00201208", "IS", study.instance_count),
    }


def copy_result(copy: DeidentifiedCopy, base_url: str) -> Attributes:
    uid = copy.study_instance_uid
    return {
        **_attr("00080020", "DA", _da(copy.study_date)),
        **_attr("00080061", "CS", *copy.modalities),
        **_attr("00081190", "UR", f"{base_url}/dicomweb/studies/{uid}"),
        **_attr("0020000D", "UI", uid),
        **_attr("00120062", "CS", "YES"),
        **_attr("00201206", "IS", copy.series_count),
        **_attr("00201208", "IS", copy.instance_count),
    }


def series_results(
    instances: Sequence[InstanceRecord], summary: StudySummary | None, base_url: str
) -> list[Attributes]:
    """Series of a study from its stored instances, described by the study's summary if any."""
    grouped: dict[str, list[InstanceRecord]] = defaultdict(list)
    for instance in instances:
        grouped[instance.series_instance_uid].append(instance)
    results = []
    for series_uid, members in grouped.items():
        known = summary.series.get(series_uid) if summary else None
        study_uid = members[0].study_instance_uid
        results.append(
            {
                **_attr("00080060", "CS", members[0].modality),
                **_attr("0008103E", "LO", known.description if known else None),
                **_attr(
                    "00081190", "UR", f"{base_url}/dicomweb/studies/{study_uid}/series/{series_uid}"
                ),
                **_attr("00180015", "CS", known.body_part if known else None),
                **_attr("0020000E", "UI", series_uid),
                **_attr("00200011", "IS", known.number if known else None),
                **_attr("00201209", "IS", len(members)),
            }
        )
    return results


def instance_results(instances: Sequence[InstanceRecord], base_url: str) -> list[Attributes]:
    return [
        {
            **_attr("00080016", "UI", i.sop_class_uid),
            **_attr("00080018", "UI", i.sop_instance_uid),
            **_attr("00081190", "UR", instance_url(base_url, i)),
            **_attr("00083002", "UI", i.transfer_syntax_uid),
            **_attr("0020000D", "UI", i.study_instance_uid),
            **_attr("0020000E", "UI", i.series_instance_uid),
            **_attr("00200013", "IS", i.instance_number),
        }
        for i in instances
    ]


def instance_url(base_url: str, i: InstanceRecord | InstanceHeader) -> str:
    return (
        f"{base_url}/dicomweb/studies/{i.study_instance_uid}"
        f"/series/{i.series_instance_uid}/instances/{i.sop_instance_uid}"
    )


def stow_response(
    stored: Sequence[InstanceHeader],
    conflicts: Sequence[InstanceHeader],
    base_url: str,
    failed: Sequence[FailedInstance] = (),
) -> Attributes:
    """ReferencedSOPSequence for what is held (new or identical), FailedSOPSequence with a
    FailureReason for each instance that is not: a conflicting copy, or one of a refused request."""
    referenced = [
        {
            **_attr("00081150", "UI", h.sop_class_uid),
            **_attr("00081155", "UI", h.sop_instance_uid),
            **_attr("00081190", "UR", instance_url(base_url, h)),
        }
        for h in stored
    ]
    refused = [
        *(
            FailedInstance(h.sop_class_uid, h.sop_instance_uid, DUPLICATE_SOP_INSTANCE)
            for h in conflicts
        ),
        *failed,
    ]
    failures = [
        {
            **_attr("00081150", "UI", f.sop_class_uid),
            **_attr("00081155", "UI", f.sop_instance_uid),
            **_attr("00081197", "US", f.reason),
        }
        for f in refused
    ]
    body: Attributes = {}
    studies = {h.study_instance_uid for h in stored}
    if len(studies) == 1:
        body.update(_attr("00081190", "UR", f"{base_url}/dicomweb/studies/{studies.pop()}"))
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    if failures:
        body["00081198"] = {"vr": "SQ", "Value": failures}
    return body


def multipart_boundary_header(boundary: str) -> str:
    return f'multipart/related; type="application/dicom"; boundary={boundary}'


async def multipart_body(
    parts: Sequence[tuple[int, AsyncIterator[bytes]]], boundary: str
) -> AsyncIterator[bytes]:
    """One application/dicom part per instance, each streamed chunk by chunk."""
    for size, chunks in parts:
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\nContent-Length: {size}\r\n\r\n"
        yield head.encode()
        async for chunk in chunks:
            yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
