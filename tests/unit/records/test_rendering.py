"""Rendering DICOM pixel data as JPEG or PNG (WADO-RS rendered): windowing, rescale,
MONOCHROME1, colour, frames, viewport, media types, and what is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from services.records.rendering import (
    RenderOptions,
    RenderRefused,
    Window,
    choose_media_type,
    etag,
    parse_frame,
    parse_viewport,
    parse_window,
    render,
)

JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
PNG = RenderOptions(media_type="image/png")
MAX_PIXELS = 50_000_000


def sample(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, name
    with open(path, "rb") as f:
        return f.read()


def synthetic(frames: list[list[list[int]]], **attributes: object) -> bytes:
    """A 16-bit unsigned MONOCHROME2 instance with these frames (rows of values)."""
    pixels = np.asarray(frames, dtype=np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = pixels.shape[1:]
    ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def rendered(
    data: bytes, options: RenderOptions = PNG, max_pixels: int = MAX_PIXELS
) -> Image.Image:
    body = render(io.BytesIO(data), options, max_pixels=max_pixels)
    return Image.open(io.BytesIO(body))


def values(image: Image.Image) -> list[list[int]]:
    result: list[list[int]] = np.asarray(image).tolist()
    return result


def test_a_ct_renders_as_jpeg_by_default_and_png_on_request() -> None:
    jpeg = render(io.BytesIO(sample("CT_small.dcm")), RenderOptions(), max_pixels=MAX_PIXELS)
    png = render(io.BytesIO(sample("CT_small.dcm")), PNG, max_pixels=MAX_PIXELS)
    assert jpeg.startswith(JPEG_MAGIC) and png.startswith(PNG_MAGIC)
    for body in (jpeg, png):
        image = Image.open(io.BytesIO(body))
        assert (image.size, image.mode) == ((128, 128), "L")


def test_the_window_maps_center_and_width_linearly_to_grey_levels() -> None:
    data = synthetic([[[0, 100, 150, 200, 300]]])
    assert values(rendered(data, RenderOptions("image/png", window=Window(150.5, 101)))) == [
        [0, 0, 128, 255, 255]
    ]


def test_the_instances_own_window_is_the_default_after_rescale() -> None:
    # Stored 0..400 become -1000..-200 through the rescale; the window is on rescaled values.
    data = synthetic(
        [[[0, 100, 200, 300, 400]]],
        RescaleSlope=2,
        RescaleIntercept=-1000,
        WindowCenter=-599.5,
        WindowWidth=401,
    )
    assert values(rendered(data)) == [[0, 0, 128, 255, 255]]


def test_without_a_window_the_pixel_range_is_stretched() -> None:
    assert values(rendered(synthetic([[[1000, 1500, 2000]]]))) == [[0, 128, 255]]


def test_monochrome1_is_inverted() -> None:
    data = synthetic([[[1000, 1500, 2000]]], PhotometricInterpretation="MONOCHROME1")
    assert values(rendered(data)) == [[255, 127, 0]]


def test_rgb_keeps_its_colours() -> None:
    data = sample("examples_rgb_color.dcm")
    image = rendered(data)
    assert (image.size, image.mode) == ((320, 240), "RGB")
    assert np.array_equal(np.asarray(image), dcmread(io.BytesIO(data)).pixel_array)


def test_ybr_full_is_converted_to_rgb() -> None:
    data = sample("SC_ybr_full_422_uncompressed.dcm")
    image = rendered(data)
    assert (image.size, image.mode) == ((100, 100), "RGB")
    expected = dcmread(io.BytesIO(data)).pixel_array  # pydicom converts YBR to RGB
    assert np.abs(np.asarray(image).astype(int) - expected.astype(int)).max() <= 1


def test_a_multiframe_instance_renders_its_first_frame_or_the_one_asked_for() -> None:
    data = synthetic([[[10, 10]], [[20, 20]], [[30, 30]]], WindowCenter=20.5, WindowWidth=21)
    assert values(rendered(data)) == [[0, 0]]
    assert values(rendered(data, RenderOptions("image/png", frame=2))) == [[128, 128]]
    assert values(rendered(data, RenderOptions("image/png", frame=3))) == [[255, 255]]
    with pytest.raises(RenderRefused) as refused:
        rendered(data, RenderOptions("image/png", frame=4))
    assert refused.value.code == "frame_not_found"


def test_the_viewport_scales_down_keeping_the_aspect_and_never_up() -> None:
    rgb = sample("examples_rgb_color.dcm")  # 320 x 240
    assert rendered(rgb, RenderOptions("image/png", viewport=(100, 100))).size == (100, 75)
    assert rendered(rgb, RenderOptions("image/png", viewport=(1000, 60))).size == (80, 60)
    assert rendered(rgb, RenderOptions("image/png", viewport=(4000, 4000))).size == (320, 240)


def test_jpeg_quality_changes_the_size() -> None:
    data = sample("examples_rgb_color.dcm")
    low = render(io.BytesIO(data), RenderOptions(quality=5), max_pixels=MAX_PIXELS)
    high = render(io.BytesIO(data), RenderOptions(quality=95), max_pixels=MAX_PIXELS)
    assert len(low) < len(high) / 2


def test_compressed_pixel_data_pillow_can_decode_renders() -> None:
    image = rendered(sample("MR_small_jp2klossless.dcm"))
    assert (image.size, image.mode) == ((64, 64), "L")
    assert values(image) == values(rendered(sample("MR_small.dcm")))


def test_a_deflated_instance_renders() -> None:
    assert rendered(sample("image_dfl.dcm")).size == (512, 512)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("MR_small_jpeg_ls_lossless.dcm", "cannot_render"),  # no JPEG-LS decoder installed
        ("rtplan.dcm", "cannot_render"),  # no image at all
        ("CT_small.dcm", "image_too_large"),
    ],
)
def test_what_cannot_be_rendered_is_refused_with_a_reason(name: str, code: str) -> None:
    with pytest.raises(RenderRefused) as refused:
        rendered(sample(name), max_pixels=128 * 127)
    assert refused.value.code == code


def test_media_types_follow_the_accept_header() -> None:
    assert choose_media_type("") == "image/jpeg"
    assert choose_media_type("*/*") == "image/jpeg"
    assert choose_media_type("image/*") == "image/jpeg"
    assert choose_media_type("image/png") == "image/png"
    assert choose_media_type("image/gif, image/png;q=0.5") == "image/png"
    assert choose_media_type("image/jpeg;q=0.2, image/png") == "image/png"
    assert choose_media_type("image/gif") is None
    assert choose_media_type("image/png;q=0") is None
    assert choose_media_type("multipart/related; type=application/dicom") is None


def test_query_parameters_are_parsed_or_refused() -> None:
    assert parse_window("40,400,linear") == Window(40, 400)
    assert parse_window("-600.5,1500") == Window(-600.5, 1500)
    assert parse_viewport("256,128") == (256, 128)
    assert parse_frame("3") == 3
    for bad_window in ("40", "40,0,linear", "40,400,sigmoid", "a,b"):
        with pytest.raises(ValueError):
            parse_window(bad_window)
    for bad_viewport in ("256", "0,10", "10,10,0,0,5,5", "x,y", "100000,10"):
        with pytest.raises(ValueError):
            parse_viewport(bad_viewport)
    for bad_frame in ("0", "1,2", "x", "-1"):
        with pytest.raises(ValueError):
            parse_frame(bad_frame)
    # The sentence says what to send and never repeats what was sent.
    with pytest.raises(ValueError) as refused:
        parse_window("DOE^JANE,400")
    assert str(refused.value).startswith("window: ") and "DOE" not in str(refused.value)


def test_the_etag_names_the_bytes_and_every_rendering_parameter() -> None:
    base = etag("a" * 64, RenderOptions())
    assert base == etag("a" * 64, RenderOptions())
    assert base.startswith('W/"')
    others = {
        etag("b" * 64, RenderOptions()),
        etag("a" * 64, RenderOptions(media_type="image/png")),
        etag("a" * 64, RenderOptions(quality=50)),
        etag("a" * 64, RenderOptions(viewport=(64, 64))),
        etag("a" * 64, RenderOptions(window=Window(40, 400))),
        etag("a" * 64, RenderOptions(frame=2)),
    }
    assert base not in others and len(others) == 6


def test_palette_colour_comes_out_as_rgb() -> None:
    image = rendered(sample("examples_palette.dcm"))
    assert (image.size, image.mode) == ((800, 350), "RGB")
