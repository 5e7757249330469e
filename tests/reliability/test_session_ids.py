# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""Hostile session ids through the real gateway over real HTTP: a newline, a carriage return, characters
outside Latin-1 — on every door that takes a session id — get a 400 in that door's error shape, and no
client value reaches a response header unchecked (before: `/chat` echoed `session_id` into
X-Nexus-Session; "abc\\ndef" dropped the connection, "café☃" gave a 500)."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from tests.pipeline.conftest import _fresh, classifier_cache, fakes  # noqa: F401  (fixtures)
from websockets.sync.client import connect as ws_connect

from nexus.service.sessions import SESSION_ID
from nexus.testing.gateway import GatewayServer

from .gateway_env import gw  # noqa: F401  (fixture)

BAD_IDS = ["abc\ndef", "abc\r\nX-Injected: 1", "café☃", "会话-1", "a b", "", "x" * 129, "-lead"]
MSG = [{"role": "user", "content": "hello there!"}]


def is_error_shape(body: Any, code: str | None = None) -> bool:
    err = body.get("error") if isinstance(body, dict) else None
    ok = isinstance(err, dict) and bool(err.get("message")) and bool(err.get("type")) and "code" in err
    return ok and (code is None or err["code"] == code)


def assert_400(r: httpx.Response) -> None:
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    assert is_error_shape(r.json()), r.text
    assert "x-nexus-session" not in r.headers


def raw_request(gw: GatewayServer, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request written byte for byte (what httpx refuses to send); (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
        s.sendall(
            head + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head_part, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_part.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    return int(lines[0].split(b" ")[1]), headers, payload


@pytest.mark.parametrize("model", ["general", "nexus-auto"])
@pytest.mark.parametrize("value", ["abc\ndef", "abc\rdef", "café☃", "会话"])
def test_openai_door_session_header(gw: GatewayServer, model: str, value: str) -> None:
    body = json.dumps({"model": model, "messages": MSG}).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-Nexus-Session: " + value.encode("utf-8") + b"\r\n"
    )
    status, headers, payload = raw_request(gw, head, body)
    assert status == 400, (status, payload[:300])
    assert headers["content-type"].startswith("application/json")
    assert is_error_shape(json.loads(payload)), payload
    assert "x-nexus-session" not in headers and "x-injected" not in headers


@pytest.mark.parametrize("value", BAD_IDS)
def test_openai_door_user_field_is_never_echoed(gw: GatewayServer, value: str) -> None:
    # `user` is the OpenAI end-user id (an email, say): one that is not a session id starts a new
    # session rather than failing the request, and the session header carries Nexus's own id.
    r = httpx.post(
        gw.base_url + "/v1/chat/completions",
        json={"model": "nexus-auto", "messages": MSG, "user": value},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert SESSION_ID.match(r.headers["x-nexus-session"]) and r.headers["x-nexus-session"] != value


@pytest.mark.parametrize("value", BAD_IDS)
@pytest.mark.parametrize(
    "path,body",
    [
        ("/chat", {"message": "hello there!"}),
        ("/resume", {"reply": "yes"}),
        ("/api/chat", {"content": "hello there!"}),
        ("/api/work-orders", {"content": "hello there!"}),
    ],
)
def test_json_doors_refuse_bad_session_ids(
    gw: GatewayServer, path: str, body: dict[str, Any], value: str
) -> None:
    r = httpx.post(gw.base_url + path, json={**body, "session_id": value}, timeout=30)
    assert_400(r)
    assert r.json()["error"]["param"] == "session_id"


@pytest.mark.parametrize("value", ["abc%0Adef", "caf%C3%A9%E2%98%83", "a%20b", "%0D%0AX-Injected:%201"])
def test_trace_refuses_bad_session_ids(gw: GatewayServer, value: str) -> None:
    assert_400(httpx.get(f"{gw.base_url}/trace/{value}", timeout=30))


@pytest.mark.parametrize("value", ["abc\ndef", "café☃", "a b"])
def test_ws_chat_refuses_bad_session_ids(gw: GatewayServer, value: str) -> None:
    url = gw.base_url.replace("http://", "ws://")
    with ws_connect(url + "/ws/chat", open_timeout=20) as ws:
        for msg in (
            {"type": "chat", "message": "hello there!", "session_id": value},
            {"type": "resume", "reply": "yes", "session_id": value},
        ):
            ws.send(json.dumps(msg))
            reply = json.loads(ws.recv(timeout=20))
            assert reply["type"] == "error" and reply["data"]["status"] == 400, reply
        ws.send(json.dumps({"type": "chat", "message": "hello there!"}))  # the socket still works
        kinds = []
        while not kinds or kinds[-1] not in ("done", "error"):
            kinds.append(json.loads(ws.recv(timeout=30))["type"])
        assert "final" in kinds, kinds


@pytest.mark.parametrize("value", ["abc\ndef", "café☃"])
def test_ws_voice_refuses_bad_session_ids(gw: GatewayServer, value: str) -> None:
    url = gw.base_url.replace("http://", "ws://")
    with ws_connect(url + "/ws/voice", open_timeout=20) as ws:
        ws.send(json.dumps({"type": "start", "session_id": value}))
        for _ in range(5):
            reply = json.loads(ws.recv(timeout=20))
            if reply["type"] == "error":
                break
        assert reply["type"] == "error" and reply["data"]["status"] == 400, reply


def test_request_id_header_is_never_echoed_unchecked(gw: GatewayServer) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: caf\xc3\xa9\xe2\x98\x83\r\n"
    status, headers, _ = raw_request(gw, head)
    assert status == 200 and SESSION_ID.match(headers["x-request-id"])
