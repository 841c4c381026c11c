"""Roster routes: staff read the experts and boards, admins create, replace and remove them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from services.assignment import roster_handlers
from services.assignment.deps import Admin, Context, Staff
from services.assignment.domain.errors import NotFound
from services.assignment.domain.roster import Board, BoardProfile, Expert, ExpertProfile

roster_router = APIRouter(tags=["roster"])
_ID = r"^[a-z0-9][a-z0-9._-]{0,63}$"
ExpertId = Annotated[str, Path(pattern=_ID)]
BoardId = Annotated[str, Path(pattern=_ID)]


@roster_router.get("/experts")
async def list_experts(_: Staff, ctx: Context) -> list[Expert]:
    """Every expert on the roster, by id."""
    return await ctx.store.all_experts()


@roster_router.get("/experts/{expert_id}")
async def get_expert(expert_id: ExpertId, _: Staff, ctx: Context) -> Expert:
    """One expert."""
    expert = await ctx.store.get_expert(expert_id)
    if expert is None:
        raise NotFound("expert_not_found", f"expert_id: no expert {expert_id}", "expert_id")
    return expert


@roster_router.post("/experts", status_code=201)
async def create_expert(body: Expert, _: Admin, ctx: Context) -> Expert:
    """Add an expert; 409 if the id is taken."""
    return await roster_handlers.create_expert(store=ctx.store, expert=body)


@roster_router.put("/experts/{expert_id}")
async def replace_expert(
    expert_id: ExpertId, body: ExpertProfile, _: Admin, ctx: Context
) -> Expert:
    """Replace an expert's profile (leave, capacity, languages...)."""
    expert = Expert(expert_id=expert_id, **body.model_dump())
    return await roster_handlers.replace_expert(store=ctx.store, expert=expert)


@roster_router.delete("/experts/{expert_id}", status_code=204)
async def delete_expert(expert_id: ExpertId, _: Admin, ctx: Context) -> Response:
    """Remove an expert who sits on no board; their current cases keep them."""
    await roster_handlers.delete_expert(store=ctx.store, expert_id=expert_id)
    return Response(status_code=204)


@roster_router.get("/boards")
async def list_boards(_: Staff, ctx: Context) -> list[Board]:
    """Every multidisciplinary board, by id."""
    return await ctx.store.all_boards()


@roster_router.get("/boards/{board_id}")
async def get_board(board_id: BoardId, _: Staff, ctx: Context) -> Board:
    """One board."""
    board = await ctx.store.get_board(board_id)
    if board is None:
        raise NotFound("board_not_found", f"board_id: no board {board_id}", "board_id")
    return board


@roster_router.post("/boards", status_code=201)
async def create_board(body: Board, _: Admin, ctx: Context) -> Board:
    """Add a board whose lead and members are on the roster; 409 if the id is taken."""
    return await roster_handlers.create_board(store=ctx.store, board=body)


@roster_router.put("/boards/{board_id}")
async def replace_board(board_id: BoardId, body: BoardProfile, _: Admin, ctx: Context) -> Board:
    """Replace a board's lead, members or remit."""
    board = Board(board_id=board_id, **body.model_dump())
    return await roster_handlers.replace_board(store=ctx.store, board=board)


@roster_router.delete("/boards/{board_id}", status_code=204)
async def delete_board(board_id: BoardId, _: Admin, ctx: Context) -> Response:
    """Remove a board; cases it holds keep their team."""
    await roster_handlers.delete_board(store=ctx.store, board_id=board_id)
    return Response(status_code=204)
