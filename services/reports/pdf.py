"""Making PDFs off the event loop: WeasyPrint holds the GIL for most of a render, so worker
processes keep the API answering while a report is signed."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Literal

from services.reports.metrics import PDF_RENDER_QUEUE, PDF_RENDER_SECONDS
from services.reports.rendering import render_pdf, warm_up


class PdfRenderer:
    def __init__(self, *, kind: Literal["process", "thread"] = "process", workers: int = 2):
        self._kind = kind
        self._workers = workers
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            if self._kind == "process":
                # Not fork: the parent runs threads (Kafka, MinIO) that a fork would copy badly.
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(
                    self._workers,
                    mp_context=context,
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            else:
                self._executor = ThreadPoolExecutor(self._workers, "pdf")
        return self._executor

    async def start(self) -> None:
        """Start the workers and load WeasyPrint and the fonts in each."""
        loop = asyncio.get_running_loop()
        pool = self._pool()
        await asyncio.gather(*(loop.run_in_executor(pool, warm_up) for _ in range(self._workers)))

    async def pdf(self, html: str) -> bytes:
        started = time.perf_counter()
        PDF_RENDER_QUEUE.inc()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), render_pdf, html)
        finally:
            PDF_RENDER_QUEUE.dec()
            PDF_RENDER_SECONDS.observe(time.perf_counter() - started)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _exit_with_parent(parent_pid: int) -> None:
    """In each worker: leave when the service is gone. A SIGKILLed service cannot shut its
    pool down, and its workers would otherwise wait on their queue for ever."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
