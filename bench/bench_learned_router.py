"""Learned router on dcrouter_train (5,130 prompts × 9 models), 5-fold out-of-fold predictions.

Prints: mean score vs mean price as λ sweeps, beside every single model and the per-prompt oracle;
whether the best single model's score is reached at ≤ 50% of its price; and binary routing (strongest
vs cheapest) APGR / CPT(50%) / CPT(80%) as defined by RouteLLM (Ong et al. 2024), beside a random router.
Saves bench/out/learned_router.png. Embeddings are cached under <NEXUS_DATA_DIR>/router/embeddings.
Run: python bench/bench_learned_router.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from nexus.config import get_settings
from nexus.embeddings.shared import get_embedder
from nexus.routing.dataset import read_outcomes, read_prices
from nexus.routing.learned import CANDIDATES, cross_validate, embed_cached, out_of_fold_predictions
from nexus.routing.policy import choices_for_lambdas

DATA = Path(os.environ.get("NEXUS_DCROUTER_DIR", "/work/shared/datasets/routing"))
OUT = Path(__file__).parent / "out"


def pgr_curve(y_strong: np.ndarray, y_weak: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PGR at every % of calls to strong when prompts are sent to strong in `order` (most deserving first)."""
    n = len(order)
    gain = np.concatenate([[0.0], np.cumsum((y_strong - y_weak)[order])])
    q = (y_weak.sum() + gain) / n  # mean quality with the first i prompts on strong
    fractions = np.arange(n + 1) / n
    return fractions, (q - y_weak.mean()) / (y_strong.mean() - y_weak.mean())


def apgr_cpt(fractions: np.ndarray, pgr: np.ndarray) -> tuple[float, float, float]:
    apgr = float(np.sum((pgr[1:] + pgr[:-1]) / 2 * np.diff(fractions)))

    def cpt(x: float) -> float:
        hit = np.flatnonzero(pgr >= x)
        return float(fractions[hit[0]]) if hit.size else float("nan")

    return apgr, cpt(0.5), cpt(0.8)


def main() -> int:
    outcomes = read_outcomes(DATA / "dcrouter_train.jsonl")
    prices_all = read_prices(DATA / "dcrouter_models.json")
    models = outcomes.models
    price = np.array([prices_all[m] for m in models])
    y = outcomes.scores.astype(np.float64)
    embedder = get_embedder()
    t0 = time.perf_counter()
    x = embed_cached(embedder, outcomes.prompts, get_settings().data_dir / "router" / "embeddings")
    print(
        f"{len(y)} prompts × {len(models)} models; embedder {embedder.name}; embed {time.perf_counter() - t0:.1f}s"
    )

    t0 = time.perf_counter()
    table = cross_validate(x, outcomes.scores, CANDIDATES)
    print(f"\n5-fold CV of candidates ({time.perf_counter() - t0:.1f}s):")
    for row in table:
        print(f"  {row['candidate'].label:24s} mse {row['mse']:.4f}  routed score {row['routed_score']:.4f}")
    best = max(table, key=lambda r: (r["routed_score"], -r["mse"]))["candidate"]
    pred = out_of_fold_predictions(x, outcomes.scores, best).astype(np.float64)
    print(f"using {best.label}")

    print("\nsingle models (mean score, blended $/Mtok):")
    singles = [(m, float(y[:, i].mean()), float(price[i])) for i, m in enumerate(models)]
    for m, q, p in sorted(singles, key=lambda s: -s[1]):
        print(f"  {m:34s} {q:.4f}  ${p:.3f}")
    best_model, best_q, best_p = max(singles, key=lambda s: s[1])
    # Oracle: per prompt the best score, and the cheapest model reaching it.
    oracle_idx = np.lexsort((price[None, :].repeat(len(y), 0).T, -y.T), axis=0)[0]
    oracle_q, oracle_p = float(y.max(axis=1).mean()), float(price[oracle_idx].mean())
    print(f"  {'per-prompt oracle':34s} {oracle_q:.4f}  ${oracle_p:.3f}")

    cost_norm = price / price.max()
    lambdas = np.concatenate([[0.0], np.geomspace(1e-3, 10.0, 120)])
    picks = choices_for_lambdas(pred, cost_norm, lambdas)
    curve_q = y[np.arange(len(y))[None, :], picks].mean(axis=1)
    curve_p = price[picks].mean(axis=1)
    print("\nλ sweep (router mean score, mean $/Mtok):")
    for i in range(0, len(lambdas), 12):
        print(f"  λ={lambdas[i]:8.4f}  score {curve_q[i]:.4f}  price ${curve_p[i]:.3f}")
    within = curve_p <= 0.5 * best_p
    best_half = float(curve_q[within].max()) if within.any() else float("nan")
    met = bool(within.any() and best_half >= best_q)
    print(
        f"\ntarget: {best_model}'s score {best_q:.4f} at ≤ 50% of its price (${0.5 * best_p:.3f}): "
        f"best router score within that price {best_half:.4f} → {'MET' if met else 'NOT met'}"
    )
    at_best = np.flatnonzero(curve_q >= best_q)
    if at_best.size:
        cheapest = at_best[np.argmin(curve_p[at_best])]
        print(
            f"  cheapest router point reaching {best_q:.4f}: ${curve_p[cheapest]:.3f} "
            f"({100 * curve_p[cheapest] / best_p:.0f}% of its price), λ={lambdas[cheapest]:.4f}"
        )

    # Binary routing: strongest (best mean score) vs cheapest model.
    s = int(np.argmax(y.mean(axis=0)))
    w = int(np.lexsort((-y.mean(axis=0), price))[0])
    print(
        f"\nbinary routing: strong={models[s]} ({y[:, s].mean():.4f}), weak={models[w]} ({y[:, w].mean():.4f})"
    )
    f, pgr = pgr_curve(y[:, s], y[:, w], np.argsort(-(pred[:, s] - pred[:, w]), kind="stable"))
    apgr, c50, c80 = apgr_cpt(f, pgr)
    rng = np.random.default_rng(0)
    rand = [apgr_cpt(*pgr_curve(y[:, s], y[:, w], rng.permutation(len(y)))) for _ in range(20)]
    r_apgr, r50, r80 = (float(np.nanmean([r[i] for r in rand])) for i in range(3))
    print(f"  learned router: APGR {apgr:.3f}  CPT(50%) {100 * c50:.1f}%  CPT(80%) {100 * c80:.1f}%")
    print(f"  random router:  APGR {r_apgr:.3f}  CPT(50%) {100 * r50:.1f}%  CPT(80%) {100 * r80:.1f}%")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    a1.plot(curve_p, curve_q, "-", label="learned router (λ sweep)")
    for m, q, p in singles:
        a1.scatter([p], [q], marker="o")
        a1.annotate(m, (p, q), fontsize=7)
    a1.scatter([oracle_p], [oracle_q], marker="*", s=120, label="oracle")
    a1.set_xlabel("mean price, $/Mtok (blended)")
    a1.set_ylabel("mean score")
    a1.set_title("dcrouter 5-fold: cost vs quality")
    a1.legend()
    a2.plot(100 * f, pgr, label=f"learned (APGR {apgr:.3f})")
    a2.plot([0, 100], [0, 1], "--", label=f"random (APGR {r_apgr:.3f})")
    a2.set_xlabel(f"% calls to {models[s]}")
    a2.set_ylabel("PGR")
    a2.set_title(f"binary: {models[s]} vs {models[w]}")
    a2.legend()
    fig.tight_layout()
    fig.savefig(OUT / "learned_router.png", dpi=110)
    print(f"chart: {OUT / 'learned_router.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
