"""Labelled routing outcomes (JSONL) and model prices: strict readers whose errors name the line.

A training line is {"id": str, "prompt": str, "scores": {"<model id>": float in [0, 1], ...}}.
Every line must score the same set of models, so the learned router predicts a full score vector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class RoutingDataError(ValueError):
    """A training/prediction file or a prices file is malformed; the message names the line or model."""


@dataclass(frozen=True)
class OutcomeSet:
    ids: list[str]
    prompts: list[str]
    models: list[str]
    scores: np.ndarray  # (n_prompts, n_models) float32 in [0, 1]


@dataclass(frozen=True)
class Prompt:
    id: str
    prompt: str


def _read_json_lines(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingDataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    rows: list[tuple[int, dict[str, object]]] = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends, which splitlines breaks on.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RoutingDataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise RoutingDataError(f"{path}:{lineno}: expected a JSON object")
        rows.append((lineno, obj))
    if not rows:
        raise RoutingDataError(f"{path}: no data lines")
    return rows


def _prompt_fields(path: Path, lineno: int, obj: dict[str, object]) -> Prompt:
    pid, prompt = obj.get("id"), obj.get("prompt")
    if not isinstance(pid, str | int) or isinstance(pid, bool):
        raise RoutingDataError(f"{path}:{lineno}: 'id' must be a string")
    if not isinstance(prompt, str) or not prompt.strip():
        raise RoutingDataError(f"{path}:{lineno}: 'prompt' must be a non-empty string")
    return Prompt(id=str(pid), prompt=prompt)


def read_prompts(path: Path | str) -> list[Prompt]:
    """Prediction input: {"id", "prompt"} per line (extra keys such as "scores" are ignored)."""
    p = Path(path)
    return [_prompt_fields(p, lineno, obj) for lineno, obj in _read_json_lines(p)]


def read_outcomes(path: Path | str, known_models: set[str] | None = None) -> OutcomeSet:
    """Read a labelled training file; `known_models` (e.g. the prices file's) rejects any other model id."""
    p = Path(path)
    ids: list[str] = []
    prompts: list[str] = []
    rows: list[list[float]] = []
    models: list[str] | None = None
    first_line = 0
    for lineno, obj in _read_json_lines(p):
        item = _prompt_fields(p, lineno, obj)
        scores = obj.get("scores")
        if not isinstance(scores, dict) or not scores:
            raise RoutingDataError(f"{p}:{lineno}: 'scores' must be a non-empty object of model id -> float")
        for model, value in scores.items():
            if known_models is not None and model not in known_models:
                raise RoutingDataError(f"{p}:{lineno}: unknown model id {model!r} (not in the prices file)")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= float(value) <= 1.0
            ):
                raise RoutingDataError(
                    f"{p}:{lineno}: score for {model!r} must be a number in [0, 1], got {value!r}"
                )
        if models is None:
            models, first_line = sorted(scores), lineno
        elif set(scores) != set(models):
            extra = sorted(set(scores) - set(models))
            missing = sorted(set(models) - set(scores))
            raise RoutingDataError(
                f"{p}:{lineno}: model ids differ from line {first_line}"
                + (f"; unexpected {extra}" if extra else "")
                + (f"; missing {missing}" if missing else "")
            )
        ids.append(item.id)
        prompts.append(item.prompt)
        rows.append([float(scores[m]) for m in models])
    assert models is not None  # _read_json_lines guarantees at least one row
    if known_models is not None:
        unused = sorted(known_models - set(models))
        if unused:
            raise RoutingDataError(f"{p}: prices file names model(s) {unused} that the data never scores")
    return OutcomeSet(ids=ids, prompts=prompts, models=models, scores=np.asarray(rows, dtype=np.float32))


def read_prices(path: Path | str) -> dict[str, float]:
    """Prices file {model: {input_price_per_mtok, output_price_per_mtok, ...}} → blended USD per Mtok."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingDataError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise RoutingDataError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(raw, dict) or not raw:
        raise RoutingDataError(f"{p}: expected an object of model id -> prices")
    prices: dict[str, float] = {}
    for model, entry in raw.items():
        try:
            inp = float(entry["input_price_per_mtok"])
            out = float(entry["output_price_per_mtok"])
        except (TypeError, KeyError, ValueError):
            raise RoutingDataError(
                f"{p}: model {model!r} needs numeric input_price_per_mtok and output_price_per_mtok"
            ) from None
        if inp < 0 or out < 0:
            raise RoutingDataError(f"{p}: model {model!r} has a negative price")
        prices[model] = blended_price(inp, out)
    return prices


def blended_price(input_per_mtok: float, output_per_mtok: float) -> float:
    """USD per million tokens at a typical 3:1 input:output mix (as ModelEntry.blended_price)."""
    return 0.75 * input_per_mtok + 0.25 * output_per_mtok
