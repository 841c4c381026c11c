"""Taking in uploaded files: documents, single DICOM files, zips of a patient CD, STOW-RS parts.

Nothing half-done stays visible. A document's manifest entry is written only after its object
is stored. DICOM instances are appended to the upload's packs (packs.py: one object for many
instances) and claimed, with their pack and offset, under the upload's id; once the packs are
stored, one write to the case counts them, commits the upload id (which makes them visible)
and queues the events. If anything fails before that write, the upload's packs and claims are
removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from services.records import access, content_types, handlers, metrics, rules
from services.records.archive import SafeArchive
from services.records.dicom import (
    MediaDirectory,
    NotDicom,
    has_preamble,
    read_header,
    readable_uids,
)
from services.records.document_content import check_document
from services.records.domain import CaseRecord, DocumentEntry
from services.records.handlers import Ports
from services.records.identity import patient_key
from services.records.imaging import (
    CANNOT_UNDERSTAND,
    PROCESSING_FAILURE,
    FailedInstance,
    InstanceHeader,
)
from services.records.packs import PackPosition, PackWriter, pack_prefix
from services.records.patient_cases import PatientCase
from services.records.store import ClaimOutcome, InstanceRecord
from services.records.uploads import Spool, SpooledFile
from shared.auth import Principal
from shared.envelope import Payload, new_event_id
from shared.errors import ApiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A file that may be a DICOM instance; `label` names it in errors without its name."""

    path: Path
    size_bytes: int
    sha256: str
    head: bytes
    label: str
    # Its header when the caller has read it already (C-STORE reads it to find the case).
    header: InstanceHeader | None = None


@dataclass
class DicomReport:
    stored: list[InstanceHeader] = field(default_factory=list)
    duplicates: list[InstanceHeader] = field(default_factory=list)
    conflicts: list[InstanceHeader] = field(default_factory=list)
    # STOW-RS only: a request with an instance it cannot take stores nothing and lists each.
    failed: list[FailedInstance] = field(default_factory=list)
    skipped_files: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def study_uids(self) -> list[str]:
        seen = [h.study_instance_uid for h in [*self.stored, *self.duplicates]]
        return list(dict.fromkeys(seen))


@dataclass(frozen=True)
class DocumentReceipt:
    entry: DocumentEntry
    duplicate: bool


async def receive_upload(
    ports: Ports,
    *,
    principal: Principal,
    case_id: str,
    kind: str,
    upload: SpooledFile,
    spool: Spool,
) -> DocumentReceipt | DicomReport:
    """One file for a checklist item: its type comes from its content, not its name."""
    item = rules.ITEMS.get(kind)
    if item is None:
        raise ApiError(422, "unknown_item", "kind: not a checklist item", "kind")
    if upload.size_bytes == 0:
        raise ApiError(422, "empty_file", "file: the file is empty", "file")
    detected = content_types.accepted_type(
        kind=kind,
        accepts=item.accepts,
        declared=upload.declared_type,
        detected=content_types.sniff(upload.head),
    )
    if detected == content_types.ZIP:
        report = await _receive_archive(ports, principal, case_id, upload, spool)
    elif detected == content_types.DICOM:
        single = _candidates([(upload, "the file")])
        report = await DicomBatch(ports, principal, case_id, "upload").run(single, lenient=False)
    else:
        try:
            return await _receive_document(ports, principal, case_id, kind, detected, upload)
        except Exception as exc:
            metrics.count_failure("upload", exc)
            raise
    modality_items = {rules.item_of_modality(h.modality) for h in report.stored + report.duplicates}
    if modality_items and kind not in modality_items:
        report.warnings.append(f"the images count for {', '.join(sorted(modality_items))}")
    return report


