"""`case.erased` at records (issue 14): the case's documents and DICOM instances leave the
bucket, and its checklist, instance index (patient identity from the DICOM headers, study
descriptions) and resumable uploads (file names) leave the store.

Objects go first, then the documents that point at them: a crash in between leaves documents
that a redelivery deletes (every step deletes what is there, so doing it twice is harmless).
Afterwards the case is unknown here (404), and shared/erasure.py keeps any later event of it
from being applied.
"""

from __future__ import annotations

import logging

from services.records.handlers import Ports
from shared.consumer import Delivery
from shared.contracts import CaseErased, payload_as

log = logging.getLogger(__name__)


async def on_case_erased(delivery: Delivery, *, ports: Ports) -> None:
    """Delete everything records holds of the case."""
    case_id = payload_as(delivery.payload, CaseErased).case_id
    objects = 0
    for prefix in (f"cases/{case_id}/", f"incoming/{case_id}/"):
        objects += await ports.objects.delete_prefix(prefix)
    documents = await ports.store.erase_case(case_id)
    log.info("case erased", extra={"case_id": case_id, "objects": objects, "documents": documents})
