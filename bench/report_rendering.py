"""Benchmark 3: rendering a realistic report as HTML (jinja2) and PDF (WeasyPrint).

The report is the reports tests' own realistic case (`tests/unit/reports/factories.py`: 5 family
questions, 3 trials, 2 studies, 3 documents; 3 A4 pages), rendered through the functions the
service uses (`rendering.render_report`, `rendering.render_pdf`), in-process and through the
service's worker-process pool (`pdf.PdfRenderer`, spawn, 2 workers as configured by default).

The reference is WeasyPrint's floor measured in the same run, alternating with the report: a
minimal one-page HTML document through the same `render_pdf` (fonts cached the same way). CPU
seconds per PDF (the rendering thread's, or the pool workers' from /proc) are reported beside
wall times, since wall times on this shared 2-core machine include other tenants' work.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import PROFILES, Platform
from bench.processes import _cpu_seconds
from bench.results import BenchResult, Figure, Target, median
from services.reports.domain import ReportRecord, Sections
from services.reports.pdf import PdfRenderer
from services.reports.rendering import (
    Letterhead,
    ReportContent,
    render_pdf,
    render_report,
    warm_up,
)
from tests.unit.reports.factories import LEAD, NOW, SURGEON, complete_sections, opened

NAME = "report_rendering"
TITLE = "Report rendering: a 3-page report as HTML and PDF, in-process and in the worker pool"
LETTERHEAD = Letterhead(program="Remote Second Opinion Program", institution="Children's Hospital")
MINIMAL_HTML = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>floor</title></head>"
    "<body><p>Remote second opinion.</p></body></html>"
)
PDF_P50_TARGET_MS = 300
HTML_P50_TARGET_MS = 5
WORKERS = 2


@dataclass(frozen=True)
class Sizes:
    html: int  # HTML renders per repetition
    pdf: int  # PDFs per repetition, in-process (and as many minimal ones alternating)
    pool: int  # PDFs per repetition through the worker pool, one at a time and 2 at once


def sizes(quick: bool) -> Sizes:
    return Sizes(html=50, pdf=3, pool=2) if quick else Sizes(html=300, pdf=10, pool=10)


def report() -> tuple[ReportRecord, ReportContent]:
    """The signed version 1 of the factories' case, every section filled in (English)."""
    record = opened()
    content = ReportContent(
        sections=Sections.model_validate(complete_sections(record)),
        language="en",
        version=1,
        signed_by=LEAD,
        co_authors=(SURGEON,),
        issued_at=NOW,
    )
    return record, content


def pages(pdf: bytes) -> int | None:
    try:
        import pypdfium2 as pdfium  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return len(pdfium.PdfDocument(pdf))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def html_run(record: ReportRecord, content: ReportContent, count: int) -> dict[str, list[float]]:
    wall, cpu = [], []
    for _ in range(count):
        c0, t0 = time.thread_time(), time.perf_counter()
        render_report(record, content, LETTERHEAD)
        wall.append(ms(time.perf_counter() - t0))
        cpu.append(ms(time.thread_time() - c0))
    return {"wall_ms": wall, "cpu_ms": cpu}


def pdf_run(html: str, count: int) -> dict[str, list[float]]:
    """`count` report PDFs alternating with `count` minimal ones, timed one by one."""
    found: dict[str, list[float]] = {
        "wall_ms": [],
        "cpu_ms": [],
        "min_wall_ms": [],
        "min_cpu_ms": [],
    }
    for _ in range(count):
        for document, prefix in ((html, ""), (MINIMAL_HTML, "min_")):
            c0, t0 = time.thread_time(), time.perf_counter()
            render_pdf(document)
            found[f"{prefix}wall_ms"].append(ms(time.perf_counter() - t0))
            found[f"{prefix}cpu_ms"].append(ms(time.thread_time() - c0))
    return found


def worker_cpu(renderer: PdfRenderer) -> float:
    """CPU seconds so far of the pool's worker processes (read from /proc)."""
    processes = getattr(getattr(renderer, "_executor", None), "_processes", None) or {}
    return sum(_cpu_seconds(pid) for pid in list(processes))


