"""Who may do what at intake. No I/O: the rules see the caller and, where needed, the case.

A caller who may not know a case exists (a family's link to another case, another hospital's
case) gets `not_found`, exactly as for a case that does not exist; a caller whose role never
may use a route gets `forbidden`. The request form is public: a family has no account yet.
An admin manages the roster and partners and sees no clinical content, so every case route
refuses the role (`forbidden`); like anyone, an admin may still send the form.
"""

from __future__ import annotations

from typing import Literal

from services.intake.domain import CaseRecord, DomainError
from shared.auth import STAFF_ROLES, Principal, Role

Action = Literal[
    "submit",
    "submit-fhir",
    "read-status",
    "read-cases",
    "manage-cases",
    "revoke-links",
    "withdraw",
    "request-consult",
    "read-consults",
    "schedule-consult",
    "confirm-consult",
    "cancel-consult",
    "request-erasure",
    "decide-erasure",
    "clear-finances",
]

CASE_SCOPED: frozenset[Role] = frozenset({"guardian", "referring-physician"})
# The intake team reads and handles cases; admin (also staff) sees no clinical content.
INTAKE_TEAM: frozenset[Role] = frozenset({"intake-staff"})

ROLES_FOR: dict[Action, frozenset[Role]] = {
    # Anonymous callers may submit too (see `check_submitter`).
    "submit": CASE_SCOPED | STAFF_ROLES,
    "submit-fhir": frozenset({"hospital-system"}),
    "read-status": CASE_SCOPED | INTAKE_TEAM | {"hospital-system"},
    "read-cases": INTAKE_TEAM,
    "manage-cases": INTAKE_TEAM,
    # The holder of a link may end it (it may have been shared); the team may for any case.
    "revoke-links": CASE_SCOPED | INTAKE_TEAM,
    # The family or physician withdraws their own request; the team cancels instead.
    "withdraw": CASE_SCOPED,
    # Consults after the report: the family or physician asks and chooses a time, the team
    # proposes and reschedules; either side cancels (consults.py).
    "request-consult": CASE_SCOPED,
    "read-consults": CASE_SCOPED | INTAKE_TEAM,
    "schedule-consult": INTAKE_TEAM,
    "confirm-consult": CASE_SCOPED,
    "cancel-consult": CASE_SCOPED | INTAKE_TEAM,
    # Erasure of the child's personal data: the parent or guardian asks (erasure.py says only
    # they may), the intake team approves or refuses.
    "request-erasure": CASE_SCOPED,
    "decide-erasure": INTAKE_TEAM,
    # Financial clearance (fees.py): the intake team, or the hospital's billing system for its
    # own organization's cases (check_case).
    "clear-finances": INTAKE_TEAM | {"hospital-system"},
}
# What a refused caller may do instead.
INSTEAD: dict[Action, str] = {
    "withdraw": "intake staff cancel a case with POST /cases/{case_id}/cancel",
    "request-consult": "the family or the referring physician asks with their case link",
    "confirm-consult": "the family or the referring physician chooses the time",
}


def not_found(case_id: str) -> DomainError:
    return DomainError("not_found", f"case {case_id} does not exist", "case_id")


def check_role(principal: Principal, action: Action) -> None:
    if principal.role not in ROLES_FOR[action]:
        instead = f"; {INSTEAD[action]}" if action in INSTEAD else ""
        raise DomainError("forbidden", f"the role {principal.role} may not {action}{instead}")


def check_submitter(principal: Principal | None) -> None:
    """Anyone may send the form; a token, if sent, must be one of a role that may."""
    if principal is not None:
        check_role(principal, "submit")


def check_hospital(principal: Principal) -> str:
    """The organization a hospital system submits for (its token must name one)."""
    check_role(principal, "submit-fhir")
    if not principal.organization:
        raise DomainError("forbidden", "the token names no organization")
    return principal.organization


def check_case_scope(principal: Principal, action: Action, case_id: str) -> None:
    """What can be decided before reading the case (so nothing is read for a stranger)."""
    check_role(principal, action)
    # Links always name their cases; for other roles an empty list means every case.
    if principal.role in CASE_SCOPED and not principal.case_ids:
        raise not_found(case_id)
    if not principal.may_see_case(case_id):
        raise not_found(case_id)


def check_case(
    principal: Principal, action: Action, case: CaseRecord | None, case_id: str
) -> CaseRecord:
    """The case, if this caller may do `action` on it."""
    check_case_scope(principal, action, case_id)
    if case is None:
        raise not_found(case_id)
    if principal.role == "hospital-system" and (
        principal.organization is None or case.submission.organization_id != principal.organization
    ):
        raise not_found(case_id)
    return case
