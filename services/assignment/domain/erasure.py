"""Erasure at assignment (issue 14): of what matching kept of `case.submitted`, the free-text
working diagnosis and the referring organization go, and so do experts' free-text decline
reasons; the stages, offers, expert ids and times (who did what) stay. No I/O."""

from __future__ import annotations

from services.assignment.domain.cases import CaseRecord

ERASED = "erased"


def redact(record: CaseRecord) -> CaseRecord:
    """The case without the free text that may name the child."""
    facts = record.facts
    if facts is not None:
        facts = facts.model_copy(
            update={"working_diagnosis": ERASED, "referring_organization": ERASED}
        )
    offers = [o.model_copy(update={"decline_reason": None}) for o in record.offers]
    return record.model_copy(update={"facts": facts, "offers": offers})
