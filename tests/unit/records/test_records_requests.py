"""Requests for missing records kept on the case: stored, read back, bounded, shown."""

from datetime import timedelta

import pytest

from services.records.case_documents import case_from_document, case_to_document
from services.records.domain import REQUESTS_KEPT, DomainError, RecordsRequestEntry
from services.records.views import ChecklistPublic
from tests.unit.records.test_case_documents import stored
from tests.unit.records.test_domain import NOW, opened


def request(n: int = 0, message: str | None = "Please send the CD.") -> RecordsRequestEntry:
    return RecordsRequestEntry(
        items=["mri-imaging", "pathology-report"],
        message=message,
        requested_at=NOW + timedelta(minutes=n),
        requested_by_role="intake-staff",
    )


def test_a_case_with_requests_reads_back_as_it_was_written() -> None:
    case = opened()
    case.add_request(request(0))
    case.add_request(request(1, message=None))
    again = stored(case)
    assert again.requests == [request(0), request(1, message=None)]
    again.revision = case.revision
    assert again == case


def test_a_stored_case_without_requests_loads_with_none() -> None:
    doc = {**case_to_document(opened()), "case_id": "case-1", "version": 1}
    del doc["requests"]
    assert case_from_document(doc).requests == []


def test_only_the_newest_requests_are_kept_oldest_first() -> None:
    case = opened()
    for n in range(REQUESTS_KEPT + 5):
        case.add_request(request(n))
    assert REQUESTS_KEPT == 20
    assert case.requests == [request(n) for n in range(5, REQUESTS_KEPT + 5)]
    assert stored(case).requests == case.requests


def test_a_cancelled_case_takes_no_request() -> None:
    case = opened()
    case.update_status("cancelled", case.specialty)
    with pytest.raises(DomainError) as refused:
        case.add_request(request())
    assert refused.value.code == "case_closed"
    assert case.requests == []


def test_the_checklist_shows_the_requests_with_their_message() -> None:
    case = opened()
    case.add_request(request(0))
    body = ChecklistPublic.of(case).model_dump(mode="json")
    assert body["requests"] == [
        {
            "items": ["mri-imaging", "pathology-report"],
            "message": "Please send the CD.",
            "requested_at": "2026-11-02T09:00:00Z",
            "requested_by_role": "intake-staff",
        }
    ]
