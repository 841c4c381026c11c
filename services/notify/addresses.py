"""Where a delivery's recipient is reached, looked up when the message is sent.

Looking the address up at send time (not when the event is consumed) means a message for an
event that overtook the case's `case.submitted` (they travel on different topics) waits for
the address instead of being lost, and a corrected address is used from then on.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain.recipients import language_for
from services.notify.store import NotifyStore


@dataclass(frozen=True)
class AddressBook:
    store: NotifyStore
    staff_email: str
    expert_email_template: str | None = None

    async def lookup(self, case_id: str, recipient: str) -> tuple[str | None, str]:
        """(address, template language) of a recipient key such as `guardian` or `expert:ana`."""
        role, _, ref = recipient.partition(":")
        if role == "staff":
            return self.staff_email, "en"
        if role == "expert":
            known = await self.store.get_expert(ref)
            if known:
                return str(known["email"]), language_for(known.get("language"))
            if self.expert_email_template:
                return self.expert_email_template.format(expert_id=ref), "en"
            return None, "en"
        contacts = await self.store.get_contacts(case_id) or {}
        if role == "guardian":
            return contacts.get("guardian_email"), language_for(contacts.get("guardian_language"))
        if role == "referring-physician":
            return contacts.get("physician_email"), "en"
        return None, "en"
