"""JSON logs: one object per line, the correlation id, masked credentials, prompts only on request."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from nexus.config import Settings, load_catalogue
from nexus.telemetry import catalogue_secrets, log_prompt, request_id_var, setup_logging, tenant_var
from nexus.telemetry.logs import _PromptSwitch

SECRET = "provider-secret-value-42"


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stream.getvalue().splitlines()]

    def setup(self, **settings: Any) -> None:
        setup_logging(Settings(**settings), secrets=[SECRET, "short"], stream=self.stream)


@pytest.fixture
def logs() -> Iterator[Captured]:
    cap = Captured()
    root = logging.getLogger()
    level = root.level
    cap.setup(log_json=True, log_level="INFO")
    yield cap
    for handler in [h for h in root.handlers if getattr(h, "_nexus_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(level)
    _PromptSwitch.enabled = False


def test_each_line_is_json_with_request_id_tenant_and_extras(logs: Captured) -> None:
    log = logging.getLogger("nexus.test")
    rid, tenant = request_id_var.set("abc123"), tenant_var.set("acme")
    try:
        log.info("work order %s done", "wo-1", extra={"duration_ms": 12.5, "status": 200})
    finally:
        request_id_var.reset(rid)
        tenant_var.reset(tenant)
    log.warning("outside a request")
    first, second = logs.lines()
    assert first["message"] == "work order wo-1 done"
    assert first["level"] == "INFO"
    assert first["logger"] == "nexus.test"
    assert first["request_id"] == "abc123"
    assert first["tenant"] == "acme"
    assert first["duration_ms"] == 12.5 and first["status"] == 200
    assert first["ts"].endswith("+00:00")
    assert second["request_id"] == "" and second["level"] == "WARNING"


def test_keys_are_masked_in_messages_args_extras_and_tracebacks(logs: Captured) -> None:
    log = logging.getLogger("nexus.test")
    openai_key = "sk-proj-AbCdEf0123456789xyz"
    log.info("calling upstream with %s", SECRET)
    log.info(f"header Authorization: Bearer {openai_key} and x-api-key: abcdef123456")
    log.info(
        "extras",
        extra={"detail": f"key={openai_key}", "api_key": "plain-but-named", "nested": {"headers": [SECRET]}},
    )
    try:
        raise RuntimeError(f"upstream rejected {SECRET}")
    except RuntimeError:
        log.exception("boom")
    text = logs.stream.getvalue()
    assert SECRET not in text
    assert openai_key not in text
    assert "abcdef123456" not in text
    assert "plain-but-named" not in text
    lines = logs.lines()
    assert lines[0]["message"] == "calling upstream with ***"
    assert "Bearer ***" in lines[1]["message"] and "x-api-key: ***" in lines[1]["message"]
    assert lines[2]["api_key"] == "***"
    assert lines[2]["nested"] == {"headers": ["***"]}
    assert "RuntimeError: upstream rejected ***" in lines[3]["exc"]
    # Values shorter than MIN_SECRET_LEN are not masked: that would shred ordinary words.
    log.info("a short message")
    assert logs.lines()[-1]["message"] == "a short message"


def test_catalogue_secrets_reads_the_api_key_env_values(monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = load_catalogue()
    named = next(m for m in catalogue.models if m.api_key_env)
    monkeypatch.setenv(named.api_key_env or "", "configured-key-value-0001")
    secrets = catalogue_secrets(catalogue, Settings(jwt_secret="jwt-signing-secret-1"))
    assert "configured-key-value-0001" in secrets
    assert "jwt-signing-secret-1" in secrets


def test_prompts_are_logged_only_when_enabled(logs: Captured) -> None:
    log = logging.getLogger("nexus.test")
    log_prompt(log, "what is my neighbour's salary?")
    assert logs.lines() == []
    logs.setup(log_json=True, log_prompts=True)
    log_prompt(log, f"use key {SECRET} to answer", role="user")
    (line,) = logs.lines()
    assert line["prompt"] == "use key *** to answer"
    assert line["role"] == "user"


def test_text_mode_still_carries_the_request_id(logs: Captured) -> None:
    logs.setup(log_json=False)
    token = request_id_var.set("rid-text-1")
    try:
        logging.getLogger("nexus.test").info("plain line")
    finally:
        request_id_var.reset(token)
    assert "[rid-text-1] plain line" in logs.stream.getvalue()