async def receive_stow(
    ports: Ports,
    *,
    principal: Principal,
    case_id: str,
    parts: AsyncIterator[SpooledFile],
    patient: str | None = None,
) -> DicomReport:
    """STOW-RS: parts are stored as they arrive; if any is not a whole, valid DICOM instance
    (or, with `patient`, names another patient), nothing is stored and `failed` lists every
    instance with its Failure Reason."""

    async def checked() -> AsyncIterator[Candidate]:
        number = 0
        async for part in parts:
            number += 1
            if part.declared_type not in ("", content_types.DICOM):
                raise ApiError(
                    415, "unsupported_type", f"part {number}: must be application/dicom", "file"
                )
            yield Candidate(part.path, part.size_bytes, part.sha256, part.head, f"part {number}")
        if not number:
            raise ApiError(400, "malformed_body", "the request holds no DICOM parts", "file")

    batch = DicomBatch(
        ports, principal, case_id, "stow", collect_failures=True, patient=patient, channel="stow"
    )
    return await batch.run(checked(), lenient=False)


async def receive_pushed(
    ports: Ports, principal: Principal, found: PatientCase, candidate: Candidate
) -> DicomReport:
    """C-STORE: one pushed instance into its patient's case, checked and stored as a STOW'd one
    is (the same claims, commit, checklist and events)."""
    batch = DicomBatch(
        ports,
        principal,
        found.case_id,
        "stow",
        collect_failures=True,
        patient=found.patient,
        channel="cstore",
    )
    return await batch.run(_one(candidate), lenient=False)


async def _one(candidate: Candidate) -> AsyncIterator[Candidate]:
    yield candidate


async def _receive_document(
    ports: Ports,
    principal: Principal,
    case_id: str,
    kind: str,
    media_type: str,
    upload: SpooledFile,
) -> DocumentReceipt:
    # Parsed before anything is stored: a damaged file leaves no object and no entry.
    await asyncio.to_thread(check_document, upload.path, media_type)
    # The write below is conditional on this version and checks the caller again.
    case = await handlers.load_case(ports, principal, "upload", case_id, recent=True)
    case.ensure_open()
    existing = case.document_with(upload.sha256, kind)
    if existing is not None:
        return DocumentReceipt(existing, duplicate=True)
    document_id = new_event_id()
    entry = DocumentEntry(
        document_id=document_id,
        kind=kind,
        filename=upload.filename,
        content_type=media_type,
        size_bytes=upload.size_bytes,
        sha256=upload.sha256,
        object_key=f"cases/{case_id}/documents/{document_id}",
        uploaded_by=principal.subject,
        uploaded_at=handlers.now(),
    )
    await ports.objects.put_file(entry.object_key, upload.path, media_type)
    try:
        await handlers.add_document(
            ports, principal=principal, case_id=case_id, entry=entry, just_read=case
        )
    except BaseException:
        await ports.objects.delete(entry.object_key)
        raise
    metrics.INGESTED_DOCUMENTS.labels("upload").inc()
    metrics.INGESTED_BYTES.labels("upload").inc(entry.size_bytes)
    log.info("document stored", extra={"case_id": case_id, "count": 1})
    return DocumentReceipt(entry, duplicate=False)


async def _receive_archive(
    ports: Ports, principal: Principal, case_id: str, upload: SpooledFile, spool: Spool
) -> DicomReport:
    limits = ports.settings.archive_limits()
    archive = await asyncio.to_thread(SafeArchive, upload.path, limits)
    try:
        batch = DicomBatch(ports, principal, case_id, "upload")
        return await batch.run(_archive_entries(archive, spool), lenient=True)
    finally:
        archive.close()


async def _candidates(files: list[tuple[SpooledFile, str]]) -> AsyncIterator[Candidate]:
    for f, label in files:
        yield Candidate(f.path, f.size_bytes, f.sha256, f.head, label)


async def _archive_entries(archive: SafeArchive, spool: Spool) -> AsyncIterator[Candidate]:
    for number, info in enumerate(archive.files, start=1):
        target = spool.new_path(".dcm")
        # Viewer software, autorun files and reports on a CD are not extracted, then skipped.
        got = await asyncio.to_thread(archive.extract, info, target, has_preamble)
        yield Candidate(target, got.size_bytes, got.sha256, got.head, f"entry {number}")


