"""Passthrough overhead: the same requests straight to a loopback mock upstream, through the floor, and
through Nexus.

Processes: the mock upstream (nexus.testing.FakeOpenAI), the FLOOR (a bare pass-through proxy on the same
stack: Starlette on uvicorn, one pooled httpx client, no parsing — what any Python proxy costs at least),
the gateway under test (`nexus serve`), and this client. At concurrency 1 requests alternate direct /
floor / Nexus so drift hits all alike.

Reports, for non-streaming and streaming requests:
  - added latency at concurrency 1: median and p99 of each proxy's latency minus the direct one, and
    Nexus's added median as a multiple of the floor's;
  - requests/s at concurrency 64 with the error count (non-2xx, socket errors, timeouts), for the floor
    and Nexus — with wrk when it is installed (so the client is not the bottleneck), else httpx;
  - the same throughput for LiteLLM's proxy on the same mock, when `litellm[proxy]` is installed in a
    separate venv (LITELLM_VENV, default bench/.litellm-venv or /tmp/litellm-venv), and the ratio.
Also: Nexus with accounting + metrics off, to show what they cost (median difference).

Usage: python bench/bench_passthrough.py [--n 1000] [--conc-n 3000] [--skip-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BENCH_AUTH = "sk-bench-master-0123456789abcdef0123456789abcdef"
BODY = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Say hello in five words."}],
    "max_tokens": 16,
}

UPSTREAM_SCRIPT = """
import sys, time, signal
from nexus.testing import FakeOpenAI
fake = FakeOpenAI(port=int(sys.argv[1])).start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
"""


FLOOR_SCRIPT = """
import sys
import httpx, uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

upstream = sys.argv[2].rstrip("/")
client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=512, max_keepalive_connections=512))

async def proxy(request):
    body = await request.body()
    req = client.build_request(request.method, upstream + request.url.path.removeprefix("/v1"),
                               content=body, headers={"content-type": "application/json"})
    r = await client.send(req, stream=True)
    media = r.headers.get("content-type", "application/json")
    if media.startswith("text/event-stream"):  # relay chunks as they come
        return StreamingResponse(r.aiter_raw(), status_code=r.status_code, media_type=media,
                                 background=BackgroundTask(r.aclose))
    body = await r.aread()  # one write with a Content-Length, as any proxy answers a plain response
    await r.aclose()
    return Response(body, status_code=r.status_code, media_type=media)

