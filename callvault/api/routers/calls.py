"""Live calls from the CTI: the binding that gives an agent call-bound rights."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses
from callvault.calls import service
from callvault.calls.schemas import CallRead, CallStart

router = APIRouter(prefix="/v1/calls", tags=["calls"])

CallId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[\w.\-:@/]+$")]


@router.post("", status_code=201, responses=problem_responses(404, 409))
def start_call(call_in: CallStart, actor: CurrentActor, db_session: DbSession) -> CallRead:
    """Bind an agent to a customer for the call (CTI integration, scope `calls:write`).
    While it is live the agent may reveal that customer's fields with a reason."""
    return service.start(db_session=db_session, actor=actor, call_in=call_in)


@router.post("/{call_id}/end", responses=problem_responses(404))
def end_call(call_id: CallId, actor: CurrentActor, db_session: DbSession) -> CallRead:
    """End the call: the agent's call-bound rights end at once (idempotent)."""
    return service.end(db_session=db_session, actor=actor, call_id=call_id)


@router.get("/{call_id}", responses=problem_responses(404))
def get_call(call_id: CallId, actor: CurrentActor, db_session: DbSession) -> CallRead:
    return service.get_or_raise(db_session=db_session, actor=actor, call_id=call_id)
