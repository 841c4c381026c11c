"""WADO-RS rendered on the real servers: an instance STOWed into a case comes back as JPEG or
PNG, a frame at a time, with caching headers; strangers are told nothing."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.integration.records.conftest import RecordsHarness
from tests.integration.records.samples import Instance, build_study, stow_body

pytestmark = pytest.mark.real


async def stored(records: RecordsHarness, case_id: str, template: str) -> Instance:
    await records.submit(case_id, organization_id="org-r")
    (instance,) = build_study(((template, 1),))
    body, content_type = stow_body([instance.data])
    response = await records.client.post(
        f"/dicomweb/cases/{case_id}/studies",
        content=body,
        headers={**records.auth(), "Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    return instance


def url(instance: Instance, tail: str = "rendered") -> str:
    return (
        f"/dicomweb/studies/{instance.study}/series/{instance.series}"
        f"/instances/{instance.sop}/{tail}"
    )


async def test_an_instance_renders_as_jpeg_or_png_with_caching_headers(
    records: RecordsHarness,
) -> None:
    instance = await stored(records, "case-render", "CT_small.dcm")
    expert = records.auth("expert")

    jpeg = await records.client.get(url(instance), headers=expert)
    assert jpeg.status_code == 200, jpeg.text
    assert jpeg.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(jpeg.content))
    assert (image.format, image.size) == ("JPEG", (128, 128))
    assert jpeg.headers["cache-control"].startswith("private, max-age=")
    assert "accept" in jpeg.headers["vary"].lower()

    png = await records.client.get(url(instance), headers={**expert, "Accept": "image/png"})
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    by_query = await records.client.get(
        url(instance), params={"accept": "image/png", "viewport": "64,32"}, headers=expert
    )
    image = Image.open(io.BytesIO(by_query.content))
    assert (image.format, image.size) == ("PNG", (32, 32))
    assert len({jpeg.headers["etag"], png.headers["etag"], by_query.headers["etag"]}) == 3

    again = await records.client.get(
        url(instance), headers={**expert, "If-None-Match": jpeg.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == jpeg.headers["etag"]

    frame = await records.client.get(
        url(instance, "frames/1/rendered"), params={"window": "40,400,linear"}, headers=expert
    )
    assert frame.status_code == 200, frame.text
    assert Image.open(io.BytesIO(frame.content)).size == (128, 128)
    beyond = await records.client.get(url(instance, "frames/2/rendered"), headers=expert)
    assert (beyond.status_code, beyond.json()["error"]["code"]) == (404, "frame_not_found")


async def test_unacceptable_types_bad_parameters_and_undecodable_pixels_are_json_errors(
    records: RecordsHarness,
) -> None:
    instance = await stored(records, "case-render-no", "CT_small.dcm")
    staff = records.auth()
    gif = await records.client.get(url(instance), headers={**staff, "Accept": "image/gif"})
    assert (gif.status_code, gif.json()["error"]["code"]) == (406, "not_acceptable")
    window = await records.client.get(url(instance), params={"window": "40"}, headers=staff)
    assert (window.status_code, window.json()["error"]["field"]) == (422, "window")

    jpeg_ls = await stored(records, "case-render-ls", "MR_small_jpeg_ls_lossless.dcm")
    refused = await records.client.get(url(jpeg_ls), headers=staff)
    assert (refused.status_code, refused.json()["error"]["code"]) == (406, "cannot_render")


async def test_a_stranger_is_told_the_instance_does_not_exist(records: RecordsHarness) -> None:
    instance = await stored(records, "case-render-who", "CT_small.dcm")
    other_hospital = records.auth("hospital-system", organization="org-elsewhere")
    theirs = await records.client.get(url(instance), headers=other_hospital)
    missing = await records.client.get(
        url(instance).replace(instance.sop, "1.2.3.4"), headers=records.auth()
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    own_hospital = records.auth("hospital-system", organization="org-r")
    assert (await records.client.get(url(instance), headers=own_hospital)).status_code == 200
    guardian = records.auth("guardian", case_ids=["case-render-who"])
    assert (await records.client.get(url(instance), headers=guardian)).status_code == 403
