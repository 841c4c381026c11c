"""Roster commands (admins keep experts and boards current) and the demo roster loader."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from services.assignment.domain.errors import Conflict, Invalid, NotFound
from services.assignment.domain.roster import Board, Expert
from services.assignment.store import AssignmentStore


class RosterFile(BaseModel):
    """A roster in a data file: experts first, then the boards they sit on."""

    model_config = ConfigDict(extra="forbid")

    experts: list[Expert]
    boards: list[Board] = []


async def create_expert(*, store: AssignmentStore, expert: Expert) -> Expert:
    if not await store.put_expert(expert, create_only=True):
        raise Conflict(
            "expert_exists", f"expert_id: {expert.expert_id} already exists", "expert_id"
        )
    return expert


async def replace_expert(*, store: AssignmentStore, expert: Expert) -> Expert:
    if await store.get_expert(expert.expert_id) is None:
        raise _expert_not_found(expert.expert_id)
    await store.put_expert(expert)
    return expert


async def delete_expert(*, store: AssignmentStore, expert_id: str) -> None:
    """Remove an expert; cases they hold keep their reference. Boards must drop them first."""
    boards = [b.board_id for b in await store.all_boards() if expert_id in b.team_ids()]
    if boards:
        raise Conflict(
            "expert_on_board", f"expert_id: {expert_id} sits on board {boards[0]}", "expert_id"
        )
    if not await store.delete_expert(expert_id):
        raise _expert_not_found(expert_id)


async def create_board(*, store: AssignmentStore, board: Board) -> Board:
    await _check_members(store, board)
    if not await store.put_board(board, create_only=True):
        raise Conflict("board_exists", f"board_id: {board.board_id} already exists", "board_id")
    return board


async def replace_board(*, store: AssignmentStore, board: Board) -> Board:
    if await store.get_board(board.board_id) is None:
        raise _board_not_found(board.board_id)
    await _check_members(store, board)
    await store.put_board(board)
    return board


async def delete_board(*, store: AssignmentStore, board_id: str) -> None:
    if not await store.delete_board(board_id):
        raise _board_not_found(board_id)


def read_roster_file(path: Path) -> RosterFile:
    return RosterFile.model_validate(yaml.safe_load(path.read_text()))


async def load_roster(*, store: AssignmentStore, roster: RosterFile) -> None:
    """Upsert every expert and board (loading the same roster twice changes nothing)."""
    for expert in roster.experts:
        await store.put_expert(expert)
    for board in roster.boards:
        await _check_members(store, board)
        await store.put_board(board)


async def _check_members(store: AssignmentStore, board: Board) -> None:
    known = {e.expert_id for e in await store.all_experts()}
    if board.lead_expert_id not in known:
        raise Invalid(
            "unknown_expert",
            f"lead_expert_id: no expert {board.lead_expert_id} in the roster",
            "lead_expert_id",
        )
    for member in board.member_expert_ids:
        if member not in known:
            raise Invalid(
                "unknown_expert",
                f"member_expert_ids: no expert {member} in the roster",
                "member_expert_ids",
            )


def _expert_not_found(expert_id: str) -> NotFound:
    return NotFound("expert_not_found", f"expert_id: no expert {expert_id}", "expert_id")


def _board_not_found(board_id: str) -> NotFound:
    return NotFound("board_not_found", f"board_id: no board {board_id}", "board_id")
