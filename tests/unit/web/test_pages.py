"""The web front door's own rules, with the services faked by an HTTP transport: who may open
which page, CSRF on every form, what a refused form shows, and headers on every answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.web.app import create_app
from services.web.backends import Backends
from services.web.config import WebSettings
from shared.auth import Role, TokenIssuer, TokenVerifier

ISSUER = TokenIssuer.generate()
VERIFIER = TokenVerifier(jwks=ISSUER.jwks(), issuers=[ISSUER.issuer], audience=ISSUER.audience)
Answer = Callable[[httpx.Request], httpx.Response]


class FakeServices:
    """Answers the services' APIs from a table of (method, path) -> JSON; records requests."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], Answer] = {}
        self.sent: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        self.answers[(method, path)] = lambda _: httpx.Response(status, json=body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answer = self.answers.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "x"}})
        return answer(request)


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


@pytest.fixture
def client(services: FakeServices, tmp_path: Path) -> httpx.AsyncClient:
    settings = WebSettings(assets_dir=tmp_path)
    backends = Backends(settings, transport=httpx.MockTransport(services.handle))
    app = create_app(settings, backends, VERIFIER)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web")


def token(role: Role, subject: str = "someone", cases: tuple[str, ...] = ()) -> str:
    return ISSUER.issue(subject=subject, role=role, case_ids=cases)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


CONSENT_ES = {
    "version": "2026-01",
    "language": "es",
    "text": "Soy la madre, el padre o el tutor legal del niño.",
    "sha256": "a" * 64,
    "current": True,
    "languages": ["en", "es", "fr"],
}
STATUS = {
    "case_id": "c-1",
    "status": "open",
    "stage": "gathering-records",
    "stages": [{"stage": "submitted", "reached_at": "2026-12-01T10:00:00+00:00"}],
    "required": ["family-questions", "mri-imaging"],
    "present": ["family-questions"],
    "missing": ["mri-imaging"],
    "report_version": None,
    "records": {"upload_url": "x", "checklist_url": "y"},
    "warnings": [],
}


async def test_a_case_link_becomes_a_cookie_and_leaves_the_address_bar(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body=STATUS)
    link = token("guardian", cases=("c-1",))
    opened = await client.get(f"/c/c-1?access_token={link}")
    assert opened.status_code == 303 and opened.headers["location"] == "/c/c-1"
    cookie = opened.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = await client.get("/c/c-1", headers={"accept-language": "es-MX,es;q=0.9"})
    assert page.status_code == 200
    assert "Resonancia magnética (RM)" in page.text  # the missing item, in Spanish
    assert link not in page.text
    # The services were asked with the person's own token, never another.
    assert {r.headers["authorization"] for r in services.sent} == {f"Bearer {link}"}


