"""ASGI guards in front of every route: request id and the one 500, body size and NUL bytes.

Plain ASGI, not Starlette's ``BaseHTTPMiddleware``: that one runs every request in a task
group with memory streams, a fifth of a masked read's CPU (bench/masked_read.py).

FastAPI parses a JSON body whole before any handler can look at its size, so the cap
lives here, counted as the bytes arrive (``Content-Length`` can be absent or lie).
Routes that stream their bodies and enforce their own limit (imports, PII) are exempt
from the size cap but not from the NUL check.

NUL is refused everywhere at the edge: PostgreSQL cannot store it in text, SQLite can,
and a value one backend accepts and the other rejects mid-transaction becomes a 500 on
one and silent junk on the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["BodyGuard", "RejectedBody", "RequestContext"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024
_SELF_LIMITED = (":import", "/v1/pii/", "/v1/recordings:upload")  # recordings: any size, streamed
_TEXT_TYPES = ("application/json", "application/merge-patch+json", "application/x-www-form-urlencoded")
_NUL_QUERY = (b"%00", b"\x00")
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class RejectedBody(Exception):
    """Raised from ``receive`` when a body breaks a guard; rendered as problem+json."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.detail = detail


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        path: str = scope.get("path", "")
        if any(marker in query.lower() for marker in _NUL_QUERY) or "\x00" in path:
            raise RejectedBody(422, "request.nul_byte", "NUL bytes are not accepted in any field")
        headers = dict(scope.get("headers") or [])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        limited = not any(marker in path for marker in _SELF_LIMITED)
        check_nul = media_type in _TEXT_TYPES
        received = 0
        tail = b""
        max_body = self.max_body

        async def guarded_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if limited and received > max_body:
                raise RejectedBody(413, "request.too_large", f"Request bodies are limited to {max_body} bytes")
            if check_nul and chunk:
                window = (tail + chunk).lower()
                if b"\x00" in window or b"\\u0000" in window:
                    raise RejectedBody(422, "request.nul_byte", "NUL bytes are not accepted in any field")
                tail = window[-5:]
            return message

        await self.app(scope, guarded_receive, send)


class RequestContext:
    """Outermost: gives every request an id (the client's ``X-Request-ID`` when it is
    short and plain, else a new one), echoes it on the response, binds it to every log
    line, and answers whatever no handler took, a ``RejectedBody`` or any other error, as
    problem+json. Nothing is re-raised to the server, which would log the exception itself.

    ``on_rejected`` and ``on_error`` render the answers (``api.problem``, which imports
    FastAPI; this module stays plain ASGI)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        on_rejected: Callable[[Request, RejectedBody], Response],
        on_error: Callable[[Request, BaseException], Response],
    ) -> None:
        self.app = app
        self.on_rejected = on_rejected
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope.get("headers") or () if name == b"x-request-id"), b"")
        text = given.decode("latin-1")
        request_id = text if 0 < len(text) <= 64 and set(text) <= _REQUEST_ID_OK else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode("ascii"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # anything no handler took: answered here, never re-raised
            request = Request(scope)
            if isinstance(error, RejectedBody):
                response = self.on_rejected(request, error)
            else:
                response = self.on_error(request, error)  # logs type and frames, never locals
            if not started:
                await response(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
