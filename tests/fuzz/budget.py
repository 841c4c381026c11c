"""How hard the fuzz tests try: a few hundred inputs per test in `make test`, tens of thousands
in `make chaos` (SOP_FUZZ_EXAMPLES=20000).

Failures are shrunk, kept in `.hypothesis/` and replayed first on the next run; set
SOP_FUZZ_SEED to replay one run's exact inputs (pytest also prints `--hypothesis-seed`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, seed, settings

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = int(os.environ.get("SOP_FUZZ_EXAMPLES", "0"))
SEED = os.environ.get("SOP_FUZZ_SEED")


def fuzz(default: int) -> Callable[[F], F]:
    """Hypothesis settings for one fuzz test: `default` examples unless SOP_FUZZ_EXAMPLES says."""
    chosen = settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )

    def apply(test: F) -> F:
        wrapped = chosen(test)
        if SEED:
            wrapped = seed(int(SEED))(wrapped)
        if EXAMPLES:  # a long run: no per-test time limit
            wrapped = pytest.mark.timeout(0)(wrapped)
        return wrapped

    return apply
