"""Tenants and service accounts.

A tenant is created with its own KEK in the keyring and its own blind-index root key, so
nothing cryptographic is shared between tenants. Service-account API keys are shown once
and stored as digests.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from callvault.access.actor import SCOPES, Actor
from callvault.access.identity import checked
from callvault.access.identity.models import ServiceAccount, Tenant
from callvault.core import clock
from callvault.core.db import set_lookup_key, set_tenant
from callvault.core.errors import Conflict, Invalid, NotFound, Unauthenticated
from callvault.core.runtime import Runtime, runtime_of
from callvault.crypto import new_api_key, new_index_root, parse_api_key, secret_matches

__all__ = [
    "DEFAULT_SCOPES",
    "authenticate",
    "authenticate_cached",
    "create_service_account",
    "create_tenant",
    "get_all_service_accounts",
    "get_all_tenants",
    "get_tenant",
    "get_tenant_or_raise",
    "revoke_service_account",
    "set_tenant_status",
]

DEFAULT_SCOPES = ("customers:read", "customers:write", "customers:import", "pii:scan")
_TENANT_ID = re.compile(r"[a-z0-9][a-z0-9\-]{1,62}")


def kek_ref_for(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def create_tenant(*, db_session: Session, tenant_id: str, name: str, region: str = "cn") -> Tenant:
    if not _TENANT_ID.fullmatch(tenant_id):
        raise Invalid("Tenant id must be 2-63 lowercase letters, digits or dashes", code="tenant.id_invalid")
    if db_session.get(Tenant, tenant_id) is not None:
        raise Conflict("Tenant already exists", code="tenant.exists")
    keyring = runtime_of(db_session).keyring
    kek_ref = kek_ref_for(tenant_id)
    keyring.create_kek(kek_ref)
    version, wrapped = new_index_root(keyring, kek_ref, tenant_id)
    tenant = Tenant(
        id=tenant_id,
        name=name,
        region=region,
        status="active",
        kek_ref=kek_ref,
        index_key_version=version,
        index_key_wrapped=wrapped,
        created_at=clock.now(),
    )
    db_session.add(tenant)
    db_session.flush()
    return tenant


def get_tenant(*, db_session: Session, tenant_id: str) -> Tenant | None:
    return db_session.get(Tenant, tenant_id)


def get_tenant_or_raise(*, db_session: Session, tenant_id: str) -> Tenant:
    tenant = db_session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found", code="tenant.not_found")
    return tenant


def get_all_tenants(*, db_session: Session) -> list[Tenant]:
    return list(db_session.scalars(select(Tenant).order_by(Tenant.id)))


def set_tenant_status(*, db_session: Session, tenant_id: str, status: str) -> Tenant:
    if status not in ("active", "suspended"):
        raise Invalid("Status must be active or suspended", code="tenant.status_invalid")
    tenant = get_tenant_or_raise(db_session=db_session, tenant_id=tenant_id)
    tenant.status = status
    return tenant


def create_service_account(
    *, db_session: Session, tenant_id: str, name: str, scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES
) -> tuple[ServiceAccount, str]:
    """New account and its API key; the key is returned once and never stored."""
    get_tenant_or_raise(db_session=db_session, tenant_id=tenant_id)
    set_tenant(db_session, tenant_id)
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise Invalid(f"Unknown scopes: {', '.join(unknown)}", code="service_account.scope_unknown")
    key_id, api_key, digest = new_api_key()
    account = ServiceAccount(
        key_id=key_id,
        tenant_id=tenant_id,
        name=name,
        scopes=sorted(set(scopes)),
        key_digest=digest,
        created_at=clock.now(),
    )
    db_session.add(account)
    db_session.flush()
    return account, api_key


def get_all_service_accounts(*, db_session: Session, tenant_id: str) -> list[ServiceAccount]:
    set_tenant(db_session, tenant_id)
    query = select(ServiceAccount).where(ServiceAccount.tenant_id == tenant_id).order_by(ServiceAccount.name)
    return list(db_session.scalars(query))


def revoke_service_account(*, db_session: Session, tenant_id: str, key_id: str) -> ServiceAccount:
    set_tenant(db_session, tenant_id)
    account = db_session.get(ServiceAccount, key_id)
    if account is None or account.tenant_id != tenant_id:
        raise NotFound("Service account not found", code="service_account.not_found")
    account.revoked_at = account.revoked_at or clock.now()
    return account


def authenticate(*, db_session: Session, api_key: str) -> Actor:
    """Actor for a presented API key; one generic error for every failure."""
    parsed = parse_api_key(api_key)
    failure = Unauthenticated("Invalid or revoked API key", code="auth.invalid_key")
    if parsed is None:
        raise failure
    key_id, secret = parsed
    runtime = runtime_of(db_session)
    since = checked.generation(runtime)  # before the first read
    set_lookup_key(db_session, key_id)  # row-level security: this one row, before the tenant is known
    account = db_session.get(ServiceAccount, key_id)
    if account is None or account.revoked_at is not None or not secret_matches(secret, account.key_digest):
        raise failure
    tenant = db_session.get(Tenant, account.tenant_id)
    if tenant is None or tenant.status != "active":
        raise Unauthenticated("Tenant is suspended", code="auth.tenant_suspended")
    actor = Actor(
        tenant_id=account.tenant_id,
        actor_id=f"sa:{account.key_id}",
        kind="service_account",
        scopes=frozenset(account.scopes),
        role="service",
    )
    checked.remember(runtime, since, api_key, actor)
    return actor


def authenticate_cached(runtime: Runtime, *, api_key: str) -> Actor | None:
    """``authenticate``'s answer for a key this replica checked a moment ago (see
    ``access.identity.checked``); ``None`` when it must be checked against the database."""
    actor: Actor | None = checked.recall(runtime, api_key)
    return actor
