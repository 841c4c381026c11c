"""What a partner needs to fetch the report a webhook announces.

A `report.issued` event names the report's files by internal storage (`bucket`, `key`) that a
partner cannot reach, so the webhook body carries CloudEvents extension attributes with the
reports API's URLs for this version and a bearer token scoped to this one case and role
`partner`, expiring soon. The token is minted for each try and lives only in the POST: it is
never stored or logged (the stored body has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from shared.auth import TokenIssuer
from shared.mongo import Document


@dataclass(frozen=True)
class PartnerReportLinks:
    reports_url: str  # the reports API as partners reach it
    issuer: TokenIssuer
    ttl_s: int

    def attach(self, body: bytes, partner: Document, now: datetime) -> bytes:
        """The webhook body with the report's URLs and token added (other events unchanged)."""
        event: dict[str, Any] = orjson.loads(body)
        if event.get("type") != "report.issued":
            return body
        data = event.get("data") or {}
        case_id, version = str(data["case_id"]), int(data["version"])
        base = f"{self.reports_url.rstrip('/')}"
        version_url = f"{base}/cases/{case_id}/report/versions/{version}"
        token = self.issuer.issue(
            subject=str(partner["_id"]),
            role="partner",
            organization=partner.get("organization_id"),
            case_ids=[case_id],
            ttl_s=self.ttl_s,
        )
        expires = now + timedelta(seconds=self.ttl_s)
        event.update(
            reportpdfurl=f"{version_url}/report.pdf",
            reporthtmlurl=f"{version_url}/report.html",
            reportfhirurl=f"{base}/fhir/DiagnosticReport/{data['report_id']}",
            reporttoken=token,
            reporttokenexpires=expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return orjson.dumps(event)
