"""Micro-batching of concurrent embedding calls: many callers, one model call per batch.

Flat combining, no worker thread and no timer: a caller whose text is not embedded yet and finds no batch
running becomes the runner, takes everything queued (up to `max_batch`, its own text included), embeds it
in one call in its own thread, and wakes the others. A lone request therefore runs exactly as an unbatched
call would (no hand-off to another thread, which on a busy machine can cost a scheduling slice); under
load, requests that arrive while a batch runs form the next one, so throughput grows with concurrency
instead of serialising on the model. Coroutines use `aembed`, which runs the same path in a thread.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from nexus.embeddings.base import Embedder


@dataclass
class _Item:
    text: str
    vector: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = field(default=False)


class EmbeddingBatcher:
    def __init__(self, embedder: Embedder, max_batch: int = 64) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self._pending: deque[_Item] = deque()
        self._cond = threading.Condition()
        self._running = False
        self._executor: ThreadPoolExecutor | None = None
        self.batches = 0
        self.items = 0

    def embed_one(self, text: str) -> np.ndarray:
        item = _Item(text)
        with self._cond:
            self._pending.append(item)
            while not item.done:
                if self._running:
                    self._cond.wait()
                    continue
                self._running = True
                batch = [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
                self._cond.release()
                try:
                    self._process(batch)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        assert item.vector is not None
        return item.vector

    async def aembed(self, text: str) -> np.ndarray:
        # Its own pool: the loop's default one has cpu+4 threads, which would cap the batch size at that.
        if self._executor is None:
            with self._cond:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.max_batch, thread_name_prefix="nexus-embed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.embed_one, text)

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0

    def _process(self, batch: list[_Item]) -> None:
        try:
            vectors = self.embedder.embed([item.text for item in batch])
        except BaseException as exc:  # every caller in the batch gets the failure; later batches still run
            for item in batch:
                item.error, item.done = exc, True
            return
        self.batches += 1
        self.items += len(batch)
        for item, vector in zip(batch, vectors, strict=True):
            item.vector, item.done = vector, True


_shared: weakref.WeakKeyDictionary[Embedder, EmbeddingBatcher] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_batcher(embedder: Embedder) -> EmbeddingBatcher:
    """One batcher per embedder, however many routers a process rebuilds over it."""
    with _shared_lock:
        batcher = _shared.get(embedder)
        if batcher is None:
            batcher = _shared[embedder] = EmbeddingBatcher(embedder)
        return batcher
