"""Making a de-identified copy of a study on a staff member's request.

New UIDs derive from the case's secret salt, so asking twice yields the same copy: the work is
idempotent, and a copy interrupted half-way is completed, not duplicated, by asking again. The
copy's instances become visible in the same write that records the copy on the case.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from services.records import handlers
from services.records.content_types import DICOM
from services.records.deidentify import Options, deidentify
from services.records.dicom import read_header
from services.records.domain import CaseRecord, DeidentifiedCopy, DomainError
from services.records.handlers import Ports
from services.records.imaging import InstanceHeader
from services.records.packs import fetch_instance
from services.records.store import InstanceRecord
from services.records.uploads import Spool
from shared.auth import Principal
from shared.envelope import Payload


@dataclass(frozen=True)
class CopyReceipt:
    copy: DeidentifiedCopy
    created: bool


async def deidentify_study(
    ports: Ports, *, principal: Principal, case_id: str, study_uid: str, retain_dates: bool
) -> CopyReceipt:
    case = await handlers.load_case(ports, principal, "manage-records", case_id)
    source = case.studies.get(study_uid)
    if source is None:
        raise DomainError("not_found", f"study_uid: no study {study_uid} in this case", "study_uid")
    existing = _existing_copy(case, study_uid, retain_dates)
    if existing is not None:
        return CopyReceipt(existing, created=False)
    options = Options(salt=case.uid_salt, retain_dates=retain_dates)
    instances = await ports.store.visible_instances(case_ids=[case_id], study=study_uid)
    spool = await asyncio.to_thread(Spool, ports.settings.spool_dir)
    copies: list[InstanceRecord] = []
    warnings: set[str] = set()
    slots = asyncio.Semaphore(ports.settings.store_concurrency)

    async def copy_one(instance: InstanceRecord) -> None:
        async with slots:
            original, copy = spool.new_path(), spool.new_path()
            await fetch_instance(ports.objects, instance, original)
            header, size, sha256, found = await asyncio.to_thread(
                _deidentified_file, original, copy, options
            )
            record = _copy_record(case_id, header, size, sha256)
            await ports.objects.put_file(record.object_key, copy, DICOM)
            copies.append(record)
            warnings.update(found)
            await asyncio.to_thread(original.unlink)
            await asyncio.to_thread(copy.unlink)

    try:
        try:
            async with asyncio.TaskGroup() as group:
                for instance in instances:
                    group.create_task(copy_one(instance))
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        # Retries of the same copy reuse the same id: their documents are the same too.
        upload_id = f"copy:{options.new_uid(study_uid)}"
        await ports.store.add_instances(copies, upload_id=upload_id)
        result = DeidentifiedCopy(
            source_study_uid=study_uid,
            study_instance_uid=options.new_uid(study_uid),
            retain_dates=retain_dates,
            modalities=tuple(source.modalities),
            study_date=source.study_date if retain_dates else None,
            series_count=len({c.series_instance_uid for c in copies}),
            instance_count=len(copies),
            size_bytes=sum(c.size_bytes for c in copies),
            created_by=principal.subject,
            created_at=handlers.now(),
            warnings=tuple(sorted(warnings)),
        )

        def record_copy(case: CaseRecord) -> list[Payload] | None:
            # Not a checklist change: no event.
            return [] if case.add_copy(upload_id, result) else None

        await handlers.change_case(ports, case_id, record_copy)
    finally:
        await asyncio.to_thread(spool.close)
    return CopyReceipt(result, created=True)


def _existing_copy(case: CaseRecord, study_uid: str, retain_dates: bool) -> DeidentifiedCopy | None:
    return next(
        (
            c
            for c in case.deidentified
            if c.source_study_uid == study_uid and c.retain_dates == retain_dates
        ),
        None,
    )


def _deidentified_file(
    original: Path, copy: Path, options: Options
) -> tuple[InstanceHeader, int, str, list[str]]:
    """Read one whole instance, de-identify it and write the copy (runs in a worker thread)."""
    try:
        ds = dcmread(original)
        warnings = deidentify(ds, options)
        ds.save_as(copy)
        header = read_header(copy)
    except OSError:
        raise
    except Exception:
        # Only the header was checked on upload: a value beyond it may not decode.
        raise DomainError(
            "unreadable_instance",
            "study_uid: an instance of the study cannot be read whole to de-identify it",
            "study_uid",
        ) from None
    digest = hashlib.sha256()
    with copy.open("rb") as written:
        while chunk := written.read(1024 * 1024):
            digest.update(chunk)
    return header, copy.stat().st_size, digest.hexdigest(), warnings


def _copy_record(case_id: str, header: InstanceHeader, size: int, sha256: str) -> InstanceRecord:
    study, series, sop = (
        header.study_instance_uid,
        header.series_instance_uid,
        header.sop_instance_uid,
    )
    return InstanceRecord(
        case_id=case_id,
        sop_instance_uid=sop,
        sop_class_uid=header.sop_class_uid,
        study_instance_uid=study,
        series_instance_uid=series,
        transfer_syntax_uid=header.transfer_syntax_uid,
        modality=header.modality,
        instance_number=header.instance_number,
        size_bytes=size,
        sha256=sha256,
        object_key=f"cases/{case_id}/deidentified/{study}/{series}/{sop}",
        deidentified=True,
    )
