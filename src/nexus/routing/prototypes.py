"""Prototype queries per model: one float32 matrix, changed at run time, persisted as an overlay.

The catalogue's `prototypes:` lists are the base; run-time additions and removals are kept in
`<data_dir>/router/prototypes.json` ({"added": {model: [text]}, "removed": {model: [text]}}), so the
catalogue file stays hand-written and a restart sees the same prototypes.

Readers take a snapshot (views of the first n rows) under the lock and then search without it: rows are
appended into spare capacity, never overwritten in place, so a snapshot stays valid while writers work.
Removal builds new arrays (copy-on-write): it is rare. Above 20k prototypes searches go through an
approximate index (`nexus.routing.ann`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nexus.config.catalogue import Catalogue
from nexus.routing.ann import PrototypeIndex
from nexus.routing.base import Embedder


class PrototypeError(ValueError):
    """Unknown model, empty text, or a prototype that does not exist."""


@dataclass(frozen=True)
class Snapshot:
    matrix: np.ndarray  # (n, dim) float32, L2-normalised rows
    labels: np.ndarray  # (n,) int32 index into models
    texts: Sequence[str]  # may be longer than n: use indices < len(self) only
    models: tuple[str, ...]
    version: int = 0  # bumped when rows are removed (appends keep it): approximate indexes key on it
    index: PrototypeIndex | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


class PrototypeStore:
    def __init__(self, models: list[str], embedder: Embedder, overlay_path: Path | None = None) -> None:
        self._models = tuple(models)
        self._index = {m: i for i, m in enumerate(models)}
        self._embedder = embedder
        self._overlay_path = overlay_path
        self._lock = threading.RLock()
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self._labels = np.zeros(0, dtype=np.int32)
        self._texts: list[str] = []
        self._n = 0
        self._added: dict[str, list[str]] = {}
        self._removed: dict[str, list[str]] = {}
        self._version = 0
        self.index = PrototypeIndex()

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_catalogue(
        cls, catalogue: Catalogue, embedder: Embedder, overlay_path: Path | None = None
    ) -> PrototypeStore:
        store = cls(catalogue.ids, embedder, overlay_path)
        overlay = _read_overlay(overlay_path)
        store._added = {m: list(t) for m, t in overlay.get("added", {}).items() if m in store._index}
        store._removed = {m: list(t) for m, t in overlay.get("removed", {}).items() if m in store._index}
        pairs: list[tuple[str, str]] = []
        for entry in catalogue.models:
            gone = set(store._removed.get(entry.id, ()))
            pairs += [(entry.id, t) for t in entry.prototypes if t not in gone]
        for model, texts in store._added.items():
            pairs += [(model, t) for t in texts]
        store.add_many(pairs, persist=False)
        return store

    # -- reading ------------------------------------------------------------------------------------
    @property
    def models(self) -> tuple[str, ...]:
        return self._models

    def snapshot(self) -> Snapshot:
        with self._lock:
            n = self._n
            # The texts list itself, not a copy (O(1) at 100k rows): it is only appended to in place,
            # so indices < n stay valid; removal swaps in a new list.
            return Snapshot(
                self._matrix[:n], self._labels[:n], self._texts, self._models, self._version, self.index
            )

    def prepare_index(self) -> None:
        """Build the approximate index now (it otherwise builds in the background on first use)."""
        snap = self.snapshot()
        self.index.prepare(snap.matrix, snap.version)

    def entries(self, model: str | None = None) -> list[tuple[str, str]]:
        """(model, text) pairs, optionally for one model."""
        if model is not None:
            self._check_model(model)
        with self._lock:
            pairs = [
                (self._models[int(i)], t) for i, t in zip(self._labels[: self._n], self._texts, strict=True)
            ]
        return [p for p in pairs if model is None or p[0] == model]

    def count(self, model: str) -> int:
        self._check_model(model)
        with self._lock:
            return int(np.count_nonzero(self._labels[: self._n] == self._index[model]))

    # -- writing ------------------------------------------------------------------------------------
    def add(self, model: str, text: str) -> None:
        self.add_many([(model, text)])

    def add_many(
        self, pairs: list[tuple[str, str]], vectors: np.ndarray | None = None, *, persist: bool = True
    ) -> None:
        """Add (model, text) prototypes; `vectors` skips embedding (bulk loads and benchmarks)."""
        if not pairs:
            return
        for model, text in pairs:
            self._check_model(model)
            if not text.strip():
                raise PrototypeError("prototype text must not be empty")
        vecs = self._embedder.embed([t for _, t in pairs]) if vectors is None else vectors
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        labels = np.fromiter((self._index[m] for m, _ in pairs), dtype=np.int32, count=len(pairs))
        with self._lock:
            self._reserve(self._n + len(pairs))
            self._matrix[self._n : self._n + len(pairs)] = vecs
            self._labels[self._n : self._n + len(pairs)] = labels
            self._texts.extend(t for _, t in pairs)
            self._n += len(pairs)
            if persist:
                for model, text in pairs:
                    self._note_added(model, text)
                self._save()

    def remove(self, model: str, text: str | None = None, index: int | None = None) -> str:
        """Remove one prototype of `model` by exact text or by its index in `entries(model)`; returns the text."""
        self._check_model(model)
        with self._lock:
            rows = [r for r in range(self._n) if self._labels[r] == self._index[model]]
            if index is not None:
                if not 0 <= index < len(rows):
                    raise PrototypeError(f"model {model!r} has no prototype #{index} (it has {len(rows)})")
                row = rows[index]
            else:
                matches = [r for r in rows if self._texts[r] == text]
                if not matches:
                    raise PrototypeError(f"model {model!r} has no prototype {text!r}")
                row = matches[0]
            removed = self._texts[row]
            keep = np.ones(self._n, dtype=bool)
            keep[row] = False
            self._matrix = self._matrix[: self._n][keep].copy()
            self._labels = self._labels[: self._n][keep].copy()
            self._texts = [t for r, t in enumerate(self._texts) if r != row]
            self._n -= 1
            self._version += 1
            self._note_removed(model, removed)
            self._save()
            return removed

    # -- internals ----------------------------------------------------------------------------------
    def _check_model(self, model: str) -> None:
        if model not in self._index:
            raise PrototypeError(f"unknown model id {model!r}")

    def _reserve(self, need: int) -> None:
        if need <= self._matrix.shape[0]:
            return
        cap = max(need, 2 * self._matrix.shape[0], 64)
        matrix = np.zeros((cap, self._matrix.shape[1] or self._embedder.dim), dtype=np.float32)
        labels = np.zeros(cap, dtype=np.int32)
        matrix[: self._n] = self._matrix[: self._n]
        labels[: self._n] = self._labels[: self._n]
        self._matrix, self._labels = matrix, labels

    def _note_added(self, model: str, text: str) -> None:
        removed = self._removed.get(model, [])
        if text in removed:  # re-adding a removed catalogue prototype just cancels the removal
            removed.remove(text)
        else:
            self._added.setdefault(model, []).append(text)

    def _note_removed(self, model: str, text: str) -> None:
        added = self._added.get(model, [])
        if text in added:
            added.remove(text)
        else:
            self._removed.setdefault(model, []).append(text)

    def _save(self) -> None:
        if self._overlay_path is None:
            return
        self._overlay_path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "added": {m: t for m, t in self._added.items() if t},
            "removed": {m: t for m, t in self._removed.items() if t},
        }
        tmp = self._overlay_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self._overlay_path)  # atomic: a crash never leaves half a file


def _read_overlay(path: Path | None) -> dict[str, dict[str, list[str]]]:
    if path is None or not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PrototypeError(f"{path}: unreadable prototype overlay: {exc}") from None
    out: dict[str, dict[str, list[str]]] = {}
    for key in ("added", "removed"):
        section = raw.get(key, {}) if isinstance(raw, dict) else {}
        out[key] = {
            str(m): [str(t) for t in texts] for m, texts in section.items() if isinstance(texts, list)
        }
    return out


def overlay_path(data_dir: Path) -> Path:
    return data_dir / "router" / "prototypes.json"
