"""Packs on the real servers: a STOW request's instances land in a few objects (here packs of
about 100 kB, so one request rolls over several), every instance comes back through WADO-RS
byte-identical by its range, a refused request leaves no pack, and an instance stored before
packs (one object of its own, no offset) is still served."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.integration.records.conftest import RecordsHarness, object_keys
from tests.integration.records.samples import Instance, build_study, split_multipart, stow_body

pytestmark = pytest.mark.real
PACK_BYTES = 100_000  # CT_small.dcm is about 39 kB: three instances seal a pack


@pytest.fixture
def records_settings() -> dict[str, Any]:
    return {"pack_bytes": PACK_BYTES}


async def stow(records: RecordsHarness, case_id: str, parts: list[bytes]) -> int:
    body, content_type = stow_body(parts)
    response = await records.client.post(
        f"/dicomweb/cases/{case_id}/studies",
        content=body,
        headers={**records.auth(), "Content-Type": content_type},
    )
    return response.status_code


def instance_path(i: Instance) -> str:
    return f"/dicomweb/studies/{i.study}/series/{i.series}/instances/{i.sop}"


async def wado(records: RecordsHarness, path: str) -> list[bytes]:
    response = await records.client.get(path, headers=records.auth("expert"))
    assert response.status_code == 200, response.text
    return split_multipart(response.content, response.headers["content-type"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_stow_request_is_stored_as_a_few_packs_and_read_back_byte_identical(
    records: RecordsHarness,
) -> None:
    await records.submit("case-packed")
    study = build_study((("CT_small.dcm", 10), ("MR_small.dcm", 3)))
    assert await stow(records, "case-packed", [i.data for i in study]) == 200

    keys = await object_keys(records, "cases/case-packed/")
    assert all(k.startswith("cases/case-packed/packs/") for k in keys)
    # 10 x 39 kB + 3 x 10 kB in packs sealed at 100 kB: 4 or 5 objects, not 13.
    assert 4 <= len(keys) <= 5, keys

    for instance in study:
        (got,) = await wado(records, instance_path(instance))
        assert sha256(got) == sha256(instance.data)
    by_study = await wado(records, f"/dicomweb/studies/{study[0].study}")
    assert sorted(sha256(d) for d in by_study) == sorted(sha256(i.data) for i in study)

    rendered = await records.client.get(
        f"{instance_path(study[4])}/rendered", headers=records.auth("expert")
    )
    assert rendered.status_code == 200, rendered.text
    assert Image.open(io.BytesIO(rendered.content)).size == (128, 128)


async def test_a_refused_request_leaves_no_pack_even_after_some_were_stored(
    records: RecordsHarness,
) -> None:
    await records.submit("case-refused")
    study = build_study((("CT_small.dcm", 8),))
    # Packs of the first instances are stored before the broken last part is read.
    assert await stow(records, "case-refused", [*(i.data for i in study), b"%PDF-1.4"]) == 409
    assert await object_keys(records, "cases/case-refused/") == []
    instances = records.service.ports.store.instances
    assert await instances.count_documents({"case_id": "case-refused"}) == 0


async def test_an_instance_stored_before_packs_is_still_served_whole(
    records: RecordsHarness, tmp_path: Path
) -> None:
    await records.submit("case-old")
    (old, packed) = build_study((("CT_small.dcm", 2),))
    assert await stow(records, "case-old", [old.data, packed.data]) == 200
    # Rewrite one instance as the service stored it before packs: an object of its own at the
    # old key, and an index document without `offset`.
    old_key = f"cases/case-old/dicom/{old.study}/{old.series}/{old.sop}"
    source = tmp_path / "old.dcm"
    source.write_bytes(old.data)
    await records.service.ports.objects.put_file(old_key, source, "application/dicom")
    instances = records.service.ports.store.instances
    changed = await instances.update_one(
        {"case_id": "case-old", "sop_instance_uid": old.sop},
        {"$set": {"object_key": old_key}, "$unset": {"offset": ""}},
    )
    assert changed.modified_count == 1

    assert await wado(records, instance_path(old)) == [old.data]
    assert await wado(records, instance_path(packed)) == [packed.data]
    by_series = await wado(records, f"/dicomweb/studies/{old.study}/series/{old.series}")
    assert sorted(by_series) == sorted([old.data, packed.data])
    rendered = await records.client.get(
        f"{instance_path(old)}/rendered", headers=records.auth("expert")
    )
    assert rendered.status_code == 200, rendered.text
