"""QA before delivery: the request's spec, checked by the guard's QA runner.

The spec comes from the request (response_format → JSON / JSON schema; optional required and
forbidden substrings); placeholder, secret and PII checks always apply. The state keeps the spec
and the verdict as plain dicts so a checkpoint can hold them.
"""

from __future__ import annotations

from typing import Any, Protocol

from nexus.guard.qa import parse_spec, run_checks


class QAChecker(Protocol):
    """answer + spec → {"passed": bool, "failures": [str], "checks": [str]}"""

    def __call__(self, answer: str, spec: dict[str, Any]) -> dict[str, Any]: ...


def spec_from_request(
    response_format: dict[str, Any] | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The QA spec (guard QASpec fields) of one request."""
    spec: dict[str, Any] = {
        "name": "pipeline",
        "security": {"check_placeholders": True, "check_secrets": True, "check_pii": True},
    }
    if response_format and response_format.get("type") in ("json_schema", "json_object"):
        spec["response_format"] = response_format
    if extra and (extra.get("required") or extra.get("forbidden")):
        spec["completeness"] = {
            "required_substrings": [str(s) for s in extra.get("required") or []],
            "forbidden_substrings": [str(s) for s in extra.get("forbidden") or []],
        }
    return spec


def guard_checker(answer: str, spec: dict[str, Any]) -> dict[str, Any]:
    report = run_checks(answer, parse_spec(spec))
    failures = [f"{c.name}: {m}" for c in report.checks if not c.passed for m in (c.messages or ["failed"])]
    return {"passed": report.passed, "failures": failures, "checks": [c.name for c in report.checks]}


def default_checker() -> QAChecker:
    return guard_checker
