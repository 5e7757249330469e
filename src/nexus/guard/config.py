"""Guard configuration: which checks run, what each (category, risk) pair makes the guard do, and the
per-tenant overrides laid on top of the global configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus.guard.types import Action, Risk

# The categories the checks report; overrides naming anything else are rejected (a typo must not
# silently leave the default in force).
CATEGORIES = ("prompt_injection", "pii", "secret", "policy")

ActionTable = dict[str, dict[Risk, Action]]


def _default_actions() -> ActionTable:
    # Secrets and PII are masked before any upstream sees them; injection is flagged (audited, still
    # answered: blocking is a tenant's choice); policy topics escalate to block at high risk.
    return {
        "prompt_injection": {Risk.low: Action.allow, Risk.medium: Action.flag, Risk.high: Action.flag},
        "pii": {Risk.low: Action.allow, Risk.medium: Action.mask, Risk.high: Action.mask},
        "secret": {Risk.low: Action.mask, Risk.medium: Action.mask, Risk.high: Action.mask},
        "policy": {Risk.low: Action.allow, Risk.medium: Action.flag, Risk.high: Action.block},
    }


class TopicRule(BaseModel):
    """A blocked topic: any keyword (whole words, case-insensitive) or regex match raises `risk`."""

    name: str
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    risk: Risk = Risk.high


class InjectionConfig(BaseModel):
    # Score thresholds (noisy-or of pattern weights, 0..1). `medium` is the detection threshold,
    # tuned on the dev split so benign prompts stay under 1% false positives (see bench/bench_guard.py).
    low: float = 0.3
    medium: float = 0.58
    high: float = 0.85
    decode_payloads: bool = True


def _check_categories(value: ActionTable) -> ActionTable:
    unknown = sorted(set(value) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown guard categories {unknown}; known: {list(CATEGORIES)}")
    return value


class GuardOverrides(BaseModel):
    """A tenant's changes to the global guard configuration, stored by the caller as JSON.

    `actions` replaces single (category, risk) cells, e.g. `{"prompt_injection": {"high": "block"}}`;
    `blocked_topics` are added to the global ones; `allowed_models`, when set, limits the tenant to
    those model ids ("*" allows every model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: ActionTable = Field(
        default_factory=dict, json_schema_extra={"propertyNames": {"enum": list(CATEGORIES)}}
    )
    blocked_topics: list[TopicRule] = Field(default_factory=list)
    allowed_models: list[str] | None = None

    @field_validator("actions")
    @classmethod
    def _known_categories(cls, value: ActionTable) -> ActionTable:
        return _check_categories(value)

    @property
    def empty(self) -> bool:
        return not self.actions and not self.blocked_topics and self.allowed_models is None


class GuardConfig(BaseModel):
    # Checks run in layers: a later layer is skipped once an earlier one blocks.
    layers: list[list[str]] = Field(default_factory=lambda: [["policy"], ["secrets", "pii"], ["injection"]])
    actions: ActionTable = Field(default_factory=_default_actions)
    injection: InjectionConfig = Field(default_factory=InjectionConfig)
    # PII kinds to report (email, phone, card, iban, ssn, nino); empty means all.
    pii_kinds: list[str] = Field(default_factory=list)
    blocked_topics: list[TopicRule] = Field(default_factory=list)
    # tenant -> allowed model ids ("*" entries allow everything); tenants not listed are unrestricted.
    allowed_models: dict[str, list[str]] = Field(default_factory=dict)
    # Characters a StreamGuard holds back so a secret split across chunks is seen whole.
    stream_window: int = 96

    @field_validator("actions")
    @classmethod
    def _merge_defaults(cls, value: ActionTable) -> ActionTable:
        # A YAML file naming one cell (`secret: {high: block}`) keeps the defaults for the others.
        merged = _default_actions()
        for category, table in value.items():
            merged.setdefault(category, {}).update(table)
        return merged

    def action_for(self, category: str, risk: Risk) -> Action:
        table = self.actions.get(category)
        if table is None:
            # An unknown category is treated like a policy finding: never silently allowed at high risk.
            table = _default_actions()["policy"]
        return table.get(risk, Action.allow)

    def with_overrides(self, tenant: str | None, overrides: GuardOverrides) -> GuardConfig:
        """This configuration with a tenant's overrides on top (a new object; self is unchanged)."""
        if overrides.empty:
            return self
        actions = {c: dict(t) for c, t in self.actions.items()}
        for category, table in overrides.actions.items():
            actions.setdefault(category, {}).update(table)
        allowed = dict(self.allowed_models)
        if overrides.allowed_models is not None and tenant is not None:
            allowed[tenant] = list(overrides.allowed_models)
        return self.model_copy(
            update={
                "actions": actions,
                "blocked_topics": [*self.blocked_topics, *overrides.blocked_topics],
                "allowed_models": allowed,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuardConfig:
        return cls.model_validate(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> GuardConfig:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.model_validate(data)
