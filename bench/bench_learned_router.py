"""Learned router on dcrouter_train (5,130 prompts × 9 models), evaluated on task families it never saw.

Every dcrouter prompt is one of the LLMRouter benchmark prompts, so its family is its benchmark
(src/nexus/routing/data/llmrouter_train.jsonl). Each candidate is fitted 12 times, each time without one
whole family, and predicts that family; the pooled out-of-family predictions give:
- the cost–quality curve as λ sweeps, beside every single model and the per-prompt oracle;
- the price at which the router matches the best single model's mean score (target: ≤ 50 % of its price);
- binary routing (best model vs the cheapest) APGR, CPT(50 %), CPT(80 %) as RouteLLM defines them;
and, for comparison, the same router under random 5-fold CV (families on both sides).
Saves bench/out/learned_router.png. Embeddings are cached in NEXUS_CACHE_DIR (~/.cache/nexus).
Run: python bench/bench_learned_router.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from nexus.config.artifacts import cache_root
from nexus.embeddings.cache import embedder_key
from nexus.embeddings.shared import get_routing_embedder
from nexus.routing import learned_eval as le
from nexus.routing.corpus import load_packaged
from nexus.routing.dataset import read_outcomes, read_prices
from nexus.routing.learned import CANDIDATES, Candidate, LearnedRouter, embed_cached, fold_indices

DATA = Path(os.environ.get("NEXUS_DCROUTER_DIR", "/work/shared/datasets/routing"))
OUT = Path(__file__).parent / "out"


def fit_predict(cand: Candidate) -> le.FitPredict:
    def run(xt: np.ndarray, yt: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return LearnedRouter._fit_one(xt, yt, [], cand, "", None).predict(xs).astype(np.float64)

    return run


def constant(xt: np.ndarray, yt: np.ndarray, xs: np.ndarray) -> np.ndarray:
    return np.tile(yt.mean(axis=0), (len(xs), 1)).astype(np.float64)


def main() -> int:
    outcomes = read_outcomes(DATA / "dcrouter_train.jsonl")
    prices = read_prices(DATA / "dcrouter_models.json")
    models = outcomes.models
    price = np.array([prices[m] for m in models])
    y = outcomes.scores.astype(np.float64)
    embedder = get_routing_embedder()
    t0 = time.perf_counter()
    x = embed_cached(embedder, outcomes.prompts, cache_root() / "embeddings" / embedder_key(embedder))
    source = {e.prompt: e.source for e in load_packaged(["llmrouter_train.jsonl"])}
    families = [source.get(p, "unknown") for p in outcomes.prompts]
    print(
        f"{len(y)} prompts × {len(models)} models, {len(set(families))} families; "
        f"embedder {embedder_key(embedder)} ({time.perf_counter() - t0:.1f}s)"
    )
    best = int(np.argmax(y.mean(axis=0)))
    weak = int(np.argmin(price))
    best_q, best_p = float(y[:, best].mean()), float(price[best])
    print("\nsingle models (mean score, blended $/Mtok):")
    for i in np.argsort(-y.mean(axis=0)):
        print(f"  {models[i]:34s} {y[:, i].mean():.4f}  ${price[i]:.3f}")
    print(f"  {'per-prompt oracle':34s} {y.max(axis=1).mean():.4f}")

    results: dict[str, np.ndarray] = {"constant (no prompt)": le.leave_family_out(x, y, families, constant)}
    for cand in CANDIDATES:
        results[cand.label] = le.leave_family_out(x, y, families, fit_predict(cand))
    labels = list(results)
    for i, a in enumerate(labels[1:], start=1):
        for b in labels[i + 1 :]:
            results[f"mean({a}, {b})"] = (results[a] + results[b]) / 2

    print(f"\nleave-one-family-out (target: {models[best]}'s {best_q:.4f} at ≤ ${best_p / 2:.3f}):")
    print(
        f"  {'candidate':48s} {'$ to match':>10s} {'q @ ≤50%':>9s} {'APGR':>6s} {'CPT50':>6s} {'CPT80':>6s}"
    )
    rows = []
    for name, pred in results.items():
        curve = le.cost_quality_curve(pred, y, price)
        apgr, c50, c80 = le.binary_routing(pred, y, best, weak)
        rows.append(
            (name, le.price_to_match(curve, best_q), le.quality_at_price(curve, best_p / 2), apgr, c50, c80)
        )
    rows.sort(key=lambda r: (-r[2], r[1]))
    for name, p, q, apgr, c50, c80 in rows[:12]:
        print(f"  {name[:48]:48s} {p:10.3f} {q:9.4f} {apgr:6.3f} {100 * c50:5.1f}% {100 * c80:5.1f}%")
    chosen = rows[0][0]
    pred = results[chosen]
    curve = le.cost_quality_curve(pred, y, price)
    per_family = []
    for fam in sorted(set(families)):
        sel = np.array([f == fam for f in families])
        c = le.cost_quality_curve(pred[sel], y[sel], price)
        per_family.append((fam, float(y[sel, best].mean()), le.quality_at_price(c, best_p / 2)))
    print(f"\nper held-out family, {chosen}: best model's score vs router's best at ≤ 50 % of its price")
    for fam, b, r in per_family:
        print(f"  {fam:16s} {b:.3f} vs {r:.3f} {'✓' if r >= b else ''}")

    random_pred = np.empty_like(y)
    singles = {c.label: c for c in CANDIDATES}
    cand = singles[next(r[0] for r in rows if r[0] in singles)]  # the best single candidate
    for test in fold_indices(len(y), 5):
        train = np.setdiff1d(np.arange(len(y)), test)
        random_pred[test] = fit_predict(cand)(x[train], y[train], x[test])
    rc = le.cost_quality_curve(random_pred, y, price)
    print(
        f"\nsame router ({cand.label}) under random 5-fold CV (families on both sides): matches {best_q:.4f} at "
        f"${le.price_to_match(rc, best_q):.3f}; APGR {le.binary_routing(random_pred, y, best, weak)[0]:.3f}"
    )
    chart(models, price, y, curve, rc, chosen, pred, best, weak)
    return 0


def chart(models, price, y, curve, random_curve, chosen, pred, best, weak) -> None:  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5))
    a1.plot(curve.price, curve.quality, "-", label=f"{chosen} — unseen families")
    a1.plot(random_curve.price, random_curve.quality, ":", label="same, random 5-fold (seen families)")
    for i, m in enumerate(models):
        a1.scatter([price[i]], [y[:, i].mean()], marker="o")
        a1.annotate(m, (price[i], y[:, i].mean()), fontsize=7)
    a1.axvline(price[best] / 2, color="grey", lw=0.5, ls="--")
    a1.axhline(y[:, best].mean(), color="grey", lw=0.5, ls="--")
    a1.set_xlabel("mean price, $/Mtok (blended)")
    a1.set_ylabel("mean score")
    a1.set_title("dcrouter, leave-one-family-out: cost vs quality")
    a1.legend(fontsize=8)
    f, pgr = le.pgr_curve(y[:, best], y[:, weak], np.argsort(-(pred[:, best] - pred[:, weak]), kind="stable"))
    a2.plot(100 * f, pgr, label=f"learned, unseen families (APGR {le.apgr_cpt(f, pgr)[0]:.3f})")
    a2.plot([0, 100], [0, 1], "--", label="random (APGR 0.5)")
    a2.set_xlabel(f"% calls to {models[best]}")
    a2.set_ylabel("PGR")
    a2.set_title(f"binary: {models[best]} vs {models[weak]}")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "learned_router.png", dpi=110)
    plt.close(fig)
    print(f"chart: {OUT / 'learned_router.png'}")


if __name__ == "__main__":
    sys.exit(main())
