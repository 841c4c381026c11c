"""What every `CaseStore` must do, run against the in-memory fake (unit) and MongoDB/FerretDB
(integration): a change is read-decide-write with no lost update, claims and milestones
insert-first."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from services.intake import domain
from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from services.intake.store import CaseStore
from shared.contracts import HospitalCaseOutcome
from shared.contracts.common import Actor
from shared.envelope import CloudEvent, make_event
from tests.support import sample_case

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STAFF = Actor(subject="staff-1", role="intake-staff")


def accepted_outcome(submission_id: str) -> HospitalCaseOutcome:
    return HospitalCaseOutcome(
        organization_id="org-n",
        submission_id=submission_id,
        submitted_case_id="c-1",
        outcome="accepted",
        accepted_case_id="c-1",
    )


def new_case(case_id: str, minutes: int = 0, **changes: object) -> CaseRecord:
    return CaseRecord.new(sample_case(case_id, **changes), at=T0 + timedelta(minutes=minutes))


class CaseStoreContract:
    """Subclasses provide a `store` fixture."""

    async def test_a_change_decides_on_the_case_as_it_stands(self, store: CaseStore) -> None:
        case = new_case("c-1")
        event = make_event(case.submission, source="/t", subject="c-1")
        opened = await store.change_case("c-1", lambda known: None if known else (case, [event]))
        assert opened.written and opened.record == case.model_copy(update={"version": 1})
        again = await store.change_case("c-1", lambda known: None if known else (case, [event]))
        assert not again.written and again.record == opened.record
        loaded = await store.get_case("c-1")
        assert loaded == opened.record
        assert await store.get_case("nope") is None

    async def test_concurrent_changes_are_all_kept(self, store: CaseStore) -> None:
        await store.change_case("c-1", lambda _: (new_case("c-1"), []))

        def add_note(known: CaseRecord | None) -> tuple[CaseRecord, list[CloudEvent]]:
            assert known is not None
            n = len(known.notes)
            note = domain.add_note(
                known, note_id=f"n{n}", text="called", channel="phone", actor=STAFF, at=T0
            )
            return note.record, []

        await asyncio.gather(*(store.change_case("c-1", add_note) for _ in range(5)))
        latest = await store.get_case("c-1")
        assert latest is not None and latest.version == 6 and len(latest.notes) == 5

    async def test_claims_keep_the_first_owner(self, store: CaseStore) -> None:
        first = await store.claim("request/org/1", case_id="a", digest="x")
        again = await store.claim("request/org/1", case_id="b", digest="y")
        assert (first["case_id"], first["digest"]) == ("a", "x")
        assert (again["case_id"], again["digest"]) == ("a", "x")
        claims = await asyncio.gather(*(store.claim("k", case_id=str(n)) for n in range(5)))
        assert len({c["case_id"] for c in claims}) == 1

    async def test_a_submission_is_answered_once(self, store: CaseStore) -> None:
        answer = make_event(accepted_outcome("e-1"), source="/t", subject="org-n")
        assert await store.answer_submission("e-1", answer)
        again = make_event(accepted_outcome("e-1"), source="/t", subject="org-n")
        assert not await store.answer_submission("e-1", again)
        both = await asyncio.gather(
            *(
                store.answer_submission(
                    "e-2", make_event(accepted_outcome("e-2"), source="/t", subject="org-n")
                )
                for _ in range(4)
            )
        )
        assert sorted(both) == [False, False, False, True]

    async def test_milestones_are_kept_once_per_event(self, store: CaseStore) -> None:
        milestone = Milestone("e-1", "expert.assigned", T0, {})
        assert await store.add_milestone("c-1", milestone)
        assert not await store.add_milestone("c-1", milestone)
        await store.add_milestone("c-2", Milestone("e-2", "report.issued", T0, {"version": 1}))
        assert await store.milestones_of("c-1") == [milestone]
        found = await store.milestones_of_cases(["c-1", "c-2", "c-3"])
        assert sorted(found) == ["c-1", "c-2"] and found["c-1"] == [milestone]

    async def test_closed_cases_are_the_retention_sweeps_candidates(self, store: CaseStore) -> None:
        cancelled = domain.cancel(new_case("c-1"), actor=STAFF, reason="r", at=T0).record
        for record in (cancelled, new_case("c-2"), new_case("c-3")):
            await store.change_case(record.case_id, lambda _, r=record: (r, []))
        issued = T0 + timedelta(days=3)
        await store.add_milestone("c-2", Milestone("e-9", "report.issued", issued, {}))
        closed = dict(await store.closed_cases(limit=100))
        assert closed == {"c-1": T0, "c-2": issued}

    async def test_the_list_filters_and_pages_exactly(self, store: CaseStore) -> None:
        today = date(2026, 11, 23)
        baby = sample_case().patient.model_copy(update={"date_of_birth": date(2026, 3, 1)})
        for case in (
            new_case("old", 0),
            new_case("urgent", 1, urgency="urgent"),
            new_case("baby", 2, patient=baby),
        ):
            await store.change_case(case.case_id, lambda _, c=case: (c, []))  # type: ignore[misc]
        await store.change_case(
            "old",
            lambda old: (domain.cancel(old, actor=STAFF, reason="dup", at=T0).record, []),  # type: ignore[arg-type]
        )

        async def ids(case_filter: CaseFilter, limit: int = 10, offset: int = 0) -> list[str]:
            found = await store.list_cases(case_filter, today=today, limit=limit, offset=offset)
            return [r.case_id for r in found]

        assert await ids(CaseFilter()) == ["baby", "urgent", "old"]
        assert await ids(CaseFilter.of(statuses=("open",))) == ["baby", "urgent"]
        assert await ids(CaseFilter.of(statuses=("cancelled",))) == ["old"]
        assert await ids(CaseFilter.of(urgencies=("urgent",))) == ["urgent"]
        assert await ids(CaseFilter.of(age_band="infant")) == ["baby"]
        assert await ids(CaseFilter.of(min_age=5)) == ["urgent", "old"]
        assert await ids(CaseFilter(), limit=1, offset=1) == ["urgent"]
