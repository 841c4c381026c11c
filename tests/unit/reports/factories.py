"""A realistic case and report for the reports tests: 5 questions, 3 trials, about 3 pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.reports import lifecycle
from services.reports.domain import ReportRecord
from shared.contracts import ExpertAssigned, RecordsReady
from shared.contracts.expert_assigned import ExpertRef
from shared.contracts.records_ready import (
    Completeness,
    Document,
    IdentityCheck,
    ImagingStudy,
    Waiver,
)
from tests.support import sample_case

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
LEAD = ExpertRef(expert_id="ana", display_name="Dr. Ana Ortega, MD", specialty="neuro-oncology")
SURGEON = ExpertRef(expert_id="ben", display_name="Dr. Ben Adler, MD", specialty="neurosurgery")
QUESTIONS = [
    "Is the diagnosis of WNT-activated medulloblastoma certain from the pathology we sent?",
    "Is proton therapy an option instead of photon radiation, and would it reduce late effects?",
    "Can the dose of craniospinal radiation be reduced for her risk group?",
    "Are there clinical trials she could join, here or abroad?",
    "What follow-up imaging and hearing tests should she have after treatment?",
]
TRIALS = [
    ("NCT02724579", "Reduced-dose craniospinal radiation for WNT medulloblastoma"),
    ("NCT01878617", "Risk-adapted therapy for newly diagnosed medulloblastoma (SJMB12)"),
    ("NCT04402073", "Proton versus photon craniospinal irradiation: neurocognitive outcomes"),
]


def case_submitted(case_id: str = "case-0001", language: str = "en", **changes: Any) -> Any:
    guardian = sample_case(case_id).guardian.model_copy(update={"preferred_language": language})
    return sample_case(case_id, questions=QUESTIONS, guardian=guardian, **changes)


def records_ready(case_id: str = "case-0001") -> RecordsReady:
    return RecordsReady(
        case_id=case_id,
        documents=[
            Document(
                document_id=f"doc-{n}",
                kind=kind,
                filename=name,
                content_type="application/pdf",
                size_bytes=1000,
                sha256="0" * 64,
                object_key=f"{case_id}/doc-{n}",
            )
            for n, (kind, name) in enumerate(
                [
                    ("pathology-report", "pathology-2026-10-02.pdf"),
                    ("operative-report", "resection-2026-09-28.pdf"),
                    ("discharge-summary", "discharge-2026-10-05.pdf"),
                ],
                1,
            )
        ],
        studies=[
            ImagingStudy(
                study_instance_uid="1.2.826.0.1.3680043.8.498.10101",
                modalities=["MR"],
                description="MRI brain and spine with contrast, pre-operative",
                study_date=date(2026, 9, 20),
                series_count=9,
                instance_count=812,
                size_bytes=400_000_000,
            ),
            ImagingStudy(
                study_instance_uid="1.2.826.0.1.3680043.8.498.20202",
                modalities=["MR"],
                description="MRI brain, post-operative day 2",
                study_date=date(2026, 9, 30),
                series_count=6,
                instance_count=420,
                size_bytes=200_000_000,
            ),
        ],
        completeness=Completeness(
            required=["pathology-report", "mri-imaging", "csf-cytology"],
            present=["pathology-report", "mri-imaging"],
            waived=[Waiver(item="csf-cytology", reason="not done before surgery", waived_by="s1")],
        ),
        identity_check=IdentityCheck(status="match"),
    )


def expert_assigned(case_id: str = "case-0001", *, team: bool = True) -> ExpertAssigned:
    return ExpertAssigned(
        case_id=case_id,
        assignment_id="asg-1",
        lead=LEAD,
        team=[LEAD, SURGEON] if team else [],
        board_id="neuro-onc-board" if team else None,
        urgency="routine",
        assigned_at=NOW,
        due_at=NOW + timedelta(days=9),
    )


def opened(case_id: str = "case-0001", language: str = "en", **changes: Any) -> ReportRecord:
    record = ReportRecord(case_id=case_id)
    record = lifecycle.case_submitted(record, case_submitted(case_id, language, **changes), NOW)
    record = lifecycle.records_ready(record, records_ready(case_id))
    return lifecycle.expert_assigned(record, expert_assigned(case_id), NOW)


LONG = (
    "The pre-operative MRI shows a 3.4 cm midline mass of the fourth ventricle with mild "
    "hydrocephalus and no leptomeningeal enhancement in the brain or spine. The post-operative "
    "study on day 2 shows a gross total resection with no residual enhancing tumour larger than "
    "1.5 cm². Pathology describes a classic medulloblastoma with nuclear beta-catenin "
    "accumulation; CTNNB1 sequencing confirms an exon 3 mutation and there is monosomy 6."
)


def complete_sections(record: ReportRecord, **overrides: Any) -> dict[str, Any]:
    """Every section filled in, as an autosave body would carry it."""
    assert record.facts is not None
    sections: dict[str, Any] = {
        "summary": f"{LONG}\n\nThe family asks five questions, answered below.",
        "diagnosis": {
            "concordance": "refined",
            "original_diagnosis": "Medulloblastoma, WNT-activated (M0)",
            "proposed_diagnosis": "Medulloblastoma, WNT-activated, classic histology, "
            "CTNNB1-mutant with monosomy 6, M0, gross total resection",
            "discussion": f"We agree with the diagnosis and refine it.\n\n{LONG}",
        },
        "treatment": {
            "plan_change": "modified",
            "recommendations": f"{LONG}\n\nWe recommend reduced-dose craniospinal irradiation "
            "(18 Gy) with a tumour-bed boost, preferably with protons, followed by maintenance "
            "chemotherapy as in the current plan.",
        },
        "trials": [
            {
                "nct_id": nct,
                "title": title,
                "why_it_may_fit": f"She meets the age and risk "
                f"criteria of this study. {LONG[:180]}",
            }
            for nct, title in TRIALS
        ],
        "answers": {
            q.question_id: f"{LONG[:260]}\n\nIn short: yes, and her team can discuss it with you."
            for q in record.facts.questions
        },
        "records_limitations": [
            {
                "item": "csf-cytology",
                "problem": "missing",
                "how_it_limits": "Without a lumbar CSF cytology 10-14 days after surgery the "
                "M-stage rests on imaging alone.",
            },
            {
                "item": "mri-imaging (spine)",
                "problem": "poor-quality",
                "how_it_limits": "Motion artefact in the lumbar spine series; a repeat is advised.",
            },
        ],
        "follow_up": [
            "Lumbar CSF cytology before radiation starts.",
            "MRI brain and spine every 3 months in the first year.",
            "Audiology before each cisplatin cycle.",
            "Endocrine and neurocognitive follow-up yearly.",
        ],
    }
    sections.update(overrides)
    return sections
