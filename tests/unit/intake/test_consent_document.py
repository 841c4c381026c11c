"""Consent as a document: the text served per version and language, the signature record a
request leaves (who, when, from where, which exact text), and withdrawal of consent, which
stops the case as a withdrawal does. Over HTTP with an in-memory store."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from services.intake.consent_document import ConsentLibrary
from services.intake.errors import DomainError
from shared.contracts import CaseSubmitted, CaseUpdated, decode_payload, payload_as
from tests.unit.intake.conftest import FastIntake
from tests.unit.intake.samples import CHILD_FAMILY, form


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def events(fast_intake: FastIntake, kind: type[Any]) -> list[Any]:
    return [
        payload_as(decode_payload(e), kind)
        for e in fast_intake.store.outbox
        if e.type == kind.event_type
    ]


def signed_form(text: dict[str, Any]) -> dict[str, Any]:
    body = form()
    body["consent"] = {
        **body["consent"],
        "text_version": text["version"],
        "language": text["language"],
        "text_sha256": text["sha256"],
    }
    return body


def test_every_listed_version_needs_an_english_text(tmp_path: Path) -> None:
    (tmp_path / "2027-01.es.txt").write_text("Texto.", encoding="utf-8")
    with pytest.raises(ValueError, match="2027-01"):
        ConsentLibrary.load(["2027-01"], tmp_path)


def test_a_language_falls_back_to_its_base_tag_then_to_english() -> None:
    library = ConsentLibrary.load(["2026-01"])
    assert library.document("2026-01", "es-MX").language == "es"
    assert library.document("2026-01", "fr-CA").language == "fr"
    assert library.document("2026-01", "xx").language == "en"
    with pytest.raises(DomainError) as refused:
        library.signed("2026-01", "es", "0" * 64)
    assert refused.value.field == "consent.text_sha256"


async def test_the_form_shows_the_current_text_with_its_hash(fast_intake: FastIntake) -> None:
    answer = await fast_intake.client.get("/consent", params={"lang": "es"})
    assert answer.status_code == 200, answer.text
    text = answer.json()
    assert (text["version"], text["language"], text["current"]) == ("2026-01", "es", True)
    assert text["sha256"] == hashlib.sha256(text["text"].encode()).hexdigest()
    assert {"en", "es", "fr"} <= set(text["languages"])
    assert "retirar este consentimiento" in text["text"]

    same = await fast_intake.client.get("/consent/2026-01", params={"lang": "es"})
    assert same.json() == text
    unknown = await fast_intake.client.get("/consent/1999-01")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    bad = await fast_intake.client.get("/consent", params={"lang": "<script>"})
    assert bad.status_code == 422


async def test_a_request_keeps_the_signature_record_and_the_event_names_the_text(
    fast_intake: FastIntake,
) -> None:
    text = (await fast_intake.client.get("/consent", params={"lang": "es"})).json()
    submitted = await fast_intake.client.post(
        "/cases",
        json=signed_form(text),
        headers={"User-Agent": "Mozilla/5.0 (phone)", "X-Forwarded-For": "203.0.113.9"},
    )
    assert submitted.status_code == 201, submitted.text
    case_id = submitted.json()["case_id"]

    detail = await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)
    record = detail.json()["consent_signature"]
    assert record["signed_by"] == "Rosa Quinterofake"
    assert (record["text_version"], record["language"]) == ("2026-01", "es")
    assert record["text_sha256"] == text["sha256"]
    assert record["through"] == "form"
    assert record["ip"] == "127.0.0.1"  # the test client, not a forwarded address it claims
    assert record["user_agent"] == "Mozilla/5.0 (phone)"
    assert detail.json()["consent_withdrawn"] is None

    (event,) = events(fast_intake, CaseSubmitted)
    assert (event.consent.language, event.consent.text_sha256) == ("es", text["sha256"])
    assert "127.0.0.1" not in event.model_dump_json()  # the address stays in intake


async def test_a_form_without_the_hash_signs_the_text_in_the_guardians_language(
    fast_intake: FastIntake,
) -> None:
    body = form()
    body["guardian"]["preferred_language"] = "es"
    case_id = await fast_intake.submit(body)
    detail = (await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)).json()
    spanish = (await fast_intake.client.get("/consent", params={"lang": "es"})).json()
    assert detail["consent_signature"]["text_sha256"] == spanish["sha256"]


async def test_a_text_that_changed_since_it_was_read_is_refused_naming_the_field(
    fast_intake: FastIntake,
) -> None:
    text = (await fast_intake.client.get("/consent")).json()
    answer = await fast_intake.client.post(
        "/cases", json=signed_form({**text, "sha256": hashlib.sha256(b"older").hexdigest()})
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "consent_text_changed"
    assert answer.json()["error"]["field"] == "consent.text_sha256"
    assert fast_intake.store.outbox == []


async def test_the_guardian_withdraws_consent_and_the_case_stops(fast_intake: FastIntake) -> None:
    submitted = await fast_intake.client.post("/cases", json=form())
    case_id, link = submitted.json()["case_id"], bearer(submitted.json()["link"]["token"])

    answer = await fast_intake.client.post(
        f"/cases/{case_id}/consent/withdraw", json={"reason": "we changed our minds"}, headers=link
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    (event,) = events(fast_intake, CaseUpdated)
    assert (event.change, event.status) == ("cancelled", "cancelled")
    assert event.reason == "consent withdrawn by the family: we changed our minds"
    assert CHILD_FAMILY not in event.model_dump_json()

    detail = (await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)).json()
    assert detail["consent_withdrawn"]["by_role"] == "guardian"
    assert detail["consent_withdrawn"]["ip"] == "127.0.0.1"

    again = await fast_intake.client.post(f"/cases/{case_id}/consent/withdraw", headers=link)
    assert again.status_code == 409 and again.json()["error"]["code"] == "consent_already_withdrawn"


async def test_consent_withdrawn_after_a_withdrawal_is_recorded_without_a_second_event(
    fast_intake: FastIntake,
) -> None:
    submitted = await fast_intake.client.post("/cases", json=form())
    case_id, link = submitted.json()["case_id"], bearer(submitted.json()["link"]["token"])
    await fast_intake.client.post(f"/cases/{case_id}/withdraw", headers=link)

    answer = await fast_intake.client.post(f"/cases/{case_id}/consent/withdraw", headers=link)
    assert answer.status_code == 200, answer.text
    assert len(events(fast_intake, CaseUpdated)) == 1
    detail = (await fast_intake.client.get(f"/cases/{case_id}", headers=fast_intake.staff)).json()
    assert detail["history"][-1]["change"] == "consent-withdrawn"
    assert detail["consent_withdrawn"] is not None


async def test_only_the_guardian_withdraws_consent(fast_intake: FastIntake) -> None:
    body = form(submitted_by="referring-physician")
    submitted = await fast_intake.client.post("/cases", json=body)
    case_id, link = submitted.json()["case_id"], bearer(submitted.json()["link"]["token"])
    answer = await fast_intake.client.post(f"/cases/{case_id}/consent/withdraw", headers=link)
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    staff = await fast_intake.client.post(
        f"/cases/{case_id}/consent/withdraw", headers=fast_intake.staff
    )
    assert staff.status_code == 403
    other = fast_intake.auth("guardian", case_ids=["another-case"])
    assert (
        await fast_intake.client.post(f"/cases/{case_id}/consent/withdraw", headers=other)
    ).status_code == 404
