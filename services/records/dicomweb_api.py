"""DICOMweb routes: STOW-RS for a PACS to push, QIDO-RS to search, WADO-RS to retrieve.

A STOW request's case is, in this order: the per-case base URL (`/dicomweb/cases/{case_id}`,
so a stock client configured with it needs nothing else), the `case_id` query parameter (not
standard, kept for older senders), the one case a case-scoped token names, or, for a hospital's
system, the open case of its organization whose MRN the first instance's PatientID (or
OtherPatientIDs) gives; every instance must then name that patient. QIDO and WADO answer only
for cases the caller may read. A request naming a study is audited under the cases whose
instances it served or, when it served none (refused, or no such instance), under every case
holding the study.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.records import access, dicomweb, ingest
from services.records.deps import CallerDep, PortsDep
from services.records.dicom import NotDicom, read_header, readable_uids
from services.records.domain import CaseRecord
from services.records.handlers import Ports, load_case
from services.records.imaging import CANNOT_UNDERSTAND, FailedInstance
from services.records.packs import instance_bytes
from services.records.patient_cases import CaseNotIdentified, open_case_of_patient
from services.records.store import InstanceRecord
from services.records.uploads import SpooledFile, spooled, stream_multipart
from shared.audit import audit_case
from shared.auth import Principal
from shared.errors import ApiError
from shared.objectstore import ObjectNotFound

ACCEPTABLE = ("multipart/related", "application/dicom", "multipart/*", "*/*")


router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])


async def case_ids_for(ports: Ports, principal: Principal) -> list[str] | None:
    """The cases whose imaging this caller may read; None means every case."""
    query = access.visible_cases_query(principal, "read-imaging")
    if not query:
        return None
    return await ports.store.visible_case_ids(query)


async def visible_instances(
    request: Request,
    ports: Ports,
    principal: Principal,
    *,
    study: str,
    series: str | None = None,
    sop: str | None = None,
) -> list[InstanceRecord]:
    """The instances this caller may read, the request audited under their cases."""
    found: list[InstanceRecord] = []
    try:
        found = await ports.store.visible_instances(
            case_ids=await case_ids_for(ports, principal), study=study, series=series, sop=sop
        )
        return found
    finally:
        await _audit_study(request, ports, study, {i.case_id for i in found})


async def _audit_study(request: Request, ports: Ports, study: str, served: set[str]) -> None:
    audit_case(request, *(sorted(served) or await ports.store.cases_holding_study(study)))


STOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {'multipart/related; type="application/dicom"': {"schema": {}}},
    }
}


@router.post("/cases/{case_id}/studies", response_model=None, openapi_extra=STOW_BODY)
async def store_case_instances(
    request: Request, case_id: str, principal: CallerDep, ports: PortsDep
) -> JSONResponse:
    """STOW-RS at the case's own DICOMweb base URL: store DICOM instances in this case."""
    return await _store(request, principal, ports, case_id)


@router.post("/studies", response_model=None, openapi_extra=STOW_BODY)
async def store_instances(
    request: Request,
    principal: CallerDep,
    ports: PortsDep,
    case_id: Annotated[
        str | None, Query(description="Not standard: the case, for senders that name it so.")
    ] = None,
) -> JSONResponse:
    """STOW-RS: store DICOM instances; the case comes from the token or the instances' PatientID."""
    return await _store(request, principal, ports, case_id)


