"""`nexus agent run NAME "task"` and `nexus agent list`: agents in this process, no gateway needed.

Heavy imports live inside the commands so `nexus --help` stays fast. With no provider keys the
catalogue's models are simulated (demo), so `nexus agent run assistant "What is 17 * 23?"` works
offline.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from nexus.agents import AgentEvent

agent_app = typer.Typer(help="Tool-calling agents: run one, list them.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Whose agents, memory and runs.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON event per line instead of text.")]


@agent_app.callback()
def _agent() -> None:
    """Agents: instructions, a model, tools (built-in, OpenAPI, MCP), memory and limits."""


@agent_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="The agent (see `nexus agent list`).")],
    task: Annotated[str, typer.Argument(help="What to do.")],
    session: Annotated[
        str | None, typer.Option("--session", "-s", help="Continue a session (its memory).")
    ] = None,
    tenant: TenantOpt = "default",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve every tool call that asks for approval.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Run agent NAME on TASK and print every step as it happens."""
    raise typer.Exit(asyncio.run(_run(name, task, session, tenant, yes, json_out)))


@agent_app.command("list")
def list_cmd(tenant: TenantOpt = "default", json_out: JsonOpt = False) -> None:
    """The agents TENANT can run."""
    asyncio.run(_list(tenant, json_out))


async def _open() -> tuple[Any, Any, Any]:
    from nexus.agents import Persistence, open_agents
    from nexus.config.settings import get_settings
    from nexus.execution import SqlIdempotency, store_audit
    from nexus.providers.hub import ModelHub
    from nexus.store import open_store
    from nexus.store.repos.agents import AgentRunStore, AgentStore

    settings = get_settings()
    hub = ModelHub(settings)
    hub.load()
    store = await open_store(settings)
    persistence = Persistence(
        AgentStore(store.sessions), AgentRunStore(store.sessions), SqlIdempotency(store.sessions)
    )
    agents = await open_agents(settings, hub, persistence, audit=store_audit(store))
    return agents, hub, store


async def _close(agents: Any, hub: Any, store: Any) -> None:
    await agents.aclose()
    await hub.aclose()
    await store.close()


async def _list(tenant: str, json_out: bool) -> None:
    from nexus.agents import AgentCaller

    agents, hub, store = await _open()
    try:
        views = await agents.service.list_agents(AgentCaller(tenant=tenant, actor="cli"))
    finally:
        await _close(agents, hub, store)
    for v in views:
        if json_out:
            typer.echo(v.model_dump_json(exclude={"definition"}))
        else:
            typer.echo(
                f"{v.name:<20} {v.origin:<9} {v.model:<16} {', '.join(v.tools) or '-'}  {v.description}"
            )


async def _run(name: str, task: str, session: str | None, tenant: str, yes: bool, json_out: bool) -> int:
    from rich.console import Console

    from nexus.agents import AgentCaller, AgentError, ApprovalRequest, RunRequest

    console = Console(stderr=False, highlight=False)
    caller = AgentCaller(tenant=tenant, actor="cli")
    agents, hub, store = await _open()
    try:
        try:
            handle = await agents.service.start_run(caller, name, RunRequest(task=task, session_id=session))
        except AgentError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            return 2
        if not json_out:
            console.print(f"[dim]run {handle.run_id} · session {handle.session_id}[/dim]")
        status = await _show(handle.events, console, json_out)
        while status == "paused":
            approve = yes or typer.confirm("Approve these tool calls?", default=False)
            handle = await agents.service.resume_run(caller, handle.run_id, ApprovalRequest(approve=approve))
            status = await _show(handle.events, console, json_out)
        return 0 if status == "completed" else 1
    finally:
        await _close(agents, hub, store)


async def _show(events: Any, console: Any, json_out: bool) -> str:
    status = "failed"
    async for event in events:
        if json_out:
            typer.echo(event.json_bytes().decode())
        else:
            _print(console, event)
        if event.data.type == "done":
            status = event.data.status
    return str(status)


def _print(console: Any, event: AgentEvent) -> None:
    d = event.data
    if d.type == "step":
        console.print(
            f"[dim]step {d.step} · {d.model} · {d.prompt_tokens}+{d.completion_tokens} tokens[/dim]"
        )
    elif d.type == "tool_call":
        flag = " [yellow](needs approval)[/yellow]" if d.requires_approval else ""
        console.print(f"  → {d.call.name}({_args(d.call.arguments)}){flag}", markup=True)
    elif d.type == "tool_result":
        colour = "red" if d.result.is_error else "green"
        console.print(f"  ← [{colour}]{d.result.name}[/{colour}]: {_short(d.result.content)}")
    elif d.type == "approval":
        console.print(f"[yellow]waiting for approval: {', '.join(c.name for c in d.calls)}[/yellow]")
    elif d.type == "final":
        console.print()
        console.print(d.answer, markup=False)
        console.print(f"[dim]{d.steps} steps · {d.tool_calls} tool calls · ${d.cost_usd:.6f}[/dim]")
    elif d.type == "error":
        console.print(f"[red]{d.code}: {d.message}[/red]")


def _args(arguments: dict[str, Any]) -> str:
    import orjson

    return _short(orjson.dumps(arguments).decode(), 120)


def _short(text: str, limit: int = 200) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
