"""`make bench`: run every benchmark in bench/ in turn; each prints its own figures.

Nothing here asserts on time: the figures go in the README's performance section.
Run one alone with `python bench/<name>.py`; `BENCH_ONLY=passthrough,routing` picks some.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ORDER = [
    "bench_passthrough",
    "bench_embed_classify",
    "bench_routing_latency",
    "bench_learned_router",
    "bench_pipeline",
    "bench_guard",
    "bench_telemetry",
]


def main() -> int:
    only = {s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()}
    scripts = [HERE / f"{name}.py" for name in ORDER if (HERE / f"{name}.py").exists()]
    scripts += sorted(p for p in HERE.glob("bench_*.py") if p.stem not in ORDER)
    failed = []
    for script in scripts:
        if only and not any(o in script.stem for o in only):
            continue
        print(f"\n=== {script.stem} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], env={**os.environ, "HF_HUB_OFFLINE": "1"})
        print(f"--- {script.stem}: exit {rc} in {time.perf_counter() - t0:.1f}s", flush=True)
        if rc:
            failed.append(script.stem)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
