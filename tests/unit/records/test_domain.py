"""The case aggregate: checklist, waivers, identity, and records.ready exactly once."""

from datetime import UTC, date, datetime

import pytest

from services.records.domain import CaseRecord, DocumentEntry, DomainError
from services.records.identity import DicomPatient
from services.records.imaging import InstanceHeader
from shared.contracts import RecordsReady, RecordsUpdated
from tests.support import sample_case

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MATCHING = DicomPatient("QUINTEROFAKE^AMELIA", "20160409", "MRN-77-1234")


def opened(specialty: str = "neuro-oncology") -> CaseRecord:
    case = CaseRecord("case-1")
    case.submit(sample_case("case-1", specialty=specialty))
    return case


def document(kind: str, sha: str = "a" * 64) -> DocumentEntry:
    return DocumentEntry("d-" + kind, kind, "f.pdf", "application/pdf", 3, sha, "k", "u", NOW)


def instance(
    modality: str, patient: DicomPatient = MATCHING, study: str = "1.2.3"
) -> InstanceHeader:
    return InstanceHeader(
        sop_instance_uid=f"{study}.{modality}.1",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
        study_instance_uid=study,
        series_instance_uid=f"{study}.{modality}",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        modality=modality,
        study_date=date(2026, 10, 1),
        patient=patient,
    )


def test_a_submitted_case_opens_its_checklist_with_the_questions_present() -> None:
    checklist = opened().checklist()
    assert checklist.present == ["family-questions"]
    assert checklist.missing == [
        "mri-imaging", "pathology-report", "treatment-records", "current-medications"
    ]  # fmt: skip


def test_imaging_counts_for_the_item_of_its_modality() -> None:
    case = opened()
    case.add_instances("u1", [(instance("MR"), 100), (instance("CT"), 50)])
    checklist = case.checklist()
    assert {"mri-imaging", "ct-imaging"} <= set(checklist.present)
    study = case.studies["1.2.3"]
    assert (study.modalities, len(study.series), study.instance_count, study.size_bytes) == (
        ["CT", "MR"], 2, 2, 150
    )  # fmt: skip


def test_records_ready_goes_out_once_when_nothing_is_missing() -> None:
    case = opened()
    case.add_instances("u1", [(instance("MR"), 100)])
    for kind in ("pathology-report", "treatment-records"):
        case.add_document(document(kind))
        events = case.events_after_change(NOW)
        assert [type(e) for e in events] == [RecordsUpdated]
    assert case.waive("current-medications", "none taken", "staff-1", NOW)
    events = case.events_after_change(NOW)
    assert [type(e) for e in events] == [RecordsUpdated, RecordsReady]
    ready = events[1]
    assert isinstance(ready, RecordsReady)
    assert ready.completeness.waived[0].item == "current-medications"
    assert ready.identity_check.status == "match"
    assert [s.modalities for s in ready.studies] == [["MR"]]
    case.add_document(document("lab-results", "b" * 64))
    assert [type(e) for e in case.events_after_change(NOW)] == [RecordsUpdated]


def test_a_mismatch_is_flagged_with_field_names_and_still_allows_ready() -> None:
    case = opened("not-sure")
    case.add_instances("u1", [(instance("CT", DicomPatient("DOE^JANE", "20160409")), 10)])
    assert case.identity_check() == ("mismatch", ["PatientName"])
    case.add_document(document("discharge-summaries"))
    case.add_document(document("current-medications", "c" * 64))
    ready = case.events_after_change(NOW)[-1]
    assert isinstance(ready, RecordsReady)
    assert ready.identity_check.status == "mismatch"
    assert ready.identity_check.findings == ["PatientName"]


def test_waivers_only_for_missing_required_items() -> None:
    case = opened()
    with pytest.raises(DomainError) as not_required:
        case.waive("lab-results", "n/a", "s", NOW)
    assert not_required.value.code == "not_required"
    with pytest.raises(DomainError) as present:
        case.waive("family-questions", "n/a", "s", NOW)
    assert present.value.code == "already_present"
    assert case.waive("pathology-report", "not done yet", "s", NOW)
    assert not case.waive("pathology-report", "again", "s", NOW)
    assert case.checklist().waived == ["pathology-report"]


def test_a_cancelled_case_takes_nothing_and_on_hold_is_fine() -> None:
    case = opened()
    case.update_status("on-hold", "neuro-oncology")
    case.add_document(document("pathology-report"))
    case.update_status("cancelled", "neuro-oncology")
    with pytest.raises(DomainError) as closed:
        case.add_document(document("treatment-records"))
    assert closed.value.code == "case_closed"


def test_triage_to_another_specialty_replaces_the_rule_set() -> None:
    case = opened("not-sure")
    assert case.update_status("open", "hematology")
    assert "biopsy-slides" in case.checklist().missing


def test_a_specialty_from_triage_survives_a_late_submission() -> None:
    case = CaseRecord("case-1")
    case.update_status("open", "oncology")  # case.updated processed first
    case.submit(sample_case("case-1", specialty="not-sure"))
    assert case.specialty == "oncology"
