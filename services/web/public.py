"""Pages anyone may open: the landing page, the family's request form, and sign-in."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.web.backends import BackendError
from services.web.i18n import sentence_for, translator
from services.web.session import TIME_ZONE_COOKIE
from services.web.web import (
    STAFF_ROLES,
    WebDep,
    field_errors,
    language_of,
    problem_page,
    redirect,
    render,
    sentence,
)
from shared.auth import Role, dev_identity_issuer
from shared.contracts.financial_clearance_updated import money

router = APIRouter()

SPECIALTIES = (
    "not-sure",
    "neuro-oncology",
    "neurosurgery",
    "oncology",
    "hematology",
    "cardiology",
    "genetics",
)
FORM_FIELDS = (
    "submitted_by",
    "patient.given_name",
    "patient.family_name",
    "patient.date_of_birth",
    "patient.sex",
    "patient.mrn",
    "guardian.name",
    "guardian.relationship",
    "guardian.email",
    "guardian.phone",
    "guardian.preferred_language",
    "guardian.interpreter_needed",
    "guardian.interpreter_language",
    "referring_physician.name",
    "referring_physician.organization",
    "referring_physician.email",
    "referring_physician.phone",
    "referring_physician.preferred_language",
    "specialty",
    "working_diagnosis",
    "diagnosis_stage",
    "urgency",
    "questions",
    "country",
    "time_zone",
    "consent.agreed",
    "consent.given_by",
)
# Hidden: which consent text the form showed (its signature).
CONSENT_SHOWN = ("consent.text_version", "consent.language", "consent.text_sha256")
# Demonstration people for the "Sign in as" buttons (the demo roster's experts).
DEMO_PEOPLE: tuple[tuple[Role, str, str], ...] = (
    ("intake-staff", "staff-1", "Intake coordinator"),
    ("expert", "ana-ruiz", "Dr. Ana Ruiz (expert)"),
    ("expert", "ben-okafor", "Dr. Ben Okafor (expert)"),
    ("admin", "admin-1", "Administrator"),
)
HOME_OF_ROLE = {
    "intake-staff": "/staff",
    "admin": "/admin",
    "expert": "/expert",
}


@router.get("/")
async def landing(request: Request, web: WebDep) -> Response:
    return render(request, "landing.html", docs_url=f"{web.settings.intake_url}/docs")


@router.get("/request")
async def request_form(request: Request, web: WebDep) -> Response:
    try:
        consent = await _consent_text(request, web)
    except BackendError as error:
        return problem_page(request, error)
    return render(
        request,
        "request_form.html",
        values={"submitted_by": "guardian", "guardian.preferred_language": language_of(request)},
        errors={},
        idempotency_key=str(uuid.uuid4()),
        specialties=SPECIALTIES,
        consent=consent,
        estimate=await fee_estimate(request, web),
    )


async def _consent_text(request: Request, web: Any) -> dict[str, Any]:
    """The consent text intake serves in the page's language: the form shows it, and sends back
    its version, language and hash as the signature of what the person read."""
    text: dict[str, Any] = await web.backends.call(
        "GET", "intake", "/consent", token=None, params={"lang": language_of(request)}
    )
    return text


async def fee_estimate(request: Request, web: Any) -> dict[str, Any] | None:
    """The program's fee estimate, shown before the send button; the form works without it."""
    try:
        found: dict[str, Any] = await web.backends.call(
            "GET", "intake", "/fees/estimate", token=None
        )
    except BackendError:
        return None
    language = language_of(request)
    found["total"] = money(found["total_minor"], found["currency"], language)
    covered = found.get("insurance_may_cover_minor") or 0
    found["insurance"] = money(covered, found["currency"], language) if covered else None
    return found


@router.post("/request")
async def send_request(request: Request, web: WebDep) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in (*FORM_FIELDS, *CONSENT_SHOWN)}
    # One case however often the button is pressed: the key was fixed when the form was drawn.
    key = str(form.get("idempotency_key", "")) or str(uuid.uuid4())
    again: dict[str, Any] = {
        "values": values,
        "idempotency_key": key,
        "specialties": SPECIALTIES,
    }
    try:
        accepted = await web.backends.call(
            "POST",
            "intake",
            "/cases",
            token=None,
            json=_case_create(values),
            headers={
                "Idempotency-Key": key,
                "X-Forwarded-For": _address_of(request),
                # For the consent's signature record: which browser agreed.
                "User-Agent": request.headers.get("user-agent", "")[:200],
            },
        )
    except BackendError as error:
        try:  # shown again as intake serves it now (it may be why the form was refused)
            again["consent"] = await _consent_text(request, web)
        except BackendError as unavailable:
            return problem_page(request, unavailable)
        again["estimate"] = await fee_estimate(request, web)  # the form is drawn again, with it
        if error.status >= 500 or error.status == 429:
            return render(
                request,
                "request_form.html",
                status_code=error.status,
                errors={"_form": sentence(request, error)},
                **again,
            )
        errors = field_errors(request, error)
        if values["consent.agreed"] != "yes" and errors:
            # Intake checks the box only once the rest is valid: say it now, with the rest,
            # so the family does not meet one more refusal after fixing those.
            errors.setdefault(
                "consent.agreed", sentence_for(language_of(request), "consent_required")
            )
        if not errors:
            errors = {"_form": sentence(request, error)}
        if "consent.text_sha256" in errors or "consent.text_version" in errors:
            values["consent.agreed"] = ""  # a new text is agreed to afresh
        return render(request, "request_form.html", status_code=422, errors=errors, **again)
    link = accepted["link"]
    person = web.sessions.verify(link["token"])
    case_id = accepted["case_id"]
    response = render(
        request,
        "request_sent.html",
        case_id=case_id,
        case_link=f"{web.settings.public_url}/c/{case_id}?access_token={link['token']}",
        person=person,
    )
    if person is not None:
        web.sessions.start(response, person)
    if values["time_zone"]:
        web.sessions.remember(response, TIME_ZONE_COOKIE, values["time_zone"])
    return response


