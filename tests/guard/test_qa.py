"""QA spec runner: spec validation, checks on text, the CLI, and the execution sandbox."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.qa import qa_app
from nexus.guard.qa import InvalidSpec, QASpec, load_spec, parse_spec, run_checks, run_python, run_spec
from nexus.guard.qa.sandbox import unshare_available

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "qa"
runner = CliRunner()


def _by_name(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {c.name: c for c in report.checks}


def test_invalid_spec_names_the_field() -> None:
    with pytest.raises(InvalidSpec, match=r"format\.regex\.pattern"):
        parse_spec({"format": {"type": "regex", "pattern": "(unclosed"}})
    with pytest.raises(InvalidSpec, match="completness"):
        parse_spec({"completness": {}})
    with pytest.raises(InvalidSpec, match="code_execution.memory_mb"):
        parse_spec({"code_execution": {"memory_mb": 1}})


def test_json_format_and_schema() -> None:
    spec = QASpec(
        format={"type": "json", "required_keys": ["a", "b.c"]},
        response_format={
            "type": "json_schema",
            "json_schema": {"schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        },
    )
    good = run_checks('{"a": 1, "b": {"c": 2}}', spec)
    assert good.passed
    bad = _by_name(run_checks('{"a": "x", "b": {}}', spec))
    assert not bad["format"].passed and "b.c" in bad["format"].messages[0]
    assert (
        not bad["response_format"].passed
        and "'x' is not of type 'integer'" in bad["response_format"].messages[0]
    )
    assert not run_checks("not json", spec).passed
    # A response_format passed by the pipeline overrides the spec's.
    loose = run_checks('{"a": "x", "b": {"c": 1}}', spec, response_format={"type": "json_object"})
    assert loose.passed


def test_completeness_and_regex() -> None:
    spec = QASpec(
        format={"type": "regex", "pattern": r"^Answer:"},
        completeness={"required_substrings": ["42"], "forbidden_substrings": ["sorry"]},
    )
    assert run_checks("Answer: 42", spec).passed
    failed = _by_name(run_checks("I'm sorry", spec))
    assert not failed["format"].passed
    assert failed["completeness"].messages == [
        "missing required substring: '42'",
        "contains forbidden substring: 'sorry'",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "# TODO: finish",
        "api_key = 'your-api-key-here'",
        "def f():\n    ...\n",
        "Lorem ipsum dolor",
        "x = <insert value>",
    ],
)
def test_placeholders_flagged(text: str) -> None:
    assert not run_checks(text, QASpec(security={"check_placeholders": True})).passed


def test_security_ok_text_and_leaks_reported_without_secret() -> None:
    spec = QASpec(security={"check_placeholders": True, "check_pii": True, "forbidden_patterns": [r"rm -rf"]})
    assert run_checks("Wait... the answer is 4.", spec).passed
    key = "sk-proj-" + "Q" * 30
    report = run_checks(f"use {key}\nmail me: a@b.io\nrm -rf /", spec)
    messages = report.checks[0].messages
    assert not report.passed
    assert any("secret leak (openai_key) at line 1" in m for m in messages)
    assert any("PII leak (email) at line 2" in m for m in messages)
    assert any("forbidden pattern" in m and "line 3" in m for m in messages)
    assert key not in json.dumps(report.to_dict())


def test_syntax_check_of_fenced_blocks() -> None:
    spec = QASpec(code_execution={"syntax_check": True})
    ok = "text\n```python\nprint(1)\n```\nmore\n```js\nnot python(\n```"
    assert run_checks(ok, spec).passed
    bad = run_checks("```python\ndef f(:\n```", spec)
    assert not bad.passed and "syntax error at line 1" in bad.checks[0].messages[0]


def test_sandbox_runs_code_in_temp_dir_with_scrubbed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_SECRET_PROBE", "leak")
    res = run_python(
        "import os, sys; print(os.getcwd()); print(os.environ.get('NEXUS_SECRET_PROBE')); print(sys.flags.isolated)"
    )
    cwd, probe, isolated = res.stdout.split()
    assert res.ok and "nexus-qa-" in cwd and probe == "None" and isolated == "1"
    assert not Path(cwd).exists()


def test_sandbox_blocks_network() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = (
            f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')"
        )
        res = run_python(code, timeout_s=10)
    assert not res.ok and "connected" not in res.stdout
    assert "Error" in res.stderr


def test_sandbox_kills_memory_hog_and_infinite_loop() -> None:
    hog = run_python("x = bytearray(2 * 1024 ** 3)\nprint('allocated')", memory_mb=128)
    assert not hog.ok and "MemoryError" in hog.stderr and "allocated" not in hog.stdout
    loop = run_python("while True:\n    pass", timeout_s=1)
    assert loop.timed_out and not loop.ok


def test_execute_through_spec_reports_failure() -> None:
    spec = QASpec(code_execution={"execute": True, "timeout_seconds": 5})
    assert run_checks("```python\nassert 1 + 1 == 2\n```", spec).passed
    failed = run_checks("```python\nraise SystemExit(3)\n```", spec)
    assert not failed.passed and "block 1: exited 3" in failed.checks[0].messages[-1]


def test_unshare_probe_is_boolean() -> None:
    assert unshare_available() in (True, False)


def test_run_spec_exit_code_and_timeout() -> None:
    report = run_spec(
        QASpec(command=[sys.executable, "-c", "import sys; print('hi'); sys.exit(3)"], expected_exit_code=3)
    )
    assert report.passed and report.checks[0].name == "exit_code"
    slow = run_spec(
        QASpec(command=[sys.executable, "-c", "import time; time.sleep(30)"], timeout_seconds=0.5)
    )
    assert not slow.passed and "timed out" in slow.checks[0].messages[0]
    with pytest.raises(InvalidSpec, match="command"):
        run_spec(QASpec())


@pytest.mark.parametrize("name", ["json_format.json", "python_code.json", "completeness.json"])
def test_shipped_examples_pass(name: str, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / name)
    assert isinstance(spec.command, (str, list))
    out = tmp_path / "report.json"
    result = runner.invoke(qa_app, ["run", "--spec", str(EXAMPLES / name), "--report-json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["passed"] is True


def test_cli_exit_codes(tmp_path: Path) -> None:
    failing = tmp_path / "fail.json"
    failing.write_text(
        json.dumps(
            {"command": [sys.executable, "-c", "print('x')"], "completeness": {"required_substrings": ["y"]}}
        )
    )
    result = runner.invoke(qa_app, ["run", "--spec", str(failing)])
    assert result.exit_code == 1 and "FAIL  completeness" in result.output
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"command": "true", "timeout_seconds": -1}))
    result = runner.invoke(qa_app, ["run", "--spec", str(invalid)])
    assert result.exit_code == 2 and "timeout_seconds" in result.output
