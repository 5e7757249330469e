"""The `nexus` command line. Thin: each command calls into the packages.

Commands load lazily: `nexus --help` and light commands import only what they use (the heavy packages —
the store, the router, the embedder — load with the command that needs them), so start-up stays under 1 s.
A command is one line in COMMANDS: its name, where it lives ("module:attribute", a function or a Typer
sub-app) and the one-line help `nexus --help` shows without importing it.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer import _click as click  # typer 0.24+ vendors click: its classes, not the click package's
from typer.core import TyperCommand, TyperGroup

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "nexus.cli.serve:serve_cmd",
        "Run the Nexus gateway: the OpenAI-compatible API, the native chat API and the UI.",
    ),
    "route": (
        "nexus.cli.route:route_cmd",
        "Route TEXT: the chosen model, the rule that decided, and the evidence.",
    ),
    "classify": (
        "nexus.cli.classify:classify_cmd",
        "Classify prompts offline: domain, complexity, flags and subtasks, in input order.",
    ),
    "metrics": (
        "nexus.cli.reports:metrics_cmd",
        "Requests, errors, tokens, cost and latency percentiles, in total and per model/provider/tenant.",
    ),
    "work-orders": (
        "nexus.cli.reports:work_orders_cmd",
        "The newest work orders, as /api/work-orders lists them.",
    ),
    "ui": ("nexus.cli.ui:ui_cmd", "Run the Streamlit UI alone against a (possibly remote) Nexus gateway."),
    "worker": (
        "nexus.cli.worker:worker_cmd",
        "Run a worker: consume jobs from Redis Streams until SIGTERM (running jobs get a grace period).",
    ),
    "scheduler": (
        "nexus.cli.scheduler:scheduler_cmd",
        "Run the scheduler: the leader enqueues each schedule's job once per tick; others stand by.",
    ),
    "heartbeat": (
        "nexus.cli.heartbeat:heartbeat_cmd",
        "Check the gateway, database, Redis, providers, jobs, runs, budgets, disk, memory and GPUs.",
    ),
    "telegram": (
        "nexus.cli.telegram:telegram_cmd",
        "Run the Telegram bot (polling) or register its webhook with Telegram (webhook).",
    ),
    "keys": ("nexus.cli.keys:keys_app", "Create, list and revoke API keys (stored as salted hashes)."),
    "qa": ("nexus.cli.qa:qa_app", "Quality checks on a command's output, from a JSON spec."),
    "router": ("nexus.cli.router_cmd:app", "Learned router (fit/predict) and KNN prototype management."),
    "eval": ("nexus.cli.eval_routing:eval_app", "Offline evaluations of the router."),
    "db": ("nexus.cli.db:db_app", "Database migrations and retention."),
    "rag": (
        "nexus.cli.rag:rag_app",
        "Documents: ingest files into collections, search them, evaluate retrieval.",
    ),
    "agent": ("nexus.cli.agent:agent_app", "Tool-calling agents: run one, list them."),
}


def load_command(name: str) -> click.Command:
    """Import a command's module and turn its function or Typer sub-app into a click command."""
    target, _ = COMMANDS[name]
    module, attribute = target.split(":")
    obj: Any = getattr(importlib.import_module(module), attribute)
    command: click.Command
    if isinstance(obj, typer.Typer):
        obj._add_completion = False  # one completion switch at most, on the root (and it is off)
        command = typer.main.get_group(obj)  # a group even with one sub-command (`nexus eval routing`)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyCommand(TyperCommand):
    """Stands in for a command in `nexus --help`; the real one is imported when the command runs."""

    def __init__(self, name: str, help: str) -> None:
        super().__init__(name, help=help, short_help=help, add_help_option=False)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # click invokes `sub_ctx.command`, so the real command's context runs the real command.
        assert self.name is not None
        return load_command(self.name).make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return LazyCommand(cmd_name, COMMANDS[cmd_name][1])
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="nexus",
    cls=LazyGroup,
    help="Nexus: a self-hostable multi-LLM orchestration gateway (OpenAI-compatible, routed, observable).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Nexus: one OpenAI-compatible endpoint in front of many LLMs."""


if __name__ == "__main__":
    app()
