"""callvault.audit.siem: each format is what it claims to be (JSON lines, OCSF API Activity,
RFC 5424 syslog), with hostile field values."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callvault.audit import merkle, siem

EVENT: dict[str, Any] = {
    "seq": 42,
    "time": "2026-11-25T02:46:26.123456Z",
    "tenant_id": "acme",
    "actor_id": "sa:0123456789abcdef",
    "actor_kind": "service_account",
    "actor_role": "service",
    "session_id": "s-77",
    "action": "customer.reveal",
    "resource_type": "customer",
    "resource_id": "01a21088-b019-7452-bb71-33c475e1ce28",
    "subject_id": "01a21088-b019-7452-bb71-33c475e1ce28",
    "purpose": 'live "call" ] \\ 42',
    "decision": "deny",
    "mask": "none",
    "rule": "scope.customers:reveal",
    "reason": "scope customers:reveal required",
    "request_id": "req-abc",
    "client_ip": "10.0.0.7",
    "leaf_hash": "00" * 32,
}
TEXT_FIELDS = [key for key, value in EVENT.items() if isinstance(value, str) and key not in ("time", "decision")]

# -- a strict RFC 5424 grammar (§6), anchored, for the whole line ------------------------------
_PRI = r"<(?P<pri>[0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>"  # 0..191
_TIMESTAMP = (
    r"(?P<ts>\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d))"
)
_SD_NAME = r"[!#-<>-\\^-~]{1,32}"  # PRINTUSASCII except '=', SP, ']', '"'
_PARAM_VALUE = r'(?:[^"\\\]\x00-\x1f\x7f]|\\["\\\]])*'  # only the three escapes; no raw controls
_SD_ELEMENT = rf'\[{_SD_NAME}(?: {_SD_NAME}="{_PARAM_VALUE}")*\]'
SYSLOG = re.compile(
    rf"^{_PRI}1 {_TIMESTAMP} (?P<host>[!-~]{{1,255}}) (?P<app>[!-~]{{1,48}}) (?P<proc>[!-~]{{1,128}}) "
    rf"(?P<msgid>[!-~]{{1,32}}) (?P<sd>-|(?:{_SD_ELEMENT})+)(?: (?P<msg>[^\x00-\x1f\x7f]*))?$"
)
_PARAM = re.compile(rf'({_SD_NAME})="({_PARAM_VALUE})"')


def _sd_params(line: str) -> tuple[str, dict[str, str]]:
    """SD-ID and unescaped params of the single SD-ELEMENT in ``line``."""
    match = SYSLOG.match(line)
    assert match, line
    sd = match["sd"]
    sd_id = re.match(rf"\[({_SD_NAME})", sd)
    assert sd_id
    params = {name: re.sub(r'\\(["\\\]])', r"\1", value) for name, value in _PARAM.findall(sd)}
    return sd_id[1], params


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [value, *(item for child in value.values() for item in _walk(child))]
    if isinstance(value, list):
        return [value, *(item for child in value for item in _walk(child))]
    return [value]


# -- JSON lines --------------------------------------------------------------------------------


def test_jsonl_is_one_canonical_line_that_parses_back() -> None:
    line = siem.to_jsonl(EVENT)
    assert json.loads(line) == EVENT
    assert line.encode() == merkle.canonical_json(EVENT)
    assert "\n" not in line and len(line.splitlines()) == 1
    assert siem.to_jsonl(dict(reversed(list(EVENT.items())))) == line  # key order never matters
    assert siem.render(EVENT, "jsonl") == line


def test_jsonl_survives_unicode_line_separators() -> None:
    event = {**EVENT, "reason": "a\u2028b\u2029c\x85d\ne"}
    line = siem.to_jsonl(event)
    assert len(line.splitlines()) == 1  # str.splitlines splits on all of these
    assert json.loads(line) == event


# -- OCSF ------------------------------------------------------------------------------------------


def test_ocsf_api_activity_required_fields_and_types() -> None:
    ocsf = siem.to_ocsf(EVENT)
    ints = ("class_uid", "category_uid", "activity_id", "type_uid", "time", "severity_id", "status_id")
    for key in ints:
        assert type(ocsf[key]) is int, key
    assert (ocsf["class_uid"], ocsf["category_uid"]) == (6003, 6)
    assert ocsf["activity_id"] == 2 and ocsf["type_uid"] == 600302  # reveal is a read
    assert ocsf["time"] == 1795574786123  # epoch ms, truncated (not rounded) from microseconds
    assert (ocsf["status_id"], ocsf["status"]) == (2, "Failure")
    assert ocsf["severity_id"] in (1, 2, 3, 4, 5, 6, 99)
    assert ocsf["actor"]["user"]["uid"] == EVENT["actor_id"]
    assert ocsf["actor"]["session"]["uid"] == "s-77"
    assert ocsf["actor"]["authorizations"] == [
        {"decision": "deny", "policy": {"name": EVENT["rule"], "desc": EVENT["reason"]}}
    ]
    assert ocsf["api"] == {"operation": "customer.reveal", "request": {"uid": "req-abc"}}
    assert ocsf["src_endpoint"] == {"ip": "10.0.0.7"}
    assert ocsf["resources"] == [{"uid": EVENT["resource_id"], "type": "customer"}]
    metadata = ocsf["metadata"]
    assert metadata["product"]["name"] == "CallVault" and isinstance(metadata["product"]["vendor_name"], str)
    assert re.fullmatch(r"1\.\d+\.\d+", metadata["version"])
    assert (metadata["uid"], metadata["sequence"], metadata["tenant_uid"]) == ("42", 42, "acme")
    assert ocsf["unmapped"] == {
        "actor_role": "service",
        "purpose": EVENT["purpose"],
        "mask": "none",
        "subject_id": EVENT["subject_id"],
        "leaf_hash": EVENT["leaf_hash"],
    }
    assert None not in _walk(ocsf)
    assert json.loads(siem.render(EVENT, "ocsf")) == ocsf


def test_ocsf_allow_and_missing_optionals() -> None:
    event = {**EVENT, "decision": "allow", "session_id": None, "request_id": None, "client_ip": None, "rule": None}
    event["reason"] = None
    ocsf = siem.to_ocsf(event)
    assert (ocsf["status_id"], ocsf["status"], ocsf["severity_id"]) == (1, "Success", 1)
    assert "session" not in ocsf["actor"] and "authorizations" not in ocsf["actor"]
    assert ocsf["api"] == {"operation": "customer.reveal"}
    assert ocsf["src_endpoint"] == {}  # required by the class, even when empty
    assert None not in _walk(ocsf)


@pytest.mark.parametrize(
    ("action", "activity_id"),
    [
        ("customer.create", 1),
        ("customer.import", 1),
        ("customer.read", 2),
        ("customer.list", 2),
        ("customer.search", 2),
        ("customer.reveal", 2),
        ("recording.play", 2),
        ("customer.update", 3),
        ("key.rotate", 3),
        ("customer.delete", 4),
        ("subject.erase", 4),
        ("grant.revoke", 4),
        ("pii.scan", 99),
        ("audit", 99),
    ],
)
def test_ocsf_activity_from_the_action_verb(action: str, activity_id: int) -> None:
    ocsf = siem.to_ocsf({**EVENT, "action": action})
    assert ocsf["activity_id"] == activity_id
    assert ocsf["type_uid"] == 6003 * 100 + activity_id


@pytest.mark.parametrize(
    ("moment", "epoch_ms"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000999Z", 0),
        ("2026-11-25T02:46:26.999999+00:00", 1795574786999),
        ("2026-11-25T10:46:26.5+08:00", 1795574786500),  # converted to UTC
        ("2026-11-25T02:46:26", 1795574786000),  # naive: taken as UTC
        ("2004-05-06T18:56:56.008Z", 1083869816008),  # int(timestamp() * 1000) would say ...007
    ],
)
def test_ocsf_time_is_exact_epoch_milliseconds(moment: str, epoch_ms: int) -> None:
    assert siem.to_ocsf({**EVENT, "time": moment})["time"] == epoch_ms


@pytest.mark.parametrize("decision", ["ALLOW", "permit", None, ""])
def test_unknown_decisions_are_refused(decision: object) -> None:
    for formatter in (siem.to_ocsf, siem.to_syslog):
        with pytest.raises(ValueError):
            formatter({**EVENT, "decision": decision})


# -- syslog ------------------------------------------------------------------------------------


def test_syslog_line_is_strict_rfc5424() -> None:
    line = siem.to_syslog(EVENT, hostname="vault-1")
    match = SYSLOG.match(line)
    assert match, line
    assert int(match["pri"]) == 13 * 8 + 4  # log audit, warning: a denial
    assert match["ts"] == "2026-11-25T02:46:26.123456Z"
    assert (match["host"], match["app"], match["proc"], match["msgid"]) == (
        "vault-1",
        "callvault",
        "-",
        EVENT["action"],
    )
    sd_id, params = _sd_params(line)
    assert sd_id == "callvault@32473"
    assert params == {key: str(value) for key, value in EVENT.items() if key != "time"}
    assert match["msg"] == f"deny customer.reveal on customer {EVENT['resource_id']} by {EVENT['actor_id']}"


def test_syslog_severity_and_facility() -> None:
    allowed = SYSLOG.match(siem.to_syslog({**EVENT, "decision": "allow"}, hostname="h"))
    assert allowed and int(allowed["pri"]) == 13 * 8 + 6
    authpriv = SYSLOG.match(siem.to_syslog(EVENT, hostname="h", facility=siem.FACILITY_AUTHPRIV))
    assert authpriv and int(authpriv["pri"]) == 10 * 8 + 4
    with pytest.raises(ValueError):
        siem.to_syslog(EVENT, hostname="h", facility=24)


def test_syslog_escapes_quote_backslash_and_bracket() -> None:
    hostile = 'a"b]c\\d\\"]'
    line = siem.to_syslog({**EVENT, "resource_id": hostile}, hostname="h")
    assert 'resource_id="a\\"b\\]c\\\\d\\\\\\"\\]"' in line
    assert _sd_params(line)[1]["resource_id"] == hostile
    assert _sd_params(line)[1]["purpose"] == EVENT["purpose"]


def test_syslog_header_fields_are_sanitised() -> None:
    line = siem.to_syslog(EVENT, hostname="bad host\n名", app_name="", procid="12 34")
    match = SYSLOG.match(line)
    assert match, line
    assert (match["host"], match["app"], match["proc"]) == ("badhost", "-", "1234")
    long_host = SYSLOG.match(siem.to_syslog(EVENT, hostname="h" * 300))
    assert long_host and len(long_host["host"]) == 255
    assert SYSLOG.match(siem.to_syslog(EVENT))  # default hostname is the NILVALUE "-"


def test_syslog_controls_cannot_break_the_line_and_utf8_msg_has_bom() -> None:
    event = {**EVENT, "reason": "x\ny\rz\x00\u2028", "actor_id": "张三"}
    line = siem.to_syslog(event, hostname="h")
    assert len(line.splitlines()) == 1
    match = SYSLOG.match(line)
    assert match, line
    assert _sd_params(line)[1]["reason"] == "x\ufffdy\ufffdz\ufffd\ufffd"
    assert match["msg"].startswith("\ufeff") and match["msg"].endswith("张三")
    assert not SYSLOG.match(siem.to_syslog(EVENT, hostname="h"))["msg"].startswith("\ufeff")  # type: ignore[index]


def test_render_refuses_unknown_formats() -> None:
    assert siem.FORMATS == ("jsonl", "ocsf", "syslog")
    assert SYSLOG.match(siem.render(EVENT, "syslog", hostname="h"))
    with pytest.raises(ValueError):
        siem.render(EVENT, "xml")


# -- properties ----------------------------------------------------------------------------------

_values = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(['"', "]", "\\", '\\"', "]\\", "=", " "]))


@settings(max_examples=300, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {key: _values for key in TEXT_FIELDS if key not in ("tenant_id", "actor_id", "action")}
    ),
    ids=st.tuples(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20)),
    decision=st.sampled_from(["allow", "deny"]),
    seq=st.integers(1, 2**53),
)
def test_any_event_renders_to_valid_lines(
    values: dict[str, str | None], ids: tuple[str, str, str], decision: str, seq: int
) -> None:
    tenant_id, actor_id, action = ids
    event = {**EVENT, **values, "seq": seq, "tenant_id": tenant_id, "actor_id": actor_id}
    event.update(action=action, decision=decision)
    line = siem.to_syslog(event, hostname="h")
    assert len(line.splitlines()) == 1
    sd_id, params = _sd_params(line)
    assert sd_id == "callvault@32473"
    control = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
    expected = {k: control.sub("\ufffd", str(v)) for k, v in event.items() if k != "time" and v is not None}
    assert params == expected
    jsonl = siem.to_jsonl(event)
    assert len(jsonl.splitlines()) == 1 and json.loads(jsonl) == event
    ocsf = json.loads(siem.render(event, "ocsf"))
    assert ocsf["type_uid"] == 600300 + ocsf["activity_id"] and ocsf["api"]["operation"] == action
    assert None not in _walk(ocsf)
