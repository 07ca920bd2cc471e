"""The policy decision point: one function decides every access.

``authorize`` is pure (rules are data); ``enforce`` is what services call: it decides,
records the decision in the audit log, and raises on denial. A missing rule is a denial.
The full rule engine (roles, grants, live calls, quotas, approvals) replaces the table
below in the access-control issue without changing either signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.core.errors import Forbidden, Invalid

__all__ = ["Decision", "Resource", "authorize", "enforce"]

MaskLevel = Literal["masked", "clear", "none"]


@dataclass(frozen=True, slots=True)
class Resource:
    type: str
    tenant_id: str
    id: str | None = None
    subject_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allow: bool
    mask: MaskLevel
    rule: str
    reason: str
    needs_step_up: bool = False
    needs_approval: bool = False


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
) -> Decision:
    """Authorize, record the decision, raise ``Forbidden`` if denied."""
    from callvault.audit import log

    decision = authorize(actor, action, resource, purpose)
    log.record(db_session, actor=actor, action=action, resource=resource, decision=decision, purpose=purpose)
    if not decision.allow:
        if decision.rule.endswith(".reason"):
            raise Invalid("A reason is required for this access", code="access.reason_required")
        raise Forbidden(f"Not allowed: {decision.reason}", code="access.denied")
    return decision
