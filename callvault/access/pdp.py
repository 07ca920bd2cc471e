"""The policy decision point: one function decides every access.

``authorize`` is pure (rules are data); ``enforce`` is what services call: it decides,
records the decision in the audit log, and raises on denial. A missing rule is a denial.
The full rule engine (roles, grants, live calls, quotas, approvals) replaces the table
below in the access-control issue without changing either signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, MaskLevel, Outcome, Resource
from callvault.audit import log
from callvault.core.errors import Forbidden, Invalid

__all__ = ["Decision", "Resource", "authorize", "enforce", "record_failure"]


@dataclass(frozen=True, slots=True)
class _Rule:
    scope: str | None  # None: any authenticated actor of the tenant
    mask: MaskLevel
    reason_required: bool = False


_RULES: dict[str, _Rule] = {
    "customer.create": _Rule("customers:write", "masked"),
    "customer.update": _Rule("customers:write", "masked"),
    "customer.delete": _Rule("customers:write", "none"),
    "customer.read": _Rule("customers:read", "masked"),
    "customer.search": _Rule("customers:read", "masked"),
    "customer.list": _Rule("customers:read", "masked"),
    "customer.import": _Rule("customers:import", "none"),
    "customer.reveal": _Rule("customers:reveal", "clear", reason_required=True),
    "pii.scan": _Rule("pii:scan", "none"),
    "pii.redact": _Rule("pii:scan", "none"),
    "audit.read": _Rule("audit:read", "none"),
    "identity.read": _Rule(None, "none"),
    "user.create": _Rule("users:manage", "none"),
    "user.read": _Rule("users:manage", "none"),
    "user.update": _Rule("users:manage", "none"),
    "user.disable": _Rule("users:manage", "none"),
}


def authorize(actor: Actor, action: str, resource: Resource, purpose: str | None = None) -> Decision:
    """Decide; never raises, never touches storage."""
    if resource.tenant_id != actor.tenant_id:
        return Decision(False, "none", "tenant.isolation", "resource belongs to another tenant")
    rule = _RULES.get(action)
    if rule is None:
        return Decision(False, "none", "default.deny", f"no rule allows {action}")
    if rule.scope is not None and rule.scope not in actor.scopes:
        return Decision(False, "none", f"scope.{rule.scope}", f"scope {rule.scope} required")
    if rule.reason_required and not (purpose and purpose.strip()):
        return Decision(False, "none", f"{action}.reason", "a reason is required")
    return Decision(True, rule.mask, f"scope.{rule.scope or 'authenticated'}", "allowed")


def enforce(
    db_session: Session,
    actor: Actor,
    action: str,
    resource: Resource,
    purpose: str | None = None,
    *,
    outcome: Outcome | None = None,
    sealed_purpose: str | None = None,
) -> Decision:
    """Authorize, record the decision and its outcome, raise ``Forbidden`` if denied.

    ``sealed_purpose``: the free-text purpose encrypted under the subject's data key, to
    be stored instead of the redacted text (so erasing the subject erases it too).

    Callers enforce once they know the outcome as far as it can be known before acting:
    after looking the resource up (``outcome="not_found"``, then raise ``NotFound``) and
    before writing, so the audit append never waits on the caller's own write lock.
    """
    decision = authorize(actor, action, resource, purpose)
    if not decision.allow:
        outcome = "denied"
    log.record(
        db_session, actor=actor, action=action, resource=resource, decision=decision, purpose=purpose, outcome=outcome,
        sealed_purpose=sealed_purpose,
    )
    if not decision.allow:
        if decision.rule.endswith(".reason"):
            raise Invalid("A reason is required for this access", code="access.reason_required")
        raise Forbidden(f"Not allowed: {decision.reason}", code="access.denied")
    return decision


def record_failure(db_session: Session, actor: Actor, action: str, resource: Resource, code: str) -> None:
    """Record that an allowed action then failed (``code`` is the error's stable code).

    Call it only once the caller's transaction holds no write lock (after a read, or after
    a rollback)."""
    decision = authorize(actor, action, resource)
    log.record(
        db_session, actor=actor, action=action, resource=resource, decision=decision, outcome="failed", failure=code
    )
