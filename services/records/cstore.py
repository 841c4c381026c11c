"""C-STORE as a PACS pushes: which case an instance belongs to, and the status that answers it.

The calling AE title names the organization (RECORDS_DIMSE_CALLING_AES, checked when the
association is negotiated); the instance's PatientID or OtherPatientIDs name the open case of
that organization with that MRN, as for a hospital's STOW-RS (patient_cases.py). The instance is
then checked and stored as a STOW'd one is (ingest.receive_pushed), and the status says what a
PACS should do: 0000H held (a repeat of the same bytes too), A700H try again later, C000H and
0111H never (the instance, or its case, must change first). No status comment names a value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from services.records.dicom import MediaDirectory, NotDicom, read_header
from services.records.domain import DomainError
from services.records.imaging import InstanceHeader
from services.records.ingest import Candidate, DicomReport
from services.records.patient_cases import (
    CaseIndex,
    CaseNotIdentified,
    PatientCase,
    open_case_of_patient,
)
from shared.auth import Principal
from shared.errors import ApiError

log = logging.getLogger(__name__)

# C-STORE statuses (PS3.4 B.2.3; 0111H is PS3.7's Duplicate SOP Instance, as STOW-RS reports it).
SUCCESS = 0x0000
DUPLICATE_SOP_INSTANCE = 0x0111
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

# ErrorComment is LO: 64 characters at most.
NOT_USABLE = "not a whole, valid DICOM instance"
NO_CASE = "PatientID names no open case of the calling AE's organization"
CASE_CLOSED = "the patient's case takes no more instances"
CONFLICT = "this SOP Instance UID is held with other content"
TRY_AGAIN = "not stored for now; send it again later"

StoreInCase = Callable[[Principal, PatientCase, Candidate], Awaitable[DicomReport]]


@dataclass(frozen=True)
class Sender:
    """A PACS on an association: its calling AE title and the organization it stands for."""

    ae_title: str
    organization: str
    address: str | None = None

    @property
    def principal(self) -> Principal:
        """The hospital's system, as its STOW-RS token would name it."""
        return Principal(
            subject=self.ae_title,
            role="hospital-system",
            organization=self.organization,
            token_id=f"dimse:{self.ae_title}",
        )


@dataclass(frozen=True)
class StoreStatus:
    status: int
    comment: str | None = None
    case_id: str | None = None
    header: InstanceHeader | None = None


async def store_pushed(
    cases: CaseIndex, store_in_case: StoreInCase, *, sender: Sender, candidate: Candidate
) -> StoreStatus:
    """Store one pushed instance in its patient's open case; the spooled file is removed."""
    try:
        return await _store(cases, store_in_case, sender, candidate)
    finally:
        await asyncio.to_thread(candidate.path.unlink, missing_ok=True)


async def _store(
    cases: CaseIndex, store_in_case: StoreInCase, sender: Sender, candidate: Candidate
) -> StoreStatus:
    try:
        header = await asyncio.to_thread(read_header, candidate.path)
    except (NotDicom, MediaDirectory):
        return StoreStatus(CANNOT_UNDERSTAND, NOT_USABLE)
    try:
        found = await open_case_of_patient(cases, sender.principal, header.patient)
    except CaseNotIdentified:
        return StoreStatus(CANNOT_UNDERSTAND, NO_CASE, header=header)
    except DomainError:  # cancelled, or not this organization's since it was indexed
        return StoreStatus(CANNOT_UNDERSTAND, CASE_CLOSED, header=header)
    try:
        report = await store_in_case(sender.principal, found, replace(candidate, header=header))
    except DomainError:
        return StoreStatus(CANNOT_UNDERSTAND, CASE_CLOSED, found.case_id, header)
    except ApiError as refused:
        if refused.status >= 500:
            return StoreStatus(OUT_OF_RESOURCES, TRY_AGAIN, found.case_id, header)
        return StoreStatus(CANNOT_UNDERSTAND, NOT_USABLE, found.case_id, header)
    except Exception as exc:
        log.error("pushed instance not stored", extra={"case_id": found.case_id}, exc_info=exc)
        return StoreStatus(OUT_OF_RESOURCES, TRY_AGAIN, found.case_id, header)
    return _status_of(report, found.case_id, header)


def _status_of(report: DicomReport, case_id: str, header: InstanceHeader) -> StoreStatus:
    if report.failed:
        return StoreStatus(CANNOT_UNDERSTAND, NOT_USABLE, case_id, header)
    if report.conflicts:
        return StoreStatus(DUPLICATE_SOP_INSTANCE, CONFLICT, case_id, header)
    return StoreStatus(SUCCESS, None, case_id, header)
