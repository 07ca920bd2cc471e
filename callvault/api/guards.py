"""ASGI guards in front of every route: body size and NUL bytes.

FastAPI parses a JSON body whole before any handler can look at its size, so the cap
lives here, counted as the bytes arrive (``Content-Length`` can be absent or lie).
Routes that stream their bodies and enforce their own limit (imports, PII) are exempt
from the size cap but not from the NUL check.

NUL is refused everywhere at the edge: PostgreSQL cannot store it in text, SQLite can,
and a value one backend accepts and the other rejects mid-transaction becomes a 500 on
one and silent junk on the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyGuard", "RejectedBody"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024
_SELF_LIMITED = (":import", "/v1/pii/")
_TEXT_TYPES = ("application/json", "application/merge-patch+json", "application/x-www-form-urlencoded")
_NUL_QUERY = (b"%00", b"\x00")


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
