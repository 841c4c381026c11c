"""What the chaos tests share: a load generator that pushes cases through the running platform
while something breaks, and the check that every case reached its stage exactly once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.journey import report_sections
from shared.bus import KafkaEventPublisher
from shared.contracts import CASE_TOPICS
from shared.envelope import decode
from shared.mongo import connect
from shared.topics import INBOUND_TOPICS, dlq_topic
from tests.platform import Platform
from tests.support import eventually, sample_event, sample_pdf
from tests.topic_reading import opened, read_topic

DOCUMENTS = {
    "pathology-report": ("path.pdf", sample_pdf("pathology")),
    "treatment-records": ("plan.txt", b"Cycle 1: vincristine\n"),
    "current-medications": ("meds.txt", b"ondansetron 4 mg\n"),
}
FIRST_DECISIONS = ("offered", "no-expert-available")


async def until_done(
    call: Callable[[], Awaitable[httpx.Response]], *, within: float = 180
) -> httpx.Response:
    """Retry one request while its service or a server is down (a client's patience)."""
    deadline = asyncio.get_running_loop().time() + within
    last = "no answer"
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = await call()
            if response.status_code < 500:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the service did not come back ({last})")
        await asyncio.sleep(0.3)


async def drive_case(http: httpx.AsyncClient, platform: Platform, case_id: str) -> None:
    """What a family and the intake team do: send the records, waive the imaging."""
    base = f"{platform.url('records')}/cases/{case_id}"
    staff = platform.auth("intake-staff", "staff-1")

    async def checklist() -> bool:
        with contextlib.suppress(httpx.TransportError):
            return (await http.get(f"{base}/checklist", headers=staff)).status_code == 200
        return False

    await eventually(checklist, within=180, interval=0.3)
    for kind, (name, content) in DOCUMENTS.items():
        sent = await until_done(
            lambda k=kind, n=name, c=content: http.post(  # type: ignore[misc]
                f"{base}/documents", data={"kind": k}, files={"file": (n, c)}, headers=staff
            )
        )
        assert sent.status_code in (200, 201), sent.text
    waived = await until_done(
        lambda: http.post(
            f"{base}/checklist/mri-imaging/waive",
            json={"reason": "imaging is on its way by courier"},
            headers=staff,
        )
    )
    assert waived.status_code == 200, waived.text


async def until_published(publisher: KafkaEventPublisher, case_id: str) -> int:
    """A hospital system retries (the same event) while the broker is away; returns the tries."""
    event = sample_event(case_id)
    for attempt in range(1, 400):
        try:
            await asyncio.wait_for(publisher.publish([event]), timeout=40)
            return attempt
        except Exception:
            await asyncio.sleep(0.5)
    raise AssertionError(f"{case_id} could not be published")


async def once(
    call: Callable[[], Awaitable[httpx.Response]], step: str, *, within: float = 240
) -> httpx.Response | None:
    """Send a change until it is answered. A 409 after a try that got no answer (a service or
    server was down) means that try landed: returns None then. 404 and 409 before that are
    waited out (not there yet); any other 4xx fails."""
    deadline = asyncio.get_running_loop().time() + within
    unanswered, last = False, "no answer"
    while True:
        try:
            response = await call()
        except httpx.TransportError:
            unanswered = True
        else:
            if response.status_code < 300:
                return response
            last = f"{response.status_code} {response.text[:300]}"
            if response.status_code == 409 and unanswered:
                return None
            if response.status_code >= 500:
                unanswered = True
            elif response.status_code not in (404, 409):
                raise AssertionError(f"{step}: {last}")
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{step}: not done within {within:.0f}s ({last})")
        await asyncio.sleep(0.3)


async def accept_and_sign(http: httpx.AsyncClient, platform: Platform, case_id: str) -> bool:
    """The offered expert accepts, fills in every section and signs (bench/journey.py's steps,
    retried the way a browser user would after an outage). False if nobody was free to offer
    the case to (the demo roster is small and a board offer holds several experts)."""
    staff = platform.auth("intake-staff", "staff-1")

    async def decided() -> httpx.Response:
        found = await http.get(f"{platform.url('assignment')}/cases/{case_id}", headers=staff)
        if found.status_code == 200 and found.json()["stage"] not in ("offered", "unassigned"):
            return httpx.Response(404, json={"stage": found.json()["stage"]})
        return found

    try:
        answer = await once(decided, f"first decision on {case_id}")
    except AssertionError as stalled:
        raise AssertionError(f"{stalled}; {await _states(platform, [case_id])}") from None
    assert answer is not None
    detail = answer.json()
    if detail["stage"] == "unassigned":
        return False
    (offer,) = [o for o in detail["offers"] if o["status"] == "open"]
    expert_id = offer["lead"]["expert_id"]
    expert = platform.auth("expert", expert_id)
    accept_url = f"{platform.url('assignment')}/offers/{offer['offer_id']}/accept"
    await once(lambda: http.post(accept_url, headers=expert), f"acceptance of {case_id}")
    draft_url = f"{platform.url('reports')}/cases/{case_id}/report/draft"

    async def draft() -> dict[str, Any]:
        got = await once(lambda: http.get(draft_url, headers=expert), f"draft of {case_id}")
        assert got is not None
        body: dict[str, Any] = got.json()
        return body

    sections = report_sections(await draft())
    deadline = asyncio.get_running_loop().time() + 240
    while True:  # autosave, re-reading the draft after a conflict or a lost answer
        current = await draft()
        if current["sections"].get("summary") == sections["summary"]:
            break  # it landed, whether or not its answer reached us
        with contextlib.suppress(httpx.TransportError):
            answer = await http.patch(
                draft_url,
                json=sections,
                headers={**expert, "If-Match": f'"{current["revision"]}"'},
            )
            if answer.status_code < 300:
                break
            assert answer.status_code in (409, 412) or answer.status_code >= 500, answer.text
        assert asyncio.get_running_loop().time() < deadline, f"autosave of {case_id}"
        await asyncio.sleep(0.3)
    saved = await draft()  # the revision the autosave made, whether or not its answer came
    await once(
        lambda: http.post(
            f"{platform.url('reports')}/cases/{case_id}/report/sign",
            json={"revision": saved["revision"]},
            headers=expert,
        ),
        f"signature of {case_id}",
    )
    return True


@dataclass
class Load:
    """Cases pushed, and which of them an expert took all the way to a signed report."""

    cases: list[str]
    whole_way: set[str] = field(default_factory=set)
    unassigned: set[str] = field(default_factory=set)  # tried, but nobody was free
    publish_retries: int = 0


async def run_cases_under(
    platform: Platform,
    publisher: KafkaEventPublisher,
    load: Load,
    chaos: Coroutine[Any, Any, None],
) -> None:
    """Submit the cases a quarter of a second apart and drive each, while `chaos` runs."""

    async def one(http: httpx.AsyncClient, case_id: str) -> None:
        await drive_case(http, platform, case_id)
        if case_id in load.whole_way and not await accept_and_sign(http, platform, case_id):
            load.whole_way.discard(case_id)  # it stops at "no expert available"
            load.unassigned.add(case_id)

    async def generate(http: httpx.AsyncClient) -> None:
        drivers = []
        for case_id in load.cases:
            load.publish_retries += await until_published(publisher, case_id) - 1
            drivers.append(asyncio.create_task(one(http, case_id)))
            await asyncio.sleep(0.25)
        await asyncio.gather(*drivers)

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(generate(http), chaos)


@dataclass
class Outcome:
    """Distinct event ids per case on the topics that mark the stages."""

    ready: dict[str, int]
    first_decision: dict[str, int]
    assigned: dict[str, int]
    issued: dict[str, int]
    dead_letters: dict[str, int]
    # Records that repeat an event id already on the topic (a send retried after its answer
    # was lost); consumers absorb these through their applied-event records.
    repeated: dict[str, int] = field(default_factory=dict)


async def every_case_once(platform: Platform, load: Load) -> Outcome:
    """Each case reached records.ready and assignment's first decision exactly once; the cases
    taken all the way were assigned once and issued one report, version 1; nothing else was."""
    stack = platform.stack
    cases = load.cases

    async def per_case(topic: str, changes: tuple[str, ...] = ()) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        events = [decode(record.value) for record in await read_topic(stack, stack.topic(topic))]
        for event in await opened(stack, events):
            if not changes or event.data.get("change") in changes:
                found[event.subject].add(event.id)
        return found

    async def counts(
        topic: str, expected: Iterable[str], changes: tuple[str, ...] = ()
    ) -> dict[str, int]:
        """Distinct event ids per case, waiting (a while) for every expected case to have one."""
        want = set(expected)
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            found = await per_case(topic, changes)
            result = {c: len(found.get(c, ())) for c in cases}
            done = all(result[c] for c in want)
            if done or asyncio.get_running_loop().time() > deadline:
                return result
            await asyncio.sleep(1)

    assert load.whole_way, f"no case could be offered to an expert: {load.unassigned}"
    ready = await counts("records.ready", cases)
    # The first decision: an offer, or (the demo roster being small) "nobody is free", once.
    decided = await counts("assignment.updated", cases, FIRST_DECISIONS)
    assigned = await counts("expert.assigned", load.whole_way)
    issued = await counts("report.issued", load.whole_way)
    reports = [decode(r.value) for r in await read_topic(stack, stack.topic("report.issued"))]
    versions = Counter((e.subject, e.data.get("version")) for e in await opened(stack, reports))
    dead = {
        topic: len(await read_topic(stack, dlq_topic(stack.topic(topic))))
        for topic in (*CASE_TOPICS, *INBOUND_TOPICS)
    }
    repeated = {}
    for topic in ("records.ready", "assignment.updated", "expert.assigned", "report.issued"):
        ids = [decode(r.value).id for r in await read_topic(stack, stack.topic(topic))]
        repeated[topic] = len(ids) - len(set(ids))
    outcome = Outcome(
        ready, decided, assigned, issued, {t: n for t, n in dead.items() if n}, repeated
    )
    odd = {
        c: (ready[c], decided[c], assigned[c], issued[c])
        for c in cases
        if (ready[c], decided[c]) != (1, 1)
        or (assigned[c], issued[c]) != ((1, 1) if c in load.whole_way else (0, 0))
    }
    if odd:
        raise AssertionError(
            f"(ready, first decision, assigned, issued) per odd case: {odd}; "
            f"states: {await _states(platform, list(odd))}"
        )
    assert {v for (c, v) in versions if c in load.whole_way} <= {1}, versions
    assert outcome.dead_letters == {}, outcome.dead_letters  # valid traffic only
    await _stores_agree(platform, load)
    return outcome


async def _stores_agree(platform: Platform, load: Load) -> None:
    """The services' own stores say the same: the checklist complete, one email per message."""
    staff = platform.auth("intake-staff", "staff-1")
    async with httpx.AsyncClient(timeout=30) as http:
        for case_id in load.cases:
            checklist = await until_done(
                lambda c=case_id: http.get(  # type: ignore[misc]
                    f"{platform.url('records')}/cases/{c}/checklist", headers=staff
                )
            )
            assert checklist.json().get("missing") == [], (case_id, checklist.text[:500])
    stack = platform.stack
    mongo = connect(stack, app_name="chaos-tests")
    deliveries = mongo[stack.database("notify")]["deliveries"]

    async def emails() -> Counter[tuple[str, str, str]] | None:
        found = await deliveries.find(
            {"case_id": {"$in": load.cases}, "channel": "email"},
            projection={"case_id": 1, "template": 1, "recipient": 1},
        ).to_list()
        counted = Counter((d["case_id"], str(d.get("template")), d["recipient"]) for d in found)
        # Once notify has caught up, every case's family has been written to.
        return counted if {c for c, _, _ in counted} == set(load.cases) else None

    try:
        queued = await eventually(emails, within=120, interval=1)
    finally:
        await mongo.close()
    doubled = {key: n for key, n in queued.items() if n > 1}
    assert doubled == {}, f"one message queued twice: {doubled}"


async def _states(platform: Platform, cases: list[str]) -> dict[str, Any]:
    staff = platform.auth("intake-staff", "staff-1")
    states: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as http:
        for c in cases:
            checklist = await http.get(
                f"{platform.url('records')}/cases/{c}/checklist", headers=staff
            )
            assignment = await http.get(f"{platform.url('assignment')}/cases/{c}", headers=staff)
            states[c] = (checklist.json().get("missing"), assignment.text[:800])
    return states
