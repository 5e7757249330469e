"""The QA spec: a JSON document saying what a command's (or an answer's) output must look like."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class InvalidSpec(ValueError):
    """The spec cannot be used; the message names the offending field."""


class _Strict(BaseModel):
    # Unknown fields are errors: a misspelt check must not silently pass.
    model_config = ConfigDict(extra="forbid")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


class JsonFormat(_Strict):
    type: Literal["json"]
    # Dotted paths reach into nested objects: "usage.total_tokens".
    required_keys: list[str] = Field(default_factory=list)


class RegexFormat(_Strict):
    type: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _valid(cls, v: str) -> str:
        return _compiles(v)


class CompletenessSpec(_Strict):
    required_substrings: list[str] = Field(default_factory=list)
    forbidden_substrings: list[str] = Field(default_factory=list)


class SecuritySpec(_Strict):
    check_placeholders: bool = False
    forbidden_patterns: list[str] = Field(default_factory=list)
    check_secrets: bool = True
    check_pii: bool = False

    @field_validator("forbidden_patterns")
    @classmethod
    def _valid(cls, v: list[str]) -> list[str]:
        return [_compiles(p) for p in v]


class CodeExecutionSpec(_Strict):
    language: Literal["python"] = "python"
    syntax_check: bool = True
    execute: bool = False
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    memory_mb: int = Field(default=256, ge=32, le=16384)


class QASpec(_Strict):
    name: str | None = None
    command: str | list[str] | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    expected_exit_code: int = 0
    format: Annotated[JsonFormat | RegexFormat, Field(discriminator="type")] | None = None
    completeness: CompletenessSpec | None = None
    security: SecuritySpec | None = None
    code_execution: CodeExecutionSpec | None = None
    # An OpenAI `response_format` ({"type": "json_schema", "json_schema": {"schema": {...}}}).
    response_format: dict[str, Any] | None = None


def parse_spec(data: object) -> QASpec:
    try:
        return QASpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(spec)"
            problems.append(f"{field}: {err['msg']}")
        raise InvalidSpec("invalid QA spec: " + "; ".join(problems)) from None


def load_spec(path: str | Path) -> QASpec:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidSpec(f"cannot read spec {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidSpec(
            f"spec {path} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return parse_spec(data)
