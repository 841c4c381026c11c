"""`python -m services.intake`: wire the intake service and run it."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from services.intake.config import IntakeSettings
from services.intake.store import IntakeStore
from services.intake.wiring import SERVICE, assemble
from shared.auth import AuthSettings, TokenIssuer, TokenVerifier
from shared.runtime import BackgroundTask, Connections, main


def link_signer(settings: IntakeSettings, auth: AuthSettings) -> TokenIssuer:
    """The signer of case links (the key records and this service verify them with)."""
    if auth.link_key_path is None:
        raise RuntimeError("AUTH_LINK_KEY_PATH is not set: intake cannot sign case links")
    pem = auth.link_key_path.read_bytes()
    return TokenIssuer.from_pem(pem, issuer=settings.link_issuer, audience=auth.audience)


async def build(connections: Connections) -> tuple[FastAPI, Sequence[BackgroundTask]]:
    settings = connections.settings
    assert isinstance(settings, IntakeSettings)
    auth = AuthSettings()
    service = await assemble(
        store=IntakeStore(connections.db),
        publisher=connections.publisher,
        settings=settings,
        verifier=TokenVerifier.from_settings(auth),
        links=link_signer(settings, auth),
    )
    return service.app, service.background


if __name__ == "__main__":
    main(SERVICE, IntakeSettings(), build)
