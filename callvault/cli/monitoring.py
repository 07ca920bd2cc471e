"""``callvault monitoring`` (also ``callvault monitor``): anomaly rules, alerts, freezes,
incidents, and ``replay`` of the rules over past audit events. Commands act as the local
operator of one tenant (``--tenant``), through the policy decision point."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import typer

from callvault.cli.common import console, handle_errors, runtime

app = typer.Typer(help="Monitoring: anomaly rules, alerts and incidents.", no_args_is_help=True)
rules_app = typer.Typer(
    help="Anomaly rules of a tenant (shipped defaults and the tenant's versions).", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

_TENANT = typer.Option(..., "--tenant", help="Tenant id.")


def _moment(text: str) -> datetime:
    from callvault.core.errors import Invalid

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("Times are ISO 8601 (2026-11-01 or 2026-11-01T08:00:00Z)", code="datetime.invalid") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("replay")
@handle_errors
def replay(
    tenant: str = _TENANT,
    since: str = typer.Option(..., "--since", help="ISO 8601 time (UTC without an offset)."),
    until: str | None = typer.Option(None, "--until", help="ISO 8601 time; default: the end of the log."),
    store: bool = typer.Option(False, "--store", help="Keep the alerts (source=replay) and send their webhooks."),
    rules_file: Path | None = typer.Option(
        None, "--rules", exists=True, help="JSON list of rules to try instead of the tenant's (nothing stored)."
    ),
) -> None:
    """Run the rules over stored events from --since: never freezes or steps anyone up."""
    from callvault.access.actor import Actor
    from callvault.monitoring import service
    from callvault.monitoring.rules import effective_rules, parse_rule

    trial = None
    if rules_file is not None:
        trial = effective_rules([parse_rule(item) for item in json.loads(rules_file.read_text())])
        store = False
    with runtime() as built:
        report = service.replay(
            built,
            actor=Actor.operator(tenant),
            since=_moment(since),
            until=_moment(until) if until else None,
            store=store,
            rules=trial,
        )
    for found in report.detections:
        line = {
            "rule": found.rule.id, "severity": found.rule.severity, "actor_id": found.actor_id,
            "at": found.at.isoformat(), "evidence": len(found.evidence), "first_seq": found.evidence[0],
            "summary": found.summary,
        }  # fmt: skip
        console.print(json.dumps(line, sort_keys=True), highlight=False, markup=False)
    console.print(
        f"events={report.events} alerts={len(report.detections)} stored={report.stored} "
        f"seconds={report.seconds:.3f} events_per_s={report.events_per_second:.0f}",
        highlight=False,
    )


@app.command("alerts")
@handle_errors
def alerts(
    tenant: str = _TENANT,
    status: str | None = typer.Option(None, "--status", help="open, acknowledged or closed."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
) -> None:
    """The tenant's alerts, newest first (JSON lines)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.monitoring import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        rows, total = service.get_all_alerts(
            db_session=db_session, actor=Actor.operator(tenant), status=status, limit=limit
        )
        for row in rows:
            line = {
                "id": str(row.id), "rule": row.rule_id, "severity": row.severity, "response": row.response_taken,
                "actor_id": row.actor_id, "status": row.status, "detected_at": row.detected_at.isoformat(),
                "evidence": len(row.evidence), "first_seq": row.evidence[0] if row.evidence else None,
            }  # fmt: skip
            console.print(json.dumps(line, sort_keys=True), highlight=False, markup=False)
    console.print(f"total={total}", highlight=False)


@app.command("unfreeze")
@handle_errors
def unfreeze(
    user_id: uuid.UUID = typer.Argument(..., help="The frozen user's id."),
    tenant: str = _TENANT,
    comment: str = typer.Option(..., "--comment", help="Why the freeze is lifted (at least 10 characters)."),
) -> None:
    """Lift a freeze (recorded with the comment, redacted, in the audit log)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.monitoring import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        closed = service.unfreeze_user(
            db_session=db_session, actor=Actor.operator(tenant), user_id=user_id, comment=comment
        )
    console.print(f"unfrozen user={user_id} alerts_closed={closed}", highlight=False)


@app.command("incidents")
@handle_errors
def incidents_list(tenant: str = _TENANT, status: str | None = typer.Option(None, "--status")) -> None:
    """Incidents with their notification clocks (overdue and due-soon flagged)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.monitoring import incidents

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        for row in incidents.get_all_incidents(db_session=db_session, actor=Actor.operator(tenant), status=status):
            clocks = {c.regime: f"{c.state} {c.due_at.isoformat()}" for c in incidents.clocks_of(row)}
            line = {
                "id": str(row.id),
                "grade": row.grade,
                "status": row.status,
                "subjects": row.subject_count,
                **clocks,
            }
            console.print(json.dumps(line, sort_keys=True, ensure_ascii=False), highlight=False, markup=False)


@rules_app.command("list")
@handle_errors
def rules_list(tenant: str = _TENANT) -> None:
    """Effective rules as JSON lines, with their source (default or tenant)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.monitoring import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        for rule, source in service.get_rules(db_session=db_session, actor=Actor.operator(tenant)):
            document = {"source": source, **rule.model_dump(mode="json", exclude_none=True)}
            console.print(json.dumps(document, sort_keys=True), highlight=False, markup=False)


@rules_app.command("set")
@handle_errors
def rules_set(
    rule_id: str = typer.Argument(...),
    tenant: str = _TENANT,
    file: Path = typer.Option(..., "--file", exists=True, help="The rule as JSON."),
) -> None:
    """Store the tenant's version of a rule (refused with the first problem if invalid)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.core.errors import Invalid
    from callvault.monitoring import service

    try:
        document = json.loads(file.read_text())
    except ValueError:
        raise Invalid("The file is not JSON", code="monitoring.rule_invalid") from None
    if not isinstance(document, dict):
        raise Invalid("A rule is a JSON object", code="monitoring.rule_invalid")
    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        service.put_rule(db_session=db_session, actor=Actor.operator(tenant), rule_id=rule_id, document=document)
    console.print(f"stored rule={rule_id}", highlight=False)


@rules_app.command("reset")
@handle_errors
def rules_reset(rule_id: str = typer.Argument(...), tenant: str = _TENANT) -> None:
    """Drop the tenant's version of a rule (the shipped one applies again)."""
    from callvault.access.actor import Actor
    from callvault.core.db import tenant_session
    from callvault.monitoring import service

    with runtime() as built, tenant_session(built.sessions, tenant) as db_session:
        service.delete_rule(db_session=db_session, actor=Actor.operator(tenant), rule_id=rule_id)
    console.print(f"reset rule={rule_id}", highlight=False)


__all__ = ["app"]
