"""A process killed with SIGKILL right after starting a request leaves a row that startup marks incomplete."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from nexus.config.settings import Settings
from nexus.store import TenantScope, open_store

CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from nexus.config.settings import Settings
    from nexus.store import open_store

    async def main():
        store = await open_store(Settings(data_dir=Path(sys.argv[1])))
        queue = store.accounting_queue()
        await queue.work_order_started(id="answered", request_id="r-1")
        await queue.work_order_finished("answered", tokens_in=5, tokens_out=7, cost_usd=0.25)
        await queue.work_order_started(id="in-flight", request_id="r-2")
        await asyncio.sleep(1.0)  # the accounting flush bound; no close(), no flush()
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_kill_9_keeps_answered_work_orders_and_flags_the_rest(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    store = await open_store(Settings(data_dir=tmp_path))
    try:
        assert await store.mark_interrupted() == 1
        repo = store.work_orders(TenantScope.system())
        answered, in_flight = await repo.get("answered"), await repo.get("in-flight")
        assert (answered.status, answered.tokens_out, answered.cost_usd) == ("done", 7, 0.25)
        assert (in_flight.status, in_flight.incomplete, in_flight.error) == ("failed", True, "interrupted")
    finally:
        await store.close()