def _case_create(values: dict[str, str]) -> dict[str, Any]:
    """The form's flat fields as the intake API's request body (blank optional fields left out)."""

    def part(prefix: str, names: tuple[str, ...]) -> dict[str, str]:
        return {n: values[f"{prefix}.{n}"] for n in names if values.get(f"{prefix}.{n}")}

    questions = [line.strip() for line in values["questions"].splitlines() if line.strip()]
    body: dict[str, Any] = {
        "submitted_by": values["submitted_by"] or "guardian",
        "patient": part("patient", ("given_name", "family_name", "date_of_birth", "sex", "mrn")),
        "guardian": part(
            "guardian",
            ("name", "relationship", "email", "phone", "preferred_language"),
        ),
        "referring_physician": part(
            "referring_physician", ("name", "organization", "email", "phone", "preferred_language")
        ),
        "specialty": values["specialty"],
        "working_diagnosis": values["working_diagnosis"],
        "urgency": values["urgency"],
        "questions": questions,
        "country": values["country"].upper(),
        "consent": {
            "agreed": values["consent.agreed"] == "yes",
            "given_by": values["consent.given_by"],
            # No given_at: intake records the time of submission, so a repeated send of the
            # same form is the same request (its Idempotency-Key compares the bodies).
            "text_version": values["consent.text_version"],
            "language": values["consent.language"] or None,
            "text_sha256": values["consent.text_sha256"] or None,
        },
    }
    if values["diagnosis_stage"]:
        body["diagnosis_stage"] = values["diagnosis_stage"]
    if values["guardian.interpreter_needed"] == "yes":
        body["guardian"]["interpreter_needed"] = True
        if values["guardian.interpreter_language"]:
            body["guardian"]["interpreter_language"] = values["guardian.interpreter_language"]
    zone = known_zone(values["time_zone"])
    if zone:
        # The browser's zone is the zone of whoever fills the form in.
        submitter = "guardian" if body["submitted_by"] == "guardian" else "referring_physician"
        body[submitter]["time_zone"] = zone
    return body


def known_zone(name: str) -> str | None:
    """The zone if the tz database knows it; the form's zone field is a convenience (the
    browser fills it in), so a name typed wrong leaves dates in UTC rather than refusing."""
    try:
        return name if name and ZoneInfo(name) else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@router.get("/sign-in")
async def sign_in_page(request: Request, web: WebDep, next: str = "") -> Response:
    return render(request, "sign_in.html", next=_safe_next(next), demo=_demo(web), error=None)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    web: WebDep,
    csrf: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    demo: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    if not web.sessions.csrf_ok(request, csrf):
        t = translator(language_of(request))
        return render(
            request,
            "sign_in.html",
            status_code=403,
            next=next,
            demo=_demo(web),
            error=t("error.csrf"),
        )
    if demo and web.settings.dev_signin_key_path is not None:
        token = _demo_token(web.settings.dev_signin_key_path, demo) or ""
    person = web.sessions.verify(token) if token else None
    if person is None or person.role not in {*STAFF_ROLES, "expert"}:
        t = translator(language_of(request))
        return render(
            request,
            "sign_in.html",
            status_code=401,
            next=_safe_next(next),
            demo=_demo(web),
            error=t("signin.bad"),
        )
    response = redirect(_safe_next(next) or HOME_OF_ROLE.get(person.role, "/"))
    web.sessions.start(response, person)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, web: WebDep, csrf: Annotated[str, Form()] = "") -> Response:
    response = redirect("/")
    if web.sessions.csrf_ok(request, csrf):
        web.sessions.end(response)
    return response


@router.get("/time-zone")
async def remember_time_zone(request: Request, web: WebDep, tz: str = "UTC") -> Response:
    """The browser says its time zone once (web.js); dates are then shown in it."""
    response = Response(status_code=204)
    if 0 < len(tz) <= 64:
        web.sessions.remember(response, TIME_ZONE_COOKIE, tz)
    return response


def _address_of(request: Request) -> str:
    """The family's address, for intake's rate limit (behind a load balancer, uvicorn's proxy
    headers setting makes `request.client` that address)."""
    return request.client.host if request.client else "unknown"


def _safe_next(next_path: str) -> str:
    # Only this site's own paths: never a redirect to somewhere else.
    return next_path if next_path.startswith("/") and not next_path.startswith("//") else ""


def _demo(web: Any) -> list[tuple[str, str]]:
    if web.settings.dev_signin_key_path is None:
        return []
    return [(f"{role}:{subject}", name) for role, subject, name in DEMO_PEOPLE]


def _demo_token(key_path: Path, choice: str) -> str | None:
    for role, subject, _ in DEMO_PEOPLE:
        if choice == f"{role}:{subject}":
            issuer = dev_identity_issuer(key_path.read_bytes())
            return issuer.issue(subject=subject, role=role, ttl_s=8 * 3600)
    return None
