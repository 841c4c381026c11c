"""Roles and rules as a matrix: every route of every service by every role, called by a principal
of that role who has no relation to one real case, on the six services as processes.

One case goes the whole way (a hospital submits it, records arrive, an expert signs), so routes
with `{case_id}` (and its offer, document, study and follow-up) hit something that exists. Each
caller is a stranger to it: a family or physician link for another case, an expert never offered
it, a partner or hospital of another organization, an admin, a compliance officer, a service.
Every cell must be refused (403, or 404 where existence is sensitive; never 401, the caller is
authenticated) unless `ALLOWED` names the role for that route; an allowed cell must not be
refused (a 4xx for a made-up body is fine). All mismatches are collected, so one run shows the
whole matrix; the refusals must be on the case's audit trail.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import httpx
import pydicom
import pytest
from pydicom.filebase import DicomBytesIO

from bench.journey import Journey
from deploy.local.run import API_SERVICES, start_services, stop_services, wait_ready
from shared.auth import Role, TokenIssuer
from shared.bus import KafkaEventPublisher
from shared.settings import StackSettings
from shared.topics import ensure_topics
from tests.e2e.test_every_route_asks_who import PUBLIC
from tests.fuzz.mutations import SAMPLES
from tests.platform import Platform
from tests.support import eventually, sample_case

pytestmark = pytest.mark.real

CASE = "matrix-1"
ORGANIZATION = "valley"
ROLES: tuple[Role, ...] = get_args(Role)
STAFF: frozenset[Role] = frozenset({"intake-staff", "admin"})
# Admin is staff but manages only the roster and partners: no clinical content.
INTAKE_TEAM: frozenset[Role] = frozenset({"intake-staff"})
QIDO: frozenset[Role] = INTAKE_TEAM | {"expert", "hospital-system"}
INSTANCE = "/dicomweb/studies/{study}/series/{series}/instances/{sop}"

# Who may act on a route although they have nothing to do with the case. Everyone else must be
# refused. Intake staff act on every case (admin only on the roster and partners); lists narrowed
# to the caller's own (an expert's offers, a family's reports) answer without the case in them
# (checked in `_check`).
ALLOWED: dict[tuple[str, str, str], frozenset[Role]] = {
    # intake: the intake team's view of every case; a hospital submits for its own organization.
    ("intake", "GET", "/cases"): INTAKE_TEAM,
    ("intake", "GET", "/cases/{case_id}/status"): INTAKE_TEAM,
    ("intake", "GET", "/cases/{case_id}"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/triage"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/notes"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/hold"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/resume"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/cancel"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/links"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/links/revoke"): INTAKE_TEAM,
    ("intake", "POST", "/fhir"): frozenset({"hospital-system"}),
    # intake: erasure. Only the case's own guardian asks (a stranger's link is refused); the
    # team reads the request and approves or refuses it (no request waits here: a 409).
    ("intake", "GET", "/cases/{case_id}/erasure"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/erasure/approve"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/erasure/refuse"): INTAKE_TEAM,
    # intake: consults after the report. The family or physician asks and chooses a time with
    # a link to their own case (a stranger's link is refused); the team proposes, reschedules
    # and may cancel.
    ("intake", "GET", "/cases/{case_id}/consults"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/propose"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/reschedule"): INTAKE_TEAM,
    ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/cancel"): INTAKE_TEAM,
    # intake: financial clearance, by the team (or the billing system of the case's own
    # hospital: a stranger hospital is refused).
    ("intake", "POST", "/cases/{case_id}/financial-clearance"): INTAKE_TEAM,
    # records: intake staff gather every case's records; QIDO searches are narrowed to what an
    # expert or a hospital's system may read (an empty answer for a stranger's case).
    ("records", "POST", "/cases/{case_id}/documents"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/uploads"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/uploads/{upload_id}/parts"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/uploads/{upload_id}/complete"): INTAKE_TEAM,
    ("records", "GET", "/cases/{case_id}/uploads/{upload_id}"): INTAKE_TEAM,
    ("records", "DELETE", "/cases/{case_id}/uploads/{upload_id}"): INTAKE_TEAM,
    ("records", "GET", "/cases/{case_id}/checklist"): INTAKE_TEAM,
    ("records", "GET", "/cases/{case_id}/documents/{document_id}"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/checklist/{item}/waive"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/requests"): INTAKE_TEAM,
    ("records", "POST", "/cases/{case_id}/studies/{study_uid}/deidentify"): INTAKE_TEAM,
    ("records", "POST", "/dicomweb/studies"): INTAKE_TEAM,
    ("records", "POST", "/dicomweb/cases/{case_id}/studies"): INTAKE_TEAM,
    ("records", "GET", "/dicomweb/studies"): QIDO,
    ("records", "GET", "/dicomweb/studies/{study}/series"): QIDO,
    ("records", "GET", "/dicomweb/studies/{study}/series/{series}/instances"): QIDO,
    ("records", "GET", "/dicomweb/studies/{study}"): INTAKE_TEAM,
    ("records", "GET", "/dicomweb/studies/{study}/series/{series}"): INTAKE_TEAM,
    ("records", "GET", "/dicomweb/studies/{study}/series/{series}/instances/{sop}"): INTAKE_TEAM,
    ("records", "GET", f"{INSTANCE}/rendered"): INTAKE_TEAM,
    ("records", "GET", f"{INSTANCE}/frames/{{frames}}/rendered"): INTAKE_TEAM,
    # reports: intake staff read every report; writing, signing and answering are the authors'
    # alone, asking a follow-up the family's; the list is narrowed to the caller's own.
    ("reports", "GET", "/reports"): INTAKE_TEAM | {"expert", "guardian", "referring-physician"},
    ("reports", "GET", "/cases/{case_id}/report"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/draft"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/draft/preview"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/versions/{version}"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/latest/report.{fmt}"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/versions/{version}/report.{fmt}"): INTAKE_TEAM,
    ("reports", "GET", "/cases/{case_id}/report/follow-ups"): INTAKE_TEAM,
    # Closing a question without a written answer: the authors, or the intake team for any case.
    ("reports", "POST", "/cases/{case_id}/report/follow-ups/{follow_up_id}/close"): INTAKE_TEAM,
    ("reports", "GET", "/fhir/DiagnosticReport/{report_id}"): INTAKE_TEAM,
    # assignment: intake staff steer every case; staff read the roster; admins alone change it; an
    # expert lists their own offers.
    ("assignment", "GET", "/offers"): INTAKE_TEAM | {"expert"},
    ("assignment", "GET", "/offers/{offer_id}"): INTAKE_TEAM,
    ("assignment", "GET", "/cases"): INTAKE_TEAM,
    ("assignment", "GET", "/cases/{case_id}"): INTAKE_TEAM,
    ("assignment", "POST", "/cases/{case_id}/assign"): INTAKE_TEAM,
    ("assignment", "POST", "/cases/{case_id}/board"): INTAKE_TEAM,
    ("assignment", "POST", "/cases/{case_id}/rematch"): INTAKE_TEAM,
    ("assignment", "GET", "/experts"): STAFF,
    ("assignment", "GET", "/experts/{expert_id}"): STAFF,
    ("assignment", "GET", "/boards"): STAFF,
    ("assignment", "GET", "/boards/{board_id}"): STAFF,
    ("assignment", "POST", "/experts"): frozenset({"admin"}),
    ("assignment", "PUT", "/experts/{expert_id}"): frozenset({"admin"}),
    ("assignment", "DELETE", "/experts/{expert_id}"): frozenset({"admin"}),
    ("assignment", "POST", "/boards"): frozenset({"admin"}),
    ("assignment", "PUT", "/boards/{board_id}"): frozenset({"admin"}),
    ("assignment", "DELETE", "/boards/{board_id}"): frozenset({"admin"}),
    # notify: the board (an expert's narrowed to the cases assigned to them) and the delivery
    # log for staff, timelines for intake staff; partners, experts' addresses and the rebuild
    # for admins.
    ("notify", "GET", "/board"): INTAKE_TEAM | {"expert"},
    ("notify", "GET", "/board/events"): INTAKE_TEAM | {"expert"},
    ("notify", "GET", "/board/cases/{case_id}"): INTAKE_TEAM,
    ("notify", "GET", "/cases"): INTAKE_TEAM,
    ("notify", "GET", "/cases/{case_id}/timeline"): INTAKE_TEAM,
    ("notify", "GET", "/deliveries"): STAFF,
    ("notify", "POST", "/partners/{partner_id}/shares"): STAFF,
    ("notify", "POST", "/timeline/rebuild"): frozenset({"admin"}),
    ("notify", "PUT", "/experts/{expert_id}/contact"): frozenset({"admin"}),
    ("notify", "GET", "/partners"): frozenset({"admin"}),
    ("notify", "POST", "/partners"): frozenset({"admin"}),
    ("notify", "POST", "/partners/{partner_id}/enable"): frozenset({"admin"}),
    ("notify", "POST", "/partners/{partner_id}/disable"): frozenset({"admin"}),
    ("notify", "POST", "/partners/{partner_id}/secret"): frozenset({"admin"}),
    ("notify", "DELETE", "/partners/{partner_id}"): frozenset({"admin"}),
    ("notify", "GET", "/partners/{partner_id}/deliveries"): frozenset({"admin"}),
    ("notify", "POST", "/partners/{partner_id}/deliveries/{delivery_id}/replay"): frozenset(
        {"admin"}
    ),
    # audit: the trail names cases and people; the compliance officer's alone (READERS).
    ("audit", "GET", "/audit/cases/{case_id}"): frozenset({"compliance-officer"}),
}

# Routes that answer with or change clinical content (the submission, documents, images, the
# report, a case's timeline): admin manages the roster and partners and is refused all of them
# (403, the role's refusal; see test_clinical_routes_refuse_admin).
CLINICAL: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("assignment", "GET", "/offers"),
        ("assignment", "GET", "/offers/{offer_id}"),
        ("assignment", "GET", "/cases"),
        ("assignment", "GET", "/cases/{case_id}"),
        ("assignment", "POST", "/cases/{case_id}/assign"),
        ("intake", "GET", "/cases"),
        ("intake", "GET", "/cases/{case_id}"),
        ("intake", "GET", "/cases/{case_id}/status"),
        ("intake", "POST", "/cases/{case_id}/triage"),
        ("intake", "POST", "/cases/{case_id}/notes"),
        ("intake", "POST", "/cases/{case_id}/hold"),
        ("intake", "POST", "/cases/{case_id}/resume"),
        ("intake", "POST", "/cases/{case_id}/cancel"),
        ("intake", "POST", "/cases/{case_id}/links"),
        ("intake", "POST", "/cases/{case_id}/links/revoke"),
        ("intake", "GET", "/cases/{case_id}/erasure"),
        ("intake", "POST", "/cases/{case_id}/erasure"),
        ("intake", "POST", "/cases/{case_id}/erasure/approve"),
        ("intake", "POST", "/cases/{case_id}/erasure/refuse"),
        ("intake", "GET", "/cases/{case_id}/consults"),
        ("intake", "POST", "/cases/{case_id}/consults"),
        ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/propose"),
        ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/reschedule"),
        ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/confirm"),
        ("intake", "POST", "/cases/{case_id}/consults/{consult_id}/cancel"),
        ("intake", "POST", "/cases/{case_id}/financial-clearance"),
        ("records", "POST", "/cases/{case_id}/documents"),
        ("records", "POST", "/cases/{case_id}/uploads"),
        ("records", "POST", "/cases/{case_id}/uploads/{upload_id}/parts"),
        ("records", "POST", "/cases/{case_id}/uploads/{upload_id}/complete"),
        ("records", "GET", "/cases/{case_id}/uploads/{upload_id}"),
        ("records", "DELETE", "/cases/{case_id}/uploads/{upload_id}"),
        ("records", "GET", "/cases/{case_id}/checklist"),
        ("records", "POST", "/cases/{case_id}/checklist/{item}/waive"),
        ("records", "POST", "/cases/{case_id}/requests"),
        ("records", "POST", "/cases/{case_id}/studies/{study_uid}/deidentify"),
        ("records", "POST", "/dicomweb/studies"),
        ("records", "POST", "/dicomweb/cases/{case_id}/studies"),
        ("records", "GET", "/dicomweb/studies"),
        ("records", "GET", "/dicomweb/studies/{study}/series"),
        ("records", "GET", "/dicomweb/studies/{study}/series/{series}/instances"),
        ("records", "GET", "/cases/{case_id}/documents/{document_id}"),
        ("records", "GET", "/dicomweb/studies/{study}"),
        ("records", "GET", "/dicomweb/studies/{study}/series/{series}"),
        ("records", "GET", "/dicomweb/studies/{study}/series/{series}/instances/{sop}"),
        ("records", "GET", f"{INSTANCE}/rendered"),
        ("records", "GET", f"{INSTANCE}/frames/{{frames}}/rendered"),
        ("reports", "GET", "/reports"),
        ("reports", "GET", "/cases/{case_id}/report"),
        ("reports", "GET", "/cases/{case_id}/report/versions/{version}"),
        ("reports", "GET", "/cases/{case_id}/report/draft"),
        ("reports", "GET", "/cases/{case_id}/report/draft/preview"),
        ("reports", "GET", "/cases/{case_id}/report/versions/{version}/report.{fmt}"),
        ("reports", "GET", "/cases/{case_id}/report/latest/report.{fmt}"),
        ("reports", "GET", "/cases/{case_id}/report/follow-ups"),
        ("reports", "GET", "/fhir/DiagnosticReport/{report_id}"),
        ("notify", "GET", "/board/cases/{case_id}"),
        ("notify", "GET", "/board"),
        ("notify", "GET", "/board/events"),
        ("notify", "GET", "/cases"),
        ("notify", "GET", "/cases/{case_id}/timeline"),
    }
)
AUTHORING: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("reports", "PATCH", "/cases/{case_id}/report/draft"),
        ("reports", "POST", "/cases/{case_id}/report/sign"),
        ("reports", "POST", "/cases/{case_id}/report/amendments"),
        ("reports", "POST", "/cases/{case_id}/report/follow-ups/{follow_up_id}/answer"),
    }
)

CONSULT_TIMES: dict[str, Any] = {
    "slots": [{"start": f"{datetime.now(UTC).year + 1}-01-14T16:00:00+00:00", "minutes": 45}],
    "expert_id": "matrix-expert",
    "meeting_url": "https://meet.example.org/matrix",
}
# Well-formed bodies, so a refusal is the access rule's and not a validation error's.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/cases/{case_id}/triage"): {"specialty": "neuro-oncology", "reason": "matrix"},
    ("POST", "/cases/{case_id}/notes"): {"text": "Called the family.", "channel": "phone"},
    ("POST", "/cases/{case_id}/hold"): {"reason": "Waiting for the family."},
    ("POST", "/cases/{case_id}/resume"): {"reason": "The family answered."},
    ("POST", "/cases/{case_id}/cancel"): {"reason": "The family withdrew."},
    ("POST", "/cases/{case_id}/withdraw"): {"reason": "We found care nearby."},
    ("POST", "/cases/{case_id}/consent/withdraw"): {"reason": "We changed our minds."},
    ("POST", "/cases/{case_id}/erasure"): {"reason": "family-request"},
    ("POST", "/cases/{case_id}/erasure/refuse"): {"reason": "other"},
    ("POST", "/partners/{partner_id}/disable"): {"reason": "matrix"},
    ("POST", "/cases/{case_id}/links"): {"role": "guardian"},
    ("POST", "/cases/{case_id}/links/revoke"): {"reason": "lost-or-shared"},
    ("POST", "/cases/{case_id}/checklist/{item}/waive"): {"reason": "Not needed."},
    ("POST", "/cases/{case_id}/consults"): {"kind": "video", "attendees": "family"},
    ("POST", "/cases/{case_id}/consults/{consult_id}/propose"): CONSULT_TIMES,
    ("POST", "/cases/{case_id}/consults/{consult_id}/reschedule"): CONSULT_TIMES,
    ("POST", "/cases/{case_id}/consults/{consult_id}/confirm"): {
        "start": CONSULT_TIMES["slots"][0]["start"]
    },
    ("POST", "/cases/{case_id}/consults/{consult_id}/cancel"): {"reason": "other"},
    ("POST", "/cases/{case_id}/financial-clearance"): {"method": "waived"},
    ("POST", "/cases/{case_id}/requests"): {"items": ["mri-imaging"], "message": "Please."},
    ("POST", "/cases/{case_id}/uploads"): {
        "kind": "mri-imaging",
        "filename": "cd.zip",
        "size_bytes": 1000,
    },
    ("POST", "/cases/{case_id}/uploads/{upload_id}/parts"): {"numbers": [1]},
    ("POST", "/cases/{case_id}/studies/{study_uid}/deidentify"): {},
    ("PATCH", "/cases/{case_id}/report/draft"): {"revision": 1, "summary": "Reviewed."},
    ("POST", "/cases/{case_id}/report/sign"): {"revision": 1},
    ("POST", "/cases/{case_id}/report/follow-ups"): {"question": "Can she swim?"},
    ("POST", "/cases/{case_id}/report/follow-ups/{follow_up_id}/answer"): {"answer": "Yes."},
    ("POST", "/cases/{case_id}/report/follow-ups/{follow_up_id}/close"): {
        "reason": "answered-elsewhere"
    },
    ("POST", "/offers/{offer_id}/decline"): {"reason": "On leave."},
    ("POST", "/cases/{case_id}/assign"): {"expert_id": "matrix-nobody"},
    ("POST", "/cases/{case_id}/board"): {"board_id": "matrix-nobody"},
    ("POST", "/partners/{partner_id}/shares"): {"case_id": CASE},
    ("PUT", "/experts/{expert_id}/contact"): {"email": "nobody@experts.example.org"},
    ("POST", "/partners"): {
        "partner_id": "matrix-partner-2",
        "name": "Another partner",
        "organization_id": "elsewhere",
        "url": "http://127.0.0.1:9/hook",
        "event_types": ["report.issued"],
    },
}
EXPERT = {
    "display_name": "Dr Matrix",
    "specialty": "oncology",
    "languages": ["en"],
    "institution": "Matrix Children's",
    "capacity": 0,
}
BOARD = {
    "name": "Matrix board",
    "specialty": "oncology",
    "lead_expert_id": "matrix-new-expert",
    "member_expert_ids": ["matrix-new-expert"],
}
ASSIGNMENT_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/experts"): {**EXPERT, "expert_id": "matrix-new-expert"},
    ("PUT", "/experts/{expert_id}"): EXPERT,
    ("POST", "/boards"): {**BOARD, "board_id": "matrix-new-board"},
    ("PUT", "/boards/{board_id}"): BOARD,
}
STOW_BOUNDARY = "matrix-boundary"


@dataclass
class Cell:
    service: str
    method: str
    path: str
    role: Role
    status: int
    body: str


@dataclass
class Matrix:
    platform: Platform
    cells: list[Cell] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def status(self, service: str, method: str, path: str, role: Role) -> int:
        (found,) = [
            c.status
            for c in self.cells
            if (c.service, c.method, c.path, c.role) == (service, method, path, role)
        ]
        return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stranger(platform: Platform, role: Role) -> dict[str, str]:
    """A principal of `role` with no relation to CASE."""
    if role in ("guardian", "referring-physician"):
        return platform.auth(role, f"{role}-stranger", case_ids=("matrix-other",))
    if role in ("partner", "hospital-system"):
        return platform.auth(role, f"{role}-stranger", org="elsewhere")
    return platform.auth(role, f"{role}-stranger")


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "matrix-nobody"), path)


def dicom_ids() -> dict[str, str]:
    dataset = pydicom.dcmread(DicomBytesIO(SAMPLES["CT_small.dcm"]))
    return {
        "study": str(dataset.StudyInstanceUID),
        "study_uid": str(dataset.StudyInstanceUID),
        "series": str(dataset.SeriesInstanceUID),
        "sop": str(dataset.SOPInstanceUID),
        "frames": "1",
    }


def stow_body() -> tuple[bytes, str]:
    head = f"--{STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    body = head + SAMPLES["CT_small.dcm"] + f"\r\n--{STOW_BOUNDARY}--\r\n".encode()
    kind = f'multipart/related; type="application/dicom"; boundary={STOW_BOUNDARY}'
    return body, kind


def request_for(service: str, method: str, path: str) -> dict[str, Any]:
    """httpx keyword arguments: a well-formed body and the case named in the query."""
    kwargs: dict[str, Any] = {}
    if (service, path) in {("records", "/dicomweb/studies"), ("notify", "/deliveries")}:
        kwargs["params"] = {"case_id": CASE}
    if service == "records" and method == "POST" and path.endswith("/studies"):
        content, kind = stow_body()
        kwargs.update(content=content, headers={"Content-Type": kind})
    elif method == "POST" and path == "/cases/{case_id}/documents":
        kwargs.update(data={"kind": "imaging-report"}, files={"file": ("n.txt", b"matrix\n")})
    elif method == "POST" and path == "/fhir":
        kwargs.update(
            content=b'{"resourceType": "Bundle", "type": "transaction", "entry": []}',
            headers={"Content-Type": "application/fhir+json"},
        )
    elif service == "assignment" and (method, path) in ASSIGNMENT_BODIES:
        kwargs["json"] = ASSIGNMENT_BODIES[(method, path)]
    elif (method, path) in BODIES:
        kwargs["json"] = BODIES[(method, path)]
    return kwargs


async def call(
    http: httpx.AsyncClient, method: str, url: str, auth: dict[str, str], **kwargs: Any
) -> tuple[int, str]:
    """The status and the body (a redirect's location; nothing of a never-ending stream)."""
    extra = kwargs.pop("headers", {})
    async with http.stream(method, url, headers={**auth, **extra}, **kwargs) as response:
        if response.is_redirect:
            return response.status_code, f"location:{response.headers.get('location')}"
        if "text/event-stream" in response.headers.get("content-type", ""):
            return response.status_code, ""
        await response.aread()
        return response.status_code, response.text


def _check(cell: Cell, allowed: bool) -> str | None:
    where = f"{cell.service} {cell.method} {cell.path} as {cell.role}: {cell.status}"
    if cell.status >= 500:
        return f"{where} (server error) {cell.body[:200]}"
    if cell.status == 401:
        return f"{where} (401 to an authenticated caller)"
    if allowed:
        if cell.status == 403:
            return f"{where} (refused, but ALLOWED) {cell.body[:200]}"
        # A list narrowed to the caller's own must not hold a stranger's case.
        narrowed = cell.role not in STAFF and "{case_id}" not in cell.path
        if narrowed and CASE in cell.body:
            return f"{where} (the case leaks into a narrowed answer)"
        return None
    # A redirect to the board's sign-in page would say "who are you?" to a known caller.
    if cell.status not in (403, 404):
        return f"{where} (not refused) {cell.body[:200]}"
    return None


async def drive_the_case(platform: Platform, http: httpx.AsyncClient) -> dict[str, str]:
    """The case the whole way, imaging stored and a follow-up asked; returns the ids to use."""
    urls = {name: platform.url(name) for name in platform.services}
    journey = Journey(urls, platform.issuer, http)
    publisher = KafkaEventPublisher(platform.stack)
    await publisher.start()
    try:
        case = sample_case(CASE, organization_id=ORGANIZATION, hospital_request_id="MX-1")
        await journey.whole_way(publisher, platform.stack, case)
    finally:
        await publisher.stop()
    staff, admin = journey.staff, journey.auth("admin", "admin-1")
    ids = {"case_id": CASE, "report_id": f"rpt-{CASE}", "version": "1", "fmt": "pdf"}
    ids |= {"item": "mri-imaging", **dicom_ids()}
    content, kind = stow_body()
    stored = await http.post(
        f"{urls['records']}/dicomweb/studies",
        params={"case_id": CASE},
        content=content,
        headers={**staff, "Content-Type": kind},
    )
    assert stored.status_code == 200, stored.text
    checklist = await http.get(f"{urls['records']}/cases/{CASE}/checklist", headers=staff)
    ids["document_id"] = checklist.json()["documents"][0]["document_id"]
    offers = await http.get(f"{urls['assignment']}/offers", params={"limit": 500}, headers=staff)
    ids["offer_id"] = next(o["offer_id"] for o in offers.json() if o["case_id"] == CASE)
    family = journey.auth("guardian", "family-1", cases=(CASE,))
    asked = await http.post(
        f"{urls['reports']}/cases/{CASE}/report/follow-ups",
        json={"question": "Can she go back to school?"},
        headers=family,
    )
    assert asked.status_code == 201, asked.text
    ids["follow_up_id"] = asked.json()["follow_ups"][0]["follow_up_id"]

    async def consult_asked() -> httpx.Response | None:
        # Intake hears of the report on report.issued; until then the answer is 409.
        answer = await http.post(
            f"{urls['intake']}/cases/{CASE}/consults",
            json={"kind": "video", "attendees": "family"},
            headers=family,
        )
        return None if answer.status_code == 409 else answer

    consult = await eventually(consult_asked, within=60)
    assert consult.status_code == 201, consult.text
    ids["consult_id"] = consult.json()["consult_id"]
    partner = {**BODIES[("POST", "/partners")], "partner_id": "matrix-partner"}
    partner["organization_id"] = ORGANIZATION
    registered = await http.post(f"{urls['notify']}/partners", json=partner, headers=admin)
    assert registered.status_code == 201, registered.text
    ids["partner_id"] = "matrix-partner"
    return ids


async def run_matrix(platform: Platform) -> Matrix:
    matrix = Matrix(platform)
    async with httpx.AsyncClient(timeout=60) as http:
        ids = await drive_the_case(platform, http)
        # Intake last: staff cancelling the case there would close it for the other services.
        for name in sorted(platform.services, key=lambda service: service == "intake"):
            url = platform.url(name)
            spec = (await http.get(f"{url}/openapi.json")).json()
            for path, operations in spec["paths"].items():
                for method in (m.upper() for m in operations):
                    if {(method, path), (method, f"{path}@{name}")} & PUBLIC:
                        continue
                    allowed = ALLOWED.get((name, method, path), frozenset())
                    for role in ROLES:
                        kwargs = request_for(name, method, path)
                        status, body = await call(
                            http,
                            method,
                            url + concrete(path, ids),
                            stranger(platform, role),
                            **kwargs,
                        )
                        cell = Cell(name, method, path, role, status, body)
                        matrix.cells.append(cell)
                        problem = _check(cell, role in allowed)
                        if problem:
                            matrix.mismatches.append(problem)
    return matrix


@pytest.fixture(scope="module")
async def matrix(
    auth_env: dict[str, str], issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Matrix]:
    """One platform for the module: the matrix is run once and every test reads it."""
    run = os.environ.get("SOP_RUN_ID", "local")
    stack = StackSettings(sop_namespace=f"t{run}_{os.getpid()}_matrix_".lower())
    await ensure_topics(stack)
    env = {
        "SOP_NAMESPACE": stack.sop_namespace,
        "SOP_ENVIRONMENT": "test",
        "ASSIGNMENT_LOAD_DEMO_ROSTER": "true",
        **auth_env,
    }
    # Ports of its own: other platforms (PORT_BASE) may be running on this machine.
    ports = {name: free_port() for name in API_SERVICES}
    log_dir = Path(tmp_path_factory.mktemp("matrix")) / "logs"
    started = {s.name: s for s in start_services(env, log_dir, ports)}
    platform = Platform(stack, env, log_dir, ports, started, issuer)
    try:
        wait_ready(list(started.values()))
        yield await run_matrix(platform)
    finally:
        stop_services(list(platform.services.values()))


def test_every_route_refuses_every_role_that_has_no_business_with_the_case(
    matrix: Matrix,
) -> None:
    routes = {(c.service, c.method, c.path) for c in matrix.cells}
    print(f"\nauthorization matrix: {len(routes)} routes x {len(ROLES)} roles")
    print(" " * 72 + " ".join(role[:6].rjust(6) for role in ROLES))
    for route in sorted(routes):
        row = [c for c in matrix.cells if (c.service, c.method, c.path) == route]
        print(" ".join(route)[:72].ljust(72) + " ".join(str(c.status).rjust(6) for c in row))
    assert len(routes) > 60 and len(matrix.cells) == len(routes) * len(ROLES)
    assert set(ALLOWED) <= routes, sorted(set(ALLOWED) - routes)  # no stale rows
    assert matrix.mismatches == [], "\n" + "\n".join(matrix.mismatches)


def test_report_authoring_refuses_intake_staff_and_admin(matrix: Matrix) -> None:
    for route in AUTHORING:
        for role in ("intake-staff", "admin"):
            assert matrix.status(*route, role) in (403, 404), (route, role)


def test_clinical_routes_refuse_admin(matrix: Matrix) -> None:
    routes = {(c.service, c.method, c.path) for c in matrix.cells}
    assert routes >= CLINICAL, sorted(CLINICAL - routes)  # no stale rows
    # Every route of intake (but the public form), records and reports is a case's: none for admin.
    clinical = CLINICAL | {r for r in routes if r[0] in ("intake", "records", "reports")}
    answered = {route: matrix.status(*route, "admin") for route in clinical}
    # The role's refusal (403), never "no such case": the admin may know the case exists.
    assert {r: s for r, s in answered.items() if s != 403} == {}
    assert all(ALLOWED.get(route, frozenset()).isdisjoint({"admin"}) for route in CLINICAL)


async def test_the_refusals_are_on_the_cases_audit_trail(matrix: Matrix) -> None:
    platform = matrix.platform
    refused = {
        (c.service, c.role)
        for c in matrix.cells
        if "{case_id}" in c.path and c.status in (403, 404) and c.role not in STAFF
    }
    officer = platform.auth("compliance-officer", "officer-1")

    async def trail() -> set[tuple[str, str]] | None:
        async with httpx.AsyncClient(timeout=30) as http:
            found = await http.get(
                f"{platform.url('audit')}/audit/cases/{CASE}",
                params={"limit": 5000},
                headers=officer,
            )
        records = found.json()["records"]
        denied = {(r["service"], r["agent"]["role"]) for r in records if r["outcome"] == "denied"}
        return denied if refused <= denied else None

    denied = await eventually(trail, within=60)
    assert {service for service, _ in denied} >= {
        "intake",
        "records",
        "reports",
        "assignment",
        "notify",
        "audit",
    }
