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

from callvault.api.guards import RejectedBody
from callvault.core.errors import CallVaultError
from callvault.core.logging import exception_summary

__all__ = ["install_problem_handlers", "internal_error_response", "problem_response", "rejected_body_response"]

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

    @app.exception_handler(RejectedBody)
    async def _rejected_body(request: Request, exc: RejectedBody) -> JSONResponse:
        return rejected_body_response(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RejectedBody):  # FastAPI wraps errors raised while reading the body
            return rejected_body_response(request, exc.__cause__)
        code = {404: "route.not_found", 405: "method.not_allowed"}.get(exc.status_code, "http.error")
        response = problem_response(
            request, status=exc.status_code, code=code, title=str(exc.detail), detail=str(exc.detail)
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error_response(request, exc)


def rejected_body_response(request: Request, exc: RejectedBody) -> JSONResponse:
    _log.info("request.rejected", code=exc.code, status=exc.status)
    title = "Request too large" if exc.status == 413 else "Invalid request"
    return problem_response(request, status=exc.status, code=exc.code, title=title, detail=exc.detail)


def internal_error_response(request: Request, exc: BaseException) -> JSONResponse:
    """The one 500: logged as type, route, request id and frames — never locals, the
    request or the exception's message (which may quote stored data)."""
    route = getattr(request.scope.get("route"), "path", None) or "unmatched"
    _log.error("request.failed", method=request.method, route=route, **exception_summary(exc))
    return problem_response(
        request,
        status=500,
        code="internal.error",
        title="Internal error",
        detail="An unexpected error occurred; quote the instance id to the operator",
    )
