"""Admin commands on a partner's feed: turn it off, give it a new signing secret, remove it.

The dispatcher reads the partner when it sends each try, so all three take effect at once: a
disabled or removed partner gets no further try (`partner_inactive`), and a new secret signs
every try from then on, retries and replays of older deliveries included.
"""

from __future__ import annotations

import logging
from datetime import datetime

from services.notify.domain.deliveries import new_webhook_secret
from services.notify.store import NotifyStore
from shared.mongo import Document

log = logging.getLogger(__name__)

# What a partner half-removed (the process stopped midway) shows; DELETE again finishes it.
REMOVING = "removing"


async def disable_partner(*, store: NotifyStore, partner_id: str, reason: str) -> Document | None:
    """Stop a partner's feed (the state a 410 Gone leaves too); None if there is no partner."""
    found = await store.change_partner(
        partner_id, {"status": "disabled", "disabled_reason": reason}
    )
    if found is not None:
        log.info("partner disabled", extra={"partner_id": partner_id})
    return found


async def rotate_secret(*, store: NotifyStore, partner_id: str) -> Document | None:
    """Give a partner a new signing secret (in the answer only); None if there is no partner."""
    found = await store.change_partner(partner_id, {"secret": new_webhook_secret()})
    if found is not None:
        log.info("partner secret rotated", extra={"partner_id": partner_id})
    return found


async def remove_partner(*, store: NotifyStore, partner_id: str, now: datetime) -> bool:
    """Remove a partner and its shares; its log stays, pending deliveries skipped."""
    # Disabled first, so nothing new is planned or sent while the rest is cleared away.
    changes = {"status": "disabled", "disabled_reason": REMOVING}
    if await store.change_partner(partner_id, changes) is None:
        return False
    await store.remove_shares(partner_id)
    error = {"code": "partner_removed", "detail": "the partner was removed"}
    note = {"at": now, "attempt": 0, "outcome": "skipped", "code": "partner_removed"}
    await store.retire_webhooks(partner_id, at=now, error=error, note=note)
    removed = await store.delete_partner(partner_id)
    if removed:
        log.info("partner removed", extra={"partner_id": partner_id})
    return removed
