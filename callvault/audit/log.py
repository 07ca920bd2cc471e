"""``record``: the one way to write an audit event.

Events hold ids, actions and decisions, never personal data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from callvault.access.actor import Actor
    from callvault.access.pdp import Decision, Resource

__all__ = ["record"]

_log = structlog.get_logger("callvault.audit")


def record(
    db_session: Session,
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    decision: Decision,
    purpose: str | None = None,
) -> None:
    _log.info(
        "audit",
        tenant_id=actor.tenant_id,
        actor=actor.actor_id,
        action=action,
        resource_type=resource.type,
        resource_id=resource.id,
        decision="allow" if decision.allow else "deny",
        rule=decision.rule,
    )
