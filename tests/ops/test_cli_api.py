# ruff: noqa: F811  (pytest fixtures imported from tests.pipeline.conftest are redefined as arguments)
"""`nexus heartbeat --once` exit codes against a real gateway, and the ops APIs: check history (admins;
a tenant admin sees the deployment's checks and its own tenant's), running checks now, audit CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from tests.pipeline.conftest import classifier_cache, fakes  # noqa: F401  (fixtures)
from tests.pipeline.harness import TEST_KEY, make_app, write_test_catalogue
from typer.testing import CliRunner

from nexus.cli.heartbeat import heartbeat_cmd
from nexus.config.settings import Settings
from nexus.ops.history import History
from nexus.ops.types import CheckResult
from nexus.service.keys import create_api_key
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import GatewayServer, free_port


@pytest.fixture(scope="module")
def gw(
    fakes: dict[str, FakeOpenAI], classifier_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    d = tmp_path_factory.mktemp("ops-api")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEXUS_TEST_KEY", TEST_KEY)
    settings = Settings(
        data_dir=d,
        config=write_test_catalogue(d / "catalogue.yaml", fakes),
        auth="on",
        heartbeat_disk_warn_pct=100.1,
        heartbeat_disk_crit_pct=100.2,
        heartbeat_memory_warn_pct=100.1,
        heartbeat_memory_crit_pct=100.2,
    )
    with GatewayServer(settings, app=make_app(settings, classifier_cache)) as server:
        yield server
    mp.undo()


def _key(gw: GatewayServer, tenant: str, role: str) -> dict[str, str]:
    token, _ = gw.call(create_api_key(gw.services.store, tenant=tenant, role=role))
    return {"Authorization": f"Bearer {token}"}


def test_heartbeat_once_exits_with_the_worst_state(gw: GatewayServer, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(heartbeat_cmd)
    s = gw.services.settings
    env = {
        "NEXUS_DATA_DIR": str(tmp_path),
        "NEXUS_CONFIG": str(s.config),
        "NEXUS_TEST_KEY": TEST_KEY,
        "NEXUS_HEARTBEAT_GATEWAY_URL": gw.base_url,
        "NEXUS_HEARTBEAT_DISK_WARN_PCT": "100.1",
        "NEXUS_HEARTBEAT_DISK_CRIT_PCT": "100.2",
        "NEXUS_HEARTBEAT_MEMORY_WARN_PCT": "100.1",
        "NEXUS_HEARTBEAT_MEMORY_CRIT_PCT": "100.2",
        "NEXUS_REDIS_URL": "",
    }
    runner = CliRunner()
    ok = runner.invoke(app, ["--once", "--json"], env=env)
    report = json.loads(ok.stdout)
    assert ok.exit_code == 0, report
    assert {r["name"]: r["state"] for r in report["results"]}["gateway"] == "ok"
    warn = runner.invoke(app, ["--once", "--json"], env={**env, "NEXUS_HEARTBEAT_DISK_WARN_PCT": "0"})
    assert warn.exit_code == 1 and json.loads(warn.stdout)["status"] == "warning"
    dead = f"http://127.0.0.1:{free_port()}"
    crit = runner.invoke(app, ["--once"], env={**env, "NEXUS_HEARTBEAT_GATEWAY_URL": dead})
    assert crit.exit_code == 2 and "critical" in crit.stdout and "gateway" in crit.stdout
    assert runner.invoke(app, [], env=env).exit_code == 2  # neither --once nor --service


def test_history_is_for_admins_and_scoped_by_tenant(gw: GatewayServer) -> None:
    history = History(gw.services.store, keep_days=7)
    gw.call(
        history.record(
            [
                CheckResult("redis", "critical", "unreachable"),
                CheckResult("budget:acme", "warning", "tenant day tokens 85%", tenant="acme"),
                CheckResult("budget:globex", "critical", "tenant day cost 99%", tenant="globex"),
            ]
        )
    )
    gw.call(history.record([CheckResult("redis", "ok", "ping in 1 ms")]))
    url = gw.base_url + "/api/health/history"
    member = httpx.get(url, headers=_key(gw, "acme", "member"))
    assert member.status_code == 403 and member.json()["error"]["code"] == "forbidden"
    acme = httpx.get(url, headers=_key(gw, "acme", "admin")).json()
    assert {r["name"]: r["state"] for r in acme["latest"]} == {"redis": "ok", "budget:acme": "warning"}
    assert [r["state"] for r in acme["data"] if r["name"] == "redis"] == ["ok", "critical"]
    assert acme["status"] == "warning"
    root = _key(gw, "ops", "global_admin")
    everything = httpx.get(url, params={"state": "critical"}, headers=root).json()
    assert {r["name"] for r in everything["data"]} == {"redis", "budget:globex"}
    assert httpx.get(url, params={"state": "bad"}, headers=root).status_code == 400


def test_checks_run_now_for_a_global_admin(gw: GatewayServer) -> None:
    url = gw.base_url + "/admin/health/run"
    assert httpx.post(url, headers=_key(gw, "acme", "admin")).status_code == 403
    r = httpx.post(url, headers=_key(gw, "ops", "global_admin"), timeout=60)
    assert r.status_code == 200, r.text
    got = {x["name"]: x["state"] for x in r.json()["results"]}
    assert got["gateway"] == "ok" and got["sqlite"] == "ok" and got["redis"] == "skipped", r.json()
    assert all(got[f"provider:{m}"] == "ok" for m in ("cheap", "general"))


def test_the_audit_log_exports_as_csv_with_filters(gw: GatewayServer) -> None:
    q = gw.services.accounting
    gw.call(q.audit(action="key.create", tenant_id="acme", actor="=HYPERLINK(1)", target="k1"))
    gw.call(q.audit(action="tenant.update", tenant_id="acme", actor="root", details={"rpm": 5}))
    gw.call(q.audit(action="key.create", tenant_id="globex", actor="other"))
    gw.call(q.flush())
    url = gw.base_url + "/admin/audit/export"
    assert httpx.get(url, headers=_key(gw, "acme", "member")).status_code == 403
    r = httpx.get(url, params={"action": "key.create"}, headers=_key(gw, "acme", "admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["tenant_id"], x["action"]) for x in rows if x["target"] == "k1"] == [("acme", "key.create")]
    assert all(x["tenant_id"] == "acme" and x["action"] == "key.create" for x in rows)
    assert rows[-1]["actor"] == "'=HYPERLINK(1)" or any(x["actor"] == "'=HYPERLINK(1)" for x in rows)
    bad = httpx.get(url, params={"since": "yesterday"}, headers=_key(gw, "acme", "admin"))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
