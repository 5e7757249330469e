"""Background jobs end to end on the real PostgreSQL and Redis: `nexus worker` processes, a trivial handler.

1. Throughput: N jobs bulk-enqueued at once, drained by 1, 2 and 4 worker processes (jobs/s from the
   first enqueue to the last job done) with the queue wait (enqueue → start) p50/p99 under that burst.
2. Overhead at a steady 50 jobs/s (2 workers): enqueue → start p50/p99, one job every 20 ms; and the same
   with the in-process broker on SQLite (the embedded default).
Prints a table, saves bench/out/jobs_throughput.png; asserts nothing. A fresh database per run, dropped after.

    python bench/bench_jobs.py [--n 1500] [--rate 50] [--seconds 10] [--workers 1,2,4]
    python bench/bench_jobs.py --kind work_order [--n 600] [--workers 1,2,4] [--embedder hashing|local]

`--kind work_order`: the burst is N queued work orders (`submit_work_order`, as POST /api/work-orders
does after admission), each run by a `nexus worker` through ChatService (`nexus-auto`: the pipeline,
accounting, checkpoint) against a fake OpenAI upstream answering at once (demo models at zero latency);
work orders/s with 1, 2 and 4 workers and the queue wait p50/p99. No steady run in that mode.

Targets (issue 10): 2 workers ≥ 1.7× the throughput of 1; enqueue → start p99 ≤ 20 ms at 50/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from nexus.jobs import JobContext, job

KIND = "bench.noop"
OUT = Path(__file__).parent / "out"
PG = os.environ.get("NEXUS_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("NEXUS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@job(KIND)
async def noop(ctx: JobContext[Any], p: dict[str, Any]) -> None:
    """Trivial: the measured cost is the queue's (claim, done, ack), not the handler's."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:  # noqa: PLR0915 (one linear script)
    import asyncpg
    import redis.asyncio as aioredis
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from sqlalchemy import delete, func, select
    from sqlalchemy.engine import make_url

    from nexus.config.settings import Settings
    from nexus.jobs import JobEngine, JobRequest
    from nexus.store import TenantScope, open_store
    from nexus.store.models import WorkOrder
    from nexus.store.models_jobs import Job

    console = Console()
    name = f"nexus_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"nexus-bench-{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(PG).set(drivername="postgresql").render_as_string(hide_password=False)
    db_url = make_url(PG).set(database=name).render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="nexus-bench-jobs-"))
    settings = Settings(data_dir=tmp, database_url=db_url, redis_url=REDIS, jobs_stream_prefix=prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(
        NEXUS_DATABASE_URL=db_url,
        NEXUS_REDIS_URL=REDIS,
        NEXUS_JOBS_STREAM_PREFIX=prefix,
        NEXUS_DATA_DIR=str(tmp),
        NEXUS_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")]),
    )
    upstream = None
    if args.kind == "work_order":
        from nexus.testing import FakeOpenAI, Reply

        upstream = FakeOpenAI(default=Reply(text="pong", usage=(120, 45)))
        upstream.start()
        env.update(
            NEXUS_CONFIG=str(work_order_catalogue(tmp / "catalogue.yaml", upstream.base_url)),
            NEXUS_EMBEDDINGS_BACKEND=args.embedder,
            NEXUS_BENCH_UPSTREAM_KEY="sk-bench-0123456789",
            NEXUS_AUTH="off",
        )
    store = await open_store(settings)
    client = await JobEngine.start(settings, store, role="bench", execute=False)
    tenant = TenantScope("bench")
    rows: list[dict[str, Any]] = []

    async def timings() -> tuple[list[float], float, float]:
        async with store.sessions() as s:
            res = (await s.execute(select(Job.created_at, Job.started_at, Job.finished_at))).all()
        waits = [(st - cr).total_seconds() * 1000 for cr, st, _ in res if st]
        return waits, min(cr for cr, _, _ in res).timestamp(), max(f for _, _, f in res if f).timestamp()

    async def done_count() -> int:
        async with store.sessions() as s:
            stmt = select(func.count()).select_from(Job).where(Job.status == "done")
            return int((await s.execute(stmt)).scalar_one())

    async def reset() -> None:
        async with store.sessions() as s, s.begin():
            await s.execute(delete(Job))
            await s.execute(delete(WorkOrder))

    async def enqueue_burst() -> None:
        if args.kind != "work_order":
            await client.queue.enqueue_many([JobRequest(kind=KIND) for _ in range(args.n)], tenant=tenant)
            return
        from nexus.jobs import submit_work_order

        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                await submit_work_order(
                    client.queue, tenant=tenant, content="hello there", request_id=f"b{i}"
                )

        await asyncio.gather(*(one(i) for i in range(args.n)))

    def start_workers(n: int) -> list[subprocess.Popen[bytes]]:
        cmd = [
            sys.executable,
            "-m",
            "nexus.cli.worker",
            "--import",
            "bench_jobs",
            "--concurrency",
            str(args.concurrency),
        ]
        return [
            subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp / f"w{i}.log", "wb"))  # noqa: SIM115
            for i in range(n)
        ]

    async def wait_ready(n: int) -> None:
        while len([i for i in await store.instances().live() if i.role == "worker"]) < n:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # consumers joined the group and block in XREADGROUP

    def stop(procs: list[subprocess.Popen[bytes]]) -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)

    async def wait_gone() -> None:
        while [i for i in await store.instances().live() if i.role == "worker"]:
            await asyncio.sleep(0.2)

    try:
        with Progress(console=console, transient=True) as progress:
            for workers in args.workers:
                procs = start_workers(workers)
                try:
                    await wait_ready(workers)
                    idle_cpu = [cpu_seconds(p.pid) for p in procs]
                    task = progress.add_task(f"{workers} worker(s): {args.n} jobs", total=args.n)
                    started = time.perf_counter()
                    await enqueue_burst()
                    while (n := await done_count()) < args.n:
                        progress.update(task, completed=n)
                        await asyncio.sleep(0.1)
                    wall = time.perf_counter() - started
                    cpu = sum(cpu_seconds(p.pid) - base for p, base in zip(procs, idle_cpu, strict=True))
                    progress.remove_task(task)
                finally:
                    stop(procs)
                waits, first, last = await timings()
                rows.append(
                    {
                        "mode": f"burst, {workers} worker(s)",
                        "workers": workers,
                        "jobs_s": args.n / (last - first),
                        "wall_s": wall,
                        "p50": percentile(waits, 50),
                        "p99": percentile(waits, 99),
                        "cpu_ms": cpu / args.n * 1000,
                    }
                )
                await reset()
                await wait_gone()
            if args.kind == "work_order":
                raise _SkipSteady

            procs = start_workers(2)
            try:
                await wait_ready(2)
                total = int(args.rate * args.seconds)
                task = progress.add_task(f"steady {args.rate}/s, 2 workers", total=total)
                t0 = time.perf_counter()
                for i in range(total):
                    await client.queue.enqueue(KIND, {}, tenant=tenant)
                    progress.update(task, completed=i + 1)
                    delay = t0 + (i + 1) / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                while await done_count() < total:
                    await asyncio.sleep(0.1)
                progress.remove_task(task)
            finally:
                stop(procs)
            waits, _, _ = await timings()
            rows.append(
                {
                    "mode": f"steady {args.rate:g}/s, 2 workers",
                    "workers": 2,
                    "jobs_s": float(args.rate),
                    "wall_s": args.seconds,
                    "p50": percentile(waits, 50),
                    "p99": percentile(waits, 99),
                }
            )
            rows.append(await embedded_steady(args, tmp))
    except _SkipSteady:
        pass
    finally:
        if upstream is not None:
            upstream.stop()
        await client.close(grace_s=0)
        await store.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        rc = aioredis.from_url(REDIS)
        keys = [k async for k in rc.scan_iter(match=f"{prefix}:*")]
        if keys:
            await rc.delete(*keys)
        await rc.aclose()

    what = "work orders through ChatService" if args.kind == "work_order" else "trivial handler"
    table = Table(
        title=f"nexus.jobs end to end ({what}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    for col in (
        "mode",
        "work orders/s" if args.kind == "work_order" else "jobs/s",
        "enqueue→start p50 ms",
        "p99 ms",
        "worker CPU ms/job",
    ):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in rows:
        cpu_text = f"{r['cpu_ms']:.2f}" if "cpu_ms" in r else ""
        table.add_row(r["mode"], f"{r['jobs_s']:.0f}", f"{r['p50']:.1f}", f"{r['p99']:.1f}", cpu_text)
    console.print(table)
    burst = {r["workers"]: r["jobs_s"] for r in rows if r["mode"].startswith("burst")}
    if 1 in burst and 2 in burst:
        console.print(f"2 workers / 1 worker: {burst[2] / burst[1]:.2f}x (target ≥ 1.7x)")
    chart(rows, args)