class DicomBatch:
    """One upload's DICOM instances: checked and claimed concurrently and appended to packs,
    then committed to the case in one write; on any failure, everything this upload stored is
    removed."""

    def __init__(
        self,
        ports: Ports,
        principal: Principal,
        case_id: str,
        action: access.Action,
        *,
        collect_failures: bool = False,
        patient: str | None = None,
        channel: str = "upload",
    ) -> None:
        self._channel = channel
        self._collect_failures = collect_failures
        self._patient = patient
        self._ports = ports
        self._principal = principal
        self._case_id = case_id
        self._action: access.Action = action
        self._upload_id = new_event_id()
        self._claimed: list[tuple[InstanceHeader, InstanceRecord]] = []
        self._packs = PackWriter(
            ports.objects,
            ports.settings.spool_dir,
            pack_prefix(case_id, self._upload_id),
            ports.settings.pack_bytes,
        )
        self.report = DicomReport()

    async def run(self, candidates: AsyncIterator[Candidate], *, lenient: bool) -> DicomReport:
        """`lenient`: files without a DICOM preamble are skipped rather than refused."""
        # Refused early on the version this process last saw; `_commit` checks it as it writes.
        case = await handlers.load_case(
            self._ports, self._principal, self._action, self._case_id, recent=True
        )
        case.ensure_open()
        started = time.perf_counter()
        try:
            await self._store_all(candidates, lenient)
            if self.report.failed:
                return await self._refuse()
            found = self._claimed or self.report.duplicates or self.report.conflicts
            if not found:
                raise ApiError(422, "not_dicom", "file: the archive holds no DICOM files", "file")
            if self._claimed:
                await self._packs.finish()
                await handlers.change_case(self._ports, self._case_id, self._commit)
        except BaseException as exc:
            await self._roll_back()
            if isinstance(exc, Exception):
                metrics.count_failure(self._channel, exc)
            raise
        finally:
            await self._packs.close()
        self.report.stored = [header for header, _ in self._claimed]
        metrics.INGESTED_INSTANCES.labels(self._channel).inc(len(self._claimed))
        stored_bytes = sum(record.size_bytes for _, record in self._claimed)
        metrics.INGESTED_BYTES.labels(self._channel).inc(stored_bytes)
        if self.report.conflicts:  # a copy that differs from the one kept: refused, 409
            metrics.INGEST_FAILURES.labels(self._channel, "conflict").inc()
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        ids = {
            "case_id": self._case_id,
            "count": len(self._claimed),
            "packs": self._packs.packs,
            "duration_ms": elapsed_ms,
        }
        log.info("dicom instances stored", extra=ids)
        return self.report

    async def _store_all(self, candidates: AsyncIterator[Candidate], lenient: bool) -> None:
        slots = asyncio.Semaphore(self._ports.settings.store_concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                async for candidate in candidates:
                    await slots.acquire()
                    task = group.create_task(self._store_one(candidate, lenient))
                    task.add_done_callback(lambda _: slots.release())
        except BaseExceptionGroup as failures:
            raise _first_leaf(failures) from None

    async def _refuse(self) -> DicomReport:
        """Nothing of a request with a failed instance is kept; every instance is listed."""
        await self._roll_back()
        held = [header for header, _ in self._claimed] + self.report.duplicates
        self.report.failed += [
            FailedInstance(h.sop_class_uid, h.sop_instance_uid, PROCESSING_FAILURE) for h in held
        ]
        self._claimed, self.report.duplicates = [], []
        metrics.INGEST_FAILURES.labels(self._channel, "instances_refused").inc()
        log.info("stow refused", extra={"case_id": self._case_id, "count": len(self.report.failed)})
        return self.report

    async def _store_one(self, candidate: Candidate, lenient: bool) -> None:
        try:
            header = await self._checked_header(candidate, lenient)
            if header is None:
                return
            if self.report.failed:  # the request is refused already: check, do not store
                self._fail(header, PROCESSING_FAILURE)
                return
            # Appended first, so the claim names where the bytes are (packs.py).
            at = await self._packs.append(candidate.path)
            record = _instance_record(self._case_id, header, candidate, at)
            settings = self._ports.settings
            outcome: ClaimOutcome | None = None
            try:
                outcome = await self._ports.store.claim_instance(
                    record,
                    upload_id=self._upload_id,
                    now=handlers.now(),
                    stale_after=timedelta(seconds=settings.stale_claim_s),
                )
            finally:
                self._packs.settle(at, kept=outcome == "claimed")
            if outcome == "claimed":
                self._claimed.append((header, record))
            elif outcome == "duplicate":
                self.report.duplicates.append(header)
            else:
                self.report.conflicts.append(header)
        finally:
            await asyncio.to_thread(candidate.path.unlink, missing_ok=True)

    async def _checked_header(self, candidate: Candidate, lenient: bool) -> InstanceHeader | None:
        """The header, or None when the file is skipped or (collecting failures) refused."""
        try:
            header = await self._header(candidate, lenient)
        except ApiError:
            if not self._collect_failures:
                raise
            sop_class, sop = await asyncio.to_thread(readable_uids, candidate.path)
            self.report.failed.append(FailedInstance(sop_class, sop, CANNOT_UNDERSTAND))
            return None
        if header is not None and self._patient and not _names_patient(header, self._patient):
            self._fail(header, CANNOT_UNDERSTAND)
            return None
        return header

    def _fail(self, header: InstanceHeader, reason: int) -> None:
        failed = FailedInstance(header.sop_class_uid, header.sop_instance_uid, reason)
        self.report.failed.append(failed)

    async def _header(self, candidate: Candidate, lenient: bool) -> InstanceHeader | None:
        if not has_preamble(candidate.head):
            if lenient:
                self.report.skipped_files += 1
                return None
            raise _not_dicom(candidate.label, "it has no DICOM preamble")
        if candidate.header is not None:
            return candidate.header
        try:
            return await asyncio.to_thread(read_header, candidate.path)
        except MediaDirectory:
            self.report.skipped_files += 1
            return None
        except NotDicom as exc:
            raise _not_dicom(candidate.label, str(exc), exc.code) from None

    def _commit(self, case: CaseRecord) -> list[Payload]:
        access.check_case(self._principal, self._action, case, self._case_id)
        instances = [(header, record.size_bytes) for header, record in self._claimed]
        case.add_instances(self._upload_id, instances)
        return case.events_after_change(handlers.now())

    async def _roll_back(self) -> None:
        store = self._ports.store
        with contextlib.suppress(Exception):
            await self._packs.close()  # no pack store still running to land after this
            if await store.upload_committed(self._case_id, self._upload_id):
                return  # the failure came after the commit: what is committed stays
            await self._ports.objects.delete_prefix(pack_prefix(self._case_id, self._upload_id))
            await store.release_claims(self._upload_id)


def _instance_record(
    case_id: str, header: InstanceHeader, candidate: Candidate, at: PackPosition
) -> InstanceRecord:
    return InstanceRecord(
        case_id=case_id,
        sop_instance_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        study_instance_uid=header.study_instance_uid,
        series_instance_uid=header.series_instance_uid,
        transfer_syntax_uid=header.transfer_syntax_uid,
        modality=header.modality,
        instance_number=header.instance_number,
        size_bytes=candidate.size_bytes,
        sha256=candidate.sha256,
        object_key=at.key,
        offset=at.offset,
    )


def _names_patient(header: InstanceHeader, key: str) -> bool:
    ids = (header.patient.patient_id, *header.patient.other_ids)
    return any(patient_key(i) == key for i in ids)


def _not_dicom(label: str, why: str, code: str = "not_dicom") -> ApiError:
    return ApiError(422, code, f"file: {label} is not usable DICOM: {why}", "file")


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
