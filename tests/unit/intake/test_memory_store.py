"""The store contract against the in-memory fake."""

from __future__ import annotations

import pytest

from services.intake.memory_store import InMemoryCaseStore
from tests.unit.intake.store_contract import CaseStoreContract


class TestInMemoryCaseStore(CaseStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryCaseStore:
        return InMemoryCaseStore()
