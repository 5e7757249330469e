"""Which agents a tenant can use: the catalogue's (read-only, every tenant) and its own (created
through the API, stored per tenant). A name is unique across both for a tenant."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from nexus.agents.errors import AgentExists, AgentNotFound, InvalidAgent, ReadOnlyAgent
from nexus.agents.ports import AgentDefinitionStore
from nexus.config.agents import AUTO_MODEL, AgentEntry

Origin = Literal["catalogue", "tenant"]


@dataclass(frozen=True, slots=True)
class AgentInfo:
    spec: AgentEntry
    origin: Origin
    created_at: datetime | None = None

    @property
    def trusted(self) -> bool:
        """Catalogue agents are operator configuration: they may use stdio MCP servers and files."""
        return self.origin == "catalogue"


class AgentDirectory:
    def __init__(
        self,
        catalogue: Callable[[], Sequence[AgentEntry]],
        stored: AgentDefinitionStore,
        *,
        tool_models: Callable[[], Collection[str]],
    ) -> None:
        self._catalogue = catalogue
        self._stored = stored
        # Catalogue ids of the models that take tools.
        self._tool_models = tool_models

    def _builtin(self, name: str) -> AgentEntry | None:
        return next((a for a in self._catalogue() if a.name == name), None)

    async def list(self, tenant: str) -> list[AgentInfo]:
        out = [AgentInfo(a, "catalogue") for a in self._catalogue()]
        for row in await self._stored.list(tenant):
            spec = _load(row.spec)
            if spec is not None:
                out.append(AgentInfo(spec, "tenant", row.created_at))
        return out

    async def find(self, tenant: str, name: str) -> AgentInfo | None:
        builtin = self._builtin(name)
        if builtin is not None:
            return AgentInfo(builtin, "catalogue")
        row = await self._stored.get(tenant, name)
        spec = _load(row.spec) if row is not None else None
        return AgentInfo(spec, "tenant", row.created_at) if spec is not None and row is not None else None

    async def get(self, tenant: str, name: str) -> AgentInfo:
        info = await self.find(tenant, name)
        if info is None:
            raise AgentNotFound(f"agent {name!r} not found")
        return info

    def check_model(self, spec: AgentEntry) -> None:
        if spec.model != AUTO_MODEL and spec.model not in self._tool_models():
            raise InvalidAgent(
                f"model {spec.model!r} is not a catalogue model that takes tools "
                f"(use {AUTO_MODEL!r} or one with the `tools` capability)"
            )

    async def create(self, tenant: str, spec: AgentEntry, *, actor: str = "") -> AgentInfo:
        if self._builtin(spec.name) is not None:
            raise AgentExists(f"agent {spec.name!r} already exists (in the catalogue)")
        self.check_model(spec)
        row = await self._stored.create(tenant, spec.name, spec.model_dump(mode="json"), actor=actor)
        if row is None:
            raise AgentExists(f"agent {spec.name!r} already exists")
        return AgentInfo(spec, "tenant", row.created_at)

    async def delete(self, tenant: str, name: str) -> None:
        if self._builtin(name) is not None:
            raise ReadOnlyAgent(f"agent {name!r} is defined in the catalogue; change it there")
        if not await self._stored.remove(tenant, name):
            raise AgentNotFound(f"agent {name!r} not found")


def _load(raw: dict[str, object]) -> AgentEntry | None:
    try:
        return AgentEntry.model_validate(raw)
    except ValidationError:  # written by an older version with other fields: skip, don't crash listings
        return None
