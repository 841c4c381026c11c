"""Dependencies of the routes: who is asking, and the service's ports (set by `create_app`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.records.handlers import Ports
from shared.auth import Principal, TokenVerifier, principal_dependency


def current_principal(request: Request) -> Principal:
    verifier: TokenVerifier = request.app.state.verifier
    return principal_dependency(verifier)(request)


def current_ports(request: Request) -> Ports:
    ports: Ports = request.app.state.ports
    return ports


CallerDep = Annotated[Principal, Depends(current_principal)]
PortsDep = Annotated[Ports, Depends(current_ports)]