async def test_without_a_session_a_family_page_says_how_to_get_back_in(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/c/c-1")
    assert page.status_code == 401
    assert "newest link we emailed you" in page.text


async def test_a_revoked_link_ends_the_browser_session(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    refused = {"error": {"code": "link_revoked", "message": "revoked"}}
    services.on("GET", "/cases/c-1/status", status=401, body=refused)
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    page = await client.get("/c/c-1")
    assert page.status_code == 401
    assert "was withdrawn" in page.text
    assert 'sop_session=""' in page.headers["set-cookie"]


async def test_another_case_than_the_link_names_is_not_found(client: httpx.AsyncClient) -> None:
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    page = await client.get("/c/c-2")
    assert page.status_code == 404


async def test_a_page_for_another_role_explains_itself_instead_of_bouncing(
    client: httpx.AsyncClient,
) -> None:
    client.cookies.set("sop_session", token("expert", "ana-ruiz"))
    page = await client.get("/staff")
    assert page.status_code == 403
    assert "This page is not for your role" in page.text and "an expert" in page.text
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    page = await client.get("/admin")
    assert page.status_code == 403 and "an administrator" in page.text


async def test_staff_pages_send_a_stranger_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/staff", "/staff/cases/c-1", "/expert/offers", "/admin"):
        page = await client.get(path)
        assert page.status_code == 303, path
        assert page.headers["location"] == f"/sign-in?next={path}"


async def test_sign_in_takes_a_staff_token_and_refuses_a_family_link(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/sign-in")
    csrf = csrf_of(form.text)
    refused = await client.post(
        "/sign-in", data={"csrf": csrf, "token": token("guardian", cases=("c-1",))}
    )
    assert refused.status_code == 401 and "not valid here" in refused.text
    signed = await client.post(
        "/sign-in", data={"csrf": csrf, "token": token("intake-staff"), "next": "/staff"}
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/staff"
    # The form's CSRF token belongs to the session it was drawn in: draw it again.
    csrf = csrf_of((await client.get("/sign-in")).text)
    elsewhere = await client.post(
        "/sign-in", data={"csrf": csrf, "token": token("admin"), "next": "//evil.example"}
    )
    assert elsewhere.headers["location"] == "/admin"  # never a redirect off this site


async def test_every_form_post_without_its_csrf_token_changes_nothing(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    client.cookies.set("sop_session", token("intake-staff"))
    await client.post("/staff/cases/c-1/cancel", data={"reason": "forged"})
    client.cookies.set("sop_session", token("expert", "ana-ruiz"))
    await client.post("/expert/offers/o-1/accept", data={})
    await client.post("/expert/cases/c-1/draft", data={"summary": "forged", "revision": "1"})
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    await client.post("/c/c-1/follow-ups", data={"question": "forged"})
    await client.post("/c/c-1/withdraw", data={"reason": "forged"})
    upload = await client.post("/c/c-1/upload", files={"file": ("a.pdf", b"%PDF-1.4")})
    assert upload.status_code == 403
    assert [r.method for r in services.sent if r.method != "GET"] == []


async def test_a_refused_request_form_keeps_what_was_typed_and_names_the_field(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    problems = [{"field": "guardian.email", "code": "value_error", "message": "x"}]
    services.on(
        "POST",
        "/cases",
        status=422,
        body={"error": {"code": "invalid_field", "message": "x", "problems": problems}},
    )
    services.on("GET", "/consent", body=CONSENT_ES)
    form = {
        "patient.given_name": "Amelia",
        "guardian.email": "not-an-email",
        "lang": "es",
        "consent.text_version": "2026-01",
        "consent.language": "es",
        "consent.text_sha256": CONSENT_ES["sha256"],
    }
    page = await client.post("/request?lang=es", data=form)
    assert page.status_code == 422
    assert 'value="Amelia"' in page.text
    assert 'id="f-guardian-email-error">Este valor no es válido.' in page.text
    assert CONSENT_ES["text"] in page.text  # the consent is shown again, as intake serves it
    sent = json.loads(services.sent[0].content)
    assert sent["guardian"]["email"] == "not-an-email"
    assert sent["consent"]["text_sha256"] == CONSENT_ES["sha256"]
    assert sent["consent"]["language"] == "es"
    assert services.sent[0].headers["idempotency-key"]


async def test_a_french_family_sends_its_zone_its_interpreter_and_the_doctor_s_language(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("POST", "/cases", status=422, body={"error": {"code": "busy", "message": "x"}})
    consent_fr = {**CONSENT_ES, "language": "fr", "text": "Je suis le parent ou le tuteur légal."}
    services.on("GET", "/consent", body=consent_fr)
    page = await client.get("/request?lang=fr")
    assert consent_fr["text"] in page.text
    assert "Demander un deuxième avis" in page.text and '<option value="fr"' in page.text
    form = {
        "submitted_by": "guardian",
        "guardian.preferred_language": "fr",
        "guardian.interpreter_needed": "yes",
        "guardian.interpreter_language": "ar",
        "referring_physician.preferred_language": "es",
        "time_zone": "America/Montreal",
        "questions": "Une question ?",
        "country": "ca",
    }
    await client.post("/request?lang=fr", data=form)
    sent = json.loads(next(r for r in services.sent if r.method == "POST").content)
    assert sent["guardian"]["preferred_language"] == "fr"
    assert sent["guardian"]["time_zone"] == "America/Montreal"
    assert sent["guardian"]["interpreter_needed"] is True
    assert sent["guardian"]["interpreter_language"] == "ar"
    assert sent["referring_physician"]["preferred_language"] == "es"
    # A zone the tz database does not know is left out: dates stay in UTC.
    await client.post("/request?lang=fr", data={**form, "time_zone": "Mars/Olympus"})
    posted = [r for r in services.sent if r.method == "POST"]
    assert "time_zone" not in json.loads(posted[1].content)["guardian"]


async def test_the_form_shows_intakes_consent_text_and_signs_it(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/consent", body=CONSENT_ES)
    page = await client.get("/request?lang=es")
    assert page.status_code == 200
    assert CONSENT_ES["text"] in page.text
    assert f'name="consent.text_sha256" value="{CONSENT_ES["sha256"]}"' in page.text
    asked = [r for r in services.sent if r.url.path == "/consent"]
    assert asked[0].url.params["lang"] == "es"


async def test_a_consent_text_that_changed_is_agreed_to_again(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/consent", body=CONSENT_ES)
    problems = [{"field": "consent.text_sha256", "code": "consent_text_changed", "message": "x"}]
    services.on(
        "POST",
        "/cases",
        status=422,
        body={"error": {"code": "consent_text_changed", "message": "x", "problems": problems}},
    )
    form = {"consent.agreed": "yes", "consent.text_sha256": "0" * 64, "lang": "es"}
    page = await client.post("/request?lang=es", data=form)
    assert page.status_code == 422
    assert "El texto de consentimiento cambió" in page.text
    assert 'name="consent.agreed" value="yes" checked' not in page.text


async def test_pages_say_what_they_may_load(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    # Scripts, styles and images come from this site only (links to other pages may not).
    assert not re.search(r'src="(https?:)?//', page.text)
    assert not re.search(r'<link[^>]+href="(https?:)?//', page.text)


async def test_a_family_withdraws_its_request_with_its_own_link(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body=STATUS)
    services.on("POST", "/cases/c-1/withdraw", body={**STATUS, "status": "cancelled"})
    link = token("guardian", cases=("c-1",))
    client.cookies.set("sop_session", link)
    page = await client.get("/c/c-1")
    assert "Withdraw this request" in page.text
    done = await client.post(
        "/c/c-1/withdraw", data={"csrf": csrf_of(page.text), "reason": "Care found nearby"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/c/c-1?notice=withdrawn"
    (sent,) = [r for r in services.sent if r.method == "POST"]
    assert sent.headers["authorization"] == f"Bearer {link}"
    assert json.loads(sent.content) == {"reason": "Care found nearby"}


REPORT = {"report_id": "rpt-c-1", "versions": [{"version": 1}], "follow_ups": []}
PROPOSED = {
    "consult_id": "k1",
    "state": "proposed",
    "kind": "video",
    "slots": [
        {"start": "2027-01-14T16:00:00+00:00", "minutes": 45},
        {"start": "2027-01-15T16:00:00+00:00", "minutes": 45},
    ],
    "confirmed_slot": None,
    "meeting_url": "https://meet.example.org/k1",
}


async def test_the_family_asks_for_a_video_consult_in_its_own_time_zone(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body={**STATUS, "stage": "report-issued"})
    services.on("GET", "/cases/c-1/report", body=REPORT)
    services.on("GET", "/cases/c-1/consults", body=[])
    services.on("POST", "/cases/c-1/consults", status=201, body={**PROPOSED, "state": "requested"})
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    client.cookies.set("sop_tz", "America/Mexico_City")
    page = await client.get("/c/c-1", headers={"accept-language": "es"})
    assert "Pedir una consulta por video" in page.text
    sent = await client.post(
        "/c/c-1/consults",
        data={
            "csrf": csrf_of(page.text),
            "attendees": "both",
            "preferred_times": "Por las tardes",
            "interpreter_language": "",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith("#consult")
    (asked,) = [r for r in services.sent if r.method == "POST"]
    assert json.loads(asked.content) == {
        "kind": "video",
        "attendees": "both",
        "preferred_times": "Por las tardes",
        "interpreter_needed": False,
        "time_zone": "America/Mexico_City",
    }


async def test_the_family_chooses_one_of_the_times_offered(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body={**STATUS, "stage": "report-issued"})
    services.on("GET", "/cases/c-1/report", body=REPORT)
    services.on("GET", "/cases/c-1/consults", body=[PROPOSED])
    services.on("POST", "/cases/c-1/consults/k1/confirm", body={**PROPOSED, "state": "confirmed"})
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    client.cookies.set("sop_tz", "America/Mexico_City")
    page = await client.get("/c/c-1")
    # 16:00 UTC, shown in the family's zone.
    assert "2027-01-14 10:00 CST" in page.text
    assert "Ask for a video consult" not in page.text  # one consult at a time
    chosen = await client.post(
        "/c/c-1/consults/k1/confirm",
        data={"csrf": csrf_of(page.text), "start": "2027-01-14T16:00:00+00:00"},
    )
    assert chosen.status_code == 303
    (confirm,) = [r for r in services.sent if r.method == "POST"]
    assert json.loads(confirm.content) == {"start": "2027-01-14T16:00:00+00:00"}


STAFF_DETAIL = {
    "case_id": "c-1",
    "status": "open",
    "stage": "report-issued",
    "specialty": "oncology",
    "requested_specialty": "oncology",
    "urgency": "routine",
    "age_years": 9,
    "country": "MX",
    "submission": {
        "patient": {"given_name": "A", "family_name": "Q", "date_of_birth": "2016-04-09"},
        "guardian": {"name": "R", "relationship": "mother", "email": "r@example.org"},
        "referring_physician": {"name": "D", "organization": "H", "email": "d@example.org"},
        "working_diagnosis": "x",
        "questions": ["q"],
        "consent": {"text_version": "2026-01"},
        "country": "MX",
        "submitted_via": "family",
    },
    "notes": [],
    "history": [],
    "progress": STATUS,
    "consent_signature": None,
    "consent_withdrawn": None,
}


async def test_the_coordinator_closes_a_follow_up_question_from_the_case_page(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    detail = STAFF_DETAIL
    question = {
        "follow_up_id": "fu-1",
        "question": "Can she swim?",
        "asked_by_role": "guardian",
        "asked_at": "2026-12-01T10:00:00+00:00",
        "answer": None,
        "close_reason": None,
    }
    services.on("GET", "/cases/c-1", body=detail)
    services.on("GET", "/cases/c-1/report/follow-ups", body={"follow_ups": [question]})
    services.on("POST", "/cases/c-1/report/follow-ups/fu-1/close", body={"follow_ups": []})
    client.cookies.set("sop_session", token("intake-staff"))
    page = await client.get("/staff/cases/c-1")
    assert page.status_code == 200, page.text
    assert "Can she swim?" in page.text
    assert 'action="/staff/cases/c-1/follow-ups/fu-1/close"' in page.text
    closed = await client.post(
        "/staff/cases/c-1/follow-ups/fu-1/close",
        data={"csrf": csrf_of(page.text), "reason": "answered-elsewhere"},
    )
    assert closed.status_code == 303
    (sent,) = [r for r in services.sent if r.method == "POST"]
    assert json.loads(sent.content) == {"reason": "answered-elsewhere"}


ESTIMATE = {
    "service": "written-second-opinion",
    "currency": "USD",
    "lines": [{"item": "expert-review", "amount_minor": 75000, "insurance_eligible": True}],
    "total_minor": 80000,
    "insurance_may_cover_minor": 75000,
    "note": "x",
    "clearance_required": True,
}


async def test_the_request_form_shows_the_fee_estimate_before_the_send_button(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/fees/estimate", body=ESTIMATE)
    services.on("GET", "/consent", body=CONSENT_ES)
    page = await client.get("/request?lang=es")
    assert page.status_code == 200
    assert "Coste estimado: 800,00\xa0US$" in page.text
    assert "750,00\xa0US$" in page.text
    assert page.text.index("800,00\xa0US$") < page.text.index('type="submit"')
    services.answers.clear()  # no estimate: the form still works, without the section
    services.on("GET", "/consent", body=CONSENT_ES)
    assert "Coste estimado" not in (await client.get("/request?lang=es")).text


async def test_staff_mark_financial_clearance_and_a_card_number_is_explained(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    client.cookies.set("sop_session", token("intake-staff"))
    csrf = csrf_of((await client.get("/sign-in")).text)
    problems = [{"field": "reference", "code": "card_number_refused", "message": "x"}]
    refusal = {"error": {"code": "card_number_refused", "message": "x", "problems": problems}}
    services.on("POST", "/cases/c-1/financial-clearance", status=422, body=refusal)
    form = {"csrf": csrf, "method": "self-pay", "reference": "4111111111111111"}
    await client.post("/staff/cases/c-1/financial-clearance", data=form)
    (posted,) = [r for r in services.sent if r.method == "POST"]
    assert json.loads(posted.content) == {"method": "self-pay", "reference": "4111111111111111"}
    services.on("POST", "/cases/c-1/financial-clearance", body={"state": "cleared"})
    form = {"csrf": csrf, "method": "waived", "reference": "", "payer": ""}
    done = await client.post("/staff/cases/c-1/financial-clearance", data=form)
    assert done.status_code == 303 and done.headers["location"].startswith("/staff/cases/c-1")
    assert json.loads(services.sent[-1].content) == {"method": "waived"}


async def test_the_family_page_says_the_case_waits_on_financial_clearance(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    waiting = {
        **STATUS,
        "financial_clearance": "required",
        "estimate": {k: v for k, v in ESTIMATE.items() if k not in ("note", "clearance_required")},
    }
    services.on("GET", "/cases/c-1/status", body=waiting)
    client.cookies.set("sop_session", token("guardian", cases=("c-1",)))
    page = await client.get("/c/c-1?lang=es")
    assert page.status_code == 200
    assert "El departamento de facturación" in page.text and "800,00\xa0US$" in page.text
    services.on("GET", "/cases/c-1/status", body={**waiting, "financial_clearance": "cleared"})
    assert 'id="fees"' not in (await client.get("/c/c-1?lang=es")).text


ERASURE_NONE = {"case_id": "c-1", "state": "none"}
ERASURE_ASKED = {
    "case_id": "c-1",
    "state": "requested",
    "reason": "family-request",
    "requested_at": "2026-12-04T10:00:00+00:00",
}


async def test_the_guardian_asks_to_erase_the_child_s_data_and_sees_it_waiting(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body=STATUS)
    services.on("GET", "/cases/c-1/erasure", body=ERASURE_NONE)
    services.on("POST", "/cases/c-1/erasure", status=202, body=ERASURE_ASKED)
    link = token("guardian", cases=("c-1",))
    client.cookies.set("sop_session", link)
    page = await client.get("/c/c-1")
    assert 'id="erasure"' in page.text and "Ask to erase my child&#39;s data" in page.text
    done = await client.post("/c/c-1/erasure", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/c/c-1?notice=erasure-asked"
    (sent,) = [r for r in services.sent if r.method == "POST"]
    assert sent.headers["authorization"] == f"Bearer {link}"
    assert json.loads(sent.content) == {"reason": "family-request"}

    services.on("GET", "/cases/c-1/erasure", body=ERASURE_ASKED)
    waiting = await client.get("/c/c-1?notice=erasure-asked&lang=fr")
    assert "Votre demande d&#39;effacement" in waiting.text
    assert "L&#39;équipe d&#39;accueil vérifie la demande" in waiting.text
    assert 'action="/c/c-1/erasure"' not in waiting.text
    refused = {**ERASURE_ASKED, "state": "refused", "refusal": "legal-hold"}
    services.on("GET", "/cases/c-1/erasure", body=refused)
    again = await client.get("/c/c-1?lang=es")
    assert "una obligación legal de conservarlos" in again.text
    assert 'action="/c/c-1/erasure"' in again.text  # the family may ask again


async def test_the_physician_s_link_neither_sees_nor_asks_erasure(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/cases/c-1/status", body=STATUS)
    services.on("GET", "/cases/c-1/erasure", body=ERASURE_NONE)
    client.cookies.set("sop_session", token("referring-physician", cases=("c-1",)))
    page = await client.get("/c/c-1")
    assert page.status_code == 200 and 'id="erasure"' not in page.text
    assert not [r for r in services.sent if r.url.path.endswith("/erasure")]


async def test_the_intake_team_refuses_or_approves_an_erasure_from_the_case_page(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    client.cookies.set("sop_session", token("intake-staff"))
    services.on("GET", "/cases/c-1", body=STAFF_DETAIL)
    services.on("GET", "/cases/c-1/erasure", body=ERASURE_ASKED)
    page = await client.get("/staff/cases/c-1")
    assert page.status_code == 200
    assert "The guardian asked on" in page.text and "asked by the family" in page.text
    csrf = csrf_of(page.text)
    services.on("POST", "/cases/c-1/erasure/refuse", body={"state": "refused"})
    refused = await client.post(
        "/staff/cases/c-1/erasure-refuse", data={"csrf": csrf, "reason": "legal-hold"}
    )
    assert refused.status_code == 303
    assert json.loads(services.sent[-1].content) == {"reason": "legal-hold"}
    services.on(
        "POST",
        "/cases/c-1/erasure/approve",
        status=409,
        body={"error": {"code": "already_erased", "message": "x"}},
    )
    late = await client.post("/staff/cases/c-1/erasure-approve", data={"csrf": csrf})
    assert late.status_code == 409 and "was already erased" in late.text
    services.on("POST", "/cases/c-1/erasure/approve", body=STAFF_DETAIL)
    approved = await client.post("/staff/cases/c-1/erasure-approve", data={"csrf": csrf})
    assert approved.headers["location"] == "/staff/cases/c-1?notice=erased"
    assert services.sent[-1].url.path == "/cases/c-1/erasure/approve"
    erased = {**ERASURE_ASKED, "state": "erased", "decided_at": "2026-12-04T11:00:00+00:00"}
    services.on("GET", "/cases/c-1/erasure", body=erased)
    after = await client.get("/staff/cases/c-1?notice=erased")
    assert "Personal data erased on" in after.text and 'erasure-approve"' not in after.text


async def test_an_unticked_consent_is_named_with_the_other_refused_fields(
    client: httpx.AsyncClient, services: FakeServices
) -> None:
    services.on("GET", "/consent", body=CONSENT_ES)
    problems = [{"field": "patient.given_name", "code": "missing", "message": "x"}]
    services.on(
        "POST",
        "/cases",
        status=422,
        body={"error": {"code": "invalid_field", "message": "x", "problems": problems}},
    )
    page = await client.post("/request?lang=es", data={"lang": "es"})
    assert page.status_code == 422
    assert 'id="f-consent-agreed-error"' in page.text
    assert 'href="#f-consent-agreed"' in page.text  # in the summary at the top, too
