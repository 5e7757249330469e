"""The model catalogue: YAML on disk → typed, validated models.

An invalid file raises CatalogueError naming the entry and the field, so a reload can refuse it
and keep the running catalogue.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nexus.config.agents import AUTO_MODEL, AgentEntry

DOMAINS = ("code", "math", "reasoning", "knowledge", "writing", "finance", "conversation")
# What a model can do beyond plain chat; routing only sends a request to a model that has what it needs.
CAPABILITIES = ("tools", "json", "vision", "audio_in", "audio_out", "fine_tuning")
# An entry whose capabilities are only these serves /v1/audio/* and is never given a chat turn.
AUDIO_CAPABILITIES = frozenset({"audio_in", "audio_out"})
DEFAULT_CAPABILITIES = ("tools", "json")
ROLE_NAMES = ("classifier", "self_answer", "default", "aggregator", "judge", "escalation", "compressor")


class CatalogueError(ValueError):
    """The catalogue file is unreadable or invalid; the message names the entry and field."""


TENANT_TAG = "tenant:"


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="the name clients send")
    provider: str = Field(min_length=1, description="adapter name in the provider registry")
    model: str = Field(min_length=1, description="the upstream model name")
    base_url: str | None = None
    api_key_env: str | None = None
    input_price_per_mtok: float = Field(ge=0)
    output_price_per_mtok: float = Field(ge=0)
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=4096, gt=0)
    tags: tuple[str, ...] = ()
    prototypes: tuple[str, ...] = ()
    # Ordered fallback chain: ids of other catalogue entries.
    fallbacks: tuple[str, ...] = ()
    # Typical latency, used by the demo provider and as the router's prior before observations.
    latency_ms: float = Field(default=800.0, ge=0)
    tokens_per_s: float = Field(default=150.0, gt=0)
    description: str = ""
    # Extra HTTP headers for the upstream (e.g. OpenRouter's HTTP-Referer).
    headers: dict[str, str] = Field(default_factory=dict)
    # Set on the demo view of a catalogue: every answer is simulated.
    simulated: bool = False
    # Most chat models take tools and JSON output; say `capabilities: []` for one that takes neither.
    capabilities: tuple[str, ...] = DEFAULT_CAPABILITIES

    @field_validator("capabilities")
    @classmethod
    def _known_capabilities(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in v if c not in CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown capabilities {unknown} (known: {', '.join(CAPABILITIES)})")
        return v

    @property
    def chat(self) -> bool:
        """False for an audio-only entry (transcription or speech): routing never picks it."""
        return not self.capabilities or not set(self.capabilities) <= AUDIO_CAPABILITIES

    @property
    def owner(self) -> str | None:
        """The tenant a tenant model (a fine-tune, tagged `tenant:<id>`) belongs to; None if shared."""
        for tag in self.tags:
            if tag.startswith(TENANT_TAG):
                return tag[len(TENANT_TAG) :]
        return None

    def visible_to(self, tenant: str | None) -> bool:
        """Shared models are everyone's; a tenant model is its tenant's only."""
        return self.owner is None or self.owner == tenant

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_price_per_mtok + completion_tokens * self.output_price_per_mtok
        ) / 1e6

    @property
    def blended_price(self) -> float:
        """Price per million tokens at a typical 3:1 input:output mix."""
        return 0.75 * self.input_price_per_mtok + 0.25 * self.output_price_per_mtok


class RoutingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    knn_k: int = Field(default=5, ge=1)
    similarity_threshold: float = Field(default=0.35, ge=-1, le=1)
    cost_lambda: float = Field(default=0.5, ge=0)
    sticky: bool = True


class PipelineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge_threshold: float = Field(default=7.0, ge=1, le=10)
    max_parallel_workers: int = Field(default=4, ge=1)
    subtask_timeout_s: float = Field(default=60.0, gt=0)
    single_expert: str = Field(default="passthrough", pattern="^(passthrough|enhance)$")
    keep_last_turns: int = Field(default=6, ge=1)
    qa_retries: int = Field(default=1, ge=0)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry]
    roles: dict[str, str] = Field(default_factory=dict)
    # Worker per domain; a domain missing here uses roles.default.
    workers: dict[str, str] = Field(default_factory=dict)
    # Expert system prompts per domain (configuration, not code).
    experts: dict[str, str] = Field(default_factory=dict)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    # Tool-calling agents (nexus.agents); tenants add their own through the API.
    agents: list[AgentEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Catalogue:
        ids = [m.id for m in self.models]
        seen: set[str] = set()
        for i, mid in enumerate(ids):
            if mid in seen:
                raise ValueError(f"models[{i}] (id={mid!r}).id: duplicate id")
            seen.add(mid)
        for i, m in enumerate(self.models):
            for fb in m.fallbacks:
                if fb not in seen:
                    raise ValueError(f"models[{i}] (id={m.id!r}).fallbacks: unknown model id {fb!r}")
        for section, mapping in (("roles", self.roles), ("workers", self.workers)):
            for key, mid in mapping.items():
                if mid not in seen:
                    raise ValueError(f"{section}.{key}: unknown model id {mid!r}")
        for key in self.workers:
            if key not in DOMAINS:
                raise ValueError(f"workers.{key}: unknown domain (expected one of {', '.join(DOMAINS)})")
        agent_names: set[str] = set()
        for i, a in enumerate(self.agents):
            if a.name in agent_names:
                raise ValueError(f"agents[{i}] (name={a.name!r}).name: duplicate agent name")
            agent_names.add(a.name)
            if a.model != AUTO_MODEL and a.model not in seen:
                raise ValueError(f"agents[{i}] (name={a.name!r}).model: unknown model id {a.model!r}")
            entry = self.get(a.model)
            if entry is not None and "tools" not in entry.capabilities:
                raise ValueError(f"agents[{i}] (name={a.name!r}).model: {a.model!r} does not take tools")
        return self

    def agent(self, name: str) -> AgentEntry | None:
        return next((a for a in self.agents if a.name == name), None)

    def get(self, model_id: str) -> ModelEntry | None:
        for m in self.models:
            if m.id == model_id:
                return m
        return None

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def role(self, name: str) -> str:
        """The model id for a role; falls back to the default role, then the first model."""
        return self.roles.get(name) or self.roles.get("default") or self.models[0].id

    def with_capability(self, capability: str) -> list[str]:
        return [m.id for m in self.models if capability in m.capabilities]

    def worker_for(self, domain: str) -> str:
        return self.workers.get(domain) or self.role("default")

    def demo_view(self) -> Catalogue:
        """The same catalogue served entirely by simulated models (offline demo)."""
        models = [
            m.model_copy(update={"provider": "demo", "simulated": True, "fallbacks": ()}) for m in self.models
        ]
        return self.model_copy(update={"models": models})


def _format_validation_error(err: ValidationError, raw: dict[str, Any]) -> str:
    parts = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            idx = loc[1]
            entry = raw.get("models", [])[idx] if isinstance(raw.get("models"), list) else None
            name = entry.get("id") if isinstance(entry, dict) else None
            field = ".".join(str(x) for x in loc[2:]) or "(entry)"
            where = f"models[{idx}]" + (f" (id={name!r})" if name else "") + f".{field}"
        else:
            where = ".".join(str(x) for x in loc) or "(catalogue)"
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
            if not loc:
                parts.append(msg)
                continue
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "models" not in raw:
        raise CatalogueError(f"{source}: expected a mapping with a top-level 'models:' list")
    if not isinstance(raw["models"], list) or not raw["models"]:
        raise CatalogueError(f"{source}: 'models:' must be a non-empty list")
    try:
        return Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"{source}: {_format_validation_error(exc, raw)}") from None


def default_catalogue_path() -> Path:
    return Path(str(resources.files("nexus.config") / "default_catalogue.yaml"))


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    p = Path(path) if path else default_catalogue_path()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{p}: cannot read catalogue: {exc.strerror or exc}") from None
    return parse_catalogue(text, str(p))
