"""PII over HTTP, WebSocket and the command line (stable formats)."""

from __future__ import annotations

import json
import subprocess
import sys

from fastapi.testclient import TestClient

from callvault.pii.schemas import MAX_TEXT_CHARS, MAX_TEXTS
from tests.conftest import TenantHandle, auth


def test_scan_and_redact(client: TestClient, tenant: TenantHandle) -> None:
    texts = ["我的手机号是幺三八一二三四五六七八", "no personal data here", ""]
    scanned = client.post("/v1/pii/scan", json={"texts": texts}, headers=auth(tenant.api_key))
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["results"] == [[{"type": "PHONE_NUMBER", "start": 6, "end": 17, "score": 1.0}], [], []]
    redacted = client.post("/v1/pii/redact", json={"texts": texts[:1], "mode": "mask"}, headers=auth(tenant.api_key))
    assert redacted.json()["texts"] == ["我的手机号是138****5678"]
    hashed = client.post("/v1/pii/redact", json={"texts": texts[:1] * 2, "mode": "hash"}, headers=auth(tenant.api_key))
    first, second = hashed.json()["texts"]
    assert first == second and first.startswith("我的手机号是<PHONE_NUMBER:")
    per_type = client.post(
        "/v1/pii/redact",
        json={"texts": ["卡号6222020000000007 手机13812345678"], "mode": "tag", "per_type": {"BANK_CARD": "mask"}},
        headers=auth(tenant.api_key),
    )
    assert per_type.json()["texts"] == ["卡号6222 **** **** 0007 手机<PHONE_NUMBER>"]


def test_limits_and_bad_input(client: TestClient, tenant: TenantHandle) -> None:
    key = auth(tenant.api_key)
    too_long = client.post("/v1/pii/scan", json={"texts": ["1" * (MAX_TEXT_CHARS + 1)]}, headers=key)
    assert too_long.status_code == 413 and str(MAX_TEXT_CHARS) in too_long.json()["detail"]
    too_many = client.post("/v1/pii/scan", json={"texts": ["a"] * (MAX_TEXTS + 1)}, headers=key)
    assert too_many.status_code == 413 and str(MAX_TEXTS) in too_many.json()["detail"]
    bad_utf8 = client.post(
        "/v1/pii/scan", content=b'{"texts": ["\xff\xfe"]}', headers={**key, "content-type": "application/json"}
    )
    assert bad_utf8.status_code == 400 and bad_utf8.json()["code"] == "request.bad_encoding"
    broken = client.post("/v1/pii/scan", content=b"{nope", headers={**key, "content-type": "application/json"})
    assert broken.status_code == 422
    unknown = client.post("/v1/pii/scan", json={"texts": ["x"], "entities": ["SHOE_SIZE"]}, headers=key)
    assert unknown.status_code == 422 and unknown.json()["code"] == "pii.entity_unknown"
    denied = client.post("/v1/pii/scan", json={"texts": ["x"]}, headers=auth(tenant.readonly_key))
    assert denied.status_code == 403


def test_websocket_stream_holds_back_split_numbers(client: TestClient, tenant: TenantHandle) -> None:
    with client.websocket_connect("/v1/pii/stream?mode=mask", headers=auth(tenant.api_key)) as ws:
        received = []
        for segment, final in (("您好，我的手机号是幺三八一二", False), ("三四五六七八", False), ("，谢谢", True)):
            ws.send_text(json.dumps({"text": segment, "final": final}))
            received.append(ws.receive_json()["text"])
    joined = "".join(received)
    assert joined == "您好，我的手机号是138****5678，谢谢"
    assert "一二" not in received[0]


