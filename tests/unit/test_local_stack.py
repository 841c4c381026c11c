"""deploy/local/stack.py refuses a state dir from the SQLite store instead of starting beside it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy.local import stack
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


def test_a_cluster_left_by_a_deleted_state_dir_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rm -rf .state` removes the password but (as root) not the cluster elsewhere; a new
    stack at the same path must start a new cluster instead of failing to sign in."""
    monkeypatch.setattr(stack, "POSTGRES_ROOT_DATA", tmp_path / "pg-root")
    monkeypatch.setattr(stack.os, "geteuid", lambda: 0)
    state = tmp_path / ".state"
    state.mkdir()
    data, user = stack.Stack(state).postgres_data()
    assert user == "postgres" and (state / "postgres").resolve() == data
    (data / "PG_VERSION").parent.mkdir(parents=True)
    (data / "PG_VERSION").write_text("15")  # the old cluster
    shutil.rmtree(state)
    state.mkdir()
    again, _ = stack.Stack(state).postgres_data()
    assert again == data and not again.exists()
    # While the state dir lives, its cluster is kept.
    kept = stack.Stack(state)
    kept.postgres_data()
    kept.save()
    data.mkdir(parents=True)
    assert stack.Stack(state).postgres_data()[0].exists()
