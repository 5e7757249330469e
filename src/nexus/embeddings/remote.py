"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (sync httpx: the seam is sync)."""

from __future__ import annotations

import httpx
import numpy as np

from nexus.embeddings.base import EmbedderError


class OpenAIEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int = 0,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        # 0 = learn the dimension from the first response.
        self.dim = dim
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            response = self._client.post("/embeddings", json={"model": self.model, "input": texts})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"embedding endpoint failed: {exc}") from exc
        if matrix.shape[0] != len(texts):
            raise EmbedderError(
                f"embedding endpoint returned {matrix.shape[0]} vectors for {len(texts)} texts"
            )
        self.dim = matrix.shape[1]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-12)

    def close(self) -> None:
        self._client.close()
