"""Which HTTP server runs the gateway: the passthrough path under each candidate, measured with wrk.

Candidates (one process each, the same Nexus app, the same loopback FakeOpenAI upstream):
  edge       nexus.gateway.server (uvicorn + httptools + the hardening subclass) — what `nexus serve` runs
  uvicorn    plain uvicorn, httptools protocol (what ran before)
  h11        uvicorn with its h11 protocol (h11 has a head limit and correct HTTP/1.0 framing built in)
  hypercorn  hypercorn (h11), asyncio + uvloop           — needs `hypercorn` (see --alt-python)
  granian    granian (Rust, hyper), 1 worker, uvloop     — needs `granian`  (see --alt-python)

For each: added latency at concurrency 1 (wrk -c1, p50/p99 minus the direct upstream's), requests/s at
concurrency 64 (wrk -c64), plain and streaming, with the error counts of each run (non-2xx, socket errors,
and 2xx answers that are not a whole completion: an in-stream error event or a stream without [DONE],
counted by a wrk Lua hook), and the server's CPU time per
request at c=64 (user+system of its process tree / requests served: the figure that stays meaningful when
other work shares the cores). Nothing is asserted.

The passthrough benchmark's load-generator leg (Nexus as `nexus serve` runs it, wrk at c=64, plain and
streaming, errors reported): python bench/bench_edge.py --servers edge --duration 10
wrk comes from Debian: apt-get install -y wrk.

Usage: python bench/bench_edge.py [--duration 10] [--servers edge,uvicorn,h11,hypercorn,granian]
           [--app gateway|trivial] [--alt-python /tmp/edge-venv/bin/python]
The alternative Python is a venv that sees the project's packages plus hypercorn/granian, e.g.
  python -m venv /tmp/edge-venv && echo $VIRTUAL_ENV/lib/python3.11/site-packages \
      > /tmp/edge-venv/lib/python3.11/site-packages/main.pth && /tmp/edge-venv/bin/pip install granian hypercorn
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_passthrough import ROOT, free_port, start_upstream, stop, wait_ready

BODY = '{"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 16%s}'

# The app under test: the gateway built from NEXUS_* variables, or (--app trivial) a few-line ASGI app
# answering like the upstream does, to see the servers' own cost without the gateway's.
APP_MODULE = r"""
import asyncio
from nexus.config.settings import Settings

