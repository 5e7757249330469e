"""The hardened HTTP edge over real loopback sockets: head limit, slowloris, HTTP/1.0, connection limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nexus.config.settings import Settings
from nexus.gateway.server import ShutdownSignal
from nexus.testing.gateway import AppServer

from .edge_app import create_app


def settings(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": tmp_path,
        "http_header_timeout_s": 1.0,
        "http_keepalive_timeout_s": 1.0,
        "shutdown_grace_s": 1.0,
    }
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[AppServer]:
    sig = ShutdownSignal()
    with AppServer(create_app(sig), settings(tmp_path), signal=sig) as srv:
        yield srv


def connect(srv: AppServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    return s


def read_all(s: socket.socket) -> bytes:
    out = b""
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        out += data
    return out


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_a_one_megabyte_header_gets_431(server: AppServer) -> None:
    s = connect(server)
    big = b"x" * (1024 * 1024)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + big + b"\r\n\r\n")
    raw = read_all(s)
    s.close()
    assert status_of(raw) == 431 and b"headers_too_large" in raw
    # The server is still fine.
    assert httpx.get(server.base_url + "/hello").json() == {"hello": "world"}


def test_a_head_just_over_the_limit_in_one_packet_gets_431(server: AppServer) -> None:
    limit = server.settings.http_max_header_bytes
    s = connect(server)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * limit + b"\r\n\r\n")
    assert status_of(read_all(s)) == 431
    s.close()
    ok = httpx.get(server.base_url + "/hello", headers={"x-fine": "z" * (limit // 2)})
    assert ok.status_code == 200


def test_slowloris_connections_are_closed_by_the_header_timeout(server: AppServer) -> None:
    timeout = server.settings.http_header_timeout_s
    conns = [connect(server) for _ in range(40)]
    for s in conns:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n")
    closed_at: list[float] = []
    t0 = time.monotonic()

    def drip(s: socket.socket) -> bytes:
        # One header byte every 0.2 s: never a complete head.
        got = b""
        s.settimeout(0.2)
        try:
            for _ in range(int(timeout * 10)):
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                try:
                    data = s.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                got += data
            closed_at.append(time.monotonic() - t0)
        finally:
            s.close()
        return got

    with ThreadPoolExecutor(len(conns)) as pool:
        answers = list(pool.map(drip, conns))
        # Meanwhile an honest client is served.
        assert httpx.get(server.base_url + "/hello").status_code == 200
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
    assert max(closed_at) < timeout + 1.0


def test_an_idle_connection_is_closed_after_the_header_timeout(server: AppServer) -> None:
    s = connect(server)
    t0 = time.monotonic()
    assert read_all(s) == b""  # closed quietly: it never sent a byte
    assert time.monotonic() - t0 < server.settings.http_header_timeout_s + 1.0
    s.close()


def test_a_stalled_server_loop_does_not_time_out_heads_that_arrived_in_time(server: AppServer) -> None:
    # The stall runs in an I/O callback: uvloop then runs due timers before reading the sockets.
    r, w = socket.socketpair()

    def stall() -> None:
        r.recv(1)
        time.sleep(server.settings.http_header_timeout_s + 0.5)

    server.loop.call_soon_threadsafe(server.loop.add_reader, r.fileno(), stall)
    s = connect(server)
    time.sleep(0.2)  # the connection is accepted: its header timer runs
    w.send(b"x")
    time.sleep(0.1)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")  # in time, but unread
    raw = read_all(s)
    server.loop.call_soon_threadsafe(server.loop.remove_reader, r.fileno())
    for x in (s, r, w):
        x.close()
    assert status_of(raw) == 200


def test_keep_alive_connections_time_out(server: AppServer) -> None:
    s = connect(server)
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    t0 = time.monotonic()
    raw = read_all(s)  # the answer, then the close after the keep-alive timeout
    assert status_of(raw) == 200 and raw.endswith(b'{"hello":"world"}')
    assert time.monotonic() - t0 < server.settings.http_keepalive_timeout_s + 1.0
    s.close()


def test_an_http10_client_reads_a_whole_stream(server: AppServer) -> None:
    s = connect(server)
    s.sendall(b"GET /stream?n=20 HTTP/1.0\r\n\r\n")
    raw = read_all(s)  # HTTP/1.0: the body ends when the server closes
    s.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert status_of(head) == 200
    assert b"transfer-encoding" not in head.lower() and b"connection: close" in head.lower()
    events = [line for line in body.split(b"\n\n") if line]
    assert events[0] == b'data: {"i":0}' and events[19] == b'data: {"i":19}' and events[-1] == b"data: [DONE]"


def test_an_http10_client_gets_content_length_answers_and_http11_still_streams_chunked(
    server: AppServer,
) -> None:
    s = connect(server)
    s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
    raw = read_all(s)
    s.close()
    assert b"content-length: 17" in raw.lower() and raw.endswith(b'{"hello":"world"}')
    s = connect(server)
    s.sendall(b"GET /stream?n=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    raw = read_all(s)
    s.close()
    assert b"transfer-encoding: chunked" in raw.lower() and raw.endswith(b"0\r\n\r\n")


def test_connections_beyond_the_limit_get_503(tmp_path: Path) -> None:
    sig = ShutdownSignal()
    with AppServer(
        create_app(sig), settings(tmp_path, http_max_connections=4, http_header_timeout_s=5), signal=sig
    ) as srv:
        held = [connect(srv) for _ in range(4)]
        time.sleep(0.2)
        extra = connect(srv)
        extra.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = read_all(extra)
        assert status_of(raw) == 503 and b"server_busy" in raw
        for s in held:
            s.close()
        time.sleep(0.2)
        assert httpx.get(srv.base_url + "/hello").status_code == 200


def test_requests_beyond_the_concurrency_limit_get_503(tmp_path: Path) -> None:
    sig = ShutdownSignal()
    with AppServer(create_app(sig), settings(tmp_path, http_max_concurrency=2), signal=sig) as srv:
        statuses: list[int] = []

        def slow() -> None:
            statuses.append(httpx.get(srv.base_url + "/hello?sleep=3", timeout=30).status_code)

        threads = [threading.Thread(target=slow) for _ in range(2)]
        for t in threads:
            t.start()
        busy = None
        deadline = time.monotonic() + 20
        while busy is None and time.monotonic() < deadline:  # until both slow requests are in flight
            r = httpx.get(srv.base_url + "/hello", timeout=30)
            busy = r if r.status_code == 503 else None
            time.sleep(0.05)
        for t in threads:
            t.join()
        assert busy is not None, "the limit never refused a request"
        assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "server_busy"
        assert statuses == [200, 200]
        assert httpx.get(srv.base_url + "/hello").status_code == 200
