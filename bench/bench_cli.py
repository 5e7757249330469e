"""CLI start-up: wall time of `nexus --help`, each command's `--help` and light commands (median of N runs).

    python bench/bench_cli.py [--runs 5]

Target: under 1 s for `--help` and light commands on this machine (commands load lazily: nexus/cli/main.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

NEXUS = str(Path(sys.executable).with_name("nexus"))
CASES = [
    ["--help"],
    ["serve", "--help"],
    ["route", "--help"],
    ["keys", "--help"],
    ["db", "--help"],
    ["router", "--help"],
    ["work-orders", "--help"],
    ["heartbeat", "--help"],
]


def measure(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([NEXUS, *argv], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for argv in CASES:
        results[" ".join(argv)] = seconds = measure(argv, args.runs)
        print(f"nexus {' '.join(argv):<22} {seconds * 1000:7.0f} ms", flush=True)
    return results


if __name__ == "__main__":
    main()
