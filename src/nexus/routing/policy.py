"""The routing policy: quality − λ·cost (− a little latency, − recent failures), over available models only.

Cost is normalised to the most expensive model in the catalogue, so λ reads as "how many points of
expected quality the most expensive model must earn over a free one to be worth it". λ is set directly or
calibrated on recent traffic to a target share of calls to the strongest model or a budget per 1k requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from nexus.config.catalogue import ModelEntry

# A typical chat request, used to turn per-token prices into a per-request figure.
TYPICAL_PROMPT_TOKENS = 500
TYPICAL_COMPLETION_TOKENS = 300


class NoModelAvailableError(RuntimeError):
    """Every candidate model is unavailable or excluded by the request's allowed list."""


def cost_per_1k_requests(entry: ModelEntry) -> float:
    return 1000.0 * entry.cost(TYPICAL_PROMPT_TOKENS, TYPICAL_COMPLETION_TOKENS)


class LatencyTracker:
    """Exponentially weighted moving average of observed latency per model (thread-safe).

    Catalogue latencies are the prior until the first observation, which replaces it outright.
    """

    def __init__(self, priors: Mapping[str, float] | None = None, alpha: float = 0.2) -> None:
        self._alpha = alpha
        self._priors = dict(priors or {})
        self._ewma: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, model: str, ms: float) -> None:
        if ms < 0:
            return
        with self._lock:
            prev = self._ewma.get(model)
            self._ewma[model] = ms if prev is None else (1 - self._alpha) * prev + self._alpha * ms

    def get(self, model: str) -> float | None:
        with self._lock:
            return self._ewma.get(model, self._priors.get(model))

    def observed(self, model: str) -> bool:
        with self._lock:
            return model in self._ewma


class ErrorTracker:
    """Exponentially weighted failure rate per model, from live calls (thread-safe). 0 until observed."""

    def __init__(self, alpha: float = 0.2) -> None:
        self._alpha = alpha
        self._rate: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, model: str, failed: bool) -> None:
        with self._lock:
            prev = self._rate.get(model, 0.0)
            self._rate[model] = (1 - self._alpha) * prev + self._alpha * (1.0 if failed else 0.0)

    def get(self, model: str) -> float:
        with self._lock:
            return self._rate.get(model, 0.0)

    def rates(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rate)


@dataclass(frozen=True)
class Utility:
    model: str
    quality: float
    cost_norm: float
    latency_norm: float
    value: float


def utilities(
    quality: Mapping[str, float],
    cost_norm: Mapping[str, float],
    latency_norm: Mapping[str, float],
    candidates: Iterable[str],
    cost_lambda: float,
    latency_weight: float,
    error_rate: Mapping[str, float] | None = None,
    error_weight: float = 0.0,
) -> list[Utility]:
    """Utility of every candidate, best first (ties keep candidate order, i.e. catalogue order).
    A model failing live calls loses `error_weight` × its recent failure rate."""
    rows = []
    errors = error_rate or {}
    for m in candidates:
        q, c, lat = quality.get(m, 0.0), cost_norm.get(m, 0.0), latency_norm.get(m, 0.0)
        value = q - cost_lambda * c - latency_weight * lat - error_weight * errors.get(m, 0.0)
        rows.append(Utility(m, q, c, lat, value))
    return sorted(rows, key=lambda u: -u.value)


def normalise(values: Mapping[str, float]) -> dict[str, float]:
    top = max(values.values(), default=0.0)
    return {m: (v / top if top > 0 else 0.0) for m, v in values.items()}


LAMBDA_GRID = np.concatenate([[0.0], np.geomspace(1e-3, 100.0, 500)])


def choices_for_lambdas(
    quality: np.ndarray, cost_norm: np.ndarray, lambdas: np.ndarray = LAMBDA_GRID
) -> np.ndarray:
    """(L,) λ values × (n, m) quality, (m,) cost → (L, n) index of the chosen model per prompt."""
    out = np.empty((len(lambdas), quality.shape[0]), dtype=np.int64)
    for i, lam in enumerate(lambdas):  # a loop keeps memory at (n, m) for large traffic samples
        out[i] = np.argmax(quality - lam * cost_norm[None, :], axis=1)
    return out


def calibrate_lambda(
    quality: np.ndarray,
    cost_norm: np.ndarray,
    *,
    strongest: int | None = None,
    strong_fraction: float | None = None,
    costs_per_1k: np.ndarray | None = None,
    budget_per_1k: float | None = None,
    lambdas: np.ndarray = LAMBDA_GRID,
) -> float:
    """The smallest λ whose decisions on this traffic meet the target.

    quality: (n, m) expected quality of each model for each recent prompt; cost_norm: (m,).
    Target (a): at most `strong_fraction` of calls go to model index `strongest`.
    Target (b): mean cost of the chosen models, per 1k requests, at most `budget_per_1k` (needs costs_per_1k).
    The smallest such λ gives the most quality the target allows; if none meets it, the largest λ.
    """
    if (strong_fraction is None) == (budget_per_1k is None):
        raise ValueError("give exactly one target: strong_fraction or budget_per_1k")
    if quality.ndim != 2 or quality.shape[0] == 0:
        raise ValueError("calibration needs a non-empty (n_prompts, n_models) quality matrix")
    picks = choices_for_lambdas(quality, cost_norm, lambdas)
    if strong_fraction is not None:
        if strongest is None:
            strongest = int(np.argmax(cost_norm))
        ok = (picks == strongest).mean(axis=1) <= strong_fraction
    else:
        if costs_per_1k is None:
            raise ValueError("a budget target needs costs_per_1k")
        ok = costs_per_1k[picks].mean(axis=1) <= float(budget_per_1k or 0.0)
    hits = np.flatnonzero(ok)
    return float(lambdas[hits[0]] if hits.size else lambdas[-1])
