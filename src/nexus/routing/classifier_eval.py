"""Leave-one-source-out evaluation of the domain classifier: the figure that says whether it generalises.

For every shippable source: fit on all other training data, predict that source. Sources that may not
train the shipped weights (non-commercial, unclear licences) are never trained on, so they are predicted
by the model fitted on everything shippable. The authored, multilingual and generated prompts are always
trained on; their held-out twins (suites written by other hands, never trained on) are reported beside.
The out-of-fold logits also calibrate the shipped model (temperature, `uncertain` threshold).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nexus.routing.classifier_model import DomainModel, fit, fit_temperature, sample_weights
from nexus.routing.corpus import ALWAYS_TRAINED, SHIPPABLE, Example
from nexus.routing.keywords import DOMAINS

Advance = Callable[[], None]
# Target share of predictions flagged `uncertain`: the calibrated probability below which this share of
# held-out predictions falls becomes the threshold.
UNCERTAIN_SHARE = 0.08


def scores(truth: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    per_label = {}
    for label in DOMAINS:
        idx = [i for i, t in enumerate(truth) if t == label]
        if idx:
            per_label[label] = {"n": len(idx), "accuracy": sum(pred[i] == label for i in idx) / len(idx)}
    confusion = Counter(zip(truth, pred, strict=True))
    return {
        "n": len(truth),
        "accuracy": sum(t == p for t, p in zip(truth, pred, strict=True)) / max(len(truth), 1),
        "per_label": per_label,
        "confusion": {f"{t}->{p}": n for (t, p), n in sorted(confusion.items())},
    }


@dataclass
class LosoResult:
    per_source: dict[str, dict[str, Any]]
    pooled: dict[str, Any]
    logits: np.ndarray  # out-of-fold logits of the shippable held-out rows
    truth: np.ndarray  # their class indices
    classes: tuple[str, ...]
    eval_only: list[str] = field(default_factory=list)

    @property
    def macro(self) -> float:
        return float(np.mean([s["accuracy"] for s in self.per_source.values()])) if self.per_source else 0.0


def leave_one_source_out(
    train_x: np.ndarray,
    train: Sequence[Example],
    eval_x: np.ndarray | None = None,
    evaluation: Sequence[Example] = (),
    *,
    embedder: str = "",
    advance: Advance | None = None,
    **fit_kwargs: Any,
) -> LosoResult:
    sources = np.array([e.source for e in train])
    labels = [e.domain for e in train]
    weights = sample_weights(train)
    held = sorted({s for s in sources if s not in ALWAYS_TRAINED and s in SHIPPABLE})
    per_source: dict[str, dict[str, Any]] = {}
    truth_all: list[str] = []
    pred_all: list[str] = []
    logits: list[np.ndarray] = []
    truth_idx: list[int] = []
    classes: tuple[str, ...] = ()
    for source in held:
        test = sources == source
        model = fit(
            train_x[~test], [labels[i] for i in np.flatnonzero(~test)], weights[~test], embedder, **fit_kwargs
        )
        classes = model.classes
        out = model.logits(train_x[test])
        guessed = [model.classes[i] for i in out.argmax(axis=1)]
        truth = [labels[i] for i in np.flatnonzero(test)]
        per_source[source] = scores(truth, guessed)
        truth_all += truth
        pred_all += guessed
        logits.append(out)
        truth_idx += [model.classes.index(t) for t in truth]  # type: ignore[arg-type]
        if advance:
            advance()
    eval_only: list[str] = []
    if evaluation and eval_x is not None:
        full = fit(train_x, labels, weights, embedder, **fit_kwargs)
        classes = full.classes
        ev_sources = np.array([e.source for e in evaluation])
        guessed_all = [full.classes[i] for i in full.logits(eval_x).argmax(axis=1)]
        for source in sorted(set(ev_sources)):
            idx = [int(i) for i in np.flatnonzero(ev_sources == source)]
            truth = [evaluation[i].domain for i in idx]
            guessed = [guessed_all[i] for i in idx]
            per_source[source] = scores(truth, guessed)
            truth_all += truth
            pred_all += guessed
            eval_only.append(source)
        if advance:
            advance()
    return LosoResult(
        per_source=per_source,
        pooled=scores(truth_all, pred_all),
        logits=np.vstack(logits) if logits else np.zeros((0, len(classes))),
        truth=np.array(truth_idx, dtype=np.int64),
        classes=classes,
        eval_only=eval_only,
    )


def calibrate(model: DomainModel, result: LosoResult, share: float = UNCERTAIN_SHARE) -> dict[str, float]:
    """Set the model's temperature (NLL on out-of-fold logits) and its `uncertain` threshold (the
    calibrated top probability below which `share` of held-out predictions fall). Returns the figures."""
    if not len(result.truth):
        return {}
    model.temperature = fit_temperature(result.logits, result.truth)
    z = result.logits / model.temperature
    z -= z.max(axis=1, keepdims=True)
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    top = proba.max(axis=1)
    correct = proba.argmax(axis=1) == result.truth
    model.uncertain_below = float(np.quantile(top, share))
    unsure = top < model.uncertain_below
    return {
        "temperature": model.temperature,
        "uncertain_below": model.uncertain_below,
        "uncertain_share": float(unsure.mean()),
        "accuracy_when_sure": float(correct[~unsure].mean()) if (~unsure).any() else 0.0,
        "accuracy_when_uncertain": float(correct[unsure].mean()) if unsure.any() else 0.0,
        "expected_calibration_error": expected_calibration_error(top, correct),
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(float(correct[inside].mean()) - float(confidence[inside].mean()))
    return float(total)
