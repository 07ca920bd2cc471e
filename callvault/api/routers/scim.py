"""SCIM 2.0 ``/scim/v2/Users`` for identity providers (Okta, Entra ID, ...).

Authenticated by the tenant's SCIM bearer token (``cvscim_...``), not by API keys or
sessions. Responses are ``application/scim+json``; every error, including validation and
authentication, is rendered in SCIM's own error schema (RFC 7644 §3.12) by ``_ScimRoute``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callvault.access.actor import Actor
from callvault.access.identity import scim
from callvault.api.deps import get_runtime
from callvault.core.db import set_tenant
from callvault.core.errors import CallVaultError, Conflict, Unauthenticated
from callvault.core.runtime import Runtime

__all__ = ["router"]

SCIM_MEDIA_TYPE = "application/scim+json"
_bearer = HTTPBearer(auto_error=False, scheme_name="SCIM token", description="SCIM bearer token `cvscim_<id>.<secret>`")


def scim_response(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=SCIM_MEDIA_TYPE)


def _scim_error(status: int, detail: str, scim_type: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"schemas": [scim.ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return scim_response(body, status)


def _scim_type(error: CallVaultError) -> str | None:
    if isinstance(error, scim.ScimInvalid):
        return error.scim_type
    if isinstance(error, Conflict):
        return "uniqueness"
    if error.status in (400, 422):
        return "invalidValue"
    return None


class _ScimRoute(APIRoute):
    """Every failure of a SCIM route as a SCIM error document."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except CallVaultError as error:
                status = 400 if error.status == 422 else error.status
                return _scim_error(status, error.detail, _scim_type(error))
            except RequestValidationError:
                return _scim_error(400, "The request failed validation", "invalidSyntax")
            except IntegrityError:  # a concurrent create of the same userName lost the race
                return _scim_error(409, "The change conflicts with stored data", "uniqueness")

        return scim_handler


def get_scim_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    runtime: Annotated[Runtime, Depends(get_runtime)],
) -> Actor:
    if credentials is None:
        raise Unauthenticated("A SCIM bearer token is required", code="scim.missing_token")
    with runtime.sessions() as db_session, db_session.begin():
        return scim.authenticate(
            db_session=db_session,
            token=credentials.credentials,
            request_id=request.state.request_id,
            client_ip=request.client.host if request.client else None,
        )


