"""Evaluating a learned router where it matters: on task families it was never fitted on.

Routing outcome data (dcrouter) is a concatenation of benchmarks; rows of one benchmark are near-copies of
each other in style, so a random k-fold split measures memorisation of the family, not routing. Here a
whole family is held out at a time (`leave_family_out`). When the data has no family column, families
are inferred (`infer_families`): each prompt takes the benchmark label of its nearest labelled prompts,
smoothed along the file order (the file is stored family by family).

Metrics: the cost–quality curve as λ sweeps; the price at which the router matches the best single
model's mean score; and binary routing (strong vs weak model) APGR and CPT(x) as RouteLLM defines them
(Ong et al. 2024: CPT(50 %) is the smallest share of calls to the strong model that recovers half of
the quality gap between the weak and the strong model).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nexus.routing.policy import choices_for_lambdas

FitPredict = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (x_train, y_train, x_test) -> pred


def infer_families(
    x: np.ndarray, ref_x: np.ndarray, ref_labels: Sequence[str], k: int = 10, window: int = 31
) -> list[str]:
    """Nearest-neighbour benchmark label per row, then the majority label in a window along the order."""
    labels = np.asarray(ref_labels)
    raw: list[str] = []
    for start in range(0, x.shape[0], 512):
        sims = x[start : start + 512] @ ref_x.T
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        raw += [Counter(labels[row].tolist()).most_common(1)[0][0] for row in idx]
    half = window // 2
    return [Counter(raw[max(0, i - half) : i + half + 1]).most_common(1)[0][0] for i in range(len(raw))]


def leave_family_out(
    x: np.ndarray, y: np.ndarray, families: Sequence[str], fit_predict: FitPredict
) -> np.ndarray:
    """Predictions for every row from a model fitted without any row of its family."""
    fam = np.asarray(families)
    pred = np.empty_like(y, dtype=np.float64)
    for name in sorted(set(fam)):
        test = fam == name
        pred[test] = fit_predict(x[~test], y[~test], x[test])
    return pred


@dataclass(frozen=True)
class Curve:
    lambdas: np.ndarray
    quality: np.ndarray  # mean true score of the routed choices, per λ
    price: np.ndarray  # mean price of the routed choices, per λ


def cost_quality_curve(pred: np.ndarray, y: np.ndarray, price: np.ndarray) -> Curve:
    lambdas = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 160)])
    picks = choices_for_lambdas(pred, price / price.max(), lambdas)
    rows = np.arange(len(y))[None, :]
    return Curve(lambdas, y[rows, picks].mean(axis=1), price[picks].mean(axis=1))


def price_to_match(curve: Curve, target_quality: float) -> float:
    """The lowest mean price at which the curve reaches `target_quality` (inf if it never does)."""
    hit = curve.quality >= target_quality - 1e-9
    return float(curve.price[hit].min()) if hit.any() else float("inf")


def quality_at_price(curve: Curve, max_price: float) -> float:
    within = curve.price <= max_price + 1e-12
    return float(curve.quality[within].max()) if within.any() else float("nan")


def pgr_curve(y_strong: np.ndarray, y_weak: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PGR at every share of calls to strong when prompts go to strong in `order` (most deserving first)."""
    n = len(order)
    gain = np.concatenate([[0.0], np.cumsum((y_strong - y_weak)[order])])
    q = (y_weak.sum() + gain) / n
    fractions = np.arange(n + 1) / n
    return fractions, (q - y_weak.mean()) / (y_strong.mean() - y_weak.mean())


def apgr_cpt(fractions: np.ndarray, pgr: np.ndarray) -> tuple[float, float, float]:
    """Area under the PGR curve, CPT(50 %) and CPT(80 %) (shares of calls to the strong model)."""
    apgr = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(fractions)))

    def cpt(target: float) -> float:
        hit = np.flatnonzero(pgr >= target)
        return float(fractions[hit[0]]) if hit.size else float("nan")

    return apgr, cpt(0.5), cpt(0.8)


def binary_routing(pred: np.ndarray, y: np.ndarray, strong: int, weak: int) -> tuple[float, float, float]:
    order = np.argsort(-(pred[:, strong] - pred[:, weak]), kind="stable")
    return apgr_cpt(*pgr_curve(y[:, strong], y[:, weak], order))
