"""The policy decision point: one function decides every access.

``authorize`` is pure: the rules are data (``access.policy``), the facts it may need
(a live call, a grant, an approval) come through the ``Facts`` protocol, the time is a
parameter. ``enforce`` is what services call: it loads the tenant's effective policy,
gathers facts from storage on demand, decides, charges quotas, records the decision and
its outcome in the audit log, and raises on denial. A missing rule is a denial.

The dependency runs one way: ``pdp`` → ``audit.log`` → ``access.decision``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.decision import Decision, FieldMask, Outcome, Resource
from callvault.access.policy import PolicyDocument, PolicyRule, default_policy, effective_policy
from callvault.audit import log
from callvault.core import clock
from callvault.core.errors import ApprovalRequired, Forbidden, Invalid, StepUpRequired

__all__ = ["Decision", "Facts", "Resource", "authorize", "enforce", "record_failure"]


class Facts(Protocol):
    """What ``authorize`` may ask about the world; asked only when a rule needs it."""

    def live_call(self) -> bool: ...

    def grant(self) -> bool: ...

    def approval(self, kind: str) -> bool: ...


class NoFacts:
    """Nothing is known: every fact is false (pure callers, unit tests)."""

    def live_call(self) -> bool:
        return False

    def grant(self) -> bool:
        return False

    def approval(self, kind: str) -> bool:
        return False


def _deny(rule: str, reason: str, **flags: Any) -> Decision:
    return Decision(False, "none", rule, reason, **flags)


def _unmet(
    rule: PolicyRule,
    actor: Actor,
    resource: Resource,
    purpose: str | None,
    policy: PolicyDocument,
    facts: Facts,
    now: datetime,
    context: Mapping[str, Any],
) -> str | None:
    """The first condition of ``rule`` that does not hold, or None.

    For a resource that does not exist (``context["absent"]``), conditions about that
    resource (assigned, live call) are not held against the actor: the answer is
    then "not found" for anyone who could read such a resource, exactly as for an id of
    another tenant, so a denial never confirms that an id exists elsewhere.
    """
    absent = bool(context.get("absent"))
    for condition in rule.when:
        if condition == "assigned":
            listing = resource.id is None or absent
            own = actor.username is not None and resource.owner == actor.username
            if not (listing or own or facts.live_call()):
                return condition
        elif condition == "live_call" and absent:
            continue
        elif condition == "live_call":
            if not facts.live_call():
                return condition
        elif condition == "reason":
            if not purpose or len(purpose.strip()) < policy.reason_min_length:
                return condition
        elif condition == "step_up":
            window = timedelta(minutes=policy.step_up_minutes)
            if actor.step_up_at is None or not timedelta(0) <= now - actor.step_up_at <= window:
                return condition
        elif condition == "grant":
            if not facts.grant():
                return condition
        elif condition == "break_glass":
            if not context.get("break_glass") or not purpose or len(purpose.strip()) < policy.break_glass_min_length:
                return condition
        elif condition.startswith("approval:"):
            if not facts.approval(condition.partition(":")[2]):
                return condition
        elif condition.startswith("consent:"):  # the subject's valid consent to a purpose (lifecycle)
            consent = getattr(facts, "consent", None)  # facts that know no consent: never holds
            if consent is None or not consent(condition.partition(":")[2]):
                return condition
        else:  # a condition this code does not know never holds
            return condition
    return None


def _field_masks(policy: PolicyDocument, actor: Actor) -> Mapping[str, FieldMask]:
    return policy.field_masks(actor.role) if actor.kind == "user" else {}


def authorize(
    actor: Actor,
    action: str,
    resource: Resource,
    purpose: str | None = None,
    *,
    policy: PolicyDocument | None = None,
    facts: Facts | None = None,
    now: datetime | None = None,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Decide; never raises, never touches storage (facts come through ``facts``).

    Rules are tried in order; the first whose actions and principals match and whose
    conditions all hold decides. A matching rule missing only a step-up, an approval or
    a reason is remembered, so the denial can say what would make the access possible.
    """
    policy = policy or default_policy()
    facts = facts or NoFacts()
    now = now or clock.now()
    context = context or {}
    if resource.tenant_id != actor.tenant_id:
        return _deny("tenant.isolation", "resource belongs to another tenant")
    is_person = actor.kind == "user"
    role = actor.role if is_person else None
    scopes = frozenset() if is_person else actor.scopes
    near_miss: tuple[PolicyRule, str] | None = None
    for rule in policy.rules:
        if not rule.matches(action, role, scopes):
            continue
        if rule.effect == "deny":
            return _deny(rule.id, f"{action} is never allowed for this actor")
        missing = _unmet(rule, actor, resource, purpose, policy, facts, now, context)
        if missing is None:
            return Decision(
                True,
                rule.mask,
                rule.id,
                "allowed",
                rows=rule.rows,
                field_masks=_field_masks(policy, actor),
                quota=rule.quota,
                critical="break_glass" in rule.when,
                approval_kind=next((c.partition(":")[2] for c in rule.when if c.startswith("approval:")), None),
            )
        if near_miss is None and (missing in ("step_up", "reason") or missing.startswith("approval:")):
            near_miss = (rule, missing)
    if near_miss is not None:
        rule, missing = near_miss
        if missing == "step_up":
            return _deny(rule.id, "a recent two-factor confirmation is required", needs_step_up=True)
        if missing == "reason":
            return _deny(f"{rule.id}.reason", f"a reason of at least {policy.reason_min_length} characters is required")
        kind = missing.partition(":")[2]
        return _deny(rule.id, f"an approved {kind} request is required", needs_approval=True, approval_kind=kind)
    return _deny("default.deny", f"no rule allows {action}")


