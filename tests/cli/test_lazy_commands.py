"""`nexus --help` and each command's `--help` import only what that command needs: no store, router,
embedder or web stack before a command runs (its start-up time is measured in bench/bench_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nexus.cli.main import COMMANDS, app, load_command

HEAVY = ("sqlalchemy", "numpy", "torch", "fastapi", "nexus.store", "nexus.routing.router", "nexus.runtime")

PROBE = """
import json, sys
from typer.testing import CliRunner
from nexus.cli.main import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "out": result.output,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {"sqlalchemy", "numpy", "torch",
                  "fastapi"} or m in {"nexus.store", "nexus.routing.router", "nexus.runtime"})}))
"""


def probe(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_top_level_help_lists_every_command_without_importing_any() -> None:
    seen = probe("--help")
    assert seen["code"] == 0
    for name in COMMANDS:
        assert name in str(seen["out"])
    assert seen["loaded"] == [], f"nexus --help imported {seen['loaded']}"


@pytest.mark.parametrize("name", ["serve", "route", "classify", "metrics", "work-orders", "db", "qa", "eval"])
def test_a_command_help_imports_no_heavy_package(name: str) -> None:
    seen = probe(name, "--help")
    assert seen["code"] == 0 and "Usage" in str(seen["out"])
    loaded = [str(m) for m in seen["loaded"]]  # type: ignore[attr-defined]
    assert not [m for m in loaded if m.startswith(HEAVY)], loaded


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_registered_command_loads_and_the_listing_tells_its_own_help(name: str) -> None:
    """The one-line help `nexus --help` shows (without importing) is the command's own first line."""
    command = load_command(name)
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[name][1]


def test_an_unknown_command_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["no-such-command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_a_sub_app_with_one_command_keeps_its_group() -> None:
    """`nexus eval` has one sub-command; it must still be addressed as `nexus eval routing`."""
    seen = probe("eval", "routing", "--help")
    assert seen["code"] == 0 and "nexus eval routing" in str(seen["out"])
