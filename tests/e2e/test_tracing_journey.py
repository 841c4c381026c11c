"""One case is one trace: from the hospital's `hospital.case.submitted` through records,
assignment and the expert's report to `report.issued`, the family's email and a partner's
webhook, every service's spans share one trace id and hang together in one tree, and none of
them holds the child's or the family's details, a case link's token or a partner's URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bench.journey import Journey
from shared import tracing
from shared.bus import KafkaEventPublisher
from tests.e2e.test_case_journey import MailSink, mail
from tests.integration.notify.conftest import Receiver, receiver
from tests.platform import Platform
from tests.support import eventually, sample_case

__all__ = ["mail", "receiver"]  # fixtures

pytestmark = pytest.mark.real

PARTNER_TOKEN = "partner-query-token-5150"


@pytest.fixture
def traces_file(tmp_path: Path) -> Path:
    return tmp_path / "traces.jsonl"


@pytest.fixture
def platform_env(mail: tuple[MailSink, int], traces_file: Path) -> dict[str, str]:
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": str(mail[1]),
        "SOP_TRACES_FILE": str(traces_file),
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans reach the file within a fraction of a second
    }


async def test_one_case_is_one_connected_trace_across_every_service(
    platform: Platform,
    publisher: KafkaEventPublisher,
    mail: tuple[MailSink, int],
    receiver: Receiver,
    traces_file: Path,
) -> None:
    sink, _ = mail
    case = sample_case("traced-1", organization_id="valley", hospital_request_id="VP-T-1")
    # Signing renders the PDF, slow on a busy machine: a sign that times out here and is sent
    # again is refused (409) for good, so the client waits long enough for the first.
    async with httpx.AsyncClient(timeout=120) as http:
        urls = {name: platform.url(name) for name in platform.services}
        journey = Journey(urls, platform.issuer, http)
        registered = await http.post(
            f"{urls['notify']}/partners",
            json={
                "partner_id": "registry",
                "name": "Tumour registry",
                "organization_id": "valley",
                "url": f"{receiver.url}/registry?token={PARTNER_TOKEN}",
                "event_types": ["report.issued"],
            },
            headers=journey.auth("admin", "admin-1"),
        )
        assert registered.status_code == 201, registered.text
        await journey.whole_way(publisher, platform.stack, case)
        (delivered,) = await eventually(lambda: receiver.at("/registry"), within=60)
        await eventually(
            lambda: [m for r, m in sink.messages if case.guardian.email in r] or None, within=60
        )

    case_trace = f"{trace_id_of_case('traced-1'):032x}"
    # The partner can join the trace: the webhook carries it as an HTTP header.
    assert delivered.headers["traceparent"].split("-")[1] == case_trace

    root = tracing.case_root_span_id("traced-1")

    def whole_trace() -> list[dict[str, Any]] | None:
        """The case's spans once the last ones are in the file and every parent is there too:
        each service exports in batches of its own, so a consumer's span can land in the file
        before the producer span it continues."""
        if not traces_file.exists():
            return None
        spans = [s for s in tracing.read_spans(traces_file) if s["trace_id"] == case_trace]
        names = {s["name"] for s in spans}
        last = {"smtp send", "webhook POST", "process report.issued", "publish report.issued"}
        ids = {s["span_id"] for s in spans} | {root}
        connected = all(s["parent"] in ids for s in spans)
        return spans if last <= names and connected else None

    spans = await eventually(whole_trace, within=60)
    services = {s["service"] for s in spans}
    assert {"intake", "records", "assignment", "reports", "notify"} <= services, services
    kinds = {s["kind"] for s in spans}
    assert {"SERVER", "PRODUCER", "CONSUMER", "CLIENT"} <= kinds
    # Connected: every span's parent is a span of the trace, or the case's own root.
    ids = {s["span_id"] for s in spans}
    assert [s["name"] for s in spans if s["parent"] not in ids and s["parent"] != root] == []
    assert [s for s in spans if s["parent"] == root]  # ... which has children
    # report.issued's consumers are descendants of the PRODUCER span that published it.
    by_id = {s["span_id"]: s for s in spans}
    (issued,) = [s for s in spans if s["name"] == "publish report.issued"]
    webhook = next(s for s in spans if s["name"] == "webhook POST")
    assert issued["span_id"] in ancestors(webhook, by_id)
    print(f"\ntrace of traced-1: {len(spans)} spans, depth {depth(spans, by_id)}")
    print("\n".join(tracing.tree_lines(spans)))

    # No one's details, tokens, URLs or query strings anywhere in any span of any trace.
    details = [
        case.patient.given_name,
        case.patient.family_name,
        case.patient.date_of_birth.isoformat(),
        case.guardian.name,
        case.guardian.email,
        case.guardian.phone,
        case.referring_physician.email,
        PARTNER_TOKEN,
        "access_token",
        "http://",
        "https://",
    ]
    assert details_in_spans(traces_file, details) == []


def details_in_spans(path: Path, details: list[str]) -> list[str]:
    """What of `details` the span file holds, and any attribute with a query string."""
    everything = path.read_text()
    found = [d for d in details if d in everything]
    for span in map(orjson.loads, everything.splitlines()):
        found += [k for k, v in span["attributes"].items() if "?" in str(v)]
    return found


def trace_id_of_case(case_id: str) -> int:
    ctx = tracing.trace.get_current_span(tracing.case_context(case_id)).get_span_context()
    return int(ctx.trace_id)


def ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    while span["parent"] in by_id:
        found.append(span["parent"])
        span = by_id[span["parent"]]
    return found


def depth(spans: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> int:
    return 1 + max(len(ancestors(s, by_id)) for s in spans)
