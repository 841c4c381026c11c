"""An in-memory stand-in for NotifyStore, enough for the handlers and the dispatcher."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.notify.domain.facts import EventFacts
from services.notify.domain.timeline import CaseTimeline, derive
from services.notify.store import RETIRED


class FakeNotifyStore:
    def __init__(self) -> None:
        self.events: dict[str, EventFacts] = {}
        self.cases: dict[str, CaseTimeline] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.experts: dict[str, dict[str, Any]] = {}
        self.deliveries: dict[str, dict[str, Any]] = {}
        self.claims: set[str] = set()
        self.partners: dict[str, dict[str, Any]] = {}
        self.shares: set[tuple[str, str]] = set()
        self.deferred: dict[str, tuple[str, str]] = {}

    async def add_to_timeline(self, facts: EventFacts) -> CaseTimeline:
        if facts.event_id not in self.events:
            self.events[facts.event_id] = facts
            known = [e for e in self.events.values() if e.case_id == facts.case_id]
            self.cases[facts.case_id] = derive(facts.case_id, known)
        return self.cases[facts.case_id]

    async def get_timeline(self, case_id: str) -> CaseTimeline | None:
        return self.cases.get(case_id)

    async def put_contacts(self, case_id: str, contacts: Mapping[str, Any]) -> None:
        self.contacts[case_id] = dict(contacts)

    async def get_contacts(self, case_id: str) -> dict[str, Any] | None:
        return self.contacts.get(case_id)

    async def get_expert(self, expert_id: str) -> dict[str, Any] | None:
        return self.experts.get(expert_id)

    async def add_delivery(self, doc: dict[str, Any]) -> bool:
        if doc["_id"] in self.deliveries:
            return False
        self.deliveries[doc["_id"]] = {**doc, "history": list(doc.get("history", []))}
        return True

    async def due_deliveries(
        self, *, now: datetime, busy_targets: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        due = [
            dict(d)
            for d in self.deliveries.values()
            if d["status"] == "pending"
            and d["next_attempt_at"] <= now
            and d["target"] not in busy_targets
        ]
        return sorted(due, key=lambda d: d["next_attempt_at"])[:limit]

    async def claim(self, delivery_id: str, attempt: int, now: datetime) -> bool:
        key = f"{delivery_id}#{attempt}"
        if key in self.claims:
            return False
        self.claims.add(key)
        return True

    async def update_delivery(
        self, delivery_id: str, changes: Mapping[str, Any], note: Mapping[str, Any] | None = None
    ) -> None:
        doc = self.deliveries[delivery_id]
        doc.update(changes)
        if note is not None:
            doc["history"].append(dict(note))

    async def lost_sends(self, now: datetime) -> list[dict[str, Any]]:
        return [
            dict(d)
            for d in self.deliveries.values()
            if d["status"] == "sending" and d["lease_until"] <= now
        ]

    async def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        return self.deliveries.get(delivery_id)

    async def list_deliveries(self, query: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        found = [
            d for d in self.deliveries.values() if all(d.get(k) == v for k, v in query.items())
        ]
        return sorted(found, key=lambda d: d["created_at"], reverse=True)[:limit]

    async def add_partner(self, doc: dict[str, Any]) -> None:
        assert doc["_id"] not in self.partners, "duplicate key"
        self.partners[doc["_id"]] = dict(doc)

    async def list_partners(self) -> list[dict[str, Any]]:
        return [self.partners[k] for k in sorted(self.partners)]

    async def get_partner(self, partner_id: str) -> dict[str, Any] | None:
        return self.partners.get(partner_id)

    async def set_partner(self, partner_id: str, changes: Mapping[str, Any]) -> None:
        if partner_id in self.partners:
            self.partners[partner_id].update(changes)

    async def change_partner(
        self, partner_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        await self.set_partner(partner_id, changes)
        found = self.partners.get(partner_id)
        return dict(found) if found is not None else None

    async def delete_partner(self, partner_id: str) -> bool:
        return self.partners.pop(partner_id, None) is not None

    async def share(self, partner_id: str, case_id: str, at: datetime) -> None:
        self.shares.add((partner_id, case_id))

    async def remove_shares(self, partner_id: str) -> None:
        self.shares = {(p, c) for p, c in self.shares if p != partner_id}

    async def retire_webhooks(
        self, partner_id: str, *, at: datetime, error: Mapping[str, str], note: Mapping[str, Any]
    ) -> None:
        retired = {"partner_id": f"{partner_id}{RETIRED}", "partner_removed_at": at}
        for doc in self.deliveries.values():
            if doc.get("partner_id") != partner_id:
                continue
            if doc["status"] == "pending":
                doc.update(status="skipped", last_error=dict(error))
                doc["history"].append(dict(note))
            doc.update(retired)

    async def partners_for(self, event_type: str) -> list[dict[str, Any]]:
        return [
            p
            for p in self.partners.values()
            if event_type in p["event_types"] and p["status"] == "active"
        ]

    async def is_shared(self, partner_id: str, case_id: str) -> bool:
        return (partner_id, case_id) in self.shares

    async def defer(self, event_id: str, case_id: str, body: str) -> None:
        self.deferred[event_id] = (case_id, body)

    async def take_deferred(self, case_id: str) -> list[str]:
        found = [k for k, (c, _) in self.deferred.items() if c == case_id]
        return [self.deferred.pop(k)[1] for k in found]
