"""The records service's DICOM Application Entity: C-ECHO and C-STORE, for PACS and modalities.

pynetdicom runs the listener and each association in threads of its own. A C-STORE's data set
is written to the spool there, as received (a Part 10 file with pynetdicom's file meta), then
handed to the service's event loop (`run_coroutine_threadsafe`); the status goes back only once
the instance is stored or refused and the access is on the audit trail, so a PACS that hears
0000H may let its copy go and one that hears A700H sends it again. A calling AE title that
RECORDS_DIMSE_CALLING_AES does not name is rejected at association (calling AE title not
recognised). On stop: no new associations, open ones get half the grace period, then abort.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from pydicom import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, _config, evt
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from services.records.config import RecordsSettings
from services.records.cstore import (
    CANNOT_UNDERSTAND,
    DUPLICATE_SOP_INSTANCE,
    NO_CASE,
    OUT_OF_RESOURCES,
    SUCCESS,
    TRY_AGAIN,
    Sender,
    StoreStatus,
)
from services.records.imaging import InstanceHeader
from services.records.ingest import Candidate
from services.records.uploads import HEAD_BYTES
from shared.audit import record_access
from shared.audit_trail import AuditTrail
from shared.contracts.access_recorded import AuditAgent

log = logging.getLogger(__name__)

StorePushed = Callable[[Sender, Candidate], Awaitable[StoreStatus]]
# The HTTP status of the same outcome, for the audit record (as STOW-RS would answer).
HTTP_STATUS_OF = {SUCCESS: 200, DUPLICATE_SOP_INSTANCE: 409, CANNOT_UNDERSTAND: 422}


class DimseServer:
    """The C-STORE SCP; `run` is a background task of the service."""

    def __init__(self, *, settings: RecordsSettings, store: StorePushed, audit: AuditTrail) -> None:
        assert settings.dimse_port is not None
        self._settings = settings
        self._port = settings.dimse_port
        self._store = store
        self._audit = audit
        self.listening = False

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop`; then let open associations finish, briefly."""
        loop = asyncio.get_running_loop()
        spool = await asyncio.to_thread(_new_spool, self._settings.spool_dir)
        handlers: list[EventHandlerType] = [(evt.EVT_C_STORE, self._on_store, [loop, spool])]
        address = (self._settings.dimse_host, self._port)
        try:
            server = await asyncio.to_thread(
                self._application_entity().start_server,
                address,
                block=False,
                evt_handlers=handlers,
            )
            assert isinstance(server, ThreadedAssociationServer)
            self.listening = True
            log.info("dicom scp listening", extra={"port": self._port})
            try:
                await stop.wait()
            finally:
                self.listening = False
                await asyncio.to_thread(self._close, server)
        finally:
            await asyncio.to_thread(shutil.rmtree, spool, True)

    def _application_entity(self) -> AE:
        # pynetdicom's standard handlers log each message; a C-FIND's would quote identifiers.
        _config.LOG_HANDLER_LEVEL = "none"
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        ae = AE(ae_title=self._settings.dimse_ae_title)
        ae.require_called_aet = True
        ae.require_calling_aet = list(self._settings.dimse_calling_aes)
        ae.supported_contexts = AllStoragePresentationContexts
        ae.add_supported_context(Verification)
        return ae

    def _close(self, server: ThreadedAssociationServer) -> None:
        server.shutdown()
        deadline = time.monotonic() + self._settings.shutdown_grace_s / 2
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        for association in server.active_associations:
            association.abort()

    def _on_store(self, event: Event, loop: asyncio.AbstractEventLoop, spool: Path) -> Dataset:
        """In the association's thread: spool the data set, store it on the loop, answer."""
        requestor = event.assoc.requestor
        organization = self._settings.dimse_organization_of(requestor.ae_title)
        if organization is None:  # the association was checked; a title changed since
            return _status(CANNOT_UNDERSTAND, NO_CASE)
        sender = Sender(requestor.ae_title, organization, requestor.address)
        try:
            candidate = _spooled(event.encoded_dataset(), spool)
        except Exception as exc:
            log.error("pushed instance could not be spooled", exc_info=exc)
            return _status(OUT_OF_RESOURCES, TRY_AGAIN)
        try:
            future = asyncio.run_coroutine_threadsafe(self._stored(sender, candidate), loop)
            outcome = future.result(timeout=self._settings.dimse_store_timeout_s)
        except Exception as exc:  # timed out, or the service is stopping
            log.error("pushed instance not stored in time", exc_info=exc)
            candidate.path.unlink(missing_ok=True)
            return _status(OUT_OF_RESOURCES, TRY_AGAIN)
        return _status(outcome.status, outcome.comment)

    async def _stored(self, sender: Sender, candidate: Candidate) -> StoreStatus:
        """Store, then record the access; what cannot be recorded is answered A700H."""
        outcome = await self._store(sender, candidate)
        agent = AuditAgent(
            subject=sender.ae_title,
            role="hospital-system",
            organization=sender.organization,
            network_address=sender.address,
        )
        try:
            await record_access(
                self._audit,
                protocol="DIMSE",
                operation="C-STORE",
                case_id=outcome.case_id,
                action="C",
                status_code=HTTP_STATUS_OF.get(outcome.status, 503),
                agent=agent,
                entities=_entities(outcome.header),
            )
        except Exception as exc:
            log.error("audit record could not be written; answering A700H", exc_info=exc)
            return StoreStatus(OUT_OF_RESOURCES, TRY_AGAIN, outcome.case_id, outcome.header)
        return outcome


def _spooled(data: bytes, spool: Path) -> Candidate:
    descriptor, name = tempfile.mkstemp(suffix=".dcm", dir=spool)
    with os.fdopen(descriptor, "wb") as sink:
        sink.write(data)
    digest = hashlib.sha256(data).hexdigest()
    return Candidate(Path(name), len(data), digest, data[:HEAD_BYTES], "the instance")


def _new_spool(parent: Path | None) -> Path:
    """A private directory for the instances being received (the system temp if unset)."""
    return Path(tempfile.mkdtemp(prefix="records-dimse-", dir=parent))


def _status(status: int, comment: str | None) -> Dataset:
    answer = Dataset()
    answer.Status = status
    if comment:
        answer.ErrorComment = comment
    return answer


def _entities(header: InstanceHeader | None) -> Mapping[str, str]:
    if header is None:
        return {}
    return {
        "study": header.study_instance_uid,
        "series": header.series_instance_uid,
        "sop": header.sop_instance_uid,
    }
