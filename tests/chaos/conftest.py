"""Chaos tests run at a reduced scale in `make test`; `make chaos` sets SOP_CHAOS_SCALE."""

from __future__ import annotations

import os

from tests.platform import Platform

__all__ = ["Platform", "scaled"]

CHAOS_SCALE = float(os.environ.get("SOP_CHAOS_SCALE", "1"))


def scaled(count: int) -> int:
    return max(1, int(count * CHAOS_SCALE))
