"""The records service's own collections."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document


class RecordsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        # One document per case: what this service has seen of it, and which events it applied.
        self.case_log: AsyncCollection[Document] = db["case_log"]
