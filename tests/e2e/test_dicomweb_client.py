"""A stock DICOMweb client (dicomweb-client, unmodified) against the records service running as
a process on the real stack: STOW-RS without the non-standard `case_id` parameter (through the
per-case base URL, or by a hospital whose instances name its patient), the standard STOW
failure response, and QIDO-RS and WADO-RS for the hospital that sent the images."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TypeVar

import pydicom
import pytest
import requests
from dicomweb_client import DICOMwebClient
from pydicom import config

from shared.bus import KafkaEventPublisher
from tests.integration.records.samples import CASE_PATIENT, Instance, build_study
from tests.platform import Platform
from tests.support import eventually, sample_event

pytestmark = pytest.mark.real

CASE = "dicomweb-1"
ORGANIZATION = "valley"
T = TypeVar("T")
FAILED_SOP_SEQUENCE = "FailedSOPSequence"


def datasets(instances: list[Instance]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(io.BytesIO(i.data)) for i in instances]


def client(platform: Platform, headers: dict[str, str], **prefixes: str) -> DICOMwebClient:
    return DICOMwebClient(url=f"{platform.url('records')}/dicomweb", headers=headers, **prefixes)


async def off_loop(call: Callable[[], T]) -> T:
    """The stock client is synchronous: keep the event loop free while it waits."""
    return await asyncio.to_thread(call)


async def open_case(platform: Platform) -> None:
    publisher = KafkaEventPublisher(platform.stack)
    await publisher.start()
    try:
        await publisher.publish([sample_event(CASE, organization_id=ORGANIZATION)])
    finally:
        await publisher.stop()
    staff = platform.auth("intake-staff", "staff-1")

    async def checklist_open() -> bool:
        response = await off_loop(
            lambda: requests.get(
                f"{platform.url('records')}/cases/{CASE}/checklist", headers=staff, timeout=10
            )
        )
        return response.status_code == 200

    await eventually(checklist_open, within=60)


async def test_a_stock_client_stores_searches_and_retrieves(platform: Platform) -> None:
    await open_case(platform)
    staff = platform.auth("intake-staff", "staff-1")
    hospital = platform.auth("hospital-system", "pacs-1", org=ORGANIZATION)

    # Staff: the per-case STOW base URL names the case; no query parameter.
    first = build_study((("CT_small.dcm", 2),))
    per_case = client(platform, staff, stow_url_prefix=f"cases/{CASE}")
    stored = await off_loop(lambda: per_case.store_instances(datasets(first)))
    assert sorted(i.ReferencedSOPInstanceUID for i in stored.ReferencedSOPSequence) == sorted(
        i.sop for i in first
    )
    assert FAILED_SOP_SEQUENCE not in stored

    # The hospital's PACS: its token names its organization, the instances name the patient.
    pacs = client(platform, hospital)
    second = build_study((("MR_small.dcm", 2),))
    stored = await off_loop(lambda: pacs.store_instances(datasets(second)))
    assert len(stored.ReferencedSOPSequence) == 2

    # QIDO-RS: the hospital finds both studies of its case, with the patient's name and id.
    found = await off_loop(lambda: pacs.search_for_studies())
    by_study = {s["0020000D"]["Value"][0]: s for s in found}
    assert set(by_study) == {first[0].study, second[0].study}
    study = pydicom.Dataset.from_json(by_study[second[0].study])
    assert str(study.PatientName) == CASE_PATIENT["name"]
    assert study.PatientID == CASE_PATIENT["patient_id"]
    series = await off_loop(lambda: pacs.search_for_series(second[0].study))
    assert [s["0020000E"]["Value"][0] for s in series] == [second[0].series]

    # WADO-RS: byte for byte what was stored, as the client decodes it.
    retrieved = await off_loop(lambda: pacs.retrieve_study(first[0].study))
    assert sorted(r.SOPInstanceUID for r in retrieved) == sorted(i.sop for i in first)
    one = await off_loop(
        lambda: pacs.retrieve_instance(second[0].study, second[0].series, second[1].sop)
    )
    assert one.SOPInstanceUID == second[1].sop

    # Another organization's system sees nothing of it.
    other = client(platform, platform.auth("hospital-system", "pacs-9", org="elsewhere"))
    assert await off_loop(lambda: other.search_for_studies()) == []
    with pytest.raises(requests.HTTPError) as hidden:
        await off_loop(lambda: other.retrieve_study(first[0].study))
    assert hidden.value.response.status_code == 404

    # One broken instance: nothing of the request is stored, and the standard response says
    # why for each instance (409, a FailedSOPSequence with a FailureReason per instance).
    third = datasets(build_study((("CT_small.dcm", 2),)))
    with config.disable_value_validation():
        third[1].FrameOfReferenceUID = "1.2.840.10008.bad.uid"
    with pytest.raises(requests.HTTPError) as refused:
        await off_loop(lambda: per_case.store_instances(third))
    assert refused.value.response.status_code == 409
    assert refused.value.response.headers["content-type"] == "application/dicom+json"
    failed = pydicom.Dataset.from_json(refused.value.response.json())
    reasons = {i.ReferencedSOPInstanceUID: i.FailureReason for i in failed.FailedSOPSequence}
    assert reasons == {third[1].SOPInstanceUID: 0xC000, third[0].SOPInstanceUID: 0x0110}
    assert "ReferencedSOPSequence" not in failed
    assert len(await off_loop(lambda: pacs.search_for_studies())) == 2
