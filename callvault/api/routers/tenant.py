"""The caller's own identity and tenant."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from callvault.api.deps import CurrentActor

router = APIRouter(prefix="/v1", tags=["identity"])


class WhoAmI(BaseModel):
    tenant_id: str
    actor_id: str
    kind: str
    scopes: list[str]


@router.get("/whoami")
def whoami(actor: CurrentActor) -> WhoAmI:
    return WhoAmI(tenant_id=actor.tenant_id, actor_id=actor.actor_id, kind=actor.kind, scopes=sorted(actor.scopes))
