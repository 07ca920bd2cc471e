"""Approvals: request access that N people must grant, see what you may decide, decide.

`POST /v1/approvals` takes the kind, the target (ids) and a justification; how many
approvers of which roles are needed comes from the kind's policy, never from the
requester. Every route goes through the policy decision point (`approval.create`,
`approval.read`, `approval.decide`); who may decide is the approval's own rule.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from callvault.access.approvals import service
from callvault.access.approvals.schemas import (
    ApprovalCreate,
    ApprovalDecision,
    ApprovalPage,
    ApprovalRead,
    ApprovalStatus,
)
from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1/approvals", tags=["approvals"])


@router.post("", response_model=ApprovalRead, status_code=201)
def create_approval(body: ApprovalCreate, actor: CurrentActor, db_session: DbSession) -> ApprovalRead:
    """Ask for `full_data`, `bulk_read` or `break_glass_review` access; approvers are
    notified in-app and by the tenant's webhooks. Default chain: 2 of tenant admins and
    security officers, never you; pending for 24 h; usable for 1 h once approved."""
    policy = service.KIND_POLICIES[body.kind]
    return service.create_request(
        db_session=db_session,
        actor=actor,
        kind=body.kind,
        target=body.target,
        justification=body.justification,
        required=policy.required,
        approver_roles=policy.approver_roles,
        expires_in=policy.expires_in,
        grant_window=policy.grant_window,
    )


@router.get("", response_model=ApprovalPage)
def list_approvals(
    actor: CurrentActor,
    db_session: DbSession,
    status: Annotated[ApprovalStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ApprovalPage:
    """What you requested and what your role may decide (`status=pending`: your inbox;
    `may_decide` marks the ones waiting for you)."""
    return service.get_all(db_session=db_session, actor=actor, status=status, limit=limit, offset=offset)


@router.get("/{approval_id:id}", response_model=ApprovalRead, responses=problem_responses(404))
def get_approval(approval_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> ApprovalRead:
    """One request with its justification and the approvers' comments."""
    return service.read(db_session=db_session, actor=actor, approval_id=approval_id)


@router.post("/{approval_id:id}:approve", response_model=ApprovalRead, responses=problem_responses(404, 409))
def approve(approval_id: uuid.UUID, body: ApprovalDecision, actor: CurrentActor, db_session: DbSession) -> ApprovalRead:
    """Approve (one vote per approver; the requester cannot)."""
    return service.decide(
        db_session=db_session, actor=actor, approval_id=approval_id, approve=True, comment=body.comment
    )


@router.post("/{approval_id:id}:deny", response_model=ApprovalRead, responses=problem_responses(404, 409))
def deny(approval_id: uuid.UUID, body: ApprovalDecision, actor: CurrentActor, db_session: DbSession) -> ApprovalRead:
    """Deny: one "no" closes the request."""
    return service.decide(
        db_session=db_session, actor=actor, approval_id=approval_id, approve=False, comment=body.comment
    )
