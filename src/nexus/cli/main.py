"""The `nexus` command line. Thin: each command calls into the packages."""

from __future__ import annotations

import typer

from nexus.cli.serve import serve_cmd

app = typer.Typer(
    name="nexus",
    help="Nexus: a self-hostable multi-LLM orchestration gateway (OpenAI-compatible, routed, observable).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Nexus: one OpenAI-compatible endpoint in front of many LLMs."""


app.command("serve")(serve_cmd)

# --- registration area: one line per command or sub-app (teammates add theirs here) ---
from nexus.cli import route as _route  # noqa: E402  (routing B)
from nexus.cli import router_cmd as _router_cmd  # noqa: E402  (routing B)

app.command("route")(_route.route_cmd)
from nexus.cli.keys import keys_app  # noqa: E402  (lead)

app.add_typer(keys_app, name="keys")
from nexus.cli.qa import qa_app  # noqa: E402  (guard/QA)

app.add_typer(qa_app, name="qa")
app.add_typer(_router_cmd.app, name="router")
from nexus.cli import classify as _classify  # noqa: E402  (routing A)
from nexus.cli import eval_routing as _eval_routing  # noqa: E402  (routing A)

app.command("classify")(_classify.classify_cmd)
app.add_typer(_eval_routing.eval_app, name="eval")
from nexus.cli import reports as _reports  # noqa: E402  (store)
from nexus.cli.db import db_app  # noqa: E402  (store)

app.add_typer(db_app, name="db")
app.command("metrics")(_reports.metrics_cmd)
app.command("work-orders")(_reports.work_orders_cmd)
from nexus.cli import ui as _ui  # noqa: E402  (ui)

app.command("ui")(_ui.ui_cmd)

from nexus.cli.rag import rag_app  # noqa: E402  (rag)

app.add_typer(rag_app, name="rag")
from nexus.cli.agent import agent_app  # noqa: E402  (agents)

app.add_typer(agent_app, name="agent")
from nexus.cli import scheduler as _scheduler  # noqa: E402  (jobs)
from nexus.cli import worker as _worker  # noqa: E402  (jobs)

app.command("worker")(_worker.worker_cmd)
app.command("scheduler")(_scheduler.scheduler_cmd)
from nexus.cli import heartbeat as _heartbeat  # noqa: E402  (ops)
from nexus.cli import telegram as _telegram  # noqa: E402  (ops)

app.command("heartbeat")(_heartbeat.heartbeat_cmd)
app.command("telegram")(_telegram.telegram_cmd)

if __name__ == "__main__":
    app()
