"""The one exception tree of CallVault.

Every error a caller can see is a ``CallVaultError`` with an HTTP ``status`` and a stable
machine-readable ``code``. ``api/problem.py`` renders them as RFC 9457 problem+json; the
CLI prints one line and exits with ``exit_code``. Foreign errors (database, driver,
library) are translated at the boundary into one of these.

    CallVaultError
     ├── Invalid                 400 / 422  bad input, with field-level ``errors``
     │    └── PayloadTooLarge    413
     ├── Unauthenticated         401
     ├── Forbidden               403
     │    ├── StepUpRequired     401  confirm a TOTP code again (step-up)
     │    └── ApprovalRequired   403
     ├── NotFound                404
     ├── Conflict                409
     ├── QuotaExceeded           429
     ├── DecryptionFailed        500-class to the caller as 422: ciphertext cannot be opened
     └── IntegrityViolation      500-class to the caller as 409: stored data fails a check

Messages never contain personal data: "ID checksum invalid", not the number.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApprovalRequired",
    "CallVaultError",
    "Conflict",
    "DecryptionFailed",
    "Forbidden",
    "IntegrityViolation",
    "Invalid",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "StepUpRequired",
    "Unauthenticated",
]


class CallVaultError(Exception):
    """Base of every error CallVault raises on purpose."""

    status: int = 400
    code: str = "callvault.error"
    title: str = "CallVault error"
    exit_code: int = 1

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code is not None:
            self.code = code
        self.errors = errors or []
        super().__init__(self.detail)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class Invalid(CallVaultError):
    status = 422
    code = "request.invalid"
    title = "Invalid input"
    exit_code = 2


class PayloadTooLarge(Invalid):
    status = 413
    code = "request.too_large"
    title = "Payload too large"


class Unauthenticated(CallVaultError):
    status = 401
    code = "auth.unauthenticated"
    title = "Authentication required"
    exit_code = 3


class Forbidden(CallVaultError):
    status = 403
    code = "access.denied"
    title = "Forbidden"
    exit_code = 3


class StepUpRequired(Forbidden):
    """Allowed once the person confirms a TOTP code again (``POST /v1/auth/step-up``)."""

    status = 401
    code = "auth.step_up_required"
    title = "Step-up authentication required"


class ApprovalRequired(Forbidden):
    code = "access.approval_required"
    title = "Approval required"


class NotFound(CallVaultError):
    status = 404
    code = "not_found"
    title = "Not found"
    exit_code = 4


class Conflict(CallVaultError):
    status = 409
    code = "conflict"
    title = "Conflict"
    exit_code = 5


class QuotaExceeded(CallVaultError):
    status = 429
    code = "quota.exceeded"
    title = "Quota exceeded"
    exit_code = 6

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
        """Seconds until the window resets (HTTP ``Retry-After``); ``None`` when unknown."""


class DecryptionFailed(CallVaultError):
    """A ciphertext could not be opened. Never says which check failed (Fernet habit)."""

    status = 422
    code = "crypto.decryption_failed"
    title = "Decryption failed"
    exit_code = 7


class IntegrityViolation(CallVaultError):
    status = 409
    code = "integrity.violation"
    title = "Integrity violation"
    exit_code = 8
