"""People's authentication: login, logout, TOTP enrolment, step-up.

``public_router`` (login) is the only unauthenticated route that touches data; the rest
act on the caller's own session.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from callvault.access.identity import sessions
from callvault.access.identity.schemas import (
    Login,
    LoginRead,
    StepUp,
    StepUpRead,
    TotpConfirm,
    TotpEnrolmentRead,
    TotpRecoveryCodesRead,
)
from callvault.api.deps import CurrentActor, DbSession, PublicDbSession
from callvault.api.problem import problem_responses

__all__ = ["public_router", "router"]

public_router = APIRouter(prefix="/v1/auth", tags=["auth"])
router = APIRouter(prefix="/v1/auth", tags=["auth"])


@public_router.post("/login", response_model=LoginRead, responses=problem_responses(401, 429))
def login(body: Login, request: Request, db_session: PublicDbSession) -> LoginRead:
    """Exchange tenant, username, password (and a TOTP or recovery code once enrolled) for
    a session token. Every failure answers `auth.login_failed` (401)."""
    result = sessions.login(
        db_session=db_session,
        tenant_id=body.tenant,
        username=body.username,
        password=body.password,
        totp_code=body.totp,
        client_ip=request.client.host if request.client else None,
        request_id=request.state.request_id,
    )
    idle = request.app.state.runtime.settings.session_idle_minutes
    return LoginRead(
        token=result.token,
        expires_at=result.session.expires_at,
        idle_minutes=idle,
        user_id=result.user.id,
        role=result.user.role,
        enrol_only=result.enrol_only,
        step_up_at=result.session.step_up_at,
    )


@router.post("/logout", status_code=204, response_class=Response)
def logout(actor: CurrentActor, db_session: DbSession) -> Response:
    """End this session; the token stops working at once."""
    sessions.logout(db_session=db_session, actor=actor)
    return Response(status_code=204)


@router.post("/totp", response_model=TotpEnrolmentRead, status_code=201, responses=problem_responses(409))
def begin_totp(actor: CurrentActor, db_session: DbSession) -> TotpEnrolmentRead:
    """Start TOTP enrolment: a secret (shown once) and its `otpauth://` URI for a QR code."""
    secret, uri = sessions.begin_totp_enrolment(db_session=db_session, actor=actor)
    return TotpEnrolmentRead(secret=secret, provisioning_uri=uri)


@router.post("/totp/confirm", response_model=TotpRecoveryCodesRead, responses=problem_responses(409))
def confirm_totp(body: TotpConfirm, actor: CurrentActor, db_session: DbSession) -> TotpRecoveryCodesRead:
    """Confirm enrolment with a first code; returns ten single-use recovery codes (once)."""
    codes = sessions.confirm_totp_enrolment(db_session=db_session, actor=actor, code=body.code)
    return TotpRecoveryCodesRead(recovery_codes=codes)


@router.post("/step-up", response_model=StepUpRead, responses=problem_responses(409))
def step_up(body: StepUp, actor: CurrentActor, db_session: DbSession) -> StepUpRead:
    """Confirm a current TOTP code; sensitive actions then work for a few minutes
    (otherwise they answer 401 `auth.step_up_required`)."""
    at = sessions.step_up(db_session=db_session, actor=actor, code=body.code)
    return StepUpRead(step_up_at=at)
