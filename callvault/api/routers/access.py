"""Time-bound grants and the tenant's access policy."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from callvault.access import grants
from callvault.access.grants import GrantCreate, GrantRead
from callvault.access.policy import (
    EffectivePolicyRead,
    PolicyOverride,
    PolicyVersionRead,
    read_policy,
    read_versions,
    replace_policy,
)
from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses

router = APIRouter(prefix="/v1", tags=["access"])


@router.post("/grants", status_code=201, responses=problem_responses(404))
def create_grant(grant_in: GrantCreate, actor: CurrentActor, db_session: DbSession) -> GrantRead:
    """Give one person some customer actions until a time (tenant admin or supervisor,
    after step-up; never to yourself; interns never get reveal)."""
    return grants.create_grant(db_session=db_session, actor=actor, grant_in=grant_in)


@router.get("/grants")
def list_grants(actor: CurrentActor, db_session: DbSession, user_id: uuid.UUID | None = None) -> list[GrantRead]:
    return grants.get_all_grants(db_session=db_session, actor=actor, user_id=user_id)


@router.delete("/grants/{grant_id}", responses=problem_responses(404))
def revoke_grant(grant_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> GrantRead:
    return grants.revoke_grant(db_session=db_session, actor=actor, grant_id=grant_id)


@router.get("/policy")
def get_policy(actor: CurrentActor, db_session: DbSession) -> EffectivePolicyRead:
    """The policy in force: the shipped default merged with this tenant's newest override."""
    return read_policy(db_session=db_session, actor=actor)


@router.get("/policy/versions")
def get_policy_versions(actor: CurrentActor, db_session: DbSession) -> list[PolicyVersionRead]:
    return read_versions(db_session=db_session, actor=actor)


@router.put("/policy")
def put_policy(override: PolicyOverride, actor: CurrentActor, db_session: DbSession) -> EffectivePolicyRead:
    """Store a new version of this tenant's override (tenant admin after step-up). Its
    rules run before the defaults; its masks and limits replace the keys they name."""
    return replace_policy(db_session=db_session, actor=actor, override=override)
