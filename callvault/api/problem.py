"""RFC 9457 problem+json for every error the API returns.

Validation errors list field, code and message, never the rejected input (it may be
personal data). Anything unexpected becomes a 500 with only the request id.

The OpenAPI document declares these answers too (``problem_responses``, the ``Problem``
schema under ``application/problem+json``), so clients and the contract test
(tests/api/test_openapi_contract.py) see what the API really answers.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from callvault.api.guards import RejectedBody
from callvault.core.errors import CallVaultError, QuotaExceeded
from callvault.core.logging import exception_summary

__all__ = [
    "PROBLEM_TYPE",
    "FieldError",
    "Problem",
    "install_problem_handlers",
    "install_problem_schemas",
    "internal_error_response",
    "problem_response",
    "problem_responses",
    "rejected_body_response",
]

_log = structlog.get_logger("callvault.api")
PROBLEM_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One rejected field: where and why, never the rejected value."""

    field: str | None = Field(description="Dotted path of the field, or null for the whole request")
    code: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is answered."""

    type: str = Field(description="URI naming the problem type: https://callvault.dev/problems/<code>")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    code: str = Field(description="Stable machine-readable code, e.g. `customer.not_found`")
    instance: str | None = Field(description="Request id (also in the `x-request-id` header)")
    errors: list[FieldError] = Field(default_factory=list, description="Field-level errors of a 4xx, if any")


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, invalid or expired credentials, or a step-up confirmation is required",
    403: "The policy denies this action to the caller",
    404: "No such resource in the caller's tenant",
    409: "The change conflicts with stored data",
    413: "The request body is too large",
    415: "Unsupported request media type",
    422: "The request failed validation",
    429: "Rate limit or quota exceeded; retry after `Retry-After` seconds",
    500: "Unexpected error; quote the `instance` id to the operator",
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds until the limit resets", "schema": {"type": "integer", "minimum": 1}}
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for routes and routers: each status answered as problem+json."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_TYPE: {"schema": _PROBLEM_REF}},
        }
        if status == 429:
            response["headers"] = _RETRY_AFTER
        out[status] = response
    return out


def install_problem_schemas(app: FastAPI) -> None:
    """Add ``Problem`` (referenced by ``problem_responses``) to the app's OpenAPI components,
    and the 400 every operation with a request body can answer: FastAPI refuses a body it
    cannot decode (``request.malformed``) before any route or router declaration applies.
    Also closes Pydantic's key patterns (see ``_close_key_patterns``)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {"Problem": schema, **schema.pop("$defs", {})}
    malformed = problem_responses(400)[400]
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        document.setdefault("components", {}).setdefault("schemas", {}).update(components)
        _close_key_patterns(document["components"])
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    declared = operation.setdefault("responses", {}).setdefault("400", {"description": ""})
                    declared["description"] = declared["description"] or malformed["description"]
                    declared.setdefault("content", {}).update(malformed["content"])
        return document

    app.openapi = openapi  # type: ignore[method-assign]


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
        response = problem_response(
            request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )
        if isinstance(exc, QuotaExceeded) and exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

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
        # 400: FastAPI could not read the body at all (not UTF-8, not decodable)
        code = {400: "request.malformed", 404: "route.not_found", 405: "method.not_allowed"}.get(
            exc.status_code, "http.error"
        )
        response = problem_response(
            request, status=exc.status_code, code=code, title=str(exc.detail), detail=str(exc.detail)
        )
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request) or response.headers.get("Allow", "")
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error_response(request, exc)


def _close_key_patterns(node: Any) -> None:
    """A ``dict`` whose keys carry a pattern (``dict[Annotated[str, Field(pattern=...)], X]``)
    rejects any other key, but Pydantic renders it as ``patternProperties`` alone, which in
    JSON Schema lets every other key through: say ``additionalProperties: false`` as well."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_key_patterns(value)
    elif isinstance(node, list):
        for value in node:
            _close_key_patterns(value)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Starlette's own ``Allow`` names only the
    first route whose path matched, but one path is often served by several routes
    (``GET`` and ``POST /v1/customers``), and RFC 9110 asks for all of them. Each method is
    tried against the routes (``matches``, which also sees into included routers)."""
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in request.app.routes)
    ]
    return ", ".join(allowed)


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
