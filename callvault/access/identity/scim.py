"""SCIM 2.0 (RFC 7643/7644) provisioning of users, as Okta and Entra ID call it.

An identity provider holds one bearer token per tenant (``cvscim_<id>.<secret>``, digest
stored, created with ``callvault users scim-token``). Every SCIM call acts as that token
(``Actor`` kind ``service_account``, id ``scim:<token id>``, scope ``users:manage``) and
goes through the same user services as the admin API, so every change passes the policy
decision point and is audited. ``active: false`` (PATCH or PUT) and DELETE revoke every
session of the person in the same transaction: the next request with their token is
refused.

Attributes kept: ``userName``, ``displayName`` (or ``name.formatted``), the primary
``emails`` value, ``externalId``, ``active`` and the role (``roles[0].value`` or
``urn:callvault:scim:1.0:User`` ``role``). Other attributes IdPs send are accepted
and ignored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callvault.access.actor import ROLES, Actor
from callvault.access.identity import users
from callvault.access.identity.common import digest_matches, new_token, parse_token
from callvault.access.identity.models import ScimToken, Tenant, User
from callvault.access.pdp import Resource, enforce
from callvault.core import clock
from callvault.core.db import set_lookup_key, set_tenant
from callvault.core.errors import Invalid, NotFound, Unauthenticated

__all__ = [
    "CALLVAULT_EXTENSION",
    "ERROR_SCHEMA",
    "LIST_SCHEMA",
    "PATCH_SCHEMA",
    "SCIM_PREFIX",
    "USER_SCHEMA",
    "ScimInvalid",
    "authenticate",
    "create_token",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "patch_user",
    "replace_user",
    "revoke_token",
    "to_resource",
]

SCIM_PREFIX = "cvscim_"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
CALLVAULT_EXTENSION = "urn:callvault:scim:1.0:User"
DEFAULT_ROLE = "agent"
MAX_COUNT = 200

_FILTER = re.compile(r'^\s*(userName|externalId|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


class ScimInvalid(Invalid):
    """Bad SCIM input; ``scim_type`` is RFC 7644's ``scimType`` (invalidFilter, ...)."""

    status = 400

    def __init__(self, detail: str, *, scim_type: str, code: str = "scim.invalid") -> None:
        super().__init__(detail, code=code)
        self.scim_type = scim_type


# -- tokens ------------------------------------------------------------------------------
def create_token(*, db_session: Session, tenant_id: str, name: str = "idp") -> tuple[ScimToken, str]:
    """A new SCIM bearer token for ``tenant_id``; the token is returned once, never stored."""
    if db_session.get(Tenant, tenant_id) is None:
        raise NotFound("Tenant not found", code="tenant.not_found")
    set_tenant(db_session, tenant_id)
    token_id, token, token_digest = new_token(SCIM_PREFIX, "scim")
    row = ScimToken(id=token_id, tenant_id=tenant_id, name=name, token_digest=token_digest, created_at=clock.now())
    db_session.add(row)
    db_session.flush()
    return row, token


