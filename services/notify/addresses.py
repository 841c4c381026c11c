"""Where a delivery's recipient is reached, looked up when the message is sent.

Looking the address up at send time (not when the event is consumed) means a message for an
event that overtook the case's `case.submitted` (they travel on different topics) waits for
the address instead of being lost, and a corrected address is used from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from services.notify.domain.recipients import language_for
from services.notify.store import NotifyStore


class Address(NamedTuple):
    email: str | None
    # The template language, and the IANA zone dates are written in (None: UTC).
    language: str = "en"
    time_zone: str | None = None


@dataclass(frozen=True)
class AddressBook:
    store: NotifyStore
    staff_email: str
    expert_email_template: str | None = None

    async def lookup(self, case_id: str, recipient: str) -> Address:
        """Where and how to write to a recipient key such as `guardian` or `expert:ana`."""
        role, _, ref = recipient.partition(":")
        if role == "staff":
            return Address(self.staff_email)
        if role == "expert":
            known = await self.store.get_expert(ref)
            if known:
                return Address(str(known["email"]), language_for(known.get("language")))
            if self.expert_email_template:
                return Address(self.expert_email_template.format(expert_id=ref))
            return Address(None)
        contacts = await self.store.get_contacts(case_id) or {}
        if role == "guardian":
            return Address(
                contacts.get("guardian_email"),
                language_for(contacts.get("guardian_language")),
                contacts.get("guardian_time_zone"),
            )
        if role == "referring-physician":
            # English unless the physician said otherwise (the family's language is theirs).
            return Address(
                contacts.get("physician_email"),
                language_for(contacts.get("physician_language")),
                contacts.get("physician_time_zone"),
            )
        return Address(None)
