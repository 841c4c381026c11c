"""Who sees which report: intake staff everything, experts only while assigned, families and
physicians only their own case's issued report, admin nothing; strangers get 404, wrong roles
403."""

from __future__ import annotations

import pytest

from services.reports import access
from services.reports.domain import Forbidden, IssuedVersion, NotFound, ReportRecord, Sections
from shared.auth import Principal, Role
from shared.contracts.report_issued import StoredObject
from tests.unit.reports.factories import opened

ORG = "org-valley"


def who(
    role: Role, subject: str = "someone", case_ids: tuple[str, ...] = (), org: str | None = None
) -> Principal:
    return Principal(
        subject=subject, role=role, case_ids=frozenset(case_ids), organization=org, token_id="t"
    )


def issued() -> ReportRecord:
    record = opened()
    assert record.facts is not None
    record = record.model_copy(
        update={"facts": record.facts.model_copy(update={"organization_id": ORG})}
    )
    obj = StoredObject(bucket="b", key="k", sha256="a" * 64, size_bytes=1, content_type="x/y")
    return record.model_copy(
        update={
            "draft": None,
            "versions": [
                IssuedVersion(
                    version=1,
                    sections=record.draft.sections if record.draft else Sections(),
                    language="en",
                    signed_by=record.authors.lead if record.authors else None,
                    issued_at=record.facts.submitted_at if record.facts else None,
                    html=obj,
                    pdf=obj,
                )
            ],
        }
    )


def allowed(principal: Principal, action: access.Action, record: ReportRecord) -> bool | str:
    try:
        access.check_report(principal, action, record, record.case_id)
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return True


@pytest.mark.parametrize(
    ("principal", "action", "expected"),
    [
        (who("expert", "ana"), "write-draft", True),
        (who("expert", "ben"), "read-draft", True),
        (who("expert", "zoe"), "read-draft", "404"),
        (who("expert", "zoe"), "read-issued", "404"),
        (who("intake-staff"), "read-draft", True),
        (who("intake-staff"), "write-draft", "403"),
        (who("guardian", case_ids=("case-0001",)), "read-draft", "403"),
        (who("guardian", case_ids=("case-0001",)), "read-issued", "404"),  # not issued yet
        (who("guardian", case_ids=("case-0002",)), "read-issued", "404"),
        (who("guardian"), "read-issued", "404"),  # a family link always names its cases
        (who("partner", org=ORG), "read-issued", "404"),  # not issued yet
        (who("partner", org=ORG), "read-draft", "403"),
        (who("admin"), "read-draft", "403"),
        (who("admin"), "read-follow-ups", "403"),
    ],
)
def test_a_draft(principal: Principal, action: access.Action, expected: bool | str) -> None:
    assert allowed(principal, action, opened()) == expected


@pytest.mark.parametrize(
    ("principal", "action", "expected"),
    [
        (who("guardian", case_ids=("case-0001",)), "read-issued", True),
        (who("referring-physician", case_ids=("case-0001",)), "read-issued", True),
        (who("referring-physician", case_ids=("case-0001",)), "ask-follow-up", True),
        (who("guardian", case_ids=("case-0002",)), "read-issued", "404"),
        (who("hospital-system"), "read-issued", "404"),  # not the submitting organization
        (who("expert", "zoe"), "read-issued", "404"),
        # A partner feed: its organization's cases, or the case its webhook's link names.
        (who("partner", org=ORG), "read-issued", True),
        (who("partner", org="org-other"), "read-issued", "404"),
        (who("partner"), "read-issued", "404"),
        (who("partner", org="org-other", case_ids=("case-0001",)), "read-issued", True),
        (who("partner", org=ORG, case_ids=("case-0002",)), "read-issued", "404"),
        (who("partner", org=ORG), "ask-follow-up", "403"),
        (who("intake-staff"), "read-issued", True),
        # Admin manages the roster and partners and sees no clinical content.
        (who("admin"), "read-issued", "403"),
        (who("admin"), "read-follow-ups", "403"),
    ],
)
def test_an_issued_report(
    principal: Principal, action: access.Action, expected: bool | str
) -> None:
    assert allowed(principal, action, issued()) == expected


def test_listing_is_narrowed_to_what_the_caller_may_see() -> None:
    known = {"facts": {"$ne": None}}
    assert access.listing_query(who("expert", "ana")) == {**known, "author_ids": "ana"}
    family = access.listing_query(who("guardian", case_ids=("c1",)))
    assert family == {**known, "_id": {"$in": ["c1"]}, "versions.0": {"$exists": True}}
    assert access.listing_query(who("guardian")) is None
    assert access.listing_query(who("intake-staff")) == known
    for role in ("partner", "admin"):
        with pytest.raises(Forbidden):
            access.listing_query(who(role))  # type: ignore[arg-type]
