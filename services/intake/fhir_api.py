"""`POST /fhir`: a hospital system submits a case as a FHIR R4 transaction Bundle.

Every answer is FHIR: a `transaction-response` Bundle, or an OperationOutcome with a 4xx
(authentication failures included), naming the element at fault and never its value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.intake import handlers
from services.intake.fhir_outcome import FhirError, operation_outcome
from services.intake.fhir_schema import BUNDLE_SCHEMA, EXAMPLE
from services.intake.handlers import IntakeContext
from shared.audit import audit_case
from shared.auth import Principal
from shared.errors import ApiError

FHIR_PATH = "/fhir"
FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = (FHIR_JSON, "application/json")

fhir_router = APIRouter(tags=["hospital systems"])

BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            FHIR_JSON: {
                "schema": BUNDLE_SCHEMA,
                "examples": {
                    "hospital-referral": {
                        "summary": "A hospital refers a child (made-up data)",
                        "value": EXAMPLE,
                    }
                },
            }
        },
    }
}


def fhir_too_large(limit: int) -> dict[str, Any]:
    return operation_outcome("too-costly", f"the Bundle is larger than {limit} bytes")


@fhir_router.post(FHIR_PATH, status_code=201, openapi_extra=BUNDLE_BODY, response_model=None)
async def submit_bundle(request: Request) -> JSONResponse:
    """Submit a case as a FHIR transaction Bundle (role hospital-system; organization from
    the token). A repeated ServiceRequest identifier answers 200 with the same case."""
    principal = _authenticate(request)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise FhirError(415, "not-supported", f"send the Bundle as {FHIR_JSON}")
    try:
        bundle = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise FhirError(400, "structure", "the body is not valid JSON") from None
    ctx: IntakeContext = request.app.state.intake
    accepted = await handlers.submit_fhir(ctx=ctx, principal=principal, bundle=bundle)
    case_id = accepted.record.case_id
    audit_case(request, case_id)
    status = "200 OK" if accepted.replayed else "201 Created"
    entries = [
        {
            "response": {
                "status": status,
                "location": f"ServiceRequest/{case_id}"
                if entry.get("resource", {}).get("resourceType") == "ServiceRequest"
                else None,
            }
        }
        for entry in bundle["entry"]
    ]
    for entry in entries:
        if entry["response"]["location"] is None:
            del entry["response"]["location"]
    body = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "id": case_id,
        "entry": entries,
    }
    return JSONResponse(
        body,
        status_code=200 if accepted.replayed else 201,
        media_type=FHIR_JSON,
        headers={"Location": f"/cases/{case_id}/status"},
    )


def _authenticate(request: Request) -> Principal:
    authenticate: Callable[[Request], Principal] = request.app.state.authenticate
    try:
        return authenticate(request)
    except ApiError as refused:
        kind = "login" if refused.status == 401 else "forbidden"
        raise FhirError(refused.status, kind, refused.message) from None
