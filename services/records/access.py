"""Who may do what to a case's records. No I/O: the rules see the caller and the case.

A caller who may not know a case exists (a family's link to another case, another hospital's
case) gets `not_found`, exactly as for a case that does not exist; a caller whose role never
may use a route gets `forbidden`. Every route here serves or changes clinical content, so an
admin (who manages the roster and partners) gets `forbidden` on all of them.
"""

from __future__ import annotations

from typing import Literal

from services.records.domain import CaseRecord, DomainError
from shared.auth import Principal, Role
from shared.mongo import Document

Action = Literal[
    "upload", "stow", "read-checklist", "read-documents", "read-imaging", "manage-records"
]

CASE_SCOPED: frozenset[Role] = frozenset({"guardian", "referring-physician"})
# Not shared.auth.STAFF_ROLES: admin is staff but sees no clinical content.
STAFF: frozenset[Role] = frozenset({"intake-staff"})

ROLES_FOR: dict[Action, frozenset[Role]] = {
    "upload": CASE_SCOPED | STAFF | {"hospital-system"},
    "stow": STAFF | {"hospital-system"},
    "read-checklist": CASE_SCOPED | STAFF,
    # Experts: only cases offered or assigned to them (CaseRecord.experts).
    "read-documents": CASE_SCOPED | STAFF | {"expert"},
    # A hospital's system: its own organization's cases (what its PACS sent, for example).
    "read-imaging": STAFF | {"expert", "hospital-system"},
    "manage-records": STAFF,
}


def not_found(case_id: str) -> DomainError:
    return DomainError("not_found", f"case {case_id} does not exist", "case_id")


def check_role(principal: Principal, action: Action) -> None:
    if principal.role not in ROLES_FOR[action]:
        raise DomainError("forbidden", f"the role {principal.role} may not {action}")


def check_case_scope(principal: Principal, action: Action, case_id: str) -> None:
    """What can be decided before reading the case (so nothing is read for a stranger)."""
    check_role(principal, action)
    # Links for families and physicians always name their cases; for other roles, an empty
    # list means no case restriction (Principal.may_see_case).
    if principal.role in CASE_SCOPED and not principal.case_ids:
        raise not_found(case_id)
    if not principal.may_see_case(case_id):
        raise not_found(case_id)


def check_case(
    principal: Principal, action: Action, case: CaseRecord | None, case_id: str
) -> CaseRecord:
    """The case, if this caller may do `action` on it."""
    check_case_scope(principal, action, case_id)
    if case is None or not case.submitted:
        raise not_found(case_id)
    if principal.role == "hospital-system" and (
        principal.organization is None or case.organization_id != principal.organization
    ):
        raise not_found(case_id)
    if principal.role == "expert" and principal.subject not in case.experts:
        raise not_found(case_id)
    return case


def visible_cases_query(principal: Principal, action: Action) -> Document:
    """A filter on the cases collection: the cases this caller may see for `action`.

    One flat document of top-level equalities (never `$and`), so the store can serve every
    part of it from an index."""
    check_role(principal, action)
    query: Document = {}
    if principal.role in CASE_SCOPED or principal.case_ids:
        query["_id"] = {"$in": sorted(principal.case_ids)}
    if principal.role == "hospital-system":
        query["organization_id"] = principal.organization or "\x00no-organization"
    if principal.role == "expert":
        query["expert_ids"] = principal.subject
    return query


def narrowed_to_case(query: Document, case_id: str) -> Document | None:
    """`query` (from visible_cases_query) for one case only, still flat; None when the caller's
    token does not reach that case (an empty `$in` would not be served from an index)."""
    reachable = query.get("_id", {}).get("$in")
    if reachable is not None and case_id not in reachable:
        return None
    return {**query, "_id": case_id}