class _StoredFacts:
    """Facts read from the database the first time a rule asks (then remembered)."""

    def __init__(self, db_session: Session, actor: Actor, action: str, resource: Resource, now: datetime) -> None:
        self._db = db_session
        self._actor = actor
        self._action = action
        self._resource = resource
        self._now = now
        self._known: dict[str, bool] = {}
        self.approvals: dict[str, Any] = {}  # kind -> the approval that holds (or None)

    def _customer_id(self) -> uuid.UUID | None:
        if self._resource.type != "customer" or self._resource.id is None:
            return None
        try:
            return uuid.UUID(self._resource.id)
        except ValueError:
            return None

    def live_call(self) -> bool:
        if "live_call" not in self._known:
            from callvault.calls.service import has_live_call

            customer_id = self._customer_id()
            self._known["live_call"] = (
                self._actor.username is not None
                and customer_id is not None
                and has_live_call(
                    db_session=self._db,
                    tenant_id=self._actor.tenant_id,
                    agent=self._actor.username,
                    customer_id=customer_id,
                )
            )
        return self._known["live_call"]

    def grant(self) -> bool:
        if "grant" not in self._known:
            from callvault.access.grants import has_grant

            self._known["grant"] = self._actor.user_id is not None and has_grant(
                db_session=self._db,
                tenant_id=self._actor.tenant_id,
                user_id=self._actor.user_id,
                action=self._action,
                customer_id=self._customer_id(),
                at=self._now,
            )
        return self._known["grant"]

    def approval(self, kind: str) -> bool:
        if kind not in self.approvals:
            self.approvals[kind] = _approved(self._db, self._actor, kind, self._resource, self._now)
        return self.approvals[kind] is not None

    def consent(self, purpose: str) -> bool:
        """The resource's subject holds a valid consent to ``purpose`` (lifecycle's ledger)."""
        key = f"consent:{purpose}"
        if key not in self._known:
            try:
                from callvault.lifecycle.consent import consent_holds
            except ImportError:  # the lifecycle capability is not installed: no consent
                self._known[key] = False
            else:
                self._known[key] = consent_holds(
                    db_session=self._db, tenant_id=self._actor.tenant_id, resource=self._resource, purpose=purpose
                )
        return self._known[key]


