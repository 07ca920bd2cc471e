"""Secrets that travel in URLs stay out of the log: a playback link's token in a query
string (uvicorn's access line), an alert webhook's URL (httpx logs each request)."""

from __future__ import annotations

import logging

import pytest

from callvault.core.logging import configure_logging


def test_access_lines_drop_the_query_and_httpx_urls_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("DEBUG", json=True)
    secret = "link-7f3a9c0e1b2d"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/v1/recordings/r1/audio?link={secret}", "1.1", 206
        )
        logging.getLogger("httpx").info("HTTP Request: POST https://hooks.example/T0/%s", secret)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/v1/recordings/r1/audio?…" in text  # the line itself is kept
    assert secret not in text