app = Starlette(routes=[Route("/v1/{path:path}", proxy, methods=["GET", "POST"]),
                        Route("/health", lambda r: Response(b"ok"))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-c", UPSTREAM_SCRIPT, str(port)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc, f"http://127.0.0.1:{port}/v1"


def start_floor(upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-c", FLOOR_SCRIPT, str(port), upstream], stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}/v1"


def start_nexus(upstream: str, data_dir: Path, *, accounting: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cat = data_dir / "catalogue.yaml"
    cat.write_text(
        "models:\n  - {id: bench, provider: openai, model: fake-model, base_url: '"
        + upstream
        + "', api_key_env: BENCH_KEY,\n"
        "     input_price_per_mtok: 1, output_price_per_mtok: 2, context_window: 8192}\n"
    )
    env = {
        **os.environ,
        "BENCH_KEY": "sk-bench",
        "NEXUS_AUTH": "off",
        "NEXUS_ACCOUNTING": str(accounting).lower(),
        "NEXUS_METRICS": str(accounting).lower(),
        "NEXUS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "nexus.cli.main",
            "serve",
            "--no-ui",
            "--port",
            str(port),
            "--config",
            str(cat),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}/v1"


def start_litellm(upstream: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    candidates = [
        os.environ.get("LITELLM_VENV", ""),
        str(ROOT / "bench" / ".litellm-venv"),
        "/tmp/litellm-venv",
    ]
    venv = next((Path(c) for c in candidates if c and (Path(c) / "bin" / "litellm").exists()), None)
    if venv is None:
        print(
            "LiteLLM proxy not installed (python -m venv bench/.litellm-venv && "
            "bench/.litellm-venv/bin/pip install 'litellm[proxy]'): skipped"
        )
        return None
    port = free_port()
    cfg = data_dir / "litellm.yaml"
    cfg.write_text(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/fake-model\n"
        f"      api_base: {upstream}\n      api_key: sk-bench\n"
        "litellm_settings:\n  telemetry: false\n  drop_params: true\n"
    )
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": BENCH_AUTH,
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "true",
    }
    proc = subprocess.Popen(
        [str(venv / "bin" / "litellm"), "--config", str(cfg), "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
    except TimeoutError:
        proc.kill()
        print("LiteLLM proxy did not start: skipped")
        return None
    return proc, f"http://127.0.0.1:{port}/v1"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def one(client: httpx.Client, base: str, stream: bool) -> float:
    body = {**BODY, "stream": stream}
    t0 = time.perf_counter()
    if stream:
        with client.stream("POST", base + "/chat/completions", json=body) as r:
            r.raise_for_status()
            for _ in r.iter_bytes():
                pass
    else:
        r = client.post(base + "/chat/completions", json=body)
        r.raise_for_status()
    return (time.perf_counter() - t0) * 1000


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def added_latency(direct: str, via: str, n: int, stream: bool, floor: str | None = None) -> dict[str, float]:
    """Alternating direct / floor / via; added = proxy median (p99) minus direct median (p99)."""
    headers = {"authorization": f"Bearer {BENCH_AUTH}"}
    with httpx.Client(timeout=30, headers=headers) as c:
        for _ in range(50):  # warm every path
            one(c, direct, stream)
            one(c, via, stream)
            if floor:
                one(c, floor, stream)
        d, g, f = [], [], []
        for _ in range(n):
            d.append(one(c, direct, stream))
            g.append(one(c, via, stream))
            if floor:
                f.append(one(c, floor, stream))
    out = {
        "direct_p50": statistics.median(d),
        "via_p50": statistics.median(g),
        "added_p50": statistics.median(g) - statistics.median(d),
        "added_p99": pct(g, 99) - pct(d, 99),
    }
    if f:
        out |= {
            "floor_added_p50": statistics.median(f) - statistics.median(d),
            "floor_added_p99": pct(f, 99) - pct(d, 99),
        }
    return out


WRK_LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def wrk_throughput(base: str, seconds: int, conc: int, stream: bool) -> tuple[float, int] | None:
    """wrk -c conc -t 2 for `seconds`: requests/s and errors (non-2xx/3xx + socket errors)."""
    import json
    import re
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (json.dumps({**BODY, "stream": stream}), BENCH_AUTH))
    out = subprocess.run(
        [
            wrk,
            "-t",
            "2",
            "-c",
            str(conc),
            "-d",
            f"{seconds}s",
            "--timeout",
            "30s",
            "-s",
            f.name,
            base + "/chat/completions",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, errors + (int(non2xx.group(1)) if non2xx else 0)


def load(base: str, args: argparse.Namespace, stream: bool) -> tuple[float, int, str]:
    by_wrk = wrk_throughput(base, args.wrk_seconds, args.conc, stream)
    if by_wrk is not None:
        return (*by_wrk, "wrk")
    return (*asyncio.run(throughput(base, args.conc_n, args.conc, stream)), "httpx")


async def throughput(base: str, n: int, conc: int, stream: bool) -> tuple[float, int]:
    errors = 0
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(
        timeout=60, limits=limits, headers={"authorization": f"Bearer {BENCH_AUTH}"}
    ) as c:
        body = {**BODY, "stream": stream}
        queue = iter(range(n))

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                try:
                    if stream:
                        async with c.stream("POST", base + "/chat/completions", json=body) as r:
                            if r.status_code != 200:
                                errors += 1
                            async for _ in r.aiter_bytes():
                                pass
                    else:
                        r = await c.post(base + "/chat/completions", json=body)
                        if r.status_code != 200:
                            errors += 1
                except httpx.HTTPError:
                    errors += 1

        await asyncio.gather(*[worker() for _ in range(min(conc, 32))])  # warm-up pass below is separate
        t0 = time.perf_counter()
        queue = iter(range(n))
        await asyncio.gather(*[worker() for _ in range(conc)])
        return n / (time.perf_counter() - t0), errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="requests per path at concurrency 1")
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--conc-n", type=int, default=3000, help="requests per throughput run")
    ap.add_argument("--wrk-seconds", type=int, default=15, help="duration of each wrk run")
    ap.add_argument("--skip-litellm", action="store_true")
    args = ap.parse_args()

    upstream, up_url = start_upstream()
    procs = [upstream]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "on").mkdir()
            floor, fl_url = start_floor(up_url)
            procs.append(floor)
            nexus, nx_url = start_nexus(up_url, Path(tmp) / "on", accounting=True)
            procs.append(nexus)
            print(
                f"mock upstream {up_url}; floor {fl_url}; nexus {nx_url}; n={args.n} alternating, conc={args.conc}"
            )
            rows = {}
            for stream in (False, True):
                r = added_latency(up_url, nx_url, args.n, stream, floor=fl_url)
                rows[stream] = r
                kind = "stream    " if stream else "non-stream"
                print(
                    f"[c=1] {kind} direct p50 {r['direct_p50']:.3f} ms | floor added median "
                    f"{r['floor_added_p50']:.3f} ms (p99 {r['floor_added_p99']:.3f}) | nexus added median "
                    f"{r['added_p50']:.3f} ms (p99 {r['added_p99']:.3f}) = "
                    f"{r['added_p50'] / max(r['floor_added_p50'], 1e-9):.2f}x the floor"
                )
            nx_tp = {}
            for stream in (False, True):
                kind = "stream" if stream else "non-stream"
                rps, errs, tool = load(fl_url, args, stream)
                print(f"[c={args.conc}, {tool}] floor {kind}: {rps:.0f} req/s, errors {errs}")
                rps, errs, tool = load(nx_url, args, stream)
                nx_tp[stream] = rps
                print(f"[c={args.conc}, {tool}] nexus {kind}: {rps:.0f} req/s, errors {errs}")
            stop(floor)
            procs.remove(floor)
            stop(nexus)
            procs.remove(nexus)

            (Path(tmp) / "off").mkdir()
            quiet, q_url = start_nexus(up_url, Path(tmp) / "off", accounting=False)
            procs.append(quiet)
            r_off = added_latency(up_url, q_url, args.n, False)
            print(
                f"[c=1] accounting+metrics OFF: added median {r_off['added_p50']:.3f} ms "
                f"(ON: {rows[False]['added_p50']:.3f} ms; cost of accounting+metrics "
                f"{rows[False]['added_p50'] - r_off['added_p50']:+.3f} ms median)"
            )
            stop(quiet)
            procs.remove(quiet)

            if not args.skip_litellm:
                started = start_litellm(up_url, Path(tmp))
                if started:
                    lp, l_url = started
                    procs.append(lp)
                    for stream in (False, True):
                        r_l = added_latency(up_url, l_url, max(50, args.n // 4), stream)
                        rps, errs, tool = load(l_url, args, stream)
                        print(
                            f"[c=1] litellm proxy {'stream' if stream else 'non-stream'} added median "
                            f"{r_l['added_p50']:.3f} ms | [c={args.conc}, {tool}] {rps:.0f} req/s, "
                            f"errors {errs}; nexus/litellm = {nx_tp[stream] / max(rps, 1e-9):.1f}x"
                        )
    finally:
        for p in procs:
            stop(p)


if __name__ == "__main__":
    main()
