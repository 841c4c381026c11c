"""deploy/local/stack.py refuses a state dir from the SQLite store instead of starting beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.local.stack import StackError, refuse_sqlite_layout


def test_a_state_dir_of_the_sqlite_store_is_refused_with_how_to_reset_it(tmp_path: Path) -> None:
    data = tmp_path / ".state" / "mongo"
    data.mkdir(parents=True)
    refuse_sqlite_layout(data)  # empty: a fresh stack
    (data / "sop_intake.sqlite").write_bytes(b"")
    with pytest.raises(StackError) as refused:
        refuse_sqlite_layout(data)
    assert "make stack-down" in str(refused.value)
    assert str(tmp_path / ".state") in str(refused.value)
