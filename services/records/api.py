"""HTTP routes of the records service: parse the request, authorize, call a handler.

Uploads are read from the request stream as they arrive (see uploads.py); who may do what is
in access.py. DICOMweb routes are in dicomweb_api.py, WADO-RS rendered in rendered_api.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.records import copies, handlers, ingest
from services.records.deps import CallerDep, PortsDep
from services.records.dicomweb_api import router as dicomweb_router
from services.records.domain import DomainError
from services.records.handlers import Ports
from services.records.rendered_api import router as rendered_router
from services.records.resumable_api import router as resumable_router
from services.records.uploads import receive_multipart, spooled
from services.records.views import (
    ChecklistPublic,
    CopyPublic,
    DeidentifyCreate,
    DicomUploadPublic,
    DocumentPublic,
    RecordsRequestCreate,
    WaiverCreate,
)
from shared.auth import TokenVerifier
from shared.contracts import RecordsRequested
from shared.errors import ApiError, error_body
from shared.unit_of_work import CaseBusy
from shared.webapp import create_service_app

STATUS_OF_CODE = {
    "not_found": 404,
    "forbidden": 403,
    "case_closed": 409,
    "already_present": 409,
    "not_required": 422,
    "unknown_item": 422,
}


router = APIRouter(tags=["records"])

# The body is read as a stream (see uploads.py), so it is described here for the OpenAPI page.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "file"],
                    "properties": {
                        "kind": {"type": "string", "description": "The checklist item."},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


def create_app(
    ports: Ports, verifier: TokenVerifier, readiness: Mapping[str, Callable[[], Awaitable[bool]]]
) -> FastAPI:
    app = create_service_app(
        title="records service",
        description="Records: the checklist, document and DICOM uploads, records.ready.",
        readiness=readiness,
    )
    app.state.ports = ports
    app.state.verifier = verifier
    app.include_router(router)
    app.include_router(dicomweb_router)
    app.include_router(rendered_router)
    app.include_router(resumable_router)
    # Rendering holds a decoded frame in memory: a few at a time, not one per request.
    app.state.renders = asyncio.Semaphore(ports.settings.render_concurrency)

    @app.exception_handler(DomainError)
    async def _refused(_: Request, exc: DomainError) -> JSONResponse:
        extra = {"field": exc.field} if exc.field else {}
        status = STATUS_OF_CODE.get(exc.code, 422)
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=status)

    @app.exception_handler(CaseBusy)
    async def _busy(_: Request, exc: CaseBusy) -> JSONResponse:
        body = error_body("busy", "the case is changing right now; try again")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    return app


@router.post(
    "/cases/{case_id}/documents",
    status_code=201,
    response_model=DocumentPublic | DicomUploadPublic,
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    case_id: str, request: Request, principal: CallerDep, ports: PortsDep
) -> JSONResponse:
    """Upload one file for a checklist item (multipart/form-data: `kind` and `file`)."""
    # Refuse before reading the body: a stranger's or a cancelled case's gigabytes never land.
    case = await handlers.load_case(ports, principal, "upload", case_id, recent=True)
    case.ensure_open()
    async with spooled(ports.settings.spool_dir) as spool:
        body = await receive_multipart(
            request.stream(),
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
            expected="form-data",
            spool=spool,
            max_bytes=ports.settings.max_upload_bytes,
        )
        kind = body.fields.get("kind", "").strip()
        if not kind:
            raise ApiError(422, "invalid_field", "kind: name the checklist item", "kind")
        if len(body.files) != 1:
            raise ApiError(422, "invalid_field", "file: send exactly one file", "file")
        result = await ingest.receive_upload(
            ports,
            principal=principal,
            case_id=case_id,
            kind=kind,
            upload=body.files[0],
            spool=spool,
        )
    if isinstance(result, ingest.DocumentReceipt):
        public = DocumentPublic.of(result.entry, result.duplicate)
        return JSONResponse(
            public.model_dump(mode="json"), status_code=200 if result.duplicate else 201
        )
    dicom = DicomUploadPublic.of(result)
    return JSONResponse(dicom.model_dump(mode="json"), status_code=201 if result.stored else 200)


@router.get("/cases/{case_id}/checklist")
async def checklist(case_id: str, principal: CallerDep, ports: PortsDep) -> ChecklistPublic:
    """The case's checklist: required, present, missing and waived items, and what is held."""
    case = await handlers.load_case(ports, principal, "read-checklist", case_id)
    return ChecklistPublic.of(case)


@router.get("/cases/{case_id}/documents/{document_id}", response_model=None)
async def download(
    case_id: str, document_id: str, principal: CallerDep, ports: PortsDep
) -> StreamingResponse:
    """The bytes of one uploaded document, as uploaded."""
    case = await handlers.load_case(ports, principal, "read-documents", case_id)
    entry = next((d for d in case.documents if d.document_id == document_id), None)
    if entry is None:
        raise ApiError(404, "not_found", "the document does not exist", "document_id")
    disposition = f"attachment; filename*=UTF-8''{quote(entry.filename)}"
    return StreamingResponse(
        ports.objects.stream(entry.object_key),
        media_type=entry.content_type,
        headers={
            "Content-Length": str(entry.size_bytes),
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/cases/{case_id}/checklist/{item}/waive")
async def waive(
    case_id: str, item: str, body: WaiverCreate, principal: CallerDep, ports: PortsDep
) -> ChecklistPublic:
    """Staff: accept that a required item will not come, with the reason."""
    case = await handlers.waive_item(
        ports, principal=principal, case_id=case_id, item=item, reason=body.reason
    )
    return ChecklistPublic.of(case)


@router.post("/cases/{case_id}/requests", status_code=202)
async def request_records(
    case_id: str, body: RecordsRequestCreate, principal: CallerDep, ports: PortsDep
) -> RecordsRequested:
    """Staff: ask the family or physician for specific items (publishes records.requested)."""
    return await handlers.request_records(
        ports, principal=principal, case_id=case_id, items=body.items, message=body.message
    )


@router.post("/cases/{case_id}/studies/{study_uid}/deidentify", response_model=None)
async def deidentify(
    case_id: str, study_uid: str, body: DeidentifyCreate, principal: CallerDep, ports: PortsDep
) -> JSONResponse:
    """Staff: make a de-identified copy of a study (PS3.15 Annex E Basic profile)."""
    receipt = await copies.deidentify_study(
        ports,
        principal=principal,
        case_id=case_id,
        study_uid=study_uid,
        retain_dates=body.retain_longitudinal_temporal_information,
    )
    public = CopyPublic.of(receipt.copy)
    return JSONResponse(public.model_dump(mode="json"), status_code=201 if receipt.created else 200)