def test_websocket_refuses_without_key(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    try:
        with client.websocket_connect("/v1/pii/stream") as ws:
            ws.receive_text()
    except WebSocketDisconnect as closed:
        assert closed.code == 1008
    else:
        raise AssertionError("connection should have been refused")


def _cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callvault.cli", "pii", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_cli_formats() -> None:
    lines = [{"id": 1, "text": "验证码是 4821"}, {"id": "b", "text": "mail me: a.b@example.com"}]
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    scanned = _cli("scan", stdin=stdin)
    assert scanned.returncode == 0, scanned.stderr
    assert [json.loads(line) for line in scanned.stdout.splitlines()] == [
        {"id": 1, "entities": [{"type": "VERIFICATION_CODE", "start": 5, "end": 9, "score": 0.95}]},
        {"id": "b", "entities": [{"type": "EMAIL_ADDRESS", "start": 9, "end": 24, "score": 1.0}]},
    ]
    for mode, expected in (("tag", "验证码是 <VERIFICATION_CODE>"), ("mask", "验证码是 ****")):
        redacted = _cli("redact", "--mode", mode, stdin=stdin)
        assert json.loads(redacted.stdout.splitlines()[0]) == {"id": 1, "text": expected}
    bad = _cli("scan", stdin='{"id": 1}\nnot json\n' + stdin)
    assert bad.returncode == 2 and "line 1" in bad.stderr and "line 2" in bad.stderr
    assert len(bad.stdout.splitlines()) == 2


def test_tenant_recognizers_from_configuration(client: TestClient, tenant: TenantHandle, runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config_dir = runtime.settings.resolved_pii_dir
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / f"{tenant.id}.yaml").write_text(
        "recognizers:\n  - entity: MEMBERSHIP_NUMBER\n    regex: 'VIP\\d{8}'\n    context: [会员]\n"
    )
    text = "会员号VIP12345678，手机13812345678"
    scanned = client.post("/v1/pii/scan", json={"texts": [text]}, headers=auth(tenant.api_key)).json()["results"][0]
    assert [e["type"] for e in scanned] == ["MEMBERSHIP_NUMBER", "PHONE_NUMBER"]
    only = client.post(
        "/v1/pii/redact",
        json={"texts": [text], "mode": "tag", "entities": ["MEMBERSHIP_NUMBER"]},
        headers=auth(tenant.api_key),
    )
    assert only.json()["texts"] == ["会员号<MEMBERSHIP_NUMBER>，手机13812345678"]
    path = tmp_path / "r.yaml"
    path.write_text((config_dir / f"{tenant.id}.yaml").read_text())
    out = _cli("redact", "--mode", "tag", "--recognizers", str(path), stdin=json.dumps({"id": 1, "text": text}) + "\n")
    assert json.loads(out.stdout) == {"id": 1, "text": "会员号<MEMBERSHIP_NUMBER>，手机<PHONE_NUMBER>"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("recognizers: nope\n")
    refused = _cli("scan", "--recognizers", str(bad), stdin="")
    assert refused.returncode == 2 and "pii.config_invalid" in refused.stderr


def test_cli_missing_or_unreadable_file_is_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for command in ("scan", "redact"):
        for path in (tmp_path / "MISSING.jsonl", tmp_path):
            result = subprocess.run(
                [sys.executable, "-m", "callvault.cli", "pii", command, str(path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error pii.input_unreadable: cannot read ")


def test_cli_multi_turn_line() -> None:
    """A call is one JSON line: its turns joined by a newline, or on one line with speaker
    labels; the question in one turn qualifies the answer in the next."""
    lines = [
        {"id": 1, "text": "坐席：请提供一下您的护照号码\n客户：嗯 E12345678"},
        {"id": 2, "text": "Agent: what's the code we sent you? Customer: 78518."},
        {"id": 3, "text": "Agent: and the zip code? Customer: 30301"},
    ]
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    scanned = _cli("scan", stdin=stdin)
    assert scanned.returncode == 0, scanned.stderr
    found = {
        record["id"]: [(e["type"], line["text"][e["start"] : e["end"]]) for e in record["entities"]]
        for record, line in zip((json.loads(out) for out in scanned.stdout.splitlines()), lines, strict=True)
    }
    assert found == {1: [("PASSPORT", "E12345678")], 2: [("VERIFICATION_CODE", "78518")], 3: []}
