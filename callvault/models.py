"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from callvault.access.identity.models import ServiceAccount, Tenant
from callvault.audit.models import AuditEvent, AuditNode, TreeHead
from callvault.core.counters import CounterWindow
from callvault.core.db import Base
from callvault.vault.customers.models import Customer
from callvault.vault.fields.models import SubjectKey

__all__ = [
    "AuditEvent",
    "AuditNode",
    "Base",
    "CounterWindow",
    "Customer",
    "ServiceAccount",
    "SubjectKey",
    "Tenant",
    "TreeHead",
]
