"""Embedders: MiniLM matches sentence-transformers, hashing is deterministic, the cache and the remote backend."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from nexus.embeddings import CachedEmbedder, HashingEmbedder, MiniLMEmbedder, OpenAIEmbedder
from nexus.routing.base import Embedder, EmbedderError

TEXTS = ["How do I reverse a list in Python?", "Write a poem about the sea.", "hello"]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    # The shared per-user cache: the ONNX export happens once per machine, not once per test run.
    return MiniLMEmbedder()


def test_minilm_is_close_to_sentence_transformers(minilm: MiniLMEmbedder) -> None:
    from sentence_transformers import SentenceTransformer

    from nexus.embeddings.minilm import model_dir

    reference = SentenceTransformer(str(model_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    ours = minilm.embed(TEXTS)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    # Whichever precision was measured faster, the vectors stay close to the fp32 model's.
    assert float((ours * reference).sum(axis=1).min()) > 0.97
    assert isinstance(minilm, Embedder)


def test_precision_is_chosen_by_measurement(minilm: MiniLMEmbedder) -> None:
    minilm.embed(["load"])
    timings = minilm.precision_timings_ms
    assert {key.split("/")[0] for key in timings} == {"fp32", "int8"}
    chosen = f"{minilm.precision}/{minilm.threads}t"
    assert timings[chosen] == min(timings.values())


def test_budget_view_shares_the_model_and_keeps_head_and_tail(minilm: MiniLMEmbedder) -> None:
    short = minilm.budgeted(24)
    assert short.max_tokens == 24 and short.name == minilm.name
    short.embed(["x"])
    assert short.precision == minilm.precision  # one loaded model, not a second one
    base = "alpha " * 3000 + "how do I fix this python error?"
    middle_changed = "alpha " * 1500 + "zebra " * 20 + "alpha " * 1480 + "how do I fix this python error?"
    end_changed = "alpha " * 3000 + "write me a poem about the sea"
    a, b, c = short.embed([base, middle_changed, end_changed])
    assert float(a @ b) > 0.999  # the middle of a long paste is not read
    assert float(a @ c) < 0.98  # the ask at the end is


def test_minilm_batch_equals_single(minilm: MiniLMEmbedder) -> None:
    batch = minilm.embed(TEXTS)
    single = np.vstack([minilm.embed([t]) for t in TEXTS])
    # Dynamic int8 quantisation scales activations per batch: close, not bit-identical.
    assert float((batch * single).sum(axis=1).min()) > 0.95


def test_hashing_is_deterministic_and_normalised() -> None:
    a, b = HashingEmbedder(64).embed(TEXTS), HashingEmbedder(64).embed(TEXTS)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert float(a[0] @ a[1]) < 0.9


def test_cache_reuses_vectors() -> None:
    calls: list[list[str]] = []

    class Counting(HashingEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            calls.append(texts)
            return super().embed(texts)

    cached = CachedEmbedder(Counting(32), max_entries=2)
    first = cached.embed(["a b", "c d", "a b"])
    assert calls == [["a b", "c d"]]
    assert np.array_equal(cached.embed(["c d"])[0], first[1]) and len(calls) == 1


def test_openai_backend_over_loopback_shape(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["authorization"] == "Bearer k"
        data = [{"index": i, "embedding": [3.0, 4.0]} for i, _ in enumerate(body["input"])]
        return httpx.Response(200, json={"data": data})

    embedder = OpenAIEmbedder(
        "http://127.0.0.1:9/v1", "m", api_key="k", transport=httpx.MockTransport(handler)
    )
    assert np.allclose(embedder.embed(["x", "y"]), [[0.6, 0.8], [0.6, 0.8]])
    failing = OpenAIEmbedder(
        "http://127.0.0.1:9/v1", "m", transport=httpx.MockTransport(lambda r: httpx.Response(500))
    )
    with pytest.raises(EmbedderError):
        failing.embed(["x"])