def revoke_token(*, db_session: Session, tenant_id: str, token_id: str) -> None:
    set_tenant(db_session, tenant_id)
    row = db_session.get(ScimToken, token_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("SCIM token not found", code="scim.token_not_found")
    row.revoked_at = row.revoked_at or clock.now()


def authenticate(
    *, db_session: Session, token: str, request_id: str | None = None, client_ip: str | None = None
) -> Actor:
    failure = Unauthenticated("Invalid or revoked SCIM token", code="scim.invalid_token")
    parsed = parse_token(SCIM_PREFIX, token)
    if parsed is None:
        raise failure
    token_id, secret = parsed
    set_lookup_key(db_session, token_id)
    row = db_session.get(ScimToken, token_id)
    if row is None or row.revoked_at is not None or not digest_matches("scim", secret, row.token_digest):
        raise failure
    tenant = db_session.get(Tenant, row.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Unauthenticated("Tenant is suspended", code="auth.tenant_suspended")
    return Actor(
        tenant_id=row.tenant_id,
        actor_id=f"scim:{row.id}",
        kind="service_account",
        scopes=frozenset({"users:manage"}),
        role="scim",
        request_id=request_id,
        client_ip=client_ip,
    )


# -- representation ----------------------------------------------------------------------
def to_resource(user: User, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA, CALLVAULT_EXTENSION],
        "id": str(user.id),
        "userName": user.username,
        "active": user.status == "active",
        "roles": [{"value": user.role, "primary": True}],
        CALLVAULT_EXTENSION: {"role": user.role, "status": user.status},
        "meta": {
            "resourceType": "User",
            "created": user.created_at.isoformat(),
            "lastModified": user.updated_at.isoformat(),
            "location": f"{base_url.rstrip('/')}/scim/v2/Users/{user.id}",
        },
    }
    if user.external_id is not None:
        resource["externalId"] = user.external_id
    if user.display_name:
        resource["displayName"] = user.display_name
        resource["name"] = {"formatted": user.display_name}
    if user.email:
        resource["emails"] = [{"value": user.email, "type": "work", "primary": True}]
    return resource


@dataclass
class _Attributes:
    """What a SCIM document says about the attributes CallVault keeps (None: not given)."""

    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    clear_email: bool = False
    external_id: str | None = None
    active: bool | None = None
    role: str | None = None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"  # Entra ID sends "True"/"False" strings
    raise ScimInvalid("active must be a boolean", scim_type="invalidValue")


def _as_str(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ScimInvalid(f"{name} must be a non-empty string of at most {limit} characters", scim_type="invalidValue")
    return value.strip()


def _role_of(value: Any) -> str:
    if isinstance(value, list):
        chosen = next((item for item in value if isinstance(item, dict) and item.get("primary")), None)
        value = chosen if chosen is not None else (value[0] if value else None)
    if isinstance(value, dict):
        value = value.get("value")
    if not isinstance(value, str) or value not in ROLES:
        raise ScimInvalid(f"role must be one of: {', '.join(sorted(ROLES))}", scim_type="invalidValue")
    return value


def _email_of(value: Any) -> str | None:
    if isinstance(value, list):
        if not value:
            return None
        chosen = next((item for item in value if isinstance(item, dict) and item.get("primary")), value[0])
        value = chosen.get("value") if isinstance(chosen, dict) else chosen
    if value is None:
        return None
    text = _as_str(value, "emails.value", 320)
    if "@" not in text:
        raise ScimInvalid("emails.value must be an e-mail address", scim_type="invalidValue")
    return text


def _apply(attrs: _Attributes, name: str, value: Any) -> None:
    """One attribute (case-insensitive names, as RFC 7643 §2.1 says)."""
    key = name.lower()
    if key == "username":
        attrs.username = _as_str(value, "userName", 150)
    elif key == "displayname":
        attrs.display_name = _as_str(value, "displayName", 200)
    elif key == "name.formatted":
        attrs.display_name = attrs.display_name or _as_str(value, "name.formatted", 200)
    elif key == "name" and isinstance(value, dict) and value.get("formatted"):
        attrs.display_name = attrs.display_name or _as_str(value["formatted"], "name.formatted", 200)
    elif key == "externalid":
        attrs.external_id = _as_str(value, "externalId", 255)
    elif key == "active":
        attrs.active = _as_bool(value)
    elif key == "roles":
        attrs.role = _role_of(value)
    elif key == CALLVAULT_EXTENSION.lower() and isinstance(value, dict) and "role" in value:
        attrs.role = _role_of(value["role"])
    elif key == f"{CALLVAULT_EXTENSION.lower()}:role":
        attrs.role = _role_of(value)
    elif key == "emails" or key.startswith("emails["):
        attrs.email = _email_of(value if key == "emails" else [{"value": value, "primary": True}])
        attrs.clear_email = attrs.email is None
    # anything else (title, locale, phoneNumbers, ...) is accepted and not kept


def _attributes(document: dict[str, Any]) -> _Attributes:
    attrs = _Attributes()
    for name, value in document.items():
        if name in ("schemas", "id", "meta", "password"):
            continue
        _apply(attrs, name, value)
    return attrs


# -- operations --------------------------------------------------------------------------
def _find(db_session: Session, actor: Actor, user_id: str) -> User:
    try:
        parsed = uuid.UUID(user_id)
    except ValueError:
        raise NotFound("User not found", code="user.not_found") from None
    enforce(db_session, actor, "user.read", Resource(type="user", tenant_id=actor.tenant_id, id=str(parsed)))
    return users.get_user_or_raise(db_session=db_session, tenant_id=actor.tenant_id, user_id=parsed)


def get_user(*, db_session: Session, actor: Actor, user_id: str) -> User:
    return _find(db_session, actor, user_id)


def list_users(
    *, db_session: Session, actor: Actor, filter_text: str | None, start_index: int, count: int
) -> tuple[list[User], int]:
    """Users of the token's tenant, optionally ``userName|externalId|id eq "..."``."""
    enforce(db_session, actor, "user.read", Resource(type="user", tenant_id=actor.tenant_id))
    query = select(User).where(User.tenant_id == actor.tenant_id, User.status != "deleted")
    if filter_text:
        match = _FILTER.match(filter_text)
        if match is None:
            raise ScimInvalid('Supported filters: userName, externalId or id eq "value"', scim_type="invalidFilter")
        attribute, value = match.group(1).lower(), match.group(2).replace('\\"', '"').replace("\\\\", "\\")
        if attribute == "username":
            query = query.where(User.username == value.strip().lower())
        elif attribute == "externalid":
            query = query.where(User.external_id == value)
        else:
            try:
                query = query.where(User.id == uuid.UUID(value))
            except ValueError:
                return [], 0
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db_session.scalars(query.order_by(User.created_at, User.id).offset(max(start_index, 1) - 1).limit(count))
    return list(rows), total


def create_user(*, db_session: Session, actor: Actor, document: dict[str, Any]) -> User:
    attrs = _attributes(document)
    if attrs.username is None:
        raise ScimInvalid("userName is required", scim_type="invalidValue")
    password = document.get("password")
    if password is not None and not isinstance(password, str):
        raise ScimInvalid("password must be a string", scim_type="invalidValue")
    user, _ = users.create_user(
        db_session=db_session,
        actor=actor,
        username=attrs.username,
        role=attrs.role or DEFAULT_ROLE,
        display_name=attrs.display_name,
        email=attrs.email,
        password=password,
        source="scim",
        external_id=attrs.external_id,
        active=attrs.active is not False,
    )
    return user


def _change(db_session: Session, actor: Actor, user: User, attrs: _Attributes, *, replace: bool = False) -> User:
    clear_display_name = attrs.display_name is None and replace
    status = None if attrs.active is None else ("active" if attrs.active else "disabled")
    if status == user.status or user.status == "frozen":
        status = None  # a security freeze is CallVault's own: the IdP can neither lift nor replace it
    changes = users.UserChanges(
        role=attrs.role,
        display_name=attrs.display_name,
        email=attrs.email,
        clear_email=attrs.clear_email,
        clear_display_name=clear_display_name,
        username=attrs.username,
        external_id=attrs.external_id,
        status=status,
    )
    return users.update_user(db_session=db_session, actor=actor, user_id=user.id, changes=changes, by="scim")


def replace_user(*, db_session: Session, actor: Actor, user_id: str, document: dict[str, Any]) -> User:
    """PUT: the document replaces the kept attributes (absent e-mail/display name clear)."""
    user = _find(db_session, actor, user_id)
    attrs = _attributes(document)
    if attrs.username is None:
        raise ScimInvalid("userName is required", scim_type="invalidValue")
    if attrs.email is None:
        attrs.clear_email = True
    if attrs.active is None:
        attrs.active = True
    return _change(db_session, actor, user, attrs, replace=True)


def patch_user(*, db_session: Session, actor: Actor, user_id: str, document: dict[str, Any]) -> User:
    """PatchOp: ``add`` / ``replace`` with or without ``path``, ``remove`` of optional values."""
    if PATCH_SCHEMA not in (document.get("schemas") or []):
        raise ScimInvalid(f"schemas must contain {PATCH_SCHEMA}", scim_type="invalidSyntax")
    operations = document.get("Operations") or document.get("operations")
    if not isinstance(operations, list) or not operations:
        raise ScimInvalid("Operations must be a non-empty list", scim_type="invalidSyntax")
    user = _find(db_session, actor, user_id)
    attrs = _Attributes()
    for operation in operations:
        if not isinstance(operation, dict):
            raise ScimInvalid("Each operation must be an object", scim_type="invalidSyntax")
        op = str(operation.get("op", "")).lower()
        path = operation.get("path")
        value = operation.get("value")
        if op not in ("add", "replace", "remove"):
            raise ScimInvalid("op must be add, replace or remove", scim_type="invalidSyntax")
        if path is not None and not isinstance(path, str):
            raise ScimInvalid("path must be a string", scim_type="invalidPath")
        if op == "remove":
            key = (path or "").lower()
            if key.startswith("emails"):
                attrs.email, attrs.clear_email = None, True
            elif key in ("username", "active", "roles"):
                raise ScimInvalid(f"{path} cannot be removed", scim_type="mutability")
            continue
        if path:
            _apply(attrs, path, value)
        elif isinstance(value, dict):
            for name, item in value.items():
                _apply(attrs, name, item)
        else:
            raise ScimInvalid("An operation without path needs an object value", scim_type="invalidValue")
    return _change(db_session, actor, user, attrs)


def delete_user(*, db_session: Session, actor: Actor, user_id: str) -> None:
    user = _find(db_session, actor, user_id)
    users.delete_user(db_session=db_session, actor=actor, user_id=user.id, by="scim")
