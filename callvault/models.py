"""Every table, imported in one place so metadata (and Alembic) sees them all."""

from callvault.access.approvals.models import Approval, ApprovalVote, Webhook, WebhookDelivery
from callvault.access.grants import AccessGrant
from callvault.access.identity.models import RecoveryCode, ScimToken, ServiceAccount, Tenant, User, UserSession
from callvault.access.policy import TenantPolicy
from callvault.audit.models import AuditEvent, AuditNode, TreeHead, VerifiedHead
from callvault.calls.models import LiveCall
from callvault.core.counters import CounterWindow
from callvault.core.db import Base
from callvault.exports import models as _exports_models  # noqa: F401 - export requests, settings, files
from callvault.lifecycle import models as _lifecycle_models  # noqa: F401 - consent, retention, holds, erasure
from callvault.monitoring import models as _monitoring_models  # noqa: F401 - anomaly rules, alerts, incidents
from callvault.recordings import models as _recordings_models  # noqa: F401 - recordings, transcripts, pauses
from callvault.vault.customers.models import Customer
from callvault.vault.fields.models import SubjectKey

__all__ = [
    "AccessGrant",
    "Approval",
    "ApprovalVote",
    "AuditEvent",
    "AuditNode",
    "Base",
    "CounterWindow",
    "Customer",
    "LiveCall",
    "RecoveryCode",
    "ScimToken",
    "ServiceAccount",
    "SubjectKey",
    "Tenant",
    "TenantPolicy",
    "TreeHead",
    "User",
    "UserSession",
    "VerifiedHead",
    "Webhook",
    "WebhookDelivery",
]