if __import__("os").environ.get("BENCH_APP") == "trivial":
    BODY = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}'
    EVENT = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi "}}]}\n\n'

    async def _app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                await send({"type": msg["type"] + ".complete"})
                if msg["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
        elif b'"stream": true' in body:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
            for _ in range(10):
                await send({"type": "http.response.body", "body": EVENT, "more_body": True})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        else:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
            await send({"type": "http.response.body", "body": BODY})

    def app():
        return _app
else:
    def app():
        from nexus.gateway.app import create_app
        return create_app(Settings())
"""

# Serves bench_app.app() with the server named in argv[1].
SERVE = r"""
import asyncio, sys
from nexus.config.settings import Settings
from bench_app import app as factory
kind, port = sys.argv[1], int(sys.argv[2])
settings = Settings()
app = factory()
if kind == "edge":
    from nexus.gateway.server import serve
    serve(app, settings, host="127.0.0.1", port=port, log_level="warning")
elif kind in ("uvicorn", "h11"):
    import uvicorn
    http = "httptools" if kind == "uvicorn" else "h11"
    uvicorn.run(app, host="127.0.0.1", port=port, http=http, log_config=None, access_log=False, log_level="warning")
elif kind == "hypercorn":
    import uvloop
    from hypercorn.asyncio import serve as hserve
    from hypercorn.config import Config
    cfg = Config()
    cfg.bind = [f"127.0.0.1:{port}"]
    cfg.accesslog = None
    uvloop.run(hserve(app, cfg))
"""

# A 200 is not enough: a stream can fail inside its body (an error event, no [DONE]) and a plain answer
# can be something else than a completion. Each thread counts such answers; done() sums them.
LUA = """
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then
    local ok = string.find(body, '"choices"', 1, true) and not string.find(body, '{"error"', 1, true)
    if STREAM then ok = ok and string.find(body, "data: [DONE]", 1, true) end
    if not ok then bad = bad + 1 end
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("Bad 2xx bodies: %%d\\n", total))
end
"""


def start_server(
    kind: str, python: str, upstream: str, data_dir: Path, app: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cat = data_dir / "catalogue.yaml"
    cat.write_text(
        "models:\n  - {id: bench, provider: openai, model: fake-model, base_url: '"
        + upstream
        + "', api_key_env: BENCH_KEY,\n     input_price_per_mtok: 1, output_price_per_mtok: 2, context_window: 8192}\n"
    )
    env = {
        **os.environ,
        "BENCH_KEY": "sk-bench",
        "NEXUS_AUTH": "off",
        "NEXUS_CONFIG": str(cat),
        "NEXUS_DATA_DIR": str(data_dir),
        "NEXUS_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "BENCH_APP": app,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(data_dir), os.environ.get("PYTHONPATH", "")]),
    }
    (data_dir / "bench_app.py").write_text(APP_MODULE)
    if kind == "granian":
        cmd = [
            python, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-access-log",
            "--log-level", "warning", "bench_app:app",
        ]  # fmt: skip
    else:
        cmd = [python, "-c", SERVE, kind, str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}/v1/chat/completions"


def wrk(url: str, conns: int, seconds: int, stream: bool, script_dir: Path) -> dict[str, float]:
    script = script_dir / ("stream.lua" if stream else "plain.lua")
    lua = LUA % (BODY % (', "stream": true' if stream else ""))
    script.write_text(f"STREAM = {'true' if stream else 'false'}\n" + lua)
    threads = 1 if conns == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (granian serves from a child)."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def parse_wrk(out: str) -> dict[str, float]:
    res: dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    res["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for p in ("50", "99"):
        m = re.search(rf"\s{p}(?:\.000)?%\s+(\S+)", out)
        res[f"p{p}"] = _ms(m.group(1)) if m else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = re.search(r"Bad 2xx bodies:\s+(\d+)", out)
    res["errors"] = (
        float(non2xx.group(1) if non2xx else 0)
        + (sum(int(g) for g in sock.groups()) if sock else 0)
        + float(bad.group(1) if bad else 0)
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--conc", type=int, default=64)
    ap.add_argument("--servers", default="edge,uvicorn,h11,hypercorn,granian")
    ap.add_argument("--app", choices=("gateway", "trivial"), default="gateway")
    ap.add_argument("--alt-python", default="/tmp/edge-venv/bin/python", help="Python with hypercorn/granian")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    upstream, up_url = start_upstream()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = {}
            for stream in (False, True):
                base[stream] = wrk(up_url + "/chat/completions", 1, args.duration, stream, Path(tmp))
            print(
                f"direct upstream c=1: plain p50 {base[False]['p50']:.3f} ms, stream p50 {base[True]['p50']:.3f} ms"
            )
            print(
                f"{'server':<10} {'mode':<6} {'added p50':>10} {'added p99':>10} {'rps c=' + str(args.conc):>10} "
                f"{'cpu/req':>9} {'err c=1':>7} {'err c=' + str(args.conc):>8}"
            )
            for i, kind in enumerate(args.servers.split(",")):
                python = args.alt_python if kind in ("hypercorn", "granian") else sys.executable
                if not Path(python).exists():
                    print(f"{kind:<10} skipped: {python} not found (see --alt-python)")
                    continue
                data = Path(tmp) / f"{i}-{kind}"  # a name may repeat: A/B runs interleaved
                data.mkdir()
                try:
                    proc, url = start_server(kind, python, up_url, data, args.app)
                except TimeoutError:
                    print(f"{kind:<10} did not start: skipped")
                    continue
                try:
                    for stream in (False, True):
                        wrk(url, 8, 2, stream, data)  # warm-up
                        one = wrk(url, 1, args.duration, stream, data)
                        cpu0 = cpu_seconds(proc.pid)
                        many = wrk(url, args.conc, args.duration, stream, data)
                        cpu_ms = (cpu_seconds(proc.pid) - cpu0) * 1000 / max(many["requests"], 1)
                        print(
                            f"{kind:<10} {'stream' if stream else 'plain':<6} "
                            f"{one['p50'] - base[stream]['p50']:>8.3f}ms {one['p99'] - base[stream]['p99']:>8.3f}ms "
                            f"{many['rps']:>10.0f} {cpu_ms:>7.2f}ms {int(one['errors']):>7} {int(many['errors']):>8}"
                        )
                finally:
                    stop(proc)
    finally:
        stop(upstream)


if __name__ == "__main__":
    main()
