"""recordings: recordings, transcripts, secure pauses, playback links, recording settings (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26

Every table holds ``tenant_id`` first and gets the tenant policy. Audio is in the blob
store (sealed); these rows hold ids, times, digests and sealed transcript text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from callvault.core.db import tenant_policy_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("recording", "transcript", "secure_pause", "playback_link", "recording_settings")


def upgrade() -> None:
    op.create_table(
        "recording",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("agent", sa.String(length=150), nullable=False),
        sa.Column("subject_key_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_blob", sa.String(length=200), nullable=True),
        sa.Column("original_state", sa.String(length=16), nullable=False),
        sa.Column("original_wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("working_blob", sa.String(length=200), nullable=True),
        sa.Column("redacted_blob", sa.String(length=200), nullable=True),
        sa.Column("redacted_size", sa.BigInteger(), nullable=True),
        sa.Column("redacted_sha256", sa.String(length=64), nullable=True),
        sa.Column("redaction_state", sa.String(length=24), nullable=False),
        sa.Column("blanked", sa.JSON(), nullable=False),
        sa.Column("retention_class", sa.String(length=32), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_recording_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_recording"),
    )
    op.create_index("ix_recording_call", "recording", ["tenant_id", "call_id"])
    op.create_index("ix_recording_customer", "recording", ["tenant_id", "customer_id"])
    op.create_index("ix_recording_agent", "recording", ["tenant_id", "agent"])

    op.create_table(
        "transcript",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("recording_id", sa.Uuid(), nullable=False),
        sa.Column("subject_key_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("segment_count", sa.Integer(), nullable=False),
        sa.Column("original_ct", sa.LargeBinary(), nullable=True),
        sa.Column("redacted_ct", sa.LargeBinary(), nullable=False),
        sa.Column("entities", sa.Integer(), nullable=False),
        sa.Column("retention_class", sa.String(length=32), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "recording_id"], ["recording.tenant_id", "recording.id"], name="fk_transcript_recording"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "recording_id", name="pk_transcript"),
    )

    op.create_table(
        "secure_pause",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_seconds", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_secure_pause_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_secure_pause"),
    )
    op.create_index("ix_secure_pause_call", "secure_pause", ["tenant_id", "call_id", "started_at"])

    op.create_table(
        "playback_link",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("recording_id", sa.Uuid(), nullable=False),
        sa.Column("variant", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_playback_link_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", "token_hash", name="pk_playback_link"),
    )
    op.create_index("ix_playback_link_recording", "playback_link", ["tenant_id", "recording_id"])

    op.create_table(
        "recording_settings",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("keep_original", sa.Boolean(), nullable=False),
        sa.Column("redaction_fill", sa.String(length=16), nullable=False),
        sa.Column("margin_ms", sa.Integer(), nullable=False),
        sa.Column("tenant_public_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name="fk_recording_settings_tenant_id_tenant"),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_recording_settings"),
    )

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in tenant_policy_sql(table):
            op.execute(statement)
    app_role = context.config.attributes.get("app_role")
    if app_role:
        op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(TABLES)} TO "{app_role}"')


def downgrade() -> None:
    op.drop_table("recording_settings")
    op.drop_index("ix_playback_link_recording", table_name="playback_link")
    op.drop_table("playback_link")
    op.drop_index("ix_secure_pause_call", table_name="secure_pause")
    op.drop_table("secure_pause")
    op.drop_table("transcript")
    op.drop_index("ix_recording_agent", table_name="recording")
    op.drop_index("ix_recording_customer", table_name="recording")
    op.drop_index("ix_recording_call", table_name="recording")
    op.drop_table("recording")
