"""Broken streams under upstream resets, through the real gateway: the probe of issue 11.

Two FakeOpenAI upstreams in their own processes: m1 resets a share of its streams (TCP RST) right after
the empty role chunk, m2 is healthy; the catalogue makes m2 m1's fallback. `nexus serve` runs on top and
this client sends N streaming /v1/chat/completions for m1 at a given concurrency.

A stream is broken when it does not end in `data: [DONE]` with the complete expected text, exactly one
role chunk and no in-stream error event (or its status is not 200). Reported: broken streams, how many
were answered by the fallback, and the time per stream (p50/p99).

`--before-src DIR` runs the same probe a second time with the gateway imported from another source tree
(e.g. the main branch's `src`), to show the figure before the change.

Usage: python bench/bench_faults.py [--n 2000] [--conc 16] [--reset-share 0.05] [--before-src /work/main/src]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from bench_passthrough import PY, ROOT, free_port, stop, wait_ready
from rich.progress import Progress

PROMPT = "Describe the fault probe in a few words."
EXPECTED = "Echo: " + PROMPT

UPSTREAM = """
import signal, sys
from nexus.testing import FakeOpenAI, Reply, share
fake = FakeOpenAI(port=int(sys.argv[1]), api_key="sk-bench").start()
if float(sys.argv[2]) > 0:
    fake.policy = share(Reply(reset_after=1), float(sys.argv[2]), seed=7)
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


def start_upstream(share: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # the fakes: always this tree's
    proc = subprocess.Popen([PY, "-c", UPSTREAM, str(port), str(share)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, f"http://127.0.0.1:{port}/v1"


def start_gateway(m1: str, m2: str, data_dir: Path, src: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cat = data_dir / "catalogue.yaml"
    entry = "input_price_per_mtok: 1, output_price_per_mtok: 2, context_window: 8192, api_key_env: BENCH_KEY"
    cat.write_text(
        "models:\n"
        f"  - {{id: m1, provider: openai, model: fake-model, base_url: '{m1}', fallbacks: [m2], tags: [a], {entry}}}\n"
        f"  - {{id: m2, provider: openai, model: fake-model, base_url: '{m2}', tags: [b], {entry}}}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "BENCH_KEY": "sk-bench",
        "NEXUS_AUTH": "off",
        "NEXUS_LOG_LEVEL": "ERROR",
        "NEXUS_RETRY_BASE_DELAY_S": "0.05",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [PY, "-m", "nexus.cli.main", "serve", "--no-ui", "--port", str(port), "--config", str(cat)]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_ready(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


async def one(client: httpx.AsyncClient, url: str) -> tuple[str | None, str, float]:
    """(why the stream is broken or None, the model that answered, seconds)."""
    body = {"model": "m1", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    t0 = time.perf_counter()
    text, roles, model, done = "", 0, "", False
    try:
        async with client.stream("POST", url, json=body) as resp:
            if resp.status_code != 200:
                return f"status {resp.status_code}", "", time.perf_counter() - t0
            async for line in resp.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    continue
                chunk = orjson.loads(data)
                if "error" in chunk:
                    return (
                        f"error event: {chunk['error'].get('message', '')[:80]}",
                        "",
                        time.perf_counter() - t0,
                    )
                model = chunk.get("model", model)
                for choice in chunk.get("choices", []):
                    delta = choice.get("delta") or {}
                    roles += 1 if delta.get("role") else 0
                    text += delta.get("content") or ""
    except httpx.HTTPError as exc:
        return f"transport: {type(exc).__name__}", "", time.perf_counter() - t0
    took = time.perf_counter() - t0
    if not done:
        return "no [DONE]", model, took
    if text != EXPECTED or roles != 1:
        return f"text/roles wrong ({roles} roles)", model, took
    return None, model, took


async def probe(url: str, n: int, conc: int, label: str) -> dict[str, object]:
    sem = asyncio.Semaphore(conc)
    results: list[tuple[str | None, str, float]] = []
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        with Progress(transient=True) as bar:
            task = bar.add_task(label, total=n)

            async def run() -> None:
                async with sem:
                    results.append(await one(client, url))
                bar.advance(task)

            await asyncio.gather(*(run() for _ in range(n)))
    broken = [r[0] for r in results if r[0] is not None]
    times = sorted(r[2] * 1000 for r in results)
    return {
        "broken": len(broken),
        "fallback": sum(1 for r in results if r[1] == "m2"),
        "p50": statistics.median(times),
        "p99": times[int(0.99 * (len(times) - 1))],
        "examples": sorted(set(broken))[:3],
    }


def run(src: Path, args: argparse.Namespace, label: str) -> dict[str, object]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        m1, m1_url = start_upstream(args.reset_share)
        procs.append(m1)
        m2, m2_url = start_upstream(0.0)
        procs.append(m2)
        with tempfile.TemporaryDirectory() as tmp:
            gw, url = start_gateway(m1_url, m2_url, Path(tmp), src)
            procs.append(gw)
            return asyncio.run(probe(url, args.n, args.conc, label))
    finally:
        for p in procs:
            stop(p)


def report(label: str, r: dict[str, object], n: int) -> None:
    print(
        f"{label}: broken streams {r['broken']} / {n}; answered by the fallback m2: {r['fallback']}; "
        f"time per stream p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"
    )
    for why in r["examples"]:  # type: ignore[attr-defined]
        print(f"    e.g. {why}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--conc", type=int, default=16)
    ap.add_argument("--reset-share", type=float, default=0.05)
    ap.add_argument("--before-src", type=Path, default=None, help="another tree's src/ to compare with")
    args = ap.parse_args()
    print(
        f"{args.n} streams at concurrency {args.conc}; m1 resets {args.reset_share:.0%} after the role chunk"
    )
    after = run(ROOT / "src", args, "this tree")
    report("this tree", after, args.n)
    if args.before_src is not None:
        before = run(args.before_src.resolve(), args, "before")
        report(f"before ({args.before_src})", before, args.n)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
