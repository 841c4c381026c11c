"""Who is asking: bearer tokens (JWT, RS256) checked on every route, and the roles they carry.

Production points `AUTH_JWKS_PATH` (or a JWKS file synced from the identity provider) at the
issuer's public keys. `make run` and the tests use `TokenIssuer`, which signs with a generated
key pair, so the same verification code runs everywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

import jwt
import uuid_utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ApiError

Role = Literal[
    "guardian",
    "referring-physician",
    "intake-staff",
    "expert",
    "partner",
    "hospital-system",
    "admin",
    "service",
    "compliance-officer",
]
STAFF_ROLES: frozenset[Role] = frozenset({"intake-staff", "admin"})
# Families and physicians hold case links: case-scoped tokens signed with the link key.
CASE_LINK_ROLES: frozenset[Role] = frozenset({"guardian", "referring-physician"})
# All the link key may sign: case links, and the partner tokens in report webhooks. Staff,
# experts, admins and hospital systems come from the identity provider, so a stolen link key
# (held by intake and notify) cannot mint a staff token. Its tokens are known by their key id.
LINK_KEY_ROLES: frozenset[Role] = CASE_LINK_ROLES | {"partner"}
LINK_KEY_ID_PREFIX = "link-"
LOCAL_ISSUER = "urn:second-opinion:local-issuer"


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    # Tokens from the identity provider and the platform's own case links may differ in issuer.
    issuers: list[str] = [LOCAL_ISSUER]
    audience: str = "second-opinion"
    jwks_path: Path | None = None
    # The key that signs case-scoped links for families and physicians (intake holds it).
    link_key_path: Path | None = None
    leeway_s: int = 30


class Principal(BaseModel):
    """The verified caller. `case_ids` limits case-scoped links to the cases they name."""

    model_config = ConfigDict(frozen=True)

    subject: str
    role: Role
    organization: str | None = None
    case_ids: frozenset[str] = frozenset()
    token_id: str
    # The token's `iat` (seconds since the epoch): a revocation ends the links issued before it.
    issued_at: int | None = None

    def may_see_case(self, case_id: str) -> bool:
        return not self.case_ids or case_id in self.case_ids

    @property
    def is_case_link(self) -> bool:
        return self.role in CASE_LINK_ROLES and bool(self.case_ids)


class TokenVerifier:
    """Checks signature, expiry, issuer and audience; any failure is a 401 that says which."""

    def __init__(
        self, *, jwks: dict[str, Any], issuers: list[str], audience: str, leeway_s: int = 30
    ) -> None:
        self._keys = {k["kid"]: jwt.PyJWK(k) for k in jwks.get("keys", [])}
        self._issuers = issuers
        self._audience = audience
        self._leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> TokenVerifier:
        if settings.jwks_path is None:
            raise RuntimeError("AUTH_JWKS_PATH is not set: no keys to verify tokens with")
        jwks = json.loads(settings.jwks_path.read_text())
        return cls(
            jwks=jwks,
            issuers=settings.issuers,
            audience=settings.audience,
            leeway_s=settings.leeway_s,
        )

    def verify(self, token: str) -> Principal:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            raise _unauthenticated("invalid_token", "the bearer token is malformed") from None
        key = self._keys.get(kid)
        if key is None:
            raise _unauthenticated("invalid_token", "the bearer token is signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                audience=self._audience,
                issuer=self._issuers,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("token_expired", "the bearer token has expired") from None
        except jwt.InvalidTokenError as exc:
            reason = type(exc).__name__
            raise _unauthenticated(
                "invalid_token", f"the bearer token is invalid ({reason})"
            ) from None
        try:
            principal = Principal(
                subject=claims["sub"],
                role=claims.get("role"),
                organization=claims.get("org"),
                case_ids=frozenset(claims.get("case_ids", [])),
                token_id=claims["jti"],
                issued_at=int(claims["iat"]),
            )
        except ValueError:
            raise _unauthenticated("invalid_token", "the bearer token has no valid role") from None
        return _check_link_key_role(str(kid), principal)


def _check_link_key_role(kid: str, principal: Principal) -> Principal:
    if kid.startswith(LINK_KEY_ID_PREFIX) and principal.role not in LINK_KEY_ROLES:
        raise _unauthenticated(
            "invalid_token", f"the case-link key cannot sign a {principal.role} token"
        )
    return principal


def _unauthenticated(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


class TokenIssuer:
    """Signs tokens with an RSA key: the platform's case links, and every token in `make run`
    and the tests (where it stands in for the identity provider)."""

    def __init__(
        self,
        *,
        private_key: rsa.RSAPrivateKey,
        key_id: str,
        issuer: str = LOCAL_ISSUER,
        audience: str = "second-opinion",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key_id = key_id
        self._private_key = private_key

    @classmethod
    def generate(
        cls, *, issuer: str = LOCAL_ISSUER, audience: str = "second-opinion"
    ) -> TokenIssuer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = f"local-{uuid_utils.uuid4().hex[:8]}"
        return cls(private_key=key, key_id=key_id, issuer=issuer, audience=audience)

    @classmethod
    def from_pem(
        cls,
        pem: bytes,
        *,
        issuer: str = LOCAL_ISSUER,
        audience: str = "second-opinion",
        key_id_prefix: str = LINK_KEY_ID_PREFIX,
    ) -> TokenIssuer:
        """The link key by default; `key_id_prefix="dev-idp-"` for the development stand-in
        for the identity provider, which may sign every role."""
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the link signing key must be an RSA private key")
        key_id = key_id_prefix + hashlib.sha256(pem).hexdigest()[:12]
        return cls(private_key=key, key_id=key_id, issuer=issuer, audience=audience)

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.key_id, "alg": "RS256", "use": "sig"}]}

    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def issue(
        self,
        *,
        subject: str,
        role: Role,
        organization: str | None = None,
        case_ids: Iterable[str] = (),
        ttl_s: int = 3600,
        issued_at: int | None = None,
    ) -> str:
        # A link reissued in the second its case's links were revoked says it is from the next.
        now = max(int(time.time()), issued_at or 0)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "iat": now,
            "exp": now + ttl_s,
            "jti": str(uuid_utils.uuid7()),
        }
        if organization:
            claims["org"] = organization
        if case_ids:
            claims["case_ids"] = sorted(case_ids)
        return jwt.encode(
            claims, self._private_key, algorithm="RS256", headers={"kid": self.key_id}
        )


class LinkRevocations(Protocol):
    """What the token check asks of the revocations every service reads (shared/revocations.py)."""

    @property
    def loaded(self) -> bool:
        """True once every revocation published before the service started has been read."""

    def not_before(self, case_id: str) -> int | None:
        """Links of this case issued (`iat`) before this second are revoked; None if none are."""


def check_link_not_revoked(principal: Principal, revocations: LinkRevocations) -> None:
    """Refuse a case link issued before a revocation of any case it names (staff tokens pass)."""
    if not principal.is_case_link:
        return
    if not revocations.loaded:
        raise ApiError(503, "revocations_loading", "case links are checked once this service is up")
    for case_id in principal.case_ids:
        cutoff = revocations.not_before(case_id)
        if cutoff is not None and (principal.issued_at is None or principal.issued_at < cutoff):
            raise _unauthenticated(
                "link_revoked", "this case link was revoked; ask the intake team for a new one"
            )


def principal_dependency(verifier: TokenVerifier) -> Callable[[Request], Principal]:
    """A FastAPI dependency that verifies the bearer token of every request it guards.

    A GET may carry the token as `?access_token=` instead (RFC 6750 section 2.3): the secure
    link in a family's email opens in a browser, which sends no Authorization header. Such
    links are case-scoped and short-lived, and no service logs query strings.

    A case link is also checked against the revocations `shared/runtime.py` reads for every
    service (`app.state.revoked_links`).
    """

    def current_principal(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header and request.method in ("GET", "HEAD"):
            scheme, token = "bearer", request.query_params.get("access_token", "")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", "send an Authorization: Bearer token")
        principal = verifier.verify(token.strip())
        # Set first, so the audit trail names the link even when it is refused as revoked.
        request.state.principal = principal
        revocations: LinkRevocations | None = getattr(request.app.state, "revoked_links", None)
        if revocations is not None:
            check_link_not_revoked(principal, revocations)
        return principal

    return current_principal


DEV_IDENTITY_KEY_ID_PREFIX = "dev-idp-"


def dev_identity_issuer(pem: bytes) -> TokenIssuer:
    """The development stand-in for the hospital's identity provider (`make run`, `make token`,
    the sign-in page's demo accounts): a key of its own, apart from the link key."""
    return TokenIssuer.from_pem(pem, key_id_prefix=DEV_IDENTITY_KEY_ID_PREFIX)


