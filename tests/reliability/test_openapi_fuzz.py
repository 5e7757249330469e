# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""schemathesis `--checks all` against the real gateway's own OpenAPI document, for a bounded time: the
document must tell the truth — every status a route returns, the real media types, the error shape,
the enums, formats and bounds of the schemas, the Allow header — and nothing may answer 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.pipeline.conftest import _fresh, classifier_cache, fakes  # noqa: F401  (fixtures)

from nexus.service.keys import create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer

from .gateway_env import serve_gateway

MAX_TIME_S = 60
ST = Path(sys.executable).with_name("st")
# Left out, and why (each has its own tests):
#   /admin/catalogue/reload: reloads the module's catalogue mid-run.
#   /models/{model_id}/prototypes POST/DELETE: change the router other requests are routed by.
#   /v1/audio/transcriptions: whether bytes are decodable audio is not a schema's to say (every
#     schema-valid upload of noise is rightly a 400); tests/voice covers the door.
#   /v1/audio/speech: this catalogue has no speech model, so every request is rightly refused.
#   /ws/*: WebSocket doors are not in an OpenAPI document.
#   POST /api/agents (create): a definition names catalogue models and registered tools; no schema can
#     list what the running catalogue and tool registry hold, so a schema-valid definition naming an
#     unknown one is rightly a 400. tests/gateway/test_agents_api.py covers the door; its runs are fuzzed.
EXCLUDED = [
    "/admin/catalogue/reload",
    "/models/{model_id}/prototypes",
    "/v1/audio/transcriptions",
    "/v1/audio/speech",
]


@pytest.fixture
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path: Path
) -> Iterator[tuple[GatewayServer, str]]:
    """The gateway with authentication on (one admin key), so creating keys does not change the rules."""
    with serve_gateway(tmp_path, fakes, classifier_cache) as server:
        token, _ = server.call(create_api_key(server.services.store, tenant="fuzz", role="admin"))
        yield server, token


@pytest.mark.slow
def test_schemathesis_all_checks_find_nothing(gw: tuple[GatewayServer, str], tmp_path: Path) -> None:
    server, token = gw
    report = tmp_path / "report.ndjson"
    argv = [
        str(ST),
        "run",
        server.base_url + "/openapi.json",
        "--checks",
        "all",
        "--max-time",
        str(MAX_TIME_S),
    ]
    argv += ["-H", f"Authorization: Bearer {token}"]
    argv += [
        "--seed",
        os.environ.get("NEXUS_FUZZ_SEED", "11"),
        # One worker: with two, hypothesis' lambda descriptions call ast.parse from two threads, and
        # CPython 3.11's AST recursion-depth counter is not thread-safe ("SystemError: AST constructor
        # recursion depth mismatch", a runtime error inside schemathesis, seen in CI).
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    argv += ["--report", "ndjson", "--report-ndjson-path", str(report)]
    for path in EXCLUDED:
        argv += ["--exclude-path", path]
    argv += ["--exclude-name", "POST /api/agents"]
    # A body past the route's size limit is rightly a 413 (tests/gateway/test_body_limits.py): a
    # rejection like the others that schemathesis counts for schema-violating data.
    (tmp_path / "schemathesis.toml").write_text(
        "[checks.negative_data_rejection]\n"
        'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", '
        '"428", "429", "5XX"]\n'
    )
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=MAX_TIME_S + 120, cwd=tmp_path
    )  # its cache too
    (tmp_path / "stdout.txt").write_text(done.stdout)
    print(done.stdout[-3000:])
    assert done.returncode == 0, _failures(done.stdout) + done.stderr[-2000:]
    assert report.exists()


def _failures(stdout: str) -> str:
    """The failure and error sections, each line cut short (a reproducing curl can be megabytes)."""
    start = stdout.find("=== FAILURES ===")
    start = stdout.find("=== ERRORS ===") if start < 0 else start
    lines = stdout[max(start, 0) :].splitlines()
    return "\n".join(line if len(line) <= 400 else line[:400] + " …" for line in lines)[-20000:]