async def pool_run(renderer: PdfRenderer, html: str, count: int) -> dict[str, Any]:
    """Through the service's path (`PdfRenderer.pdf`): one at a time, then WORKERS at once."""
    wall = []
    cpu0 = worker_cpu(renderer)
    for _ in range(count):
        t0 = time.perf_counter()
        await renderer.pdf(html)
        wall.append(ms(time.perf_counter() - t0))
    sequential_cpu = worker_cpu(renderer) - cpu0
    semaphore = asyncio.Semaphore(WORKERS)

    async def one() -> None:
        async with semaphore:
            await renderer.pdf(html)

    cpu1, t0 = worker_cpu(renderer), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count * WORKERS)))
    elapsed = time.perf_counter() - t0
    return {
        "wall_ms": wall,
        "cpu_ms_per_pdf": ms(sequential_cpu / count),
        "concurrent_pdfs": count * WORKERS,
        "concurrent_s": round(elapsed, 3),
        "concurrent_reports_per_s": round(count * WORKERS / elapsed, 3),
        "concurrent_cpu_ms_per_pdf": ms((worker_cpu(renderer) - cpu1) / (count * WORKERS)),
    }


# Where a PDF's time goes: each sampled frame counts for the nearest enclosing phase.
PHASES = {
    "HTML.__init__": "HTML parsing (tinyhtml5)",
    "get_all_computed_styles": "styles: cascade and computed values",
    "find_stylesheets": "styles: parsing the report's <style>",
    "build_formatting_structure": "box tree",
    "layout_document": "layout (pages, line breaking, tables)",
    "draw_page": "drawing the pages",
    "generate_pdf": "PDF output (font subsetting, streams)",
    "FontConfiguration.__init__": "font configuration",
}


def _phase_times(frame: Any, phase: str, into: dict[str, float]) -> None:
    name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
    here = PHASES.get(name, PHASES.get(frame.function, phase))
    into[here] = into.get(here, 0.0) + frame.total_self_time
    for child in frame.children:
        _phase_times(child, here, into)


