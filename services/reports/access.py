"""Who may do what with a case's report. No I/O: the rules see the caller and the report.

A caller who may not know a report exists (an expert not assigned, or no longer assigned; a
family's link to another case; a report not issued yet, for the family) gets `not_found`,
exactly as for a case that does not exist; a role that never may use a route gets `forbidden`.
A report is clinical content, so an admin (who manages the roster and partners) gets
`forbidden` on every route. A partner feed reads issued reports only (its organization's, or
the case a webhook's report link names).
"""

from __future__ import annotations

from typing import Literal

from services.reports.domain import Forbidden, NotFound, ReportRecord
from shared.auth import Principal, Role
from shared.mongo import Document

Action = Literal[
    "read-draft",
    "write-draft",
    "read-issued",
    "ask-follow-up",
    "read-follow-ups",
    "answer-follow-up",
    "close-follow-up",
    "list",
]

CASE_SCOPED: frozenset[Role] = frozenset({"guardian", "referring-physician"})
# Not shared.auth.STAFF_ROLES: admin is staff but sees no clinical content.
STAFF: frozenset[Role] = frozenset({"intake-staff"})
EXPERT: frozenset[Role] = frozenset({"expert"})

ROLES_FOR: dict[Action, frozenset[Role]] = {
    "read-draft": STAFF | EXPERT,
    "write-draft": EXPERT,
    "read-issued": STAFF | EXPERT | CASE_SCOPED | {"hospital-system", "partner"},
    "ask-follow-up": CASE_SCOPED,
    "read-follow-ups": STAFF | EXPERT | CASE_SCOPED,
    "answer-follow-up": EXPERT,
    # Answered by telephone, out of scope...: the authors or the intake team close it.
    "close-follow-up": STAFF | EXPERT,
    "list": STAFF | EXPERT | CASE_SCOPED,
}


def not_found(case_id: str) -> NotFound:
    return NotFound("report_not_found", f"no report for case {case_id}", "case_id")


def check_role(principal: Principal, action: Action) -> None:
    if principal.role not in ROLES_FOR[action]:
        raise Forbidden("forbidden", f"the role {principal.role} may not {action}")


def check_case_scope(principal: Principal, action: Action, case_id: str) -> None:
    """What can be decided before reading anything (so nothing is read for a stranger)."""
    check_role(principal, action)
    if principal.role in CASE_SCOPED and not principal.case_ids:
        raise not_found(case_id)
    if not principal.may_see_case(case_id):
        raise not_found(case_id)


def check_report(
    principal: Principal, action: Action, record: ReportRecord | None, case_id: str
) -> ReportRecord:
    """The report, if this caller may do `action` with it."""
    check_case_scope(principal, action, case_id)
    if record is None or record.facts is None:
        raise not_found(case_id)
    if principal.role == "expert" and not record.is_author(principal.subject):
        raise not_found(case_id)
    if principal.role in STAFF or principal.role == "expert":
        if action == "read-draft" and record.authors is None and not record.versions:
            raise not_found(case_id)
        return record
    # Families, physicians, hospital systems and partner feeds see a report once it is issued.
    if not record.versions:
        raise not_found(case_id)
    own = (
        principal.organization is not None
        and record.facts.organization_id == principal.organization
    )
    if principal.role == "hospital-system" and not own:
        raise not_found(case_id)
    # A partner reads its organization's reports, or the one case a webhook's link names
    # (notify mints that for a case staff shared with it; the scope was checked above).
    if principal.role == "partner" and not own and not principal.case_ids:
        raise not_found(case_id)
    return record


def listing_query(principal: Principal) -> Document | None:
    """The filter that selects exactly the reports `check_report(principal, "list", ...)`
    lets through, so a page of them is one query with an exact limit; None if there are none
    (a case link without cases: an empty `$in` would scan the collection)."""
    check_role(principal, "list")
    # A report is not one until case.submitted told what it is about (events come in any order).
    query: Document = {"facts": {"$ne": None}}
    if principal.role in CASE_SCOPED:
        if not principal.case_ids:
            return None
        query["versions.0"] = {"$exists": True}
    if principal.case_ids:
        query["_id"] = {"$in": sorted(principal.case_ids)}
    if principal.role == "expert":
        query["author_ids"] = principal.subject
    return query
