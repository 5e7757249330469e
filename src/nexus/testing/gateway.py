"""Run the real Nexus gateway (or any ASGI app) on loopback in a background thread, behind the same
hardened HTTP edge as `nexus serve` (nexus.gateway.server).

with GatewayServer(settings) as gw:
    OpenAI(base_url=gw.base_url + "/v1", api_key="x").chat.completions.create(...)
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus.config.settings import Settings

if TYPE_CHECKING:
    from nexus.gateway.server import ShutdownSignal


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """Any ASGI app behind the hardened edge server (nexus.gateway.server) in a background thread."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        *,
        port: int | None = None,
        startup_timeout_s: float = 120.0,
        signal: ShutdownSignal | None = None,
    ) -> None:
        from nexus.gateway.server import build_server

        self.settings = settings
        self.port = port or free_port()
        self.app = app
        self._server = build_server(
            app, settings, signal=signal, host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._thread: threading.Thread | None = None
        self._timeout = startup_timeout_s

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signal(self) -> ShutdownSignal:
        return self._server.signal

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (set once started)."""
        return self._server.loop

    def start(self) -> AppServer:
        self._thread = threading.Thread(target=self._server.run, name="nexus-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the gateway failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not start in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """The same bounded shutdown as SIGTERM (settings.shutdown_grace_s)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=self.settings.shutdown_grace_s + 30)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GatewayServer(AppServer):
    """The real Nexus gateway app, served like `nexus serve` serves it.

    with GatewayServer(settings) as gw:
        OpenAI(base_url=gw.base_url + "/v1", api_key="x").chat.completions.create(...)
    """

    def __init__(
        self,
        settings: Settings,
        *,
        port: int | None = None,
        startup_timeout_s: float = 120.0,
        app: Any = None,
    ) -> None:
        from nexus.gateway.app import create_app

        # `app`: an app built with create_app(settings, embedder=…, classifier=…) for a test's own parts.
        app = app if app is not None else create_app(settings)
        # The server fires the app's own shutdown signal, so streaming doors end their turns cleanly.
        super().__init__(
            app, settings, port=port, startup_timeout_s=startup_timeout_s, signal=app.state.shutdown
        )

    @property
    def state(self) -> Any:
        return self.app.state

    @property
    def services(self) -> Any:
        """The running gateway's `nexus.runtime.Services` (store, accounting queue, hub, …)."""
        return self.app.state.services

    def start(self) -> GatewayServer:
        super().start()
        return self

    def __enter__(self) -> GatewayServer:
        return self.start()

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's event loop (e.g. `gw.call(gw.state.accounting.flush())`)."""
        loop: asyncio.AbstractEventLoop = self.app.state.loop  # set by the lifespan
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def catalogue_yaml(models: list[dict[str, Any]], **sections: Any) -> str:
    """A catalogue file's text from entry dicts (defaults filled in), for tests and examples."""
    import yaml

    entries = []
    for m in models:
        entry = {
            "provider": "openai",
            "input_price_per_mtok": 1.0,
            "output_price_per_mtok": 2.0,
            "context_window": 8192,
            "tags": ["general"],
            "api_key_env": "NEXUS_TEST_KEY",
            **m,
        }
        entry.setdefault("model", entry["id"])
        entries.append(entry)
    return yaml.safe_dump({"models": entries, **sections}, sort_keys=False)


def write_catalogue(path: Path, models: list[dict[str, Any]], **sections: Any) -> Path:
    path.write_text(catalogue_yaml(models, **sections), encoding="utf-8")
    return path
