"""The link intake hands out is the one records accepts for uploads: a case-scoped role with
the case in `case_ids`, signed with the link key, expiring."""

from __future__ import annotations

import pytest

from services.intake.config import IntakeSettings
from services.intake.handlers import IntakeContext, issue_link, records_links
from services.intake.memory_store import InMemoryCaseStore
from services.records import access as records_access
from services.records.domain import DomainError as RecordsRefusal
from shared.auth import TokenIssuer, TokenVerifier


@pytest.mark.parametrize("role", ["guardian", "referring-physician"])
def test_records_lets_a_link_upload_to_its_case_only(
    issuer: TokenIssuer, verifier: TokenVerifier, role: str
) -> None:
    settings = IntakeSettings(records_public_url="https://records.example.org/", link_ttl_s=600)
    ctx = IntakeContext(store=InMemoryCaseStore(), settings=settings, links=issuer)
    link = issue_link(ctx, "case-7", role)  # type: ignore[arg-type]
    principal = verifier.verify(link.token)
    assert principal.role == role and principal.case_ids == frozenset({"case-7"})
    records_access.check_case_scope(principal, "upload", "case-7")
    records_access.check_case_scope(principal, "read-checklist", "case-7")
    with pytest.raises(RecordsRefusal) as stranger:
        records_access.check_case_scope(principal, "upload", "case-8")
    assert stranger.value.code == "not_found"
    links = records_links(ctx, "case-7")
    assert links.upload_url == "https://records.example.org/cases/case-7/documents"
