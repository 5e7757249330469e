"""Run a spec's command and check its output: the engine behind `nexus qa run`."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

from nexus.guard.qa.checks import run_checks
from nexus.guard.qa.report import CheckResult, QAReport
from nexus.guard.qa.spec import InvalidSpec, QASpec


def run_spec(spec: QASpec) -> QAReport:
    if spec.command is None:
        raise InvalidSpec(
            "invalid QA spec: command: required to run a spec (use run_checks for a given text)"
        )
    argv = shlex.split(spec.command) if isinstance(spec.command, str) else list(spec.command)
    if not argv:
        raise InvalidSpec("invalid QA spec: command: empty")
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
    except OSError as exc:
        report = QAReport(spec=spec.name)
        report.checks.append(
            CheckResult(name="command", passed=False, messages=[f"cannot start {argv[0]!r}: {exc.strerror}"])
        )
        return report
    try:
        out, err = proc.communicate(timeout=spec.timeout_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        report = QAReport(spec=spec.name)
        report.checks.append(
            CheckResult(name="command", passed=False, messages=[f"timed out after {spec.timeout_seconds}s"])
        )
        return report
    exit_ok = proc.returncode == spec.expected_exit_code
    msg = f"exit code {proc.returncode} (expected {spec.expected_exit_code})"
    if not exit_ok and err.strip():
        msg += f"; stderr: {err.strip().splitlines()[-1][:300]}"
    report = run_checks(out, spec)
    report.checks.insert(0, CheckResult(name="exit_code", passed=exit_ok, messages=[msg]))
    return report
