"""MongoDB access shared by the services, using only features every MongoDB-compatible
server has (no multi-document transactions, no change streams)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, monitoring

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
