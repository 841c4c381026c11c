"""Who may do what: case-scoped links see their own case only, hospitals their organization's."""

import pytest

from services.records.access import Action, check_case, narrowed_to_case, visible_cases_query
from services.records.domain import CaseRecord, DomainError
from shared.auth import Principal, Role
from tests.support import sample_case


def case(organization: str | None = "org-1") -> CaseRecord:
    record = CaseRecord("case-1")
    record.submit(sample_case("case-1", organization_id=organization))
    record.experts = {"s": "assigned"}
    return record


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
    (
        caller("guardian", ("case-1",)),
        ["upload", "read-checklist"],
        ["manage-records", "read-imaging", "stow"],
    ),
    (caller("referring-physician", ("case-1",)), ["upload", "read-checklist"], ["stow"]),
    (caller("intake-staff"), ["upload", "read-checklist", "manage-records", "read-imaging"], []),
    # Admin manages the roster and partners and sees no clinical content.
    (
        caller("admin"),
        [],
        ["upload", "stow", "read-checklist", "read-documents", "read-imaging", "manage-records"],
    ),
    (
        caller("hospital-system", organization="org-1"),
        ["upload", "stow"],
        ["read-checklist", "manage-records"],
    ),
    (caller("expert"), ["read-imaging", "read-documents"], ["upload", "manage-records"]),
    (caller("partner"), [], ["upload", "read-imaging", "read-checklist"]),
]


@pytest.mark.parametrize(("principal", "allowed", "forbidden"), MATRIX)
def test_the_role_matrix(
    principal: Principal, allowed: list[Action], forbidden: list[Action]
) -> None:
    for action in allowed:
        assert refusal(principal, action) is None, action
    for action in forbidden:
        assert refusal(principal, action) == "forbidden", action


def test_a_link_to_another_case_is_told_the_case_does_not_exist() -> None:
    assert refusal(caller("guardian", ("case-2",)), "read-checklist") == "not_found"
    assert refusal(caller("guardian"), "upload") == "not_found"  # a link names its cases


def test_a_hospital_sees_only_its_organizations_cases() -> None:
    assert refusal(caller("hospital-system", organization="org-2"), "stow") == "not_found"
    assert refusal(caller("hospital-system"), "stow") == "not_found"
    assert (
        refusal(caller("hospital-system", organization="org-1"), "stow", case(None)) == "not_found"
    )


def test_an_unsubmitted_case_does_not_exist() -> None:
    assert refusal(caller("intake-staff"), "read-checklist", CaseRecord("case-1")) == "not_found"


def test_listing_queries_follow_the_same_rules() -> None:
    assert visible_cases_query(caller("intake-staff"), "read-imaging") == {}
    assert visible_cases_query(caller("guardian", ("b", "a")), "upload") == {
        "_id": {"$in": ["a", "b"]}
    }
    hospital = visible_cases_query(caller("hospital-system", organization="org-1"), "stow")
    assert hospital == {"organization_id": "org-1"}
    with pytest.raises(DomainError):
        visible_cases_query(caller("guardian", ("a",)), "read-imaging")
    with pytest.raises(DomainError) as admin:
        visible_cases_query(caller("admin"), "read-imaging")
    assert admin.value.code == "forbidden"


def test_an_expert_sees_only_cases_offered_or_assigned_to_them() -> None:
    record = case()
    record.experts = {"someone-else": "assigned"}
    assert refusal(caller("expert"), "read-documents", record) == "not_found"
    record.experts = {"s": "offered"}
    assert refusal(caller("expert"), "read-imaging", record) is None
    assert visible_cases_query(caller("expert"), "read-imaging") == {"expert_ids": "s"}


def test_listing_queries_stay_flat_so_each_part_can_use_an_index() -> None:
    scoped = caller("hospital-system", ("a",), organization="org-1")
    assert visible_cases_query(scoped, "stow") == {
        "_id": {"$in": ["a"]},
        "organization_id": "org-1",
    }
    expert = visible_cases_query(caller("expert"), "read-imaging")
    assert narrowed_to_case(expert, "c") == {"expert_ids": "s", "_id": "c"}
    assert narrowed_to_case({}, "c") == {"_id": "c"}
    assert narrowed_to_case(visible_cases_query(scoped, "stow"), "a") == {
        "_id": "a",
        "organization_id": "org-1",
    }
    assert narrowed_to_case(visible_cases_query(scoped, "stow"), "b") is None
