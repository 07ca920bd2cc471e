"""The caller's own identity and tenant."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from callvault.access.pdp import Resource, enforce
from callvault.api.deps import CurrentActor, DbSession

router = APIRouter(prefix="/v1", tags=["identity"])


class WhoAmI(BaseModel):
    tenant_id: str
    actor_id: str
    kind: str
    scopes: list[str]


@router.get("/whoami")
def whoami(actor: CurrentActor, db_session: DbSession) -> WhoAmI:
    enforce(db_session, actor, "identity.read", Resource(type="identity", tenant_id=actor.tenant_id, id=actor.actor_id))
    return WhoAmI(tenant_id=actor.tenant_id, actor_id=actor.actor_id, kind=actor.kind, scopes=sorted(actor.scopes))
