"""The payment-provider port: how intake asks the hospital's billing system whether a
reference the intake team typed (a self-pay receipt, an insurer's pre-authorisation) is good.

The platform takes no payment and holds no card data; billing stays in the hospital's own
system. A hospital plugs its billing in either by implementing `PaymentProvider` (an adapter
calling its billing API, wired in `wiring.py`), or by letting its billing system post the
clearance itself (`POST /cases/{case_id}/financial-clearance` with a hospital-system token).
`FakeBilling` is the default locally and in tests.
"""

from __future__ import annotations

from typing import Literal, Protocol

AuthorizationStatus = Literal["approved", "pending", "declined", "unknown"]


class PaymentProvider(Protocol):
    async def status(self, reference: str) -> AuthorizationStatus:
        """What the billing system knows of this reference."""


class FakeBilling:
    """Approves every reference but those it was told otherwise about (and, for trying the
    refusals by hand, references starting with DECLINED or PENDING)."""

    def __init__(self, known: dict[str, AuthorizationStatus] | None = None) -> None:
        self.known: dict[str, AuthorizationStatus] = dict(known or {})
        self.asked: list[str] = []

    async def status(self, reference: str) -> AuthorizationStatus:
        self.asked.append(reference)
        if reference in self.known:
            return self.known[reference]
        upper = reference.upper()
        if upper.startswith("DECLINED"):
            return "declined"
        if upper.startswith("PENDING"):
            return "pending"
        return "approved"
