"""A case as a document and back: nothing lost, and the derived lists listings filter on."""

from services.records.case_documents import case_from_document, case_to_document
from services.records.domain import CaseRecord, DeidentifiedCopy
from tests.unit.records.test_domain import NOW, document, instance, opened


def stored(case: CaseRecord) -> CaseRecord:
    return case_from_document({**case_to_document(case), "case_id": case.case_id, "version": 3})


def test_a_case_reads_back_as_it_was_written() -> None:
    case = opened()
    case.add_document(document("mri-report"))
    case.add_instances("upload-1", [(instance("MR"), 10)])
    case.experts = {"expert-1": "assigned"}
    case.events_after_change(NOW)
    again = stored(case)
    assert again.revision == 3
    again.revision = case.revision
    assert again == case


def test_listings_filter_on_top_level_lists_of_experts_and_study_uids() -> None:
    case = opened()
    case.add_instances("upload-1", [(instance("MR", study="1.2.3"), 10)])
    case.add_copy("copy:9", copy_of("1.2.3", new_uid="9.9.9"))
    case.experts = {"expert-2": "offered", "expert-1": "assigned"}
    doc = case_to_document(case)
    assert doc["expert_ids"] == ["expert-1", "expert-2"]
    assert doc["study_uids"] == ["1.2.3", "9.9.9"]


def copy_of(source: str, *, new_uid: str) -> DeidentifiedCopy:
    return DeidentifiedCopy(
        source_study_uid=source,
        study_instance_uid=new_uid,
        retain_dates=False,
        modalities=("MR",),
        study_date=None,
        series_count=1,
        instance_count=1,
        size_bytes=10,
        created_by="staff-1",
        created_at=NOW,
    )
