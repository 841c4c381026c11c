"""Routes of resumable uploads (resumable.py): the family's, the physician's or staff's own
case, like `POST /cases/{id}/documents`; every answer names only the upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.records.deps import CallerDep
from services.records.resumable import (
    PartsAnswer,
    PartsWanted,
    ResumableUploads,
    UploadSession,
    UploadStarted,
)

router = APIRouter(prefix="/cases/{case_id}/uploads", tags=["resumable uploads"])


def _uploads(request: Request) -> ResumableUploads:
    uploads: ResumableUploads = request.app.state.resumable
    return uploads


Uploads = Annotated[ResumableUploads, Depends(_uploads)]


@router.post("", status_code=201)
async def start_upload(
    case_id: str, body: UploadStarted, caller: CallerDep, uploads: Uploads
) -> UploadSession:
    """Start uploading one file (a document, a DICOM file, a CD zip) in parts, straight to
    object storage; then ask for part URLs."""
    return await uploads.start(caller, case_id, body)


@router.post("/{upload_id}/parts")
async def part_urls(
    case_id: str, upload_id: str, body: PartsWanted, caller: CallerDep, uploads: Uploads
) -> PartsAnswer:
    """Presigned PUT URLs for these parts, and the parts already uploaded (resume from them).
    Send each part's bytes with `PUT <url>`; keep nothing else."""
    return await uploads.presign(caller, case_id, upload_id, body.numbers)


@router.post("/{upload_id}/complete", status_code=202)
async def complete_upload(
    case_id: str, upload_id: str, caller: CallerDep, uploads: Uploads
) -> UploadSession:
    """Every part is there: records assembles the file and checks and keeps it in the
    background (the checklist and `records.updated` follow; poll the upload for its result)."""
    return await uploads.complete(caller, case_id, upload_id)


@router.get("/{upload_id}")
async def upload_status(
    case_id: str, upload_id: str, caller: CallerDep, uploads: Uploads
) -> UploadSession:
    """Where the upload stands: open, received, ingesting, done (with what was kept), failed
    (with why) or aborted."""
    session, _ = await uploads.find(caller, case_id, upload_id)
    return session


@router.delete("/{upload_id}")
async def abort_upload(
    case_id: str, upload_id: str, caller: CallerDep, uploads: Uploads
) -> UploadSession:
    """Give up an upload; the parts sent are removed."""
    return await uploads.abort(caller, case_id, upload_id)
