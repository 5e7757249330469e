"""Tenant models in the live catalogue: a fine-tuned model is a catalogue entry tagged `tenant:<id>`,
added to the hub when its job succeeds and again at start-up (from the `tenant_models` table).

Only its tenant sees it: `visible(tenant, model)` is what this package's doors check; the router and the
OpenAI door do not check it yet (see docs/faq.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from nexus.config.catalogue import Catalogue, ModelEntry
from nexus.providers.hub import ModelHub
from nexus.store import Store, TenantScope
from nexus.store.repos.faq import TenantModels

log = logging.getLogger("nexus.finetune")
TENANT_TAG = "tenant:"


def owner_of(entry: ModelEntry) -> str | None:
    return entry.owner


class TenantCatalogue:
    def __init__(self, hub: ModelHub) -> None:
        self.hub = hub
        self.entries: dict[str, ModelEntry] = {}
        self._installing = False
        hub.on_reload(self._reloaded)

    def install(self, entries: Iterable[ModelEntry]) -> None:
        """Add (or replace) entries in the running catalogue."""
        for e in entries:
            self.entries[e.id] = e
        self._apply()

    def _apply(self) -> None:
        cat = self.hub.catalogue
        missing = [e for e in self.entries.values() if cat.get(e.id) != e]
        if not missing:
            return
        ids = {e.id for e in missing}
        data = cat.model_dump()
        data["models"] = [m for m in data["models"] if m["id"] not in ids] + [e.model_dump() for e in missing]
        self._installing = True
        try:
            self.hub.load(Catalogue.model_validate(data))
        finally:
            self._installing = False

    def _reloaded(self, _: Catalogue) -> None:
        # A reload from the file drops tenant models: put them back once it has finished.
        if self._installing or not self.entries:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().call_soon(self._apply)

    async def load(self, store: Store) -> int:
        rows = await TenantModels(store.sessions, TenantScope.system()).list()
        entries = []
        for r in rows:
            try:
                entries.append(ModelEntry.model_validate(r.entry))
            except ValueError as exc:
                log.warning("tenant model %s not loaded: %s", r.id, exc)
        if entries:
            self.install(entries)
        return len(entries)

    def visible(self, tenant: str, model_id: str) -> bool:
        """False for a model registered for another tenant (or not in the catalogue)."""
        entry = self.hub.catalogue.get(model_id)
        if entry is None:
            return False
        owner = owner_of(entry)
        return owner is None or owner == tenant
