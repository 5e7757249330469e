"""The guard of a chat turn: every message and content part in, every answer (whole or streamed) out.

`ChatGuard` holds the global configuration and hands out one `GuardPolicy` per tenant (the global
configuration with that tenant's overrides on top, cached). A policy checks OpenAI-shaped message
dicts (the guard does not import providers):

- user and tool messages run every layer: policy, secrets, PII and injection;
- system, developer and assistant messages, and assistant tool-call arguments, are masked
  (secrets, PII) but not judged: they are the application's words, not the end user's;
- string content and list content (`{"type": "text", "text": ...}` parts) alike.

It returns masked copies (the input is never modified) and one `Decision` per finding acted on,
located by message and part, for the audit log; it raises `GuardBlocked` (carrying the decisions)
when a decision blocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from nexus.guard.config import GuardConfig, GuardOverrides
from nexus.guard.pipeline import MASKING_CHECKS, GuardPipeline
from nexus.guard.registry import build_check
from nexus.guard.stream import StreamGuard
from nexus.guard.types import Action, Check, Decision, GuardBlocked, GuardContext, Verdict

# Roles whose text is judged (every layer); the others are only masked.
JUDGED_ROLES = frozenset({"user", "tool", "function"})
TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
# The answer a model gives is masked and checked against policy, not scored for injection.
OUTPUT_CHECKS = frozenset({"policy", "secrets", "pii"})
Message = Mapping[str, Any]
Overrides = GuardOverrides | Mapping[str, Any] | str | bytes | None


def worst(decisions: Sequence[Decision]) -> Action:
    return max((d.action for d in decisions), key=lambda a: a.rank, default=Action.allow)


@dataclass(frozen=True)
class GuardedMessages:
    """What to send on: `messages` (masked copies where needed), and what the guard decided."""

    messages: list[dict[str, Any]]
    decisions: list[Decision] = field(default_factory=list)

    @property
    def action(self) -> Action:
        return worst(self.decisions)

    @property
    def flagged(self) -> bool:
        return any(d.action is Action.flag for d in self.decisions)

    @property
    def masked(self) -> bool:
        return any(d.action is Action.mask for d in self.decisions)


@dataclass(frozen=True)
class GuardedText:
    """One text after the guard: `text` to deliver (masked where needed), and the decisions."""

    text: str
    decisions: list[Decision] = field(default_factory=list)

    @property
    def action(self) -> Action:
        return worst(self.decisions)

    @property
    def changed(self) -> bool:
        return any(d.action is Action.mask for d in self.decisions)


class GuardPolicy:
    """The guard for one tenant. Thread-safe and stateless apart from the checks' compiled rules."""

    def __init__(self, tenant: str | None, pipeline: GuardPipeline) -> None:
        self.tenant = tenant
        self.pipeline = pipeline

    @property
    def config(self) -> GuardConfig:
        return self.pipeline.config

    def _context(self, direction: str, door: str | None, model: str | None, role: str | None) -> GuardContext:
        return GuardContext(tenant=self.tenant, model=model, direction=direction, door=door, role=role)

    def check_text(
        self, text: str, *, role: str = "user", door: str | None = None, model: str | None = None
    ) -> Verdict:
        """One input text, judged or only masked according to `role`; does not raise."""
        only = None if role in JUDGED_ROLES else MASKING_CHECKS
        return self.pipeline.check(text, self._context("input", door, model, role), only)

    def check_messages(
        self, messages: Sequence[Message], *, door: str | None = None, model: str | None = None
    ) -> GuardedMessages:
        """Check every message and content part; raises GuardBlocked on a block."""
        out: list[dict[str, Any]] = []
        decisions: list[Decision] = []
        for i, message in enumerate(messages):
            unit = _Unit(self, str(message.get("role") or ""), door, model, i, decisions)
            copy: dict[str, Any] | None = None
            content = message.get("content")
            if isinstance(content, str) and content:
                masked = unit.check(content, None)
                if masked is not None:
                    copy = {**message, "content": masked}
            elif isinstance(content, list):
                parts = _checked_parts(content, unit)
                if parts is not None:
                    copy = {**message, "content": parts}
            calls = _checked_tool_calls(message.get("tool_calls"), unit)
            if calls is not None:
                copy = {**(copy or message), "tool_calls": calls}
            out.append(copy if copy is not None else dict(message))
        return GuardedMessages(out, decisions)

    def check_answer(self, text: str, *, door: str | None = None) -> GuardedText:
        """A whole answer before the client sees it: masked, or GuardBlocked."""
        verdict = self.pipeline.check(text, self._context("output", door, None, "assistant"), OUTPUT_CHECKS)
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, "output", verdict.decisions)
        masked = verdict.redacted_text
        return GuardedText(masked if masked is not None else text, verdict.decisions)

    def stream(self, *, door: str | None = None) -> StreamGuard:
        """A guard for one streamed answer: `feed(chunk) -> str`, `finish() -> str`, `.decisions`."""
        return StreamGuard(
            self.pipeline, self._context("output", door, None, "assistant"), only=OUTPUT_CHECKS
        )


