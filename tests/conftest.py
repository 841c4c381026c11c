"""Fixtures for tests that use the real stack started by `make test` (deploy/local/stack.py)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared.auth import TokenIssuer, TokenVerifier
from shared.bus import KafkaEventPublisher
from shared.settings import StackSettings
from shared.topics import ensure_topics
from tests.platform import platform, platform_env

__all__ = ["platform", "platform_env"]  # fixtures for end-to-end and chaos tests

_counter = itertools.count()


def _stack_env_present() -> bool:
    return bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("MONGO_URL"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _stack_env_present():
        return
    # `make test` always provides the stack and sets SOP_REQUIRE_STACK, so a missing stack
    # there is an error, not a silent skip.
    if os.environ.get("SOP_REQUIRE_STACK"):
        raise pytest.UsageError("SOP_REQUIRE_STACK is set but the stack variables are missing")
    skip = pytest.mark.skip(reason="needs the real stack: run through `make test`")
    for item in items:
        if "real" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def stack() -> StackSettings:
    """Stack settings with a namespace of their own, so no two tests share topics or databases."""
    run = os.environ.get("SOP_RUN_ID", "local")
    return StackSettings(sop_namespace=f"t{run}_{os.getpid()}_{next(_counter)}_".lower())


async def delete_topics(stack: StackSettings) -> None:
    """Delete every topic of a test's own namespace (never an unprefixed one), best effort."""
    if not stack.sop_namespace:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=stack.kafka_bootstrap_servers, **stack.kafka_client_options()
    )
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(stack.sop_namespace)]
        if mine:
            await admin.delete_topics(mine)
    except KafkaError:
        pass  # a broker a test stopped: the topics stay, which costs time, not correctness
    finally:
        await admin.close()


@pytest.fixture
async def topics(stack: StackSettings) -> AsyncIterator[StackSettings]:
    await ensure_topics(stack)
    yield stack
    # Each test's ~30 topics would stay for the session: thousands by its end, which a broker
    # restart (test_publisher_recovery, the chaos tests) must load again before it answers.
    await delete_topics(stack)


@pytest.fixture
async def publisher(topics: StackSettings) -> AsyncIterator[KafkaEventPublisher]:
    producer = KafkaEventPublisher(topics)
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture(scope="session")
def issuer() -> TokenIssuer:
    """Stands in for the identity provider and the case-link key in tests."""
    return TokenIssuer.generate()


@pytest.fixture(scope="session")
def verifier(issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(jwks=issuer.jwks(), issuers=[issuer.issuer], audience=issuer.audience)


@pytest.fixture(scope="session")
def auth_env(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """AUTH_ variables for service processes started by a test, trusting `issuer`."""
    directory = tmp_path_factory.mktemp("auth")
    # The link key signs with its own key id (TokenIssuer.from_pem): publish both ids.
    link_issuer = TokenIssuer.from_pem(issuer.private_pem())
    keys = issuer.jwks()["keys"] + link_issuer.jwks()["keys"]
    (directory / "jwks.json").write_text(json.dumps({"keys": keys}))
    (directory / "link-key.pem").write_bytes(issuer.private_pem())
    return {
        "AUTH_JWKS_PATH": str(directory / "jwks.json"),
        "AUTH_LINK_KEY_PATH": str(directory / "link-key.pem"),
        "AUTH_ISSUERS": json.dumps([issuer.issuer]),
    }
