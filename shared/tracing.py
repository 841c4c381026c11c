"""Distributed tracing with OpenTelemetry: one case's journey through every service is one trace.

The W3C trace context (`traceparent`, `tracestate`) travels with each event twice: as the
CloudEvents Distributed Tracing extension attributes in the envelope (so it is stored with the
outbox entry and survives the relay) and as Kafka headers (so brokers' tools see it too).

    request / consumer span → make_event (context into the envelope) → outbox → relay:
    PRODUCER span, child of the stored context → Kafka → runner: CONSUMER span, child of that

Export is OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set,
and/or JSON lines to `SOP_TRACES_FILE` (one span a line; `python -m shared.tracing show`).
With neither, the API's no-op tracer is left in place and nothing is recorded.

No PHI in spans: names are route templates and event types; attributes are opaque ids, codes
and status numbers. Never a URL, a query string, an address or a value a person typed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

TRACES_FILE_VAR = "SOP_TRACES_FILE"
OTLP_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# The CloudEvents Distributed Tracing extension's attribute names, also the Kafka header names.
TRACE_FIELDS = ("traceparent", "tracestate")
CASE_ID_ATTRIBUTE = "case.id"
TRACER_NAME = "second-opinion"

# FastAPI's built-in telemetry, off: its spans record `url.path` and `url.query` as sent.
NO_NATIVE_TELEMETRY: Any = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}

# Only the W3C trace context: baggage could carry anything a library put there.
_propagator = TraceContextTextMapPropagator()
_provider: Any = None


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def configure_tracing(service: str) -> bool:
    """Install an SDK tracer provider for this process if an exporter is configured.

    The sampler follows `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default: parent-based
    always-on); `OTEL_SDK_DISABLED=true` turns everything off. Returns whether tracing is on."""
    global _provider
    traces_file = os.environ.get(TRACES_FILE_VAR, "").strip()
    otlp = any(os.environ.get(var, "").strip() for var in OTLP_ENDPOINT_VARS)
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or not (traces_file or otlp) or _provider is not None:
        return _provider is not None
    # Imported only here: a process without tracing never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service})
    provider = TracerProvider(resource=resource)
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if traces_file:
        # Duck-typed (export, shutdown, force_flush), so this module does not import the SDK.
        exporter: Any = JsonLinesSpanExporter(Path(traces_file))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return True


def use_provider(provider: Any) -> None:
    """Install a tracer provider built elsewhere (tests, with an in-memory exporter)."""
    global _provider
    trace.set_tracer_provider(provider)
    _provider = provider


def shutdown_tracing() -> None:
    """Flush what is buffered (called when the service stops)."""
    if _provider is not None:
        _provider.shutdown()


# --- Propagation ---------------------------------------------------------------------------


def current_trace_fields() -> dict[str, str]:
    """The current span's context as `traceparent` (and `tracestate`), or {} outside a span."""
    if _provider is None:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_FIELDS}


def trace_fields_of(carrier: Mapping[str, Any]) -> dict[str, str]:
    """The trace fields a mapping (an envelope's extension attributes, a stored entry) holds."""
    return {k: v for k in TRACE_FIELDS if isinstance(v := carrier.get(k), str) and v}


def context_of(carrier: Mapping[str, str]) -> otel_context.Context:
    """A context whose parent is the span named by `traceparent` (an empty one without it)."""
    return _propagator.extract(dict(carrier))


def case_context(case_id: str) -> otel_context.Context:
    """The context of a case's own trace, for work on the case that arrives without one (a
    hospital's event, a person's request days later): its trace id and root span id are derived
    from the case id, so every service puts such work in one trace per case, under one root.
    Whether it is sampled is the configured sampler's decision on that trace id (the same in
    every process: `traceidratio` looks only at the id)."""
    digest = hashlib.sha256(f"second-opinion case {case_id}".encode()).digest()
    trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:24], "big") or 1
    sampled = True
    if _provider is not None:
        decision = _provider.sampler.should_sample(None, trace_id, "case")
        sampled = decision.decision.is_sampled()
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    root = SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(root))


@contextlib.contextmanager
def case_span(case_id: str, name: str, *, from_events: bool = False) -> Iterator[None]:
    """What is done inside (the events a change of the case makes) continues the case's own
    trace, in a span linked to the request that asked when that request is in another trace
    (a form's POST, an offer's acceptance: no case id in their path). Within the case's trace
    already: nothing new. A handler of an event already continues that event's trace, so it
    is left there unless `from_events` (where intake opens a case, whatever the sender's trace).
    """
    if _provider is None:
        yield
        return
    current = trace.get_current_span()
    asking = current.get_span_context()
    ctx = case_context(case_id)
    same_trace = asking.trace_id == trace.get_current_span(ctx).get_span_context().trace_id
    consuming = getattr(current, "kind", None) is SpanKind.CONSUMER
    if (asking.is_valid and same_trace) or (consuming and not from_events):
        yield
        return
    links = [trace.Link(asking)] if asking.is_valid else []
    with tracer().start_as_current_span(
        name,
        context=ctx,
        links=links,
        attributes={CASE_ID_ATTRIBUTE: case_id},
        record_exception=False,
    ):
        yield


def parent_of(fields: Mapping[str, str], case_id: str) -> otel_context.Context:
    """The context `fields` name, or the case's own when they name none (absent, or invalid)."""
    ctx = context_of(fields) if fields else None
    if ctx is None or not trace.get_current_span(ctx).get_span_context().is_valid:
        return case_context(case_id)
    return ctx


def case_root_span_id(case_id: str) -> str:
    """The (never recorded) root span id of a case's own trace, as the span file writes ids."""
    ctx = trace.get_current_span(case_context(case_id)).get_span_context()
    return f"{ctx.span_id:016x}"


def kafka_headers(fields: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(k, fields[k].encode()) for k in TRACE_FIELDS if k in fields]


def fields_of_headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in headers or () if k in TRACE_FIELDS and v}


def event_trace_fields(event: Any) -> dict[str, str]:
    """The trace extension attributes of a CloudEvent (kept as pydantic extra fields)."""
    return trace_fields_of(getattr(event, "model_extra", None) or {})


# --- Spans around the event bus ------------------------------------------------------------


@contextlib.contextmanager
def publishing(events: Sequence[Any]) -> Iterator[list[Any]]:
    """One PRODUCER span per event, each a child of the context stored with it (the request or
    handler that wrote it); yields the events re-stamped with their producer span's context,
    which is what the consumers continue from. The spans end when the block does."""
    if _provider is None:
        yield list(events)
        return
    spans: list[Span] = []
    stamped = []
    for event in events:
        span = tracer().start_span(
            f"publish {event.type}",
            context=parent_of(event_trace_fields(event), str(event.subject)),
            kind=SpanKind.PRODUCER,
            attributes=_event_attributes(event),
        )
        spans.append(span)
        carrier: dict[str, str] = {}
        _propagator.inject(carrier, context=trace.set_span_in_context(span))
        stamped.append(event.model_copy(update=trace_fields_of(carrier)))
    try:
        yield stamped
    except BaseException as exc:
        for span in spans:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        raise
    for span in spans:
        span.end()


@contextlib.contextmanager
def consuming(
    event: Any, headers: Sequence[tuple[str, bytes]] | None, *, group: str
) -> Iterator[Span]:
    """The CONSUMER span a handler runs in: a child of the event's producer span (from the
    Kafka headers, or the envelope's extension attributes when the headers have none)."""
    if _provider is None:
        yield trace.INVALID_SPAN
        return
    fields = fields_of_headers(headers) or event_trace_fields(event)
    parent = parent_of(fields, str(event.subject))
    with tracer().start_as_current_span(
        f"process {event.type}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={**_event_attributes(event), "messaging.consumer.group.name": group},
        record_exception=False,  # an exception's message is not ours to vouch for
    ) as span:
        yield span


def _event_attributes(event: Any) -> dict[str, str]:
    return {
        CASE_ID_ATTRIBUTE: str(event.subject),
        "messaging.system": "kafka",
        "messaging.destination.name": str(event.type),
        "messaging.message.id": str(event.id),
    }


@contextlib.contextmanager
def client_span(
    name: str, *, parent: Mapping[str, str] | None = None, attributes: Mapping[str, Any]
) -> Iterator[Span]:
    """A CLIENT span (an SMTP send, a webhook POST), a child of `parent` when it is given (the
    context stored with a delivery) and of the current span otherwise."""
    ctx = context_of(parent) if parent else None
    with tracer().start_as_current_span(
        name,
        context=ctx,
        kind=SpanKind.CLIENT,
        attributes=dict(attributes),
        record_exception=False,
    ) as span:
        yield span


@contextlib.contextmanager
def continued(fields: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context stored with some work (a delivery) current while the work is done, so
    its spans join the trace that queued it."""
    if _provider is None or not fields:
        yield
        return
    token = otel_context.attach(context_of(fields))
    try:
        yield
    finally:
        otel_context.detach(token)


def inject_headers(headers: dict[str, str]) -> None:
    """Add the current span's `traceparent` / `tracestate` to outgoing HTTP headers."""
    headers.update(current_trace_fields())


# --- HTTP server spans ---------------------------------------------------------------------


class TracingMiddleware:
    """A SERVER span for each HTTP request, continuing an incoming `traceparent`.

    Named by method and route template (`POST /cases/{case_id}/documents`), never by the raw
    path or query, which may carry a case link's token."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or _provider is None:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        incoming = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope.get("headers") or ()
            if k.decode("latin-1") in TRACE_FIELDS
        }
        case_id = None if incoming else _case_of_request(scope)
        parent = context_of(incoming) if incoming or case_id is None else case_context(case_id)
        status: dict[str, int] = {}

        async def send_traced(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        with tracer().start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    routed = (scope.get("path_params") or {}).get("case_id")
                    if isinstance(routed, str):
                        span.set_attribute(CASE_ID_ATTRIBUTE, routed)
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))


# Every route about one case names it right after a `cases` (the services) or `c` (the family's
# pages) segment: `/cases/{case_id}/...`, `/expert/cases/{case_id}`, `/c/{case_id}/...`.
_CASE_IN_PATH = re.compile(r"/(?:cases|c)/([^/]+)")


def _case_of_request(scope: dict[str, Any]) -> str | None:
    """The case a request names in its path, before routing (the span starts first)."""
    found = _CASE_IN_PATH.search(str(scope.get("path", "")))
    return found.group(1) if found else None


# --- The span file -------------------------------------------------------------------------


class JsonLinesSpanExporter:
    """Appends finished spans to a file, one JSON object a line (several processes may share
    the file: each batch is one append)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = b"".join(orjson.dumps(span_record(s)) + b"\n" for s in spans)
        try:
            with self._lock:
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, lines)
                finally:
                    os.close(fd)
        except OSError as exc:
            log.warning("could not write spans", exc_info=exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_record(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent": f"{parent.span_id:016x}" if parent is not None else None,
        "name": span.name,
        "service": span.resource.attributes.get("service.name", ""),
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [e.name for e in span.events],
    }


# --- `python -m shared.tracing show <case id>` ---------------------------------------------


def read_spans(path: Path) -> list[dict[str, Any]]:
    spans = []
    for line in path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            spans.append(orjson.loads(line))
    return spans


def traces_of_case(
    spans: Sequence[dict[str, Any]], case_id: str
) -> dict[str, list[dict[str, Any]]]:
    """Every span of each trace that has a span about this case, by trace id."""
    ids = {s["trace_id"] for s in spans if s["attributes"].get(CASE_ID_ATTRIBUTE) == case_id}
    found: dict[str, list[dict[str, Any]]] = {t: [] for t in sorted(ids)}
    for s in spans:
        if s["trace_id"] in found:
            found[s["trace_id"]].append(s)
    return found


def tree_lines(spans: Sequence[dict[str, Any]]) -> list[str]:
    """The spans of one trace as an indented tree: service, name, duration, kind."""
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s["parent"] if s["parent"] in by_id else None
        children.setdefault(parent, []).append(s)
    lines: list[str] = []

    roots = children.get(None, [])
    if len({s["parent"] for s in roots}) == 1 and roots[0]["parent"] is not None:
        # Work that arrived without a trace hangs under the case's own (never recorded) root.
        lines.append(f"case {roots[0]['attributes'].get(CASE_ID_ATTRIBUTE, '?')}")
        depth0 = 1
    else:
        depth0 = 0

    def walk(parent: str | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s["start"]):
            ms = (s["end"] - s["start"]) / 1e6
            indent = "  " * depth
            lines.append(f"{indent}{s['service']:<10} {s['name']}  {ms:.1f} ms  [{s['kind']}]")
            walk(s["span_id"], depth + 1)

    walk(None, depth0)
    return lines


def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.tracing")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the trace(s) of one case from the span file")
    show.add_argument("case_id")
    show.add_argument("--file", type=Path, default=os.environ.get(TRACES_FILE_VAR) or None)
    args = parser.parse_args(argv)
    if args.file is None:
        parser.error(f"name the span file with --file or {TRACES_FILE_VAR}")
    if not args.file.exists():
        print(f"no span file at {args.file}", file=sys.stderr)
        return 1
    traces = traces_of_case(read_spans(args.file), args.case_id)
    if not traces:
        print(f"no spans of case {args.case_id} in {args.file}", file=sys.stderr)
        return 1
    for trace_id, spans in traces.items():
        print(f"trace {trace_id}  ({len(spans)} spans)")
        for line in tree_lines(spans):
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
