"""Guard benchmark: injection detection at benign FPR <= 1%, secret/PII false positives, latency.

Detection: the threshold is tuned on the dev split and reported on the test split (never tuned on).
False positives: secret and PII findings on the benign prompts, on 20k-character code dumps (the
Python standard library's own source) and on 20k-character synthetic service logs.
Latency: p50/p99 per layer and for the whole input guard (`GuardPolicy.check_messages` on one user
message, every layer), on ~500-character prompts, code dumps, logs and one 20k base64 blob.
Run: python bench/bench_guard.py [--show-errors] [--repeat N] [--wall]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sysconfig
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from nexus.guard import ChatGuard, GuardContext
from nexus.guard.checks.injection import InjectionCheck
from nexus.guard.checks.pii import PiiCheck
from nexus.guard.checks.policy import PolicyCheck
from nexus.guard.checks.secrets import SecretsCheck
from nexus.guard.config import GuardConfig

DATA = Path(__file__).resolve().parents[1] / "src" / "nexus" / "guard" / "data"
MAX_FPR = 0.01
DOC_CHARS = 20_000


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


def code_dumps(n: int) -> list[str]:
    """20k-character slices of real Python: the standard library's source, in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.glob("*.py"))[:80])
    return [text[i * DOC_CHARS : (i + 1) * DOC_CHARS] for i in range(n)]


def logs(n: int) -> list[str]:
    """Service logs as people paste them: timestamps, ids, hashes, IPs, JSON, a stack trace."""
    rng = random.Random(42)
    paths = ["/v1/chat/completions", "/api/health", "/v1/embeddings", "/admin/keys", "/static/app.js"]
    out = []
    for _ in range(n):
        lines: list[str] = []
        while sum(map(len, lines)) < DOC_CHARS:
            ts = f"2024-05-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
            rid, sha = uuid.UUID(int=rng.getrandbits(128)), hashlib.sha1(rng.randbytes(8)).hexdigest()
            ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
            kind = rng.random()
            if kind < 0.6:
                lines.append(
                    f'{ts} INFO  {ip} "{rng.choice(["GET", "POST"])} {rng.choice(paths)} HTTP/1.1" {rng.choice([200, 200, 201, 404, 500])} {rng.randint(80, 9000)}B {rng.random() * 900:.1f}ms req={rid} trace={sha}\n'
                )
            elif kind < 0.85:
                payload = {
                    "request_id": str(rid),
                    "model": "gpt-4o-mini",
                    "tokens": rng.randint(5, 4000),
                    "etag": sha[:32],
                }
                lines.append(f"{ts} DEBUG upstream response {json.dumps(payload)}\n")
            else:
                lines.append(
                    f"{ts} ERROR worker crashed\nTraceback (most recent call last):\n  File \"/srv/app/worker.py\", line {rng.randint(10, 900)}, in run\n    result = handler(job)\nKeyError: '{sha[:8]}'\n"
                )
        out.append("".join(lines)[:DOC_CHARS])
    return out


def timed(
    fn: Callable[[str], object], texts: list[str], repeat: int, clock: Callable[[], float]
) -> tuple[float, float]:
    for text in texts[:3]:
        fn(text)  # warm the regex caches
    samples = []
    for _ in range(repeat):
        for text in texts:
            t0 = clock()
            fn(text)
            samples.append((clock() - t0) * 1e6)
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def detection(show_errors: bool) -> None:
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
    print("== prompt injection (held-out split is `test`)")
    print(
        f"sets: injection dev={len(dev_pos)} test={len(test_pos)}; benign dev={len(dev_neg)} test={len(test_neg)}"
    )
    print(
        f"threshold tuned on dev (FPR<={MAX_FPR:.0%}): {tuned:.3f}; configured (InjectionConfig.medium): {configured:.3f}"
    )
    for label, pos, neg in (("dev", dev_pos, dev_neg), ("test", test_pos, test_neg)):
        for name, t in (("tuned", tuned), ("configured", configured)):
            tpr, fpr = rates([s for s, _ in pos], [s for s, _ in neg], t)
            print(f"  {label:4s} @{name:10s} {t:.3f}: detection={tpr:.1%}  FPR={fpr:.2%}")
    authored_test = [s for s, r in test_neg if r["source"] == "authored"]
    flagged = sum(s >= configured for s in authored_test)
    print(
        f"  test, tricky authored benign only: FPR={flagged / len(authored_test):.2%} ({flagged}/{len(authored_test)})"
    )
    if show_errors:
        for s, r in dev_pos:
            if s < configured:
                print(f"MISS {s:.2f} {str(r['text'])[:110]!r}")
        for s, r in dev_neg:
            if s >= configured:
                print(f"FP   {s:.2f} {str(r['text'])[:110]!r}")


def false_positives(sets: dict[str, list[str]]) -> None:
    print("== secret / PII findings on benign text (every secret finding here is a false positive)")
    ctx = GuardContext()
    for name, texts in sets.items():
        for check in (SecretsCheck(), PiiCheck()):
            found = [f.kind for t in texts for f in check.scan(t, ctx)]
            hit = sum(1 for t in texts if check.scan(t, ctx))
            kinds = ", ".join(sorted({f"{k}×{found.count(k)}" for k in found})) or "-"
            print(f"  {name:18s} {check.name:8s} texts with findings {hit:4d}/{len(texts):<5d} {kinds}")


def latency(sets: dict[str, list[str]], repeat: int, wall: bool) -> None:
    cfg = GuardConfig()
    ctx = GuardContext()
    layers: dict[str, Callable[[str], object]] = {
        "policy": lambda t, c=PolicyCheck(cfg): c.scan(t, ctx),
        "secrets": lambda t, c=SecretsCheck(): c.scan(t, ctx),
        "pii": lambda t, c=PiiCheck(): c.scan(t, ctx),
        "injection": lambda t, c=InjectionCheck(cfg.injection): c.scan(t, ctx),
    }
    policy = ChatGuard(cfg).policy_for("bench")
    layers["total"] = lambda t: policy.check_messages([{"role": "user", "content": t}], door="bench")
    clock = time.perf_counter if wall else time.thread_time
    what = (
        "wall-clock" if wall else "CPU time of this thread (steady under machine load; --wall for wall-clock)"
    )
    print(f"== latency in µs, p50 / p99, {what}; total = check_messages on one user message, every layer")
    print(f"  {'input':20s}" + "".join(f"{name:>20s}" for name in layers))
    for name, texts in sets.items():
        cells = []
        for fn in layers.values():
            p50, p99 = timed(fn, texts, repeat, clock)
            cells.append(f"{p50:9.1f} / {p99:8.1f}")
        size = sum(map(len, texts)) // len(texts)
        print(f"  {name + f' ({size}c)':20s}" + "".join(f"{c:>20s}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--wall", action="store_true", help="wall-clock latency instead of CPU time")
    args = parser.parse_args()

    detection(args.show_errors)
    prompts = [str(r["text"]) for r in load("benign_llmrouter.jsonl") + load("injection.jsonl")]
    short = [t for t in prompts if 350 <= len(t) <= 650][:400]
    blob = base64.b64encode(random.Random(1).randbytes(DOC_CHARS * 3 // 4)).decode()
    docs = {"prompts ~500c": short, "code dumps 20k": code_dumps(10), "logs 20k": logs(10)}
    false_positives({"benign prompts": [str(r["text"]) for r in load("benign_llmrouter.jsonl")], **docs})
    latency({**docs, "base64 blob 20k": [blob]}, args.repeat, args.wall)


if __name__ == "__main__":
    main()
