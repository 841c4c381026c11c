"""What every `CaseStore` must do, run against the in-memory fake (unit) and MongoDB/FerretDB
(integration): versions are insert-only compare-and-set, claims and milestones insert-first."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from services.intake import domain
from services.intake.domain import CaseFilter, CaseRecord
from services.intake.progress import Milestone
from services.intake.store import CaseStore
from shared.contracts.common import Actor
from shared.envelope import make_event
from tests.support import sample_case

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STAFF = Actor(subject="staff-1", role="intake-staff")


def new_case(case_id: str, minutes: int = 0, **changes: object) -> CaseRecord:
    return CaseRecord.new(sample_case(case_id, **changes), at=T0 + timedelta(minutes=minutes))


class CaseStoreContract:
    """Subclasses provide a `store` fixture."""

    async def test_versions_are_compare_and_set(self, store: CaseStore) -> None:
        case = new_case("c-1")
        event = make_event(case.submission, source="/t", subject="c-1")
        assert await store.save_case(case, [event])
        assert not await store.save_case(case, [event])  # version 1 exists
        loaded = await store.get_case("c-1")
        assert (
            loaded is not None
            and loaded.version == 1
            and loaded == case.model_copy(update={"version": 1})
        )
        held = domain.put_on_hold(loaded, actor=STAFF, reason="wait", at=T0).record
        results = await asyncio.gather(*(store.save_case(held, []) for _ in range(5)))
        assert sorted(bool(r) for r in results) == [False, False, False, False, True]
        latest = await store.get_case("c-1")
        assert latest is not None and latest.version == 2 and latest.status == "on-hold"
        assert await store.get_case("nope") is None

    async def test_claims_keep_the_first_owner(self, store: CaseStore) -> None:
        first = await store.claim("request/org/1", case_id="a", digest="x")
        again = await store.claim("request/org/1", case_id="b", digest="y")
        assert (first["case_id"], first["digest"]) == ("a", "x")
        assert (again["case_id"], again["digest"]) == ("a", "x")
        claims = await asyncio.gather(*(store.claim("k", case_id=str(n)) for n in range(5)))
        assert len({c["case_id"] for c in claims}) == 1

    async def test_milestones_are_kept_once_per_event(self, store: CaseStore) -> None:
        milestone = Milestone("e-1", "expert.assigned", T0, {})
        assert await store.add_milestone("c-1", milestone)
        assert not await store.add_milestone("c-1", milestone)
        await store.add_milestone("c-2", Milestone("e-2", "report.issued", T0, {"version": 1}))
        assert await store.milestones_of("c-1") == [milestone]
        found = await store.milestones_of_cases(["c-1", "c-2", "c-3"])
        assert sorted(found) == ["c-1", "c-2"] and found["c-1"] == [milestone]

    async def test_the_list_filters_on_each_cases_latest_version(self, store: CaseStore) -> None:
        today = date(2026, 11, 23)
        baby = sample_case().patient.model_copy(update={"date_of_birth": date(2026, 3, 1)})
        for case in (
            new_case("old", 0),
            new_case("urgent", 1, urgency="urgent"),
            new_case("baby", 2, patient=baby),
        ):
            assert await store.save_case(case, [])
        old = await store.get_case("old")
        assert old is not None
        assert await store.save_case(
            domain.cancel(old, actor=STAFF, reason="dup", at=T0).record, []
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
