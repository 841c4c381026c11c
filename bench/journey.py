"""One case's whole journey through the running platform, driven the way its users drive it.

A hospital system emits `case.submitted` onto `hospital.case.submitted`; the intake team sends
the records (and waives the imaging); an automated expert accepts the offer, fills in every
section of the report and signs it. Used by the end-to-end test, the chaos tests and the
pipeline benchmark, always against services running as processes on the real stack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.auth import Role, TokenIssuer
from shared.bus import EventPublisher, OutgoingRecord
from shared.contracts import CaseSubmitted
from shared.envelope import encode, make_event
from shared.settings import StackSettings

HOSPITAL_TOPIC = "hospital.case.submitted"
# A one-page PDF, small and whole (records parses documents before keeping them).
PATHOLOGY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
DOCUMENTS = {
    "pathology-report": ("path.pdf", PATHOLOGY_PDF),
    "treatment-records": ("plan.txt", b"Cycle 1: vincristine, cisplatin\n"),
    "current-medications": ("meds.txt", b"ondansetron 4 mg as needed\n"),
}


class JourneyStalled(AssertionError):
    """A step did not happen in time; the message names the step and the case."""


@dataclass
class Journey:
    """The platform's URLs, a way to sign tokens, and an HTTP client."""

    urls: Mapping[str, str]
    issuer: TokenIssuer
    http: httpx.AsyncClient
    patience_s: float = 120

    def auth(
        self, role: Role, subject: str, *, cases: tuple[str, ...] = (), org: str | None = None
    ) -> dict[str, str]:
        token = self.issuer.issue(subject=subject, role=role, case_ids=cases, organization=org)
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.auth("intake-staff", "staff-1")

    # -- the steps -------------------------------------------------------------------------
    async def submit_as_hospital(
        self, publisher: EventPublisher, stack: StackSettings, case: CaseSubmitted
    ) -> None:
        """What a hospital system does: one CloudEvent on the inbound topic."""
        event = make_event(case, source="/hospitals/valley-pediatrics", subject=case.case_id)
        record = OutgoingRecord(
            topic=stack.topic(HOSPITAL_TOPIC),
            key=case.case_id.encode(),
            value=encode(event),
            headers=[("content-type", b"application/cloudevents+json")],
        )
        await publisher.send_records([record])

    async def send_records(self, case_id: str) -> None:
        """The intake team uploads the documents and waives the imaging still on its way."""
        await self._until(
            f"checklist of {case_id}",
            lambda: self.http.get(
                f"{self.urls['records']}/cases/{case_id}/checklist", headers=self.staff
            ),
        )
        for kind, (name, content) in DOCUMENTS.items():
            await self._until(
                f"{kind} upload for {case_id}",
                lambda k=kind, n=name, c=content: self.http.post(  # type: ignore[misc]
                    f"{self.urls['records']}/cases/{case_id}/documents",
                    data={"kind": k},
                    files={"file": (n, c)},
                    headers=self.staff,
                ),
            )
        await self._until(
            f"imaging waiver for {case_id}",
            lambda: self.http.post(
                f"{self.urls['records']}/cases/{case_id}/checklist/mri-imaging/waive",
                json={"reason": "the images come by courier on a disc"},
                headers=self.staff,
            ),
        )

    async def accept_offer(self, case_id: str) -> str:
        """The offered expert (or board lead) accepts; returns their expert id."""

        async def open_offer() -> httpx.Response:
            offers = await self.http.get(
                f"{self.urls['assignment']}/offers",
                params={"status": "open", "limit": 500},
                headers=self.staff,
            )
            if offers.status_code != 200:
                return offers
            mine = [o for o in offers.json() if o["case_id"] == case_id]
            return httpx.Response(200 if mine else 404, json=mine[:1])

        (offer,) = (await self._until(f"offer for {case_id}", open_offer)).json()
        expert_id: str = offer["lead"]["expert_id"]
        await self.accept(case_id, offer["offer_id"], expert_id)
        return expert_id

    async def accept(self, case_id: str, offer_id: str, expert_id: str) -> None:
        """The expert the offer went to accepts it."""
        await self._until(
            f"acceptance of {case_id}",
            lambda: self.http.post(
                f"{self.urls['assignment']}/offers/{offer_id}/accept",
                headers=self.auth("expert", expert_id),
            ),
        )

    async def write_and_sign(self, case_id: str, expert_id: str) -> dict[str, Any]:
        """The expert fills in every section, answers every question, and signs."""
        expert = self.auth("expert", expert_id)
        draft_url = f"{self.urls['reports']}/cases/{case_id}/report/draft"
        draft = (
            await self._until(
                f"draft of {case_id}", lambda: self.http.get(draft_url, headers=expert)
            )
        ).json()
        saved = await self._until(
            f"autosave of {case_id}",
            lambda: self.http.patch(
                draft_url,
                json=report_sections(draft),
                headers={**expert, "If-Match": f'"{draft["revision"]}"'},
            ),
        )
        signed = await self._until(
            f"signature of {case_id}",
            lambda: self.http.post(
                f"{self.urls['reports']}/cases/{case_id}/report/sign",
                json={"revision": saved.json()["revision"]},
                headers=expert,
            ),
        )
        result: dict[str, Any] = signed.json()
        return result

    async def whole_way(
        self, publisher: EventPublisher, stack: StackSettings, case: CaseSubmitted
    ) -> dict[str, Any]:
        await self.submit_as_hospital(publisher, stack, case)
        await self.send_records(case.case_id)
        expert_id = await self.accept_offer(case.case_id)
        return await self.write_and_sign(case.case_id, expert_id)

    # -- patience ----------------------------------------------------------------------------
    async def _until(
        self, step: str, call: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """Repeat `call` until it succeeds: a 404 (not there yet), a 409/5xx or a refused
        connection (a service restarting) are waited out; another 4xx is a failure."""
        deadline = asyncio.get_running_loop().time() + self.patience_s
        last = "no answer"
        while True:
            with contextlib.suppress(httpx.TransportError):
                response = await call()
                if response.status_code < 300:
                    return response
                last = f"{response.status_code} {response.text[:300]}"
                if response.status_code not in (404, 409, 425, 429) and response.status_code < 500:
                    raise JourneyStalled(f"{step}: {last}")
            if asyncio.get_running_loop().time() > deadline:
                raise JourneyStalled(f"{step}: not done within {self.patience_s:.0f}s ({last})")
            await asyncio.sleep(0.25)


def report_sections(draft: Mapping[str, Any]) -> dict[str, Any]:
    """Every section of a report, answering each of the draft's questions."""
    questions = draft["case"]["questions"]
    return {
        "summary": "The records were reviewed in full: imaging, pathology and the treatment plan.",
        "diagnosis": {
            "concordance": "confirmed",
            "original_diagnosis": draft["case"]["working_diagnosis"],
            "proposed_diagnosis": draft["case"]["working_diagnosis"],
            "discussion": "The pathology and imaging support the working diagnosis.",
        },
        "treatment": {
            "plan_change": "none",
            "recommendations": "Continue the current plan; it follows the standard of care.",
        },
        "trials": [
            {
                "nct_id": "NCT02724579",
                "title": "Reduced-therapy protocol for WNT-driven medulloblastoma",
                "why_it_may_fit": "The age and molecular group match the study's criteria.",
            }
        ],
        "answers": {
            q["question_id"]: "Yes; her treating team can arrange it and discuss it with you."
            for q in questions
        },
        "records_limitations": [],
        "follow_up": ["MRI of the brain and spine every three months in the first year."],
    }
