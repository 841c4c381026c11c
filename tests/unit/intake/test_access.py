"""Who may do what at intake: links see their own case, hospitals their organization's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake.access import Action, check_case, check_hospital, check_submitter
from services.intake.domain import CaseRecord, DomainError
from shared.auth import Principal, Role
from tests.support import sample_case


def case(organization: str | None = "org-1") -> CaseRecord:
    submission = sample_case("case-1", organization_id=organization)
    return CaseRecord.new(submission, at=datetime(2026, 11, 1, tzinfo=UTC))


def caller(
    role: Role, case_ids: tuple[str, ...] = (), organization: str | None = None
) -> Principal:
    return Principal(
        subject="s",
        role=role,
        case_ids=frozenset(case_ids),
        organization=organization,
        token_id="t",
    )


def refusal(principal: Principal, action: Action, record: CaseRecord | None = None) -> str | None:
    try:
        check_case(principal, action, record or case(), "case-1")
    except DomainError as error:
        return error.code
    return None


MATRIX: list[tuple[Principal, list[Action], list[Action]]] = [
    (caller("guardian", ("case-1",)), ["read-status"], ["read-cases", "manage-cases"]),
    (caller("referring-physician", ("case-1",)), ["read-status"], ["manage-cases"]),
    (caller("intake-staff"), ["read-status", "read-cases", "manage-cases"], ["submit-fhir"]),
    # Admin manages the roster and partners: no case, no status page, no links.
    (caller("admin"), [], ["read-status", "read-cases", "manage-cases", "revoke-links"]),
    (caller("hospital-system", organization="org-1"), ["read-status"], ["manage-cases"]),
    (caller("expert"), [], ["read-status", "read-cases", "manage-cases"]),
    (caller("partner"), [], ["read-status", "manage-cases"]),
    (caller("service"), [], ["read-status", "manage-cases"]),
]


@pytest.mark.parametrize(("principal", "allowed", "forbidden"), MATRIX)
def test_the_role_matrix(
    principal: Principal, allowed: list[Action], forbidden: list[Action]
) -> None:
    for action in allowed:
        assert refusal(principal, action) is None, action
    for action in forbidden:
        assert refusal(principal, action) == "forbidden", action


def test_strangers_to_a_case_are_told_it_does_not_exist() -> None:
    assert refusal(caller("guardian", ("case-2",)), "read-status") == "not_found"
    assert refusal(caller("referring-physician"), "read-status") == "not_found"
    assert refusal(caller("hospital-system", organization="org-2"), "read-status") == "not_found"
    assert refusal(caller("hospital-system"), "read-status") == "not_found"
    assert refusal(caller("hospital-system", organization="org-1"), "read-status", case(None)) == (
        "not_found"
    )
    with pytest.raises(DomainError) as missing:
        check_case(caller("intake-staff"), "read-cases", None, "case-1")
    assert missing.value.code == "not_found"


def test_the_form_is_public_but_a_token_must_be_one_that_may_submit() -> None:
    check_submitter(None)
    for role in ("guardian", "referring-physician", "intake-staff", "admin"):
        check_submitter(caller(role))  # type: ignore[arg-type]
    for role in ("expert", "partner", "hospital-system", "service"):
        with pytest.raises(DomainError):
            check_submitter(caller(role))  # type: ignore[arg-type]


def test_a_hospital_submits_for_the_organization_its_token_names() -> None:
    assert check_hospital(caller("hospital-system", organization="org-9")) == "org-9"
    for principal in (caller("hospital-system"), caller("intake-staff", organization="org-9")):
        with pytest.raises(DomainError) as refused:
            check_hospital(principal)
        assert refused.value.code == "forbidden"