def _approved(db_session: Session, actor: Actor, kind: str, resource: Resource, now: datetime) -> Any:
    """An approved, unexpired request of ``kind`` by this actor that covers the resource
    (its target names the customer, or the whole tenant)."""
    try:
        from callvault.access.approvals.service import active_approval
    except ImportError:  # the approvals capability is not installed: nothing is approved
        return None

    def covers(target: dict[str, Any]) -> bool:
        if target.get("scope") == "tenant":
            return True
        return resource.id is not None and resource.id in target.get("customer_ids", ())

    return active_approval(
        db_session=db_session,
        tenant_id=actor.tenant_id,
        requester_id=actor.actor_id,
        kind=kind,
        covers=covers,
        at=now,
    )


def enforce(
    db_session: Session,
    actor: Actor,
    action: str,
    resource: Resource,
    purpose: str | None = None,
    *,
    outcome: Outcome | None = None,
    sealed_purpose: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Authorize, charge the rule's quota, record the decision and its outcome, raise if
    denied (``StepUpRequired`` 401, ``ApprovalRequired`` 403, ``QuotaExceeded`` 429,
    ``Invalid`` 422 for a missing reason, else ``Forbidden`` 403).

    ``sealed_purpose``: the free-text purpose encrypted under the subject's data key, to
    be stored instead of the redacted text (so erasing the subject erases it too).

    Callers enforce once they know the outcome as far as it can be known before acting:
    after looking the resource up (``outcome="not_found"``, then raise ``NotFound``) and
    before writing, so the audit append never waits on the caller's own write lock.
    """
    now = clock.now()
    policy = effective_policy(db_session, actor.tenant_id)
    if outcome == "not_found":
        context = {**(context or {}), "absent": True}
    facts = _StoredFacts(db_session, actor, action, resource, now)
    decision = authorize(actor, action, resource, purpose, policy=policy, facts=facts, now=now, context=context)
    quota_error = None
    if decision.allow and decision.quota is not None:
        from callvault.access.quotas import charge

        quota_error = charge(db_session, actor, decision.quota, policy, now)
        if quota_error is not None:
            decision = _deny(f"quota.{decision.quota}", "quota spent")
    if not decision.allow:
        outcome = "denied"
    log.record(
        db_session,
        actor=actor,
        action=action,
        resource=resource,
        decision=decision,
        purpose=purpose,
        outcome=outcome,
        sealed_purpose=sealed_purpose,
    )
    if decision.critical:
        _alert_break_glass(db_session, actor, action, resource, decision)
    if decision.allow and decision.approval_kind is not None and facts.approvals.get(decision.approval_kind):
        from callvault.access.approvals.service import mark_used

        mark_used(
            db_session=db_session, actor=actor, approval=facts.approvals[decision.approval_kind], resource=resource
        )
    if quota_error is not None:
        raise quota_error
    if not decision.allow:
        if decision.needs_step_up:
            raise StepUpRequired(
                f"Confirm a TOTP code (POST /v1/auth/step-up) within {policy.step_up_minutes} minutes "
                "before this action"
            )
        if decision.needs_approval:
            raise ApprovalRequired(
                f"An approved {decision.approval_kind} request is required (POST /v1/approvals)",
                code="approval.required",
            )
        if decision.rule.endswith(".reason"):
            raise Invalid(decision.reason[0].upper() + decision.reason[1:], code="access.reason_required")
        raise Forbidden(f"Not allowed: {decision.reason}", code="access.denied")
    return decision


def _alert_break_glass(db_session: Session, actor: Actor, action: str, resource: Resource, decision: Decision) -> None:
    """Break-glass works alone, but never quietly: a second, critical event for the
    security officer's queue (monitoring reads ``access.break_glass``)."""
    alert = Decision(True, "none", "alert.break_glass", "critical: break-glass access used")
    log.record(db_session, actor=actor, action="access.break_glass", resource=resource, decision=alert)


def record_failure(db_session: Session, actor: Actor, action: str, resource: Resource, code: str) -> None:
    """Record that an allowed action then failed (``code`` is the error's stable code).

    Call it only once the caller's transaction holds no write lock (after a read, or after
    a rollback)."""
    decision = Decision(True, "none", "outcome.failed", "allowed, then failed")
    log.record(
        db_session, actor=actor, action=action, resource=resource, decision=decision, outcome="failed", failure=code
    )
