"""The case-link key (held by intake and notify) signs only family, physician and partner
tokens: a stolen link key cannot mint a staff, expert, admin or hospital token. Staff come
from the identity provider, which `make run` stands in for with a key of its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.auth import (
    LINK_KEY_ROLES,
    TokenIssuer,
    TokenVerifier,
    dev_identity_issuer,
    provision_local_auth,
)
from shared.errors import ApiError


def verifier_for(*issuers: TokenIssuer) -> TokenVerifier:
    keys = [key for issuer in issuers for key in issuer.jwks()["keys"]]
    return TokenVerifier(
        jwks={"keys": keys}, issuers=[issuers[0].issuer], audience=issuers[0].audience
    )


def test_the_link_key_signs_case_links_and_partner_tokens_only() -> None:
    link = TokenIssuer.from_pem(TokenIssuer.generate().private_pem())
    verifier = verifier_for(link)
    for role in sorted(LINK_KEY_ROLES):
        assert verifier.verify(link.issue(subject="s", role=role, case_ids=["c-1"])).role == role
    for role in ("intake-staff", "expert", "admin", "hospital-system", "service"):
        with pytest.raises(ApiError) as refused:
            verifier.verify(link.issue(subject="s", role=role))  # type: ignore[arg-type]
        assert (refused.value.status, refused.value.code) == (401, "invalid_token")
        assert role in refused.value.message


def test_make_runs_identity_key_signs_staff_and_both_keys_are_published(tmp_path: Path) -> None:
    env = provision_local_auth(tmp_path)
    again = provision_local_auth(tmp_path)  # a second start keeps the keys
    assert again == env
    link = TokenIssuer.from_pem(Path(env["AUTH_LINK_KEY_PATH"]).read_bytes())
    identity = dev_identity_issuer(Path(env["AUTH_DEV_IDENTITY_KEY_PATH"]).read_bytes())
    jwks = json.loads(Path(env["AUTH_JWKS_PATH"]).read_text())
    assert {k["kid"] for k in jwks["keys"]} == {link.key_id, identity.key_id}
    verifier = TokenVerifier(jwks=jwks, issuers=[link.issuer], audience=link.audience)
    assert verifier.verify(identity.issue(subject="staff-1", role="intake-staff")).role == (
        "intake-staff"
    )
    assert verifier.verify(link.issue(subject="g", role="guardian", case_ids=["c"])).case_ids
    with pytest.raises(ApiError):
        verifier.verify(link.issue(subject="staff-1", role="intake-staff"))
