"""KEK rotation: every customer stays readable before, during and after."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from callvault.access.actor import Actor
from callvault.core.runtime import Runtime
from callvault.demo.generator import CustomerGenerator
from callvault.vault.customers import importer
from callvault.vault.fields.service import rotate_tenant_kek
from tests.conftest import TenantHandle, auth, forget_cached_keys, remember_pii


def test_rotation_keeps_every_customer_readable(client: TestClient, runtime: Runtime, tenant: TenantHandle) -> None:
    generator = CustomerGenerator(seed=3)
    remember_pii(*generator.customers(400, start=800_000))
    importer.import_customers(
        runtime=runtime, actor=Actor.operator(tenant.id), lines=generator.jsonl_lines(400, start=800_000), fmt="jsonl"
    )
    ids: list[str] = []
    cursor = None
    while True:
        page = client.get(
            f"/v1/customers?limit=200{f'&cursor={cursor}' if cursor else ''}", headers=auth(tenant.api_key)
        )
        ids += [c["id"] for c in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert len(ids) == 400
    forget_cached_keys(runtime)  # every read below unwraps its data key again

    failures: list[int] = []
    reads = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for cid in ids[::37]:
                response = client.get(f"/v1/customers/{cid}", headers=auth(tenant.api_key))
                reads[0] += 1
                if response.status_code != 200:
                    failures.append(response.status_code)
            runtime.caches.pop("dek", None)

    thread = threading.Thread(target=reader)
    thread.start()
    progress: list[tuple[int, int]] = []
    try:
        version, count = rotate_tenant_kek(
            runtime, tenant.id, batch_size=50, grace_seconds=0.2, on_progress=lambda d, t: progress.append((d, t))
        )
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert reads[0] > 0
    assert version == 2 and count >= 400
    assert progress[-1][0] == count
    kek_ref = f"tenant:{tenant.id}"
    assert runtime.keyring.versions(kek_ref) == [2]
    forget_cached_keys(runtime)
    for cid in ids:
        assert client.get(f"/v1/customers/{cid}", headers=auth(tenant.api_key)).status_code == 200
    search = client.post("/v1/customers:search", json={"external_ref": "CRM-00800000"}, headers=auth(tenant.api_key))
    assert len(search.json()) == 1