def profile_pdf(html: str, count: int, write: bool) -> dict[str, float]:
    """Where a report PDF's time goes (pyinstrument, after the timed runs): the share of each
    phase; with `--profile` also the call tree and flat list in bench/results/profiles/."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    for _ in range(count):
        render_pdf(html)
    profiler.stop()
    if write:
        PROFILES.mkdir(parents=True, exist_ok=True)
        tree = profiler.output_text(unicode=True, color=False, show_all=True)
        flat = profiler.output_text(unicode=True, color=False, flat=True, flat_time="self")
        (PROFILES / f"{NAME}.render_pdf.txt").write_text(tree)
        (PROFILES / f"{NAME}.render_pdf.flat.txt").write_text(flat)
    root = profiler.last_session.root_frame() if profiler.last_session else None
    times: dict[str, float] = {}
    if root is not None:
        _phase_times(root, "other", times)
    total = sum(times.values()) or 1.0
    shares = {k: round(v / total, 3) for k, v in sorted(times.items(), key=lambda kv: -kv[1])}
    return {k: v for k, v in shares.items() if v >= 0.005}


async def run(platform: Platform) -> BenchResult:
    chosen = sizes(platform.options.quick)
    record, content = report()
    html = render_report(record, content, LETTERHEAD)
    print("  warming up WeasyPrint in-process and the worker pool", flush=True)
    await asyncio.to_thread(warm_up)
    first_pdf = await asyncio.to_thread(render_pdf, html)
    renderer = PdfRenderer(kind="process", workers=WORKERS)
    repeats: list[dict[str, Any]] = []
    try:
        await renderer.start()
        await renderer.pdf(html)  # each worker's first report is not the one measured
        for n in range(platform.options.repeats):
            html_times = await asyncio.to_thread(html_run, record, content, chosen.html)
            pdf_times = await asyncio.to_thread(pdf_run, html, chosen.pdf)
            pool_times = await pool_run(renderer, html, chosen.pool)
            repeats.append({"html": html_times, "pdf": pdf_times, "pool": pool_times})
            print(
                f"  repetition {n + 1}: HTML p50 {median(html_times['wall_ms']):.2f} ms, "
                f"PDF p50 {median(pdf_times['wall_ms']):.0f} ms "
                f"(CPU {median(pdf_times['cpu_ms']):.0f} ms), minimal PDF p50 "
                f"{median(pdf_times['min_wall_ms']):.0f} ms, pool p50 "
                f"{median(pool_times['wall_ms']):.0f} ms, pool "
                f"{pool_times['concurrent_reports_per_s']:.2f} reports/s",
                flush=True,
            )
    finally:
        renderer.close()
    shares = await asyncio.to_thread(profile_pdf, html, chosen.pdf, platform.options.profile)
    result = summarize(repeats, chosen, len(html), len(first_pdf), pages(first_pdf))
    result.details["pdf_time_shares"] = shares
    result.notes.append(
        f"where a PDF's time goes (pyinstrument, {chosen.pdf} PDFs after the timed runs): "
        + ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
    )
    return result


def summarize(
    repeats: list[dict[str, Any]],
    chosen: Sizes,
    html_bytes: int,
    pdf_bytes: int,
    page_count: int | None,
) -> BenchResult:
    result = BenchResult(NAME, TITLE)

    def pooled(part: str, key: str) -> list[float]:
        return [x for r in repeats for x in r[part][key]]

    def per_repeat(part: str, key: str, q: float = 0.5) -> list[float]:
        return [quantile(r[part][key], q) for r in repeats]

    html_wall, pdf_wall = pooled("html", "wall_ms"), pooled("pdf", "wall_ms")
    pdf_cpu, min_wall = pooled("pdf", "cpu_ms"), pooled("pdf", "min_wall_ms")
    min_cpu, pool_wall = pooled("pdf", "min_cpu_ms"), pooled("pool", "wall_ms")
    pdf_ratio = [median(r["pdf"]["wall_ms"]) / median(r["pdf"]["min_wall_ms"]) for r in repeats]
    cpu_ratio = [median(r["pdf"]["cpu_ms"]) / median(r["pdf"]["min_cpu_ms"]) for r in repeats]
    pool_cpu = [r["pool"]["cpu_ms_per_pdf"] for r in repeats]
    pool_rate = [r["pool"]["concurrent_reports_per_s"] for r in repeats]
    # What the workers would do with both cores to themselves: workers / CPU per PDF. The wall
    # rate above also counts other tenants' work on this shared machine.
    pool_ceiling = [
        WORKERS * 1000 / r["pool"]["concurrent_cpu_ms_per_pdf"]
        for r in repeats
        if r["pool"]["concurrent_cpu_ms_per_pdf"]
    ]
    pool_busy = [
        r["pool"]["concurrent_cpu_ms_per_pdf"]
        * r["pool"]["concurrent_pdfs"]
        / 1000
        / r["pool"]["concurrent_s"]
        / WORKERS
        for r in repeats
    ]
    minimal = "minimal 1-page PDF, same render_pdf"
    result.figures += [
        Figure(
            "HTML p50 per report (render_report)",
            median(per_repeat("html", "wall_ms")),
            "ms",
            target=Target("<", HTML_P50_TARGET_MS),
            samples=per_repeat("html", "wall_ms"),
        ),
        Figure(
            "HTML p95 per report",
            median(per_repeat("html", "wall_ms", 0.95)),
            "ms",
            samples=per_repeat("html", "wall_ms", 0.95),
        ),
        Figure(
            "PDF p50 per report, in-process (render_pdf)",
            median(per_repeat("pdf", "wall_ms")),
            "ms",
            reference_name=minimal,
            reference_value=median(per_repeat("pdf", "min_wall_ms")),
            target=Target("<", PDF_P50_TARGET_MS),
            samples=per_repeat("pdf", "wall_ms"),
            reference_samples=per_repeat("pdf", "min_wall_ms"),
            ratio_samples=pdf_ratio,
        ),
        Figure(
            "PDF p95 per report, in-process",
            median(per_repeat("pdf", "wall_ms", 0.95)),
            "ms",
            reference_name=minimal,
            reference_value=median(per_repeat("pdf", "min_wall_ms", 0.95)),
            samples=per_repeat("pdf", "wall_ms", 0.95),
        ),
        Figure(
            "PDF CPU per report, in-process (thread CPU time)",
            median(per_repeat("pdf", "cpu_ms")),
            "ms",
            reference_name=f"{minimal}, CPU",
            reference_value=median(per_repeat("pdf", "min_cpu_ms")),
            samples=per_repeat("pdf", "cpu_ms"),
            ratio_samples=cpu_ratio,
        ),
        Figure(
            "PDF p50 per report, service worker pool (PdfRenderer.pdf)",
            median(per_repeat("pool", "wall_ms")),
            "ms",
            reference_name="in-process PDF p50",
            reference_value=median(per_repeat("pdf", "wall_ms")),
            target=Target("<", PDF_P50_TARGET_MS),
            samples=per_repeat("pool", "wall_ms"),
        ),
        Figure(
            "PDF p95 per report, service worker pool",
            median(per_repeat("pool", "wall_ms", 0.95)),
            "ms",
            samples=per_repeat("pool", "wall_ms", 0.95),
        ),
        Figure(
            "PDF CPU per report, worker process (/proc)",
            median(pool_cpu),
            "ms",
            samples=pool_cpu,
        ),
        Figure(
            f"PDF reports/s, worker pool ({WORKERS} workers busy)",
            median(pool_rate),
            "reports/s",
            reference_name="in-process, one at a time",
            reference_value=1000 / median(pdf_wall),
            samples=pool_rate,
        ),
        Figure(
            f"PDF reports/s, worker pool, CPU-bound ceiling ({WORKERS} / CPU per PDF)",
            median(pool_ceiling),
            "reports/s",
            reference_name="measured wall rate",
            reference_value=median(pool_rate),
            samples=pool_ceiling,
        ),
        Figure(
            "HTML reports/s, one thread",
            1000 / median(html_wall),
            "reports/s",
        ),
    ]
    result.notes += [
        f"report: {html_bytes:,} bytes of HTML, {pdf_bytes:,} bytes of PDF, "
        f"{page_count if page_count is not None else '?'} pages (5 questions, 3 trials); "
        f"{len(repeats)} repetitions of {chosen.html} HTML, {chosen.pdf} in-process PDFs "
        f"(alternating with the minimal PDF) and {chosen.pool} + {chosen.pool * WORKERS} "
        "pool PDFs",
        f"PDF in-process pooled over repetitions: p50 {quantile(pdf_wall, 0.5):.0f} ms, "
        f"p95 {quantile(pdf_wall, 0.95):.0f} ms, CPU p50 {quantile(pdf_cpu, 0.5):.0f} ms; "
        f"minimal PDF p50 {quantile(min_wall, 0.5):.0f} ms (CPU {quantile(min_cpu, 0.5):.0f} "
        f"ms); pool p50 {quantile(pool_wall, 0.5):.0f} ms; "
        f"wall/CPU {statistics.median(pdf_wall) / max(statistics.median(pdf_cpu), 1e-9):.2f}",
        "worker pool with both workers busy: workers' CPU / (wall x workers) per repetition "
        + ", ".join(f"{b:.0%}" for b in pool_busy)
        + " (the rest of the wall time went to other tenants of this shared machine)",
    ]
    result.details = {
        "sizes": chosen.__dict__,
        "html_bytes": html_bytes,
        "pdf_bytes": pdf_bytes,
        "pages": page_count,
        "workers": WORKERS,
        # Every PDF's times; the many HTML renders as quantiles.
        "repeats": [{**r, "html": _html_summary(r["html"])} for r in repeats],
    }
    return result


def _html_summary(times: dict[str, list[float]]) -> dict[str, Any]:
    return {
        key: {
            "count": len(values),
            "p50": quantile(values, 0.5),
            "p95": quantile(values, 0.95),
            "min": min(values, default=math.nan),
            "max": max(values, default=math.nan),
        }
        for key, values in times.items()
    }
