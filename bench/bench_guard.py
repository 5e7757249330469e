"""Guard benchmark: prompt-injection detection rate at benign FPR <= 1%, and per-check latency.

The detection threshold is tuned on the dev split and reported on the test split (never tuned on).
Run: .venv/bin/python bench/bench_guard.py [--show-errors]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from nexus.guard import GuardConfig, GuardContext, GuardPipeline
from nexus.guard.checks.injection import InjectionCheck
from nexus.guard.registry import build_check

DATA = Path(__file__).resolve().parents[1] / "src" / "nexus" / "guard" / "data"
MAX_FPR = 0.01


def load(name: str) -> list[dict[str, object]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def rates(pos: list[float], neg: list[float], threshold: float) -> tuple[float, float]:
    tpr = sum(s >= threshold for s in pos) / len(pos)
    fpr = sum(s >= threshold for s in neg) / len(neg)
    return tpr, fpr


def tune(pos: list[float], negatives: list[list[float]]) -> float:
    """Lowest threshold whose dev FPR stays within MAX_FPR on every benign source (benchmark prompts
    and the tricky authored ones alike): the highest detection rate that bound allows."""
    candidates = sorted({round(s, 4) for s in pos + [x for neg in negatives for x in neg]} | {1.0})
    for t in candidates:
        if t > 0 and all(rates(pos, neg, t)[1] <= MAX_FPR for neg in negatives):
            return t
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    injection = load("injection.jsonl")
    benign = load("benign_authored.jsonl") + load("benign_llmrouter.jsonl")
    check = InjectionCheck()

    def scores(rows: list[dict[str, object]], split: str) -> list[tuple[float, dict[str, object]]]:
        return [(check.score(str(r["text"])), r) for r in rows if r["split"] == split]

    dev_pos, dev_neg = scores(injection, "dev"), scores(benign, "dev")
    test_pos, test_neg = scores(injection, "test"), scores(benign, "test")
    by_source = [
        [s for s, r in dev_neg if r["source"] == "authored"],
        [s for s, r in dev_neg if r["source"] != "authored"],
    ]
    tuned = tune([s for s, _ in dev_pos], by_source)
    configured = check.config.medium

    print(
        f"sets: injection dev={len(dev_pos)} test={len(test_pos)}; benign dev={len(dev_neg)} test={len(test_neg)}"
    )
    print(
        f"threshold tuned on dev (FPR<={MAX_FPR:.0%}): {tuned:.3f}; configured default (InjectionConfig.medium): {configured:.3f}"
    )
    for label, pos, neg in (("dev", dev_pos, dev_neg), ("test", test_pos, test_neg)):
        for name, t in (("tuned", tuned), ("configured", configured)):
            tpr, fpr = rates([s for s, _ in pos], [s for s, _ in neg], t)
            print(f"  {label:4s} @{name:10s} {t:.3f}: detection={tpr:.1%}  FPR={fpr:.2%}")
    authored_test = [s for s, r in test_neg if r["source"] == "authored"]
    tpr, fpr = rates([s for s, _ in test_pos], authored_test, configured)
    print(
        f"  test, tricky authored benign only: FPR={fpr:.2%} ({sum(s >= configured for s in authored_test)}/{len(authored_test)})"
    )

    if args.show_errors:
        for s, r in dev_pos:
            if s < configured:
                print(f"MISS {s:.2f} {str(r['text'])[:110]!r}")
        for s, r in dev_neg:
            if s >= configured:
                print(f"FP   {s:.2f} {str(r['text'])[:110]!r}")

    sample = [str(r["text"]) for r in (injection + benign)[::7]]
    config = GuardConfig()
    ctx = GuardContext()
    print(f"latency over {len(sample)} texts (mean / p95 per text):")
    for name in ("injection", "pii", "secrets", "policy"):
        c = build_check(name, config)
        times = []
        for text in sample:
            t0 = time.perf_counter()
            c.scan(text, ctx)
            times.append((time.perf_counter() - t0) * 1e6)
        times.sort()
        print(f"  {name:10s} {statistics.mean(times):8.1f} us  {times[int(len(times) * 0.95)]:8.1f} us")
    pipe = GuardPipeline(config)
    t0 = time.perf_counter()
    for text in sample:
        pipe.check(text, ctx)
    print(f"  pipeline   {(time.perf_counter() - t0) / len(sample) * 1e6:8.1f} us mean")


if __name__ == "__main__":
    main()