def get_scim_db_session(
    actor: Annotated[Actor, Depends(get_scim_actor)], runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Iterator[Session]:
    with runtime.sessions() as db_session, db_session.begin():
        set_tenant(db_session, actor.tenant_id)
        yield db_session


ScimActor = Annotated[Actor, Depends(get_scim_actor)]
ScimSession = Annotated[Session, Depends(get_scim_db_session)]
ScimDocument = Annotated[dict[str, Any], Body(media_type=SCIM_MEDIA_TYPE)]


class _ScimJSON(JSONResponse):
    """Declares ``application/scim+json`` as the success media type in the OpenAPI document."""

    media_type = SCIM_MEDIA_TYPE


def _scim_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for SCIM error documents (RFC 7644 §3.12)."""
    error = {
        "type": "object",
        "required": ["schemas", "status", "detail"],
        "properties": {
            "schemas": {"type": "array", "items": {"type": "string", "enum": [scim.ERROR_SCHEMA]}},
            "status": {"type": "string", "pattern": "^[45][0-9]{2}$"},
            "detail": {"type": "string"},
            "scimType": {"type": "string"},
        },
    }
    return {
        status: {"description": "SCIM error", "content": {SCIM_MEDIA_TYPE: {"schema": error}}} for status in statuses
    }


_PATCH_OP = {
    "type": "object",
    "description": "RFC 7644 §3.5.2 PatchOp; op names are case-insensitive (Entra ID sends `Replace`).",
    "required": ["schemas"],
    "anyOf": [{"required": ["Operations"]}, {"required": ["operations"]}],
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}, "contains": {"const": scim.PATCH_SCHEMA}},
        **{
            key: {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["op"],
                    "properties": {
                        "op": {
                            "type": "string",
                            "pattern": "^([Aa][Dd][Dd]|[Rr][Ee][Pp][Ll][Aa][Cc][Ee]|[Rr][Ee][Mm][Oo][Vv][Ee])$",
                        },
                        "path": {"type": "string"},
                        "value": {},
                    },
                },
            }
            for key in ("Operations", "operations")
        },
    },
}
"""What ``PATCH /Users/{id}`` reads (declared so the document states the rules it enforces)."""


router = APIRouter(
    prefix="/scim/v2",
    tags=["scim"],
    route_class=_ScimRoute,
    default_response_class=_ScimJSON,
    responses=_scim_errors(400, 401, 403, 429),
)


@router.get("/Users")
def list_users(
    request: Request,
    actor: ScimActor,
    db_session: ScimSession,
    filter: Annotated[str | None, Query(max_length=400)] = None,
    startIndex: Annotated[int, Query(ge=1, le=2**31 - 1)] = 1,
    count: Annotated[int, Query(ge=0, le=scim.MAX_COUNT)] = 100,
) -> Response:
    rows, total = scim.list_users(
        db_session=db_session, actor=actor, filter_text=filter, start_index=startIndex, count=count
    )
    base = str(request.base_url)
    return scim_response(
        {
            "schemas": [scim.LIST_SCHEMA],
            "totalResults": total,
            "startIndex": startIndex,
            "itemsPerPage": len(rows),
            "Resources": [scim.to_resource(row, base) for row in rows],
        }
    )


@router.post("/Users", status_code=201, responses=_scim_errors(409))
def create_user(request: Request, document: ScimDocument, actor: ScimActor, db_session: ScimSession) -> Response:
    user = scim.create_user(db_session=db_session, actor=actor, document=document)
    resource = scim.to_resource(user, str(request.base_url))
    response = scim_response(resource, 201)
    response.headers["location"] = resource["meta"]["location"]
    return response


@router.get("/Users/{user_id}", responses=_scim_errors(404))
def get_user(request: Request, user_id: str, actor: ScimActor, db_session: ScimSession) -> Response:
    user = scim.get_user(db_session=db_session, actor=actor, user_id=user_id)
    return scim_response(scim.to_resource(user, str(request.base_url)))


@router.put("/Users/{user_id}", responses=_scim_errors(404, 409))
def replace_user(
    request: Request, user_id: str, document: ScimDocument, actor: ScimActor, db_session: ScimSession
) -> Response:
    user = scim.replace_user(db_session=db_session, actor=actor, user_id=user_id, document=document)
    return scim_response(scim.to_resource(user, str(request.base_url)))


@router.patch(
    "/Users/{user_id}",
    responses=_scim_errors(404, 409),
    openapi_extra={"requestBody": {"content": {SCIM_MEDIA_TYPE: {"schema": _PATCH_OP}}}},
)
def patch_user(
    request: Request, user_id: str, document: ScimDocument, actor: ScimActor, db_session: ScimSession
) -> Response:
    user = scim.patch_user(db_session=db_session, actor=actor, user_id=user_id, document=document)
    return scim_response(scim.to_resource(user, str(request.base_url)))


@router.delete("/Users/{user_id}", status_code=204, responses=_scim_errors(404))
def delete_user(user_id: str, actor: ScimActor, db_session: ScimSession) -> Response:
    scim.delete_user(db_session=db_session, actor=actor, user_id=user_id)
    return Response(status_code=204)


@router.get("/ServiceProviderConfig")
def service_provider_config(actor: ScimActor) -> Response:
    """What this SCIM server supports (RFC 7643 §5)."""
    return scim_response(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": scim.MAX_COUNT},
            "changePassword": {"supported": False},
            "sort": {"supported": False},
            "etag": {"supported": False},
            "authenticationSchemes": [
                {"type": "oauthbearertoken", "name": "Bearer token", "description": "Per-tenant SCIM token"}
            ],
        }
    )