class _SkipSteady(Exception):
    """The work-order mode measures bursts only."""


def work_order_catalogue(path: Path, base_url: str) -> Path:
    from nexus.testing.gateway import write_catalogue

    models = ("cheap", "general", "coder", "agg", "judge", "senior")
    return write_catalogue(
        path,
        [
            {"id": m, "model": f"up-{m}", "base_url": base_url, "api_key_env": "NEXUS_BENCH_UPSTREAM_KEY"}
            for m in models
        ],
        roles={
            "classifier": "cheap",
            "self_answer": "cheap",
            "compressor": "cheap",
            "default": "general",
            "aggregator": "agg",
            "judge": "judge",
            "escalation": "senior",
        },
        workers={"code": "coder", "math": "general", "writing": "general"},
    )


async def embedded_steady(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The embedded default: in-process broker, SQLite, jobs run inside the enqueuing process."""
    from sqlalchemy import select

    from nexus.config.settings import Settings
    from nexus.jobs import JobEngine
    from nexus.store import open_store
    from nexus.store.models_jobs import Job

    settings = Settings(data_dir=tmp / "embedded", database_url=None, redis_url=None)
    store = await open_store(settings)
    engine = await JobEngine.start(settings, store, role="gateway", schedule=False)
    total = int(args.rate * args.seconds)
    t0 = time.perf_counter()
    for i in range(total):
        await engine.queue.enqueue(KIND, {}, tenant="bench")
        delay = t0 + (i + 1) / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    while True:
        async with store.sessions() as s:
            res = (await s.execute(select(Job.created_at, Job.started_at, Job.status))).all()
        if sum(1 for *_, st in res if st == "done") >= total:
            break
        await asyncio.sleep(0.1)
    await engine.close(grace_s=0)
    await store.close()
    waits = [(st - cr).total_seconds() * 1000 for cr, st, _ in res if st]
    return {
        "mode": f"steady {args.rate:g}/s, embedded (in-process, SQLite)",
        "workers": 0,
        "jobs_s": float(args.rate),
        "wall_s": args.seconds,
        "p50": percentile(waits, 50),
        "p99": percentile(waits, 99),
    }


def chart(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    burst = [r for r in rows if r["mode"].startswith("burst")]
    steady = [r for r in rows if r["mode"].startswith("steady")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["workers"] for r in burst]
    ys = [r["jobs_s"] for r in burst]
    left.plot(xs, ys, "o-", label="measured")
    if burst:
        left.plot(xs, [ys[0] * x / xs[0] for x in xs], "--", color="grey", label="linear from 1 worker")
    for x, y in zip(xs, ys, strict=True):
        left.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center")
    left.set(xlabel="worker processes", ylabel="jobs/s", title=f"Throughput ({args.n} jobs, trivial handler)")
    left.set_xticks(xs)
    left.legend()
    labels = [
        r["mode"].replace("steady ", "").replace(", embedded (in-process, SQLite)", "\nembedded")
        for r in steady
    ]
    pos = range(len(steady))
    right.bar([p - 0.2 for p in pos], [r["p50"] for r in steady], width=0.4, label="p50")
    right.bar([p + 0.2 for p in pos], [r["p99"] for r in steady], width=0.4, label="p99")
    right.axhline(20, color="red", linestyle=":", label="p99 target 20 ms")
    right.set_xticks(list(pos), labels)
    right.set(ylabel="ms", title="Enqueue → start at a steady rate")
    right.legend()
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / ("jobs_work_orders.png" if args.kind == "work_order" else "jobs_throughput.png")
    fig.savefig(out, dpi=110)
    print(f"chart: {out}")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1500, help="jobs per burst run")
    ap.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--concurrency", type=int, default=16, help="jobs at once per worker process")
    ap.add_argument("--rate", type=float, default=50.0, help="jobs/s of the steady run")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the steady run")
    ap.add_argument("--kind", choices=["noop", "work_order"], default="noop", help="what each job is")
    ap.add_argument("--embedder", default="hashing", help="NEXUS_EMBEDDINGS_BACKEND of the workers")
    return ap.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
