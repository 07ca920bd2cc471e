"""User administration of the caller's own tenant (tenant admins; every call through the
policy decision point as ``user.create`` / ``user.read`` / ``user.update`` / ``user.disable``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from callvault.access.identity import users
from callvault.access.identity.schemas import (
    PasswordSet,
    UserCreate,
    UserCreatedRead,
    UserPage,
    UserRead,
    UserUpdate,
    user_read,
)
from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.post("", response_model=UserCreatedRead, status_code=201, responses=problem_responses(409))
def create_user(body: UserCreate, actor: CurrentActor, db_session: DbSession) -> UserCreatedRead:
    """Create a person of your tenant. Without `password`, one is generated and returned once."""
    user, generated = users.create_user(
        db_session=db_session,
        actor=actor,
        username=body.username,
        role=body.role,
        display_name=body.display_name,
        email=str(body.email) if body.email else None,
        password=body.password,
        generate=body.password is None,
    )
    return UserCreatedRead(**user_read(user).model_dump(), initial_password=generated)


@router.get("", response_model=UserPage)
def list_users(
    actor: CurrentActor,
    db_session: DbSession,
    status: Annotated[Literal["active", "frozen", "disabled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> UserPage:
    rows, total = users.get_all_users(db_session=db_session, actor=actor, status=status, limit=limit, offset=offset)
    return UserPage(items=[user_read(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/{user_id}", response_model=UserRead, responses=problem_responses(404))
def get_user(user_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> UserRead:
    return user_read(users.read_user(db_session=db_session, actor=actor, user_id=user_id))


@router.patch("/{user_id}", response_model=UserRead, responses=problem_responses(404, 409))
def update_user(user_id: uuid.UUID, body: UserUpdate, actor: CurrentActor, db_session: DbSession) -> UserRead:
    """Change role, names or status; `disabled` or `frozen` ends every session at once."""
    changes = users.UserChanges(
        role=body.role,
        display_name=body.display_name,
        email=str(body.email) if body.email else None,
        status=body.status,
    )
    return user_read(users.update_user(db_session=db_session, actor=actor, user_id=user_id, changes=changes))


@router.post("/{user_id}/password", response_model=UserCreatedRead, responses=problem_responses(404))
def reset_password(
    user_id: uuid.UUID, body: PasswordSet, actor: CurrentActor, db_session: DbSession
) -> UserCreatedRead:
    """Set (or generate, returned once) a new password; ends the user's sessions."""
    user, generated = users.reset_password(db_session=db_session, actor=actor, user_id=user_id, password=body.password)
    return UserCreatedRead(**user_read(user).model_dump(), initial_password=generated)
