"""Errors at the HTTP edge: a status, a machine-readable code, and a sentence naming the field.

Validation messages never repeat the rejected value, which may be a child's name or birth date.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """Raised by a handler or route; becomes `{"error": {"code", "message", "field"}}`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _field_of(location: tuple[Any, ...]) -> str:
    # Drop FastAPI's "body"/"query" prefix; what is left is the field a client sent.
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "(body)"


def describe_request_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    described = []
    for err in errors:
        # A body that is not JSON at all is located by character position: name the body.
        is_json_error = err.get("type") == "json_invalid"
        field = "(body)" if is_json_error else _field_of(tuple(err.get("loc", ())))
        # pydantic's `msg` describes the rule ("Input should be a valid date"), not the input.
        described.append(
            {"field": field, "code": str(err["type"]), "message": f"{field}: {err['msg']}"}
        )
    return described


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        extra = {"field": exc.field} if exc.field else {}
        return JSONResponse(error_body(exc.code, exc.message, **extra), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = describe_request_errors(list(exc.errors()))
        first = problems[0] if problems else {"field": "(body)", "message": "invalid request"}
        body = error_body(
            "invalid_field",
            first["message"],
            field=first["field"],
            problems=problems,
        )
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
        }
        return JSONResponse(
            error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
