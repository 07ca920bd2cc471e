"""RFC 9457 problem+json for every error the API returns.

Validation errors list field, code and message, never the rejected input (it may be
personal data). Anything unexpected becomes a 500 with only the request id.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from callvault.core.errors import CallVaultError

__all__ = ["install_problem_handlers", "problem_response"]

_log = structlog.get_logger("callvault.api")
PROBLEM_TYPE = "application/problem+json"


def problem_response(
    request: Request, *, status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://callvault.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": getattr(request.state, "request_id", None),
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path")]
        out.append({"field": ".".join(loc) or None, "code": str(item.get("type")), "message": str(item.get("msg"))})
    return out


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(CallVaultError)
    async def _callvault_error(request: Request, exc: CallVaultError) -> JSONResponse:
        _log.info("request.error", code=exc.code, status=exc.status)
        return problem_response(
            request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        _log.info("request.invalid", codes=[e["code"] for e in errors])
        return problem_response(
            request,
            status=422,
            code="request.invalid",
            title="Invalid request",
            detail="The request failed validation",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "route.not_found", 405: "method.not_allowed"}.get(exc.status_code, "http.error")
        return problem_response(
            request, status=exc.status_code, code=code, title=str(exc.detail), detail=str(exc.detail)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error("request.failed", error_type=type(exc).__name__)
        return problem_response(
            request,
            status=500,
            code="internal.error",
            title="Internal error",
            detail="An unexpected error occurred; quote the instance id to the operator",
        )
