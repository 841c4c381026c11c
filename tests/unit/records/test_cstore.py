"""C-STORE: the calling AE title names the organization, the PatientID the case, and every
outcome answers with the status a PACS acts on (retry only what may succeed later)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydicom import dcmread
from pydicom.data import get_testdata_file

from services.records.config import RecordsSettings
from services.records.cstore import (
    CANNOT_UNDERSTAND,
    DUPLICATE_SOP_INSTANCE,
    OUT_OF_RESOURCES,
    SUCCESS,
    Sender,
    StoreStatus,
    store_pushed,
)
from services.records.dicom import read_header
from services.records.domain import DomainError
from services.records.imaging import CANNOT_UNDERSTAND as REASON_CANNOT_UNDERSTAND
from services.records.imaging import FailedInstance
from services.records.ingest import Candidate, DicomReport
from services.records.patient_cases import PatientCase
from shared.auth import Principal
from tests.unit.records.test_patient_cases import FakeCaseIndex, case

PACS = Sender(ae_title="VALLEYPACS", organization="org-1", address="127.0.0.1")
MRN = "MRN771234"


def candidate(tmp_path: Path, patient_id: str = MRN, *, data: bytes | None = None) -> Candidate:
    path = tmp_path / "instance.dcm"
    if data is None:
        ds = dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientID = patient_id
        ds.save_as(path)
    else:
        path.write_bytes(data)
    raw = path.read_bytes()
    return Candidate(path, len(raw), hashlib.sha256(raw).hexdigest(), raw[:8192], "the instance")


class FakeStoring:
    """Stores into a case as ingest would, answering a report chosen by the test."""

    def __init__(self, outcome: str = "stored") -> None:
        self.outcome = outcome
        self.calls: list[tuple[Principal, PatientCase]] = []

    async def __call__(
        self, principal: Principal, found: PatientCase, candidate: Candidate
    ) -> DicomReport:
        self.calls.append((principal, found))
        header = read_header(candidate.path)
        report = DicomReport()
        if self.outcome == "stored":
            report.stored.append(header)
        elif self.outcome == "duplicate":
            report.duplicates.append(header)
        elif self.outcome == "conflict":
            report.conflicts.append(header)
        elif self.outcome == "failed":
            failed = FailedInstance(header.sop_class_uid, header.sop_instance_uid, 0xC000)
            report.failed.append(failed)
        elif self.outcome == "closed":
            raise DomainError("case_closed", "case case-1 is cancelled", "case_id")
        else:
            raise ConnectionError("the object store is away")
        return report


async def push(tmp_path: Path, storing: FakeStoring, **changes: str) -> StoreStatus:
    index = FakeCaseIndex(case("case-1"), case("case-2", organization="org-2"))
    return await store_pushed(index, storing, sender=PACS, candidate=candidate(tmp_path, **changes))


async def test_an_instance_of_the_childs_open_case_is_stored_there(tmp_path: Path) -> None:
    storing = FakeStoring()
    answer = await push(tmp_path, storing)
    assert (answer.status, answer.case_id, answer.comment) == (SUCCESS, "case-1", None)
    ((principal, found),) = storing.calls
    assert (principal.role, principal.organization, principal.subject) == (
        "hospital-system", "org-1", "VALLEYPACS"
    )  # fmt: skip
    assert found == PatientCase("case-1", MRN)
    assert answer.header is not None


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("duplicate", SUCCESS),  # sent again: held already, so the PACS may stop
        ("conflict", DUPLICATE_SOP_INSTANCE),  # other bytes under a held UID
        ("failed", CANNOT_UNDERSTAND),
        ("closed", CANNOT_UNDERSTAND),  # cancelled since it was looked up
        ("unavailable", OUT_OF_RESOURCES),  # a retry may succeed
    ],
)
async def test_each_outcome_has_its_status(tmp_path: Path, outcome: str, status: int) -> None:
    answer = await push(tmp_path, FakeStoring(outcome))
    assert answer.status == status
    assert (answer.comment is None) == (status == SUCCESS)


async def test_a_patient_with_no_open_case_fails_without_naming_the_patient(
    tmp_path: Path,
) -> None:
    storing = FakeStoring()
    answer = await push(tmp_path, storing, patient_id="MRN000001")
    assert answer.status == CANNOT_UNDERSTAND
    assert answer.case_id is None and not storing.calls
    assert answer.comment and "000001" not in answer.comment


async def test_what_is_not_dicom_cannot_be_understood(tmp_path: Path) -> None:
    storing = FakeStoring()
    answer = await store_pushed(
        FakeCaseIndex(case("case-1")),
        storing,
        sender=PACS,
        candidate=candidate(tmp_path, data=b"\0" * 128 + b"DICM" + b"\x02\x00" * 10),
    )
    assert (answer.status, answer.case_id) == (CANNOT_UNDERSTAND, None)
    assert not storing.calls


async def test_the_spooled_file_is_gone_whatever_the_outcome(tmp_path: Path) -> None:
    await push(tmp_path, FakeStoring(), patient_id="MRN000001")
    assert not await asyncio.to_thread(os.listdir, tmp_path)


async def test_error_comments_fit_their_value_representation(tmp_path: Path) -> None:
    """ErrorComment is LO: at most 64 characters."""
    for outcome in ("conflict", "failed", "closed", "unavailable"):
        answer = await push(tmp_path, FakeStoring(outcome))
        assert answer.comment is not None and len(answer.comment) <= 64
    answer = await push(tmp_path, FakeStoring(), patient_id="nobody")
    assert answer.comment is not None and len(answer.comment) <= 64


def test_failure_reasons_match_stows() -> None:
    assert CANNOT_UNDERSTAND == REASON_CANNOT_UNDERSTAND


def test_the_calling_ae_titles_name_organizations() -> None:
    settings = RecordsSettings(
        dimse_port=11112, dimse_calling_aes={"VALLEYPACS": "org-1", "CT-ROOM-2": "org-1"}
    )
    assert settings.dimse_organization_of("VALLEYPACS") == "org-1"
    assert settings.dimse_organization_of("valleypacs") is None  # AE titles are case-sensitive
    assert settings.dimse_organization_of("STRANGER") is None


def test_the_calling_ae_titles_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDS_DIMSE_PORT", "11112")
    monkeypatch.setenv("RECORDS_DIMSE_CALLING_AES", '{"VALLEYPACS": "org-1"}')
    settings = RecordsSettings()
    assert (settings.dimse_port, settings.dimse_calling_aes) == (11112, {"VALLEYPACS": "org-1"})


def test_the_scp_is_off_unless_a_port_is_set() -> None:
    assert RecordsSettings().dimse_port is None


@pytest.mark.parametrize(
    "changes",
    [
        {"dimse_calling_aes": {}},  # every association would be refused
        {"dimse_calling_aes": {"A-TITLE-OF-17-CHRS": "org-1"}},
        {"dimse_calling_aes": {" ": "org-1"}},
        {"dimse_calling_aes": {"VALLEYPACS": ""}},
        {"dimse_calling_aes": {"VALLEYPACS": "org-1"}, "dimse_ae_title": "A-TITLE-OF-17-CHRS"},
        {"dimse_calling_aes": {"VALLEYPACS": "org-1"}, "dimse_host": "0.0.0.0"},
    ],
)
def test_a_wrong_scp_configuration_refuses_to_start(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RecordsSettings.model_validate({"dimse_port": 11112, **changes})
