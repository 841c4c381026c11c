"""HTTP routes of the audit service: the compliance officer's view of one case's access."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.audit.domain import as_fhir_audit_event
from services.audit.store import AuditStore
from shared.auth import Principal, Role
from shared.errors import ApiError
from shared.probes import ReadinessCheck
from shared.webapp import create_service_app


def caller(request: Request) -> Principal:
    principal: Principal = request.app.state.current_principal(request)
    return principal


Caller = Annotated[Principal, Depends(caller)]
# The trail names cases and people: the compliance officer's alone (admin sees no case data).
READERS: frozenset[Role] = frozenset({"compliance-officer"})


def create_app(
    *,
    store: AuditStore,
    current_principal: Callable[..., Principal],
    readiness: Mapping[str, ReadinessCheck],
) -> FastAPI:
    app = create_service_app(
        title="audit service",
        description="Who read or changed a case's data, when, from where, allowed or refused.",
        readiness=readiness,
    )
    app.state.current_principal = current_principal
    router = APIRouter()

    @router.get("/audit/cases/{case_id}", response_model=None)
    async def case_access(
        case_id: str,
        principal: Caller,
        output: Annotated[Literal["json", "fhir"], Query(alias="format")] = "json",
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> dict[str, Any] | JSONResponse:
        if principal.role not in READERS:
            raise ApiError(403, "forbidden", "only a compliance officer may read the audit trail")
        found = await store.for_case(case_id, limit=limit)
        if output == "fhir":
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": [{"resource": as_fhir_audit_event(i, r)} for i, r in found],
            }
            return JSONResponse(bundle, media_type="application/fhir+json")
        return {
            "case_id": case_id,
            "records": [{"id": i, **r.model_dump(mode="json")} for i, r in found],
        }

    app.include_router(router)
    return app
