"""Tenant webhooks for approval events (tenant admins, `webhook.manage`).

The signing secret is returned once, by `POST /v1/webhooks`. Each delivery is a JSON
body of ids, signed `X-CallVault-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`,
retried with exponential back-off; `GET /v1/webhooks/{id}/deliveries` shows the state.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from callvault.access.approvals import webhooks
from callvault.access.approvals.schemas import DeliveryPage, WebhookCreate, WebhookCreatedRead, WebhookRead
from callvault.api.deps import CurrentActor, DbSession
from callvault.api.problem import problem_responses

__all__ = ["router"]

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", response_model=WebhookCreatedRead, status_code=201)
def create_webhook(body: WebhookCreate, actor: CurrentActor, db_session: DbSession) -> WebhookCreatedRead:
    """Register an http(s) endpoint for approval events; the secret is shown this once."""
    return webhooks.create_webhook(db_session=db_session, actor=actor, url=body.url, description=body.description)


@router.get("", response_model=list[WebhookRead])
def list_webhooks(
    actor: CurrentActor, db_session: DbSession, include_deleted: Annotated[bool, Query()] = False
) -> list[WebhookRead]:
    """Endpoints of your tenant with their pending, delivered and failed counts."""
    return webhooks.get_all_webhooks(db_session=db_session, actor=actor, include_deleted=include_deleted)


@router.delete("/{webhook_id}", status_code=204, responses=problem_responses(404))
def delete_webhook(webhook_id: uuid.UUID, actor: CurrentActor, db_session: DbSession) -> Response:
    """Stop an endpoint; its pending deliveries are cancelled, its history kept."""
    webhooks.delete_webhook(db_session=db_session, actor=actor, webhook_id=webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage, responses=problem_responses(404))
def list_deliveries(
    webhook_id: uuid.UUID,
    actor: CurrentActor,
    db_session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> DeliveryPage:
    """Each delivery: event, status, attempts, next attempt, last HTTP status or error."""
    return webhooks.get_all_deliveries(
        db_session=db_session, actor=actor, webhook_id=webhook_id, limit=limit, offset=offset
    )
