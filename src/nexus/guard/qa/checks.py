"""QA checks on a text. `run_checks` is what the pipeline's QA step calls on an answer.

Each check is a function registered by the spec section that enables it; a spec without a section
does not run that check.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

import jsonschema

from nexus.guard.checks.pii import PiiCheck
from nexus.guard.checks.secrets import SecretsCheck
from nexus.guard.qa.report import CheckResult, QAReport
from nexus.guard.qa.sandbox import run_python
from nexus.guard.qa.spec import JsonFormat, QASpec
from nexus.guard.types import GuardContext

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_PLACEHOLDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("TODO", re.compile(r"\bTODO\b")),
    ("FIXME", re.compile(r"\bFIXME\b")),
    ("XXX marker", re.compile(r"\bXXX\b")),
    ("placeholder", re.compile(r"\bplaceholder\b", re.IGNORECASE)),
    ("lorem ipsum", re.compile(r"\blorem ipsum\b", re.IGNORECASE)),
    ("fake credential", re.compile(r"\byour[-_ ]?(?:api[-_ ]?key|token|password|secret)[-_ ]?here\b|\bYOUR_API_KEY\b", re.IGNORECASE)),
    ("insert-here stub", re.compile(r"<\s*(?:insert|your|add)\b[^>]*>|\[\s*(?:insert|your)\b[^\]]*\]", re.IGNORECASE)),
    ("'...' stub", re.compile(r"^\s*(?:\.\.\.|…)\s*$|:\s*\.\.\.\s*$|\(\s*\.\.\.\s*\)|\[\s*\.\.\.\s*\]|\{\s*\.\.\.\s*\}|#\s*\.\.\.", re.MULTILINE)),
    ("not implemented", re.compile(r"\bNotImplementedError\b|\bnot yet implemented\b|\bimplement (?:this|me)\b", re.IGNORECASE)),
)  # fmt: skip
_PY_LANGS = {"python", "py", "python3", ""}


def extract_code_blocks(text: str, language: str = "python") -> list[str]:
    """Fenced blocks in `language` (or unlabelled); with no fences at all, the whole text is the code."""
    fences = _FENCE.findall(text)
    if not fences:
        return [text] if text.strip() else []
    return [
        body for lang, body in fences if lang.lower() in (_PY_LANGS if language == "python" else {language})
    ]


def _lookup(obj: Any, path: str) -> bool:
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return False
    return True


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    fences = [body for lang, body in _FENCE.findall(stripped) if lang.lower() in ("json", "")]
    return json.loads(fences[0] if fences and not stripped.startswith(("{", "[")) else stripped)


def check_format(text: str, spec: QASpec) -> CheckResult:
    fmt = spec.format
    assert fmt is not None
    if isinstance(fmt, JsonFormat):
        try:
            data = _parse_json(text)
        except json.JSONDecodeError as exc:
            return CheckResult(
                name="format", passed=False, messages=[f"output is not JSON: {exc.msg} at line {exc.lineno}"]
            )
        missing = [k for k in fmt.required_keys if not _lookup(data, k)]
        msgs = [f"missing required key: {k}" for k in missing]
        return CheckResult(
            name="format", passed=not missing, messages=msgs or ["valid JSON with all required keys"]
        )
    if re.search(fmt.pattern, text, re.MULTILINE):
        return CheckResult(name="format", passed=True, messages=[f"matches /{fmt.pattern}/"])
    return CheckResult(name="format", passed=False, messages=[f"does not match /{fmt.pattern}/"])


def check_completeness(text: str, spec: QASpec) -> CheckResult:
    c = spec.completeness
    assert c is not None
    msgs = [f"missing required substring: {s!r}" for s in c.required_substrings if s not in text]
    msgs += [f"contains forbidden substring: {s!r}" for s in c.forbidden_substrings if s in text]
    return CheckResult(name="completeness", passed=not msgs, messages=msgs or ["all substrings as required"])


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_security(text: str, spec: QASpec) -> CheckResult:
    s = spec.security
    assert s is not None
    msgs: list[str] = []
    if s.check_placeholders:
        for label, rx in _PLACEHOLDERS:
            for m in rx.finditer(text):
                msgs.append(f"placeholder ({label}) at line {_line_of(text, m.start())}")
    for pattern in s.forbidden_patterns:
        for m in re.finditer(pattern, text, re.MULTILINE):
            msgs.append(f"forbidden pattern /{pattern}/ at line {_line_of(text, m.start())}")
    ctx = GuardContext(direction="output")
    # Leaks are reported by kind and line only: the report must not repeat the secret.
    if s.check_secrets:
        msgs += [
            f"secret leak ({f.kind}) at line {_line_of(text, f.start)}"
            for f in SecretsCheck().scan(text, ctx)
        ]
    if s.check_pii:
        msgs += [f"PII leak ({f.kind}) at line {_line_of(text, f.start)}" for f in PiiCheck().scan(text, ctx)]
    return CheckResult(
        name="security", passed=not msgs, messages=msgs or ["no placeholders, forbidden patterns or leaks"]
    )


def check_code(text: str, spec: QASpec) -> CheckResult:
    c = spec.code_execution
    assert c is not None
    blocks = extract_code_blocks(text, c.language)
    if not blocks:
        return CheckResult(name="code_execution", passed=False, messages=["no code blocks found"])
    msgs: list[str] = []
    ok = True
    for i, code in enumerate(blocks, 1):
        if c.syntax_check:
            try:
                ast.parse(code)
                msgs.append(f"block {i}: syntax ok")
            except SyntaxError as exc:
                ok = False
                msgs.append(f"block {i}: syntax error at line {exc.lineno}: {exc.msg}")
                continue
        if c.execute:
            res = run_python(code, c.timeout_seconds, c.memory_mb)
            if res.timed_out:
                ok = False
                msgs.append(f"block {i}: killed after {c.timeout_seconds}s (time or CPU limit)")
            elif res.exit_code != 0:
                ok = False
                last = res.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
                msgs.append(f"block {i}: exited {res.exit_code}: {last[0][:300]}")
            else:
                msgs.append(f"block {i}: ran ok")
    return CheckResult(name="code_execution", passed=ok, messages=msgs)


def _schema_of(response_format: dict[str, Any]) -> dict[str, Any] | None:
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema") or {}
        schema = inner.get("schema")
        return schema if isinstance(schema, dict) else None
    if response_format.get("type") == "json_object":
        return {"type": "object"}
    return None


def check_response_format(text: str, spec: QASpec) -> CheckResult:
    assert spec.response_format is not None
    schema = _schema_of(spec.response_format)
    if schema is None:
        return CheckResult(name="response_format", passed=True, messages=["no JSON schema to validate"])
    try:
        data = _parse_json(text)
    except json.JSONDecodeError as exc:
        return CheckResult(name="response_format", passed=False, messages=[f"output is not JSON: {exc.msg}"])
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    msgs = [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:20]]
    return CheckResult(
        name="response_format", passed=not errors, messages=msgs or ["matches the JSON schema"]
    )


CHECKS: dict[str, tuple[Callable[[QASpec], object], Callable[[str, QASpec], CheckResult]]] = {
    "format": (lambda s: s.format, check_format),
    "response_format": (lambda s: s.response_format, check_response_format),
    "completeness": (lambda s: s.completeness, check_completeness),
    "security": (lambda s: s.security, check_security),
    "code_execution": (lambda s: s.code_execution, check_code),
}


def run_checks(text: str, spec: QASpec, response_format: dict[str, Any] | None = None) -> QAReport:
    """Run every check the spec enables on `text`. `response_format` overrides the spec's own."""
    if response_format is not None:
        spec = spec.model_copy(update={"response_format": response_format})
    report = QAReport(spec=spec.name)
    for enabled, check in CHECKS.values():
        if enabled(spec) is not None:
            report.checks.append(check(text, spec))
    return report