@dataclass
class _Unit:
    """Checks the texts of one message, recording located decisions."""

    policy: GuardPolicy
    role: str
    door: str | None
    model: str | None
    message: int
    decisions: list[Decision]

    def check(self, text: str, part: int | None, role: str | None = None) -> str | None:
        """The masked text, or None when nothing was masked; raises GuardBlocked."""
        verdict = self.policy.check_text(text, role=role or self.role, door=self.door, model=self.model)
        self.decisions.extend(
            d.model_copy(update={"message": self.message, "part": part}) for d in verdict.decisions
        )
        if verdict.blocked:
            raise GuardBlocked(verdict.categories, "input", self.decisions)
        return verdict.redacted_text


def _checked_parts(content: list[Any], unit: _Unit) -> list[Any] | None:
    parts: list[Any] | None = None
    for j, part in enumerate(content):
        if not isinstance(part, Mapping) or part.get("type") not in TEXT_PART_TYPES:
            continue
        text = part.get("text")
        if not isinstance(text, str) or not text:
            continue
        masked = unit.check(text, j)
        if masked is not None:
            parts = parts if parts is not None else list(content)
            parts[j] = {**part, "text": masked}
    return parts


def _checked_tool_calls(calls: Any, unit: _Unit) -> list[Any] | None:
    """Assistant tool-call arguments are text sent upstream too: masked, never judged."""
    if not isinstance(calls, list):
        return None
    out: list[Any] | None = None
    for k, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping):
            continue
        args = fn.get("arguments")
        if not isinstance(args, str) or not args:
            continue
        masked = unit.check(args, -1 - k, role="assistant")
        if masked is not None:
            out = out if out is not None else list(calls)
            out[k] = {**call, "function": {**fn, "arguments": masked}}
    return out


class ChatGuard:
    """The guard a ChatService holds: the global configuration and a cached policy per tenant."""

    def __init__(self, config: GuardConfig | None = None, *, cache_size: int = 1024) -> None:
        self.config = config or GuardConfig()
        # Checks that no tenant override changes are built once and lent to every tenant's pipeline.
        names = {n for layer in self.config.layers for n in layer} - {"policy"}
        self._shared: dict[str, Check] = {n: build_check(n, self.config) for n in names}
        self.default = GuardPolicy(None, GuardPipeline(self.config, self._shared))
        self._cached = lru_cache(maxsize=cache_size)(self._build)

    @classmethod
    def from_file(cls, path: str | Path | None) -> ChatGuard:
        return cls(GuardConfig.from_yaml(path) if path else None)

    def policy_for(self, tenant: str | None, overrides: Overrides = None) -> GuardPolicy:
        """The policy of `tenant`: the global configuration with `overrides` (a GuardOverrides, its
        dict, or its JSON as stored) on top. Cached per (tenant, overrides); invalid overrides raise
        pydantic.ValidationError."""
        return self._cached(tenant, _key(overrides))

    def _build(self, tenant: str | None, key: str) -> GuardPolicy:
        overrides = GuardOverrides.model_validate_json(key) if key else GuardOverrides()
        if overrides.empty:
            return GuardPolicy(tenant, self.default.pipeline)
        config = self.config.with_overrides(tenant, overrides)
        return GuardPolicy(tenant, GuardPipeline(config, self._shared))


def _key(overrides: Overrides) -> str:
    """The cache key: the overrides' JSON, parsed only when the policy is first built."""
    if not overrides:
        return ""
    if isinstance(overrides, GuardOverrides):
        return overrides.model_dump_json()
    if isinstance(overrides, bytes):
        return overrides.decode("utf-8")
    if isinstance(overrides, str):
        return overrides
    return json.dumps(overrides, sort_keys=True)
