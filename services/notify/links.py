"""The links an email shows, chosen by who it is for.

Families and physicians do not sign in: their links open the web case page with a fresh
case-scoped token. Intake staff and experts sign in, so their links carry no token.
"""

from __future__ import annotations

import string
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notify.domain.zones import local_time
from shared.auth import Role, TokenIssuer
from shared.mongo import Document


def placeholders(template: str) -> set[str]:
    """The `{names}` a link template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@dataclass(frozen=True)
class Links:
    case_template: str
    report_template: str
    staff_case_template: str
    expert_case_template: str
    expert_offers_link: str
    issuer: TokenIssuer | None
    ttl_s: int

    def __post_init__(self) -> None:
        # A typo in a setting fails at start, not on every email; signed-in pages get no token.
        family = {"case_id", "token"}
        allowed = {
            "case_template": family,
            "report_template": family | {"report_id"},
            "staff_case_template": {"case_id"},
            "expert_case_template": {"case_id"},
            "expert_offers_link": {"case_id"},
        }
        for name, names in allowed.items():
            unknown = placeholders(getattr(self, name)) - names
            if unknown:
                raise ValueError(f"the {name} may use {sorted(names)}, not {sorted(unknown)}")

    def params(self, doc: Document, now: datetime, shown: Collection[str]) -> dict[str, Any] | None:
        """The links among `shown` (the names the email's template uses) for its recipient;
        None when one needs a token and no link key is configured."""
        case_id = str(doc["case_id"])
        role = str(doc["recipient"]).partition(":")[0]
        params: dict[str, Any] = {"case_id": case_id}
        pages = {
            name: template
            for name, template in self._pages(role, str(doc.get("template"))).items()
            if name in shown
        }
        token = None
        if any("token" in placeholders(template) for template in pages.values()):
            if self.issuer is None:
                return None
            link_role: Role = "guardian" if role == "guardian" else "referring-physician"
            token = self.issuer.issue(
                subject=f"{link_role}:{case_id}",
                role=link_role,
                case_ids=[case_id],
                ttl_s=self.ttl_s,
            )
            expires = now + timedelta(seconds=self.ttl_s)
            params["link_expires"] = local_time(expires, doc.get("time_zone"))
        report_id = doc.get("params", {}).get("report_id", "")
        for name, template in pages.items():
            params[name] = template.format(case_id=case_id, report_id=report_id, token=token)
        return params

    def _pages(self, role: str, template: str) -> dict[str, str]:
        if role == "staff":
            return {"case_link": self.staff_case_template}
        if role == "expert" and template == "offer-made":
            return {"case_link": self.expert_offers_link}
        if role == "expert":
            return {"case_link": self.expert_case_template}
        return {"case_link": self.case_template, "report_link": self.report_template}
