"""The shared pieces of erasure: the erased-case set the consumer runner consults, the object
store's prefix delete, and assignment's redaction."""

from __future__ import annotations

from pathlib import Path

from services.assignment.domain.cases import CaseFacts, CaseRecord
from services.assignment.domain.erasure import redact
from shared.erasure import ErasedCases
from shared.objectstore import InMemoryObjectStore


def test_erased_cases_are_remembered_by_id() -> None:
    erased = ErasedCases()
    erased.add("case-1")
    assert "case-1" in erased and "case-2" not in erased and len(erased) == 1


async def test_delete_prefix_removes_one_case_folder(tmp_path: Path) -> None:
    objects = InMemoryObjectStore()
    file = tmp_path / "f"
    file.write_bytes(b"x")
    for key in ("cases/c1/a", "cases/c1/b/c", "cases/c10/a", "cases/c2/a"):
        await objects.put_file(key, file, "text/plain")
    assert await objects.delete_prefix("cases/c1/") == 2
    assert sorted(objects.objects) == ["cases/c10/a", "cases/c2/a"]


def test_assignment_keeps_no_free_text_of_an_erased_case() -> None:
    facts = CaseFacts(
        specialty="oncology",
        urgency="routine",
        language="en",
        referring_organization="Clinic of Amelia Quinterofake's town",
        working_diagnosis="Amelia Quinterofake, 9, medulloblastoma",
    )
    record = redact(CaseRecord(case_id="c1", facts=facts))
    assert "Quinterofake" not in record.model_dump_json()
    assert record.facts is not None and record.facts.specialty == "oncology"
