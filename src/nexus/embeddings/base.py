"""The Embedder seam: texts → L2-normalised float32 vectors. Routing and retrieval both embed through it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Texts → L2-normalised float32 vectors, shape (len(texts), dim)."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class EmbedderError(RuntimeError):
    """The embedding backend failed; callers fall back (e.g. the keyword classifier)."""