def provision_local_auth(directory: Path) -> dict[str, str]:
    """Create (once) the link key and a development identity-provider key, and the JWKS of
    both; returns the AUTH_ variables (and where the development identity key is)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = directory / "link-key.pem", directory / "jwks.json"
    identity_path = directory / "dev-identity-key.pem"
    for path in (key_path, identity_path):
        if not path.exists():
            path.write_bytes(TokenIssuer.generate().private_pem())
            path.chmod(0o600)
    keys = (
        TokenIssuer.from_pem(key_path.read_bytes()).jwks()["keys"]
        + dev_identity_issuer(identity_path.read_bytes()).jwks()["keys"]
    )
    jwks_path.write_text(json.dumps({"keys": keys}))
    return {
        "AUTH_JWKS_PATH": str(jwks_path),
        "AUTH_LINK_KEY_PATH": str(key_path),
        "AUTH_DEV_IDENTITY_KEY_PATH": str(identity_path),
    }


def main(argv: list[str]) -> int:
    """`python -m shared.auth token ROLE SUBJECT [ORG]`: a development token from the
    development identity key (`AUTH_DEV_IDENTITY_KEY_PATH`)."""
    if len(argv) < 4 or argv[1] != "token":
        print("usage: python -m shared.auth token ROLE SUBJECT [ORGANIZATION]", file=sys.stderr)
        return 2
    key_path = os.environ.get("AUTH_DEV_IDENTITY_KEY_PATH")
    if not key_path:
        print("AUTH_DEV_IDENTITY_KEY_PATH is not set", file=sys.stderr)
        return 2
    issuer = dev_identity_issuer(Path(key_path).read_bytes())
    organization = argv[4] if len(argv) > 4 else None
    role: Any = argv[2]
    print(issuer.issue(subject=argv[3], role=role, organization=organization, ttl_s=12 * 3600))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
