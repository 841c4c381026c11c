"""The request form over HTTP with an in-memory store: strict validation that names the field
and never repeats the value, consent, the urgent warning, idempotency, size and rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from services.intake.api import create_app
from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeContext
from services.intake.memory_store import InMemoryCaseStore
from shared.auth import TokenIssuer, TokenVerifier, principal_dependency
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import BIRTH_DATE, CHILD_FAMILY, DROP, GUARDIAN_EMAIL, form

SECRET_LOOKING = "Zebulon-Quinterofake-4471"


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"patient.given_name": DROP}, "patient.given_name", "missing"),
        ({"patient.given_name": "   "}, "patient.given_name", "string_too_short"),
        (
            {"patient.date_of_birth": SECRET_LOOKING},
            "patient.date_of_birth",
            "date_from_datetime_parsing",
        ),
        ({"patient.sex": SECRET_LOOKING}, "patient.sex", "literal_error"),
        ({"guardian.email": SECRET_LOOKING}, "guardian.email", "string_pattern_mismatch"),
        ({"guardian.phone": SECRET_LOOKING}, "guardian.phone", "string_pattern_mismatch"),
        (
            {"guardian.preferred_language": "Spanish"},
            "guardian.preferred_language",
            "string_pattern_mismatch",
        ),
        ({"referring_physician": DROP}, "referring_physician", "missing"),
        ({"specialty": "dermatology"}, "specialty", "literal_error"),
        ({"urgency": "asap"}, "urgency", "literal_error"),
        ({"questions": []}, "questions", "too_short"),
        ({"questions": [SECRET_LOOKING, ""]}, "questions.1", "string_too_short"),
        ({"country": "Mexico"}, "country", "string_pattern_mismatch"),
        ({"consent": DROP}, "consent", "missing"),
        ({"consent.agreed": False}, "consent.agreed", "consent_required"),
        ({"consent.text_version": "1999"}, "consent.text_version", "unknown_consent_version"),
        ({"patient.date_of_birth": "2999-01-01"}, "patient.date_of_birth", "date_in_future"),
        ({"patient.date_of_birth": "1990-01-01"}, "patient.date_of_birth", "not_pediatric"),
        ({"submitted_by": "neighbour"}, "submitted_by", "literal_error"),
        ({"nickname": SECRET_LOOKING}, "nickname", "extra_forbidden"),
    ],
)
async def test_every_rejection_names_the_field_and_never_the_value(
    fast_intake: FastIntake, changes: dict[str, Any], field: str, code: str
) -> None:
    answer = await fast_intake.client.post("/cases", json=form(**changes))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert code in (error["code"], *(p["code"] for p in error.get("problems", [])))
    for value in (SECRET_LOOKING, CHILD_FAMILY, BIRTH_DATE, GUARDIAN_EMAIL, "2999-01-01"):
        assert value not in answer.text
    assert fast_intake.store.cases == {}


async def test_a_body_that_is_not_json_is_a_422_too(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.post(
        "/cases", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422


async def test_an_accepted_request_gets_its_id_status_url_and_a_link_for_this_case(
    fast_intake: FastIntake, issuer: TokenIssuer
) -> None:
    answer = await fast_intake.client.post("/cases", json=form(submitted_by="referring-physician"))
    assert answer.status_code == 201
    body = answer.json()
    case_id = body["case_id"]
    assert body["status_url"] == f"/cases/{case_id}/status"
    assert body["warnings"] == [] and body["replayed"] is False
    public_key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    claims = jwt.decode(
        body["link"]["token"], public_key, algorithms=["RS256"], audience=issuer.audience
    )
    # The shape records' access rules expect: a case-scoped role and the case in case_ids.
    assert claims["role"] == "referring-physician" and claims["case_ids"] == [case_id]
    assert claims["exp"] - claims["iat"] == IntakeSettings().link_ttl_s
    key, event = fast_intake.store.outbox  # the case's data key first (shared/case_keys.py)
    assert key.type == "case.keys" and key.data["wrapped_key"]
    assert key.id < event.id  # the relay publishes in id order: the key goes out first
    assert event.type == "case.submitted" and event.subject == case_id
    assert event.data["submitted_via"] == "physician"


async def test_an_urgent_request_is_warned_not_to_delay_treatment(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.post("/cases", json=form(urgency="urgent"))
    (warning,) = answer.json()["warnings"]
    assert warning["code"] == "urgent_do_not_delay_treatment"
    assert "must not delay treatment" in warning["message"]


async def test_the_same_idempotency_key_gives_the_same_case(fast_intake: FastIntake) -> None:
    key = {"Idempotency-Key": "c0ffee-0001"}
    first = await fast_intake.client.post("/cases", json=form(), headers=key)
    again = await fast_intake.client.post("/cases", json=form(), headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["case_id"] == again.json()["case_id"] and again.json()["replayed"]
    assert len(fast_intake.store.cases) == 1 and len(fast_intake.store.outbox) == 2

    changed = await fast_intake.client.post("/cases", json=form(urgency="urgent"), headers=key)
    assert changed.status_code == 422
    assert changed.json()["error"] == {
        "code": "idempotency_key_reused",
        "message": "this Idempotency-Key was used for a different request",
        "field": "Idempotency-Key",
    }
    other_key = await fast_intake.client.post(
        "/cases", json=form(), headers={"Idempotency-Key": "c0ffee-0002"}
    )
    assert other_key.status_code == 201 and other_key.json()["case_id"] != first.json()["case_id"]
    short = await fast_intake.client.post("/cases", json=form(), headers={"Idempotency-Key": "x"})
    assert short.status_code == 422 and short.json()["error"]["field"] == "Idempotency-Key"


async def test_a_retry_after_a_crash_between_claim_and_case_finishes_the_same_case(
    fast_intake: FastIntake,
) -> None:
    key = {"Idempotency-Key": "crash-test-01"}
    first = await fast_intake.client.post("/cases", json=form(), headers=key)
    case_id = first.json()["case_id"]
    fast_intake.store.cases.clear()  # as if the process died after the claim
    again = await fast_intake.client.post("/cases", json=form(), headers=key)
    assert again.status_code == 201 and again.json()["case_id"] == case_id


async def limited_client(
    issuer: TokenIssuer, verifier: TokenVerifier, **settings: Any
) -> httpx.AsyncClient:
    context = IntakeContext(
        store=InMemoryCaseStore(), settings=IntakeSettings(**settings), links=issuer
    )
    app = create_app(ctx=context, authenticate=principal_dependency(verifier), readiness={})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake")


async def test_submissions_per_client_are_limited(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    async with await limited_client(issuer, verifier, submissions_per_minute=2) as client:
        codes = [(await client.post("/cases", json=form())).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        refused = await client.post("/cases", json=form())
        assert refused.json()["error"]["code"] == "too_many_requests"


async def test_families_behind_the_web_front_door_each_have_their_own_limit(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    # ASGITransport connects from 127.0.0.1: here that is the trusted front door.
    trusted = {"submissions_per_minute": 1, "trusted_proxies": ["127.0.0.1"]}
    async with await limited_client(issuer, verifier, **trusted) as client:

        async def sent_by(address: str) -> int:
            headers = {"X-Forwarded-For": address}
            return (await client.post("/cases", json=form(), headers=headers)).status_code

        assert [await sent_by("198.51.100.7"), await sent_by("203.0.113.9")] == [201, 201]
        assert await sent_by("198.51.100.7") == 429
    # A client that is not a trusted front door cannot choose its own address.
    async with await limited_client(issuer, verifier, submissions_per_minute=1) as client:
        spoofed = [
            (await client.post("/cases", json=form(), headers={"X-Forwarded-For": f"10.0.0.{i}"}))
            for i in range(2)
        ]
        assert [r.status_code for r in spoofed] == [201, 429]


async def test_an_oversized_body_is_refused_before_it_is_parsed(
    issuer: TokenIssuer, verifier: TokenVerifier
) -> None:
    limits = {"max_form_bytes": 2048, "max_fhir_bytes": 4096}
    async with await limited_client(issuer, verifier, **limits) as client:
        big = form(questions=["why?" * 200] * 5)
        answer = await client.post("/cases", json=big)
        assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_large"

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"questions": ["'
            for _ in range(100):
                yield b"x" * 100
            yield b'"]}'

        streamed = await client.post(
            "/cases", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        note = await client.post("/cases/any/notes", json={"text": "x" * 3000})
        assert note.status_code == 413  # every other route has the form's limit
        bundle = await client.post("/fhir", content=b"{" + b" " * 5000 + b"}")
        assert bundle.status_code == 413
        assert bundle.json()["resourceType"] == "OperationOutcome"
        assert (await client.post("/cases", json=form())).status_code == 201


async def test_the_openapi_page_describes_every_route(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.get("/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert {"/cases", "/cases/{case_id}/status", "/fhir", "/cases/{case_id}/triage"} <= set(paths)
    assert "Idempotency-Key" in str(paths["/cases"]["post"]["parameters"])
