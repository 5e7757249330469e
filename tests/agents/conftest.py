"""A real agents stack (hub, SQLite store, checkpointer, execution engine) in front of a scripted
FakeOpenAI, plus a few test tools registered the way the lead registers his."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexus.agents import AgentCaller, AgentEvent, Agents, Persistence, RunRequest, open_agents
from nexus.agents.tools import FunctionTool, ToolContext, ToolFailed, ToolSpec
from nexus.config.settings import Settings
from nexus.execution import SqlIdempotency
from nexus.providers.hub import ModelHub
from nexus.store import Store, open_store
from nexus.store.repos.agents import AgentRunStore, AgentStore
from nexus.testing import FakeOpenAI
from nexus.testing.gateway import write_catalogue

MODEL = "agent-model"
TEST_KEY = "sk-test-agents-0123456789"
ACME = AgentCaller(tenant="acme", request_id="req-acme", actor="key-acme")
GLOBEX = AgentCaller(tenant="globex", request_id="req-globex", actor="key-globex")


@dataclass
class Shop:
    """Tools that record their calls; `price` and `stock` wait for each other (parallel or time out)."""

    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    barrier: asyncio.Barrier | None = None

    def tools(self) -> list[FunctionTool]:
        item = {"type": "object", "properties": {"item": {"type": "string"}}, "required": ["item"]}

        async def price(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
            self.calls.append(("price", args, ctx.tenant))
            await self._together()
            return {"item": args["item"], "price": 12.5}

        async def stock(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
            self.calls.append(("stock", args, ctx.tenant))
            await self._together()
            return {"item": args["item"], "in_stock": 4}

        async def order(args: dict[str, Any], ctx: ToolContext) -> str:
            self.calls.append(("order", args, ctx.tenant))
            if args["quantity"] > 4:
                raise ToolFailed("only 4 in stock")
            return f"ordered {args['quantity']} x {args['item']} for {args['quantity'] * 12.5}"

        order_schema = {
            "type": "object",
            "properties": {"item": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
            "required": ["item", "quantity"],
        }
        return [
            FunctionTool(ToolSpec(name="price", description="price of an item", parameters=item), price),
            FunctionTool(ToolSpec(name="stock", description="units in stock", parameters=item), stock),
            FunctionTool(
                ToolSpec(name="order", description="place an order", parameters=order_schema), order
            ),
            FunctionTool(
                ToolSpec(name="refund", description="refund money", parameters=item, requires_approval=True),
                self._refund,
            ),
        ]

    async def _refund(self, args: dict[str, Any], ctx: ToolContext) -> str:
        self.calls.append(("refund", args, ctx.tenant))
        return f"refunded {args['item']}"

    async def _together(self) -> None:
        if self.barrier is not None:
            async with asyncio.timeout(2):
                await self.barrier.wait()


def agent(name: str, tools: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "model": MODEL, "instructions": f"You are {name}.", "tools": tools, **extra}


CATALOGUE_AGENTS = [
    agent("shopper", ["price", "stock", "order", "calculator"], limits={"max_steps": 6}),
    agent("clerk", ["refund", "price"]),
    agent("forgetful", ["calculator"], memory={"mode": "none"}),
    agent("looper", ["calculator"], limits={"max_steps": 3}),
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=(MODEL,)) as f:
        yield f  # type: ignore[misc]


@pytest.fixture
def shop() -> Shop:
    return Shop()


def settings_for(tmp: Path, fake: FakeOpenAI, agents: list[dict[str, Any]] | None = None) -> Settings:
    cat = write_catalogue(
        tmp / "catalogue.yaml",
        [{"id": MODEL, "base_url": fake.base_url}],
        agents=CATALOGUE_AGENTS if agents is None else agents,
    )
    return Settings(data_dir=tmp, config=cat, max_retries=0, attempt_timeout_s=10, retry_base_delay_s=0.01)


@dataclass
class Stack:
    agents: Agents
    hub: ModelHub
    store: Store

    async def aclose(self) -> None:
        await self.agents.aclose()
        await self.hub.aclose()
        await self.store.close()


def persistence(store: Store) -> Persistence:
    return Persistence(
        AgentStore(store.sessions), AgentRunStore(store.sessions), SqlIdempotency(store.sessions)
    )


async def open_stack(settings: Settings, shop: Shop, **kw: Any) -> Stack:
    hub = ModelHub(settings)
    hub.load()
    store = await open_store(settings)
    agents = await open_agents(settings, hub, persistence(store), extra_tools=shop.tools(), **kw)
    return Stack(agents, hub, store)


@pytest.fixture
async def stack(
    tmp_path: Path, fake: FakeOpenAI, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    monkeypatch.setenv("NEXUS_TEST_KEY", TEST_KEY)
    s = await open_stack(settings_for(tmp_path, fake), shop)
    yield s
    await s.aclose()


async def run(
    stack: Stack, name: str, task: str, caller: AgentCaller = ACME, session: str | None = None
) -> list[AgentEvent]:
    handle = await stack.agents.service.start_run(caller, name, RunRequest(task=task, session_id=session))
    return [e async for e in handle.events]


def types(events: list[AgentEvent]) -> list[str]:
    return [e.type for e in events]


def sent_messages(fake: FakeOpenAI, n: int = -1) -> list[dict[str, Any]]:
    """The messages of the n-th chat request the fake received."""
    msgs: list[dict[str, Any]] = fake.requests[n].json["messages"]
    return msgs
