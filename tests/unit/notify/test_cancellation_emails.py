"""A cancelled case tells the family: a withdrawal they asked for is confirmed, a cancellation
by the intake team is explained; other changes of a case send nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.domain.facts import facts_of
from services.notify.domain.recipients import messages_for
from services.notify.emails import EmailRenderer
from tests.unit.notify.events import fact


def who(event: object) -> list[tuple[str, str]]:
    return [(m.recipient.key, m.template) for m in messages_for(event)]  # type: ignore[arg-type]


def test_the_family_is_told_its_case_was_withdrawn_or_cancelled() -> None:
    withdrawn = fact("case.updated", change="cancelled", status="cancelled", by="guardian")
    assert who(withdrawn) == [("guardian", "case-withdrawn")]
    by_doctor = fact(
        "case.updated", change="cancelled", status="cancelled", by="referring-physician"
    )
    assert who(by_doctor) == [("guardian", "case-withdrawn")]
    by_staff = fact("case.updated", change="cancelled", status="cancelled", by="intake-staff")
    assert who(by_staff) == [("guardian", "case-cancelled")]
    assert who(fact("case.updated", change="put-on-hold", status="on-hold", by="x")) == []


def test_the_facts_of_a_change_name_who_made_it_by_role_only() -> None:
    data = {
        "case_id": "c-1",
        "change": "cancelled",
        "status": "cancelled",
        "specialty": "oncology",
        "actor": {"subject": "guardian:c-1", "role": "guardian"},
        "reason": "withdrawn by the family: we found care nearby",
    }
    facts = facts_of("case.updated", data, datetime(2026, 12, 4, tzinfo=UTC))
    assert facts["by"] == "guardian"
    assert "care nearby" not in str(facts)


def test_both_messages_exist_in_english_and_spanish() -> None:
    renderer = EmailRenderer()
    for template in ("case-withdrawn", "case-cancelled"):
        for language, word in (("en", "request"), ("es", "solicitud")):
            email = renderer.render(
                template, language, {"case_id": "c-1", "case_link": "https://x/c/c-1"}
            )
            assert email.language == language and word in email.text.lower()
            assert "https://x/c/c-1" in email.text
