"""`python -m bench.sse_clients HOST PORT COUNT`: COUNT staff-board SSE subscribers in one process.

The board cookie comes in the `BENCH_BOARD_COOKIE` variable (never on the command line). Each
subscriber is a raw asyncio stream (a few KiB each, no HTTP client library): it sends
`GET /board/events` with the cookie and notes `time.monotonic()` (CLOCK_MONOTONIC, the same
clock in every process on the machine) when each `case` frame arrives.

Protocol on stdout, one line each: `ready <connected>` once every stream has its `: connected`
comment; `all <case id>` once every connected stream has that case's frame. On stdin: `stop`
makes it print `result <json>` (receipt times per case, CPU seconds, streams lost) and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import sys
import time

import orjson

CASE_ID = re.compile(rb'"case_id":"([^"]+)"')


class Subscribers:
    def __init__(self, host: str, port: int, cookie: str) -> None:
        self.host, self.port, self.cookie = host, port, cookie
        self.receipts: dict[str, list[float]] = {}
        self.connected = 0
        self.lost = 0
        self.refused: list[str] = []
        self.ready = asyncio.Event()

    async def one(self, started: asyncio.Semaphore) -> None:
        async with started:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(
                (
                    f"GET /board/events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    f"Accept: text/event-stream\r\nCookie: sop_board={self.cookie}\r\n\r\n"
                ).encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                self.refused.append(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                writer.close()
                return
            buffer = b""
            while b": connected" not in buffer:
                buffer += await reader.read(4096)
        self.connected += 1
        try:
            while True:
                data = await reader.read(65536)
                now = time.monotonic()
                if not data:
                    self.lost += 1
                    return
                buffer += data
                *frames, buffer = buffer.split(b"\n\n")
                for frame in frames:
                    found = CASE_ID.search(frame)
                    if found:
                        self.received(found.group(1).decode(), now)
        finally:
            writer.close()

    def received(self, case_id: str, at: float) -> None:
        times = self.receipts.setdefault(case_id, [])
        times.append(at)
        if len(times) == self.connected:
            print(f"all {case_id}", flush=True)


async def main(host: str, port: int, count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    subs = Subscribers(host, port, os.environ["BENCH_BOARD_COOKIE"])
    started = asyncio.Semaphore(64)  # connections being set up at once
    tasks = [asyncio.create_task(subs.one(started)) for _ in range(count)]
    while subs.connected + len(subs.refused) < count:
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise RuntimeError(f"subscriber failed: {failed[0].exception()!r}")
        await asyncio.sleep(0.05)
    print(f"ready {subs.connected}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while (await stdin.readline()).strip() not in (b"stop", b""):
        pass
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    times = os.times()
    result = {
        "connected": subs.connected,
        "refused": subs.refused[:5],
        "refused_count": len(subs.refused),
        "lost": subs.lost,
        "receipts": subs.receipts,
        "cpu_s": round(times.user + times.system, 3),
    }
    sys.stdout.write("result " + orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
