"""WADO-RS rendered (PS3.18 10.4): an instance, or one of its frames, as a JPEG or PNG, so a
viewer or a thumbnail needs no DICOM decoder in the browser.

The same access rules and audit as WADO-RS retrieval (dicomweb_api.visible_instances): a
stranger gets the 404 of a missing instance. A matching If-None-Match is answered 304 before
the bytes are fetched; otherwise the instance is spooled to disk and rendered in a worker
thread, a few at a time, after its header is checked against the pixel cap.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.records import rendering
from services.records.deps import CallerDep, PortsDep
from services.records.dicomweb_api import visible_instances
from services.records.handlers import Ports
from services.records.packs import fetch_instance
from services.records.rendering import RenderOptions, RenderRefused
from services.records.store import InstanceRecord
from services.records.uploads import spooled
from shared.auth import Principal
from shared.errors import ApiError
from shared.objectstore import ObjectNotFound

# Short: the browser asks again (a cheap 304) soon after an expert's access to a case ends.
CACHE_CONTROL = "private, max-age=600"
STATUS_OF_REFUSAL = {"cannot_render": 406, "frame_not_found": 404, "image_too_large": 422}
RENDERED: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}, "image/png": {}}}}

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])


def render_options(
    request: Request,
    accept: Annotated[
        str | None, Query(description="A media type, instead of the Accept header.")
    ] = None,
    quality: Annotated[int, Query(ge=1, le=100, description="JPEG quality.")] = (
        rendering.DEFAULT_QUALITY
    ),
    viewport: Annotated[
        str | None, Query(description="vw,vh: the largest the image may be (kept in aspect).")
    ] = None,
    window: Annotated[
        str | None, Query(description="center,width,linear; else the instance's own window.")
    ] = None,
) -> RenderOptions:
    """The rendering parameters of the request: 406 for no acceptable type, 422 when malformed."""
    media_type = rendering.choose_media_type(accept or request.headers.get("accept", ""))
    if media_type is None:
        raise ApiError(406, "not_acceptable", "Accept must allow image/jpeg or image/png", "Accept")
    try:
        return RenderOptions(
            media_type=media_type,
            quality=quality,
            viewport=rendering.parse_viewport(viewport) if viewport else None,
            window=rendering.parse_window(window) if window else None,
        )
    except ValueError as error:
        field = str(error).split(":")[0]
        raise ApiError(422, "invalid_field", str(error), field) from None


OptionsDep = Annotated[RenderOptions, Depends(render_options)]


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/rendered",
    response_model=None,
    responses=RENDERED,
)
async def render_instance(
    request: Request,
    study: str,
    series: str,
    sop: str,
    principal: CallerDep,
    ports: PortsDep,
    options: OptionsDep,
) -> Response:
    """WADO-RS rendered: the instance (its first frame) as image/jpeg, or image/png."""
    return await _rendered(request, ports, principal, (study, series, sop), options)


@router.get(
    "/studies/{study}/series/{series}/instances/{sop}/frames/{frames}/rendered",
    response_model=None,
    responses=RENDERED,
)
async def render_frame(
    request: Request,
    study: str,
    series: str,
    sop: str,
    frames: str,
    principal: CallerDep,
    ports: PortsDep,
    options: OptionsDep,
) -> Response:
    """WADO-RS rendered: one frame (numbered from 1) as image/jpeg, or image/png."""
    try:
        frame = rendering.parse_frame(frames)
    except ValueError as error:
        raise ApiError(422, "invalid_field", str(error), "frames") from None
    return await _rendered(
        request, ports, principal, (study, series, sop), replace(options, frame=frame)
    )


async def _rendered(
    request: Request,
    ports: Ports,
    principal: Principal,
    uids: tuple[str, str, str],
    options: RenderOptions,
) -> Response:
    study, series, sop = uids
    matches = await visible_instances(
        request, ports, principal, study=study, series=series, sop=sop
    )
    if not matches:
        raise ApiError(404, "not_found", f"instance {sop} does not exist", "sop")
    tag = rendering.etag(matches[0].sha256, options)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept"}
    if _none_match(request.headers.get("if-none-match", ""), tag):
        return Response(status_code=304, headers=headers)
    renders: asyncio.Semaphore = request.app.state.renders
    async with renders:
        body = await _render(ports, matches[0], options)
    return Response(body, media_type=options.media_type, headers=headers)


async def _render(ports: Ports, instance: InstanceRecord, options: RenderOptions) -> bytes:
    async with spooled(ports.settings.spool_dir) as spool:
        path = spool.new_path(".dcm")
        try:
            await fetch_instance(ports.objects, instance, path)
        except ObjectNotFound:
            sop = instance.sop_instance_uid
            raise ApiError(404, "not_found", f"instance {sop} has no stored bytes", "sop") from None
        try:
            return await asyncio.to_thread(
                _render_file, path, options, ports.settings.max_render_pixels
            )
        except RenderRefused as refused:
            status = STATUS_OF_REFUSAL[refused.code]
            field = "frames" if refused.code == "frame_not_found" else None
            raise ApiError(status, refused.code, refused.message, field) from None


def _render_file(path: Path, options: RenderOptions, max_pixels: int) -> bytes:
    with path.open("rb") as fp:
        return rendering.render(fp, options, max_pixels=max_pixels)


def _none_match(header: str, tag: str) -> bool:
    """If-None-Match by weak comparison (RFC 9110 13.1.2), as a GET allows."""
    opaque = tag.removeprefix("W/")
    return any(
        t.strip() == "*" or t.strip().removeprefix("W/") == opaque for t in header.split(",")
    )
