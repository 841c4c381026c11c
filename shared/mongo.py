"""MongoDB access shared by the services, using only features every MongoDB-compatible
server has (no multi-document transactions, no change streams)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.metrics import STORE_COMMANDS
from shared.settings import StackSettings

Document = dict[str, Any]


def connect(stack: StackSettings, *, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        stack.mongo_url.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        # FerretDB and DocumentDB do not support retryable writes.
        retryWrites=False,
        event_listeners=[CommandCounter()],
    )


class CommandCounter(monitoring.CommandListener):
    """Counts the commands sent, by command and collection (`sop_store_commands_total`): how
    many round trips each case costs is what limits throughput on a slow store."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        STORE_COMMANDS.labels(command=event.command_name, collection=collection).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def apply_once(
    collection: AsyncCollection[Document],
    *,
    doc_id: str,
    event_id: str,
    update: Mapping[str, Any],
    upsert: bool = True,
) -> bool:
    """Apply `update` to one document unless that document already applied `event_id`.

    The change and the record that it was applied are written in one single-document update,
    so a redelivered event changes nothing. Returns False when the event was already applied.
    """
    update = dict(update)
    push = dict(update.pop("$push", {}))
    push["applied_event_ids"] = event_id
    update["$push"] = push
    try:
        result = await collection.update_one(
            {"_id": doc_id, "applied_event_ids": {"$ne": event_id}}, update, upsert=upsert
        )
    except DuplicateKeyError:
        # The filter missed because the event was applied, and the upsert hit the existing _id.
        return False
    return result.modified_count == 1 or result.upserted_id is not None