async def _store(
    request: Request, principal: Principal, ports: Ports, case_id: str | None
) -> JSONResponse:
    """200 all stored; 202 some held and some conflicting copies (0111H); 409 nothing stored,
    a FailedSOPSequence giving each instance's Failure Reason; 400 a malformed body, 415 a
    wrong media type (as JSON errors, as is `case_not_identified`)."""
    case_id = case_id or _case_of_token(principal)
    if case_id:  # refused before reading the body: a stranger's gigabytes never land
        audit_case(request, case_id)
        (await load_case(ports, principal, "stow", case_id)).ensure_open()
    async with spooled(ports.settings.spool_dir) as spool:
        parts = stream_multipart(
            request.stream(),
            content_type=request.headers.get("content-type", ""),
            content_length=request.headers.get("content-length"),
            expected="related",
            spool=spool,
            max_bytes=ports.settings.max_upload_bytes,
        )
        patient = None
        if not case_id:
            first = await anext(parts, None)
            if first is None:
                raise ApiError(400, "malformed_body", "the request holds no DICOM parts", "file")
            found = await _case_of_patient(ports, principal, first)
            if isinstance(found, FailedInstance):
                body = dicomweb.stow_response([], [], _base(request), [found])
                return JSONResponse(body, status_code=409, media_type=dicomweb.DICOM_JSON)
            case_id, patient = found
            audit_case(request, case_id)
            parts = _chained(first, parts)
        report = await ingest.receive_stow(
            ports, principal=principal, case_id=case_id, parts=parts, patient=patient
        )
    held = [*report.stored, *report.duplicates]
    content = dicomweb.stow_response(held, report.conflicts, _base(request), report.failed)
    # 409: nothing stored (PS3.18 10.5.3); 202: stored, with conflicting copies refused.
    status = 409 if report.failed or not held else (202 if report.conflicts else 200)
    return JSONResponse(content, status_code=status, media_type=dicomweb.DICOM_JSON)


