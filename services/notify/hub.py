"""The in-process fan-out hub behind the staff board's Server-Sent Events.

An event is serialized once into its SSE frame and the same bytes are put on every
subscriber's bounded queue without waiting; a subscriber whose queue is full is dropped (its
browser reconnects and resumes), so a slow one never holds up the others. Recent frames are
kept for `Last-Event-ID` resume; an id from before the window (or another process) gets a
`reset` event telling the page to reload its state.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import AsyncIterator

import orjson

from services.notify.metrics import BOARD_DROPPED, BOARD_SUBSCRIBERS

CLOSE = b""


class Subscriber:
    def __init__(self, size: int, audience: str | None = None) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=size)
        self.dropped = False
        # None sees every frame (staff); otherwise only frames for this audience (an expert).
        self.audience = audience

    def wants(self, audiences: frozenset[str]) -> bool:
        return self.audience is None or self.audience in audiences

    def end(self) -> None:
        """Stop this subscriber's stream now (whatever it had not read yet is discarded)."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSE)


class BoardHub:
    def __init__(self, *, queue_size: int = 256, replay_size: int = 2048) -> None:
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._recent: deque[tuple[int, bytes, frozenset[str]]] = deque(maxlen=replay_size)
        self._epoch = secrets.token_hex(4)
        self._seq = 0
        self.dropped_total = 0

    @property
    def last_id(self) -> str:
        """The id of the latest frame: a page rendered now resumes its stream from here."""
        return f"{self._epoch}-{self._seq}"

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event: str, data: object, audiences: frozenset[str] = frozenset()) -> None:
        """Serialize once, then hand the same frame to every subscriber without waiting;
        subscribers limited to an audience get it only if it is among `audiences`."""
        self._seq += 1
        frame = b"id: %s-%d\nevent: %s\ndata: %s\n\n" % (
            self._epoch.encode(),
            self._seq,
            event.encode(),
            orjson.dumps(data),
        )
        self._recent.append((self._seq, frame, audiences))
        for subscriber in list(self._subscribers):
            if not subscriber.wants(audiences):
                continue
            try:
                subscriber.queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(subscriber)

    def subscribe(
        self, last_event_id: str | None = None, *, audience: str | None = None
    ) -> Subscriber:
        subscriber = Subscriber(self._queue_size, audience)
        if last_event_id:
            missed = self._missed(last_event_id, subscriber)
            for frame in missed[-(self._queue_size - 1) :]:
                subscriber.queue.put_nowait(frame)
        self._subscribers.add(subscriber)
        BOARD_SUBSCRIBERS.set(len(self._subscribers))
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        BOARD_SUBSCRIBERS.set(len(self._subscribers))

    def close(self) -> None:
        for subscriber in list(self._subscribers):
            self.unsubscribe(subscriber)
            subscriber.end()

    def _drop(self, subscriber: Subscriber) -> None:
        self.unsubscribe(subscriber)
        subscriber.end()
        self.dropped_total += 1
        BOARD_DROPPED.inc()

    def _missed(self, last_event_id: str, subscriber: Subscriber) -> list[bytes]:
        epoch, _, seq_text = last_event_id.partition("-")
        reset = [b"event: reset\ndata: {}\n\n"]
        if epoch != self._epoch or not seq_text.isdigit():
            return reset
        seq = int(seq_text)
        oldest = self._recent[0][0] if self._recent else self._seq + 1
        if seq < oldest - 1:
            return reset
        return [f for n, f, audiences in self._recent if n > seq and subscriber.wants(audiences)]


async def sse_stream(
    hub: BoardHub, subscriber: Subscriber, *, keepalive_s: float
) -> AsyncIterator[bytes]:
    """The bytes of one subscriber's response: frames as they come, comments while idle."""
    try:
        yield b"retry: 2000\n: connected\n\n"
        while not subscriber.dropped or not subscriber.queue.empty():
            try:
                async with asyncio.timeout(keepalive_s):
                    frame = await subscriber.queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if frame == CLOSE:
                return
            yield frame
    finally:
        hub.unsubscribe(subscriber)
