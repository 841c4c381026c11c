"""Who is using the browser: the token in an HttpOnly cookie, and CSRF tokens for the forms.

Staff, experts and admins sign in with a token from the identity provider (today's RS256
tokens; an OIDC code flow would hand the same token over). Families and physicians arrive by
their case link (`/c/{case}?access_token=`), which becomes the same cookie and leaves the
address bar. The cookie is `SameSite=Lax` so an email's link signs the person in, and every
form carries a CSRF token bound to the session (an HMAC of the token's id), which a cross-site
form cannot know. The web service only reads the token to choose pages: each service verifies
it again, and a revoked case link is refused by the service and ends the browser session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from fastapi import Request, Response

from shared.auth import Principal, TokenVerifier
from shared.errors import ApiError

COOKIE = "sop_session"
LANGUAGE_COOKIE = "sop_lang"
TIME_ZONE_COOKIE = "sop_tz"
SESSION_MAX_S = 12 * 3600


@dataclass(frozen=True)
class Person:
    principal: Principal
    token: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def subject(self) -> str:
        return self.principal.subject


class Sessions:
    def __init__(self, verifier: TokenVerifier, *, secret: str, secure: bool) -> None:
        self._verifier = verifier
        self._secret = (secret or secrets.token_hex(32)).encode()
        self._secure = secure

    def person(self, request: Request) -> Person | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return Person(self._verifier.verify(token), token)
        except ApiError:
            return None

    def verify(self, token: str) -> Person | None:
        try:
            return Person(self._verifier.verify(token.strip()), token.strip())
        except ApiError:
            return None

    def start(self, response: Response, person: Person) -> None:
        expires = int(jwt.decode(person.token, options={"verify_signature": False})["exp"])
        response.set_cookie(
            COOKIE,
            person.token,
            max_age=max(0, min(expires - int(time.time()), SESSION_MAX_S)),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def end(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")

    def csrf_token(self, request: Request) -> str:
        """Bound to the session (or, before sign-in, to a random value kept in the form)."""
        person = self.person(request)
        anchor = person.principal.token_id if person else "anonymous"
        return hmac.new(self._secret, anchor.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, request: Request, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token(request), sent or "")

    def remember(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name, value, max_age=365 * 24 * 3600, path="/", samesite="lax", secure=self._secure
        )