@router.get("/studies", response_model=None)
async def search_studies(
    request: Request,
    principal: CallerDep,
    ports: PortsDep,
    case_id: str | None = None,
    StudyInstanceUID: str | None = None,  # the DICOM keyword, as QIDO-RS names it
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """QIDO-RS: the studies of the cases the caller may read, naming the patient (filter by
    `case_id`)."""
    served: set[str] = set()
    try:
        visible = access.visible_cases_query(principal, "read-imaging")
        query = visible if case_id is None else access.narrowed_to_case(visible, case_id)
        if query is None:
            return JSONResponse([], media_type=dicomweb.DICOM_JSON)
        if StudyInstanceUID:
            query["study_uids"] = StudyInstanceUID
        results: list[dicomweb.Attributes] = []
        # Cases hold several studies each, so a page of studies is cut here, not by the
        # query; reading stops at the page's last case.
        async with contextlib.aclosing(ports.store.cases_with_imaging(query)) as cases:
            async for case in cases:
                studies = _studies_of(case, _base(request), StudyInstanceUID)
                served |= {case.case_id} if studies else set()
                results += studies
                if len(results) >= offset + limit:
                    break
        return JSONResponse(results[offset : offset + limit], media_type=dicomweb.DICOM_JSON)
    finally:
        if StudyInstanceUID:  # a listing without one is audited as no case, like other lists
            await _audit_study(request, ports, StudyInstanceUID, served)


def _studies_of(
    case: CaseRecord, base_url: str, study_uid: str | None
) -> list[dicomweb.Attributes]:
    """A case's studies and de-identified copies as QIDO results (only `study_uid`, if given)."""
    results = [dicomweb.study_result(s, base_url) for s in case.studies.values()]
    results += [dicomweb.copy_result(c, base_url) for c in case.deidentified]
    if study_uid:
        results = [r for r in results if r["0020000D"]["Value"] == [study_uid]]
    return results


@router.get("/studies/{study}/series", response_model=None)
async def search_series(
    request: Request, study: str, principal: CallerDep, ports: PortsDep
) -> JSONResponse:
    """QIDO-RS: the series of a study."""
    instances = await visible_instances(request, ports, principal, study=study)
    summary = None
    if instances:
        case = await ports.store.load(instances[0].case_id)
        summary = case.studies.get(study) if case else None
    results = dicomweb.series_results(instances, summary, _base(request))
    return JSONResponse(results, media_type=dicomweb.DICOM_JSON)


@router.get("/studies/{study}/series/{series}/instances", response_model=None)
async def search_instances(
    request: Request, study: str, series: str, principal: CallerDep, ports: PortsDep
) -> JSONResponse:
    """QIDO-RS: the instances of a series."""
    instances = await visible_instances(request, ports, principal, study=study, series=series)
    return JSONResponse(
        dicomweb.instance_results(instances, _base(request)), media_type=dicomweb.DICOM_JSON
    )


@router.get("/studies/{study}", response_model=None)
async def retrieve_study(
    request: Request, study: str, principal: CallerDep, ports: PortsDep
) -> StreamingResponse:
    """WADO-RS: every instance of a study, as multipart/related application/dicom."""
    _check_accept(request)
    found = await visible_instances(request, ports, principal, study=study)
    return _multipart(ports, found, f"study {study}")


@router.get("/studies/{study}/series/{series}", response_model=None)
async def retrieve_series(
    request: Request, study: str, series: str, principal: CallerDep, ports: PortsDep
) -> StreamingResponse:
    """WADO-RS: every instance of a series."""
    _check_accept(request)
    found = await visible_instances(request, ports, principal, study=study, series=series)
    return _multipart(ports, found, f"series {series}")


@router.get("/studies/{study}/series/{series}/instances/{sop}", response_model=None)
async def retrieve_instance(
    request: Request, study: str, series: str, sop: str, principal: CallerDep, ports: PortsDep
) -> StreamingResponse:
    """WADO-RS: one instance, byte-identical to what was stored."""
    _check_accept(request)
    matches = await visible_instances(
        request, ports, principal, study=study, series=series, sop=sop
    )
    if not matches:
        raise ApiError(404, "not_found", f"instance {sop} does not exist", "sop")
    found = matches[0]
    try:
        await ports.objects.stat(found.object_key)
    except ObjectNotFound:
        raise ApiError(404, "not_found", f"instance {sop} has no stored bytes", "sop") from None
    return _multipart(ports, [found], f"instance {sop}")


def _case_of_token(principal: Principal) -> str | None:
    return next(iter(principal.case_ids)) if len(principal.case_ids) == 1 else None


async def _case_of_patient(
    ports: Ports, principal: Principal, first: SpooledFile
) -> tuple[str, str] | FailedInstance:
    """A hospital's system: the open case of its organization for the patient the first
    instance names, and that patient's MRN key; the first instance's failure if unreadable."""
    if principal.role != "hospital-system" or not principal.organization:
        access.check_role(principal, "stow")
        raise _case_not_identified("name the case: store at /dicomweb/cases/{case_id}/studies")
    try:
        header = await asyncio.to_thread(read_header, first.path)
    except NotDicom:
        sop_class, sop = await asyncio.to_thread(readable_uids, first.path)
        return FailedInstance(sop_class, sop, CANNOT_UNDERSTAND)
    try:
        found = await open_case_of_patient(ports.store, principal, header.patient)
    except CaseNotIdentified as exc:
        raise _case_not_identified(f"{exc}; store at /dicomweb/cases/{{case_id}}/studies") from None
    return found.case_id, found.patient


def _case_not_identified(why: str) -> ApiError:
    return ApiError(422, "case_not_identified", f"case_id: {why}", "case_id")


async def _chained(
    first: SpooledFile, rest: AsyncIterator[SpooledFile]
) -> AsyncIterator[SpooledFile]:
    yield first
    async for part in rest:
        yield part


def _check_accept(request: Request) -> None:
    ranges = {
        part.split(";")[0].strip() for part in request.headers.get("accept", "*/*").split(",")
    }
    if not ranges & set(ACCEPTABLE):
        raise ApiError(406, "not_acceptable", "Accept must allow multipart/related", "Accept")


def _multipart(ports: Ports, instances: list[InstanceRecord], what: str) -> StreamingResponse:
    if not instances:
        raise ApiError(404, "not_found", f"{what} does not exist")
    boundary = uuid.uuid4().hex
    # A generator reads nothing until it is iterated: one range request per part, in turn.
    parts = [(i.size_bytes, instance_bytes(ports.objects, i)) for i in instances]
    return StreamingResponse(
        dicomweb.multipart_body(parts, boundary),
        media_type=dicomweb.multipart_boundary_header(boundary),
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")
