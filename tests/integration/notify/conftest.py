"""The notify service in-process against the real servers: its app served by uvicorn on a
loopback port (browsers and SSE clients need a real socket), its consumer and dispatcher as
tasks, a real SMTP server (aiosmtpd) and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.config import NotifySettings
from services.notify.wiring import SERVICE, NotifyService, assemble
from shared.auth import Role, TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher
from shared.envelope import CloudEvent
from shared.mongo import connect
from shared.settings import StackSettings
from tests.support import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MailSink:
    """An aiosmtpd handler: keeps messages; refuses `unknown@` addresses; can answer 451."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.temporary_failures = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("unknown"):
            return "550 5.1.1 No such user here"
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


@pytest.fixture
def mail_sink() -> Any:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A partner's webhook endpoint: answers each path as scripted and keeps what came."""

    url: str
    received: list[Received] = field(default_factory=list)
    # path -> statuses to answer in turn (the last one repeats); "slow" never answers in time.
    script: dict[str, list[int | str]] = field(default_factory=dict)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}")

    async def endpoint(request: Request) -> Response:
        path = request.url.path
        body = await request.body()
        answers = state.script.get(path, [204])
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer == "slow":
            await asyncio.sleep(30)
            answer = 204
        state.received.append(Received(path, dict(request.headers), body))
        return Response(status_code=int(answer))

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield state
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


@dataclass
class Notify:
    service: NotifyService
    client: httpx.AsyncClient
    url: str
    stack: StackSettings
    publisher: KafkaEventPublisher
    issuer: TokenIssuer
    sink: MailSink

    def auth(self, role: Role = "intake-staff", **claims: Any) -> dict[str, str]:
        token = self.issuer.issue(subject=f"{role}-1", role=role, **claims)
        return {"authorization": f"Bearer {token}"}

    async def publish(self, *events: CloudEvent) -> None:
        await self.publisher.publish(events)

    async def timeline(self, case_id: str) -> dict[str, Any] | None:
        answer = await self.client.get(f"/cases/{case_id}/timeline", headers=self.auth())
        return answer.json() if answer.status_code == 200 else None

    async def has_seen(self, case_id: str, *event_ids: str) -> bool:
        """Every one of these events is on the case's timeline. Each event type has its own topic
        and consumer, so the last event of a walk can land before the first one does."""
        timeline = await self.timeline(case_id)
        seen = {e["event_id"] for e in timeline["entries"]} if timeline else set()
        return seen.issuperset(event_ids)

    async def deliveries(self, **query: str) -> list[dict[str, Any]]:
        answer = await self.client.get("/deliveries", params=query, headers=self.auth())
        assert answer.status_code == 200, answer.text
        result: list[dict[str, Any]] = answer.json()
        return result

    async def settled(self, case_id: str, count: int) -> list[dict[str, Any]]:
        """Wait until `count` deliveries of the case reached a final status."""

        async def done() -> list[dict[str, Any]] | None:
            found = await self.deliveries(case_id=case_id)
            final = [d for d in found if d["status"] not in ("pending", "sending")]
            return found if len(final) >= count else None

        result: list[dict[str, Any]] = await eventually(done, within=30)
        return result


StartNotify = Callable[..., AbstractAsyncContextManager[Notify]]

FAST = {
    "email_retry_schedule_s": [0.2, 0.4, 0.8],
    "webhook_retry_schedule_s": [0.2, 0.4, 0.8],
    "dispatch_interval_s": 0.1,
    "webhook_timeout_s": 1.0,
    "board_keepalive_s": 1.0,
}


@pytest.fixture
def start_notify(
    topics: StackSettings,
    publisher: KafkaEventPublisher,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    mail_sink: tuple[MailSink, int],
) -> StartNotify:
    sink, smtp_port = mail_sink

    @asynccontextmanager
    async def start(*, drop_database: bool = True, **settings: Any) -> AsyncIterator[Notify]:
        port = free_port()
        config = NotifySettings(
            stack=topics, http_port=port, **{**FAST, "smtp_port": smtp_port, **settings}
        )
        mongo = connect(topics, app_name="notify-tests")
        service = await assemble(
            db=mongo[topics.database(SERVICE)],
            settings=config,
            publisher=publisher,
            verifier=verifier,
            issuer=issuer,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                service.app, host="127.0.0.1", port=port, log_config=None, lifespan="off"
            )
        )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(task(stop)) for task in service.background]
        http = asyncio.create_task(server.serve())
        url = f"http://127.0.0.1:{port}"
        client = httpx.AsyncClient(base_url=url, timeout=10)
        try:
            # Joining the consumer group waits for new topics' leaders: on a busy machine that
            # alone has taken more than the default 20 s (NotLeaderForPartition until then).
            await eventually(
                lambda: server.started and service.runner.ready and service.feed.ready, within=60
            )
            yield Notify(service, client, url, topics, publisher, issuer, sink)
        finally:
            stop.set()
            server.should_exit = True
            for task in [*tasks, http]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 30)
            await client.aclose()
            if drop_database:
                await mongo.drop_database(topics.database(SERVICE))
            await mongo.close()

    return start
