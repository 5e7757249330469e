"""Micro-batching: concurrent callers share model calls and each gets its own vector; a lone call runs
in its own thread; failures reach the callers of that batch only."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from nexus.embeddings import HashingEmbedder
from nexus.routing.batching import EmbeddingBatcher


class SlowCounting(HashingEmbedder):
    """Each call takes a few milliseconds, like a model, and records its batch size."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[int] = []
        self.fail_next = False
        self._gate = threading.Event()

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        self._gate.wait(0.005)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model down")
        return super().embed(texts)


def test_concurrent_callers_share_batches_and_get_their_own_vectors() -> None:
    inner = SlowCounting()
    batcher = EmbeddingBatcher(inner, max_batch=16)
    texts = [f"prompt number {i}" for i in range(64)]
    with ThreadPoolExecutor(32) as pool:
        vectors = list(pool.map(batcher.embed_one, texts))
    reference = HashingEmbedder(64).embed(texts)
    assert np.allclose(np.stack(vectors), reference)  # every caller got the vector of its own text
    assert sum(inner.calls) == 64
    assert len(inner.calls) < 64 and max(inner.calls) > 1  # fewer model calls than requests
    assert max(inner.calls) <= 16


def test_a_lone_call_runs_in_the_callers_thread() -> None:
    seen: list[str] = []

    class Where(HashingEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:
            seen.append(threading.current_thread().name)
            return super().embed(texts)

    EmbeddingBatcher(Where(16)).embed_one("alone")
    assert seen == [threading.current_thread().name]  # no hand-off to another thread


def test_failure_reaches_the_waiting_callers_and_later_batches_run() -> None:
    inner = SlowCounting()
    batcher = EmbeddingBatcher(inner)
    inner.fail_next = True
    with pytest.raises(RuntimeError, match="model down"):
        batcher.embed_one("first")
    assert batcher.embed_one("second").shape == (64,)


async def test_coroutines_await_the_same_batches() -> None:
    inner = SlowCounting()
    batcher = EmbeddingBatcher(inner)
    vectors = await asyncio.gather(*(batcher.aembed(f"q{i}") for i in range(20)))
    assert np.allclose(np.stack(vectors), HashingEmbedder(64).embed([f"q{i}" for i in range(20)]))
    assert len(inner.calls) < 20
