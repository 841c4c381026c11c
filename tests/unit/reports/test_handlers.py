"""The handlers with fakes behind the ports: redelivery, autosave, signing and storing."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from services.reports import handlers
from services.reports.domain import Conflict, Sections
from services.reports.handlers import ReportsContext
from services.reports.pdf import PdfRenderer
from services.reports.rendering import Letterhead
from shared.auth import Principal
from shared.consumer import Delivery
from shared.contracts import decode_payload
from shared.envelope import CloudEvent, Payload, make_event
from shared.objectstore import InMemoryObjectStore
from tests.unit.reports import factories
from tests.unit.reports.fakes import FakeReports

ANA = Principal(subject="ana", role="expert", token_id="t")


def delivery(payload: Payload) -> Delivery:
    case_id = getattr(payload, "case_id")  # noqa: B009
    event: CloudEvent = make_event(payload, source="/tests", subject=case_id)
    return Delivery(event, decode_payload(event), event.type, 0, 0)


@pytest.fixture
def ctx() -> ReportsContext:
    ticks = iter(range(1000))
    return ReportsContext(
        store=FakeReports(),
        objects=InMemoryObjectStore("reports"),
        renderer=PdfRenderer(kind="thread", workers=1),
        letterhead=Letterhead("Program", "Hospital"),
        clock=lambda: factories.NOW + timedelta(seconds=next(ticks)),
    )


async def open_case(ctx: ReportsContext, case_id: str = "case-0001") -> list[Delivery]:
    deliveries = [
        delivery(factories.case_submitted(case_id)),
        delivery(factories.records_ready(case_id)),
        delivery(factories.expert_assigned(case_id)),
    ]
    handle = handlers.consumer_handlers(ctx)
    for d in deliveries:
        await handle[d.event.type](d)
    return deliveries


async def test_redelivered_events_change_nothing(ctx: ReportsContext) -> None:
    deliveries = await open_case(ctx)
    store = ctx.store
    assert isinstance(store, FakeReports)
    saves = store.saves
    handle = handlers.consumer_handlers(ctx)
    for d in deliveries:
        await handle[d.event.type](d)
    assert store.saves == saves
    record = await store.get("case-0001")
    assert record is not None and record.draft is not None and record.draft.revision == 1


async def test_sign_stores_both_files_and_queues_report_issued(ctx: ReportsContext) -> None:
    await open_case(ctx)
    record = await ctx.store.get("case-0001")
    assert record is not None
    sections = Sections.model_validate(factories.complete_sections(record))
    await handlers.save_draft(
        ctx,
        principal=ANA,
        case_id="case-0001",
        expected_revision=1,
        changes=dict(sections),
        change_summary=None,
    )
    with pytest.raises(Conflict):
        await handlers.sign_report(ctx, principal=ANA, case_id="case-0001", expected_revision=1)
    signed = await handlers.sign_report(
        ctx, principal=ANA, case_id="case-0001", expected_revision=2
    )
    assert signed.status == "issued"
    store, objects = ctx.store, ctx.objects
    assert isinstance(store, FakeReports) and isinstance(objects, InMemoryObjectStore)
    (event,) = store.outbox
    assert event.type == "report.issued" and event.data["version"] == 1
    for kind in ("html", "pdf"):
        stored = event.data[kind]
        data, content_type = objects.objects[stored["key"]]
        assert hashlib.sha256(data).hexdigest() == stored["sha256"]
        assert content_type == stored["content_type"]
    assert len(objects.objects) == 2


async def test_a_physician_with_another_language_gets_a_copy_in_it(ctx: ReportsContext) -> None:
    case = factories.case_submitted("case-0002", language="fr-CA")
    physician = case.referring_physician.model_copy(
        update={"preferred_language": "es", "time_zone": "Europe/Madrid"}
    )
    guardian = case.guardian.model_copy(update={"time_zone": "America/Montreal"})
    handle = handlers.consumer_handlers(ctx)
    for payload in (
        case.model_copy(update={"referring_physician": physician, "guardian": guardian}),
        factories.records_ready("case-0002"),
        factories.expert_assigned("case-0002"),
    ):
        d = delivery(payload)
        await handle[d.event.type](d)
    record = await ctx.store.get("case-0002")
    assert record is not None
    sections = Sections.model_validate(factories.complete_sections(record))
    await handlers.save_draft(
        ctx,
        principal=ANA,
        case_id="case-0002",
        expected_revision=1,
        changes=dict(sections),
        change_summary=None,
    )
    signed = await handlers.sign_report(
        ctx, principal=ANA, case_id="case-0002", expected_revision=2
    )
    store, objects = ctx.store, ctx.objects
    assert isinstance(store, FakeReports) and isinstance(objects, InMemoryObjectStore)
    (event,) = store.outbox
    assert event.data["language"] == "fr"
    (rendition,) = event.data["renditions"]
    assert rendition["language"] == "es"
    assert len(objects.objects) == 4
    family_html = objects.objects[event.data["html"]["key"]][0].decode()
    physician_html = objects.objects[rendition["html"]["key"]][0].decode()
    assert "Rapport de deuxième avis à distance" in family_html
    assert "(America/Montreal)" in family_html
    assert "Informe de segunda opinión a distancia" in physician_html
    assert "(Europe/Madrid)" in physician_html
    latest = signed.latest
    assert latest is not None
    assert latest.file_for("es")[0] == "es" and latest.file_for(None)[0] == "fr"
