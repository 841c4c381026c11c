"""A partner event that overtakes the case's submission (another topic, handled concurrently)
is sent once the submission arrives, however the two handlers interleave."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from services.notify.handlers import NotifyContext, on_case_event
from services.notify.store import NotifyStore
from shared.consumer import Delivery
from shared.contracts import decode_payload
from shared.envelope import CloudEvent
from tests.unit.notify.fakes import FakeNotifyStore
from tests.unit.notify.test_partner_admin import issued, submitted


def delivery(event: CloudEvent) -> Delivery:
    return Delivery(event, decode_payload(event), event.type, 0, 0)


class SubmissionLandsWhileDeferring(FakeNotifyStore):
    """The submission's handler runs to the end between the report handler's look at the
    timeline (no submission yet) and its keeping of the report for later."""

    def __init__(self) -> None:
        super().__init__()
        self.between: CloudEvent | None = None
        self.ctx: NotifyContext | None = None

    async def defer(self, event_id: str, case_id: str, body: str) -> None:
        if self.between is not None and self.ctx is not None:
            event, self.between = self.between, None
            await on_case_event(delivery(event), ctx=self.ctx)
        await super().defer(event_id, case_id, body)


async def test_a_report_deferred_while_its_submission_lands_still_reaches_the_partner() -> None:
    fake = SubmissionLandsWhileDeferring()
    now = datetime.now(UTC)
    await fake.add_partner(
        {
            "_id": "valley",
            "organization_id": "org-valley",
            "url": "https://partner.test/hook",
            "secret": "whsec_x",
            "event_types": ["report.issued"],
            "status": "active",
            "created_at": now,
        }
    )
    ctx = NotifyContext(store=cast(NotifyStore, fake), clock=lambda: datetime.now(UTC))
    fake.ctx, fake.between = ctx, submitted("c-race")

    await on_case_event(delivery(issued("c-race")), ctx=ctx)

    webhooks = [d for d in fake.deliveries.values() if d["channel"] == "webhook"]
    assert [d["case_id"] for d in webhooks] == ["c-race"]
    assert fake.deferred == {}
