"""Oversize, deeply nested, invalid UTF-8 and over-long bodies: clear 4xx, never a 5xx."""

from __future__ import annotations

import httpx
import pytest

from conftest import Env

MAX_MESSAGES = 50  # the module gateway's NEXUS_MAX_MESSAGES


def _post(env: Env, content: bytes, ctype: str = "application/json") -> httpx.Response:
    headers = {**env.h("acme"), "content-type": ctype}
    return httpx.post(env.gw.base_url + "/v1/chat/completions", headers=headers, content=content, timeout=20)


def _error(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    err: dict[str, str] = r.json()["error"]
    assert err["message"] and err["type"] and err["code"]
    return err


def test_oversize_body_is_413(env: Env) -> None:
    big = b'{"model":"m1","messages":[{"role":"user","content":"' + b"x" * 1_200_000 + b'"}]}'
    assert _error(_post(env, big), 413)["code"] == "request_too_large"


def test_oversize_chunked_body_without_length_is_413(env: Env) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model":"m1","messages":[{"role":"user","content":"'
        for _ in range(120):
            yield b"y" * 10_000
        yield b'"}]}'

    headers = {**env.h("acme"), "content-type": "application/json"}
    r = httpx.post(env.gw.base_url + "/v1/chat/completions", headers=headers, content=chunks(), timeout=20)
    _error(r, 413)


@pytest.mark.parametrize("depth", [200, 5000, 100_000])
def test_deeply_nested_json_is_never_a_5xx(env: Env, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    body = b'{"model":"m1","messages":[{"role":"user","content":"x"}],"metadata":' + nested + b"}"
    r = _post(env, body)
    assert r.status_code < 500, r.text
    if depth > 1000:  # past any parser's recursion limit: a clear 400, not a crash
        assert _error(r, 400)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m1","messages":[{"role":"user","content":"\xff\xfe bad"}]}',
        b"\xc3\x28\xa0\xa1",
        b'{"model":"m1"',
        b"",
        b"[]",
    ],
)
def test_invalid_utf8_and_broken_json_are_400(env: Env, raw: bytes) -> None:
    assert _error(_post(env, raw), 400)["type"] == "invalid_request_error"


def test_wrong_content_type_is_415(env: Env) -> None:
    _error(_post(env, b"model=m1", "application/x-www-form-urlencoded"), 415)


def _messages(n: int) -> dict[str, object]:
    return {"model": "m1", "messages": [{"role": "user", "content": "hi"}] * n}


def test_message_count_at_the_limit_passes_and_over_it_is_400(env: Env) -> None:
    ok = httpx.post(
        env.gw.base_url + "/v1/chat/completions",
        headers=env.h("acme"),
        json=_messages(MAX_MESSAGES),
        timeout=20,
    )
    assert ok.status_code == 200, ok.text
    over = httpx.post(
        env.gw.base_url + "/v1/chat/completions",
        headers=env.h("acme"),
        json=_messages(MAX_MESSAGES + 1),
        timeout=20,
    )
    err = _error(over, 400)
    assert err["code"] == "too_many_messages" and str(MAX_MESSAGES) in err["message"]


def test_ten_thousand_messages_over_the_limit_is_a_clear_400(env: Env) -> None:
    r = httpx.post(
        env.gw.base_url + "/v1/chat/completions", headers=env.h("acme"), json=_messages(10_000), timeout=20
    )
    assert _error(r, 400)["code"] == "too_many_messages"
