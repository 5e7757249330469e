"""The shipped systemd units: restart on failure, watchdog where the process notifies, and commands
that exist in the CLI. `systemd-analyze verify` checks the syntax where systemd is installed."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


def _unit(name: str) -> configparser.RawConfigParser:
    cp = configparser.RawConfigParser(strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read(UNITS / name)
    return cp


@pytest.mark.parametrize(
    "name", ["nexus-gateway.service", "nexus-heartbeat.service", "nexus-telegram.service"]
)
def test_units_restart_on_failure_and_run_real_commands(name: str) -> None:
    svc = _unit(name)["Service"]
    assert svc["Restart"] == "on-failure"
    argv = svc["ExecStart"].split()
    assert argv[0].endswith("/nexus")
    from nexus.cli.heartbeat import heartbeat_cmd
    from nexus.cli.telegram import telegram_cmd

    if argv[1] == "heartbeat":
        assert {"--service", "--enable-recovery"} <= set(argv) and heartbeat_cmd is not None
    elif argv[1] == "telegram":
        assert argv[2:] == ["--mode", "polling"] and telegram_cmd is not None
    else:
        assert argv[1] == "serve"


@pytest.mark.parametrize("name", ["nexus-gateway.service", "nexus-heartbeat.service"])
def test_notifying_units_have_a_watchdog(name: str) -> None:
    svc = _unit(name)["Service"]
    assert svc["Type"] == "notify" and int(svc["WatchdogSec"]) > 0


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text().replace("/opt/nexus/.venv/bin/nexus", "/bin/true").replace("User=nexus", "")
        text = text.replace("Group=nexus", "")
        (tmp_path / unit.name).write_text(text)
    out = subprocess.run(
        [analyze, "verify", *(str(p) for p in sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    words = ("Failed", "Unknown", "Invalid", "ignoring")
    problems = [ln for ln in out.stderr.splitlines() if str(tmp_path) in ln and any(w in ln for w in words)]
    assert not problems, out.stderr
