"""Micro-batching of concurrent embedding calls: many callers, one model call per batch.

Natural batching, no timer: a single worker thread takes the first waiting text, drains whatever else is
queued (up to `max_batch`), embeds them in one call, and resolves every caller's future. A lone request
pays only the hand-off (tens of microseconds); under load, requests that arrive while a batch runs form
the next one, so throughput grows with concurrency instead of serialising on the model. Callers may be
threads (FastAPI's pool for sync routes) or coroutines (`await batcher.aembed(text)`).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import weakref
from concurrent.futures import Future

import numpy as np

from nexus.embeddings.base import Embedder

_STOP = object()


class EmbeddingBatcher:
    def __init__(self, embedder: Embedder, max_batch: int = 64) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def submit(self, text: str) -> Future[np.ndarray]:
        self._ensure_started()
        future: Future[np.ndarray] = Future()
        self._queue.put((text, future))
        return future

    def embed_one(self, text: str) -> np.ndarray:
        return self.submit(text).result()

    async def aembed(self, text: str) -> np.ndarray:
        return await asyncio.wrap_future(self.submit(text))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="nexus-embed-batcher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)  # finish this batch, then stop
                    break
                batch.append(item)
            self._process(batch)

    def _process(self, batch: list[object]) -> None:
        texts = [item[0] for item in batch]  # type: ignore[index]
        futures: list[Future[np.ndarray]] = [item[1] for item in batch]  # type: ignore[index]
        try:
            vectors = self.embedder.embed(texts)
        except BaseException as exc:  # every waiting caller gets the failure; the worker keeps running
            for future in futures:
                future.set_exception(exc)
            return
        self.batches += 1
        self.items += len(batch)
        for future, vector in zip(futures, vectors, strict=True):
            future.set_result(vector)


_shared: weakref.WeakKeyDictionary[Embedder, EmbeddingBatcher] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_batcher(embedder: Embedder) -> EmbeddingBatcher:
    """One batcher (one worker thread) per embedder, however many routers a process rebuilds over it."""
    with _shared_lock:
        batcher = _shared.get(embedder)
        if batcher is None:
            batcher = _shared[embedder] = EmbeddingBatcher(embedder)
        return batcher
