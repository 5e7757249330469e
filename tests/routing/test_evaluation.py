"""Evaluation code: held-out sources and families are really held out, calibration does what it says,
and the routing metrics reward a router that ranks prompts well."""

from __future__ import annotations

import numpy as np

from nexus.routing import learned_eval as le
from nexus.routing.classifier_eval import calibrate, leave_one_source_out
from nexus.routing.classifier_model import fit, sample_weights
from nexus.routing.corpus import Example
from nexus.routing.features import N_FEATURES


def _data(rng: np.random.Generator) -> tuple[np.ndarray, list[Example]]:
    # Two domains, separable along one coordinate; three benchmark sources and the authored set.
    rows, examples = [], []
    for source in ("gsm8k", "mbpp", "natural_qa", "authored"):
        for i in range(40):
            domain = "math" if i % 2 else "code"
            vec = rng.standard_normal(8 + N_FEATURES) * 0.3
            vec[0] = rng.standard_normal()  # overlapping classes: probabilities below 1 to calibrate
            vec[0] += 1.0 if domain == "math" else -1.0
            rows.append(vec)
            examples.append(Example(f"{source} {i}", domain, source))  # type: ignore[arg-type]
    return np.asarray(rows, dtype=np.float32), examples


def test_leave_one_source_out_holds_each_source_out_and_calibrates() -> None:
    rng = np.random.default_rng(0)
    x, examples = _data(rng)
    ev_x, ev = _data(np.random.default_rng(1))
    ev = [Example(e.prompt, e.domain, "sharegpt-v3") for e in ev]
    result = leave_one_source_out(x, examples, ev_x, ev)
    # Benchmarks are held out one at a time; authored prompts are always trained on; eval-only is scored.
    assert set(result.per_source) == {"gsm8k", "mbpp", "natural_qa", "sharegpt-v3"}
    assert result.eval_only == ["sharegpt-v3"]
    assert result.pooled["accuracy"] > 0.75 and result.pooled["n"] == 3 * 40 + 160
    assert result.logits.shape == (120, 2) and len(result.truth) == 120

    model = fit(x, [e.domain for e in examples], sample_weights(examples), "test")
    figures = calibrate(model, result, share=0.1)
    assert model.temperature == figures["temperature"]
    top = model.proba(x).max(axis=1)
    assert 0.5 < model.uncertain_below < 1.0 and abs(figures["uncertain_share"] - 0.1) < 0.05
    assert (top >= 0.5).all()


def test_leave_family_out_never_sees_the_family() -> None:
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.ones((6, 2))
    families = ["a", "a", "b", "b", "c", "c"]

    def fit_predict(xt: np.ndarray, yt: np.ndarray, xs: np.ndarray) -> np.ndarray:
        held = {tuple(r) for r in xs}
        assert not held & {tuple(r) for r in xt}  # no row of the held-out family in training
        assert len(xt) == 4
        return np.zeros((len(xs), 2))

    assert le.leave_family_out(x, y, families, fit_predict).shape == (6, 2)


def test_metrics_reward_a_good_ranking() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(400, 2)).astype(np.float64)  # column 0 strong? random; 1 weak
    y[:, 0] = np.maximum(y[:, 0], y[:, 1])  # the strong model never loses to the weak one
    price = np.array([1.0, 0.1])
    oracle = y.copy()
    noise = rng.random((400, 2))
    _, cpt50_oracle, _ = le.binary_routing(oracle, y, 0, 1)
    apgr_noise, cpt50_noise, _ = le.binary_routing(noise, y, 0, 1)
    assert cpt50_oracle < 0.25 < cpt50_noise
    assert 0.3 < apgr_noise < 0.7
    curve = le.cost_quality_curve(oracle, y, price)
    # The oracle reaches the strong model's quality far below its price.
    assert le.price_to_match(curve, float(y[:, 0].mean())) < 0.6 * price[0]


def test_infer_families_follows_nearest_labels_and_smooths() -> None:
    ref = np.eye(3, dtype=np.float32)
    x = np.repeat(np.eye(3, dtype=np.float32), 10, axis=0)
    x[5] = ref[2]  # one stray row inside family "a"
    families = le.infer_families(x, ref, ["a", "b", "c"], k=1, window=5)
    assert families[:10] == ["a"] * 10 and families[10:20] == ["b"] * 10
